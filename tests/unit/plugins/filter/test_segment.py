# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the segment role's filters: every check and message, the members and flood entries, and the
plumbing (what is made, what goes) from a host's links."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.virtnet.linux.plugins.filter.segment import (
    MARK,
    FilterModule,
    segment_host,
    segment_plan,
)

ADDR = {'net1': '10.88.0.11', 'cmp1': '10.88.0.12', 'cmp2': '10.88.0.13', 'out1': '10.88.0.14'}
N42 = {'id': '42', 'vni': 42}
N43 = {'id': '43', 'vni': 43}


def links(host, mtu=1500, extra=()):
    """A host's own namespace: lo, eth0 carrying its address, and EXTRA links."""
    return [{'name': 'lo', 'kind': None, 'mtu': 65536, 'addresses': ['127.0.0.1/8'], 'alias': ''},
            {'name': 'eth0', 'kind': 'veth', 'mtu': mtu, 'addresses': [ADDR[host] + '/24'], 'alias': ''}] + list(extra)


def export(host, nets, mtu=1500):
    return segment_host(nets, host, links(host, mtu), ADDR[host], strict=False)


def fleet(decl, play=None):
    """hostvars of a play whose hosts (all of DECL's unless PLAY) exported their networks, plus out1 (not
    in the play, without networks unless DECL says) - as the role leaves them before segment_plan."""
    play = list(decl) if play is None else play
    hv = dict((h, {'ansible_host': ADDR[h]}) for h in ADDR)
    for h, nets in decl.items():
        if h in play:
            hv[h]['__segment_host'] = export(h, nets)
        else:
            hv[h]['segment_networks'] = nets
    return hv, play


def plan(host, decl, play=None, host_links=None, purge=False, strict=True):
    hv, play = fleet(decl, play)
    own = hv[host].get('__segment_host') or export(host, decl.get(host, []))
    return segment_plan(own, host, hv, host_links if host_links is not None else links(host),
                        purge=purge, strict=strict)


def errors_of(host, decl, **kw):
    return plan(host, decl, strict=False, **kw)['errors']


# ---- segment_host ---------------------------------------------------------------------------------------
def test_host_completes_a_network_from_its_underlay():
    out = export('net1', [N42])
    assert out['errors'] == []
    assert out['networks'] == [{'id': '42', 'state': 'present', 'bridge': 'brq42', 'vni': 42, 'vxlan': 'vxlan-42',
                                'port': 4789, 'hosts': None, 'local': '10.88.0.11', 'mtu': 1450, 'dev': 'eth0'}]


def test_host_mtu_follows_the_underlay_and_may_be_lower():
    assert export('net1', [N42], mtu=9000)['networks'][0]['mtu'] == 8950
    assert export('net1', [dict(N42, mtu=1400)])['networks'][0]['mtu'] == 1400


def test_host_keeps_absent_networks_without_underlay():
    out = export('net1', [{'id': '42', 'state': 'absent'}])
    assert out['networks'] == [{'id': '42', 'state': 'absent', 'bridge': 'brq42', 'vni': None, 'vxlan': None}]


