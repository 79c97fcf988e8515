# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the dhcp_namespace role's filters: validation and address arithmetic, what a run does given
the record, the dnsmasq batch, the release of old uplinks."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.virtnet.linux.plugins.filter.dhcp_namespace import (
    FilterModule,
    dhcp_namespace_daemons,
    dhcp_namespace_nodes,
    dhcp_namespace_plan,
    dhcp_namespace_releases,
    dhcp_namespace_work,
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
    assert dhcp_namespace_plan(None) == {'errors': [], 'networks': [], 'present': [], 'absent_ids': [], 'ids': [],
                                         'state_dir': '/var/lib/virtnet/dhcp'}


def test_strict_raises_every_message_at_once():
    with pytest.raises(AnsibleFilterError) as exc:
        dhcp_namespace_plan([net(range_start='10.42.0.250'), net(id='43', subnet='bad')], strict=True)
    text = str(exc.value)
    assert text.startswith('dhcp_namespace_networks is invalid: network 42: range_start 10.42.0.250 is after')
    assert "; network 43: subnet 'bad' is not an IPv4 network" in text
    assert dhcp_namespace_plan([net()], strict=True)['errors'] == []


def test_state_dir_and_paths():
    res = dhcp_namespace_plan([net(), {'id': '43', 'state': 'absent'}], state_dir='/srv/dhcp/')
    assert res['state_dir'] == '/srv/dhcp' and res['networks'][0]['dir'] == '/srv/dhcp/42'
    assert [n['id'] for n in res['present']] == ['42'] and res['absent_ids'] == ['43'] and res['ids'] == ['42', '43']
    assert one()['dir'] == '/var/lib/virtnet/dhcp/42'


@pytest.mark.parametrize('value', ['relative/dir', '', '/', None])
def test_bad_state_dir(value):
    errs = dhcp_namespace_plan([net()], state_dir=value)['errors']
    assert len(errs) == 1 and errs[0].startswith('dhcp_namespace_state_dir ')


RECORD42 = {'bridge': 'brq42', 'netns': 'qdhcp-42', 'tap': 'tap42', 'ns_dev': 'ns-42', 'daemon': 'dnsmasq-42',
            'uplink': ''}


def entry(key, **kw):
    out = dict((k, v.replace('42', key)) for k, v in RECORD42.items())
    out.update(kw)
    return out


def plan(*nets, **kw):
    res = dhcp_namespace_plan(list(nets), state_dir='/s', **kw)
    assert res['errors'] == []
    return res


def test_work_fresh_host_records_before_making():
    w = dhcp_namespace_work(plan(net(uplink='eth1')), None)
    assert w['record'] == {'42': entry('42', uplink='eth1')} == w['final']
    assert w['write'] is True and w['rewrite'] is False and w['remove'] == [] and w['release'] == {}
    assert w['plumbing'] == {
        'namespaces': [{'name': 'qdhcp-42'}],
        'bridges': [{'name': 'brq42', 'stp': False, 'forward_delay': 0, 'link_state': 'up', 'ports': ['eth1']}],
        'veths': [{'name': 'tap42', 'master': 'brq42', 'link_state': 'up', 'peer': 'ns-42', 'peer_netns': 'qdhcp-42',
                   'peer_link_state': 'up', 'recreate': True}],
        'addresses': [{'netns': 'qdhcp-42', 'dev': 'ns-42', 'address': ['10.42.0.1/24'], 'purge': True}]}


def test_work_gives_the_veth_pair_the_mtu_of_a_bridge_below_1500():
    nets = plan(net(), net(id='43', subnet='10.43.0.0/24', range_start='10.43.0.100', range_end='10.43.0.150'),
                net(id='44', subnet='10.44.0.0/24', range_start='10.44.0.100', range_end='10.44.0.150', uplink='eth4'),
                net(id='45', subnet='10.45.0.0/24', range_start='10.45.0.100', range_end='10.45.0.150'))
    w = dhcp_namespace_work(nets, None, bridge_mtus={'brq42': '1450', 'brq43': '1500', 'eth4': '1400', 'other': '900'})
    veths = dict((v['name'], v) for v in w['plumbing']['veths'])
    assert (veths['tap42']['mtu'], veths['tap42']['peer_mtu']) == (1450, 1450)     # a segment's bridge
    assert (veths['tap44']['mtu'], veths['tap44']['peer_mtu']) == (1400, 1400)     # no bridge yet; its uplink's
    for tap in ('tap43', 'tap45'):          # 1500, or no bridge yet: the kernel's (the next run declares the same)
        assert 'mtu' not in veths[tap] and 'peer_mtu' not in veths[tap]
    assert dhcp_namespace_work(nets, None)['plumbing']['veths'] == [
        dict((k, v) for k, v in veths[t].items() if k not in ('mtu', 'peer_mtu')) for t in ('tap42', 'tap43', 'tap44', 'tap45')]


