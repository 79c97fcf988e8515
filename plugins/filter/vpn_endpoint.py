# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Validation and normalisation of the vpn_endpoint role's instances (documented in vpn_endpoint_plan.yml).

One instance at a time (_Instance: its own keys, then the server it belongs to, then its tunnel), against
the others of its host (_Host: names, devices, ports, subnets) and against the inventory (_Servers: a
client's server instance, from the server host's export or its inventory variables).
Each concern is one method, so that a new key (a type, forwarding, a client address, networks, export
names, certificate lifetimes) is one more method or one more check in the method it belongs to.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

NAME_RE = re.compile(r'[a-z0-9][a-z0-9-]{0,47}')
DEV_RE = re.compile(r'[^/:\s]{1,15}')
NETNS_RE = re.compile(r'[A-Za-z0-9_.@-]+')
NUMBER_RE = re.compile(r'[0-9]+')
OCTET_RE = re.compile(r'[0-9]{1,3}')
CN_UNSAFE_RE = re.compile(r'[^A-Za-z0-9_.-]')

ROLES = ('server', 'client')
STATES = ('present', 'absent')
DEV_TYPES = ('tun', 'tap')
PROTOS = ('udp', 'tcp')
TYPES = ('openvpn', 'wireguard')
# WireGuard (wireguard-go on a tun): its default port, and the OpenVPN keys that make no sense for it
WIREGUARD_PORT = 51820
OPENVPN_ONLY = ('data_ciphers', 'options', 'local', 'verb', 'bridge')
# What a server instance gets when it does not say (and a client takes from its server).
TRANSPORT_DEFAULTS = {'dev_type': 'tun', 'proto': 'udp', 'port': 1194}
KEYS = ('name', 'role', 'dev', 'dev_type', 'proto', 'port', 'subnet', 'push_routes', 'server', 'remote',
        'local', 'netns', 'bridge', 'keepalive', 'data_ciphers', 'verb', 'options', 'state',
        'forward', 'client_to_client', 'address', 'networks', 'export', 'type')
# Keys only a server instance takes, and keys only a client instance takes (routing, issue 25).
SERVER_ONLY = ('forward', 'client_to_client')
CLIENT_ONLY = ('address', 'networks')
# An export name: the profile's file name (NAME.ovpn, NAME.conf for WireGuard) and its certificate's CN
# (client-NAME; OpenVPN).
EXPORT_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,47}')
# The role's settings the plan needs (its variables; defaults as in defaults/main.yml and vars/main.yml).
SETTINGS = {
    'pki_dir': '/etc/virtnet/vpn/pki',
    'config_dir': '/etc/virtnet/vpn/instances',
    'keepalive': [10, 60],
    'data_ciphers': ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305'],
    'verb': 3,
    'daemon_prefix': 'vpn-',
    'server_cn': 'server',
    'cert_days': 825,
    'renew_days': 30,
}
# Keys of a server instance a client compares with its own (the client's default is the server's).
SHARED_WITH_SERVER = ('dev_type', 'proto', 'port')


def _json(value):
    """A value as the messages show it (JSON, like the to_json filter)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(str(value))


def _given(raw, key):
    """The instance's value of key, or None when it is left out, null or empty."""
    value = raw.get(key)
    if value is None or value == '' or (isinstance(value, (list, tuple)) and not value):
        return None
    return value


def _is_list(value):
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _listed(value):
    """A plain list copy of a list (what the role stores), anything else as it is."""
    return list(value) if _is_list(value) else value


def _dotted(n):
    return '.'.join(str((n >> shift) & 255) for shift in (24, 16, 8, 0))


def _cidr4(text, maxprefix):
    """(network as int, prefix length) of an IPv4 network in CIDR form; ValueError(why) otherwise."""
    parts = str(text).split('/')
    if len(parts) != 2 or not NUMBER_RE.fullmatch(parts[1]) or int(parts[1]) > maxprefix:
        raise ValueError('is not an IPv4 network in CIDR form with a prefix length of at most %d (like 10.8.0.0/24)'
                         % maxprefix)
    octets = parts[0].split('.')
    if len(octets) != 4 or not all(OCTET_RE.fullmatch(o) for o in octets) or max(int(o) for o in octets) > 255:
        raise ValueError('is not an IPv4 network in CIDR form (like 10.8.0.0/24)')
    n = 0
    for octet in octets:
        n = n * 256 + int(octet)
    prefix = int(parts[1])
    size = 2 ** (32 - prefix)
    if n % size:
        raise ValueError('is not a network address (host bits are set; did you mean %s/%d?)'
                         % (_dotted(n - n % size), prefix))
    return n, prefix


def _netmask(prefix):
    return _dotted(2 ** 32 - 2 ** (32 - prefix))