@pytest.mark.parametrize('nets, message', [
    ([dict(N42, vni=0)], 'network 42 (on net1): vni 0 is not a VXLAN id (1 to 16777215)'),
    ([dict(N42, vni=16777216)], 'network 42 (on net1): vni 16777216 is not a VXLAN id (1 to 16777215)'),
    ([dict(N42, vni=True)], 'network 42 (on net1): vni True is not a VXLAN id'),
    ([{'id': '42'}], 'network 42 (on net1): vni is required'),
    ([{'vni': 42}], 'segment_networks[0] (on net1): id is required'),
    (['42'], 'segment_networks[0] (on net1): must be a mapping, not str'),
    ([dict(N42, id='Net_42')], "network Net_42 (on net1): id 'Net_42' must be 1 to 11 characters of a-z, 0-9 and -"),
    ([dict(N42, id='a23456789012')], "id 'a23456789012' must be 1 to 11 characters"),
    ([dict(N42, state='gone')], "network 42 (on net1): state must be present or absent, not 'gone'"),
    ([dict(N42, colour='red')], 'network 42 (on net1): unknown key(s) colour'),
    ([dict(N42, port=0)], 'network 42 (on net1): port 0 is not a UDP port (1 to 65535)'),
    ([dict(N42, hosts='net1')], "network 42 (on net1): hosts must be a list of inventory host names, not 'net1'"),
    ([dict(N42, local='net1.example')], "network 42 (on net1): the underlay address 'net1.example' (local) is not "
                                        "an IP address"),
    ([dict(N42, local='239.1.1.1')], 'network 42 (on net1): the underlay address 239.1.1.1 (local) must be a unicast'),
    ([dict(N42, local='10.88.0.99')], 'network 42 (on net1): the underlay address 10.88.0.99 is not an address of '
                                      'any link of net1 (set local to one)'),
    ([dict(N42, mtu=1451)], "network 42 (on net1): mtu 1451 is above 1450, the underlay eth0's MTU 1500 minus 50"),
    ([dict(N42, mtu=60)], 'network 42 (on net1): mtu 60 is not an MTU (68 or more)'),
    ([N42, dict(N42, vni=44)], 'network 42 (on net1): listed twice'),
    ([N42, dict(N43, vni=42)], "network 43 (on net1): vni 42 is also network 42's on this host"),
])
def test_host_refuses_naming_the_network(nets, message):
    out = segment_host(nets, 'net1', links('net1'), ADDR['net1'], strict=False)
    assert any(message in e for e in out['errors']), out['errors']
    with pytest.raises(AnsibleFilterError, match='network|segment_networks'):
        segment_host(nets, 'net1', links('net1'), ADDR['net1'])


def test_host_without_an_ip_ansible_host_is_told_to_set_local():
    out = segment_host([N42], 'net1', links('net1'), 'net1.example', strict=False)
    assert out['errors'] == ["network 42 (on net1): the underlay address 'net1.example' (ansible_host) is not an "
                             "IP address; set local"]


def test_host_refuses_a_list_that_is_not_one():
    with pytest.raises(AnsibleFilterError, match='must be a list of networks, not dict'):
        segment_host({'id': '42'}, 'net1')


# ---- segment_plan: members and peers --------------------------------------------------------------------
def test_default_members_are_every_declaring_host():
    decl = {'net1': [N42, N43], 'cmp1': [N42], 'cmp2': [N42, N43]}
    out = plan('net1', decl)
    assert out['members'] == {'42': ['cmp1', 'cmp2', 'net1'], '43': ['cmp2', 'net1']}
    peers = [(n['id'], n['peers']) for n in out['networks']]
    assert peers == [('42', ['10.88.0.12', '10.88.0.13']), ('43', ['10.88.0.13'])]


def test_hosts_outside_the_play_are_read_from_the_inventory():
    decl = {'net1': [N42], 'cmp1': [N42], 'out1': [dict(N42, local='10.88.0.99')]}
    out = plan('net1', decl, play=['net1', 'cmp1'])
    assert out['networks'][0]['peers'] == ['10.88.0.12', '10.88.0.99']


def test_an_export_of_an_earlier_play_wins_over_the_inventory():
    # cmp1's role ran in an earlier play with its networks as play variables; its inventory says nothing
    decl = {'net1': [N42], 'cmp1': [dict(N42, local='10.88.0.12')]}
    hv, _play = fleet(decl)
    hv['cmp1']['segment_networks'] = [dict(N42, state='absent')]
    out = segment_plan(hv['net1']['__segment_host'], 'net1', hv, links('net1'))
    assert out['networks'][0]['peers'] == ['10.88.0.12']


def test_explicit_hosts_and_a_host_dropped_from_them():
    hosts = ['net1', 'cmp1', 'cmp2']
    decl = {'net1': [dict(N42, hosts=hosts)], 'cmp1': [dict(N42, hosts=hosts)], 'cmp2': [dict(N42, hosts=hosts)]}
    assert plan('net1', decl)['networks'][0]['peers'] == ['10.88.0.12', '10.88.0.13']
    hosts = ['net1', 'cmp1']
    decl = {'net1': [dict(N42, hosts=hosts)], 'cmp1': [dict(N42, hosts=hosts)], 'cmp2': [{'id': '42', 'state': 'absent'}]}
    assert plan('net1', decl)['networks'][0]['peers'] == ['10.88.0.12']


