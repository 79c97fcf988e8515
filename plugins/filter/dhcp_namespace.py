# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The dhcp_namespace role's filters: validation and address arithmetic (dhcp_namespace_plan), what a run does
on a host given the role's record there (dhcp_namespace_work), the dnsmasq batch (dhcp_namespace_daemons) and
the release of old uplinks (dhcp_namespace_releases); each documented in its NAME.yml."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

ID_RE = re.compile(r'^[a-z0-9-]{1,11}$')
MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')
LABEL_RE = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', re.IGNORECASE)
LEASE_RE = re.compile(r'^(infinite|[0-9]+[smhdw]?)$')
IFNAME_RE = re.compile(r'^[^/:\s]{1,15}$')
KEYS = {'id', 'subnet', 'range_start', 'range_end', 'server_address', 'router', 'dns_servers', 'domain',
        'lease_time', 'hosts', 'uplink', 'state', 'dns', 'options', 'mtu', 'dhcp_nodes'}
#: what the DHCP nodes of a network must declare alike (their shares and reservations follow from these)
AGREE = ('subnet', 'range_start', 'range_end', 'hosts', 'dhcp_nodes', 'server_addresses')
HOST_KEYS = {'mac', 'ip', 'name'}
LEASE_UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}
DEFAULT_STATE_DIR = '/var/lib/virtnet/dhcp'
#: each network's files and what a change of one does to its dnsmasq (it re-reads only hosts, opts and
#: addn_hosts on SIGHUP; the conf only at start)
FILES = {'dnsmasq.conf': 'restart', 'hosts': 'reload', 'opts': 'reload', 'addn_hosts': 'reload'}
#: what dnsmasq logs when it could not load a file it was given (it goes on serving without it)
LOG_ERRORS = ('cannot read', 'failed to load')


def _lease_seconds(value):
    if value == 'infinite':
        return None
    if value[-1] in LEASE_UNITS:
        return int(value[:-1]) * LEASE_UNITS[value[-1]]
    return int(value)


def _ip(value):
    """An IPv4 address, or None if it is not one."""
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        return None


def _is_name(value):
    return all(LABEL_RE.match(label) for label in value.split('.')) and len(value) <= 253


