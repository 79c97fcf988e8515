# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the vpn_endpoint role's filters: every check, every message, every normalised key.

The expected instances below are what the role's former Jinja template (normalize.json.j2) rendered for the
same input, key order included: the role hashes them into the daemons' restart keys, so a change here would
restart every tunnel of a fleet on its next converge.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.virtnet.linux.plugins.filter.vpn_endpoint import (
    SETTINGS,
    FilterModule,
    vpn_endpoint_plan,
    vpn_endpoint_servers,
)

ROLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'vpn_endpoint')
CIPHERS = ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305']

SITE = {'name': 'site', 'role': 'server', 'subnet': '10.8.0.0/24', 'push_routes': ['10.20.0.0/24']}
ALT = {'name': 'alt', 'role': 'server', 'port': 1195, 'subnet': '10.9.0.0/24', 'dev': 'tun-alt'}
LAN = {'name': 'lan', 'role': 'server', 'dev_type': 'tap', 'proto': 'tcp', 'port': 1196, 'subnet': '10.10.0.0/24',
       'bridge': 'br-vpn'}


def keyfiles(pki, cn):
    return [{'file': 'ca.crt', 'src': pki + '/ca.crt'}, {'file': 'cert.crt', 'src': '%s/issued/%s.crt' % (pki, cn)},
            {'file': 'key.key', 'src': '%s/private/%s.key' % (pki, cn)}, {'file': 'tc.key', 'src': pki + '/tc.key'}]


LAN_PLANNED = {
    'network': '10.10.0.0', 'prefix': 24, 'netmask': '255.255.255.0', 'address': '10.10.0.1',
    'pool_start': '10.10.0.2', 'pool_end': '10.10.0.254', 'name': 'lan', 'role': 'server', 'state': 'present',
    'dev': 'vpn-lan', 'dev_type': 'tap', 'proto': 'tcp', 'port': 1196, 'subnet': '10.10.0.0/24', 'push_routes': [],
    'server': '', 'remote': '', 'netns': '', 'bridge': 'br-vpn', 'local': '', 'keepalive': [10, 60],
    'data_ciphers': CIPHERS, 'options': [], 'verb': 3, 'daemon': 'vpn-lan',
    'conf_dir': '/etc/virtnet/vpn/instances/lan', 'conf': '/etc/virtnet/vpn/instances/lan/lan.conf',
    'pki': '/etc/virtnet/vpn/pki/lan', 'keyhost': 'vpn1', 'keyfiles': keyfiles('/etc/virtnet/vpn/pki/lan', 'server'),
    'cn': 'server', 'forward': True, 'client_to_client': False, 'clients': [], 'client_networks': [], 'ccd': False,
    'export': [], 'type': 'openvpn',
}
CLIENT_PLANNED = {
    'network': '10.8.0.0', 'prefix': 24, 'netmask': '255.255.255.0', 'address': '10.8.0.1',
    'pool_start': '10.8.0.2', 'pool_end': '10.8.0.254', 'name': 'site', 'role': 'client', 'state': 'present',
    'dev': 'vpn-site', 'dev_type': 'tun', 'proto': 'udp', 'port': 1194, 'subnet': '10.8.0.0/24', 'push_routes': [],
    'server': 'vpn1', 'remote': '10.88.0.11', 'netns': '', 'bridge': '', 'local': '', 'keepalive': [10, 60],
    'data_ciphers': CIPHERS, 'options': [], 'verb': 3, 'daemon': 'vpn-site',
    'conf_dir': '/etc/virtnet/vpn/instances/site', 'conf': '/etc/virtnet/vpn/instances/site/site.conf',
    'pki': '/etc/virtnet/vpn/pki/site', 'keyhost': 'vpn1',
    'keyfiles': keyfiles('/etc/virtnet/vpn/pki/site', 'client-vpn2'), 'cn': 'client-vpn2',
    'fixed_address': '', 'networks': [], 'forward': False, 'host': 'vpn2', 'export': [], 'type': 'openvpn',
}


def inventory(*servers, **extra):
    """hostvars with vpn1 (ansible_host 10.88.0.11) exporting the given server instances, and vpn2, vpn3."""
    export = vpn_endpoint_servers(list(servers), 'vpn1')
    hostvars = {'vpn1': {'ansible_host': '10.88.0.11', 'vpn_endpoint_servers': export}, 'vpn2': {}, 'vpn3': {}}
    hostvars.update(extra)
    return hostvars


def plan(instances, host='vpn1', hostvars=None, **kw):
    return vpn_endpoint_plan(instances, host, hostvars if hostvars is not None else inventory(SITE, ALT, LAN),
                             strict=False, **kw)


def errors(*instances, **kw):
    return plan(list(instances), **kw)['errors']