def test_an_absent_host_is_no_member_even_when_listed():
    hosts = ['net1', 'cmp1', 'cmp2']
    decl = {'net1': [dict(N42, hosts=hosts)], 'cmp1': [dict(N42, hosts=hosts)], 'cmp2': [{'id': '42', 'state': 'absent'}]}
    assert plan('net1', decl)['networks'][0]['peers'] == ['10.88.0.12']


CROSS = [
    ('vni', {'net1': [N42], 'cmp1': [dict(N42, vni=43)]},
     'network 42: vni 43 on cmp1 but 42 on net1 (the same on every host of the network)'),
    ('port', {'net1': [N42], 'cmp1': [dict(N42, port=8472)]}, 'network 42: port 8472 on cmp1 but 4789 on net1'),
    ('hosts', {'net1': [dict(N42, hosts=['net1', 'cmp1'])], 'cmp1': [N42]},
     'network 42: hosts default (every host that declares it) on cmp1 but [cmp1, net1] on net1'),
    ('one-vni', {'net1': [N42], 'cmp1': [dict(N43, vni=42)]},
     'vni 42 is used by network 42 (on net1) and network 43 (on cmp1): one VNI, one network'),
    ('not-in-inventory', {'net1': [dict(N42, hosts=['net1', 'vpn9'])]},
     'network 42 (on net1): host vpn9 in hosts is not in the inventory'),
    ('missing-from-hosts', {'net1': [dict(N42, hosts=['net1'])], 'cmp1': [dict(N42, hosts=['net1'])]},
     'network 42: cmp1 declares it but is not in its hosts list (net1)'),
    ('same-address', {'net1': [N42], 'cmp1': [dict(N42, local='10.88.0.11')]},
     'network 42: net1 and cmp1 have the same underlay address 10.88.0.11'),
    ('family', {'net1': [N42], 'out1': [dict(N42, local='fd00::1')]},
     "network 42: the underlay address fd00::1 of out1 is not of the family of net1's (10.88.0.11)"),
]


@pytest.mark.parametrize('decl, message', [c[1:] for c in CROSS], ids=[c[0] for c in CROSS])
def test_plan_refuses_across_hosts_naming_the_network(decl, message):
    hv, _play = fleet(decl, [h for h in decl if h != 'out1'])
    for h in ('cmp1',):                 # cmp1's own check passes (its local is not on its links in same-address)
        if h in decl and 'local' in decl[h][0]:
            hv[h]['__segment_host'] = segment_host(decl[h], h, links(h, extra=[
                {'name': 'eth1', 'kind': 'veth', 'mtu': 1500, 'addresses': [decl[h][0]['local'] + '/24']}]), ADDR[h])
    out = segment_plan(hv['net1']['__segment_host'], 'net1', hv, links('net1'), strict=False)
    assert any(message in e for e in out['errors']), out['errors']
    with pytest.raises(AnsibleFilterError, match='network|vni'):
        segment_plan(hv['net1']['__segment_host'], 'net1', hv, links('net1'))


def test_plan_refuses_a_peer_without_an_ip_address():
    hv, _play = fleet({'net1': [N42]})
    hv['out1'] = {'ansible_host': 'out1.example', 'segment_networks': [N42]}
    out = segment_plan(hv['net1']['__segment_host'], 'net1', hv, links('net1'), strict=False)
    assert "network 42 (on out1): the underlay address 'out1.example' (ansible_host) is not an IP address; set local" \
        in out['errors']


def test_plan_refuses_a_listed_peer_without_an_ip_address():
    hv, _play = fleet({'net1': [dict(N42, hosts=['net1', 'out1'])]})
    hv['out1'] = {'ansible_host': 'out1.example'}
    out = segment_plan(hv['net1']['__segment_host'], 'net1', hv, links('net1'), strict=False)
    assert out['errors'] == ["network 42: the underlay address 'out1.example' of out1 is not an IP address (set its local)"]


def test_plan_needs_segment_hosts_result():
    with pytest.raises(AnsibleFilterError, match='segment_host'):
        segment_plan([N42])


# ---- segment_plan: the plumbing -------------------------------------------------------------------------
def vxlan(name, net_id, master='', ports=None):
    return {'name': name, 'kind': 'vxlan', 'mtu': 1450, 'addresses': [], 'master': master,
            'alias': MARK + net_id if net_id else ''}


