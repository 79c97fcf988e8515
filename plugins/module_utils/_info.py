# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Read-only inventory of links and addresses per network namespace (for link_info).

Cost model: ONE link dump and ONE address dump per namespace, no per-link request. A veth peer
in a namespace that is not being reported costs one ``get`` (or one dump of that namespace when
many peers live there); link-netnsids are resolved with one RTM_GETNSID per candidate namespace,
stopping as soon as every id a namespace uses is known.

Why raw rtnetlink and not pyroute2 messages here: decoding a link dump into pyroute2 message
objects costs about 250 us per link (every top-level NLA becomes an object), so 5000 links took
1.25 s before any conversion. This reader asks the kernel to skip statistics
(RTEXT_FILTER_SKIP_STATS), walks the attributes with struct and keeps only the ~15 it reports:
5000 links in 50 namespaces take well under 0.2 s. It only reads; sockets are opened the same way
as :class:`_netlink.Netlink` does (setns into /run/netns/NAME, socket(), setns back: no fork, no
namespace ever created).

The pure half (parsers of bytes, :func:`assemble`) is covered by unit tests.
"""

from __future__ import annotations

import errno
import fnmatch
import grp
import os
import pwd
import socket
import struct

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    IFF_UP, VirtnetError, kernel_error, list_netns, netns_exists, ns_label, open_netns_fd,
    setns, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._rawlink import (  # pylint: disable=unused-import
    NETLINK_ROUTE, NLMSG_ERROR, NLM_F_REQUEST, RTM_NEWLINK, RTM_GETLINK, RTM_NEWNSID, RTM_GETNSID, IFLA_EXT_MASK,
    RTEXT_FILTER_SKIP_STATS, NETNSA_NSID, NETNSA_FD, NLA_TYPE_MASK, NSID_NONE, OPERSTATES, _NLMSGHDR, _IFINFOMSG,
    _RTA, _U32, _S32, _attr, NsidResolver,
)

# --------------------------------------------------------------------------- rtnetlink constants
# the wire format is shared with the engine's raw socket (_rawlink), which owns it

NLMSG_DONE = 3
NLM_F_MULTI = 0x2
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
RTM_NEWADDR, RTM_GETADDR = 20, 22

_IFADDRMSG = struct.Struct('=BBBBI')  # family, prefixlen, flags, scope, index
_U8 = struct.Struct('=B')
_U16 = struct.Struct('=H')

TUN_TYPES = {1: 'tun', 2: 'tap'}
NO_ID = 0xFFFFFFFF          # an unset tun owner/group, should a kernel ever report it

# how many peers in one unreported namespace are looked up one by one before dumping it instead
PEER_GET_LIMIT = 16

_WILDCARD = frozenset('*?[')


def _u8(data, pos, end):
    return _U8.unpack_from(data, pos)[0]


def _u16(data, pos, end):
    return _U16.unpack_from(data, pos)[0]


def _u32(data, pos, end):
    return _U32.unpack_from(data, pos)[0]


def _s32(data, pos, end):
    return _S32.unpack_from(data, pos)[0]


def _str(data, pos, end):
    raw = bytes(data[pos:end])
    nul = raw.find(b'\0')
    return (raw if nul < 0 else raw[:nul]).decode('utf-8', 'replace')


def _mac(data, pos, end):
    return ':'.join('%02x' % b for b in bytes(data[pos:end]))


def _operstate(data, pos, end):
    value = _U8.unpack_from(data, pos)[0]
    return OPERSTATES[value] if value < len(OPERSTATES) else str(value)


def _span(data, pos, end):
    return (pos, end)


# attribute type -> (record key, decoder)
_LINK_ATTRS = {
    1: ('address', _mac),
    3: ('name', _str),
    4: ('mtu', _u32),
    5: ('link_index', _u32),
    10: ('master_index', _u32),
    13: ('txqueuelen', _u32),
    16: ('operstate', _operstate),
    18: ('linkinfo', _span),
    20: ('alias', _str),
    27: ('group', _u32),
    37: ('link_netnsid', _s32),
}
_INFO_ATTRS = {1: ('kind', _str), 2: ('data', _span), 4: ('slave_kind', _str)}
_TUN_ATTRS = {
    1: ('owner', _u32), 2: ('group', _u32), 3: ('type', _u8), 4: ('pi', _u8), 5: ('vnet_hdr', _u8),
    6: ('persist', _u8), 7: ('multi_queue', _u8), 8: ('num_queues', _u32),
}
_BR_ATTRS = {
    1: ('forward_delay', _u32), 2: ('hello_time', _u32), 3: ('max_age', _u32), 4: ('ageing_time', _u32),
    5: ('stp_state', _u32), 6: ('priority', _u16), 7: ('vlan_filtering', _u8), 23: ('mcast_snooping', _u8),
}
_ADDR_ATTRS = {1: ('address', _span), 2: ('local', _span)}


def parse_attrs(data, pos, end, table):
    """The attributes of `table` found in data[pos:end] as {key: decoded value} (first one wins)."""
    out = {}
    unpack = _RTA.unpack_from
    while pos + 4 <= end:
        length, kind = unpack(data, pos)
        if length < 4 or pos + length > end:
            break
        entry = table.get(kind & NLA_TYPE_MASK)
        if entry is not None and entry[0] not in out:
            out[entry[0]] = entry[1](data, pos + 4, pos + length)
        pos += (length + 3) & ~3
    return out


def parse_link(data, pos, end):
    """A plain record of one RTM_NEWLINK message (payload data[pos:end], after the nlmsghdr)."""
    _family, ifi_type, index, flags, _change = _IFINFOMSG.unpack_from(data, pos)
    rec = parse_attrs(data, pos + _IFINFOMSG.size, end, _LINK_ATTRS)
    rec['index'] = index
    rec['ifi_type'] = ifi_type
    rec['link_state'] = 'up' if flags & IFF_UP else 'down'
    span = rec.pop('linkinfo', None)
    info = parse_attrs(data, span[0], span[1], _INFO_ATTRS) if span else {}
    kind = info.get('kind')
    rec['kind'] = kind
    rec['slave_kind'] = info.get('slave_kind')
    span = info.get('data')
    data_table = _TUN_ATTRS if kind == 'tun' else _BR_ATTRS if kind == 'bridge' else None
    rec['data'] = parse_attrs(data, span[0], span[1], data_table) if span and data_table else {}
    return rec


def parse_addr(data, pos, end):
    """(ifindex, 'address/prefixlen') of one RTM_NEWADDR message (IFA_LOCAL wins, as in `ip addr`)."""
    family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(data, pos)
    attrs = parse_attrs(data, pos + _IFADDRMSG.size, end, _ADDR_ATTRS)
    span = attrs.get('local') or attrs.get('address')
    if span is None or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return index, '%s/%d' % (socket.inet_ntop(family, bytes(data[span[0]:span[1]])), prefixlen)


def parse_messages(data, seq):
    """Split one datagram: yields (type, flags, payload start, payload end) of messages of `seq`."""
    pos, size = 0, len(data)
    while pos + _NLMSGHDR.size <= size:
        length, mtype, flags, mseq, _pid = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > size:
            break
        if mseq == seq:
            yield mtype, flags, pos + _NLMSGHDR.size, pos + length
        pos += (length + 3) & ~3


def _request(msg_type, flags, seq, body):
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, flags, seq, 0) + body


class DumpInterrupted(Exception):
    """The kernel flagged the dump as inconsistent (NLM_F_DUMP_INTR): read it again."""


class Rtnl(object):
    """Read-only rtnetlink sockets, one per namespace, for one module run."""

    RECV_SIZE = 1 << 18
    TIMEOUT = 30                       # seconds without an answer from the kernel before giving up

    def __init__(self):
        self._socks = {}
        self._home = None
        self._ns_fds = {}
        self._seq = 0

    def _home_fd(self):
        if self._home is None:
            self._home = os.open('/proc/thread-self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
        return self._home

    def ns_fd(self, netns):
        """An fd of the namespace (kept open for the run); NetnsNotFound if it does not exist."""
        key = netns or ''
        if key not in self._ns_fds:
            self._ns_fds[key] = self._home_fd() if not key else open_netns_fd(key)
        return self._ns_fds[key]

    def sock(self, netns):
        """The socket of `netns`, opened inside it (setns there and back; no fork, never creates)."""
        key = netns or ''
        sock = self._socks.get(key)
        if sock is None:
            try:
                sock = self._open(key)
            except OSError as exc:
                raise kernel_error(exc, 'opening a netlink socket', key)
            self._socks[key] = sock
        return sock

    def _open(self, key):
        if key:
            home = self._home_fd()     # opened before leaving home, never after
            setns(self.ns_fd(key))
            try:
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            finally:
                setns(home)
        else:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.settimeout(self.TIMEOUT)
            sock.bind((0, 0))
        except OSError:
            sock.close()
            raise
        return sock

    def _transact(self, netns, msg_type, flags, body, parse, what):
        """Send one request; return parse(data, start, end) of every answer (None results dropped)."""
        sock = self.sock(netns)
        self._seq += 1
        seq = self._seq
        sock.send(_request(msg_type, flags, seq, body))
        out, interrupted = [], False
        dump = flags & NLM_F_DUMP
        while True:
            data = sock.recv(self.RECV_SIZE)
            for mtype, mflags, start, end in parse_messages(data, seq):
                if mtype in (NLMSG_DONE, NLMSG_ERROR):
                    code = -_S32.unpack_from(data, start)[0] if end - start >= 4 else 0
                    if code > 0:
                        raise OSError(code, os.strerror(code))
                    if interrupted or mflags & NLM_F_DUMP_INTR:
                        raise DumpInterrupted(what)
                    return out
                interrupted = interrupted or bool(mflags & NLM_F_DUMP_INTR)
                item = parse(data, start, end)
                if item is not None:
                    out.append(item)
                if not dump:
                    return out

    def _call(self, netns, what, *args):
        for attempt in range(5):
            try:
                return self._transact(netns, *args, what=what)
            except DumpInterrupted:
                if attempt == 4:
                    raise VirtnetError('%s in %s: the kernel kept changing it while it was read'
                                       % (what, ns_label(netns)))
            except OSError as exc:
                raise kernel_error(exc, what, netns)
        return []  # pragma: no cover

    def links(self, netns):
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
        return self._call(netns, 'listing links', RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, body, parse_link)

    def link(self, netns, index):
        """One link by index, or None when there is none."""
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0) + _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
        try:
            got = self._call(netns, 'reading link #%d' % index, RTM_GETLINK, NLM_F_REQUEST, body, parse_link)
        except VirtnetError as exc:
            if exc.details.get('errno') == errno.ENODEV:
                return None
            raise
        return got[0] if got else None

    def addresses(self, netns):
        body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        return self._call(netns, 'listing addresses', RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, body, parse_addr)

    def nsid_of(self, netns, other):
        """The id that `netns` gives namespace `other` ('' = the module's own), or None."""
        body = b'\0\0\0\0' + _attr(NETNSA_FD, _U32.pack(self.ns_fd(other)))

        def parse(data, start, end):
            return parse_attrs(data, start + 4, end, {NETNSA_NSID: ('nsid', _s32)}).get('nsid')
        got = self._call(netns, 'reading the id of %s' % ns_label(other), RTM_GETNSID, NLM_F_REQUEST, body, parse)
        nsid = got[0] if got else None
        return None if nsid is None or nsid < 0 else nsid

    def close(self):
        for sock in self._socks.values():
            sock.close()
        self._socks = {}
        for key, fd in self._ns_fds.items():
            if key:
                os.close(fd)
        self._ns_fds = {}
        if self._home is not None:
            os.close(self._home)
            self._home = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------- pure assembly

def _seconds(centiseconds):
    """Bridge timers: kernel centiseconds (USER_HZ) -> seconds."""
    return None if centiseconds is None else centiseconds / 100.0


def _bool(value):
    return None if value is None else bool(value)


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
    """The tun/tap part of a link (IFLA_TUN_* attributes) as plain values."""
    owner = data.get('owner')
    group = data.get('group')
    owner = None if owner is None or owner == NO_ID else owner
    group = None if group is None or group == NO_ID else group
    return {
        'mode': TUN_TYPES.get(data.get('type')),
        'owner': owner,
        'owner_name': names.user(owner) if names else None,
        'group': group,
        'group_name': names.group(group) if names else None,
        'pi': _bool(data.get('pi')),
        'vnet_hdr': _bool(data.get('vnet_hdr')),
        'multi_queue': _bool(data.get('multi_queue')),
        'persist': _bool(data.get('persist')),
        'num_queues': data.get('num_queues'),
    }


def bridge_details(data, ports):
    """The bridge part of a link (IFLA_BR_* attributes, timers in seconds) and its ports."""
    return {
        'stp': _bool(data.get('stp_state')),
        'forward_delay': _seconds(data.get('forward_delay')),
        'hello_time': _seconds(data.get('hello_time')),
        'max_age': _seconds(data.get('max_age')),
        'ageing_time': _seconds(data.get('ageing_time')),
        'priority': data.get('priority'),
        'mcast_snooping': _bool(data.get('mcast_snooping')),
        'vlan_filtering': _bool(data.get('vlan_filtering')),
        'ports': ports,
    }


def name_matcher(patterns):
    """A predicate for names: exact names and shell-style wildcards; None matches everything."""
    if patterns is None:
        return None
    exact = set(p for p in patterns if not _WILDCARD.intersection(p))
    globs = [p for p in patterns if _WILDCARD.intersection(p)]
    if not globs:
        return exact.__contains__
    return lambda name: name in exact or any(fnmatch.fnmatchcase(name, g) for g in globs)


def assemble(netns, records, addrs, names=None, want_link=None, want_kind=None):
    """Public link dicts of one namespace from its link records and (ifindex, cidr) address pairs.

    Returns (links, ifindex -> name of every link of the namespace, peers still to resolve): a veth
    whose peer is in another namespace gets ``peer = {'name': None, 'netns': None, 'ifindex': ...,
    'netnsid': ...}``, completed by the caller once the id is mapped to a namespace name.
    """
    records = sorted(records, key=lambda r: r['index'])
    by_index = {}
    ports = {}
    for rec in records:
        by_index[rec['index']] = rec.get('name')
        master = rec.get('master_index')
        if master:
            ports.setdefault(master, []).append(rec.get('name'))
    by_addr = {}
    for pair in addrs:
        if pair is not None:
            by_addr.setdefault(pair[0], []).append(pair[1])

    links, pending = [], []
    for rec in records:
        name = rec.get('name')
        if want_link is not None and not want_link(name):
            continue
        kind = rec.get('kind')
        tun = bridge = peer = None
        if kind == 'tun':
            tun = tun_details(rec['data'], names)
            kind = tun['mode'] or kind
        elif kind == 'bridge':
            bridge = bridge_details(rec['data'], sorted(ports.get(rec['index'], [])))
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
        }
        if kind == 'veth' and rec.get('link_index'):
            nsid = rec.get('link_netnsid')
            if nsid is None:           # the peer is in this namespace
                peer = {'name': by_index.get(rec['link_index']), 'netns': netns,
                        'ifindex': rec['link_index'], 'netnsid': None}
            else:
                peer = {'name': None, 'netns': None, 'ifindex': rec['link_index'],
                        'netnsid': nsid if nsid >= 0 else None}
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
        return dict((r['index'], r.get('name')) for r in rtnl.links(netns))
    names = {}
    for index in indexes:
        rec = rtnl.link(netns, index)
        if rec is not None:
            names[index] = rec.get('name')
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

    namespaces, flat, pending, index_maps = {}, [], [], {}
    for ns in chosen:
        try:
            records = rtnl.links(ns)
            addrs = rtnl.addresses(ns)
        except VirtnetError:
            if ns and not netns_exists(ns):
                raise VirtnetError('netns %s disappeared while it was being read' % ns)
            raise
        ns_links, by_index, ns_pending = assemble(ns, records, addrs, names, want_link, want_kind)
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