def test_work_converged_host_writes_nothing():
    w = dhcp_namespace_work(plan(net()), {'42': entry('42')})
    assert (w['write'], w['rewrite'], w['remove'], w['release']) == (False, False, [], {})


def test_work_absent_and_purge_remove_only_recorded_networks():
    nets = plan(net(), {'id': '43', 'state': 'absent'}, {'id': '44', 'state': 'absent'})
    recorded = {'42': entry('42'), '43': entry('43'), '45': entry('45')}
    w = dhcp_namespace_work(nets, recorded)
    assert [e['id'] for e in w['remove']] == ['43'] and w['remove'][0]['dir'] == '/s/43'
    assert sorted(w['final']) == ['42', '45'] and w['record'] == recorded
    assert (w['write'], w['rewrite']) == (False, True)
    assert w['plumbing']['namespaces'] == [{'name': 'qdhcp-42'}, {'name': 'qdhcp-43', 'state': 'absent'}]
    assert w['plumbing']['bridges'][1:] == [{'name': 'brq43', 'state': 'absent'}]
    assert w['plumbing']['veths'][1:] == [{'name': 'tap43', 'state': 'absent'}]
    assert len(w['plumbing']['addresses']) == 1
    w = dhcp_namespace_work(nets, recorded, purge=True)
    assert [e['id'] for e in w['remove']] == ['43', '45'] and sorted(w['final']) == ['42']
    w = dhcp_namespace_work(plan(), recorded, purge=True)
    assert w['final'] == {} and len(w['remove']) == 3 and w['plumbing']['addresses'] == []


def test_work_removes_the_names_the_record_holds():
    w = dhcp_namespace_work(plan(), {'7': {'bridge': 'br-old', 'netns': 'ns-old'}}, purge=True)
    assert w['remove'] == [dict(entry('7'), bridge='br-old', netns='ns-old', id='7', dir='/s/7')]
    assert w['plumbing']['bridges'] == [{'name': 'br-old', 'state': 'absent'}]
    with pytest.raises(AnsibleFilterError, match='the record must map network ids to entries, not list'):
        dhcp_namespace_work(plan(), ['42'])


def test_work_keeps_an_old_uplink_recorded_until_it_is_released():
    w = dhcp_namespace_work(plan(net(uplink='eth2')), {'42': entry('42', uplink='eth1')})
    assert w['release'] == {'42': ['eth1']} and w['record']['42']['release'] == ['eth1']
    assert w['final']['42'] == entry('42', uplink='eth2') and w['write'] and w['rewrite']
    # a run killed before the release: the next one still releases eth1 (and eth2 stays)
    w = dhcp_namespace_work(plan(net(uplink='eth2')), w['record'])
    assert w['release'] == {'42': ['eth1']} and not w['write'] and w['rewrite']
    # the uplink dropped altogether
    w = dhcp_namespace_work(plan(net()), {'42': entry('42', uplink='eth1', release=['eth0'])})
    assert w['release'] == {'42': ['eth0', 'eth1']} and w['final']['42'] == entry('42')


CONTENTS = {'42': {'dnsmasq.conf': 'conf\n', 'hosts': 'h\n', 'opts': 'o\n', 'addn_hosts': 'a\n'}}
PLUMBING = {'namespaces': [{'name': 'qdhcp-42', 'changed': False, 'actions': []}],
            'veths': [{'name': 'tap42', 'link': {'name': 'tap42', 'peer_link': {'name': 'ns-42', 'ifindex': 2}}}]}


def test_daemons_own_their_files():
    p = plan(net(router='10.42.0.1'))
    w = dhcp_namespace_work(p, {})
    d, = dhcp_namespace_daemons(p, w, CONTENTS, PLUMBING, {'binary': '/bin/dnsmasq', 'user': 'dnsmasq', 'start_wait': 1})
    assert d == {
        'name': 'dnsmasq-42', 'state': 'started', 'netns': 'qdhcp-42',
        'argv': ['/bin/dnsmasq', '--keep-in-foreground', '--conf-file=/s/42/dnsmasq.conf'],
        'pidfile': '/s/42/daemon.pid', 'log_file': '/s/42/dnsmasq.log',
        'restart_key': 'server 10.42.0.2/24 on ns-42 (ifindex 2)',
        'read_as': 'dnsmasq', 'log_errors': ['cannot read', 'failed to load'], 'start_wait': 1,
        'directories': [{'path': '/s/42', 'mode': '0755'}],
        'files': [{'path': '/s/42/dnsmasq.conf', 'content': 'conf\n', 'mode': '0644', 'on_change': 'restart'},
                  {'path': '/s/42/hosts', 'content': 'h\n', 'mode': '0644', 'on_change': 'reload'},
                  {'path': '/s/42/opts', 'content': 'o\n', 'mode': '0644', 'on_change': 'reload'},
                  {'path': '/s/42/addn_hosts', 'content': 'a\n', 'mode': '0644', 'on_change': 'reload'}]}


