# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The vxlan module's own logic: validation messages, the flood-entry plan, comparing (in place or a new
device) and carrying settings over a recreate. The kernel side is the vxlan integration target's."""

from __future__ import annotations

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError
from ansible_collections.virtnet.linux.plugins.module_utils._engine import Differences
from ansible_collections.virtnet.linux.plugins.module_utils._link import COMMON_KEYS
from ansible_collections.virtnet.linux.plugins.module_utils._spec import views
from ansible_collections.virtnet.linux.plugins.module_utils._spec.vxlan import (
    KEYS, VxlanKind, describe_sync, normalise_peers, plan_peers,
)

ZERO = '00:00:00:00:00:00'


def item(**kw):
    out = dict((k, None) for k in COMMON_KEYS + KEYS)
    out.update(state='present', netns='', port=4789, recreate=True)
    out.update(kw)
    return out


def entry(dst, mac=ZERO, **kw):
    out = {'ifindex': 5, 'mac': mac, 'dst': dst, 'port': None, 'vni': None, 'via': None, 'state': 0xc0,
           'flags': 2, 'master': None}
    out.update(kw)
    return out


VIEW = {
    'name': 'vx0', 'netns': '', 'ifindex': 5, 'kind': 'vxlan', 'link_state': 'up', 'operstate': 'UNKNOWN',
    'mtu': 1450, 'address': '02:00:00:00:00:05', 'master': 'br0', 'txqueuelen': 1000, 'alias': '',
    'vni': 42, 'local': '10.0.0.1', 'port': 4789, 'dev': 'eth1', 'learning': True, 'ttl': 0, 'tos': 0,
    'group': None, 'peers': ['10.0.0.2', '10.0.0.3'],
}
LINK = {'ifname': 'vx0', 'index': 5, 'kind': 'vxlan', 'link_netnsid': None}


class Rt(object):
    def __init__(self, entries):
        self.entries = entries
        self.asked = []

    def fdb(self, netns, ifindex=0, what=None):
        self.asked.append((netns, ifindex))
        return list(self.entries)


class Ctx(object):
    def __init__(self, entries=()):
        self.rt = Rt(entries)
        self.plan = None


def errors_of(**kw):
    return VxlanKind().validate(item(name='vx0', **kw))


# --------------------------------------------------------------------------- validation

def test_valid_items():
    assert errors_of(vni=1) == []
    assert errors_of(vni=16777215, local='10.0.0.1', dev='eth1', ttl=64, tos=1, peers=['10.0.0.2', '10.0.0.3']) == []
    assert errors_of(vni=7, local='fd00::1', peers=['fd00::2']) == []
    assert VxlanKind().validate(item(name='vx0', state='absent')) == []          # nothing needed to delete it