class _Network:
    """One element of dhcp_namespace_networks: checks it and derives what the role needs."""

    def __init__(self, index, raw, default_lease, default_dns, host=None, inventory=None):
        self.raw = raw
        self.host = host
        self.inventory = inventory
        self.errors = []
        self.id = None
        self.label = 'dhcp_namespace_networks[%d]' % index
        if not isinstance(raw, Mapping):
            self.errors.append('%s: must be a mapping, not %s' % (self.label, type(raw).__name__))
            return
        if raw.get('id') is not None and not isinstance(raw.get('id'), (bool, list, dict)):
            self.id = str(raw['id'])
            self.label = 'network %s' % self.id
        self.default_lease = default_lease
        self.default_dns = default_dns

    def fail(self, text):
        self.errors.append('%s: %s' % (self.label, text))

    def check(self):
        raw = self.raw
        if self.errors:
            return None
        unknown = sorted(set(raw) - KEYS)
        if unknown:
            self.fail('unknown key(s) %s (known: %s)' % (', '.join(unknown), ', '.join(sorted(KEYS))))
        if self.id is None:
            self.fail('id is required')
            return None
        if not ID_RE.match(self.id):
            self.fail('id %r must be 1 to 11 characters of a-z, 0-9 and - (derived names such as brq%s '
                      'must fit 15 characters)' % (self.id, self.id))
            return None
        state = raw.get('state', 'present') or 'present'
        if state not in ('present', 'absent'):
            self.fail('state must be present or absent, not %r' % (state,))
            return None
        out = {
            'id': self.id, 'state': state,
            'bridge': 'brq' + self.id, 'netns': 'qdhcp-' + self.id,
            'tap': 'tap' + self.id, 'ns_dev': 'ns-' + self.id,
            'daemon': 'dnsmasq-' + self.id,
        }
        if state == 'absent':
            return out
        for key in ('subnet', 'range_start', 'range_end'):
            if raw.get(key) in (None, ''):
                self.fail('%s is required' % key)
        if self.errors:
            return None
        text = str(raw['subnet']).strip()
        try:
            net = ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            self.fail('subnet %r is not an IPv4 network in CIDR form (like 10.42.0.0/24)' % (raw['subnet'],))
            return None
        if '/' not in text:
            self.fail('subnet %r needs a prefix length (like 10.42.0.0/24)' % (raw['subnet'],))
            return None
        if ipaddress.IPv4Interface(text).ip != net.network_address:
            self.fail('subnet %s has host bits set (the network is %s)' % (text, net))
            return None
        if net.prefixlen > 29:
            self.fail('subnet %s is too small (at most /29: the server, a router and clients need addresses)'
                      % net)
            return None
        first, last = net.network_address + 1, net.broadcast_address - 1

        def addr(key, value):
            ip = _ip(value)
            if ip is None:
                self.fail('%s %r is not an IPv4 address' % (key, value))
            elif not first <= ip <= last:
                self.fail('%s %s is not a host address of subnet %s (%s - %s)' % (key, ip, net, first, last))
                ip = None
            return ip

        start = addr('range_start', raw['range_start'])
        end = addr('range_end', raw['range_end'])
        if start is not None and end is not None and start > end:
            self.fail('range_start %s is after range_end %s' % (start, end))

        def in_range(ip):
            return start is not None and end is not None and start <= ip <= end

        router = None
        if raw.get('router') not in (None, ''):
            router = addr('router', raw['router'])
            if router is not None and in_range(router):
                self.fail('router %s is inside the dynamic range %s - %s' % (router, start, end))
        nodes = self._nodes(raw.get('dhcp_nodes'))
        shares = []
        if start is not None and end is not None and start <= end and nodes:
            count = int(end) - int(start) + 1
            if count < len(nodes):
                self.fail('the range %s - %s has %d address(es) for %d dhcp_nodes (each node needs a share of it)'
                          % (start, end, count, len(nodes)))
            else:
                shares = [(start + i * count // len(nodes), start + (i + 1) * count // len(nodes) - 1)
                          for i in range(len(nodes))]
        servers = self._servers(raw.get('server_address'), nodes, addr, in_range, first, last, router, start, end)
        index = nodes.index(self.host) if self.host in nodes else (0 if self.host is None else None)
        server = servers[index] if servers and index is not None and index < len(servers) else \
            (servers[0] if servers else None)
        dns = raw.get('dns', self.default_dns)
        if not isinstance(dns, bool):
            self.fail('dns must be true or false, not %r' % (dns,))
            dns = True
        dns_servers = raw.get('dns_servers')
        if dns_servers is None:
            dns_servers = [str(a) for a in servers] if dns else []
        elif isinstance(dns_servers, str) or not isinstance(dns_servers, Sequence):
            self.fail('dns_servers must be a list of IPv4 addresses')
            dns_servers = []
        else:
            checked = []
            for value in dns_servers:
                ip = _ip(value)
                if ip is None:
                    self.fail('dns_servers: %r is not an IPv4 address' % (value,))
                else:
                    checked.append(str(ip))
            dns_servers = checked
        domain = raw.get('domain') or ''
        if domain:
            domain = str(domain).rstrip('.').lower()
            if not _is_name(domain):
                self.fail('domain %r is not a DNS domain name' % (raw['domain'],))
        lease = str(raw.get('lease_time') or self.default_lease).strip().lower()
        if not LEASE_RE.match(lease):
            self.fail('lease_time %r is not dnsmasq\'s form (seconds, or a number with s, m, h, d, w; or '
                      'infinite)' % (raw.get('lease_time'),))
        elif _lease_seconds(lease) is not None and _lease_seconds(lease) < 120:
            self.fail('lease_time %s is shorter than dnsmasq\'s minimum of 2 minutes' % lease)
        uplink = raw.get('uplink') or ''
        if uplink:
            uplink = str(uplink)
            if not IFNAME_RE.match(uplink):
                self.fail('uplink %r is not an interface name (1 to 15 characters, no /, : or spaces)' % uplink)
            elif uplink in (out['bridge'], out['tap']):
                self.fail('uplink %s is one of the names the role derives for this network' % uplink)
        extra = raw.get('options') or []
        if isinstance(extra, str) or not isinstance(extra, Sequence) or \
                not all(isinstance(o, str) and o.strip() and '\n' not in o for o in extra):
            self.fail('options must be a list of dnsmasq dhcp-option values (like "option:ntp-server,10.42.0.1")')
            extra = []
        mtu = raw.get('mtu')
        if mtu in (None, ''):
            mtu = None
        elif isinstance(mtu, bool) or not str(mtu).strip().isdigit() or not 68 <= int(str(mtu).strip()) <= 65535:
            self.fail('mtu %r must be a number from 68 to 65535 (DHCP option 26)' % (mtu,))
        else:
            mtu = int(str(mtu).strip())
        hosts = self._hosts(raw.get('hosts') or [], net, first, last, servers, router)
        if self.errors:
            return None
        mine = shares[index] if index is not None else shares[0]
        foreign = []
        for i, (lo, hi) in enumerate(shares):
            if i != index:
                foreign.extend(str(lo + n) for n in range(int(hi) - int(lo) + 1))
        out.update({
            'subnet': str(net), 'prefix': net.prefixlen, 'netmask': str(net.netmask),
            'range_start': str(start), 'range_end': str(end),
            'server_address': str(server), 'server_cidr': '%s/%d' % (server, net.prefixlen),
            'router': str(router) if router is not None else '',
            'dns': dns, 'dns_servers': dns_servers, 'domain': domain, 'lease_time': lease,
            'uplink': uplink, 'hosts': hosts, 'options': [o.strip() for o in extra], 'mtu': mtu,
            # DHCP HA: the nodes in order, each with its server address and its share of the range
            'dhcp_nodes': nodes, 'served': index is not None,
            'server_addresses': [str(a) for a in servers],
            'shares': [[str(lo), str(hi)] for lo, hi in shares],
            'share_start': str(mine[0]), 'share_end': str(mine[1]),
            'peers': [str(a) for i, a in enumerate(servers) if i != index],
            'foreign': foreign,
        })
        if index is None:
            out['state'] = 'absent'     # declared, but another host's to serve: not made here (removed if it was)
        # What the collection's batch modules get for this network (one element each).
        out['bridge_spec'] = {'name': out['bridge'], 'stp': False, 'forward_delay': 0, 'link_state': 'up'}
        if uplink:
            out['bridge_spec']['ports'] = [uplink]
        out['veth_spec'] = {'name': out['tap'], 'master': out['bridge'], 'link_state': 'up',
                            'peer': out['ns_dev'], 'peer_netns': out['netns'], 'peer_link_state': 'up',
                            'recreate': True}
        out['record'] = {'bridge': out['bridge'], 'netns': out['netns'], 'tap': out['tap'],
                         'ns_dev': out['ns_dev'], 'daemon': out['daemon'], 'uplink': uplink}
        out['address_spec'] = {'netns': out['netns'], 'dev': out['ns_dev'], 'address': [out['server_cidr']],
                               'purge': True}
        return out

    def _nodes(self, value):
        """dhcp_nodes: inventory host names, at least one, none twice; default [this host]."""
        if value in (None, '', []):
            return [self.host]
        if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence) or \
                not all(isinstance(v, str) and v.strip() for v in value):
            self.fail('dhcp_nodes must be a list of inventory host names')
            return []
        nodes = [v.strip() for v in value]
        for node in sorted(set(n for n in nodes if nodes.count(n) > 1)):
            self.fail('dhcp_nodes: host %s is listed twice' % node)
        if self.inventory is not None:
            for node in nodes:
                if node not in self.inventory:
                    self.fail('dhcp_nodes: host %s is not in the inventory' % node)
        return nodes

    def _servers(self, value, nodes, addr, in_range, first, last, router, start, end):
        """server_address: one per node in dhcp_nodes order (a scalar for one node); default the first host
        addresses of the subnet that are not the router."""
        given = value not in (None, '', [])
        if not given:
            servers, candidate = [], first
            while len(servers) < max(len(nodes), 1) and candidate <= last:
                if candidate != router:
                    servers.append(candidate)
                candidate += 1
        else:
            values = [value] if isinstance(value, str) or not isinstance(value, Sequence) else list(value)
            if len(values) != max(len(nodes), 1):
                self.fail('server_address has %d address(es) for %d dhcp_nodes (one per node, in dhcp_nodes order)'
                          % (len(values), len(nodes)))
                return []
            servers = [addr('server_address', v) for v in values]
            if any(s is None for s in servers):
                return []
        seen = set()
        for server in servers:
            if server == router:
                self.fail('server_address %s is the router\'s address (the DHCP namespace does not route)' % server)
            if in_range(server):
                self.fail('server_address %s is inside the dynamic range %s - %s%s'
                          % (server, start, end, '' if given else ' (set server_address to a free address)'))
            if server in seen:
                self.fail('server_address %s is given twice (one address per node)' % server)
            seen.add(server)
        return servers

    def _hosts(self, hosts, net, first, last, servers, router):
        if isinstance(hosts, (str, Mapping)) or not isinstance(hosts, Sequence):
            self.fail('hosts must be a list of {mac, ip, name}')
            return []
        out, macs, ips, names = [], {}, {}, {}
        for n, host in enumerate(hosts):
            where = 'hosts[%d]' % n
            if not isinstance(host, Mapping):
                self.fail('%s must be a mapping with mac, ip and name' % where)
                continue
            unknown = sorted(set(host) - HOST_KEYS)
            if unknown:
                self.fail('%s: unknown key(s) %s (known: ip, mac, name)' % (where, ', '.join(unknown)))
            mac = str(host.get('mac') or '').strip().lower().replace('-', ':')
            if not MAC_RE.match(mac):
                self.fail('%s: mac %r is not a MAC address like 52:54:00:00:42:10' % (where, host.get('mac')))
                continue
            if int(mac[:2], 16) & 1:
                self.fail('%s: mac %s is a multicast address' % (where, mac))
            where = 'host %s' % mac
            ip = _ip(host.get('ip'))
            if ip is None:
                self.fail('%s: ip %r is not an IPv4 address' % (where, host.get('ip')))
                continue
            if not first <= ip <= last:
                self.fail('%s: ip %s is not a host address of subnet %s' % (where, ip, net))
            if ip in servers:
                self.fail('%s: ip %s is the server\'s address' % (where, ip))
            if ip == router:
                self.fail('%s: ip %s is the router\'s address' % (where, ip))
            name = str(host.get('name') or '').lower()
            if name and ('.' in name or not _is_name(name)):
                self.fail('%s: name %r is not a host name (letters, digits and -, no dots)' % (where, host.get('name')))
            for seen, key, what in ((macs, mac, 'mac'), (ips, ip, 'ip'), (names, name, 'name')):
                if key and key in seen:
                    self.fail('%s: %s %s is already used by host %s' % (where, what, key, seen[key]))
                elif key:
                    seen[key] = mac
            out.append({'mac': mac, 'ip': str(ip), 'name': name})
        return out