def test_server_normalised_exactly_as_before():
    out = plan([SITE, ALT, LAN])
    assert out['errors'] == []
    lan = out['instances'][2]
    assert json.dumps(lan) == json.dumps(LAN_PLANNED)    # key order too: the role hashes it
    site = out['instances'][0]
    assert site['push_routes'] == [{'network': '10.20.0.0', 'netmask': '255.255.255.0', 'cidr': '10.20.0.0/24'}]
    assert (site['dev'], site['dev_type'], site['proto'], site['port']) == ('vpn-site', 'tun', 'udp', 1194)
    assert out['instances'][1]['dev'] == 'tun-alt' and out['instances'][1]['port'] == 1195


def test_client_normalised_exactly_as_before():
    out = plan([{'name': 'site', 'role': 'client', 'server': 'vpn1'}], host='vpn2')
    assert out['errors'] == []
    assert json.dumps(out['instances'][0]) == json.dumps(CLIENT_PLANNED)


def test_client_takes_its_servers_transport_and_remote_overrides():
    out = plan([{'name': 'lan', 'role': 'client', 'server': 'vpn1', 'remote': 'vpn1'},
                {'name': 'alt', 'role': 'client', 'server': 'vpn1', 'dev': 'tun-alt', 'port': 1195}], host='vpn2')
    assert out['errors'] == []
    lan, alt = out['instances']
    assert (lan['dev_type'], lan['proto'], lan['port'], lan['remote']) == ('tap', 'tcp', 1196, 'vpn1')
    assert lan['pool_start'] == '10.10.0.2' and lan['bridge'] == ''
    assert (alt['dev'], alt['port'], alt['subnet'], alt['keyhost']) == ('tun-alt', 1195, '10.9.0.0/24', 'vpn1')


def test_remote_defaults_to_the_server_hosts_name_without_ansible_host():
    hostvars = inventory(SITE)
    del hostvars['vpn1']['ansible_host']
    assert plan([{'name': 'site', 'role': 'client', 'server': 'vpn1'}], 'vpn2', hostvars)['instances'][0]['remote'] == 'vpn1'


def test_client_certificate_name_from_the_inventory_hostname():
    hostvars = inventory(SITE, **{'laptop 7.example': {}})
    out = plan([{'name': 'site', 'role': 'client', 'server': 'vpn1'}], 'laptop 7.example', hostvars)
    assert out['instances'][0]['cn'] == 'client-laptop_7.example'
    assert out['instances'][0]['keyfiles'][2]['src'] == '/etc/virtnet/vpn/pki/site/private/client-laptop_7.example.key'


def test_server_from_the_inventory_when_not_exported():
    """A server host outside this run (--limit): its vpn_endpoint_instances and vpn_endpoint_pki_dir count."""
    hostvars = {'srv': {'ansible_host': '192.0.2.7', 'vpn_endpoint_pki_dir': '/srv/pki', 'vpn_endpoint_instances': [
        {'name': 'inv', 'role': 'server', 'subnet': '10.30.0.0/24', 'proto': 'tcp', 'port': '443', 'dev_type': 'tap'},
        {'name': 'old', 'role': 'server', 'subnet': '10.31.0.0/24', 'state': 'absent'}]}, 'vpn2': {}}
    out = plan([{'name': 'inv', 'role': 'client', 'server': 'srv'}], 'vpn2', hostvars)
    assert out['errors'] == []
    inv = out['instances'][0]
    assert (inv['dev_type'], inv['proto'], inv['port'], inv['subnet']) == ('tap', 'tcp', 443, '10.30.0.0/24')
    assert (inv['pki'], inv['keyhost'], inv['remote']) == ('/srv/pki/inv', 'srv', '192.0.2.7')
    assert errors({'name': 'old', 'role': 'client', 'server': 'srv'}, host='vpn2', hostvars=hostvars) == [
        'vpn_endpoint_instances[old] (client on vpn2): server "srv" has no server instance named "old" (in its '
        'vpn_endpoint_instances, or exported by an earlier run of the role there)']


def test_the_export_wins_over_the_inventory():
    hostvars = inventory(dict(SITE, port=1199))
    hostvars['vpn1']['vpn_endpoint_instances'] = [SITE]
    out = plan([{'name': 'site', 'role': 'client', 'server': 'vpn1'}], 'vpn2', hostvars)
    assert out['instances'][0]['port'] == 1199
    hostvars['vpn1']['vpn_endpoint_servers'] = {'site': 'not an instance'}    # then the inventory counts
    out = plan([{'name': 'site', 'role': 'client', 'server': 'vpn1'}], 'vpn2', hostvars)
    assert out['errors'] == [] and out['instances'][0]['port'] == 1194