def test_daemons_restart_key_follows_the_rebuilt_pair_and_the_address():
    p = plan(net())
    w = dhcp_namespace_work(p, {})
    rebuilt = {'veths': [{'link': {'name': 'tap42', 'peer_link': {'ifindex': 3}}}]}
    keys = [dhcp_namespace_daemons(p, w, CONTENTS, r)[0]['restart_key'] for r in (PLUMBING, rebuilt, {})]
    assert keys == ['server 10.42.0.1/24 on ns-42 (ifindex 2)', 'server 10.42.0.1/24 on ns-42 (ifindex 3)',
                    'server 10.42.0.1/24 on ns-42 (ifindex unknown)']
    p2 = plan(net(server_address='10.42.0.5'))
    assert dhcp_namespace_daemons(p2, w, CONTENTS, PLUMBING)[0]['restart_key'] == \
        'server 10.42.0.5/24 on ns-42 (ifindex 2)'
    assert dhcp_namespace_daemons(p, w, CONTENTS, PLUMBING)[0]['read_as'] == 'nobody'


def test_daemons_check_mode_leaves_out_namespaces_to_be_made():
    p = plan(net(), net(id='43', subnet='10.43.0.0/24', range_start='10.43.0.100', range_end='10.43.0.199'))
    w = dhcp_namespace_work(p, {})
    contents = dict(CONTENTS, **{'43': CONTENTS['42']})
    result = {'namespaces': [{'name': 'qdhcp-42', 'changed': True, 'actions': ['set lo up in netns qdhcp-42']},
                             {'name': 'qdhcp-43', 'changed': True, 'actions': ['create netns qdhcp-43']}]}
    names = [d['name'] for d in dhcp_namespace_daemons(p, w, contents, result, {'check_mode': True})]
    assert names == ['dnsmasq-42']
    names = [d['name'] for d in dhcp_namespace_daemons(p, w, contents, result, {'check_mode': False})]
    assert names == ['dnsmasq-42', 'dnsmasq-43']


def test_daemons_check_mode_predicts_a_restart_for_a_pair_to_be_made_again():
    p = plan(net())
    w = dhcp_namespace_work(p, {})
    again = {'veths': [{'name': 'tap42', 'actions': ['delete veth tap42', 'create veth tap42 with peer ns-42 in netns qdhcp-42'],
                        'link': {'name': 'tap42', 'peer_link': {'ifindex': 2}}}]}
    assert dhcp_namespace_daemons(p, w, CONTENTS, again, {'check_mode': True})[0]['restart_key'].endswith('(ifindex unknown)')
    assert dhcp_namespace_daemons(p, w, CONTENTS, again, {'check_mode': False})[0]['restart_key'].endswith('(ifindex 2)')


def test_daemons_of_removed_networks_go():
    p = plan()
    w = dhcp_namespace_work(p, {'43': entry('43')}, purge=True)
    assert dhcp_namespace_daemons(p, w, {}, {}) == [
        {'name': 'dnsmasq-43', 'state': 'absent', 'argv': ['/usr/sbin/dnsmasq', '--keep-in-foreground',
                                                           '--conf-file=/s/43/dnsmasq.conf'],
         'pidfile': '/s/43/daemon.pid', 'log_file': '/s/43/dnsmasq.log'}]


def test_daemons_need_every_file():
    p = plan(net())
    with pytest.raises(AnsibleFilterError, match='no rendered files for network 42'):
        dhcp_namespace_daemons(p, dhcp_namespace_work(p, {}), {'42': {'hosts': ''}}, PLUMBING)