def _state_dir(value):
    """dhcp_namespace_state_dir in its plain form, or an error message."""
    text = str(value or '').strip()
    if not text.startswith('/') or '\0' in text or '\n' in text:
        return None, 'dhcp_namespace_state_dir %r must be an absolute path' % (value,)
    plain = posixpath.normpath(text)
    if plain == '/' or plain.startswith('//'):
        return None, 'dhcp_namespace_state_dir %r must be a directory below /' % (value,)
    return plain, None


def dhcp_namespace_plan(networks, lease_time='24h', dns=True, state_dir=DEFAULT_STATE_DIR, strict=False, host=None,
                        inventory=None):
    """Validate dhcp_namespace_networks and complete them.

    Returns {'errors': [...], 'networks': [normalised, ...], 'present': [...], 'absent_ids': [...],
    'ids': [...], 'state_dir': ...}. Every problem is collected (each naming its network), so one run shows
    them all; with strict they are raised as one AnsibleFilterError carrying every message. host: the inventory
    name of the host the plan is for (its place in each network's dhcp_nodes; a network it does not serve is
    planned as absent there); inventory: every inventory host name (dhcp_nodes are checked against it).
    """
    if networks is None:
        networks = []
    if isinstance(networks, (str, Mapping)) or not isinstance(networks, Sequence):
        raise AnsibleFilterError('dhcp_namespace_plan: dhcp_namespace_networks must be a list of networks')
    errors, out, ids, uplinks = [], [], {}, {}
    directory, problem = _state_dir(state_dir)
    if problem:
        errors.append(problem)
    for index, raw in enumerate(networks):
        item = _Network(index, raw, lease_time, dns, host=host,
                        inventory=None if inventory is None else [str(h) for h in inventory])
        result = item.check()
        if item.id is not None:
            if item.id in ids:
                item.fail('id %s is used twice (elements %d and %d)' % (item.id, ids[item.id], index))
            ids.setdefault(item.id, index)
        if result is not None and result.get('uplink'):
            if result['uplink'] in uplinks:
                item.fail('uplink %s is already the uplink of network %s'
                          % (result['uplink'], uplinks[result['uplink']]))
            uplinks.setdefault(result['uplink'], result['id'])
        errors.extend(item.errors)
        if result is not None and not item.errors:
            result['dir'] = posixpath.join(directory or DEFAULT_STATE_DIR, result['id'])
            out.append(result)
    if errors:
        if strict:
            raise AnsibleFilterError('dhcp_namespace_networks is invalid: %s' % '; '.join(errors))
        out = []
    return {'errors': errors, 'networks': out, 'state_dir': directory,
            'present': [n for n in out if n['state'] == 'present'],
            'absent_ids': [n['id'] for n in out if n['state'] == 'absent'],
            'ids': [n['id'] for n in out]}