def test_instance_settings_and_role_settings():
    mine = dict(SITE, keepalive=[5, 30], data_ciphers=['AES-128-GCM'], verb=4, options=['mute 10'], local='10.0.0.1',
                netns='ns1')
    out = plan([mine])['instances'][0]
    assert (out['keepalive'], out['data_ciphers'], out['verb'], out['options']) == ([5, 30], ['AES-128-GCM'], 4, ['mute 10'])
    assert (out['local'], out['netns']) == ('10.0.0.1', 'ns1')
    settings = {'pki_dir': '/p', 'config_dir': '/c', 'keepalive': [1, 2], 'data_ciphers': ['X'], 'verb': 1,
                'daemon_prefix': 'd-', 'server_cn': 'srv'}
    out = plan([SITE], settings=settings)['instances'][0]
    assert (out['pki'], out['conf_dir'], out['conf'], out['daemon'], out['cn']) == \
        ('/p/site', '/c/site', '/c/site/site.conf', 'd-site', 'srv')
    assert (out['keepalive'], out['data_ciphers'], out['verb']) == ([1, 2], ['X'], 1)
    assert out['keyfiles'][1]['src'] == '/p/site/issued/srv.crt'


def test_role_defaults_are_the_filters_defaults():
    """SETTINGS equals the role's defaults/main.yml and vars/main.yml (the filter used on its own)."""
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as f:
        defaults = yaml.safe_load(f)
    with open(os.path.join(ROLE, 'vars', 'main.yml')) as f:
        role_vars = yaml.safe_load(f)
    assert SETTINGS == {
        'pki_dir': defaults['vpn_endpoint_pki_dir'], 'config_dir': defaults['vpn_endpoint_config_dir'],
        'keepalive': defaults['vpn_endpoint_keepalive'], 'data_ciphers': defaults['vpn_endpoint_data_ciphers'],
        'verb': defaults['vpn_endpoint_verb'], 'daemon_prefix': role_vars['__vpn_endpoint_daemon_prefix'],
        'server_cn': role_vars['__vpn_endpoint_server_cn'], 'cert_days': defaults['vpn_endpoint_cert_days'],
        'renew_days': defaults['vpn_endpoint_renew_days'],
    }
    assert set(role_vars['__vpn_endpoint_settings']) == set(SETTINGS)


def test_absent_instances():
    out = plan([dict(SITE, state='absent', subnet='10.12.0.1/24'), {'name': 'x', 'role': 'client', 'state': 'absent'}])
    assert out['errors'] == []    # an absent instance needs no valid subnet and no server
    server, client = out['instances']
    assert 'address' not in server and server['push_routes'] == [] and server['pki'] == '/etc/virtnet/vpn/pki/site'
    assert (client['subnet'], client['pki'], client['server'], client['cn']) == ('', '', '', 'client-vpn1')
    out = plan([dict(SITE, state='absent')])
    assert out['instances'][0]['address'] == '10.8.0.1'    # a valid subnet is kept: absent.yml removes the address


def test_split_by_state_and_role():
    out = plan([{'name': 'site', 'role': 'client', 'server': 'vpn1'}, dict(ALT, state='absent'),
                {'name': 'lan', 'role': 'client', 'server': 'vpn1', 'state': 'absent'},
                {'name': 'new', 'role': 'server', 'subnet': '10.40.0.0/24'}], host='vpn2')
    assert out['errors'] == []
    names = {k: [i['name'] for i in out[k]] for k in ('instances', 'present', 'absent', 'servers', 'clients')}
    assert names == {'instances': ['site', 'alt', 'lan', 'new'], 'present': ['site', 'new'], 'absent': ['alt', 'lan'],
                     'servers': ['new'], 'clients': ['site']}


W1 = 'vpn_endpoint_instances[site] (server on vpn1): '
WC = 'vpn_endpoint_instances[site] (client on vpn2): '


