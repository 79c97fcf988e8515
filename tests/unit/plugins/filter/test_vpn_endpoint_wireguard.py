# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the vpn_endpoint role's WireGuard instances (type wireguard): the checks, the derived tunnel
addresses, the wg configuration, the plumbing, the daemon element and the public keys read from the runs."""

from __future__ import annotations

import pytest

from ansible_collections.virtnet.linux.plugins.filter.vpn_endpoint import vpn_endpoint_plan, wireguard_address
from ansible_collections.virtnet.linux.plugins.filter.vpn_endpoint_tasks import (
    vpn_endpoint_daemons,
    vpn_endpoint_host,
    vpn_endpoint_pki,
    vpn_endpoint_plumbing,
    vpn_endpoint_profiles,
    vpn_endpoint_wireguard_exports,
    vpn_endpoint_wireguard_keys,
    vpn_endpoint_wireguard_todo,
    wireguard_conf,
    wireguard_profile,
)

HUB = {'name': 'wg', 'role': 'server', 'type': 'wireguard', 'subnet': '10.77.0.0/24', 'client_to_client': True,
       'push_routes': ['10.78.0.0/24']}
SPOKES = {
    'vpn2': [{'name': 'wg', 'role': 'client', 'server': 'vpn1', 'networks': ['10.79.0.0/24']}],
    'vpn3': [{'name': 'wg', 'role': 'client', 'server': 'vpn1', 'address': '10.77.0.50'}],
}
KEYS = {'vpn1': {'wg': 'HUBKEY='}, 'vpn2': {'wg': 'KEY2='}, 'vpn3': {'wg': 'KEY3='}}


def hostvars(hub=None, spokes=None):
    out = {'vpn1': {'ansible_host': '10.88.0.11', 'vpn_endpoint_instances': [hub or HUB]}}
    for host, instances in (SPOKES if spokes is None else spokes).items():
        out[host] = {'vpn_endpoint_instances': instances}
    return out


def plan(host, hv=None, strict=False):
    hv = hv or hostvars()
    return vpn_endpoint_plan(hv[host]['vpn_endpoint_instances'], host, hv, strict=strict)


def test_wireguard_defaults_to_port_51820_and_a_client_takes_its_servers_type():
    hub = plan('vpn1')
    assert hub['errors'] == [] and hub['servers'][0]['port'] == 51820 and hub['servers'][0]['type'] == 'wireguard'
    spoke = plan('vpn2')['clients'][0]
    assert (spoke['type'], spoke['port'], spoke['proto'], spoke['dev_type']) == ('wireguard', 51820, 'udp', 'tun')


def test_a_spokes_address_is_derived_from_its_host_name_alone_or_given():
    assert plan('vpn2')['clients'][0]['tunnel_address'] == wireguard_address('vpn2', {'network': '10.77.0.0', 'prefix': 24})
    assert plan('vpn3')['clients'][0]['tunnel_address'] == '10.77.0.50'
    # another spoke added or removed moves nobody
    more = dict(SPOKES, cmp1=[{'name': 'wg', 'role': 'client', 'server': 'vpn1'}])
    assert plan('vpn2', hostvars(spokes=more))['clients'][0]['tunnel_address'] == plan('vpn2')['clients'][0]['tunnel_address']
    for host in ('a', 'b', 'vpn2', 'host-with-a-long-name'):
        n = int(wireguard_address(host, {'network': '10.77.0.0', 'prefix': 29}).rsplit('.', 1)[1])
        assert 2 <= n <= 6      # never the network, the server's or the broadcast address


def test_two_spokes_on_one_address_are_refused_naming_both():
    taken = wireguard_address('vpn2', {'network': '10.77.0.0', 'prefix': 24})
    spokes = dict(SPOKES, vpn3=[{'name': 'wg', 'role': 'client', 'server': 'vpn1', 'address': taken}])
    assert plan('vpn2', hostvars(spokes=spokes))['errors'] == [
        'vpn_endpoint_instances[wg] (client on vpn2): tunnel address %s is also the address of client wg on vpn3 (an '
        'address not given is derived from the host name: give one of them address)' % taken]


@pytest.mark.parametrize('change, message', [
    ({'proto': 'tcp'}, 'proto tcp: WireGuard runs over UDP only (type wireguard)'),
    ({'dev_type': 'tap'}, 'dev_type tap: a WireGuard instance is a tun device (type wireguard)'),
    ({'data_ciphers': ['AES-256-GCM']}, 'data_ciphers is an OpenVPN option (type wireguard)'),
    ({'type': 'ipsec'}, 'type must be openvpn or wireguard, not "ipsec"'),
])
def test_bad_wireguard_servers_are_refused_naming_instance_and_host(change, message):
    hv = hostvars(hub=dict(HUB, **change))
    assert 'vpn_endpoint_instances[wg] (server on vpn1): ' + message in plan('vpn1', hv)['errors']


def test_a_client_of_another_type_than_its_server_is_refused():
    spokes = {'vpn2': [{'name': 'wg', 'role': 'client', 'server': 'vpn1', 'type': 'openvpn'}]}
    assert "vpn_endpoint_instances[wg] (client on vpn2): type openvpn differs from the server instance's wireguard " \
        "on vpn1" in plan('vpn2', hostvars(spokes=spokes))['errors']


def test_two_wireguard_devices_of_one_name_are_refused_whatever_the_namespace():
    instances = [dict(HUB, dev='wg0', netns='a'),
                 dict(HUB, name='wg2', dev='wg0', netns='b', port=51821, subnet='10.76.0.0/24', push_routes=[])]
    errors = vpn_endpoint_plan(instances, 'vpn1', {'vpn1': {}}, strict=False)['errors']
    assert errors == ['vpn_endpoint_instances[wg2] (server on vpn1): WireGuard device wg0 is also used by instance wg on '
                      'this host (its UAPI socket /var/run/wireguard/wg0.sock is one per host, whatever the namespace)']


def test_hub_configuration_has_each_spoke_with_its_address_and_networks_and_no_private_key():
    conf = wireguard_conf(plan('vpn1')['servers'][0], KEYS)
    assert 'ListenPort = 51820' in conf and 'PrivateKey' not in conf
    a2 = plan('vpn2')['clients'][0]['tunnel_address']
    assert 'PublicKey = KEY2=\nAllowedIPs = %s/32, 10.79.0.0/24' % a2 in conf
    assert 'PublicKey = KEY3=\nAllowedIPs = 10.77.0.50/32\n' in conf


def test_spoke_configuration_routes_the_subnet_pushed_routes_and_other_spokes_networks_to_the_hub():
    conf = wireguard_conf(plan('vpn3')['clients'][0], KEYS)
    assert conf.endswith('[Peer]\nPublicKey = HUBKEY=\nAllowedIPs = 10.77.0.0/24, 10.78.0.0/24, 10.79.0.0/24\n'
                         'Endpoint = 10.88.0.11:51820\nPersistentKeepalive = 10\n')
    # without client_to_client a spoke reaches the hub's address, not the other spokes'
    hv = hostvars(hub=dict(HUB, client_to_client=False))
    assert 'AllowedIPs = 10.77.0.1/32, 10.78.0.0/24, 10.79.0.0/24\n' in wireguard_conf(plan('vpn3', hv)['clients'][0], KEYS)


def test_a_peer_whose_key_is_not_known_is_left_out():
    assert '[Peer]' not in wireguard_conf(plan('vpn3')['clients'][0], {})
    assert wireguard_conf(plan('vpn1')['servers'][0], {'vpn3': {'wg': 'KEY3='}}).count('[Peer]') == 1


def test_plumbing_makes_a_pi_tun_with_the_tunnel_address_and_routes():
    doc = vpn_endpoint_plumbing(plan('vpn3'), settings={'user': 'openvpn', 'group': 'openvpn'})
    assert doc['tuntaps'] == [{'name': 'vpn-wg', 'mode': 'tun', 'link_state': 'up', 'user': 'openvpn', 'group': 'openvpn',
                               'pi': True}]
    assert doc['addresses'] == [{'dev': 'vpn-wg', 'address': ['10.77.0.50/24'], 'purge': True}]
    assert doc['routes'] == [{'dst': '10.78.0.0/24', 'dev': 'vpn-wg'}, {'dst': '10.79.0.0/24', 'dev': 'vpn-wg'}]
    hub = vpn_endpoint_plumbing(plan('vpn1'), settings={'user': 'openvpn', 'group': 'openvpn'})
    assert hub['addresses'] == [{'dev': 'vpn-wg', 'address': ['10.77.0.1/24'], 'purge': True}]
    assert hub['routes'] == [{'dst': '10.79.0.0/24', 'dev': 'vpn-wg'}]
    assert hub['tuntaps'][0]['forwarding'] is True


def test_no_pki_for_wireguard():
    assert vpn_endpoint_pki(plan('vpn1', strict=True)) == []


def test_the_daemon_is_the_wrapper_as_the_user_with_cap_net_admin_reloaded_by_its_configuration():
    settings = {'wireguard_script': '#!/bin/sh\n', 'wireguard_keys': KEYS, 'host': 'vpn1', 'private_node': True}
    element = vpn_endpoint_daemons(plan('vpn1', strict=True), {}, settings=settings)[0]
    d = '/etc/virtnet/vpn/instances/wg'
    assert element['argv'] == ['/bin/sh', d + '/wireguard-go.sh', 'vpn-wg', d + '/private.key', d + '/wg.conf']
    assert (element['user'], element['ambient_capabilities'], element['reload_signal']) == ('openvpn', ['CAP_NET_ADMIN'], 'HUP')
    assert [(f['path'], f['on_change']) for f in element['files']] == [(d + '/wg.conf', 'reload'),
                                                                       (d + '/wireguard-go.sh', 'restart')]
    assert element['bind_paths'] == [d + '/tun:/dev/net/tun']
    assert element['directories'][0]['path'] == '/run/wireguard'
    # a new private key (its public key) restarts; another peer's key does not
    other = dict(settings, wireguard_keys=dict(KEYS, vpn1={'wg': 'NEW='}))
    assert vpn_endpoint_daemons(plan('vpn1', strict=True), {}, settings=other)[0]['restart_key'] != element['restart_key']
    peer = dict(settings, wireguard_keys=dict(KEYS, vpn2={'wg': 'NEW='}))
    assert vpn_endpoint_daemons(plan('vpn1', strict=True), {}, settings=peer)[0]['restart_key'] == element['restart_key']


def test_the_host_look_reads_public_keys_and_the_keys_to_make():
    p = plan('vpn2', strict=True)
    host = vpn_endpoint_host(p, {'host': 'vpn2'})
    assert 'wg=wg=/etc/virtnet/vpn/instances/wg/private.key' in host['probe']
    assert '/usr/bin/wireguard-go' in host['paths'] and '/usr/sbin/openvpn' not in host['paths']
    assert host['wg_keys_missing'] == ['wg']
    seen = vpn_endpoint_host(p, {'host': 'vpn2'}, 'wgpub|wg|KEY2=\n/etc/virtnet/vpn/instances/wg/private.key|regular '
                                                  'file|644|root|root|0:0\n')
    assert seen['wg_public'] == {'wg': 'KEY2='} and seen['wg_keys_missing'] == []
    assert [k['path'] for k in seen['wg_keys_fix']] == ['/etc/virtnet/vpn/instances/wg/private.key']


def test_public_keys_come_from_the_looks_and_the_key_tasks_by_host():
    hv = {'vpn1': {'__vpn_endpoint_probe': {'stdout': 'passwd|x\nwgpub|wg|HUBKEY='},
                   '__vpn_endpoint_wg_made': {'results': [{'item': {'host': 'vpn2'}, 'stdout': 'made|wg|KEY2='},
                                                          {'item': {'host': 'vpn3'}, 'failed': True, 'stdout': ''}]}},
          'vpn2': {}}
    assert vpn_endpoint_wireguard_keys(hv) == {'vpn1': {'wg': 'HUBKEY='}, 'vpn2': {'wg': 'KEY2='}}


def test_keys_to_make_are_this_hosts_missing_ones_and_unseen_peers_outside_the_play():
    p = plan('vpn1', strict=True)
    todo = vpn_endpoint_wireguard_todo(p, 'vpn1', {'wg_keys_missing': ['wg']}, {'vpn2': {'wg': 'KEY2='}}, ['vpn1'])
    path = 'wg=/etc/virtnet/vpn/instances/wg/private.key'
    assert todo == [{'host': 'vpn1', 'paths': [path]}, {'host': 'vpn3', 'paths': [path]}]
    assert vpn_endpoint_wireguard_todo(p, 'vpn1', {'wg_keys_missing': []}, {}, ['vpn1', 'vpn2', 'vpn3']) == []


# ---- export: wg-quick profiles of clients outside the inventory ------------------------------------------
EXPORTED = dict(HUB, export=['laptop1', 'phone1'])
DIR = '/etc/virtnet/vpn/instances/wg'
PAIRS = {'results': [
    {'item': {'name': 'wg'}, 'stdout': 'made|wg|phone1\nkey|wg|laptop1|PRIV1=|PUB1=\nkey|wg|phone1|PRIV2=|PUB2=\nremoved|wg|old1'},
    {'skipped': True}]}


def test_export_names_of_a_wireguard_server_get_addresses_derived_from_the_name():
    hub = plan('vpn1', hostvars(hub=EXPORTED))
    assert hub['errors'] == []
    net = {'network': '10.77.0.0', 'prefix': 24}
    assert hub['servers'][0]['export_peers'] == [{'name': n, 'tunnel_address': wireguard_address(n, net)}
                                                 for n in ('laptop1', 'phone1')]
    # another name added moves nobody
    more = plan('vpn1', hostvars(hub=dict(HUB, export=['phone1', 'tablet', 'laptop1'])))['servers'][0]['export_peers']
    assert [p for p in more if p['name'] != 'tablet'] == list(reversed(hub['servers'][0]['export_peers']))


def test_an_export_name_on_a_clients_address_is_refused_naming_both():
    taken = wireguard_address('laptop1', {'network': '10.77.0.0', 'prefix': 24})
    spokes = dict(SPOKES, vpn3=[{'name': 'wg', 'role': 'client', 'server': 'vpn1', 'address': taken}])
    assert plan('vpn1', hostvars(hub=EXPORTED, spokes=spokes))['errors'] == [
        'vpn_endpoint_instances[wg] (server on vpn1): export name "laptop1": its tunnel address %s (derived from the '
        'name) is also the address of client wg on vpn3 (choose another name, or give that client address)' % taken]


def test_export_on_a_wireguard_client_is_refused():
    spokes = {'vpn2': [{'name': 'wg', 'role': 'client', 'server': 'vpn1', 'export': ['x']}]}
    assert 'vpn_endpoint_instances[wg] (client on vpn2): export belongs to a server instance (the profiles of ' \
        'clients outside the inventory)' in plan('vpn2', hostvars(spokes=spokes))['errors']


def test_the_export_task_reads_key_pairs_by_instance_and_name_the_public_ones_alone_by_default():
    pairs = {'laptop1': {'private': 'PRIV1=', 'public': 'PUB1='}, 'phone1': {'private': 'PRIV2=', 'public': 'PUB2='}}
    assert vpn_endpoint_wireguard_exports(PAIRS, True) == {'wg': pairs}
    assert vpn_endpoint_wireguard_exports(PAIRS) == {'wg': {'laptop1': {'public': 'PUB1='}, 'phone1': {'public': 'PUB2='}}}
    assert 'PRIV' not in repr(vpn_endpoint_wireguard_exports(PAIRS))
    assert vpn_endpoint_wireguard_exports({'skipped': True}) == {}


def test_the_hub_configuration_has_a_peer_per_export_name_with_a_known_key():
    hub = plan('vpn1', hostvars(hub=EXPORTED))['servers'][0]
    a1 = hub['export_peers'][0]['tunnel_address']
    conf = wireguard_conf(hub, KEYS, {'laptop1': {'public': 'PUB1='}})
    assert conf.endswith('# export name laptop1\n[Peer]\nPublicKey = PUB1=\nAllowedIPs = %s/32\n' % a1)
    assert conf.count('[Peer]') == 3 and 'PRIV' not in conf


def test_the_daemon_reloads_for_an_export_name_and_never_carries_its_private_key():
    settings = {'wireguard_script': '#!/bin/sh\n', 'wireguard_keys': KEYS, 'host': 'vpn1'}
    hub = plan('vpn1', hostvars(hub=EXPORTED), strict=True)
    before = vpn_endpoint_daemons(hub, {}, settings=settings)[0]
    after = vpn_endpoint_daemons(hub, {}, settings=dict(settings, wireguard_exports=vpn_endpoint_wireguard_exports(PAIRS)))[0]
    assert after['restart_key'] == before['restart_key'] and after['files'][0]['content'] != before['files'][0]['content']
    assert 'PUB2=' in after['files'][0]['content'] and 'PRIV' not in repr(after)


def test_a_profile_is_a_wg_quick_file_for_the_name_none_while_a_key_is_missing():
    hub = plan('vpn1', hostvars(hub=dict(EXPORTED, client_to_client=False)))['servers'][0]
    a1 = hub['export_peers'][0]['tunnel_address']
    text = wireguard_profile(hub, 'laptop1', {'private': 'PRIV1=', 'public': 'PUB1='}, 'HUBKEY=', '10.88.0.11', 'vpn1')
    assert text.splitlines()[2:] == [
        '[Interface]', 'PrivateKey = PRIV1=', 'Address = %s/24' % a1, '',
        '[Peer]', 'PublicKey = HUBKEY=', 'AllowedIPs = 10.77.0.1/32, 10.78.0.0/24, 10.79.0.0/24',
        'Endpoint = 10.88.0.11:51820', 'PersistentKeepalive = 10']
    assert wireguard_profile(hub, 'laptop1', None, 'HUBKEY=', '10.88.0.11', 'vpn1') is None
    assert wireguard_profile(hub, 'laptop1', {'private': 'PRIV1='}, None, '10.88.0.11', 'vpn1') is None


def test_profiles_are_name_conf_in_the_instances_export_directory():
    hub = plan('vpn1', hostvars(hub=EXPORTED), strict=True)
    out = vpn_endpoint_profiles(hub, None, {'export_dir': '/out', 'remote': '10.88.0.11', 'host': 'vpn1',
                                            'wireguard_keys': {'wg': 'HUBKEY='},
                                            'wireguard_exports': vpn_endpoint_wireguard_exports(PAIRS, True)})
    assert out['dirs'] == ['/out/wg']
    assert [(f['path'], 'PrivateKey = PRIV%d=' % n in f['content']) for n, f in enumerate(out['files'], 1)] == \
        [('/out/wg/laptop1.conf', True), ('/out/wg/phone1.conf', True)]
    # check mode: a key that would be made gives no content (the profile task reports the change)
    missing = vpn_endpoint_profiles(hub, None, {'export_dir': '/out', 'remote': 'x', 'wireguard_keys': {'wg': 'HUBKEY='}})
    assert [f['content'] for f in missing['files']] == [None, None]


def test_the_host_look_lists_the_export_directories_to_make_read_or_remove():
    hub = plan('vpn1', hostvars(hub=EXPORTED), strict=True)
    assert DIR + '/export' in vpn_endpoint_host(hub, {'host': 'vpn1'})['paths']
    assert vpn_endpoint_host(hub, {'host': 'vpn1'})['wg_export'] == [{'name': 'wg', 'dir': DIR + '/export',
                                                                     'names': ['laptop1', 'phone1']}]
    bare = plan('vpn1', strict=True)
    assert vpn_endpoint_host(bare, {'host': 'vpn1'})['wg_export'] == []
    left = '%s/export|directory|700|root|root|0:0\n' % DIR
    assert vpn_endpoint_host(bare, {'host': 'vpn1'}, left)['wg_export'] == [{'name': 'wg', 'dir': DIR + '/export',
                                                                            'names': []}]
