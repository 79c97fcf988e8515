# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The vxlan device: every behaviour of the module virtnet.linux.vxlan (the device and its flood entries).

What the kernel (6.18, verified by the vxlan integration target) changes in place and what needs a new
device: the VNI and the UDP port cannot be changed ("Cannot change VNI", "Cannot change port"), nor the
family of the local address; the local address (same family), the underlay device (from one to another),
learning, TTL and TOS can, also while the device is up. An underlay device cannot be taken away in place
(IFLA_VXLAN_LINK 0 is ignored), so giving one to a device that has none is a new device too (its undo could
not be done otherwise).

The flood entries (`peers`) are the all-zero-MAC forwarding entries of the device's own table, one per
destination: head-end replication of broadcast, unknown unicast and multicast to every peer, as
`bridge fdb append 00:00:00:00:00:00 dev X dst PEER` makes them. They are kept exact: missing ones are
appended, any other flood entry (one with a port, VNI or underlay of its own counts as another) is
removed, all in one step of the transaction over the task's own socket (one RTM_NEWNEIGH / RTM_DELNEIGH per
entry, no process per entry).
"""

from __future__ import annotations

import errno
import ipaddress

from ansible_collections.virtnet.linux.plugins.module_utils._link import (
    LinkKind, link_options, read_link, remove_link,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, error_code, kernel_error, ns_label, validate_ifname,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import link_key
from ansible_collections.virtnet.linux.plugins.module_utils._rtnl import link_body, vxlan_data
from ansible_collections.virtnet.linux.plugins.module_utils._spec.views import (
    FLOOD_MAC, address_order, describe_entry, flood_peers, is_flood_entry, plain_entry, vxlan_view,
)

MAX_VNI = 16777215
DEFAULT_PORT = 4789

KEYS = ['vni', 'local', 'dev', 'port', 'learning', 'ttl', 'tos', 'peers', 'recreate']
#: the options of one device, with the task's defaults: the module's argument spec (and its batch
#: elements') and the element of virtnet.linux.plumbing's `vxlans`
ARGUMENT_SPEC = link_options(dict(
    vni=dict(type='int'),
    local=dict(type='str'),
    dev=dict(type='str'),
    port=dict(type='int', default=DEFAULT_PORT),
    learning=dict(type='bool'),
    ttl=dict(type='int'),
    tos=dict(type='int'),
    peers=dict(type='list', elements='str'),
    recreate=dict(type='bool', default=True),
))

#: the vxlan settings (IFLA_INFO_DATA) changed in place, in one request
IN_PLACE = ('local', 'dev', 'learning', 'ttl', 'tos')
#: settings a replaced device keeps unless the task sets them
_CARRY = ('link_state', 'mtu', 'address', 'master', 'txqueuelen', 'alias', 'local', 'dev', 'learning', 'ttl',
          'tos')


# --------------------------------------------------------------------------- pure logic

def parse_ip(value):
    """An IP address in text (normalised), else ValueError."""
    return ipaddress.ip_address(str(value).strip())


def address_error(value, what):
    """Why `value` cannot be a unicast address of a tunnel end (None when it can)."""
    try:
        address = parse_ip(value)
    except ValueError:
        return 'invalid %s %r: expected an IPv4 or IPv6 address' % (what, value)
    if address.is_multicast:
        return 'invalid %s %s: a multicast address (the module makes unicast tunnels: list the peers)' % (
            what, value)
    if address.is_unspecified:
        return 'invalid %s %s: the unspecified address' % (what, value)
    return None


def normalise_peers(peers):
    """Peers in text, normalised (compressed IPv6) and in address order."""
    return sorted((str(parse_ip(p)) for p in peers), key=address_order)


def peer_errors(peers, local, label):
    """Errors of a list of flood peers (each a unicast address, none twice, one family, local's family and
    not local itself)."""
    errors, seen, families = [], set(), set()
    for peer in peers:
        err = address_error(peer, 'peer')
        if err:
            errors.append('%s of %s' % (err, label))
            continue
        address = parse_ip(peer)
        if address in seen:
            errors.append('peer %s listed twice for %s' % (address, label))
        seen.add(address)
        families.add(address.version)
    if errors:
        return errors
    if len(families) > 1:
        errors.append('the peers of %s mix IPv4 and IPv6 addresses: a vxlan device carries one family' % label)
    if local is not None and not address_error(local, 'local'):
        mine = parse_ip(local)
        if families and families != set([mine.version]):
            errors.append('the peers of %s are IPv%d addresses, its local address %s is not'
                          % (label, families.pop(), mine))
        elif mine in seen:
            errors.append('peer %s of %s is its own local address' % (mine, label))
    return errors


def plan_peers(wanted, entries, group=None):
    """(to_add, to_remove) to make the flood entries of one device exactly `wanted`: addresses (normalised)
    without a plain entry, and the flood entries (`_rtnl.parse_fdb` dicts) to remove - those to an address
    not wanted, and every one with a port, VNI or underlay of its own. The entry of the device's own remote or
    group (`group`) is left alone."""
    flood = [e for e in entries if is_flood_entry(e) and not (plain_entry(e) and e['dst'] == group)]
    have = set(e['dst'] for e in flood if plain_entry(e))
    to_add = [p for p in wanted if p not in have]
    to_remove = sorted((e for e in flood if not plain_entry(e) or e['dst'] not in wanted),
                       key=lambda e: address_order(describe_entry(e)))
    return to_add, to_remove


def describe_sync(to_add, to_remove, names=None):
    """'add 10.0.0.2, 10.0.0.3; remove 10.0.0.9' for the actions list (`names`: ifindex -> underlay name)."""
    parts = []
    if to_add:
        parts.append('add %s' % ', '.join(to_add))
    if to_remove:
        parts.append('remove %s' % ', '.join(describe_entry(e, names) for e in to_remove))
    return '; '.join(parts)


def _label(item):
    return 'vxlan %s in %s' % (item.get('name'), ns_label(item.get('netns') or ''))


def validate_vxlan(item):
    """Errors of the vxlan options of one object to be made present (no kernel needed)."""
    errors = []
    label = _label(item)
    vni = item.get('vni')
    if vni is None:
        errors.append('vni is required to create or manage %s' % label)
    elif not 1 <= vni <= MAX_VNI:
        errors.append('vni %d of %s out of range (1..%d)' % (vni, label, MAX_VNI))
    port = item.get('port')
    if port is not None and not 1 <= port <= 65535:
        errors.append('port %d of %s out of range (1..65535)' % (port, label))
    for key in ('ttl', 'tos'):
        value = item.get(key)
        if value is not None and not 0 <= value <= 255:
            errors.append('%s %d of %s out of range (0..255)' % (key, value, label))
    local = item.get('local')
    if local is not None:
        err = address_error(local, 'local address')
        if err:
            errors.append('%s of %s' % (err, label))
    if item.get('dev') is not None:
        err = validate_ifname(item['dev'], 'underlay dev name')
        if err:
            errors.append('%s (%s)' % (err, label))
    if item.get('peers') is not None:
        errors.extend(peer_errors(item['peers'], local, label))
    return errors


def _same_family(a, b):
    return parse_ip(a).version == parse_ip(b).version


def _any(address):
    """The unspecified address of `address`'s family (what takes a local address away)."""
    return '::' if parse_ip(address).version == 6 else '0.0.0.0'


