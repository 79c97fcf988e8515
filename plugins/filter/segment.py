# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The segment role's filters: one host's networks checked against its own links and completed (segment_host,
exported to the other hosts as a fact), and the networks checked across hosts with this host's plumbing
derived from them (segment_plan); each documented in its NAME.yml."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

ID_RE = re.compile(r'^[a-z0-9-]{1,11}$')
KEYS = {'id', 'vni', 'hosts', 'local', 'port', 'mtu', 'state'}
VNI_MAX = 16777215
DEFAULT_PORT = 4789
MIN_MTU = 68
#: VXLAN's overhead on the underlay: outer IP header (20 or 40), UDP (8), VXLAN (8), inner Ethernet (14)
OVERHEAD = {4: 50, 6: 70}
#: what the role writes into the ifalias of the devices it makes (then the network's id): its record
MARK = 'virtnet.linux.segment '
#: the export of a host's networks (segment_host's result), read by the other hosts through hostvars
EXPORT = '__segment_host'


def _int(value):
    """An int from an int or a string of digits, else None (bools are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r'^\s*[0-9]+\s*$', value):
        return int(value)
    return None


def _ip(value):
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None


def _is_list(value):
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


class _Network:
    """One element of segment_networks on one host: its shape and values (what needs no other host)."""

    def __init__(self, index, raw, host):
        self.raw = raw
        self.host = host
        self.errors = []
        self.id = None
        self.label = 'segment_networks[%d] (on %s)' % (index, host)
        if not isinstance(raw, Mapping):
            self.errors.append('%s: must be a mapping, not %s' % (self.label, type(raw).__name__))
            return
        if raw.get('id') is not None and not isinstance(raw.get('id'), (bool, list, dict)):
            self.id = str(raw['id'])
            self.label = 'network %s (on %s)' % (self.id, host)

    def fail(self, text):
        self.errors.append('%s: %s' % (self.label, text))

    def check(self, default_local):
        """The network normalised ({id, state, vni, port, hosts, local, mtu}), or None after an error."""
        raw = self.raw
        if self.errors:
            return None
        unknown = sorted(set(raw) - KEYS)
        if unknown:
            self.fail('unknown key(s) %s (known: %s)' % (', '.join(map(str, unknown)), ', '.join(sorted(KEYS))))
        if self.id is None:
            self.fail('id is required')
            return None
        if not ID_RE.match(self.id):
            self.fail('id %r must be 1 to 11 characters of a-z, 0-9 and - (the bridge brq%s must fit 15 characters)'
                      % (self.id, self.id))
            return None
        state = raw.get('state', 'present') or 'present'
        if state not in ('present', 'absent'):
            self.fail('state must be present or absent, not %r' % (state,))
            return None
        out = {'id': self.id, 'state': state, 'bridge': 'brq' + self.id, 'vni': None, 'vxlan': None}
        if raw.get('vni') is not None:
            vni = _int(raw['vni'])
            if vni is None or not 1 <= vni <= VNI_MAX:
                self.fail('vni %r is not a VXLAN id (1 to %d)' % (raw['vni'], VNI_MAX))
                return None
            out.update(vni=vni, vxlan='vxlan-%d' % vni)
        elif state == 'present':
            self.fail('vni is required')
            return None
        if state == 'absent':
            return out
        port = _int(raw.get('port', DEFAULT_PORT) if raw.get('port') is not None else DEFAULT_PORT)
        if port is None or not 1 <= port <= 65535:
            self.fail('port %r is not a UDP port (1 to 65535)' % (raw.get('port'),))
            return None
        hosts = raw.get('hosts')
        if hosts is not None:
            if not _is_list(hosts) or not all(isinstance(h, str) and h for h in hosts):
                self.fail('hosts must be a list of inventory host names, not %r' % (hosts,))
                return None
            hosts = sorted(set(hosts))
        local = raw.get('local')
        source = 'local'
        if local in (None, ''):
            local, source = default_local, 'ansible_host'
        address = _ip(local)
        if address is None:
            self.fail('the underlay address %r (%s) is not an IP address%s'
                      % (local, source, '; set local' if source != 'local' else ''))
            return None
        if address.is_multicast or address.is_unspecified:
            self.fail('the underlay address %s (%s) must be a unicast address' % (address, source))
            return None
        mtu = None
        if raw.get('mtu') is not None:
            mtu = _int(raw['mtu'])
            if mtu is None or mtu < MIN_MTU:
                self.fail('mtu %r is not an MTU (%d or more)' % (raw['mtu'], MIN_MTU))
                return None
        out.update(port=port, hosts=hosts, local=str(address), mtu=mtu)
        return out


def _networks(networks):
    if networks is None:
        return []
    if not _is_list(networks):
        raise AnsibleFilterError('segment: segment_networks must be a list of networks, not %s'
                                 % type(networks).__name__)
    return list(networks)


def _check_host(networks, host, default_local):
    """(errors, normalised networks) of one host's segment_networks, without its links."""
    errors, out, ids, vnis = [], [], {}, {}
    for index, raw in enumerate(_networks(networks)):
        item = _Network(index, raw, host)
        net = item.check(default_local)
        errors.extend(item.errors)
        if net is None:
            continue
        if net['id'] in ids:
            item.fail('listed twice')
            errors.extend(item.errors)
            continue
        ids[net['id']] = net
        if net['state'] == 'present':
            if net['vni'] in vnis:
                item.fail('vni %d is also network %s\'s on this host (one VNI, one network)'
                          % (net['vni'], vnis[net['vni']]))
                errors.extend(item.errors)
                continue
            vnis[net['vni']] = net['id']
        out.append(net)
    return errors, out