def test_releases():
    p = plan(net(uplink='eth2'))
    w = dhcp_namespace_work(p, {'42': entry('42', uplink='eth1')})
    bridges = {'bridges': [{'name': 'brq42', 'link': {'name': 'brq42', 'ports': ['tap42', 'eth1', 'eth2', 'vm1']}}]}
    assert dhcp_namespace_releases(w, bridges) == [{'name': 'brq42', 'ports': ['tap42', 'eth2', 'vm1'],
                                                    'purge_ports': True}]
    gone = {'bridges': [{'name': 'brq42', 'link': {'name': 'brq42', 'ports': ['tap42', 'eth2']}}]}
    assert dhcp_namespace_releases(w, gone) == []
    assert dhcp_namespace_releases(w, {'skipped': True}) == []
    assert dhcp_namespace_releases(dhcp_namespace_work(p, {'42': entry('42', uplink='eth2')}), bridges) == []
    assert set(FilterModule().filters()) == {'dhcp_namespace_plan', 'dhcp_namespace_work', 'dhcp_namespace_daemons',
                                             'dhcp_namespace_releases', 'dhcp_namespace_nodes'}


# ---- DHCP nodes, server_address as a list, mtu ----------------------------------------------------------------
PAIR = ['net1', 'net2']
INVENTORY = ['net1', 'net2', 'cmp1']


def node(host, **kw):
    res = dhcp_namespace_plan([net(router='10.42.0.1', dhcp_nodes=PAIR, **kw)], host=host, inventory=INVENTORY)
    assert res['errors'] == []
    return res['networks'][0]


def test_a_single_node_serves_the_whole_range_as_before():
    n = one()
    assert n['dhcp_nodes'] == [None] and n['served'] is True
    assert (n['share_start'], n['share_end']) == ('10.42.0.100', '10.42.0.199')
    assert n['peers'] == [] and n['foreign'] == [] and n['mtu'] is None
    assert dhcp_namespace_plan([net(dhcp_nodes=['net1'])], host='net1')['networks'][0]['share_end'] == '10.42.0.199'


def test_the_range_is_split_into_equal_contiguous_shares_in_node_order():
    one_, two = node('net1'), node('net2')
    assert one_['shares'] == two['shares'] == [['10.42.0.100', '10.42.0.149'], ['10.42.0.150', '10.42.0.199']]
    assert (one_['share_start'], one_['share_end'], two['share_start'], two['share_end']) == \
        ('10.42.0.100', '10.42.0.149', '10.42.0.150', '10.42.0.199')
    assert one_['foreign'] == ['10.42.0.%d' % i for i in range(150, 200)]
    assert two['foreign'] == ['10.42.0.%d' % i for i in range(100, 150)]
    three = dhcp_namespace_plan([net(range_end='10.42.0.109', dhcp_nodes=['a', 'b', 'c'])], host='c')['networks'][0]
    assert three['shares'] == [['10.42.0.100', '10.42.0.102'], ['10.42.0.103', '10.42.0.105'], ['10.42.0.106', '10.42.0.109']]


def test_default_server_addresses_one_per_node_skipping_the_router():
    one_, two = node('net1'), node('net2')
    assert one_['server_addresses'] == two['server_addresses'] == ['10.42.0.2', '10.42.0.3']
    assert (one_['server_cidr'], two['server_cidr']) == ('10.42.0.2/24', '10.42.0.3/24')
    assert (one_['peers'], two['peers']) == (['10.42.0.3'], ['10.42.0.2'])
    assert one_['dns_servers'] == ['10.42.0.2', '10.42.0.3']


def test_server_address_list_in_node_order_and_a_scalar_for_one_node():
    assert node('net2', server_address=['10.42.0.5', '10.42.0.6'])['server_address'] == '10.42.0.6'
    assert one(server_address='10.42.0.7')['server_addresses'] == ['10.42.0.7']
    assert one(server_address=['10.42.0.7'])['server_address'] == '10.42.0.7'


def test_a_host_not_in_dhcp_nodes_plans_the_network_absent():
    res = dhcp_namespace_plan([net(dhcp_nodes=PAIR)], host='cmp1', inventory=INVENTORY)
    assert res['errors'] == [] and res['present'] == [] and res['absent_ids'] == ['42']
    assert res['networks'][0]['served'] is False