def _ip4(text):
    """An IPv4 address as int; ValueError otherwise."""
    octets = str(text).split('.')
    if len(octets) != 4 or not all(OCTET_RE.fullmatch(o) for o in octets) or max(int(o) for o in octets) > 255:
        raise ValueError('is not an IPv4 address (like 10.8.0.50)')
    n = 0
    for octet in octets:
        n = n * 256 + int(octet)
    return n


def _networks(given, what):
    """([{network, netmask, cidr, start, end}], errors) of a list of IPv4 networks in CIDR form."""
    if given is None:
        return [], []
    if not _is_list(given):
        return [], ['%s must be a list of IPv4 networks (like [10.30.0.0/24])' % what]
    out, errors = [], []
    for net in given:
        try:
            n, prefix = _cidr4(net, 32)
        except ValueError as e:
            errors.append('%s entry %s %s' % (what, net, e))
        else:
            out.append({'network': _dotted(n), 'netmask': _netmask(prefix), 'cidr': str(net),
                        'start': n, 'end': n + 2 ** (32 - prefix)})
    return out, errors


def _overlap(a, b):
    return a['start'] < b['end'] and b['start'] < a['end']


def _public(nets):
    """Networks as the plan keeps them (without the integer bounds)."""
    return [dict((k, v) for k, v in net.items() if k not in ('start', 'end')) for net in nets]


def _pool(first, last, taken):
    """(start, end) as ints of the longest run of addresses first..last without one in `taken` (the earliest
    of equal runs); None when every address is taken."""
    best, start = None, None
    for n in range(first, last + 2):
        if n <= last and n not in taken:
            if start is None:
                start = n
            continue
        if start is not None and (best is None or n - start > best[1] - best[0] + 1):
            best = (start, n - 1)
        start = None
    return best


def _settings(settings):
    """The role-wide values an instance falls back to (the role's variables), completed with SETTINGS."""
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('vpn_endpoint_plan: settings must be a mapping, not %s' % type(settings).__name__)
    unknown = sorted(str(k) for k in set(settings) - set(SETTINGS))
    if unknown:
        raise AnsibleFilterError('vpn_endpoint_plan: unknown setting(s) %s (known: %s)'
                                 % (', '.join(unknown), ', '.join(sorted(SETTINGS))))
    return dict(SETTINGS, **settings)


class _Host:
    """What the instances of one host must not share: names, devices, server ports, tunnel subnets."""

    def __init__(self):
        self.names = []
        self.devices = {}
        self.ports = {}
        self.subnets = []
        self.routed = []        # (instance, network, 'tunnel' or 'lan'): what present instances route (issue 25)
        self.wg_devices = {}    # WireGuard device: instance (one UAPI socket per device name on the host)


class _Servers:
    """The server instance a client belongs to: exported by its host's run of the role, or in the inventory.

    (A client on its server's own host cannot be: a client has its server instance's name, and names are
    unique on a host.)
    """

    def __init__(self, hostvars, settings):
        self.hostvars = hostvars
        self.settings = settings

    def known(self, server_host):
        return self.hostvars is not None and server_host in self.hostvars

    def hostvar(self, server_host, key):
        if self.hostvars is None or server_host not in self.hostvars:
            return None
        return self.hostvars[server_host].get(key)

    def find(self, server_host, name):
        """The normalised server instance NAME of server_host (a mapping), or None."""
        exported = self.hostvar(server_host, 'vpn_endpoint_servers')
        if isinstance(exported, Mapping) and isinstance(exported.get(name), Mapping):
            return exported[name]
        listed = self.hostvar(server_host, 'vpn_endpoint_instances')
        if not _is_list(listed):
            return None
        for raw in listed:
            if isinstance(raw, Mapping) and str(raw.get('name')) == name and raw.get('role') == 'server':
                if (raw.get('state') or 'present') != 'present':
                    return None
                theirs = dict(self.settings, pki_dir=self.hostvar(server_host, 'vpn_endpoint_pki_dir')
                              or self.settings['pki_dir'])
                return _Instance(0, raw, server_host, theirs).plan(_Host(), None)
        return None

    def address(self, server_host):
        """Where a client reaches server_host by default: its ansible_host, else its name."""
        return self.hostvar(server_host, 'ansible_host') or server_host

    def clients(self, server_host, name):
        """[(client host, its raw instance)] of the present client instances NAME of the inventory whose
        server is server_host, in inventory order (hostvars holds every host, also under --limit)."""
        out = []
        if self.hostvars is None:
            return out
        for host in self.hostvars:
            listed = self.hostvars[host].get('vpn_endpoint_instances')
            if not _is_list(listed):
                continue
            for raw in listed:
                if isinstance(raw, Mapping) and raw.get('role') == 'client' and str(raw.get('name')) == name \
                        and str(raw.get('server') or '') == server_host and (raw.get('state') or 'present') == 'present':
                    out.append((str(host), raw))
        return out