def _underlay(links, address):
    """(name, mtu) of the link of `links` that carries `address`, or None."""
    for link in links or []:
        for cidr in link.get('addresses') or []:
            if _ip(str(cidr).split('/', maxsplit=1)[0]) == address:
                return link.get('name'), link.get('mtu')
    return None


def segment_host(networks, host, links=None, default_local=None, strict=True):
    """Check one host's segment_networks and complete them with its links (link_info's `links` of the host's
    own namespace): the underlay device carrying `local` (default `default_local`, the host's ansible_host)
    and the MTU (default the underlay's minus 50, 70 over IPv6).

    Returns {host, errors, networks}; with strict any problem raises one AnsibleFilterError carrying every
    message, each naming its network and the host.
    """
    host = str(host)
    errors, nets = _check_host(networks, host, default_local if default_local is not None else host)
    for net in nets:
        if net['state'] != 'present':
            continue
        label = 'network %s (on %s)' % (net['id'], host)
        address = ipaddress.ip_address(net['local'])
        found = _underlay(links, address)
        if found is None:
            errors.append('%s: the underlay address %s is not an address of any link of %s (set local to one)'
                          % (label, address, host))
            continue
        dev, dev_mtu = found
        limit = int(dev_mtu or 1500) - OVERHEAD[address.version]
        if net['mtu'] is None:
            net['mtu'] = limit
        elif net['mtu'] > limit:
            errors.append('%s: mtu %d is above %d, the underlay %s\'s MTU %s minus %d (VXLAN\'s overhead)'
                          % (label, net['mtu'], limit, dev, dev_mtu, OVERHEAD[address.version]))
        net['dev'] = dev
    if errors and strict:
        raise AnsibleFilterError('; '.join(errors))
    return {'host': host, 'errors': errors, 'networks': nets}


