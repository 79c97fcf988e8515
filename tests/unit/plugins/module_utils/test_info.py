# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of link_info's assembly and selection (its parsing is _rtnl's: test_rtnl.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils import _info
from ansible_collections.virtnet.linux.plugins.module_utils._spec import bridge
from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError


# --------------------------------------------------------------------------- assembly

def rec(index, name, kind=None, **kw):
    out = {'index': index, 'ifname': name, 'kind': kind, 'link_state': 'up', 'info_data': {}, 'mtu': 1500,
           'operstate': 'UP', 'address': '02:00:00:00:00:%02x' % index, 'txqueuelen': 1000, 'group': 0}
    out.update(kw)
    return out


class Names(object):
    def user(self, uid):
        return {1000: 'qemu'}.get(uid)

    def group(self, gid):
        return None


def test_assemble_kinds_masters_ports_peers_addresses():
    records = [
        rec(5, 'tap0', 'tun', master_index=3, info_data={
            'IFLA_TUN_TYPE': 2, 'IFLA_TUN_OWNER': 1000, 'IFLA_TUN_PI': 0, 'IFLA_TUN_VNET_HDR': 1,
            'IFLA_TUN_PERSIST': 1, 'IFLA_TUN_MULTI_QUEUE': 0}),
        rec(3, 'br0', 'bridge', info_data={
            'IFLA_BR_STP_STATE': 0, 'IFLA_BR_FORWARD_DELAY': 1500, 'IFLA_BR_HELLO_TIME': 200,
            'IFLA_BR_MAX_AGE': 2000, 'IFLA_BR_AGEING_TIME': 30000, 'IFLA_BR_PRIORITY': 32768,
            'IFLA_BR_MCAST_SNOOPING': 1, 'IFLA_BR_VLAN_FILTERING': 0}),
        rec(1, 'lo', address='00:00:00:00:00:00'),
        rec(6, 'v0', 'veth', link_index=7, master_index=3),
        rec(7, 'v1', 'veth', link_index=6, alias='inside'),
        rec(8, 'x0', 'veth', link_index=2, link_netnsid=4),
        rec(9, 'y0', 'veth', link_index=2, link_netnsid=-1),
    ]
    addrs = [(3, '10.0.0.1/24'), None, (3, 'fd00::1/64'), (7, '10.1.0.1/24')]
    links, by_index, pending = _info.assemble('ns1', records, addrs, Names())
    by_name = dict((l['name'], l) for l in links)
    assert [l['name'] for l in links] == ['lo', 'br0', 'tap0', 'v0', 'v1', 'x0', 'y0']       # by ifindex
    assert by_index == {1: 'lo', 3: 'br0', 5: 'tap0', 6: 'v0', 7: 'v1', 8: 'x0', 9: 'y0'}
    assert by_name['tap0']['kind'] == 'tap' and by_name['tap0']['master'] == 'br0'
    assert by_name['tap0']['tun'] == {'mode': 'tap', 'owner': 1000, 'owner_name': 'qemu', 'group': None,
                                      'group_name': None, 'pi': False, 'vnet_hdr': True, 'multi_queue': False,
                                      'persist': True, 'num_queues': None}
    assert by_name['br0']['bridge'] == {'stp': False, 'forward_delay': 15.0, 'hello_time': 2.0, 'max_age': 20.0,
                                        'ageing_time': 300.0, 'priority': 32768, 'mcast_snooping': True,
                                        'mcast_querier': None, 'group_fwd_mask': None,
                                        'vlan_filtering': False, 'ports': ['tap0', 'v0']}
    assert by_name['br0']['addresses'] == ['10.0.0.1/24', 'fd00::1/64']
    assert by_name['lo']['kind'] is None and by_name['lo']['master'] == '' and by_name['lo']['alias'] == ''
    assert by_name['v1']['alias'] == 'inside' and by_name['v1']['netns'] == 'ns1'
    assert by_name['v0']['peer'] == {'name': 'v1', 'netns': 'ns1', 'ifindex': 7, 'netnsid': None}
    assert by_name['x0']['peer'] == {'name': None, 'netns': None, 'ifindex': 2, 'netnsid': 4}
    assert by_name['y0']['peer'] == {'name': None, 'netns': None, 'ifindex': 2, 'netnsid': None}
    assert pending == [by_name['x0']['peer']]              # same object: filled in by the caller
    assert by_name['tap0']['peer'] is None and by_name['br0']['tun'] is None