class _Instance:
    """One element of vpn_endpoint_instances on one host."""

    def __init__(self, index, raw, host, settings):
        self.raw = raw if isinstance(raw, Mapping) else {}
        self.host = host
        self.settings = settings
        self.errors = []
        self.routing_errors = []    # a client's: its server's host refuses them too (issue 25)
        self.name = str(self.raw.get('name', ''))
        self.role = str(self.raw.get('role', ''))
        self.state = self.raw.get('state') or 'present'
        self.where = 'vpn_endpoint_instances[%s] (%s on %s)' % (self.name or index, self.role, host)
        if not isinstance(raw, Mapping):
            self.fail('must be a mapping, not %s' % type(raw).__name__)

    def fail(self, text, routing=False):
        self.errors.append('%s: %s' % (self.where, text))
        if routing:
            self.routing_errors.append(self.errors[-1])

    def fail_routing(self, text):
        self.fail(text, routing=True)

    @property
    def present(self):
        return self.state == 'present'

    def plan(self, host, servers):
        """The normalised instance (errors in self.errors); host collects what instances may not share."""
        if self.errors:
            return None
        self.check_keys()
        self.identity(host)
        dev, netns, bridge = self.device()
        server_host, srv = self.server(servers)
        transport = self.transport(srv, server_host)
        if bridge and transport['dev_type'] != 'tap':
            self.fail('bridge %s needs dev_type tap (a tun device cannot be a bridge port)' % _json(bridge))
        subnet, net = self.tunnel(host, srv, server_host)
        routes = self.routes()
        if self.present:
            self.unique(host, dev, netns, transport)
        out = dict(net)
        out.update(name=self.name, role=self.role, state=self.state, dev=dev, dev_type=transport['dev_type'],
                   proto=transport['proto'], port=transport['port'], subnet=subnet, push_routes=routes,
                   server=server_host, remote=self.remote(servers, server_host), netns=netns, bridge=bridge,
                   local=_given(self.raw, 'local') or '')
        out.update(self.daemon_settings())
        out.update(self.files(srv, server_host))
        out.update(self.routing(host, servers, srv, server_host, net, transport))
        out['export'] = self.exports()
        out['type'] = transport['type']
        if transport['type'] == 'wireguard':
            self.wireguard(out, host)
        return out

    def wireguard(self, out, host):
        """What a WireGuard instance may not have (OpenVPN's options), its device unique on the host (the UAPI
        socket /var/run/wireguard/DEV.sock is the host's, not the namespace's), no ccd files."""
        for key in OPENVPN_ONLY:
            if _given(self.raw, key) is not None:
                self.fail('%s is an OpenVPN option (type wireguard)' % key)
        out['ccd'] = False
        out['export_peers'] = self.wireguard_exports(out)
        if self.present:
            other = host.wg_devices.get(out['dev'])
            if other is not None:
                self.fail('WireGuard device %s is also used by instance %s on this host (its UAPI socket '
                          '/var/run/wireguard/%s.sock is one per host, whatever the namespace)' % (out['dev'], other, out['dev']))
            host.wg_devices[out['dev']] = self.name

    def wireguard_exports(self, out):
        """A WireGuard server's export names as peers: [{name, tunnel_address}], each address derived from the
        name as a client's from its host name (never moved by another name or client); one that meets a
        client's or another export name's is refused, naming both."""
        peers = []
        if self.role != 'server' or not out.get('network'):
            return peers
        taken = dict((c['tunnel_address'], 'client %s on %s' % (self.name, c['host']))
                     for c in out.get('clients') or [] if c.get('tunnel_address'))
        for name in out.get('export') or []:
            address = wireguard_address(name, out)
            if address in taken:
                self.fail('export name %s: its tunnel address %s (derived from the name) is also the address of %s '
                          '(choose another name, or give that client address)' % (_json(name), address, taken[address]))
            taken[address] = 'export name %s' % _json(name)
            peers.append({'name': name, 'tunnel_address': address})
        return peers

    def exports(self):
        """A server's export names (clients outside the inventory: one profile and certificate each)."""
        given = self.raw.get('export')
        if given is None or given == []:
            return []
        if self.role != 'server':
            self.fail('export belongs to a server instance (the profiles of clients outside the inventory)')
            return []
        if not _is_list(given):
            self.fail('export must be a list of names (like [laptop1])')
            return []
        out = []
        for name in given:
            if not isinstance(name, str) or not EXPORT_RE.fullmatch(name):
                self.fail('export name %s must be 1 to 48 of [A-Za-z0-9_.-], starting with a letter or digit'
                          % _json(name))
            elif name in out:
                self.fail('export name %s is listed twice' % _json(name))
            else:
                out.append(name)
        return out

    def check_keys(self):
        unknown = sorted(str(k) for k in set(self.raw) - set(KEYS))
        if unknown:
            self.fail('unknown key(s) %s (known: %s)' % (', '.join(unknown), ', '.join(sorted(KEYS))))

    def identity(self, host):
        if not NAME_RE.fullmatch(self.name):
            self.fail('name %s must be 1 to 48 of [a-z0-9-], starting with a letter or digit' % _json(self.name))
        elif self.name in host.names:
            self.fail('name is used twice on this host')
        host.names.append(self.name)
        if self.role not in ROLES:
            self.fail('role must be server or client, not %s' % _json(self.role))
        if self.state not in STATES:
            self.fail('state must be present or absent, not %s' % _json(self.state))

    def device(self):
        """(device, namespace, bridge)."""
        given = _given(self.raw, 'dev')
        dev = str(given) if given is not None else 'vpn-' + self.name
        if not DEV_RE.fullmatch(dev):
            self.fail('device name %s must be 1 to 15 characters without /, : or white space%s'
                      % (_json(dev), '' if given is not None else ' (the default vpn-NAME is too long: set dev)'))
        netns = str(_given(self.raw, 'netns') or '')
        if netns and (not NETNS_RE.fullmatch(netns) or netns in ('.', '..')):
            self.fail('netns %s is not a valid namespace name' % _json(netns))
        return dev, netns, str(_given(self.raw, 'bridge') or '')

    def server(self, servers):
        """(server host, its server instance of this name or {}) - a present client's, else ('...', {})."""
        server_host = str(_given(self.raw, 'server') or '')
        if self.role != 'client' or not self.present:
            return server_host, {}
        if not server_host:
            self.fail("a client needs server (the inventory hostname of the server instance's host)")
            return server_host, {}
        if servers is None or not servers.known(server_host):
            self.fail('server %s is not a host of the inventory' % _json(server_host))
            return server_host, {}
        srv = servers.find(server_host, self.name)
        if not srv:
            self.fail('server %s has no server instance named %s (in its vpn_endpoint_instances, or exported by '
                      'an earlier run of the role there)' % (_json(server_host), _json(self.name)))
            return server_host, {}
        return server_host, srv

    def transport(self, srv, server_host):
        """dev_type, proto and port: the instance's own, else its server's, else the defaults."""
        out = {'type': _given(self.raw, 'type') or srv.get('type') or 'openvpn'}
        if out['type'] not in TYPES:
            self.fail('type must be openvpn or wireguard, not %s' % _json(out['type']))
        elif srv and srv.get('type', 'openvpn') != out['type']:
            theirs = srv.get('type', 'openvpn')
            self.fail("type %s differs from the server instance's %s on %s" % (out['type'], theirs, server_host))
        defaults = dict(TRANSPORT_DEFAULTS, port=WIREGUARD_PORT) if out['type'] == 'wireguard' else TRANSPORT_DEFAULTS
        for key in SHARED_WITH_SERVER:
            value = _given(self.raw, key)
            out[key] = value if value is not None else srv.get(key, defaults[key])
        if out['type'] == 'wireguard':
            if out['proto'] != 'udp':
                self.fail('proto %s: WireGuard runs over UDP only (type wireguard)' % out['proto'])
            if out['dev_type'] != 'tun':
                self.fail('dev_type %s: a WireGuard instance is a tun device (type wireguard)' % out['dev_type'])
        if out['dev_type'] not in DEV_TYPES:
            self.fail('dev_type must be tun or tap, not %s' % _json(out['dev_type']))
        if out['proto'] not in PROTOS:
            self.fail('proto must be udp or tcp, not %s' % _json(out['proto']))
        try:
            out['port'] = int(out['port'])
        except (TypeError, ValueError):
            self.fail('port %s is not in 1..65535' % _json(out['port']))
            out['port'] = 0
        else:
            if not 1 <= out['port'] <= 65535:
                self.fail('port %d is not in 1..65535' % out['port'])
        if srv:
            for key in SHARED_WITH_SERVER:
                theirs = srv.get(key)
                if key == 'port' and NUMBER_RE.fullmatch(str(theirs)):
                    theirs = int(theirs)
                if out[key] != theirs:
                    self.fail("%s %s differs from the server instance's %s on %s" % (key, out[key], theirs, server_host))
        return out

    def tunnel(self, host, srv, server_host):
        """(subnet, its addresses): a server's own subnet, a client's from its server."""
        if self.role == 'server':
            subnet = str(_given(self.raw, 'subnet') or '')
        else:
            subnet = str(srv.get('subnet') or '')
            mine = _given(self.raw, 'subnet')
            if self.role == 'client' and mine is not None and srv and str(mine) != subnet:
                self.fail("subnet %s differs from the server instance's %s on %s (a client takes its server's; "
                          "leave it out)" % (mine, subnet, server_host))
        if self.present and self.role == 'server' and not subnet:
            self.fail('a server needs subnet (its tunnel network, like 10.8.0.0/24)')
            return subnet, {}
        if not subnet:
            return subnet, {}
        try:
            n, prefix = _cidr4(subnet, 29)
        except ValueError as e:
            if self.present:
                self.fail('subnet %s %s' % (subnet, e))
            return subnet, {}
        size = 2 ** (32 - prefix)
        net = {'network': _dotted(n), 'prefix': prefix, 'netmask': _netmask(prefix), 'address': _dotted(n + 1),
               'pool_start': _dotted(n + 2), 'pool_end': _dotted(n + size - 2)}
        if self.present:
            for other_name, other_subnet, start, end in host.subnets:
                if n < end and start < n + size:
                    self.fail('subnet %s overlaps subnet %s of instance %s on this host'
                              % (subnet, other_subnet, other_name))
            host.subnets.append((self.name, subnet, n, n + size))
        return subnet, net

    def routes(self):
        """A present server's push_routes as [{network, netmask, cidr}]."""
        given = self.raw.get('push_routes')
        if self.role == 'client' and given:
            self.fail('push_routes belong to the server instance (clients get them pushed)')
        if self.role != 'server' or not self.present or not given:
            return []
        if not _is_list(given):
            self.fail('push_routes must be a list of IPv4 networks (like [10.20.0.0/24])')
            return []
        out = []
        for route in given:
            try:
                n, prefix = _cidr4(route, 32)
            except ValueError as e:
                self.fail('push_routes entry %s %s' % (route, e))
            else:
                out.append({'network': _dotted(n), 'netmask': _netmask(prefix), 'cidr': str(route)})
        return out

    def unique(self, host, dev, netns, transport):
        """A present instance's device, and a server's port, are its own on this host (per namespace)."""
        in_netns = ' in netns ' + netns if netns else ''
        key = (netns, dev)
        if key in host.devices:
            self.fail('device %s%s is also used by instance %s' % (dev, in_netns, host.devices[key]))
        host.devices[key] = self.name
        if self.role == 'server':
            key = (netns, transport['proto'], transport['port'])
            if key in host.ports:
                self.fail('%s port %s%s is also used by instance %s'
                          % (transport['proto'], transport['port'], in_netns, host.ports[key]))
            host.ports[key] = self.name

    # ------------------------------------------------------------------ routing (issue 25)

    def flag(self, key, default):
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail('%s must be true or false, not %s' % (key, _json(value)))
            return default
        return value

    def routing(self, host, servers, srv, server_host, net, transport):
        """forward, client_to_client, a client's fixed address and networks; a server's clients (from the
        inventory: their ccd files, routes and pushes) and its dynamic pool."""
        for key in (CLIENT_ONLY if self.role == 'server' else SERVER_ONLY if self.role == 'client' else ()):
            if _given(self.raw, key) is not None:
                self.fail('%s belongs to the %s instance' % (key, 'client' if self.role == 'server' else 'server'),
                          routing=True)
        if self.role == 'client':
            return self.client_routing(host, servers, srv, server_host, net, transport)
        out = {'forward': self.flag('forward', True), 'client_to_client': self.flag('client_to_client', False),
               'clients': [], 'client_networks': [], 'ccd': False}
        if self.role != 'server' or not self.present or not net:
            return out
        self.route(host, _networks(self.raw.get('push_routes') or [], 'push_routes')[0], 'lan')
        if servers is None:
            return out
        clients = []
        for client_host, raw in servers.clients(self.host, self.name):
            # a client's routing problems are refused here too (this host's play runs first); the others only
            # on the client's host, as before
            theirs = _Instance(0, raw, client_host, self.settings)
            planned = theirs.plan(_Host(), servers)
            self.errors.extend(e for e in theirs.routing_errors if e not in self.errors)
            if planned is not None:
                clients.append(planned)
        for c in clients:
            self.route(host, _networks([n['cidr'] for n in c['networks']], 'networks')[0], 'tunnel',
                       ' (behind client %s on %s)' % (c['name'], c['host']))
        nets = [n for c in clients for n in c['networks']]
        fixed = [c for c in clients if c['fixed_address']]
        out.update(clients=[dict({'host': c['host'], 'cn': c['cn'], 'address': c['fixed_address'],
                                  'networks': c['networks']}, **({'tunnel_address': c['tunnel_address']}
                                                                 if 'tunnel_address' in c else {}))
                            for c in clients],
                   client_networks=nets, ccd=bool(fixed or nets))
        if fixed:
            # the dynamic pool: the longest run of the subnet's client addresses without a fixed one
            base = _ip4(net['network'])
            last = _ip4(net['pool_end']) if self.raw.get('bridge') else base + 2 ** (32 - net['prefix']) - 2
            pool = _pool(_ip4(net['pool_start']), last, set(_ip4(c['fixed_address']) for c in fixed))
            if pool is None:
                self.fail('the fixed client addresses leave no address of subnet %s for the dynamic pool'
                          % self.raw.get('subnet'))
            else:
                out.update(pool_start=_dotted(pool[0]), pool_end=_dotted(pool[1]))
        return out

    def route(self, host, nets, how, why=''):
        """Record what this present instance routes on its host: networks `how` 'tunnel' (routed into its
        tunnel) or 'lan' (behind it: a server's push_routes, a client's networks). Two instances may not route
        one network where one of them routes it into a tunnel (a LAN reached through two VPNs is fine)."""
        for n in nets:
            for other_name, other, other_how in host.routed:
                if other_name != self.name and _overlap(n, other) and 'tunnel' in (how, other_how):
                    self.fail('network %s%s is also routed by instance %s on this host (%s%s)'
                              % (n['cidr'], why, other_name, other['cidr'],
                                 ' into its tunnel' if other_how == 'tunnel' else ', behind it'))
            host.routed.append((self.name, n, how))

    def client_routing(self, host, servers, srv, server_host, net, transport):
        """A client's fixed address (inside its server's subnet, not the network, server or broadcast
        address, no other client's) and the networks behind it (not overlapping the tunnel subnet or another
        client's networks; a tun instance only)."""
        out = {'fixed_address': '', 'networks': [], 'forward': False, 'host': self.host}
        given = _given(self.raw, 'address')
        if given is not None:
            try:
                n = _ip4(given)
            except ValueError as e:
                self.fail_routing('address %s %s' % (_json(given), e))
            else:
                out['fixed_address'] = _dotted(n)
                if net:
                    base, size = _ip4(net['network']), 2 ** (32 - net['prefix'])
                    if not base <= n < base + size:
                        self.fail_routing('address %s is outside the subnet %s of its server instance on %s'
                                          % (given, srv.get('subnet'), server_host))
                    elif n in (base, base + size - 1):
                        self.fail_routing('address %s is the %s address of subnet %s'
                                          % (given, 'network' if n == base else 'broadcast', srv.get('subnet')))
                    elif n == base + 1:
                        self.fail_routing("address %s is the server's tunnel address" % given)
        nets, errors = _networks(self.raw.get('networks'), 'networks')
        for e in errors:
            self.fail_routing(e)
        if nets and transport.get('dev_type') == 'tap':
            self.fail_routing('networks need a tun instance (a tap client is a bridge port: route behind it on the bridge)')
        if net:
            base = _ip4(net['network'])
            tunnel = {'start': base, 'end': base + 2 ** (32 - net['prefix'])}
            for n in nets:
                if _overlap(n, tunnel):
                    self.fail_routing('networks entry %s overlaps the tunnel subnet %s' % (n['cidr'], srv.get('subnet')))
        for n in nets:
            for r in _networks([r['cidr'] for r in srv.get('push_routes') or []], 'push_routes')[0]:
                if _overlap(n, r):
                    self.fail_routing('networks entry %s overlaps %s, which its server instance on %s pushes '
                                      '(push_routes)' % (n['cidr'], r['cidr'], server_host))
        out.update(networks=_public(nets), forward=bool(nets))
        wireguard = transport.get('type') == 'wireguard'
        if wireguard and net:
            out['tunnel_address'] = out['fixed_address'] or wireguard_address(self.host, net)
            # what a spoke routes to its hub: the networks its server pushes, then those behind the other clients
            out['peer_networks'] = [dict(r) for r in srv.get('push_routes') or []]
            out['client_to_client'] = bool(srv.get('client_to_client'))
        if not (self.present and srv and servers is not None):
            return out
        # the other clients of the server: no address twice, no network twice; what this client routes on
        # its host - its networks, and what its server pushes to it (push_routes, the other clients' networks)
        self.route(host, nets, 'lan')
        self.route(host, _networks([r['cidr'] for r in srv.get('push_routes') or []], 'push_routes')[0], 'tunnel',
                   ' (pushed by %s)' % server_host)
        for other_host, raw in servers.clients(server_host, self.name):
            if other_host == self.host:
                continue
            who = 'client %s on %s' % (self.name, other_host)
            if out['fixed_address'] and str(_given(raw, 'address') or '') == out['fixed_address']:
                self.fail_routing('address %s is also the address of %s' % (out['fixed_address'], who))
            elif wireguard and net and out['tunnel_address'] == \
                    (str(_given(raw, 'address') or '') or wireguard_address(other_host, net)):
                self.fail_routing('tunnel address %s is also the address of %s (an address not given is derived from '
                                  'the host name: give one of them address)' % (out['tunnel_address'], who))
            theirs = _networks(raw.get('networks'), 'networks')[0]
            for n in nets:
                for t in theirs:
                    if _overlap(n, t):
                        self.fail_routing('networks entry %s overlaps network %s behind %s' % (n['cidr'], t['cidr'], who))
            self.route(host, theirs, 'tunnel', ' (behind %s, pushed by %s)' % (who, server_host))
            if wireguard:
                out['peer_networks'].extend(_public(theirs))
        return out

    def own(self, key, default):
        """The instance's value of key, else default (the role's)."""
        value = _given(self.raw, key)
        return default if value is None else value

    def daemon_settings(self):
        """keepalive, data_ciphers, options and verb: the instance's own, else the role's."""
        keepalive = self.own('keepalive', self.settings['keepalive'])
        if not _is_list(keepalive) or len(keepalive) != 2 or not all(NUMBER_RE.fullmatch(str(v)) for v in keepalive):
            self.fail('keepalive must be two numbers [interval, timeout]')
        ciphers = self.own('data_ciphers', self.settings['data_ciphers'])
        if not _is_list(ciphers) or not all(isinstance(c, str) and c and ':' not in c for c in ciphers):
            self.fail('data_ciphers must be a list of cipher names (like [AES-256-GCM])')
        options = self.own('options', [])
        if not _is_list(options) or not all(isinstance(o, str) and '\n' not in o for o in options):
            self.fail('options must be a list of OpenVPN configuration lines')
        verb = self.own('verb', self.settings['verb'])
        if not NUMBER_RE.fullmatch(str(verb)):
            self.fail('verb must be a number (0 to 11), not %s' % _json(verb))
        return {'keepalive': _listed(keepalive), 'data_ciphers': _listed(ciphers), 'options': _listed(options),
                'verb': verb}

    def remote(self, servers, server_host):
        """Where a client connects to: remote, else the server host's ansible_host, else its name."""
        given = _given(self.raw, 'remote')
        if given is not None:
            return str(given)
        if servers is not None and servers.known(server_host):
            return str(servers.address(server_host))
        return server_host

    def files(self, srv, server_host):
        """Daemon, configuration and the key material: where it is made (keyhost, pki) and where it goes."""
        conf_dir = '%s/%s' % (self.settings['config_dir'], self.name)
        pki = '%s/%s' % (self.settings['pki_dir'], self.name) if self.role == 'server' else str(srv.get('pki', ''))
        cn = _client_cn(self.host) if self.role == 'client' else self.settings['server_cn']
        return {
            'daemon': self.settings['daemon_prefix'] + self.name, 'conf_dir': conf_dir,
            'conf': '%s/%s.conf' % (conf_dir, self.name), 'pki': pki,
            'keyhost': server_host if self.role == 'client' else self.host,
            'keyfiles': [{'file': 'ca.crt', 'src': pki + '/ca.crt'},
                         {'file': 'cert.crt', 'src': '%s/issued/%s.crt' % (pki, cn)},
                         {'file': 'key.key', 'src': '%s/private/%s.key' % (pki, cn)},
                         {'file': 'tc.key', 'src': pki + '/tc.key'}],
            'cn': cn,
        }