# --------------------------------------------------------------------------- the device

class VxlanKind(LinkKind):
    kind = 'vxlan'
    read_kinds = ('vxlan',)
    keys = KEYS
    # every IFLA_VXLAN_* attribute read here is in _rtnl's vxlan table: one raw get; the flood entries are
    # read and written on the raw socket too: vxlan needs no pyroute2
    needs_data = 'table'
    needs_pyroute2 = False

    # ----------------------------------------------------------------- validation
    def validate(self, item):
        if item.get('state') == 'absent':
            return []
        return validate_vxlan(item)

    def validate_all(self, items, batch):
        items, errors = LinkKind.validate_all(self, items, batch)
        if not errors:
            for item in items:
                if item.get('local') is not None:
                    item['local'] = str(parse_ip(item['local']))
                if item.get('peers') is not None:
                    item['peers'] = normalise_peers(item['peers'])
        return items, errors

    def needs(self, item):
        """Its namespace, its master bridge and, to be made present, its underlay device."""
        out = LinkKind.needs(self, item)
        if item.get('state') != 'absent' and item.get('dev'):
            out.append((link_key(item.get('netns') or '', item['dev']), 'underlay dev of vxlan %s' % item['name'],
                        None))
        return out

    def preflight(self, ctx, item):
        if item.get('dev'):
            self.dev_index(ctx, item)

    def dev_index(self, ctx, item):
        """The ifindex of the item's underlay device in its namespace (an error naming it when it is missing)."""
        netns = item.get('netns') or ''
        link = read_link(ctx, netns, ifname=item['dev'], need_data=False)
        if link is None:
            raise VirtnetError('vxlan %s: underlay dev %s not found in %s'
                               % (item['name'], item['dev'], ns_label(netns)))
        return link['index']

    # ----------------------------------------------------------------- reading
    def entries(self, ctx, netns, index, name):
        """The forwarding entries of the device's own table (its flood entries among them); none for a device
        that check mode of virtnet.linux.plumbing predicts (a negative index)."""
        if index is None or index < 0:
            return []
        return ctx.rt.fdb(netns, index, 'reading the flood entries of %s' % name)

    def view(self, ctx, item, link):
        netns = item.get('netns') or ''
        out = vxlan_view(link.get('info_data'))
        index = out['dev']
        out['dev'] = None
        if index and link.get('link_netnsid') is None:
            dev = read_link(ctx, netns, index=index, need_data=False)
            out['dev'] = dev['ifname'] if dev else None
        entries = self.entries(ctx, netns, link['index'], link['ifname'])
        out['peers'] = flood_peers(entries, out['group'], self.via_names(ctx, netns, entries))
        return out

    def via_names(self, ctx, netns, entries):
        """ifindex -> name of the underlay devices that flood entries of their own name."""
        names = {}
        for via in set(e['via'] for e in entries if e.get('via')):
            dev = read_link(ctx, netns, index=via, need_data=False)
            names[via] = dev['ifname'] if dev else None
        return names

    # ----------------------------------------------------------------- comparing
    def compare(self, ctx, item, link, view, diffs):
        netns = item.get('netns') or ''
        diffs.compare('vni', item.get('vni'), view['vni'], recreate=True)
        diffs.compare('port', item.get('port'), view['port'], recreate=True)
        if link.get('link_netnsid') is not None:
            # a device moved here from another namespace keeps its socket and underlay there
            diffs.add('underlay_netns', 'another netns (nsid %d)' % link['link_netnsid'], netns, recreate=True)
        local = item.get('local')
        if local is not None and local != view['local']:
            diffs.add('local', view['local'], local,
                      recreate=view['local'] is not None and not _same_family(local, view['local']))
        dev = item.get('dev')
        if dev is not None and dev != view['dev']:
            diffs.add('dev', view['dev'], dev, recreate=view['dev'] is None)
        diffs.compare('learning', item.get('learning'), view['learning'])
        diffs.compare('ttl', item.get('ttl'), view['ttl'])
        diffs.compare('tos', item.get('tos'), view['tos'])
        if item.get('peers') is not None:
            if view['group'] is not None and view['group'] in item['peers']:
                raise VirtnetError('peer %s of %s is the remote or multicast group of the device itself (made '
                                   'outside this module); list only the other peers' % (view['group'], _label(item)))
            to_add, to_remove = plan_peers(item['peers'], self.entries(ctx, netns, link['index'], link['ifname']),
                                           view['group'])
            if to_add or to_remove:
                diffs.add('peers', view['peers'], list(item['peers']))
        if diffs.needs_recreate:
            # the new device keeps what the task leaves unmanaged; not the MTU when its underlay or address family
            # changes (the kernel derives it from the underlay: 50 bytes less over IPv4, 70 over IPv6)
            carry = [key for key in _CARRY if key != 'mtu' or not ('dev' in diffs or 'local' in diffs)]
            for key in carry:
                if item.get(key) is None and view.get(key) not in (None, ''):
                    item[key] = view[key]
            if item.get('peers') is None:
                # the plain entries; none when the new device has another address family (they cannot be its)
                keep = [p for p in view['peers'] if ' ' not in p and p != view.get('group')]
                if item.get('local') is None or all(_same_family(p, item['local']) for p in keep):
                    item['peers'] = keep

    def may_recreate(self, item):
        return bool(item.get('recreate'))

    def refuse_recreate(self, ctx, item, link, view, diffs):
        if item.get('recreate'):
            return None
        return ('%s must be replaced to change %s, and recreate is false: nothing was changed'
                % (_label(item), ', '.join('%s (%s -> %s)' % (d.key, _show(d.before), _show(d.after))
                                           for d in diffs.needs_recreate)))

    # ----------------------------------------------------------------- writing
    def create(self, ctx, item):
        netns = item.get('netns') or ''
        name = item['name']
        dev = self.dev_index(ctx, item) if item.get('dev') else None     # (check mode: planned, not sent)
        attrs = {}
        for key, arg in (('mtu', 'mtu'), ('address', 'address'), ('txqueuelen', 'txqlen')):
            if item.get(key) is not None:
                attrs[arg] = item[key]

        def act():
            data = vxlan_data(vni=item['vni'], local=item.get('local'), dev=dev, port=item.get('port'),
                              learning=item.get('learning'), ttl=item.get('ttl'), tos=item.get('tos'))
            try:
                ctx.rt.sock(netns).add_link(link_body(name, 'vxlan', data, **attrs))
            except OSError as exc:
                hint = None
                if error_code(exc) == errno.EEXIST:
                    hint = self._taken(ctx, item)
                raise kernel_error(exc, 'creating vxlan %s' % name, netns, hint=hint)

        def undo():
            remove_link(ctx, netns, name)
            if read_link(ctx, netns, ifname=name, need_data=False) is not None:
                raise VirtnetError('read back, %s is still in %s' % (name, ns_label(netns)))

        ctx.tx.run('create vxlan %s (VNI %d, port %d%s)' % (
            name, item['vni'], item.get('port') or DEFAULT_PORT, ', dev %s' % item['dev'] if item.get('dev') else ''),
            act, undo)

    def _taken(self, ctx, item):
        """Why the kernel says a new vxlan already exists: the name, or its VNI and port on another device."""
        netns = item.get('netns') or ''
        for link in ctx.rt.links(netns):
            if link['ifname'] == item['name']:
                return 'the name is taken by a %s' % (link['kind'] or 'device without kind')
            data = vxlan_view(link.get('info_data')) if link['kind'] == 'vxlan' else {}
            if data.get('vni') == item['vni'] and data.get('port') == (item.get('port') or DEFAULT_PORT):
                return 'VNI %d on UDP port %d is already the VNI of vxlan %s there' % (
                    item['vni'], data['port'], link['ifname'])
        return None

    def update(self, ctx, item, link, view, diffs):
        netns = item.get('netns') or ''
        name = link['ifname']
        index = link['index']
        changes = [d for d in diffs.in_place if d.key in IN_PLACE]
        if changes:
            def send(values, check):
                def run():
                    args = dict(values)
                    if args.get('dev') is not None:
                        args['dev'] = self.dev_index(ctx, dict(item, dev=args['dev']))
                    if 'local' in args and args['local'] is None:
                        args['local'] = _any(check['local'] if check else values['local'])
                    try:
                        ctx.rt.sock(netns).change_kind(index, 'vxlan', vxlan_data(**args))
                    except OSError as exc:
                        raise kernel_error(exc, 'setting %s on vxlan %s' % (', '.join(sorted(values)), name), netns)
                    if check is not None:
                        self._verify(ctx, netns, name, index, values)
                return run

            new = dict((d.key, d.after) for d in changes)
            old = dict((d.key, d.before) for d in changes)
            ctx.tx.run('set %s on %s' % (', '.join('%s=%s' % (d.key, _show(d.after)) for d in changes), name),
                       send(new, None), send(old, new))
        if 'peers' in diffs:
            self._sync_peers(ctx, item, netns, name, index, view.get('group'))

    def _verify(self, ctx, netns, name, index, values):
        """Read the device back after an undo: fail unless the settings `values` are as they were."""
        link = read_link(ctx, netns, index=index, need_data=self.needs_data)
        if link is None:
            raise VirtnetError('%s in %s is gone after the undo' % (name, ns_label(netns)))
        now = self.view(ctx, {'netns': netns}, link)
        wrong = ['%s is %s, not %s' % (key, _show(now.get(key)), _show(value))
                 for key, value in sorted(values.items()) if now.get(key) != value]
        if wrong:
            raise VirtnetError('read back, %s in %s: %s' % (name, ns_label(netns), ', '.join(wrong)))

    def _sync_peers(self, ctx, item, netns, name, index, group=None):
        """Make the flood entries exactly item['peers']: one step of the transaction, undone as a whole."""
        before = self.entries(ctx, netns, index, name)
        to_add, to_remove = plan_peers(item['peers'], before, group)
        if not to_add and not to_remove:
            return

        def act():
            sock = ctx.rt.sock(netns)
            done = []           # (undo function, destination, what of its own) of each change made
            current = None
            try:
                for entry in to_remove:
                    current = 'removing %s' % describe_entry(entry)
                    sock.del_fdb(index, FLOOD_MAC, entry['dst'], **_own(entry))
                    done.append((sock.add_fdb, entry['dst'], _own(entry)))
                for peer in to_add:
                    current = 'adding %s' % peer
                    sock.add_fdb(index, FLOOD_MAC, peer)
                    done.append((sock.del_fdb, peer, {}))
            except OSError as exc:
                for func, dst, own in reversed(done):      # this step is all or nothing
                    try:
                        func(index, FLOOD_MAC, dst, **own)
                    except OSError:
                        pass
                hint = None
                if error_code(exc) == errno.EAFNOSUPPORT:
                    hint = 'the peer is not of the address family of the device (its local address)'
                raise kernel_error(exc, 'setting the flood entries of vxlan %s: %s' % (name, current), netns, hint=hint)

        def undo():
            sock = ctx.rt.sock(netns)
            for peer in to_add:
                sock.del_fdb(index, FLOOD_MAC, peer)
            for entry in to_remove:
                sock.add_fdb(index, FLOOD_MAC, entry['dst'], **_own(entry))
            now = self.entries(ctx, netns, index, name)
            if _flood(now) != _flood(before):
                raise VirtnetError('read back, the flood entries of %s in %s are %s, not %s' % (
                    name, ns_label(netns), ', '.join(_flood(now)) or 'none', ', '.join(_flood(before)) or 'none'))

        ctx.tx.run('set flood entries of %s: %s' % (name, describe_sync(to_add, to_remove,
                                                                        self.via_names(ctx, netns, to_remove))),
                   act, undo)

    # ----------------------------------------------------------------- check mode
    def predict(self, item, view):
        out = LinkKind.predict(self, item, view)
        out.pop('recreate', None)
        out['kind'] = 'vxlan'
        for key in ('local', 'dev', 'learning', 'ttl', 'tos', 'group'):
            out.setdefault(key, None)
        out['peers'] = list(item.get('peers') or [])
        return out


def _flood(entries):
    """The flood entries among forwarding entries, described, in order (to compare two readings)."""
    return sorted((describe_entry(e) for e in entries if is_flood_entry(e)), key=address_order)


def _own(entry):
    """The fdb_body keywords of what a flood entry has of its own (port, VNI, underlay)."""
    return dict((key, entry[key]) for key in ('port', 'vni', 'via') if entry.get(key) is not None)


def _show(value):
    if value is None:
        return 'none'
    if isinstance(value, bool):
        return 'on' if value else 'off'
    if isinstance(value, list):
        return '[%s]' % ', '.join(str(v) for v in value)
    return str(value)