class _Fleet:
    """Every host's declarations: its export (the segment role ran on it in this playbook run, in this play
    or an earlier one), else its inventory's segment_networks (hostvars)."""

    def __init__(self, own, hostvars):
        self.hostvars = hostvars if hostvars is not None else {}
        try:
            self.hosts = set(str(h) for h in self.hostvars)
        except TypeError:
            self.hosts = set()
        self.errors = []
        self.decl = {}                      # host -> {id -> normalised network}
        self.decl[own['host']] = dict((n['id'], n) for n in own.get('networks') or [])
        for h in sorted(self.hosts):
            if h == own['host']:
                continue
            exported = self.var(h, EXPORT)
            if isinstance(exported, Mapping) and _is_list(exported.get('networks')):
                nets = list(exported['networks'])
            else:
                listed = self.var(h, 'segment_networks')
                if listed is None:
                    continue
                if not _is_list(listed):
                    self.errors.append('segment_networks of %s must be a list of networks' % h)
                    continue
                errors, nets = _check_host(listed, h, self.var(h, 'ansible_host') or h)
                self.errors.extend(errors)
            if nets:
                self.decl[h] = dict((n['id'], n) for n in nets)

    def known(self, host):
        return host in self.decl or host in self.hosts

    def var(self, host, key):
        try:
            return self.hostvars[host].get(key)
        except (KeyError, AttributeError):
            return None

    def address(self, host, net_id):
        """The underlay address of `host` on network `net_id`: its own `local`, else its ansible_host."""
        net = self.decl.get(host, {}).get(net_id)
        if net is not None and net.get('local'):
            return net['local']
        return str(self.var(host, 'ansible_host') or host)


def _members(fleet, errors):
    """{id: sorted member hosts} of every network declared present somewhere; errors across hosts appended."""
    present = {}                            # id -> [(host, net)]
    for h in sorted(fleet.decl):
        for net in fleet.decl[h].values():
            if net['state'] == 'present':
                present.setdefault(net['id'], []).append((h, net))
    vni_owner = {}
    members = {}
    for net_id in sorted(present):
        decls = present[net_id]
        first_host, first = decls[0]
        for key in ('vni', 'port', 'hosts'):
            for h, net in decls[1:]:
                if net[key] != first[key]:
                    errors.append('network %s: %s %s on %s but %s on %s (the same on every host of the network)'
                                  % (net_id, key, _show(first[key]), first_host, _show(net[key]), h))
                    break
        vni = first['vni']
        if vni in vni_owner:
            errors.append('vni %d is used by network %s (on %s) and network %s (on %s): one VNI, one network'
                          % (vni, vni_owner[vni][0], vni_owner[vni][1], net_id, first_host))
        else:
            vni_owner[vni] = (net_id, first_host)
        absent = set(h for h in fleet.decl if fleet.decl[h].get(net_id, {}).get('state') == 'absent')
        explicit = first['hosts']
        if explicit is None:
            members[net_id] = sorted(h for h, _net in decls)
            continue
        for h in explicit:
            if not fleet.known(h):
                errors.append('network %s (on %s): host %s in hosts is not in the inventory' % (net_id, first_host, h))
        for h, _net in decls:
            if h not in explicit:
                errors.append('network %s: %s declares it but is not in its hosts list (%s)'
                              % (net_id, h, ', '.join(explicit)))
        members[net_id] = sorted(h for h in explicit if h not in absent)
    return members


def _show(value):
    if isinstance(value, list):
        return '[%s]' % ', '.join(value)
    return 'default (every host that declares it)' if value is None else str(value)


def _peers(fleet, net, host, members, errors):
    """The sorted underlay addresses of the other members of `net` (seen from `host`)."""
    own = ipaddress.ip_address(net['local'])
    seen = {own: host}
    out = []
    for h in members:
        if h == host:
            continue
        text = fleet.address(h, net['id'])
        address = _ip(text)
        if address is None:
            errors.append('network %s: the underlay address %r of %s is not an IP address (set its local)'
                          % (net['id'], text, h))
            continue
        if address.version != own.version:
            errors.append('network %s: the underlay address %s of %s is not of the family of %s\'s (%s)'
                          % (net['id'], address, h, host, own))
            continue
        if address in seen:
            errors.append('network %s: %s and %s have the same underlay address %s' % (net['id'], seen[address], h, address))
            continue
        seen[address] = h
        out.append(address)
    return [str(a) for a in sorted(out)]


def _alias(link):
    alias = (link or {}).get('alias') or ''
    return alias[len(MARK):] if alias.startswith(MARK) else None


