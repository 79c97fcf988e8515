# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of the bridge module: unit conversion, validation, port planning (no kernel involved)."""

from __future__ import annotations

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._spec import bridge


@pytest.mark.parametrize('seconds, cs', [
    (15, 1500), (15.0, 1500), (4, 400), (4.01, 401), (4.1, 410), (0.29, 29), (0.015, 2),
    (0, 0), (300, 30000), (2.005, 201), (42949672.95, 4294967295),
])
def test_seconds_to_centiseconds(seconds, cs):
    assert bridge.seconds_to_cs(seconds) == cs


@pytest.mark.parametrize('cs, seconds', [(1500, 15.0), (401, 4.01), (30000, 300.0), (0, 0.0), (None, None)])
def test_centiseconds_to_seconds(cs, seconds):
    assert bridge.cs_to_seconds(cs) == seconds


def test_round_trip_is_exact_for_kernel_values():
    for cs in range(0, 5000):
        assert bridge.seconds_to_cs(bridge.cs_to_seconds(cs)) == cs


@pytest.mark.parametrize('wanted, current, equal', [
    (15, 1500, True),
    (4.01, 400, True),      # HZ=250: 401 cs is stored as 100.25 jiffies and read back as 400
    (4.03, 402, True),
    (4.02, 400, False),
    (4, 401, True),
    (15, 1400, False),
    (15, None, False),
])
def test_timer_equal_allows_jiffies_rounding(wanted, current, equal):
    assert bridge.timer_equal(wanted, current) is equal


def test_option_equal_per_type():
    assert bridge.option_equal('stp', True, 1)
    assert bridge.option_equal('stp', True, 2)      # user-space STP counts as on
    assert bridge.option_equal('stp', False, 0)
    assert not bridge.option_equal('stp', False, 1)
    assert bridge.option_equal('priority', 4096, 4096)
    assert not bridge.option_equal('priority', 4096, 32768)
    assert bridge.option_equal('forward_delay', 4, 400)
    assert not bridge.option_equal('vlan_filtering', True, 0)
    assert not bridge.option_equal('mcast_querier', False, None)


def test_from_kernel_and_normalise():
    assert bridge.from_kernel('stp', 2) is True
    assert bridge.from_kernel('forward_delay', 1500) == 15.0
    assert bridge.from_kernel('priority', 32768) == 32768
    assert bridge.normalise('forward_delay', 4.004) == 4.0
    assert bridge.normalise('mcast_snooping', 0) is False
    assert bridge.to_kernel('mcast_snooping', True) == 1


def _item(**kw):
    item = dict((k, None) for k in bridge.KEYS)
    item.update(name='br0', netns='', state='present', purge_ports=False)
    item.update(kw)
    return item


def test_validate_accepts_good_options():
    assert bridge.validate_bridge(_item(stp=True, forward_delay=4, hello_time=1, max_age=40, ageing_time=0,
                                        priority=0, group_fwd_mask=8, ports=['p1', 'p2'])) == []
    assert bridge.validate_bridge(_item(forward_delay=0.5)) == []     # STP off: any forward delay


@pytest.mark.parametrize('kw, text', [
    (dict(priority=65536), 'priority 65536 of bridge br0 in the default netns out of range (0..65535)'),
    (dict(priority=-1), 'priority -1 of bridge br0'),
    (dict(hello_time=0.5), 'hello_time 0.5 of bridge br0 in the default netns out of range (1..10 seconds)'),
    (dict(hello_time=10.01), 'hello_time 10.01'),
    (dict(max_age=5), 'max_age 5 of bridge br0 in the default netns out of range (6..40 seconds)'),
    (dict(max_age=41), 'max_age 41'),
    (dict(stp=True, forward_delay=1), 'forward_delay 1 of bridge br0 in the default netns out of range while STP is on'),
    (dict(stp=True, forward_delay=31), '(2..30 seconds)'),
    (dict(forward_delay=-1), 'forward_delay -1'),
    (dict(ageing_time=50000000), 'ageing_time 50000000'),
    (dict(group_fwd_mask=1), 'bits 0, 1 and 2'),
    (dict(group_fwd_mask=70000), 'group_fwd_mask 70000'),
    (dict(ports=['br0']), 'bridge br0 in the default netns cannot be a port of itself'),
    (dict(ports=['p1', 'p1']), 'port p1 listed twice'),
    (dict(ports=['a' * 16]), 'longer than 15'),
    (dict(purge_ports=True), 'purge_ports of bridge br0 in the default netns needs ports'),
    (dict(netns='blue', priority=70000), 'of bridge br0 in netns blue'),
])
def test_validate_refuses_bad_options(kw, text):
    errors = bridge.validate_bridge(_item(**kw))
    assert len(errors) == 1
    assert text in errors[0]