def _agreed(net):
    """What the DHCP nodes of a network must declare alike, comparable."""
    out = dict((key, net.get(key)) for key in AGREE)
    out['hosts'] = sorted('%s %s' % (h.get('mac'), h.get('ip')) for h in net.get('hosts') or [])
    return out


def _declared(hostvars, node, net_id):
    """Network NET_ID as host NODE declares it: from the plan the role made there in this play (its
    __dhcp_namespace_plan), else from its dhcp_namespace_networks (inventory, extra vars). Returns (network,
    problem): (None, None) when it does not declare it."""
    try:
        hv = hostvars[node]
        plan = hv.get('__dhcp_namespace_plan') if hasattr(hv, 'get') else None
        raw = hv.get('dhcp_namespace_networks') if hasattr(hv, 'get') else None
    except (KeyError, TypeError):
        return None, None
    if not isinstance(plan, Mapping):
        if raw is None or isinstance(raw, (str, Mapping)) or not isinstance(raw, Sequence):
            return None, None
        plan = dhcp_namespace_plan(list(raw), host=node)
        if plan['errors']:
            return None, 'its dhcp_namespace_networks are invalid (%s)' % '; '.join(plan['errors'])
    for net in plan.get('networks') or []:
        if str(net.get('id')) == net_id and net.get('served', True) and net.get('state') == 'present':
            return net, None
    return None, None


