# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""link_info: the inventory of links and addresses per network namespace, assembled from `_rtnl`'s dumps.

Cost model: ONE link dump and ONE address dump per namespace, no per-link request (and ONE dump of the
forwarding entries in a namespace with vxlan devices). A veth peer (or macvlan parent)
in a namespace that is not being reported costs one ``get`` (or one dump of that namespace when
many peers live there); link-netnsids are resolved with one RTM_GETNSID per candidate namespace,
stopping as soon as every id a namespace uses is known.

The wire work (sockets per namespace, the one RTM_NEWLINK parser with its tun and bridge tables,
the address parser, dumps read again on NLM_F_DUMP_INTR, the nsid resolver) is `_rtnl`'s, shared with
every other module: decoding a link dump into pyroute2 message objects costs about 250 us per link,
_rtnl's struct walk keeps 5000 links in 50 namespaces well under 0.2 s. What stays here is link_info's
own: which namespaces and links are selected, and how a link record becomes link_info's public dict
(ports, addresses, veth peers and macvlan parents across namespaces, batched; vxlan flood peers from one
forwarding-entry dump per namespace that has vxlan devices). What a device's part of that dict shows is the
device's own view, the functions its spec file uses (`_spec.views`: a bridge's options `bridge_view`, a
veth's peer `veth_peer`, a vxlan's `vxlan_view` and `flood_peers`, a macvlan's `macvlan_view`; a tun's
settings `_tuntap.tun_view`), which load neither the engine nor pyroute2.
It is pure except for :func:`link_info`, which drives an `_rtnl.Rtnl` and is covered by unit tests with a
fake one.
"""

from __future__ import annotations

import fnmatch
import grp
import pwd

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, list_netns, netns_exists, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._rtnl import FALLBACK, NsidResolver
from ansible_collections.virtnet.linux.plugins.module_utils._tuntap import tun_view
from ansible_collections.virtnet.linux.plugins.module_utils._spec.views import (
    bridge_view, flood_peers, macvlan_view, macvtap_major, tap_device, veth_peer, vxlan_view,
)

NO_ID = 0xFFFFFFFF          # an unset tun owner/group, should a kernel ever report it

# how many peers in one unreported namespace are looked up one by one before dumping it instead
PEER_GET_LIMIT = 16

_WILDCARD = frozenset('*?[')


# --------------------------------------------------------------------------- pure assembly

class NameCache(object):
    """uid/gid -> name, looked up once per id (None when the id has no name)."""

    def __init__(self):
        self._users = {}
        self._groups = {}

    def user(self, uid):
        if uid is None:
            return None
        if uid not in self._users:
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = None
        return self._users[uid]

    def group(self, gid):
        if gid is None:
            return None
        if gid not in self._groups:
            try:
                self._groups[gid] = grp.getgrgid(gid).gr_name
            except KeyError:
                self._groups[gid] = None
        return self._groups[gid]


def tun_details(data, names=None):
    """The tun/tap part of a link (its IFLA_INFO_DATA: IFLA_TUN_* attributes) as plain values: the tuntap
    module's view (`_tuntap.tun_view`) with owner and group named and the number of queues."""
    view = tun_view(data)
    owner = None if view['user'] == NO_ID else view['user']
    group = None if view['group'] == NO_ID else view['group']
    return {
        'mode': view['mode'],
        'owner': owner,
        'owner_name': names.user(owner) if names else None,
        'group': group,
        'group_name': names.group(group) if names else None,
        'pi': view['pi'],
        'vnet_hdr': view['vnet_hdr'],
        'multi_queue': view['multi_queue'],
        'persist': view['persist'],
        'num_queues': (data or {}).get('IFLA_TUN_NUM_QUEUES'),
    }


def bridge_details(data, ports):
    """The bridge part of a link: the bridge module's view of its IFLA_INFO_DATA (`_spec.views.bridge_view`,
    timers in seconds) and its ports."""
    out = bridge_view(data)
    out['ports'] = ports
    return out


