# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tuntap module's own logic: validation, wanted settings, comparing, carrying settings over a recreate."""

from __future__ import annotations

from ansible_collections.virtnet.linux.plugins.module_utils._engine import Differences
from ansible_collections.virtnet.linux.plugins.module_utils._link import COMMON_KEYS
from ansible_collections.virtnet.linux.plugins.module_utils._spec.tuntap import KEYS, TuntapKind


def item(**kw):
    out = dict((k, None) for k in COMMON_KEYS + KEYS)
    out.update(state='present', netns='', pi=False, vnet_hdr=False, multi_queue=False, recreate=True)
    out.update(kw)
    return out


VIEW = {
    'name': 'tap0', 'netns': '', 'ifindex': 5, 'kind': 'tun', 'link_state': 'up', 'operstate': 'DOWN',
    'mtu': 9000, 'address': '02:00:00:00:00:05', 'master': 'br0', 'txqueuelen': 1000, 'alias': '',
    'mode': 'tap', 'user': 1000, 'group': None, 'pi': False, 'vnet_hdr': True, 'multi_queue': False,
    'persist': True,
}


def test_valid_items():
    k = TuntapKind()
    assert k.validate(item(name='tap0', mode='tap', user='0', group=0, master='br0')) == []
    assert k.validate(item(name='tap0', state='absent')) == []


def test_mode_required_to_manage_a_device():
    errors = TuntapKind().validate(item(name='tap0'))
    assert errors == ['mode (tun or tap) is required to create or manage tap0']


def test_unknown_user_and_group():
    errors = TuntapKind().validate(item(name='tun0', mode='tun', user='no-such-user-xyz', group='no-such-group-xyz'))
    assert len(errors) == 2
    assert errors[0].startswith('cannot set the user of tun0: user no-such-user-xyz not found on the target')
    assert errors[1].startswith('cannot set the group of tun0: group no-such-group-xyz not found on the target')


def test_user_of_the_wrong_type():
    errors = TuntapKind().validate(item(name='tap0', mode='tap', user=[1000], group={'a': 1}))
    assert errors == ["cannot set the user of tap0: user must be a name or a numeric id, not [1000]",
                      "cannot set the group of tap0: group must be a name or a numeric id, not {'a': 1}"]


def test_tun_cannot_have_a_mac_or_a_bridge():
    errors = TuntapKind().validate(item(name='tun0', mode='tun', address='02:00:00:00:00:01', master='br0'))
    assert errors[0].startswith('cannot set a MAC address on tun device tun0')
    assert errors[1].startswith('cannot make tun device tun0 a port of bridge br0')
    assert TuntapKind().validate(item(name='tun0', mode='tun', master='')) == []


def test_want_resolves_ids():
    k = TuntapKind()
    assert k.want(item(name='t', mode='tun', user='0', group='')) == {
        'persist': True, 'mode': 'tun', 'pi': False, 'vnet_hdr': False, 'multi_queue': False, 'user': 0,
        'group': None}
    assert 'user' not in k.want(item(name='t', mode='tun'))


def test_compare_in_place():
    k = TuntapKind()
    it = item(name='tap0', mode='tap', user=0, vnet_hdr=False)
    diffs = Differences()
    k.compare(None, it, None, VIEW, diffs)
    assert [(d.key, d.before, d.after, d.recreate) for d in diffs.items] == [
        ('user', 1000, 0, False), ('vnet_hdr', True, False, False)]
    assert it['mtu'] is None   # nothing carried over without a recreate


def test_compare_recreate_carries_unmanaged_settings_over():
    k = TuntapKind()
    it = item(name='tap0', mode='tap', vnet_hdr=True, multi_queue=True, mtu=1400)
    diffs = Differences()
    k.compare(None, it, None, VIEW, diffs)
    assert [d.key for d in diffs.needs_recreate] == ['multi_queue']
    assert it['mtu'] == 1400                 # the task's own value wins
    assert it['master'] == 'br0' and it['address'] == '02:00:00:00:00:05'
    assert it['link_state'] == 'up' and it['txqueuelen'] == 1000 and it['user'] == 1000
    assert it['alias'] is None and it['group'] is None   # nothing to carry


def test_compare_recreate_to_tun_drops_mac_and_bridge():
    k = TuntapKind()
    it = item(name='tap0', mode='tun')
    diffs = Differences()
    k.compare(None, it, None, VIEW, diffs)
    assert 'mode' in diffs and diffs.get('mode').recreate
    assert it['master'] is None and it['address'] is None
    assert it['mtu'] == 9000


def test_predict_a_new_device():
    k = TuntapKind()
    out = k.predict(item(name='tun0', mode='tun', user='0', mtu=1400), {'name': 'tun0', 'netns': '', 'kind': 'tuntap'})
    assert out['kind'] == 'tun' and out['mode'] == 'tun' and out['user'] == 0 and out['group'] is None
    assert out['persist'] is True and out['mtu'] == 1400 and 'recreate' not in out