@pytest.mark.parametrize('kw,message', [
    (dict(dhcp_nodes=['net1', 'nohost']), 'network 42: dhcp_nodes: host nohost is not in the inventory'),
    (dict(dhcp_nodes=['net1', 'net1']), 'network 42: dhcp_nodes: host net1 is listed twice'),
    (dict(dhcp_nodes='net1'), 'network 42: dhcp_nodes must be a list of inventory host names'),
    (dict(dhcp_nodes=PAIR, server_address='10.42.0.5'), 'network 42: server_address has 1 address(es) for 2 dhcp_nodes'),
    (dict(dhcp_nodes=PAIR, server_address=['10.42.0.5', '10.43.0.5']),
     'network 42: server_address 10.43.0.5 is not a host address of subnet 10.42.0.0/24'),
    (dict(dhcp_nodes=PAIR, router='10.42.0.1', server_address=['10.42.0.1', '10.42.0.5']),
     "network 42: server_address 10.42.0.1 is the router's address"),
    (dict(dhcp_nodes=PAIR, server_address=['10.42.0.5', '10.42.0.5']), 'network 42: server_address 10.42.0.5 is given twice'),
    (dict(dhcp_nodes=PAIR, server_address=['10.42.0.5', '10.42.0.150']), 'network 42: server_address 10.42.0.150 is inside the dynamic range'),
    (dict(dhcp_nodes=PAIR, range_end='10.42.0.100'), 'network 42: the range 10.42.0.100 - 10.42.0.100 has 1 address(es) for 2 dhcp_nodes'),
    (dict(dhcp_nodes=PAIR, hosts=[{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.2'}]),
     "network 42: host 52:54:00:00:42:10: ip 10.42.0.2 is the server's address"),
    (dict(mtu=40), 'network 42: mtu 40 must be a number from 68 to 65535'),
    (dict(mtu='big'), "network 42: mtu 'big' must be a number from 68 to 65535"),
    (dict(mtu=True), 'network 42: mtu True must be a number from 68 to 65535'),
], ids=['not-in-inventory', 'twice', 'not-a-list', 'wrong-length', 'outside', 'router', 'duplicate', 'in-range',
        'range-too-small', 'host-on-a-server', 'mtu-low', 'mtu-text', 'mtu-bool'])
def test_bad_dhcp_nodes_server_addresses_and_mtu_are_refused_naming_the_network(kw, message):
    got = errors(net(**kw), host='net1', inventory=INVENTORY)
    assert any(message in e for e in got), got


def test_mtu_is_kept_as_a_number():
    assert one(mtu='1450')['mtu'] == 1450 and one(mtu=9000)['mtu'] == 9000


def plan_of(host, **kw):
    return dhcp_namespace_plan([net(dhcp_nodes=PAIR, **kw)], host=host, inventory=INVENTORY)


def test_nodes_that_agree_have_no_problem_from_the_play_or_the_inventory():
    mine = plan_of('net1', hosts=[{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.10'}])
    other = plan_of('net2', hosts=[{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.10'}])
    assert dhcp_namespace_nodes(mine, {'net2': {'__dhcp_namespace_plan': other}}, 'net1') == []
    raw = [net(dhcp_nodes=PAIR, hosts=[{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.10'}])]
    assert dhcp_namespace_nodes(mine, {'net2': {'dhcp_namespace_networks': raw}}, 'net1') == []


def test_a_node_that_declares_it_differently_is_named_with_the_difference():
    mine = plan_of('net1')
    other = plan_of('net2', range_end='10.42.0.189')
    assert dhcp_namespace_nodes(mine, {'net2': {'__dhcp_namespace_plan': other}}, 'net1') == [
        'network 42: host net2 (in dhcp_nodes) declares it differently: range_end 10.42.0.189 there, 10.42.0.199 here']
    other = plan_of('net2', hosts=[{'mac': '52:54:00:00:42:10', 'ip': '10.42.0.10'}])
    assert 'hosts [52:54:00:00:42:10 10.42.0.10] there, [] here' in \
        dhcp_namespace_nodes(mine, {'net2': {'__dhcp_namespace_plan': other}}, 'net1')[0]


@pytest.mark.parametrize('hostvars', [{'net2': {}}, {'net2': {'dhcp_namespace_networks': []}}, {},
                                      {'net2': {'__dhcp_namespace_plan': {'networks': [dict(net(), state='absent')]}}}],
                         ids=['no-vars', 'other-networks', 'unknown', 'absent-there'])
def test_a_node_that_does_not_declare_it_is_named(hostvars):
    assert dhcp_namespace_nodes(plan_of('net1'), hostvars, 'net1') == [
        'network 42: host net2 is in dhcp_nodes but does not declare network 42 (present, with itself in dhcp_nodes)']


def test_a_node_whose_networks_are_invalid_is_named():
    got = dhcp_namespace_nodes(plan_of('net1'), {'net2': {'dhcp_namespace_networks': [net(subnet='bad')]}}, 'net1')
    assert len(got) == 1 and got[0].startswith('network 42: host net2 (in dhcp_nodes): its dhcp_namespace_networks are invalid')