def vxlan_details(data, link_netnsid, by_index):
    """The vxlan part of a link: the vxlan module's view of its IFLA_INFO_DATA (`_spec.views.vxlan_view`) with
    its underlay named (`by_index`: ifindex -> name in its namespace; None when the device's underlay is in
    another namespace, `link_netnsid`); its peers are filled in from the namespace's forwarding entries."""
    out = vxlan_view(data)
    index = out['dev']
    out['dev'] = by_index.get(index) if index and link_netnsid is None else None
    out['peers'] = []
    return out


class Taps(object):
    """A macvtap's character device by ifindex: (path, stat or None), the macvtap major read once."""

    def __init__(self):
        self._major = None

    def __call__(self, ifindex):
        if self._major is None:
            self._major = macvtap_major() or 0
        return tap_device(ifindex, self._major or None)


def macvlan_details(kind, rec, netns, by_index, names=None, taps=None):
    """The macvlan or macvtap part of a link: its mode (`_spec.views.macvlan_view`), its parent as a veth's
    peer is shown (name, netns, ifindex, netnsid; completed by the caller when it is in another namespace) and,
    for a macvtap, its character device with owner, group and mode (`taps`: ifindex -> (path, stat))."""
    out = macvlan_view(kind, rec.get('info_data'))
    out['parent'] = None
    where = veth_peer(rec)
    if where is not None:
        index, nsid = where
        if nsid is None:
            out['parent'] = {'name': by_index.get(index), 'netns': netns, 'ifindex': index, 'netnsid': None}
        else:
            out['parent'] = {'name': None, 'netns': None, 'ifindex': index, 'netnsid': nsid if nsid >= 0 else None}
    out['tap'] = None
    if kind == 'macvtap' and taps is not None:
        path, st = taps(rec['index'])
        if st is not None:
            out['tap'] = {'device': path, 'owner': st.st_uid, 'owner_name': names.user(st.st_uid) if names else None,
                          'group': st.st_gid, 'group_name': names.group(st.st_gid) if names else None,
                          'mode': '%04o' % (st.st_mode & 0o7777)}
    return out


def fill_peers(links, entries, by_index):
    """Each vxlan of `links` (one namespace) gets its flood peers from `entries`, the forwarding entries of
    the namespace (`_rtnl.parse_fdb`'s dicts, one dump for all of them)."""
    per_device = {}
    for entry in entries:
        per_device.setdefault(entry['ifindex'], []).append(entry)
    for link in links:
        if link.get('vxlan') is not None:
            link['vxlan']['peers'] = flood_peers(per_device.get(link['ifindex'], []), link['vxlan']['group'],
                                                 by_index)


def name_matcher(patterns):
    """A predicate for names: exact names and shell-style wildcards; None matches everything."""
    if patterns is None:
        return None
    exact = set(p for p in patterns if not _WILDCARD.intersection(p))
    globs = [p for p in patterns if _WILDCARD.intersection(p)]
    if not globs:
        return exact.__contains__
    return lambda name: name in exact or any(fnmatch.fnmatchcase(name, g) for g in globs)