@pytest.mark.parametrize('instance, message', [
    (dict(SITE, name='Site'), 'vpn_endpoint_instances[Site] (server on vpn1): name "Site" must be 1 to 48 of [a-z0-9-], '
                              'starting with a letter or digit'),
    (dict(SITE, name='-x'), 'name "-x" must be 1 to 48 of [a-z0-9-]'),
    (dict(SITE, name='a' * 49, dev='tun-a'), 'name "%s" must be 1 to 48' % ('a' * 49)),
    (dict(SITE, name='x\n', dev='tun-a'), 'name "x\\n" must be 1 to 48'),
    ({'role': 'server', 'subnet': '10.8.0.0/24'}, 'vpn_endpoint_instances[0] (server on vpn1): name "" must be 1 to 48'),
    (dict(SITE, role='peer'), 'vpn_endpoint_instances[site] (peer on vpn1): role must be server or client, not "peer"'),
    ({'name': 'site', 'subnet': '10.8.0.0/24'}, 'vpn_endpoint_instances[site] ( on vpn1): role must be server or client, not ""'),
    (dict(SITE, state='gone'), W1 + 'state must be present or absent, not "gone"'),
    (dict(SITE, dev='tun-far-too-long'), W1 + 'device name "tun-far-too-long" must be 1 to 15 characters without /, : or '
                                              'white space'),
    (dict(SITE, dev='tun:0'), W1 + 'device name "tun:0" must be 1 to 15 characters'),
    (dict(SITE, name='averyveryverylongname'), 'device name "vpn-averyveryverylongname" must be 1 to 15 characters '
                                               'without /, : or white space (the default vpn-NAME is too long: set dev)'),
    (dict(SITE, netns='a/b'), W1 + 'netns "a/b" is not a valid namespace name'),
    (dict(SITE, netns='..'), W1 + 'netns ".." is not a valid namespace name'),
    (dict(SITE, dev_type='tan'), W1 + 'dev_type must be tun or tap, not "tan"'),
    (dict(SITE, proto='sctp'), W1 + 'proto must be udp or tcp, not "sctp"'),
    (dict(SITE, port=70000), W1 + 'port 70000 is not in 1..65535'),
    (dict(SITE, port=0), W1 + 'port 0 is not in 1..65535'),
    (dict(SITE, port='https'), W1 + 'port "https" is not in 1..65535'),
    (dict(SITE, bridge='br0'), W1 + 'bridge "br0" needs dev_type tap (a tun device cannot be a bridge port)'),
    ({'name': 'site', 'role': 'server'}, W1 + 'a server needs subnet (its tunnel network, like 10.8.0.0/24)'),
    (dict(SITE, subnet='10.8.0.0/30'), W1 + 'subnet 10.8.0.0/30 is not an IPv4 network in CIDR form with a prefix '
                                            'length of at most 29 (like 10.8.0.0/24)'),
    (dict(SITE, subnet='10.8.0.0'), 'subnet 10.8.0.0 is not an IPv4 network in CIDR form with a prefix length'),
    (dict(SITE, subnet='10.8.0.0/x'), 'subnet 10.8.0.0/x is not an IPv4 network in CIDR form with a prefix length'),
    (dict(SITE, subnet='10.8.0/24'), W1 + 'subnet 10.8.0/24 is not an IPv4 network in CIDR form (like 10.8.0.0/24)'),
    (dict(SITE, subnet='10.8.0.256/24'), 'subnet 10.8.0.256/24 is not an IPv4 network in CIDR form (like'),
    (dict(SITE, subnet='10.8.0.1/24'), W1 + 'subnet 10.8.0.1/24 is not a network address (host bits are set; did you '
                                            'mean 10.8.0.0/24?)'),
    (dict(SITE, push_routes=['10.0.0.0/33']), W1 + 'push_routes entry 10.0.0.0/33 is not an IPv4 network in CIDR form '
                                                   'with a prefix length of at most 32 (like 10.8.0.0/24)'),
    (dict(SITE, push_routes=['10.0.0.1/8']), W1 + 'push_routes entry 10.0.0.1/8 is not a network address (host bits '
                                                  'are set; did you mean 10.0.0.0/8?)'),
    (dict(SITE, push_routes=['300.1.1.0/24']), W1 + 'push_routes entry 300.1.1.0/24 is not an IPv4 network in CIDR form'),
    (dict(SITE, push_routes='10.0.0.0/8'), W1 + 'push_routes must be a list of IPv4 networks (like [10.20.0.0/24])'),
    (dict(SITE, keepalive=[1, 2, 3]), W1 + 'keepalive must be two numbers [interval, timeout]'),
    (dict(SITE, keepalive=['a', 2]), W1 + 'keepalive must be two numbers [interval, timeout]'),
    (dict(SITE, keepalive=10), W1 + 'keepalive must be two numbers [interval, timeout]'),
    (dict(SITE, data_ciphers='AES-256-GCM'), W1 + 'data_ciphers must be a list of cipher names (like [AES-256-GCM])'),
    (dict(SITE, options='mute 10'), W1 + 'options must be a list of OpenVPN configuration lines'),
    (dict(SITE, options=['a\nb']), W1 + 'options must be a list of OpenVPN configuration lines'),
    (dict(SITE, verb='loud'), W1 + 'verb must be a number (0 to 11), not "loud"'),
    (dict(SITE, prot='tcp'), W1 + 'unknown key(s) prot (known: address, bridge, client_to_client, data_ciphers, dev, '
                                  'dev_type, export, forward, keepalive, local, name, netns, networks, options, port, proto, '
                                  'push_routes, remote, role, server, state, subnet, type, verb)'),
])
def test_bad_server(instance, message):
    errs = errors(instance)
    assert any(message in e for e in errs), errs