def test_timer_errors_depend_on_stp():
    assert bridge.timer_errors(_item(forward_delay=1), stp_on=False) == []
    assert bridge.timer_errors(_item(forward_delay=1), stp_on=True)
    assert bridge.timer_errors(_item(forward_delay=2), stp_on=True) == []
    assert bridge.timer_errors(_item(forward_delay=30), stp_on=True) == []


@pytest.mark.parametrize('wanted, current, purge, to_add, to_release', [
    (None, ['a'], True, [], []),                       # ports unmanaged
    (['a', 'b'], [], False, ['a', 'b'], []),
    (['b', 'a'], ['a'], False, ['b'], []),
    (['a'], ['a', 'c', 'b'], False, [], []),           # extra ports kept without purge
    (['a'], ['a', 'c', 'b'], True, [], ['b', 'c']),
    ([], ['a', 'b'], True, [], ['a', 'b']),
    ([], ['a'], False, [], []),
    (['x', 'a'], ['a', 'y'], True, ['x'], ['y']),
])
def test_plan_ports(wanted, current, purge, to_add, to_release):
    assert bridge.plan_ports(wanted, current, purge) == (to_add, to_release)


def test_ports_after():
    assert bridge.ports_after(['a', 'y'], ['x'], ['y']) == ['a', 'x']
    assert bridge.ports_after([], [], []) == []


def test_split_stp_turns_stp_off_first():
    assert bridge.split_stp({}) == []
    assert bridge.split_stp({'br_stp_state': 0}) == [{'br_stp_state': 0}]
    assert bridge.split_stp({'br_stp_state': 0, 'br_forward_delay': 100}) == [
        {'br_stp_state': 0}, {'br_forward_delay': 100}]
    # turning STP on: one request, the kernel applies the timers before stp_state
    assert bridge.split_stp({'br_stp_state': 1, 'br_forward_delay': 400}) == [
        {'br_stp_state': 1, 'br_forward_delay': 400}]


def test_describe():
    assert bridge.describe({'stp': True, 'forward_delay': 4.0}) == 'forward_delay=4.0, stp=True'


def test_predict_fills_kernel_defaults():
    kind = bridge.BridgeKind()
    out = kind.predict(_item(stp=True, forward_delay=4.001, ports=['p2', 'p1'], mtu=1400),
                       {'name': 'br0', 'netns': '', 'kind': 'bridge'})
    assert out['stp'] is True
    assert out['forward_delay'] == 4.0
    assert out['hello_time'] == 2.0 and out['ageing_time'] == 300.0 and out['priority'] == 32768
    assert out['ports'] == ['p1', 'p2']
    assert out['mtu'] == 1400
    assert 'purge_ports' not in out


def test_predict_update_clamps_forward_delay_when_stp_turns_on():
    from ansible_collections.virtnet.linux.plugins.module_utils._engine import Differences
    kind = bridge.BridgeKind()
    diffs = Differences()
    diffs.add('stp', False, True)
    after = kind.predict_update(_item(stp=True), {'stp': False, 'forward_delay': 0.5}, diffs)
    assert after == {'stp': True, 'forward_delay': 2.0}


# --------------------------------------------------------------------------- compare, with the kernel faked

class _Ctx(object):
    check_mode = False

    def ipr(self, netns=None):
        return None


def _fake_links(monkeypatch, links):
    """links: {name: link dict}; read_link(ifname=) and read_link(index=) answer from it."""
    def read_link(ctx, netns, ifname=None, index=None, need_data=True):
        for link in links.values():
            if (ifname is not None and link['ifname'] == ifname) or (index is not None and link['index'] == index):
                return link
        return None
    monkeypatch.setattr(bridge, 'read_link', read_link)


def _bridge_link(**data):
    info = {'IFLA_BR_STP_STATE': 0, 'IFLA_BR_FORWARD_DELAY': 1500, 'IFLA_BR_HELLO_TIME': 200,
            'IFLA_BR_MAX_AGE': 2000, 'IFLA_BR_AGEING_TIME': 30000, 'IFLA_BR_PRIORITY': 32768,
            'IFLA_BR_MCAST_SNOOPING': 1, 'IFLA_BR_MCAST_QUERIER': 0, 'IFLA_BR_GROUP_FWD_MASK': 0,
            'IFLA_BR_VLAN_FILTERING': 0}
    info.update(data)
    return {'ifname': 'br0', 'index': 5, 'kind': 'bridge', 'master_index': None, 'info_data': info}