def dhcp_namespace_nodes(plan, hostvars=None, host=None):
    """The problems of the networks this host serves with other DHCP nodes: every other host of a network's
    dhcp_nodes must declare it, with the same subnet, range, reservations, dhcp_nodes and server addresses
    (the shares and what every node serves follow from them). One message per problem, naming the network
    and the host; [] when they agree."""
    errors = []
    for net in (plan or {}).get('present') or []:
        mine = _agreed(net)
        for node in net.get('dhcp_nodes') or []:
            if node is None or node == host:
                continue
            other, problem = _declared(hostvars if hostvars is not None else {}, node, net['id'])
            if problem:
                errors.append('network %s: host %s (in dhcp_nodes): %s' % (net['id'], node, problem))
            elif other is None:
                errors.append('network %s: host %s is in dhcp_nodes but does not declare network %s (present, '
                              'with itself in dhcp_nodes)' % (net['id'], node, net['id']))
            else:
                theirs = _agreed(other)
                diffs = ['%s %s there, %s here' % (key, _show(theirs[key]), _show(mine[key]))
                         for key in AGREE if theirs[key] != mine[key]]
                if diffs:
                    errors.append('network %s: host %s (in dhcp_nodes) declares it differently: %s'
                                  % (net['id'], node, '; '.join(diffs)))
    return errors


def _show(value):
    if isinstance(value, (list, tuple)):
        return '[%s]' % ', '.join(str(v) for v in value)
    return str(value)