@pytest.mark.parametrize('instance, message', [
    ({'name': 'site', 'role': 'client'}, WC + "a client needs server (the inventory hostname of the server instance's "
                                              "host)"),
    ({'name': 'site', 'role': 'client', 'server': 'vpn9'}, WC + 'server "vpn9" is not a host of the inventory'),
    ({'name': 'lab', 'role': 'client', 'server': 'vpn1'},
     'vpn_endpoint_instances[lab] (client on vpn2): server "vpn1" has no server instance named "lab" (in its '
     'vpn_endpoint_instances, or exported by an earlier run of the role there)'),
    ({'name': 'site', 'role': 'client', 'server': 'vpn3'}, WC + 'server "vpn3" has no server instance named "site"'),
    ({'name': 'site', 'role': 'client', 'server': 'vpn1', 'dev_type': 'tap'},
     WC + "dev_type tap differs from the server instance's tun on vpn1"),
    ({'name': 'site', 'role': 'client', 'server': 'vpn1', 'proto': 'tcp'},
     WC + "proto tcp differs from the server instance's udp on vpn1"),
    ({'name': 'site', 'role': 'client', 'server': 'vpn1', 'port': 1195},
     WC + "port 1195 differs from the server instance's 1194 on vpn1"),
    ({'name': 'site', 'role': 'client', 'server': 'vpn1', 'subnet': '10.99.0.0/24'},
     WC + "subnet 10.99.0.0/24 differs from the server instance's 10.8.0.0/24 on vpn1 (a client takes its server's; "
          "leave it out)"),
    ({'name': 'site', 'role': 'client', 'server': 'vpn1', 'push_routes': ['10.1.0.0/24']},
     WC + 'push_routes belong to the server instance (clients get them pushed)'),
    ({'name': 'site', 'role': 'client', 'server': 'vpn1', 'bridge': 'br0'},
     WC + 'bridge "br0" needs dev_type tap (a tun device cannot be a bridge port)'),
])
def test_bad_client(instance, message):
    errs = errors(instance, host='vpn2')
    assert any(message in e for e in errs), errs


def test_a_client_that_matches_its_server_passes():
    assert errors({'name': 'site', 'role': 'client', 'server': 'vpn1', 'dev_type': 'tun', 'proto': 'udp',
                   'port': 1194, 'subnet': '10.8.0.0/24'}, host='vpn2') == []


def test_one_host_shares_nothing():
    assert errors(SITE, dict(SITE, subnet='10.50.0.0/24', port=1200, dev='tun-x')) == [W1 + 'name is used twice on this host']
    assert errors(SITE, dict(ALT, dev='vpn-site')) == [
        'vpn_endpoint_instances[alt] (server on vpn1): device vpn-site is also used by instance site']
    assert errors(dict(SITE, netns='ns1'), dict(ALT, dev='vpn-site', netns='ns1')) == [
        'vpn_endpoint_instances[alt] (server on vpn1): device vpn-site in netns ns1 is also used by instance site']
    assert errors(SITE, dict(ALT, port=1194)) == [
        'vpn_endpoint_instances[alt] (server on vpn1): udp port 1194 is also used by instance site']
    assert errors(dict(SITE, netns='ns1'), dict(ALT, port=1194, netns='ns1')) == [
        'vpn_endpoint_instances[alt] (server on vpn1): udp port 1194 in netns ns1 is also used by instance site']
    assert errors(SITE, dict(ALT, subnet='10.8.0.128/25')) == [
        'vpn_endpoint_instances[alt] (server on vpn1): subnet 10.8.0.128/25 overlaps subnet 10.8.0.0/24 of instance site '
        'on this host']
    # what differs in namespace, protocol or state does not clash
    assert errors(SITE, dict(ALT, port=1194, dev='vpn-site', netns='ns1')) == []
    assert errors(SITE, dict(ALT, port=1194, proto='tcp')) == []
    assert errors(SITE, dict(ALT, port=1194, dev='vpn-site', subnet='10.8.0.0/24', state='absent')) == []


def test_a_clients_subnet_is_its_servers_and_must_not_overlap():
    assert errors({'name': 'site', 'role': 'client', 'server': 'vpn1'},
                  {'name': 'mine', 'role': 'server', 'subnet': '10.8.0.0/25'}, host='vpn2') == [
        'vpn_endpoint_instances[mine] (server on vpn2): subnet 10.8.0.0/25 overlaps subnet 10.8.0.0/24 of instance site '
        'on this host']


def test_every_problem_at_once_and_strict_raises_them_all():
    bad = [dict(SITE, dev='tun-far-too-long'), dict(ALT, port=1194, subnet='10.9.0.1/24')]
    errs = errors(*bad)
    assert errs == [W1 + 'device name "tun-far-too-long" must be 1 to 15 characters without /, : or white space',
                    'vpn_endpoint_instances[alt] (server on vpn1): subnet 10.9.0.1/24 is not a network address (host '
                    'bits are set; did you mean 10.9.0.0/24?)',
                    'vpn_endpoint_instances[alt] (server on vpn1): udp port 1194 is also used by instance site']
    with pytest.raises(AnsibleFilterError) as raised:
        vpn_endpoint_plan(bad, 'vpn1', {})
    assert str(raised.value) == '; '.join(errs)
    assert vpn_endpoint_plan([SITE], 'vpn1', {})['errors'] == []