def _instances(instances):
    if instances is None:
        return []
    if isinstance(instances, (str, bytes, Mapping)) or not isinstance(instances, Sequence):
        raise AnsibleFilterError('vpn_endpoint_plan: vpn_endpoint_instances must be a list of instances, not %s'
                                 % type(instances).__name__)
    return list(instances)


def _own_servers(instances, host, settings):
    """This host's present server instances by name, normalised (what its export holds)."""
    out = {}
    scratch = _Host()
    for index, raw in enumerate(instances):
        item = _Instance(index, raw, host, settings)
        if item.role == 'server' and item.present:
            result = item.plan(scratch, None)
            if result is not None:
                out.setdefault(item.name, result)
    return out


def wireguard_address(host, net):
    """The tunnel address of a WireGuard client on inventory host `host` that gives none: derived from the host
    name alone (SHA-256, modulo the subnet's client addresses: network + 2 to broadcast - 1), so that adding or
    removing another client never moves it; two clients that meet on one address are refused, naming both."""
    base, size = _ip4(net['network']), 2 ** (32 - net['prefix'])
    return _dotted(base + 2 + int(hashlib.sha256(str(host).encode('utf-8')).hexdigest(), 16) % (size - 3))


def _client_cn(host):
    """The certificate name of the client instances of inventory host `host` (and of an export name)."""
    return 'client-' + CN_UNSAFE_RE.sub('_', str(host))