def test_bridge_details_are_the_bridge_modules_view():
    data = {'IFLA_BR_STP_STATE': 2, 'IFLA_BR_FORWARD_DELAY': 401, 'IFLA_BR_HELLO_TIME': 200,
            'IFLA_BR_MAX_AGE': 2000, 'IFLA_BR_AGEING_TIME': 30000, 'IFLA_BR_PRIORITY': 0,
            'IFLA_BR_MCAST_SNOOPING': 0, 'IFLA_BR_MCAST_QUERIER': 1, 'IFLA_BR_GROUP_FWD_MASK': 0x4000,
            'IFLA_BR_VLAN_FILTERING': 1}
    details = _info.bridge_details(data, ['p0'])
    assert details == {'stp': True, 'forward_delay': 4.01, 'hello_time': 2.0, 'max_age': 20.0, 'ageing_time': 300.0,
                       'priority': 0, 'mcast_snooping': False, 'mcast_querier': True, 'group_fwd_mask': 0x4000,
                       'vlan_filtering': True, 'ports': ['p0']}
    assert dict((k, v) for k, v in details.items() if k != 'ports') == bridge.options_view(data)
    assert set(details) == set(bridge.OPTIONS) | {'ports'}
    assert _info.bridge_details(None, []) == dict([(option, None) for option in bridge.OPTIONS] + [('ports', [])])


def test_timers_as_before_for_every_kernel_value():
    """link_info showed a timer as cs / 100.0; the bridge view rounds to centiseconds: the same float."""
    values = list(range(0, 200000)) + [0xFFFFFFFF - n for n in range(100000)] + [7 ** n for n in range(12)]
    for cs in values:
        assert bridge.options_view({'IFLA_BR_FORWARD_DELAY': cs})['forward_delay'] == cs / 100.0


def _loaded_after(*imports):
    """The names in sys.modules of a fresh interpreter after `imports` (Python statements)."""
    code = '\n'.join(('import sys',) + imports + ('print("\\n".join(sorted(sys.modules)))',))
    out = subprocess.run([sys.executable, '-c', code], env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True)
    return out.stdout.split()


def test_link_info_imports_no_pyroute2():
    """link_info shows devices through the specs' views; neither they nor link_info import pyroute2."""
    loaded = _loaded_after('from ansible_collections.virtnet.linux.plugins.module_utils import _info',
                           'from ansible_collections.virtnet.linux.plugins.module_utils._spec import bridge, tuntap, veth')
    assert [m for m in loaded if m.split('.')[0] == 'pyroute2'] == []


def test_link_info_loads_no_engine():
    """link_info shares the devices' views (`_spec.views`) without compiling the engine and the specs on
    every run: none of _engine, _link or a device spec is imported by it."""
    prefix = 'ansible_collections.virtnet.linux.plugins.module_utils.'
    loaded = [m.rsplit('.', 1)[-1] for m in _loaded_after('from %s import _info' % prefix[:-1]) if m.startswith(prefix)]
    assert 'views' in loaded, loaded
    assert not set(loaded) & {'_engine', '_link', 'bridge', 'veth', 'tuntap', 'vxlan', 'macvlan', '_pyroute2'}, loaded


def test_specs_use_the_shared_views():
    """The bridge and veth specs' views are the very functions link_info shows."""
    from ansible_collections.virtnet.linux.plugins.module_utils._spec import veth, views
    assert bridge.options_view is views.bridge_view and bridge.OPTIONS is views.BRIDGE_OPTIONS
    assert bridge.from_kernel is views.bridge_value and veth.peer_of is views.veth_peer
    from ansible_collections.virtnet.linux.plugins.module_utils._spec import macvlan, vxlan
    assert vxlan.vxlan_view is views.vxlan_view and vxlan.flood_peers is views.flood_peers
    assert macvlan.macvlan_view is views.macvlan_view and macvlan.veth_peer is views.veth_peer


def test_assemble_filters_keep_ports_complete():
    records = [rec(3, 'br0', 'bridge'), rec(4, 'tap0', 'tun', master_index=3, info_data={'IFLA_TUN_TYPE': 2}),
               rec(5, 'tun0', 'tun', info_data={'IFLA_TUN_TYPE': 1})]
    links = _info.assemble('', records, [], None, want_kind={'bridge'})[0]
    assert [l['name'] for l in links] == ['br0'] and links[0]['bridge']['ports'] == ['tap0']
    links = _info.assemble('', records, [], None, want_link=_info.name_matcher(['t*']), want_kind={'tun'})[0]
    assert [l['name'] for l in links] == ['tun0']