def _plumbing(nets, links, purge):
    """(bridges, vxlans, removed ids) of the plumbing task, given the host's links."""
    links = dict((link.get('name'), link) for link in links or [] if isinstance(link, Mapping))
    present = dict((n['id'], n) for n in nets if n['state'] == 'present')
    listed = set(n['id'] for n in nets)
    bridges, vxlans, gone_vx, removed = [], [], [], set()
    for net in present.values():
        bridge = {'name': net['bridge'], 'stp': False, 'forward_delay': 0, 'link_state': 'up', 'mtu': net['mtu']}
        if net['bridge'] not in links or _alias(links[net['bridge']]) == net['id']:
            bridge['alias'] = MARK + net['id']      # made by the role (or made by it before): recorded
        bridges.append(bridge)
        vxlans.append({'name': net['vxlan'], 'vni': net['vni'], 'local': net['local'], 'dev': net.get('dev'),
                       'port': net['port'], 'peers': net['peers'], 'mtu': net['mtu'], 'master': net['bridge'],
                       'link_state': 'up', 'alias': MARK + net['id']})
    wanted = set(v['name'] for v in vxlans)
    # the role's devices of networks no longer present here: marked absent, purged, or a changed vni's old one
    for name, link in sorted(links.items()):
        if link.get('kind') != 'vxlan' or name in wanted:
            continue
        net_id = _alias(link)
        if net_id is None:
            continue
        if net_id in present or net_id in listed or purge:
            gone_vx.append(name)
            if net_id not in present:
                removed.add(net_id)
    for net in nets:                        # an absent network's vxlan-<vni>, whoever made it
        if net['state'] == 'absent' and net['vxlan'] in links and links[net['vxlan']].get('kind') == 'vxlan' \
                and net['vxlan'] not in gone_vx and net['vxlan'] not in wanted:
            gone_vx.append(net['vxlan'])
            removed.add(net['id'])
    gone_br = []
    for name, link in sorted(links.items()):
        net_id = _alias(link)
        if link.get('kind') != 'bridge' or net_id is None or name != 'brq' + net_id or net_id in present:
            continue
        if net_id not in listed and not purge:
            continue
        ports = set((link.get('bridge') or {}).get('ports') or [])
        if ports <= set(gone_vx):           # a bridge with other ports (a DHCP namespace's tap) stays
            gone_br.append(name)
            removed.add(net_id)
    bridges = [{'name': n, 'state': 'absent'} for n in gone_br] + bridges
    vxlans = [{'name': n, 'state': 'absent'} for n in sorted(gone_vx)] + vxlans
    return bridges, vxlans, sorted(removed)


def segment_plan(own, host=None, hostvars=None, links=None, purge=False, strict=True):
    """Check the networks across hosts and derive this host's plumbing.

    `own` is this host's segment_host result; the other hosts' come from their export (the fact
    __segment_host, set by the role's run on them) or from their inventory's segment_networks. Returns {errors,
    networks (this host's present ones with their peers), members (id -> hosts), plumbing {bridges,
    vxlans}, removed (ids whose devices go), work}; with strict any problem raises one AnsibleFilterError.
    """
    if not isinstance(own, Mapping) or not _is_list(own.get('networks')):
        raise AnsibleFilterError('segment_plan: its input must be the result of virtnet.linux.segment_host')
    own = dict(own)
    if host is not None:
        own['host'] = str(host)
    fleet = _Fleet(own, hostvars)
    errors = list(fleet.errors)
    members = _members(fleet, errors)
    nets = []
    for net in own['networks']:
        net = dict(net)
        if net['state'] == 'present':
            net['peers'] = _peers(fleet, net, own['host'], members.get(net['id'], []), errors)
        nets.append(net)
    errors = list(dict.fromkeys(errors))
    if errors and strict:
        raise AnsibleFilterError('; '.join(errors))
    bridges, vxlans, removed = _plumbing(nets, links, bool(purge))
    return {
        'errors': errors,
        'networks': [n for n in nets if n['state'] == 'present'],
        'members': members,
        'plumbing': {'bridges': bridges, 'vxlans': vxlans},
        'removed': removed,
        'work': bool(bridges or vxlans),
    }


class FilterModule:
    """The segment role's filters."""

    def filters(self):
        return {
            'segment_host': segment_host,
            'segment_plan': segment_plan,
        }