def _inventory_clients(hostvars, host):
    """({(instance name, CN): client host} of every present client instance of the inventory whose server is
    `host` (an instance that is not a server and not absent), [errors]): what the inventory - the hostvars
    of every host, --limit or not - claims of this host's PKIs. A host whose instances cannot be read is an
    error (its certificate must not be revoked)."""
    claims, errors = {}, []
    if hostvars is None:
        return claims, errors
    for other in sorted(str(h) for h in hostvars):
        try:
            listed = hostvars[other].get('vpn_endpoint_instances')
        except Exception as e:  # pylint: disable=broad-exception-caught
            errors.append('cannot read vpn_endpoint_instances of host %s (needed to know which client certificates '
                          'of %s are still claimed): %s' % (other, host, e))
            continue
        if listed is None:
            continue
        if not _is_list(listed):
            # an undefined or broken value (a marker of a failed template) is no answer: nothing is revoked
            errors.append('cannot read vpn_endpoint_instances of host %s (needed to know which client certificates '
                          'of %s are still claimed): not a list but %s' % (other, host, type(listed).__name__))
            continue
        for raw in listed:
            # conservative: whatever is not plainly a server or absent claims (an instance with a role its
            # own host's run refuses is not a reason to revoke)
            if isinstance(raw, Mapping) and raw.get('role') != 'server' and str(raw.get('server') or '') == host \
                    and (raw.get('state') or 'present') != 'absent':
                claims[(str(raw.get('name', '')), _client_cn(other))] = other
    return claims, errors