def assemble(netns, records, addrs, names=None, want_link=None, want_kind=None, taps=None):
    """Public link dicts of one namespace from its link records (`_rtnl.parse_link`'s dicts) and
    (ifindex, cidr) address pairs.

    Returns (links, ifindex -> name of every link of the namespace, peers still to resolve): a veth
    whose peer is in another namespace gets ``peer = {'name': None, 'netns': None, 'ifindex': ...,
    'netnsid': ...}``, completed by the caller once the id is mapped to a namespace name; so does a macvlan's
    parent (``macvlan.parent``). A vxlan's peers are left empty (fill_peers). `taps`: see macvlan_details.
    """
    records = sorted(records, key=lambda r: r['index'])
    by_index = {}
    ports = {}
    for rec in records:
        by_index[rec['index']] = rec.get('ifname')
        master = rec.get('master_index')
        if master:
            ports.setdefault(master, []).append(rec.get('ifname'))
    by_addr = {}
    for pair in addrs:
        if pair is not None:
            by_addr.setdefault(pair[0], []).append(pair[1])

    links, pending = [], []
    for rec in records:
        name = rec.get('ifname')
        if want_link is not None and not want_link(name):
            continue
        kind = rec.get('kind')
        tun = bridge = peer = vxlan = macvlan = None
        if kind == 'tun':
            tun = tun_details(rec.get('info_data'), names)
            kind = tun['mode'] or kind
        elif kind == 'bridge':
            bridge = bridge_details(rec.get('info_data'), sorted(ports.get(rec['index'], [])))
        elif kind == 'vxlan':
            vxlan = vxlan_details(rec.get('info_data'), rec.get('link_netnsid'), by_index)
        elif kind in ('macvlan', 'macvtap'):
            macvlan = macvlan_details(kind, rec, netns, by_index, names, taps)
            if macvlan['parent'] is not None and macvlan['parent']['netnsid'] is not None:
                pending.append(macvlan['parent'])
        if want_kind is not None and kind not in want_kind:
            continue
        master = rec.get('master_index')
        link = {
            'name': name,
            'netns': netns,
            'ifindex': rec['index'],
            'kind': kind,
            'link_state': rec['link_state'],
            'operstate': rec.get('operstate'),
            'mtu': rec.get('mtu'),
            'address': rec.get('address'),
            'master': (by_index.get(master) or '') if master else '',
            'alias': rec.get('alias') or '',
            'txqueuelen': rec.get('txqueuelen'),
            'group': rec.get('group'),
            'addresses': by_addr.get(rec['index'], []),
            'peer': None,
            'tun': tun,
            'bridge': bridge,
            'vxlan': vxlan,
            'macvlan': macvlan,
        }
        where = veth_peer(rec) if kind == 'veth' else None
        if where is not None:
            index, nsid = where
            if nsid is None:           # the peer is in this namespace
                peer = {'name': by_index.get(index), 'netns': netns, 'ifindex': index, 'netnsid': None}
            else:
                peer = {'name': None, 'netns': None, 'ifindex': index, 'netnsid': nsid if nsid >= 0 else None}
                if nsid >= 0:
                    pending.append(peer)
            link['peer'] = peer
        links.append(link)
    return links, by_index, pending


def select_netns(requested, available):
    """(namespaces to report in order, literal names that do not exist).

    `requested` None means the module's own namespace ('') and every named one. Shell-style
    wildcards select among the named namespaces; '' is the module's own namespace.
    """
    if requested is None:
        return [''] + [n for n in available if n], []
    chosen, missing = [], []
    for item in requested:
        item = item or ''
        if item == '':
            found = ['']
        elif _WILDCARD.intersection(item):
            found = [n for n in available if fnmatch.fnmatchcase(n, item)]
        elif item in available:
            found = [item]
        else:
            missing.append(item)
            found = []
        for name in found:
            if name not in chosen:
                chosen.append(name)
    return chosen, missing


# --------------------------------------------------------------------------- kernel reading

def _peer_names(rtnl, netns, indexes):
    """ifindex -> name in a namespace that was not reported: gets for a few, one dump for many."""
    if len(indexes) > PEER_GET_LIMIT:
        return dict((r['index'], r.get('ifname')) for r in rtnl.links(netns))
    names = {}
    for index in indexes:
        rec = rtnl.get_link(netns, index=index, need_data=False)
        if rec is not None and rec is not FALLBACK:
            names[index] = rec.get('ifname')
    return names