def test_not_a_list_or_not_a_mapping():
    with pytest.raises(AnsibleFilterError, match='vpn_endpoint_instances must be a list of instances, not dict'):
        vpn_endpoint_plan(SITE, 'vpn1')
    assert vpn_endpoint_plan(None, 'vpn1')['instances'] == []
    assert errors('site') == ['vpn_endpoint_instances[0] ( on vpn1): must be a mapping, not str']
    with pytest.raises(AnsibleFilterError, match='unknown setting'):
        vpn_endpoint_plan([SITE], 'vpn1', settings={'pki': '/x'})
    with pytest.raises(AnsibleFilterError, match='settings must be a mapping'):
        vpn_endpoint_plan([SITE], 'vpn1', settings=['x'])


def test_without_hostvars_no_client_finds_its_server():
    assert vpn_endpoint_plan([{'name': 'site', 'role': 'client', 'server': 'vpn1'}], 'vpn2', strict=False)['errors'] == \
        [WC + 'server "vpn1" is not a host of the inventory']


def test_export_holds_the_present_servers_and_never_fails():
    export = vpn_endpoint_servers([SITE, dict(ALT, state='absent'), {'name': 'x', 'role': 'client'},
                                   dict(LAN, subnet='bad')], 'vpn1')
    assert list(export) == ['site', 'lan']
    assert export['site'] == plan([SITE])['instances'][0]
    assert export['lan']['subnet'] == 'bad' and 'address' not in export['lan']
    assert vpn_endpoint_servers(None, 'vpn1') == {}


def test_filters():
    assert set(FilterModule().filters()) == {'vpn_endpoint_plan', 'vpn_endpoint_servers'}


# ---- the certificate life cycle (issue 24) ---------------------------------------------------------------
def lifecycle_inventory(**clients):
    """hostvars with vpn1 serving site, and client hosts (name: their vpn_endpoint_instances)."""
    hostvars = inventory(SITE)
    for host, instances in clients.items():
        hostvars[host] = {'vpn_endpoint_instances': instances}
    return hostvars


def test_claimed_are_the_present_inventory_clients_of_each_server_instance():
    hostvars = lifecycle_inventory(
        vpn2=[{'name': 'site', 'role': 'client', 'server': 'vpn1'}, {'name': 'alt', 'role': 'client', 'server': 'vpn1'}],
        vpn3=[{'name': 'site', 'role': 'client', 'server': 'vpn1', 'state': 'absent'}],
        vpn4=[{'name': 'site', 'role': 'client', 'server': 'vpn9'}, {'name': 'site', 'role': 'server', 'server': 'vpn1'}],
        vpn6=[{'name': 'site', 'role': 'peer', 'server': 'vpn1'}],
        **{'laptop.x': [{'name': 'site', 'role': 'client', 'server': 'vpn1'}]})
    out = plan([SITE, ALT], hostvars=hostvars)
    assert out['errors'] == []
    assert out['claimed'] == {'site': ['client-laptop.x', 'client-vpn2', 'client-vpn6'], 'alt': ['client-vpn2']}


def test_export_names_are_kept_in_order():
    out = plan([dict(SITE, export=['laptop1', 'phone.2'])], hostvars=lifecycle_inventory())
    assert out['instances'][0]['export'] == ['laptop1', 'phone.2']


@pytest.mark.parametrize('instance,message', [
    (dict(SITE, export=['vpn2']), 'vpn_endpoint_instances[site] (server on vpn1): export name "vpn2" collides with '
                                  'the client instance site on inventory host vpn2 (both would be certificate client-vpn2)'),
    (dict(SITE, export=['a b']), 'export name "a b" must be 1 to 48 of [A-Za-z0-9_.-]'),
    (dict(SITE, export=['x', 'x']), 'export name "x" is listed twice'),
    (dict(SITE, export='laptop1'), 'export must be a list of names'),
])
def test_bad_export_is_refused_naming_both(instance, message):
    hostvars = lifecycle_inventory(vpn2=[{'name': 'site', 'role': 'client', 'server': 'vpn1'}])
    found = plan([instance], hostvars=hostvars)["errors"]
    assert any(message in e for e in found), found


def test_a_client_cannot_export():
    found = plan([{'name': 'site', 'role': 'client', 'server': 'vpn1', 'export': ['x']}], host='vpn2',
                 )["errors"]
    assert any('export belongs to a server instance' in e for e in found), found


@pytest.mark.parametrize('cert_days,renew_days', [(825, 825), (2, 30), (30, -1), ('x', 1), (0, 0)])
def test_renew_days_must_be_below_cert_days(cert_days, renew_days):
    settings = {'cert_days': cert_days, 'renew_days': renew_days}
    found = plan([SITE], hostvars=lifecycle_inventory(), settings=settings)["errors"]
    assert found == ['vpn_endpoint_renew_days (%s) must be a number of days below vpn_endpoint_cert_days (%s, 1 to 36500) '
                     'on vpn1: a certificate is re-issued when it ends within renew_days'
                     % (json.dumps(renew_days), json.dumps(cert_days))]