def _days(value):
    """A number of days given as a number or its digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and NUMBER_RE.fullmatch(value) else None


def _days_errors(host, settings):
    """renew_days must be below cert_days (else every converge would re-issue what it issued)."""
    cert_days, renew_days = _days(settings['cert_days']), _days(settings['renew_days'])
    if cert_days is None or renew_days is None or not 1 <= cert_days <= 36500 or not 0 <= renew_days < cert_days:
        return ['vpn_endpoint_renew_days (%s) must be a number of days below vpn_endpoint_cert_days (%s, 1 to 36500) '
                'on %s: a certificate is re-issued when it ends within renew_days'
                % (_json(settings['renew_days']), _json(settings['cert_days']), host)]
    return []


def _lifecycle(out, host, hostvars):
    """({server instance name: the CNs of its inventory clients}, [errors]) of this host's present server
    instances: the errors are an export name whose certificate would be an inventory client's, and a host
    whose instances cannot be read."""
    errors, claimed = [], {}
    # the certificates of OpenVPN servers (a WireGuard export name has a key pair, no certificate)
    servers = [i for i in out if i['role'] == 'server' and i['state'] == 'present' and i.get('type') != 'wireguard']
    if not servers:
        return claimed, errors
    claims, errs = _inventory_clients(hostvars, host)
    errors.extend(errs)
    for inst in servers:
        mine = dict((cn, other) for (name, cn), other in claims.items() if name == inst['name'])
        claimed[inst['name']] = sorted(mine)
        for name in inst['export']:
            cn = _client_cn(name)
            if cn in mine:
                errors.append('vpn_endpoint_instances[%s] (server on %s): export name %s collides with the client '
                              'instance %s on inventory host %s (both would be certificate %s)'
                              % (inst['name'], host, _json(name), inst['name'], mine[cn], cn))
    return claimed, errors


def _plan(instances, host, hostvars, settings):
    """(errors, normalised instances) of one host's vpn_endpoint_instances."""
    instances = _instances(instances)
    settings = _settings(settings)
    host = str(host)
    servers = _Servers(hostvars, settings)
    registry = _Host()
    errors, out = [], []
    for index, raw in enumerate(instances):
        item = _Instance(index, raw, host, settings)
        result = item.plan(registry, servers)
        errors.extend(item.errors)
        if result is not None:
            out.append(result)
    errors.extend(_days_errors(host, settings))
    claimed = {}
    if not errors:
        claimed, errs = _lifecycle(out, host, hostvars)
        errors.extend(errs)
    return errors, out, claimed