def test_name_matcher():
    assert _info.name_matcher(None) is None
    match = _info.name_matcher(['br0', 'tap*', 'v[12]'])
    assert [n for n in ['br0', 'br01', 'tap9', 'v1', 'v3'] if match(n)] == ['br0', 'tap9', 'v1']


def test_select_netns():
    avail = ['qdhcp-1', 'qdhcp-2', 'red']
    assert _info.select_netns(None, avail) == (['', 'qdhcp-1', 'qdhcp-2', 'red'], [])
    assert _info.select_netns(['red', '', 'qdhcp-*', 'red'], avail) == (['red', '', 'qdhcp-1', 'qdhcp-2'], [])
    assert _info.select_netns(['blue*', 'nope', 'red', 'gone'], avail) == (['red'], ['nope', 'gone'])
    assert _info.select_netns([], avail) == ([], [])


def test_validate_selection():
    assert _info.validate_selection(None) == []
    assert _info.validate_selection(['', 'ok', 'q*']) == []
    assert len(_info.validate_selection(['../x', 'a/b'])) == 2


# --------------------------------------------------------------------------- link_info with a fake kernel

class FakeRtnl(object):
    """Namespaces as {name: (records, addrs)} and nsids as {(from, to): nsid}."""

    def __init__(self, spaces, nsids):
        self.spaces = spaces
        self.nsids = nsids
        self.calls = []

    def links(self, netns):
        self.calls.append(('links', netns))
        return [dict(r) for r in self.spaces[netns][0]]

    def addresses(self, netns):
        self.calls.append(('addresses', netns))
        return list(self.spaces[netns][1])

    def get_link(self, netns, ifname=None, index=None, need_data=True):
        self.calls.append(('link', netns, index))
        for r in self.spaces[netns][0]:
            if r['index'] == index:
                return dict(r)
        return None

    def nsid_of(self, netns, other):
        self.calls.append(('nsid', netns, other))
        return self.nsids.get((netns, other))


def world():
    spaces = {
        '': ([rec(1, 'lo'), rec(5, 'tap42', 'veth', link_index=2, link_netnsid=0)], [(1, '127.0.0.1/8')]),
        'a': ([rec(1, 'lo'), rec(2, 'ns-42', 'veth', link_index=5, link_netnsid=3),
               rec(3, 'ab', 'veth', link_index=2, link_netnsid=0)], [(2, '10.42.0.2/24')]),
        'b': ([rec(1, 'lo'), rec(2, 'ba', 'veth', link_index=3, link_netnsid=0)], []),
    }
    nsids = {('', 'a'): 0, ('a', ''): 3, ('a', 'b'): 0, ('b', 'a'): 0, ('', 'b'): 1}
    return spaces, nsids


def test_link_info_all_namespaces(monkeypatch):
    spaces, nsids = world()
    monkeypatch.setattr(_info, 'list_netns', lambda: ['a', 'b'])
    fake = FakeRtnl(spaces, nsids)
    result = _info.link_info(fake)
    assert list(result['namespaces']) == ['', 'a', 'b']
    assert [(l['netns'], l['name']) for l in result['links']] == [
        ('', 'lo'), ('', 'tap42'), ('a', 'lo'), ('a', 'ns-42'), ('a', 'ab'), ('b', 'lo'), ('b', 'ba')]
    peers = dict(((l['netns'], l['name']), l['peer']) for l in result['links'] if l['peer'])
    assert peers[('', 'tap42')] == {'name': 'ns-42', 'netns': 'a', 'ifindex': 2, 'netnsid': 0}
    assert peers[('a', 'ns-42')] == {'name': 'tap42', 'netns': '', 'ifindex': 5, 'netnsid': 3}
    assert peers[('a', 'ab')] == {'name': 'ba', 'netns': 'b', 'ifindex': 2, 'netnsid': 0}
    assert peers[('b', 'ba')] == {'name': 'ab', 'netns': 'a', 'ifindex': 3, 'netnsid': 0}
    assert result['namespaces'] == {'': {'name': '', 'links': ['lo', 'tap42']},
                                    'a': {'name': 'a', 'links': ['lo', 'ns-42', 'ab']},
                                    'b': {'name': 'b', 'links': ['lo', 'ba']}}
    # one link dump and one address dump per namespace, no per-link get
    dumps = [c for c in fake.calls if c[0] in ('links', 'addresses', 'link')]
    assert sorted(dumps) == sorted([('links', ''), ('addresses', ''), ('links', 'a'), ('addresses', 'a'),
                                    ('links', 'b'), ('addresses', 'b')])
    # nsid lookups stop once every id used is known: '' needs only nsid 0 -> asks about 'a' and stops
    assert [c for c in fake.calls if c[0] == 'nsid' and c[1] == ''] == [('nsid', '', 'a')]