def test_days_given_as_digits_pass():
    assert plan([SITE], hostvars=lifecycle_inventory(), settings={'cert_days': '2', 'renew_days': '1'})['errors'] == []


def test_a_host_whose_instances_cannot_be_read_is_an_error_not_a_revocation():
    class Broken(dict):
        def get(self, key, default=None):
            raise ValueError('undefined variable x')
    hostvars = lifecycle_inventory()
    hostvars['vpn5'] = Broken()
    # the routing plan (issue 25) reads the clients first and lets the error through; either way the run stops
    try:
        found = plan([SITE], hostvars=hostvars)["errors"]
    except ValueError as e:
        found = [str(e)]
    assert [e for e in found if 'undefined variable x' in e] == found and found


def test_a_host_whose_instances_are_not_a_list_is_an_error_not_a_revocation():
    hostvars = lifecycle_inventory()
    hostvars['vpn5'] = {'vpn_endpoint_instances': 'oops'}
    found = plan([SITE], hostvars=hostvars)['errors']
    assert found == ['cannot read vpn_endpoint_instances of host vpn5 (needed to know which client certificates of vpn1 '
                     'are still claimed): not a list but str']


# ---- routing (issue 25): forward, client_to_client, a client's fixed address and networks -------------
def routed(**clients):
    """hostvars: vpn1 serves SITE (from its inventory variables) and ALT; each named host a client of site
    with the given extra keys (vpn2=dict(address=...), ...)."""
    hostvars = {'vpn1': {'ansible_host': '10.88.0.11', 'vpn_endpoint_instances': [SITE, ALT]}}
    for host, extra in clients.items():
        hostvars[host] = {'vpn_endpoint_instances': [dict({'name': 'site', 'role': 'client', 'server': 'vpn1'},
                                                          **extra)]}
    return hostvars


def test_server_learns_its_clients_addresses_and_networks_from_the_inventory():
    hv = routed(vpn2=dict(address='10.8.0.50', networks=['10.30.0.0/24']), vpn3={})
    site = plan([SITE, ALT], hostvars=hv)['servers'][0]
    assert (site['forward'], site['client_to_client'], site['ccd']) == (True, False, True)
    assert site['clients'] == [
        {'host': 'vpn2', 'cn': 'client-vpn2', 'address': '10.8.0.50',
         'networks': [{'network': '10.30.0.0', 'netmask': '255.255.255.0', 'cidr': '10.30.0.0/24'}]},
        {'host': 'vpn3', 'cn': 'client-vpn3', 'address': '', 'networks': []}]
    assert site['client_networks'] == [{'network': '10.30.0.0', 'netmask': '255.255.255.0', 'cidr': '10.30.0.0/24'}]
    # the dynamic pool: the longest run of client addresses without a fixed one
    assert (site['pool_start'], site['pool_end']) == ('10.8.0.51', '10.8.0.254')
    alt = plan([SITE, ALT], hostvars=hv)['servers'][1]
    assert (alt['clients'], alt['ccd'], alt['pool_start']) == ([], False, '10.9.0.2')


def test_server_without_fixed_addresses_keeps_its_pool_and_flags():
    site = plan([dict(SITE, forward=False, client_to_client=True)], hostvars=routed(vpn2={}))['servers'][0]
    assert (site['forward'], site['client_to_client'], site['ccd']) == (False, True, False)
    assert (site['pool_start'], site['pool_end']) == ('10.8.0.2', '10.8.0.254')


def test_pool_takes_the_longest_free_run():
    hv = routed(vpn2=dict(address='10.8.0.200'), vpn3=dict(address='10.8.0.10'))
    site = plan([SITE], hostvars=hv)['servers'][0]
    assert (site['pool_start'], site['pool_end']) == ('10.8.0.11', '10.8.0.199')


def test_client_fixed_address_and_networks():
    hv = routed(vpn2=dict(address='10.8.0.50', networks=['10.30.0.0/24', '10.31.0.0/16']))
    c = plan(hv['vpn2']['vpn_endpoint_instances'], host='vpn2', hostvars=hv)['clients'][0]
    assert (c['fixed_address'], c['forward'], c['host']) == ('10.8.0.50', True, 'vpn2')
    assert [n['cidr'] for n in c['networks']] == ['10.30.0.0/24', '10.31.0.0/16']
    assert c['address'] == '10.8.0.1'      # the server's tunnel address, as before


WS = 'vpn_endpoint_instances[site] (server on vpn1): '