def vpn_endpoint_plan(instances, host, hostvars=None, settings=None, strict=True):
    """Check one host's vpn_endpoint_instances and complete them.

    Returns {errors, instances, present, absent, servers, clients, claimed}; claimed: per present server
    instance, the certificate names of the present client instances of the whole inventory (hostvars) that
    belong to it - what its PKI keeps; every other client certificate it issued (and no export name claims)
    is revoked. With strict (the default) any problem raises one AnsibleFilterError carrying every message
    (each naming its instance and host), so a set_fact task fails with all of them.
    """
    errors, out, claimed = _plan(instances, host, hostvars, settings)
    if errors and strict:
        raise AnsibleFilterError('; '.join(errors))
    present = [i for i in out if i['state'] == 'present']
    return {
        'errors': errors,
        'instances': out,
        'present': present,
        'absent': [i for i in out if i['state'] == 'absent'],
        'servers': [i for i in present if i['role'] == 'server'],
        'clients': [i for i in present if i['role'] == 'client'],
        'claimed': claimed,
    }


def vpn_endpoint_servers(instances, host, settings=None):
    """This host's present server instances by name, normalised: what its clients' hosts read (never fails)."""
    return _own_servers(_instances(instances), str(host), _settings(settings))


class FilterModule:
    """The vpn_endpoint role's filters."""

    def filters(self):
        return {
            'vpn_endpoint_plan': vpn_endpoint_plan,
            'vpn_endpoint_servers': vpn_endpoint_servers,
        }