@pytest.mark.parametrize('kw, message', [
    ({}, 'vni is required to create or manage vxlan vx0 in the default netns'),
    ({'vni': 0}, 'vni 0 of vxlan vx0 in the default netns out of range (1..16777215)'),
    ({'vni': 16777216}, 'vni 16777216 of vxlan vx0 in the default netns out of range (1..16777215)'),
    ({'vni': 1, 'port': 0}, 'port 0 of vxlan vx0 in the default netns out of range (1..65535)'),
    ({'vni': 1, 'port': 65536}, 'port 65536 of vxlan vx0 in the default netns out of range (1..65535)'),
    ({'vni': 1, 'ttl': 256}, 'ttl 256 of vxlan vx0 in the default netns out of range (0..255)'),
    ({'vni': 1, 'tos': -1}, 'tos -1 of vxlan vx0 in the default netns out of range (0..255)'),
    ({'vni': 1, 'local': '10.0.0.300'},
     "invalid local address '10.0.0.300': expected an IPv4 or IPv6 address of vxlan vx0 in the default netns"),
    ({'vni': 1, 'local': '239.1.1.1'}, 'invalid local address 239.1.1.1: a multicast address'),
    ({'vni': 1, 'local': '0.0.0.0'}, 'invalid local address 0.0.0.0: the unspecified address'),
    ({'vni': 1, 'dev': 'a' * 16}, "invalid underlay dev name '%s': longer than 15 characters" % ('a' * 16)),
    ({'vni': 1, 'peers': ['10.0.0.2', 'nope']}, "invalid peer 'nope': expected an IPv4 or IPv6 address"),
    ({'vni': 1, 'peers': ['10.0.0.2', '10.0.0.02']}, None),       # not an address in Python 3.9+: refused too
    ({'vni': 1, 'peers': ['fd00::2', 'fd00:0::2']}, 'peer fd00::2 listed twice for vxlan vx0'),
    ({'vni': 1, 'peers': ['10.0.0.2', 'fd00::2']}, 'mix IPv4 and IPv6 addresses'),
    ({'vni': 1, 'local': '10.0.0.1', 'peers': ['fd00::2']},
     'the peers of vxlan vx0 in the default netns are IPv6 addresses, its local address 10.0.0.1 is not'),
    ({'vni': 1, 'local': '10.0.0.1', 'peers': ['10.0.0.1']}, 'peer 10.0.0.1 of vxlan vx0 in the default netns is its own'),
    ({'vni': 1, 'peers': ['224.0.0.1']}, 'invalid peer 224.0.0.1: a multicast address'),
])
def test_bad_inputs_are_named(kw, message):
    errors = errors_of(**kw)
    assert errors, kw
    if message is not None:
        assert any(message in e for e in errors), errors


def test_validate_all_normalises_local_and_peers():
    items, errors = VxlanKind().validate_all(
        [item(name='vx0', vni=1, local='FD00:0::1', peers=['fd00::0:3', 'FD00::2'])], False)
    assert errors == []
    assert items[0]['local'] == 'fd00::1' and items[0]['peers'] == ['fd00::2', 'fd00::3']


def test_batch_messages_name_the_element():
    _items, errors = VxlanKind().validate_all([item(name='vx0', vni=0), item(name='vx1', vni=2)], True)
    assert errors == ['vx0: vni 0 of vxlan vx0 in the default netns out of range (1..16777215)']


def test_needs_its_underlay_and_master():
    needs = VxlanKind().needs(item(name='vx0', netns='n', vni=1, dev='eth1', master='br0'))
    assert (('link', 'n', 'eth1'), 'underlay dev of vxlan vx0', None) in needs
    assert (('link', 'n', 'br0'), 'master of vx0', 'bridge') in needs
    assert VxlanKind().needs(item(name='vx0', netns='n', dev='eth1', state='absent')) == [
        (('netns', 'n'), 'needed by vx0', None)]


# --------------------------------------------------------------------------- the flood entries

def test_normalise_peers_in_address_order():
    assert normalise_peers(['10.0.0.10', '10.0.0.9', ' 10.0.0.100 ']) == ['10.0.0.9', '10.0.0.10', '10.0.0.100']
    assert views.address_order('fd00::1') > views.address_order('10.0.0.1')


def test_plan_adds_missing_removes_extra():
    entries = [entry('10.0.0.2'), entry('10.0.0.9'), entry('10.0.0.3', mac='52:54:00:00:00:01'),
               entry('10.0.0.4', master=3)]
    to_add, to_remove = plan_peers(['10.0.0.2', '10.0.0.5'], entries)
    assert to_add == ['10.0.0.5']
    assert [e['dst'] for e in to_remove] == ['10.0.0.9']    # learned MACs and a bridge's entries are no flood entries