def _recorded(recorded):
    """The role's record (network id -> entry), each entry complete: names the role derives, uplink."""
    if recorded is not None and not isinstance(recorded, Mapping):
        raise AnsibleFilterError('dhcp_namespace_work: the record must map network ids to entries, not %s'
                                 % type(recorded).__name__)
    out = {}
    for key, entry in (recorded or {}).items():
        key = str(key)
        entry = dict(entry) if isinstance(entry, Mapping) else {}
        for name, prefix in (('bridge', 'brq'), ('netns', 'qdhcp-'), ('tap', 'tap'), ('ns_dev', 'ns-'),
                             ('daemon', 'dnsmasq-')):
            entry[name] = str(entry.get(name) or prefix + key)
        entry['uplink'] = str(entry.get('uplink') or '')
        out[key] = entry
    return out


def dhcp_namespace_work(plan, recorded=None, purge=False, bridge_mtus=None):
    """What a run of the role does on a host: the plan (dhcp_namespace_plan) against the role's record there.
    bridge_mtus ({device: MTU} of the networks' bridges and uplinks that exist on the host) gives each network's
    veth pair (tap<id>, ns-<id>) the MTU its bridge has - or will have once the uplink joins it, the smaller -
    when that is below 1500 (a segment's brq<id> at the VXLAN MTU is not joined by a 1500 port). Left to the
    kernel (1500) otherwise, so the first converge and the next declare the same.

    Returns {'record': the record to write before anything is made (the present networks' entries added;
    an entry whose uplink changes keeps the old one in 'release' until it is released), 'final': the
    record once the run is through (removed networks dropped, 'release' gone), 'remove': the recorded
    entries to remove (with 'id' and 'dir'), 'release': {id: [old uplinks]}, 'plumbing': the
    virtnet.linux.plumbing document (present networks made, removed ones deleted), 'write': whether the
    record to write differs from the one read, 'rewrite': whether the final record differs from it}.
    """
    recorded_raw, recorded = recorded, _recorded(recorded)
    listed = set(plan.get('ids') or [])
    absent = set(plan.get('absent_ids') or [])
    remove = sorted(i for i in recorded if i in absent or (purge and i not in listed))
    record = dict(recorded)
    release = {}
    for net in plan.get('present') or []:
        entry = dict(net['record'])
        old = recorded.get(net['id']) or {}
        olds = sorted(set(u for u in [old.get('uplink')] + list(old.get('release') or [])
                          if u and u != net['uplink']))
        if olds:
            entry['release'] = olds
            release[net['id']] = olds
        record[net['id']] = entry
    final = dict((i, dict((k, v) for k, v in e.items() if k != 'release'))
                 for i, e in record.items() if i not in remove)
    state_dir = plan.get('state_dir') or DEFAULT_STATE_DIR
    gone = [dict(recorded[i], id=i, dir=posixpath.join(state_dir, i)) for i in remove]
    present = plan.get('present') or []
    mtus = dict((str(k), int(v)) for k, v in (bridge_mtus or {}).items() if str(v).strip().isdigit())

    def veth(net):
        mtu = min([mtus[d] for d in (net['bridge'], net.get('uplink')) if d in mtus] or [1500])
        return dict(net['veth_spec'], mtu=mtu, peer_mtu=mtu) if mtu < 1500 else net['veth_spec']
    plumbing = {
        'namespaces': [{'name': n['netns']} for n in present] + [{'name': e['netns'], 'state': 'absent'} for e in gone],
        'bridges': [n['bridge_spec'] for n in present] + [{'name': e['bridge'], 'state': 'absent'} for e in gone],
        'veths': [veth(n) for n in present] + [{'name': e['tap'], 'state': 'absent'} for e in gone],
        'addresses': [n['address_spec'] for n in present],
    }
    raw = dict((str(k), v) for k, v in (recorded_raw or {}).items())
    return {'record': record, 'final': final, 'remove': gone, 'release': release, 'plumbing': plumbing,
            'write': record != raw, 'rewrite': final != record}


def _results(result, section):
    return [r for r in ((result or {}).get(section) or []) if isinstance(r, Mapping)]


def _creates(result):
    """Whether a plumbing element's result makes its object (or, in check mode, would): a 'create ...' action."""
    return any(str(a).startswith('create ') for a in result.get('actions') or [])


