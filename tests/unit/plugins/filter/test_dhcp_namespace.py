# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the dhcp_namespace role's filters: address arithmetic and validation."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.virtnet.linux.plugins.filter.dhcp_namespace import (
    FilterModule,
    dhcp_namespace_changed,
    dhcp_namespace_dicts,
    dhcp_namespace_peer_ifindex,
    dhcp_namespace_plan,
    dhcp_namespace_releases,
)


def net(**kw):
    base = {'id': '42', 'subnet': '10.42.0.0/24', 'range_start': '10.42.0.100', 'range_end': '10.42.0.199'}
    base.update(kw)
    return base


def errors(*nets, **kw):
    return dhcp_namespace_plan(list(nets), **kw)['errors']


def one(**kw):
    res = dhcp_namespace_plan([net(**kw)])
    assert res['errors'] == []
    return res['networks'][0]


def test_defaults_and_derived_names():
    n = one()
    assert (n['bridge'], n['netns'], n['tap'], n['ns_dev'], n['daemon']) == \
        ('brq42', 'qdhcp-42', 'tap42', 'ns-42', 'dnsmasq-42')
    assert n['server_address'] == '10.42.0.1' and n['server_cidr'] == '10.42.0.1/24'
    assert n['netmask'] == '255.255.255.0' and n['prefix'] == 24
    assert n['dns'] is True and n['dns_servers'] == ['10.42.0.1']
    assert n['lease_time'] == '24h' and n['router'] == '' and n['hosts'] == []
    assert n['veth_spec'] == {'name': 'tap42', 'master': 'brq42', 'link_state': 'up', 'peer': 'ns-42',
                              'peer_netns': 'qdhcp-42', 'peer_link_state': 'up', 'recreate': True}
    assert n['address_spec'] == {'netns': 'qdhcp-42', 'dev': 'ns-42', 'address': ['10.42.0.1/24'], 'purge': True}
    assert 'ports' not in n['bridge_spec']


def test_server_default_skips_the_router():
    n = one(router='10.42.0.1')
    assert n['server_address'] == '10.42.0.2' and n['dns_servers'] == ['10.42.0.2']


def test_dns_off_announces_no_dns_server_by_default():
    n = one(dns=False)
    assert n['dns'] is False and n['dns_servers'] == []
    assert one(dns=False, dns_servers=['192.0.2.53'])['dns_servers'] == ['192.0.2.53']
    assert dhcp_namespace_plan([net()], dns=False)['networks'][0]['dns_servers'] == []


def test_int_id_and_normalising():
    n = dhcp_namespace_plan([net(id=7, domain='Net7.Example.', lease_time='12H',
                                 hosts=[{'mac': '52-54-00-AA-BB-CC', 'ip': '10.42.0.10', 'name': 'Web1'}])])
    assert n['errors'] == []
    n = n['networks'][0]
    assert n['id'] == '7' and n['domain'] == 'net7.example' and n['lease_time'] == '12h'
    assert n['hosts'] == [{'mac': '52:54:00:aa:bb:cc', 'ip': '10.42.0.10', 'name': 'web1'}]


def test_uplink_is_a_bridge_port():
    assert one(uplink='eth1')['bridge_spec']['ports'] == ['eth1']


def test_absent_needs_only_the_id():
    res = dhcp_namespace_plan([{'id': '42', 'state': 'absent'}])
    assert res['errors'] == [] and res['networks'][0]['state'] == 'absent'


@pytest.mark.parametrize('kw, text', [
    ({'id': 'abcdefghijkl'}, "network abcdefghijkl: id 'abcdefghijkl' must be 1 to 11 characters"),
    ({'id': 'Net1'}, "network Net1: id 'Net1' must be"),
    ({'id': 'a_b'}, "network a_b: id 'a_b' must be"),
    ({'subnet': '10.42.0.0'}, 'network 42: subnet \'10.42.0.0\' needs a prefix length'),
    ({'subnet': 'fd00::/64'}, 'is not an IPv4 network'),
    ({'subnet': '10.42.0.1/24'}, 'network 42: subnet 10.42.0.1/24 has host bits set (the network is 10.42.0.0/24)'),
    ({'subnet': '10.42.0.0/30', 'range_start': '10.42.0.1', 'range_end': '10.42.0.2'}, 'is too small'),
    ({'range_start': '10.43.0.1'}, 'network 42: range_start 10.43.0.1 is not a host address of subnet 10.42.0.0/24'),
    ({'range_end': '10.42.0.255'}, 'range_end 10.42.0.255 is not a host address'),
    ({'range_start': '10.42.0.0'}, 'range_start 10.42.0.0 is not a host address'),
    ({'range_start': '10.42.0.199', 'range_end': '10.42.0.100'}, 'range_start 10.42.0.199 is after range_end 10.42.0.100'),
    ({'range_start': 'ten'}, "range_start 'ten' is not an IPv4 address"),
    ({'server_address': '10.42.0.150'}, 'server_address 10.42.0.150 is inside the dynamic range'),
    ({'range_start': '10.42.0.1'}, 'server_address 10.42.0.1 is inside the dynamic range 10.42.0.1 - 10.42.0.199 (set server_address'),
    ({'server_address': '10.42.1.2'}, 'server_address 10.42.1.2 is not a host address'),
    ({'router': '10.42.0.150'}, 'router 10.42.0.150 is inside the dynamic range'),
    ({'router': '10.42.0.5', 'server_address': '10.42.0.5'}, "server_address 10.42.0.5 is the router's address"),
    ({'dns_servers': ['10.42.0.2', 'x']}, "dns_servers: 'x' is not an IPv4 address"),
    ({'dns_servers': '10.42.0.2'}, 'dns_servers must be a list'),
    ({'domain': 'bad_domain'}, "domain 'bad_domain' is not a DNS domain name"),
    ({'lease_time': '12 hours'}, "lease_time '12 hours' is not dnsmasq's form"),
    ({'lease_time': '60'}, 'shorter than dnsmasq\'s minimum'),
    ({'uplink': 'eth 1'}, 'uplink \'eth 1\' is not an interface name'),
    ({'uplink': 'tap42'}, 'uplink tap42 is one of the names the role derives'),
    ({'options': 'option:ntp-server,1.2.3.4'}, 'options must be a list'),
    ({'state': 'gone'}, "state must be present or absent, not 'gone'"),
    ({'rnage_start': '1'}, 'unknown key(s) rnage_start'),
    ({'dns': 'yes'}, "dns must be true or false, not 'yes'"),
])
def test_bad_network(kw, text):
    errs = errors(net(**kw))
    assert any(text in e for e in errs), errs