def test_plan_an_entry_with_its_own_port_vni_or_underlay_is_not_the_peer():
    entries = [entry('10.0.0.2', port=4790), entry('10.0.0.3', vni=7), entry('10.0.0.4', via=3), entry('10.0.0.4')]
    to_add, to_remove = plan_peers(['10.0.0.2', '10.0.0.3', '10.0.0.4'], entries)
    assert to_add == ['10.0.0.2', '10.0.0.3']
    assert [(e['dst'], e['port'], e['vni'], e['via']) for e in to_remove] == [
        ('10.0.0.2', 4790, None, None), ('10.0.0.3', None, 7, None), ('10.0.0.4', None, None, 3)]
    assert describe_sync(to_add, to_remove) == (
        'add 10.0.0.2, 10.0.0.3; remove 10.0.0.2 port 4790, 10.0.0.3 vni 7, 10.0.0.4 via #3')


def test_plan_exact_is_empty_and_empty_list_removes_all():
    entries = [entry('10.0.0.2'), entry('10.0.0.3')]
    assert plan_peers(['10.0.0.2', '10.0.0.3'], entries) == ([], [])
    assert [e['dst'] for e in plan_peers([], entries)[1]] == ['10.0.0.2', '10.0.0.3']


def test_plan_leaves_the_devices_own_remote_alone():
    entries = [entry('10.9.9.9'), entry('10.0.0.2')]
    assert plan_peers([], entries, group='10.9.9.9')[1] == [entry('10.0.0.2')]
    assert plan_peers(['10.0.0.2'], entries, group='10.9.9.9') == ([], [])


def test_flood_peers_view():
    entries = [entry('10.0.0.10'), entry('10.0.0.9', port=4790, vni=7, via=3), entry('10.9.9.9'),
               entry('10.0.0.2', mac='52:54:00:00:00:01')]
    assert views.flood_peers(entries, group='10.9.9.9', names={3: 'eth1'}) == [
        '10.0.0.9 port 4790 vni 7 via eth1', '10.0.0.10']


def test_vxlan_view_from_the_kernels_attributes():
    assert views.vxlan_view({'IFLA_VXLAN_ID': 42, 'IFLA_VXLAN_LOCAL6': 'fd00::1', 'IFLA_VXLAN_PORT': 4789,
                             'IFLA_VXLAN_LINK': 0, 'IFLA_VXLAN_LEARNING': 0, 'IFLA_VXLAN_TTL': 0,
                             'IFLA_VXLAN_TOS': 1}) == {
        'vni': 42, 'local': 'fd00::1', 'port': 4789, 'dev': None, 'learning': False, 'ttl': 0, 'tos': 1,
        'group': None}


# --------------------------------------------------------------------------- comparing

def compare(entries=(), view=None, link=None, **kw):
    it = item(name='vx0', **dict({'vni': 42}, **kw))
    diffs = Differences()
    VxlanKind().compare(Ctx(entries), it, dict(LINK, **(link or {})), dict(VIEW, **(view or {})), diffs)
    return it, [(d.key, d.before, d.after, d.recreate) for d in diffs.items]


def test_compare_converged():
    assert compare([entry('10.0.0.2'), entry('10.0.0.3')], local='10.0.0.1', dev='eth1',
                   peers=['10.0.0.2', '10.0.0.3'], learning=True, ttl=0, tos=0)[1] == []


def test_compare_in_place_settings():
    _it, diffs = compare(local='10.0.0.7', dev='eth2', learning=False, ttl=9, tos=1)
    assert diffs == [('local', '10.0.0.1', '10.0.0.7', False), ('dev', 'eth1', 'eth2', False),
                     ('learning', True, False, False), ('ttl', 0, 9, False), ('tos', 0, 1, False)]


def test_compare_peers_in_place():
    _it, diffs = compare([entry('10.0.0.2'), entry('10.0.0.3')], peers=['10.0.0.2'])
    assert diffs == [('peers', ['10.0.0.2', '10.0.0.3'], ['10.0.0.2'], False)]


@pytest.mark.parametrize('kw, view, key', [
    ({'vni': 43}, {}, 'vni'),
    ({'port': 8472}, {}, 'port'),
    ({'local': 'fd00::1'}, {}, 'local'),          # another family
    ({'dev': 'eth1'}, {'dev': None}, 'dev'),      # an underlay for a device without one
])
def test_compare_needs_a_new_device(kw, view, key):
    it = item(name='vx0', **dict({'vni': 42}, **kw))
    diffs = Differences()
    VxlanKind().compare(Ctx(), it, LINK, dict(VIEW, **view), diffs)
    assert [d.key for d in diffs.needs_recreate] == [key]