def _compare(monkeypatch, item, link, ports=()):
    from ansible_collections.virtnet.linux.plugins.module_utils._engine import Differences
    monkeypatch.setattr(bridge, 'read_ports', lambda ipr, index, netns: dict((p, 0) for p in ports))
    kind = bridge.BridgeKind()
    view = kind.view(_Ctx(), item, link)
    diffs = Differences()
    kind.compare(_Ctx(), item, link, view, diffs)
    return view, diffs


def test_view_converts_units(monkeypatch):
    view, _diffs = _compare(monkeypatch, _item(), _bridge_link(IFLA_BR_STP_STATE=2), ports=['b', 'a'])
    assert view['stp'] is True
    assert view['forward_delay'] == 15.0 and view['ageing_time'] == 300.0
    assert view['mcast_snooping'] is True and view['vlan_filtering'] is False
    assert view['ports'] == ['a', 'b']


def test_compare_timers_with_rounding(monkeypatch):
    _view, diffs = _compare(monkeypatch, _item(forward_delay=4.01), _bridge_link(IFLA_BR_FORWARD_DELAY=400))
    assert diffs.empty
    _view, diffs = _compare(monkeypatch, _item(forward_delay=5), _bridge_link(IFLA_BR_FORWARD_DELAY=400))
    assert diffs.before_after() == ({'forward_delay': 4.0}, {'forward_delay': 5.0})


def test_compare_forward_delay_against_current_stp(monkeypatch):
    with pytest.raises(bridge.VirtnetError, match='forward_delay 1 of bridge br0 .* while STP is on'):
        _compare(monkeypatch, _item(forward_delay=1), _bridge_link(IFLA_BR_STP_STATE=1))
    _view, diffs = _compare(monkeypatch, _item(forward_delay=1, stp=False), _bridge_link(IFLA_BR_STP_STATE=1))
    assert sorted(diffs.keys()) == ['forward_delay', 'stp']


def test_vlan_filtering_without_kernel_support(monkeypatch):
    _view, diffs = _compare(monkeypatch, _item(vlan_filtering=False), _bridge_link())
    assert diffs.empty
    with pytest.raises(bridge.VirtnetError, match='vlan_filtering is not supported by this kernel'):
        _compare(monkeypatch, _item(vlan_filtering=True), _bridge_link())
    _view, diffs = _compare(monkeypatch, _item(vlan_filtering=True),
                            _bridge_link(IFLA_BR_VLAN_PROTOCOL=0x8100, IFLA_BR_VLAN_DEFAULT_PVID=1))
    assert diffs.keys() == ['vlan_filtering']


def test_compare_ports(monkeypatch):
    _fake_links(monkeypatch, {
        'br0': _bridge_link(),
        'br9': {'ifname': 'br9', 'index': 9, 'kind': 'bridge', 'master_index': None},
        'bond0': {'ifname': 'bond0', 'index': 11, 'kind': 'bond', 'master_index': None},
        'a': {'ifname': 'a', 'index': 20, 'kind': 'veth', 'master_index': 5},
        'b': {'ifname': 'b', 'index': 21, 'kind': 'veth', 'master_index': 9},
        'c': {'ifname': 'c', 'index': 22, 'kind': 'tun', 'master_index': None},
        'd': {'ifname': 'd', 'index': 23, 'kind': 'veth', 'master_index': 11},
    })
    link = _bridge_link()
    _view, diffs = _compare(monkeypatch, _item(ports=['a', 'b', 'c']), link, ports=['a', 'x'])
    assert diffs.before_after() == ({'ports': ['a', 'x']}, {'ports': ['a', 'b', 'c', 'x']})
    _view, diffs = _compare(monkeypatch, _item(ports=['a'], purge_ports=True), link, ports=['a', 'x'])
    assert diffs.before_after() == ({'ports': ['a', 'x']}, {'ports': ['a']})
    _view, diffs = _compare(monkeypatch, _item(ports=['a']), link, ports=['a', 'x'])
    assert diffs.empty
    kind = bridge.BridgeKind()
    adds, releases = kind._port_plan(_Ctx(), _item(ports=['b', 'c'], purge_ports=True), 5, ['a'])
    assert adds == [('b', 21, 9, 'br9'), ('c', 22, 0, None)]
    assert releases == ['a']
    with pytest.raises(bridge.VirtnetError, match='port nope of bridge br0 not found in the default netns'):
        _compare(monkeypatch, _item(ports=['nope']), link)
    with pytest.raises(bridge.VirtnetError, match='port br9 of bridge br0 in the default netns is itself a bridge'):
        _compare(monkeypatch, _item(ports=['br9']), link)
    with pytest.raises(bridge.VirtnetError, match='enslaved to bond0, a bond, not a bridge'):
        _compare(monkeypatch, _item(ports=['d']), link)
