# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The macvlan module's own logic: validation messages, the parent's checks, comparing (in place or a new
device), a macvtap's character device and who holds it. The kernel side is the macvlan integration target's."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError
from ansible_collections.virtnet.linux.plugins.module_utils._engine import Differences
from ansible_collections.virtnet.linux.plugins.module_utils._link import COMMON_KEYS
from ansible_collections.virtnet.linux.plugins.module_utils._spec import views
from ansible_collections.virtnet.linux.plugins.module_utils._spec.macvlan import (
    KEYS, MacvlanKind, fd_targets, link_netns_of, mode_needs_recreate, wanted_tap_mode,
)


def item(**kw):
    out = dict((k, None) for k in COMMON_KEYS + KEYS)
    out.update(state='present', netns='', kind='macvlan', mode='bridge', recreate=True)
    out.update(kw)
    return out


VIEW = {
    'name': 'mv0', 'netns': 'vpn', 'ifindex': 3, 'kind': 'macvlan', 'link_state': 'up', 'operstate': 'UP',
    'mtu': 1500, 'address': '02:00:00:00:00:03', 'master': '', 'txqueuelen': 1000, 'alias': '',
    'mode': 'bridge', 'link': 'eth0', 'link_netns': '', 'tap_device': None, 'user': None, 'group': None,
    'tap_mode': None,
}
LINK = {'ifname': 'mv0', 'index': 3, 'kind': 'macvlan'}
TAP_VIEW = dict(VIEW, kind='macvtap', tap_device='/dev/tap3', user=0, group=0, tap_mode='0600')


def errors_of(**kw):
    return MacvlanKind().validate(item(name='mv0', **kw))


# --------------------------------------------------------------------------- validation

def test_valid_items():
    assert errors_of(link='eth0') == []
    assert errors_of(link='eth0', netns='vpn', link_netns='') == []
    assert errors_of(link='eth0', kind='macvtap', user='0', group=0) == []
    assert MacvlanKind().validate(item(name='mv0', state='absent')) == []


@pytest.mark.parametrize('kw, message', [
    ({}, 'link (the parent device) is required to create or manage macvlan mv0 in the default netns'),
    ({'link': 'a' * 16}, "invalid parent name '%s': longer than 15 characters" % ('a' * 16)),
    ({'link': 'mv0'}, 'macvlan mv0 in the default netns cannot be its own parent'),
    ({'link': 'eth0', 'link_netns': 'a/b'}, "invalid netns name 'a/b'"),
    ({'link': 'eth0', 'user': 'root'}, 'macvlan mv0 in the default netns: user is for the character device of a '
                                       'macvtap (kind macvtap); a macvlan has none'),
    ({'link': 'eth0', 'kind': 'macvtap', 'group': 'no-such-group-xyz'},
     'cannot set the group of macvtap mv0 in the default netns: group no-such-group-xyz not found on the target'),
])
def test_bad_inputs_are_named(kw, message):
    errors = errors_of(**kw)
    assert any(message in e for e in errors), errors


def test_the_same_name_as_the_parent_in_another_namespace_is_fine():
    assert errors_of(link='mv0', netns='ct1', link_netns='') == []


def test_parent_namespace_defaults_to_the_devices_own():
    assert link_netns_of(item(netns='vpn')) == 'vpn'
    assert link_netns_of(item(netns='vpn', link_netns='')) == ''
    assert MacvlanKind().netns_needed(item(name='mv0', netns='vpn', link='eth0', link_netns='')) == ['vpn', '']
    assert MacvlanKind().netns_needed(item(name='mv0', netns='vpn', link='eth0')) == ['vpn']
    assert MacvlanKind().netns_needed(item(name='mv0', netns='vpn', link_netns='x', state='absent')) == ['vpn']


def test_needs_its_parent():
    needs = MacvlanKind().needs(item(name='mv0', netns='vpn', link='eth0', link_netns=''))
    assert (('link', '', 'eth0'), 'parent of macvlan mv0', None) in needs
    assert (('netns', ''), 'needed by mv0', None) in needs


# --------------------------------------------------------------------------- the parent

class Ctx(object):
    plan = None

    def __init__(self, links):
        self.links = links

        class Rt(object):
            @staticmethod
            def get_link(netns, ifname=None, index=None, need_data=True):
                return self.links.get((netns, ifname))
        self.rt = Rt()


@pytest.mark.parametrize('parent, message', [
    (None, 'macvlan mv0: parent eth9 not found in netns vpn'),
    ({'ifname': 'eth9', 'index': 4, 'kind': 'macvtap', 'ifi_type': 1},
     'macvlan mv0: parent eth9 in netns vpn is itself a macvtap (the kernel would use its parent instead)'),
    ({'ifname': 'eth9', 'index': 4, 'kind': 'tun', 'ifi_type': 65534},
     'macvlan mv0: parent eth9 in netns vpn is not an Ethernet device (a tun cannot carry a macvlan)'),
])
def test_a_parent_that_cannot_be_one_is_refused(parent, message):
    ctx = Ctx({('vpn', 'eth9'): parent})
    with pytest.raises(VirtnetError) as err:
        MacvlanKind().parent(ctx, item(name='mv0', netns='vpn', link='eth9'))
    assert message in err.value.msg


def test_a_parent_that_can_be_one():
    ok = {'ifname': 'eth9', 'index': 4, 'kind': 'veth', 'ifi_type': 1}
    assert MacvlanKind().parent(Ctx({('', 'eth9'): ok}), item(name='mv0', netns='vpn', link='eth9', link_netns='')) == ok


# --------------------------------------------------------------------------- comparing