def dhcp_namespace_daemons(plan, work, contents, plumbing=None, settings=None):
    """The virtnet.linux.daemon batch: the dnsmasq of every present network with its directory and four
    files (dnsmasq.conf: restart; hosts, opts, addn_hosts: SIGHUP), and the removed networks' dnsmasq
    (state absent).

    contents: {id: {file name: text}} (the role's templates); plumbing: the plumbing task's result, whose
    veth results carry the ifindex of each ns-<id>; settings: binary, user (the user dnsmasq drops to and
    reads its files as), start_wait, check_mode (daemons of namespaces the plumbing task would make are
    left out: it reports them, and they cannot be read).
    """
    settings = dict(settings or {})
    binary = settings.get('binary') or '/usr/sbin/dnsmasq'
    check_mode = bool(settings.get('check_mode'))
    made = set(r.get('name') for r in _results(plumbing, 'namespaces') if _creates(r))
    ifindex = {}
    for res in _results(plumbing, 'veths'):
        link = res.get('link') or {}
        peer = link.get('peer_link') or {}
        if check_mode and _creates(res):
            continue            # a pair the task would make (again): its ns-<id> is not there yet
        if link.get('name') and peer.get('ifindex') is not None:
            ifindex[link['name']] = peer['ifindex']

    def common(name, directory):
        return {'name': name, 'argv': [binary, '--keep-in-foreground', '--conf-file=%s/dnsmasq.conf' % directory],
                'pidfile': directory + '/daemon.pid', 'log_file': directory + '/dnsmasq.log'}

    out = []
    for net in plan.get('present') or []:
        if check_mode and net['netns'] in made:
            continue
        texts = (contents or {}).get(net['id'])
        if not isinstance(texts, Mapping) or sorted(texts) != sorted(FILES):
            raise AnsibleFilterError('dhcp_namespace_daemons: no rendered files for network %s' % net['id'])
        daemon = common(net['daemon'], net['dir'])
        daemon.update({
            'netns': net['netns'], 'state': 'started',
            # what dnsmasq takes only at start and is in none of its files: the address it binds to, and
            # which ns-<id> it is bound to (see README: a veth pair rebuilt in its namespace)
            'restart_key': 'server %s on %s (ifindex %s)'
                           % (net['server_cidr'], net['ns_dev'], ifindex.get(net['tap'], 'unknown')),
            'read_as': settings.get('user') or 'nobody',
            'log_errors': list(LOG_ERRORS),
            'directories': [{'path': net['dir'], 'mode': '0755'}],
            'files': [{'path': '%s/%s' % (net['dir'], f), 'content': texts[f], 'mode': '0644', 'on_change': action}
                      for f, action in FILES.items()],
        })
        if settings.get('start_wait') is not None:
            daemon['start_wait'] = settings['start_wait']
        out.append(daemon)
    for entry in (work or {}).get('remove') or []:
        daemon = common(entry['daemon'], entry['dir'])
        daemon['state'] = 'absent'
        out.append(daemon)
    return out


def dhcp_namespace_releases(work, plumbing=None):
    """Bridge batch elements that release the old uplinks of networks (work['release']) still on their
    bridge, keeping every other port; from the ports the plumbing task's result shows."""
    ports = {}
    for res in _results(plumbing, 'bridges'):
        link = res.get('link') or {}
        if link.get('name'):
            ports[link['name']] = list(link.get('ports') or [])
    out = []
    for key, olds in sorted(((work or {}).get('release') or {}).items()):
        bridge = ((work.get('record') or {}).get(key) or {}).get('bridge') or 'brq' + key
        current = ports.get(bridge, [])
        if any(u in current for u in olds):
            out.append({'name': bridge, 'ports': [p for p in current if p not in olds], 'purge_ports': True})
    return out


class FilterModule:
    """The dhcp_namespace role's filters."""

    def filters(self):
        return {
            'dhcp_namespace_plan': dhcp_namespace_plan,
            'dhcp_namespace_work': dhcp_namespace_work,
            'dhcp_namespace_daemons': dhcp_namespace_daemons,
            'dhcp_namespace_releases': dhcp_namespace_releases,
            'dhcp_namespace_nodes': dhcp_namespace_nodes,
        }