@pytest.mark.parametrize('extra, message', [
    (dict(address='10.9.0.5'), WC + 'address 10.9.0.5 is outside the subnet 10.8.0.0/24 of its server instance on vpn1'),
    (dict(address='10.8.0.0'), WC + 'address 10.8.0.0 is the network address of subnet 10.8.0.0/24'),
    (dict(address='10.8.0.255'), WC + 'address 10.8.0.255 is the broadcast address of subnet 10.8.0.0/24'),
    (dict(address='10.8.0.1'), WC + "address 10.8.0.1 is the server's tunnel address"),
    (dict(address='10.8.0'), WC + 'address "10.8.0" is not an IPv4 address (like 10.8.0.50)'),
    (dict(networks=['10.8.0.0/28']), WC + 'networks entry 10.8.0.0/28 overlaps the tunnel subnet 10.8.0.0/24'),
    (dict(networks=['10.0.0.0/8']), WC + 'networks entry 10.0.0.0/8 overlaps the tunnel subnet 10.8.0.0/24'),
    (dict(networks=['10.30.0.1/24']), WC + 'networks entry 10.30.0.1/24 is not a network address'),
    (dict(networks='10.30.0.0/24'), WC + 'networks must be a list of IPv4 networks (like [10.30.0.0/24])'),
    (dict(networks=['10.20.0.0/25']), WC + 'networks entry 10.20.0.0/25 overlaps 10.20.0.0/24, which its server '
                                           'instance on vpn1 pushes (push_routes)'),
    (dict(forward=True), WC + 'forward belongs to the server instance'),
    (dict(client_to_client=True), WC + 'client_to_client belongs to the server instance'),
])
def test_bad_client_routing(extra, message):
    hv = routed(vpn2=extra)
    errs = plan(hv['vpn2']['vpn_endpoint_instances'], host='vpn2', hostvars=hv)['errors']
    assert any(message in e for e in errs), errs
    # the server's host refuses it too (its play runs first: nothing changes on any host)
    errs = plan([SITE, ALT], hostvars=hv)['errors']
    assert any(message in e for e in errs), errs


@pytest.mark.parametrize('instance, message', [
    (dict(SITE, address='10.8.0.5'), W1 + 'address belongs to the client instance'),
    (dict(SITE, networks=['10.30.0.0/24']), W1 + 'networks belongs to the client instance'),
    (dict(SITE, forward='yes'), W1 + 'forward must be true or false, not "yes"'),
    (dict(SITE, client_to_client=1), W1 + 'client_to_client must be true or false, not 1'),
])
def test_bad_server_routing(instance, message):
    errs = errors(instance)
    assert any(message in e for e in errs), errs


def test_two_clients_with_one_address_or_network_name_both():
    hv = routed(vpn2=dict(address='10.8.0.50', networks=['10.30.0.0/24']),
                vpn3=dict(address='10.8.0.50', networks=['10.30.0.128/25']))
    want = ['vpn_endpoint_instances[site] (client on vpn2): address 10.8.0.50 is also the address of client site on vpn3',
            'vpn_endpoint_instances[site] (client on vpn2): networks entry 10.30.0.0/24 overlaps network 10.30.0.128/25 '
            'behind client site on vpn3']
    assert [e for e in want if e not in plan([SITE], hostvars=hv)['errors']] == []
    assert [e for e in want if e not in plan(hv['vpn2']['vpn_endpoint_instances'], host='vpn2', hostvars=hv)['errors']] == []


def test_two_instances_on_one_host_may_not_route_one_network():
    # a server routes its clients' networks into its tunnel; a second server on the host pushes the same LAN
    hv = routed(vpn2=dict(networks=['10.30.0.0/24']))
    errs = plan([SITE, dict(ALT, push_routes=['10.30.0.0/16'])], hostvars=hv)['errors']
    assert errs == ['vpn_endpoint_instances[alt] (server on vpn1): network 10.30.0.0/16 is also routed by instance site '
                    'on this host (10.30.0.0/24 into its tunnel)']
    # a client gets its server's push_routes: the host may not have them behind another instance
    hv = routed(vpn2={})
    hv['vpn2']['vpn_endpoint_instances'].append({'name': 'x', 'role': 'server', 'subnet': '10.40.0.0/24',
                                                 'push_routes': ['10.20.0.0/24']})
    errs = plan(hv['vpn2']['vpn_endpoint_instances'], host='vpn2', hostvars=hv)['errors']
    assert errs == ['vpn_endpoint_instances[x] (server on vpn2): network 10.20.0.0/24 is also routed by instance site '
                    'on this host (10.20.0.0/24 into its tunnel)']
    # a LAN reached through two VPNs is fine: two servers of one host push it
    assert errors(SITE, dict(ALT, push_routes=['10.20.0.0/24'])) == []


def test_networks_of_a_tap_client_are_refused():
    hv = {'vpn1': {'ansible_host': '10.88.0.11', 'vpn_endpoint_instances': [LAN]},
          'vpn2': {'vpn_endpoint_instances': [{'name': 'lan', 'role': 'client', 'server': 'vpn1',
                                               'networks': ['10.30.0.0/24']}]}}
    errs = plan(hv['vpn2']['vpn_endpoint_instances'], host='vpn2', hostvars=hv)['errors']
    assert errs == ['vpn_endpoint_instances[lan] (client on vpn2): networks need a tun instance (a tap client is a '
                    'bridge port: route behind it on the bridge)']