#: link kinds of the kernel (IFLA_INFO_KIND as `ip link help` lists them, with tun split into tun and tap
#: as link_info reports them). A `kinds` entry outside this list is accepted only when a link of that
#: kind was found: a typo (brige) fails instead of selecting nothing.
KNOWN_KINDS = frozenset((
    'amt', 'bareudp', 'batadv', 'bond', 'bridge', 'can', 'dsa', 'dummy', 'erspan', 'geneve', 'gre',
    'gretap', 'gtp', 'hsr', 'ifb', 'ip6erspan', 'ip6gre', 'ip6gretap', 'ip6tnl', 'ipip', 'ipoib', 'ipvlan',
    'ipvtap', 'lowpan', 'macsec', 'macvlan', 'macvtap', 'netdevsim', 'netkit', 'nlmon', 'openvswitch',
    'ovpn', 'rmnet', 'sit', 'tap', 'team', 'tun', 'vcan', 'veth', 'virt_wifi', 'vlan', 'vrf', 'vti',
    'vti6', 'vxcan', 'vxlan', 'wireguard', 'wwan', 'xfrm',
))


def unknown_kinds(kinds, links):
    """The entries of `kinds` that are no kernel link kind and match none of `links`."""
    seen = set(link.get('kind') for link in links)
    return [k for k in kinds or [] if k not in KNOWN_KINDS and k not in seen]


def validate_selection(netns):
    """Errors of the `netns` option (names that cannot be namespace names)."""
    errors = []
    for item in netns or []:
        if item and not _WILDCARD.intersection(item):
            err = validate_netns_name(item)
            if err:
                errors.append(err)
    return errors


def link_info(rtnl, netns=None, links=None, kinds=None):
    """The whole result of the link_info module (see its RETURN documentation)."""
    available = list_netns()
    chosen, missing = select_netns(netns, available)
    if missing:
        raise VirtnetError('netns %s not found (no such namespace in %s; ip netns list shows the existing ones)'
                           % (', '.join(missing), '/run/netns'), missing=missing)
    want_link = name_matcher(links)
    want_kind = set(kinds) if kinds is not None else None
    names = NameCache()

    taps = Taps()
    namespaces, flat, pending, index_maps = {}, [], [], {}
    for ns in chosen:
        try:
            records = rtnl.links(ns)
            addrs = rtnl.addresses(ns)
            ns_links, by_index, ns_pending = assemble(ns, records, addrs, names, want_link, want_kind, taps)
            if any(link['vxlan'] is not None for link in ns_links):
                fill_peers(ns_links, rtnl.fdb(ns), by_index)     # one dump of the namespace's forwarding entries
        except VirtnetError:
            if ns and not netns_exists(ns):
                raise VirtnetError('netns %s disappeared while it was being read' % ns)
            raise
        index_maps[ns] = by_index
        namespaces[ns] = {'name': ns, 'links': [link['name'] for link in ns_links]}
        flat.extend(ns_links)
        if ns_pending:
            pending.append((ns, ns_pending))

    # veth peers in other namespaces: link-netnsid -> namespace name, then ifindex -> name
    resolver = NsidResolver(rtnl, [''] + available)
    wanted = {}
    for ns, peers in pending:
        mapping = resolver.resolve(ns, set(p['netnsid'] for p in peers))
        for peer in peers:
            peer['netns'] = mapping.get(peer['netnsid'])
            if peer['netns'] is not None and peer['netns'] not in index_maps:
                wanted.setdefault(peer['netns'], set()).add(peer['ifindex'])
    for peer_ns, indexes in wanted.items():
        try:
            index_maps[peer_ns] = _peer_names(rtnl, peer_ns, sorted(indexes))
        except VirtnetError:
            index_maps[peer_ns] = {}
    for ns, peers in pending:
        for peer in peers:
            if peer['netns'] is not None:
                peer['name'] = index_maps.get(peer['netns'], {}).get(peer['ifindex'])
    return {'namespaces': namespaces, 'links': flat}