def bridge(name, net_id, ports):
    return {'name': name, 'kind': 'bridge', 'mtu': 1450, 'addresses': [], 'alias': MARK + net_id if net_id else '',
            'bridge': {'ports': ports}}


def test_plumbing_of_a_new_network_marks_bridge_and_device():
    out = plan('net1', {'net1': [N42], 'cmp1': [N42]})
    assert out['plumbing'] == {
        'bridges': [{'name': 'brq42', 'stp': False, 'forward_delay': 0, 'link_state': 'up', 'mtu': 1450,
                     'alias': MARK + '42'}],
        'vxlans': [{'name': 'vxlan-42', 'vni': 42, 'local': '10.88.0.11', 'dev': 'eth0', 'port': 4789,
                    'peers': ['10.88.0.12'], 'mtu': 1450, 'master': 'brq42', 'link_state': 'up', 'alias': MARK + '42'}]}
    assert out['work'] and out['removed'] == []


def test_plumbing_leaves_a_bridge_it_did_not_make_unmarked():
    out = plan('net1', {'net1': [N42]}, host_links=links('net1', extra=[bridge('brq42', None, ['tap42'])]))
    assert 'alias' not in out['plumbing']['bridges'][0]


def test_plumbing_removes_an_absent_network_and_its_bridge():
    have = [bridge('brq42', '42', ['vxlan-42']), vxlan('vxlan-42', '42', 'brq42')]
    out = plan('net1', {'net1': [{'id': '42', 'state': 'absent'}]}, host_links=links('net1', extra=have))
    assert out['plumbing'] == {'bridges': [{'name': 'brq42', 'state': 'absent'}],
                               'vxlans': [{'name': 'vxlan-42', 'state': 'absent'}]}
    assert out['removed'] == ['42']


def test_plumbing_keeps_a_bridge_with_other_ports():
    have = [bridge('brq42', '42', ['tap42', 'vxlan-42']), vxlan('vxlan-42', '42', 'brq42')]
    out = plan('net1', {'net1': [{'id': '42', 'state': 'absent'}]}, host_links=links('net1', extra=have))
    assert out['plumbing'] == {'bridges': [], 'vxlans': [{'name': 'vxlan-42', 'state': 'absent'}]}


def test_plumbing_removes_an_absent_networks_device_whoever_made_it():
    have = [vxlan('vxlan-42', None)]
    out = plan('net1', {'net1': [{'id': '42', 'vni': 42, 'state': 'absent'}]}, host_links=links('net1', extra=have))
    assert out['plumbing'] == {'bridges': [], 'vxlans': [{'name': 'vxlan-42', 'state': 'absent'}]}


def test_plumbing_purges_only_with_purge_and_only_the_roles_devices():
    have = [bridge('brq43', '43', ['vxlan-43']), vxlan('vxlan-43', '43', 'brq43'), vxlan('vx-other', None),
            bridge('brq44', None, [])]
    kept = plan('net1', {'net1': [N42]}, host_links=links('net1', extra=have))
    assert [e for e in kept['plumbing']['vxlans'] if e.get('state') == 'absent'] == []
    purged = plan('net1', {'net1': [N42]}, host_links=links('net1', extra=have), purge=True)
    assert purged['plumbing']['bridges'][0] == {'name': 'brq43', 'state': 'absent'}
    assert purged['plumbing']['vxlans'][0] == {'name': 'vxlan-43', 'state': 'absent'}
    assert purged['removed'] == ['43']


def test_plumbing_replaces_the_device_of_a_changed_vni():
    have = [bridge('brq42', '42', ['vxlan-42']), vxlan('vxlan-42', '42', 'brq42')]
    out = plan('net1', {'net1': [dict(N42, vni=4242)]}, host_links=links('net1', extra=have))
    assert out['plumbing']['vxlans'][0] == {'name': 'vxlan-42', 'state': 'absent'}
    assert out['plumbing']['vxlans'][1]['name'] == 'vxlan-4242'
    assert out['plumbing']['bridges'][0]['alias'] == MARK + '42'
    assert out['removed'] == []


def test_nothing_to_do_without_networks():
    out = plan('net1', {'net1': []})
    assert not out['work'] and out['plumbing'] == {'bridges': [], 'vxlans': []}


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'segment_host', 'segment_plan'}