def test_compare_a_device_moved_from_another_namespace_is_replaced():
    _it, diffs = compare(link={'link_netnsid': 3})
    assert diffs == [('underlay_netns', 'another netns (nsid 3)', '', True)]


def test_recreate_carries_unmanaged_settings_and_plain_peers_over():
    entries = [entry('10.0.0.2'), entry('10.0.0.3')]
    it, diffs = compare(entries, view={'peers': ['10.0.0.2', '10.0.0.3', '10.0.0.4 port 9']}, port=8472)
    assert diffs == [('port', 4789, 8472, True)]
    assert it['local'] == '10.0.0.1' and it['dev'] == 'eth1' and it['learning'] is True and it['mtu'] == 1450
    assert it['master'] == 'br0' and it['link_state'] == 'up' and it['address'] == '02:00:00:00:00:05'
    assert it['peers'] == ['10.0.0.2', '10.0.0.3']


def test_recreate_keeps_what_the_task_sets():
    it, _diffs = compare(vni=43, mtu=1400, peers=['10.0.0.9'], learning=False)
    assert it['mtu'] == 1400 and it['peers'] == ['10.0.0.9'] and it['learning'] is False


def test_a_peer_that_is_the_devices_own_remote_is_refused():
    with pytest.raises(VirtnetError) as err:
        compare(view={'group': '10.9.9.9'}, peers=['10.9.9.9'])
    assert 'peer 10.9.9.9 of vxlan vx0 in the default netns is the remote or multicast group' in err.value.msg


def test_refuse_recreate_names_what_needs_it():
    it = item(name='vx0', vni=43, recreate=False)
    diffs = Differences()
    diffs.add('vni', 42, 43, recreate=True)
    assert VxlanKind().refuse_recreate(None, it, LINK, VIEW, diffs) == (
        'vxlan vx0 in the default netns must be replaced to change vni (42 -> 43), and recreate is false: '
        'nothing was changed')
    assert VxlanKind().refuse_recreate(None, dict(it, recreate=True), LINK, VIEW, diffs) is None


def test_predict_a_new_device():
    out = VxlanKind().predict(item(name='vx0', vni=42, dev='eth1', peers=['10.0.0.2'], link_state='up'),
                              {'name': 'vx0', 'netns': '', 'kind': 'vxlan'})
    assert out['kind'] == 'vxlan' and out['vni'] == 42 and out['port'] == 4789 and out['dev'] == 'eth1'
    assert out['peers'] == ['10.0.0.2'] and out['local'] is None and out['group'] is None
    assert 'recreate' not in out and out['link_state'] == 'up'


def test_entries_of_a_device_check_mode_predicts_are_none():
    ctx = Ctx([entry('10.0.0.2')])
    assert VxlanKind().entries(ctx, '', -3, 'vx0') == [] and ctx.rt.asked == []
    assert VxlanKind().entries(ctx, 'n', 5, 'vx0') == [entry('10.0.0.2')] and ctx.rt.asked == [('n', 5)]


def test_recreate_for_another_family_does_not_carry_the_old_familys_peers():
    it, diffs = compare([entry('10.0.0.2')], local='fd00::1')
    assert diffs == [('local', '10.0.0.1', 'fd00::1', True)]
    assert it['peers'] is None and it['dev'] == 'eth1'


def test_recreate_for_another_underlay_or_family_lets_the_kernel_derive_the_mtu():
    it, _diffs = compare(vni=43, dev='eth2')
    assert it['mtu'] is None and it['master'] == 'br0'
    it, _diffs = compare(local='fd00::1')
    assert it['mtu'] is None
    it, _diffs = compare(vni=43)
    assert it['mtu'] == 1450