def test_link_info_peer_in_unreported_namespace(monkeypatch):
    spaces, nsids = world()
    monkeypatch.setattr(_info, 'list_netns', lambda: ['a', 'b'])
    fake = FakeRtnl(spaces, nsids)
    result = _info.link_info(fake, netns=[''])
    assert list(result['namespaces']) == ['']
    assert result['links'][1]['peer'] == {'name': 'ns-42', 'netns': 'a', 'ifindex': 2, 'netnsid': 0}
    assert ('link', 'a', 2) in fake.calls and ('links', 'a') not in fake.calls


def test_link_info_many_peers_dump_instead_of_gets(monkeypatch):
    many = _info.PEER_GET_LIMIT + 3
    spaces = {
        '': ([rec(10 + i, 'h%d' % i, 'veth', link_index=100 + i, link_netnsid=0) for i in range(many)], []),
        'a': ([rec(100 + i, 'p%d' % i, 'veth', link_index=10 + i, link_netnsid=0) for i in range(many)], []),
    }
    monkeypatch.setattr(_info, 'list_netns', lambda: ['a'])
    fake = FakeRtnl(spaces, {('', 'a'): 0})
    result = _info.link_info(fake, netns=[''])
    assert [l['peer']['name'] for l in result['links']] == ['p%d' % i for i in range(many)]
    assert ('links', 'a') in fake.calls and not [c for c in fake.calls if c[0] == 'link']


def test_link_info_missing_namespace(monkeypatch):
    spaces, nsids = world()
    monkeypatch.setattr(_info, 'list_netns', lambda: ['a', 'b'])
    fake = FakeRtnl(spaces, nsids)
    with pytest.raises(VirtnetError) as err:
        _info.link_info(fake, netns=['a', 'nope', 'c*'])
    assert 'netns nope not found' in err.value.msg and err.value.details['missing'] == ['nope']
    assert fake.calls == []                      # nothing read before the check


def test_link_info_filters(monkeypatch):
    spaces, nsids = world()
    monkeypatch.setattr(_info, 'list_netns', lambda: ['a', 'b'])
    result = _info.link_info(FakeRtnl(spaces, nsids), netns=['a', 'b'], links=['ab', 'ba'], kinds=['veth'])
    assert [l['name'] for l in result['links']] == ['ab', 'ba']
    assert result['links'][0]['peer']['name'] == 'ba'


def test_unknown_kinds():
    links = [{'kind': 'veth'}, {'kind': 'weird'}]
    assert _info.unknown_kinds(['bridge', 'brige', 'weird', 'tap'], links) == ['brige']
    assert _info.unknown_kinds(None, links) == []


# --------------------------------------------------------------------------- vxlan and macvlan

class Stat(object):
    st_uid, st_gid, st_mode = 1000, 108, 0o20660


