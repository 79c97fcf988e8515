# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Address arithmetic and validation for the dhcp_namespace role (documented in dhcp_namespace_plan.yml)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

ID_RE = re.compile(r'^[a-z0-9-]{1,11}$')
MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')
LABEL_RE = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', re.IGNORECASE)
LEASE_RE = re.compile(r'^(infinite|[0-9]+[smhdw]?)$')
IFNAME_RE = re.compile(r'^[^/:\s]{1,15}$')
KEYS = {'id', 'subnet', 'range_start', 'range_end', 'server_address', 'router', 'dns_servers', 'domain',
        'lease_time', 'hosts', 'uplink', 'state', 'dns', 'options'}
HOST_KEYS = {'mac', 'ip', 'name'}
LEASE_UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}


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

    def __init__(self, index, raw, default_lease, default_dns):
        self.raw = raw
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
        if raw.get('server_address') not in (None, ''):
            server = addr('server_address', raw['server_address'])
        else:
            server = first if first != router else first + 1
        if server is not None:
            if server == router:
                self.fail('server_address %s is the router\'s address (the DHCP namespace does not route)'
                          % server)
            if in_range(server):
                self.fail('server_address %s is inside the dynamic range %s - %s%s'
                          % (server, start, end,
                             '' if raw.get('server_address') else ' (set server_address to a free address)'))
        dns = raw.get('dns', self.default_dns)
        if not isinstance(dns, bool):
            self.fail('dns must be true or false, not %r' % (dns,))
            dns = True
        dns_servers = raw.get('dns_servers')
        if dns_servers is None:
            dns_servers = [str(server)] if dns and server is not None else []
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
        hosts = self._hosts(raw.get('hosts') or [], net, first, last, server, router)
        if self.errors:
            return None
        out.update({
            'subnet': str(net), 'prefix': net.prefixlen, 'netmask': str(net.netmask),
            'range_start': str(start), 'range_end': str(end),
            'server_address': str(server), 'server_cidr': '%s/%d' % (server, net.prefixlen),
            'router': str(router) if router is not None else '',
            'dns': dns, 'dns_servers': dns_servers, 'domain': domain, 'lease_time': lease,
            'uplink': uplink, 'hosts': hosts, 'options': [o.strip() for o in extra],
        })
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

    def _hosts(self, hosts, net, first, last, server, router):
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
            if ip == server:
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


def dhcp_namespace_plan(networks, lease_time='24h', dns=True):
    """Validate dhcp_namespace_networks; return {'errors': [...], 'networks': [normalised, ...]}.

    Every problem is collected (each naming its network), so one run shows them all.
    """
    if networks is None:
        networks = []
    if isinstance(networks, (str, Mapping)) or not isinstance(networks, Sequence):
        raise AnsibleFilterError('dhcp_namespace_plan: dhcp_namespace_networks must be a list of networks')
    errors, out, ids, uplinks = [], [], {}, {}
    for index, raw in enumerate(networks):
        item = _Network(index, raw, lease_time, dns)
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
            out.append(result)
    return {'errors': errors, 'networks': out if not errors else []}


def dhcp_namespace_dicts(values, key='name'):
    """['a', 'b'] -> [{key: 'a'}, {key: 'b'}] (batch elements from names)."""
    return [{key: v} for v in values]


def dhcp_namespace_releases(networks, recorded, bridge_results):
    """Bridge batch elements that release an uplink a network no longer has.

    networks: the planned present networks; recorded: the role's record (id -> entry);
    bridge_results: the results of the bridge batch task. The old uplink is released only if it is still a
    port of the network's bridge; every other port is kept.
    """
    ports = {}
    for res in (bridge_results or {}).get('results', []) or []:
        link = res.get('link') or {}
        ports[res.get('name')] = list(link.get('ports') or [])
    out = []
    for net in networks or []:
        old = ((recorded or {}).get(net['id']) or {}).get('uplink') or ''
        if old and old != net.get('uplink') and old in ports.get(net['bridge'], []):
            out.append({'name': net['bridge'], 'ports': [p for p in ports[net['bridge']] if p != old],
                        'purge_ports': True})
    return out


def dhcp_namespace_peer_ifindex(veth_result):
    """{local end name: ifindex of its peer} from a veth batch task's result."""
    out = {}
    for res in (veth_result or {}).get('results', []) or []:
        link = res.get('link') or {}
        peer = link.get('peer_link') or {}
        if link.get('name') and peer.get('ifindex') is not None:
            out[link['name']] = peer['ifindex']
    return out


def dhcp_namespace_changed(result, prefix):
    """Ids (names without prefix) of the elements a batch task changed (or would change)."""
    out = []
    for res in (result or {}).get('results', []) or []:
        name = str(res.get('name') or '').split('/', maxsplit=1)[0]
        if res.get('changed') and name.startswith(prefix):
            out.append(name[len(prefix):])
    return out


class FilterModule:
    """The dhcp_namespace role's filters."""

    def filters(self):
        return {
            'dhcp_namespace_plan': dhcp_namespace_plan,
            'dhcp_namespace_dicts': dhcp_namespace_dicts,
            'dhcp_namespace_releases': dhcp_namespace_releases,
            'dhcp_namespace_peer_ifindex': dhcp_namespace_peer_ifindex,
            'dhcp_namespace_changed': dhcp_namespace_changed,
        }