def test_required_keys_and_id():
    errs = errors({'id': '42'})
    assert 'network 42: subnet is required' in errs and 'network 42: range_start is required' in errs
    assert errors({'subnet': '10.0.0.0/24'}) == ['dhcp_namespace_networks[0]: id is required']
    assert errors('x') == ['dhcp_namespace_networks[0]: must be a mapping, not str']


@pytest.mark.parametrize('hosts, text', [
    ([{'mac': '52:54:00:00:42', 'ip': '10.42.0.10'}], "hosts[0]: mac '52:54:00:00:42' is not a MAC address"),
    ([{'mac': '01:00:5e:00:00:01', 'ip': '10.42.0.10'}], 'is a multicast address'),
    ([{'mac': '52:54:00:00:42:10', 'ip': '10.43.0.10'}], 'host 52:54:00:00:42:10: ip 10.43.0.10 is not a host address'),
    ([{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.1'}], "ip 10.42.0.1 is the server's address"),
    ([{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.10'}, {'mac': '52:54:00:00:42:11', 'ip': '10.42.0.10'}],
     'host 52:54:00:00:42:11: ip 10.42.0.10 is already used by host 52:54:00:00:42:10'),
    ([{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.10'}, {'mac': '52:54:00:00:42:10', 'ip': '10.42.0.11'}],
     'mac 52:54:00:00:42:10 is already used'),
    ([{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.10', 'name': 'a'}, {'mac': '52:54:00:00:42:11', 'ip': '10.42.0.11', 'name': 'a'}],
     'name a is already used'),
    ([{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.10', 'name': 'a.b'}], "name 'a.b' is not a host name"),
    ([{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.10', 'nmae': 'a'}], 'unknown key(s) nmae'),
    ('x', 'hosts must be a list'),
])
def test_bad_hosts(hosts, text):
    errs = errors(net(hosts=hosts))
    assert any(text in e and e.startswith('network 42: ') for e in errs), errs


def test_router_reserved_host():
    errs = errors(net(router='10.42.0.1', hosts=[{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.1'}]))
    assert any("ip 10.42.0.1 is the router's address" in e for e in errs)


def test_across_networks():
    a = net()
    b = net(id='43', subnet='10.43.0.0/24', range_start='10.43.0.100', range_end='10.43.0.199')
    assert errors(a, dict(a)) == ['network 42: id 42 is used twice (elements 0 and 1)']
    assert errors(dict(a, uplink='eth1'), dict(b, uplink='eth1')) == \
        ['network 43: uplink eth1 is already the uplink of network 42']
    res = dhcp_namespace_plan([a, b])
    assert res['errors'] == [] and [n['id'] for n in res['networks']] == ['42', '43']


def test_all_errors_and_no_networks_on_error():
    res = dhcp_namespace_plan([net(), net(id='43', subnet='bad')])
    assert res['networks'] == [] and len(res['errors']) == 1


def test_not_a_list():
    with pytest.raises(AnsibleFilterError):
        dhcp_namespace_plan({'id': '42'})
    assert dhcp_namespace_plan(None) == {'errors': [], 'networks': []}


def test_helpers():
    assert dhcp_namespace_dicts(['a', 'b']) == [{'name': 'a'}, {'name': 'b'}]
    result = {'results': [{'name': 'qdhcp-42/ns-42', 'changed': True}, {'name': 'qdhcp-43/ns-43', 'changed': False},
                          {'name': 'tap44', 'changed': True}]}
    assert dhcp_namespace_changed(result, 'qdhcp-') == ['42']
    assert dhcp_namespace_changed(result, 'tap') == ['44']
    assert dhcp_namespace_changed({'skipped': True}, 'tap') == []
    veth = {'results': [{'name': 'tap42', 'link': {'name': 'tap42', 'peer_link': {'ifindex': 7}}}, {'name': 'tap43'}]}
    assert dhcp_namespace_peer_ifindex(veth) == {'tap42': 7}
    nets = [one(uplink='eth2')]
    bridges = {'results': [{'name': 'brq42', 'link': {'ports': ['tap42', 'eth1', 'eth2', 'vm1']}}]}
    assert dhcp_namespace_releases(nets, {'42': {'uplink': 'eth1'}}, bridges) == \
        [{'name': 'brq42', 'ports': ['tap42', 'eth2', 'vm1'], 'purge_ports': True}]
    assert dhcp_namespace_releases(nets, {'42': {'uplink': 'eth2'}}, bridges) == []
    assert dhcp_namespace_releases(nets, {}, bridges) == []
    assert dhcp_namespace_releases(nets, {'42': {'uplink': 'eth9'}}, bridges) == []
    assert set(FilterModule().filters()) == {'dhcp_namespace_plan', 'dhcp_namespace_dicts', 'dhcp_namespace_releases',
                                             'dhcp_namespace_peer_ifindex', 'dhcp_namespace_changed'}