def test_assemble_vxlan_and_macvlan():
    records = [
        rec(2, 'eth1'),
        rec(3, 'vx0', 'vxlan', info_data={'IFLA_VXLAN_ID': 42, 'IFLA_VXLAN_LINK': 2, 'IFLA_VXLAN_LOCAL': '10.0.0.1',
                                          'IFLA_VXLAN_PORT': 4789, 'IFLA_VXLAN_LEARNING': 1, 'IFLA_VXLAN_TTL': 0,
                                          'IFLA_VXLAN_TOS': 0}),
        rec(4, 'vx1', 'vxlan', link_netnsid=2, info_data={'IFLA_VXLAN_ID': 43, 'IFLA_VXLAN_LINK': 2}),
        rec(5, 'mv0', 'macvlan', link_index=2, info_data={'IFLA_MACVLAN_MODE': 'bridge'}),
        rec(6, 'mt0', 'macvtap', link_index=9, link_netnsid=0, info_data={'IFLA_MACVTAP_MODE': 'vepa'}),
    ]

    def taps(index):
        return '/dev/tap%d' % index, Stat()

    links, _by_index, pending = _info.assemble('n', records, [], Names(), taps=taps)
    by_name = dict((l['name'], l) for l in links)
    assert by_name['vx0']['vxlan'] == {'vni': 42, 'local': '10.0.0.1', 'port': 4789, 'dev': 'eth1', 'learning': True,
                                       'ttl': 0, 'tos': 0, 'group': None, 'peers': []}
    assert by_name['vx1']['vxlan']['dev'] is None            # its underlay is in another namespace
    assert by_name['mv0']['macvlan'] == {'mode': 'bridge', 'parent': {'name': 'eth1', 'netns': 'n', 'ifindex': 2,
                                                                      'netnsid': None}, 'tap': None}
    assert by_name['mt0']['macvlan']['parent'] == {'name': None, 'netns': None, 'ifindex': 9, 'netnsid': 0}
    assert by_name['mt0']['macvlan']['tap'] == {'device': '/dev/tap6', 'owner': 1000, 'owner_name': 'qemu',
                                                'group': 108, 'group_name': None, 'mode': '0660'}
    assert pending == [by_name['mt0']['macvlan']['parent']]
    assert by_name['eth1']['vxlan'] is None and by_name['eth1']['macvlan'] is None


def test_fill_peers_from_one_dump():
    links = [{'ifindex': 3, 'vxlan': {'group': None, 'peers': []}}, {'ifindex': 4, 'vxlan': None},
             {'ifindex': 5, 'vxlan': {'group': '10.9.9.9', 'peers': []}}]
    zero = '00:00:00:00:00:00'
    entries = [{'ifindex': 3, 'mac': zero, 'dst': '10.0.0.3', 'port': None, 'vni': None, 'via': None},
               {'ifindex': 3, 'mac': zero, 'dst': '10.0.0.2', 'port': None, 'vni': None, 'via': 2},
               {'ifindex': 3, 'mac': '52:54:00:00:00:01', 'dst': '10.0.0.4', 'port': None, 'vni': None, 'via': None},
               {'ifindex': 5, 'mac': zero, 'dst': '10.9.9.9', 'port': None, 'vni': None, 'via': None},
               {'ifindex': 4, 'mac': zero, 'dst': None, 'port': None, 'vni': None, 'via': None, 'master': 3}]
    _info.fill_peers(links, entries, {2: 'eth1'})
    assert links[0]['vxlan']['peers'] == ['10.0.0.2 via eth1', '10.0.0.3']
    assert links[2]['vxlan']['peers'] == []


class FakeFdbRtnl(FakeRtnl):
    def __init__(self, spaces, nsids, fdb):
        FakeRtnl.__init__(self, spaces, nsids)
        self.entries = fdb

    def fdb(self, netns, ifindex=0, what=None):
        self.calls.append(('fdb', netns))
        return list(self.entries.get(netns, []))


def test_link_info_reads_forwarding_entries_only_where_vxlans_are(monkeypatch):
    zero = '00:00:00:00:00:00'
    spaces = {
        '': ([rec(1, 'lo'), rec(2, 'eth0', 'veth', link_index=9)], []),
        'a': ([rec(1, 'lo'), rec(3, 'vx0', 'vxlan', info_data={'IFLA_VXLAN_ID': 1}),
               rec(4, 'mv0', 'macvlan', link_index=2, link_netnsid=0, info_data={'IFLA_MACVLAN_MODE': 'private'})], []),
    }
    monkeypatch.setattr(_info, 'list_netns', lambda: ['a'])
    fake = FakeFdbRtnl(spaces, {('a', ''): 0}, {'a': [{'ifindex': 3, 'mac': zero, 'dst': '10.0.0.2', 'port': None,
                                                       'vni': None, 'via': None}]})
    result = _info.link_info(fake)
    by_name = dict(((l['netns'], l['name']), l) for l in result['links'])
    assert by_name[('a', 'vx0')]['vxlan']['peers'] == ['10.0.0.2']
    assert by_name[('a', 'mv0')]['macvlan']['parent'] == {'name': 'eth0', 'netns': '', 'ifindex': 2, 'netnsid': 0}
    assert [c for c in fake.calls if c[0] == 'fdb'] == [('fdb', 'a')]      # one dump, only where vxlans are