def compare(view=None, link=None, **kw):
    it = item(name='mv0', netns='vpn', link='eth0', link_netns='', **kw)
    diffs = Differences()
    MacvlanKind().compare(None, it, link or LINK, view or VIEW, diffs)
    return it, [(d.key, d.before, d.after, d.recreate) for d in diffs.items]


def test_compare_converged():
    assert compare()[1] == []


def test_mode_in_place_except_passthru():
    assert compare(mode='private')[1] == [('mode', 'bridge', 'private', False)]
    assert compare(mode='passthru')[1] == [('mode', 'bridge', 'passthru', True)]
    assert mode_needs_recreate('passthru', 'vepa') and not mode_needs_recreate('vepa', 'bridge')
    assert not mode_needs_recreate('bridge', 'bridge')


def test_another_parent_or_kind_needs_a_new_device_which_keeps_the_link_settings():
    it, diffs = compare(view=dict(VIEW, link='eth1'))
    assert diffs == [('link', 'eth1', 'eth0', True)]
    assert it['address'] == '02:00:00:00:00:03' and it['link_state'] == 'up' and it['mtu'] == 1500
    _it, diffs = compare(view=dict(VIEW, link_netns='host'))
    assert diffs == [('link', 'eth0', 'eth0', True), ('link_netns', 'host', '', True)]
    _it, diffs = compare(kind='macvtap')
    assert diffs == [('kind', 'macvlan', 'macvtap', True)]


def test_macvtap_owner_group_and_mode():
    _it, diffs = compare(view=TAP_VIEW, link=dict(LINK, kind='macvtap'), kind='macvtap', user=107, group='108')
    assert diffs == [('user', 0, 107, False), ('group', 0, 108, False), ('tap_mode', '0600', '0660', False)]
    _it, diffs = compare(view=dict(TAP_VIEW, user=107, group=108, tap_mode='0660'), link=dict(LINK, kind='macvtap'),
                         kind='macvtap', user=107, group=108)
    assert diffs == []
    assert wanted_tap_mode(0o600, None) == 0o600 and wanted_tap_mode(0o600, 5) == 0o660


def test_macvtap_without_its_character_device_cannot_get_an_owner():
    with pytest.raises(VirtnetError) as err:
        compare(view=dict(TAP_VIEW, tap_device=None), link=dict(LINK, kind='macvtap'), kind='macvtap', user=107)
    assert 'its character device /dev/tap3 is missing' in err.value.msg


def test_refuse_recreate():
    diffs = Differences()
    diffs.add('link', 'eth1', 'eth0', recreate=True)
    it = item(name='mv0', netns='vpn', link='eth0', recreate=False)
    assert MacvlanKind().refuse_recreate(None, it, LINK, VIEW, diffs) == (
        'macvlan mv0 in netns vpn must be replaced to change link (eth1 -> eth0), and recreate is false: nothing was '
        'changed')
    assert MacvlanKind().refuse_recreate(None, dict(it, recreate=True), LINK, VIEW, diffs) is None


def test_predict():
    out = MacvlanKind().predict(item(name='mt0', kind='macvtap', link='eth0', user='0', link_state='up'),
                                {'name': 'mt0', 'netns': '', 'kind': 'macvlan'})
    assert out['kind'] == 'macvtap' and out['user'] == 0 and out['group'] is None and out['link_netns'] == ''
    assert out['tap_device'] is None and 'recreate' not in out and out['mode'] == 'bridge'


# --------------------------------------------------------------------------- the character device

def test_macvtap_major_and_tap_device(tmp_path):
    (tmp_path / 'devices').write_text('Character devices:\n  1 mem\n246 macvtap\n\nBlock devices:\n  8 sd\n')
    assert views.macvtap_major(str(tmp_path)) == 246
    assert views.macvtap_major(str(tmp_path / 'nope')) is None
    path, st = views.tap_device(2 ** 30)
    assert path == '/dev/tap%d' % 2 ** 30 and st is None


def test_macvlan_view():
    assert views.macvlan_view('macvtap', {'IFLA_MACVTAP_MODE': 'vepa'}) == {'mode': 'vepa'}
    assert views.macvlan_view('macvlan', None) == {'mode': None}


def test_fd_targets_compares_device_numbers(tmp_path):
    """A process holding a character device is found by its number, whatever path it opened it by."""
    proc = tmp_path / 'proc'
    (proc / '42' / 'fd').mkdir(parents=True)
    (proc / '42' / 'comm').write_text('qemu\n')
    (proc / '42' / 'fd' / '3').symlink_to('/dev/null')
    (proc / '43' / 'fd').mkdir(parents=True)
    (proc / '43' / 'fd' / '3').symlink_to('/etc/hostname')
    assert fd_targets('/dev/null', str(proc)) == [(42, 'qemu')]
    assert fd_targets('/dev/zero', str(proc)) == []
    assert fd_targets('/nonexistent', str(proc)) == []
    assert os.path.exists('/dev/null')


def test_a_bridge_port_cannot_be_a_parent():
    port = {'ifname': 'eth9', 'index': 4, 'kind': 'veth', 'ifi_type': 1, 'master_index': 3}
    ctx = Ctx({('', 'eth9'): port})
    ctx.rt.get_link = lambda netns, ifname=None, index=None, need_data=True: (
        {'ifname': 'br0', 'index': 3, 'kind': 'bridge'} if index == 3 else port)
    with pytest.raises(VirtnetError) as err:
        MacvlanKind().parent(ctx, item(name='mv0', link='eth9'))
    assert err.value.msg.startswith('macvlan mv0: parent eth9 in the default netns is a port of bridge br0, and a port '
                                    'cannot carry a macvlan')
