# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of tun/tap devices: ids, flags, reading IFLA_TUN_* back, comparing, fdinfo (no kernel)."""

from __future__ import annotations

import errno
import grp
import pwd
import struct

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils import _tuntap as t
from ansible_collections.virtnet.linux.plugins.module_utils._pyroute2 import _data_dict


def test_ioctl_numbers_match_the_kernel_headers():
    # linux/if_tun.h: _IOW('T', 202, int) etc.; pyroute2 hard-codes the same values
    assert t._iow(202, machine='x86_64') == 0x400454ca
    assert t._iow(203, machine='aarch64') == 0x400454cb
    assert t._iow(204, machine='x86_64') == 0x400454cc
    assert t._iow(206, machine='x86_64') == 0x400454ce
    assert t._iow(202, machine='ppc64le') == 0x800454ca
    assert t._iow(202, machine='mips64') == 0x800454ca


@pytest.mark.parametrize('args,flags', [
    (('tun',), 0x1001),
    (('tap',), 0x1002),
    (('tap', True), 0x0002),
    (('tap', False, True), 0x5002),
    (('tun', False, False, True), 0x1101),
    (('tap', True, True, True), 0x4102),
])
def test_flags(args, flags):
    assert t.flags_for(*args) == flags


def test_ifreq_layout():
    raw = t.ifreq('tap0', 0x1002)
    assert len(raw) == 40
    assert raw[:16] == b'tap0' + b'\0' * 12
    assert struct.unpack('H', raw[16:18]) == (0x1002,)
    with pytest.raises(ValueError):
        t.ifreq('x' * 16, 1)


def test_resolve_numeric_ids():
    assert t.resolve_id(0) == 0
    assert t.resolve_id(1000, 'group') == 1000
    assert t.resolve_id('4242') == 4242
    assert t.resolve_id(' 7 ') == 7
    assert t.resolve_id('') is None


def test_resolve_names():
    root = pwd.getpwuid(0).pw_name
    assert t.resolve_id(root) == 0
    group = grp.getgrgid(0).gr_name
    assert t.resolve_id(group, 'group') == 0


@pytest.mark.parametrize('value,what,part', [
    ('no-such-user-xyz', 'user', 'user no-such-user-xyz not found on the target'),
    ('no-such-group-xyz', 'group', 'group no-such-group-xyz not found on the target (no such group in the group'),
    (-1, 'user', 'out of range'),
    ('-5', 'group', 'out of range'),
    (4294967295, 'user', 'out of range'),
    (True, 'user', 'name or a numeric id'),
    ([1000], 'user', 'name or a numeric id'),
    (1000.0, 'group', 'name or a numeric id'),
])
def test_resolve_errors(value, what, part):
    with pytest.raises(ValueError) as exc:
        t.resolve_id(value, what)
    assert part in str(exc.value)


def test_view_of_a_tap():
    view = t.tun_view({'IFLA_TUN_TYPE': 2, 'IFLA_TUN_PI': 0, 'IFLA_TUN_VNET_HDR': 1, 'IFLA_TUN_PERSIST': 1,
                       'IFLA_TUN_MULTI_QUEUE': 1, 'IFLA_TUN_NUM_QUEUES': 0})
    assert view == {'mode': 'tap', 'user': None, 'group': None, 'pi': False, 'vnet_hdr': True,
                    'multi_queue': True, 'persist': True}


def test_view_of_a_tun_with_owner():
    view = t.tun_view({'IFLA_TUN_TYPE': 1, 'IFLA_TUN_OWNER': 1000, 'IFLA_TUN_GROUP': 65534, 'IFLA_TUN_PI': 1,
                       'IFLA_TUN_VNET_HDR': 0, 'IFLA_TUN_PERSIST': 0, 'IFLA_TUN_MULTI_QUEUE': 0})
    assert view['mode'] == 'tun' and view['user'] == 1000 and view['group'] == 65534
    assert view['pi'] is True and view['persist'] is False


def test_view_without_data():
    assert t.tun_view({})['mode'] is None
    assert t.tun_view(None)['pi'] is None


HAVE = {'mode': 'tap', 'user': 1000, 'group': None, 'pi': False, 'vnet_hdr': False, 'multi_queue': False,
        'persist': True}


def test_no_differences_when_equal_or_unmanaged():
    assert t.tun_differences({'mode': 'tap', 'pi': False, 'persist': True}, HAVE) == []
    assert t.tun_differences({'user': 1000}, HAVE) == []


def test_in_place_differences():
    diffs = t.tun_differences({'mode': 'tap', 'user': 65534, 'group': 5, 'pi': True, 'vnet_hdr': True}, HAVE)
    assert diffs == [('user', 1000, 65534, False), ('group', None, 5, False), ('pi', False, True, False),
                     ('vnet_hdr', False, True, False)]


def test_recreate_differences():
    diffs = t.tun_differences({'mode': 'tun', 'multi_queue': True, 'user': None}, HAVE)
    assert diffs == [('mode', 'tap', 'tun', True), ('user', 1000, None, True), ('multi_queue', False, True, True)]


def test_non_persistent_device_is_made_persistent_in_place():
    assert t.tun_differences({'persist': True}, dict(HAVE, persist=False)) == [('persist', False, True, False)]


def test_fdinfo_parsing():
    text = 'pos:\t0\nflags:\t02100002\nmnt_id:\t58\nino:\t105\niff:\tmy0\n'
    assert t.fdinfo_iff(text) == 'my0'
    assert t.fdinfo_iff('pos:\t0\nflags:\t02\n') is None


def test_find_holders(tmp_path):
    def fd(pid, num, text, comm='qemu'):
        d = tmp_path / str(pid) / 'fdinfo'
        d.mkdir(parents=True, exist_ok=True)
        (d / str(num)).write_text(text)
        (tmp_path / str(pid) / 'comm').write_text(comm + '\n')
    fd(10, 3, 'pos:\t0\niff:\ttap0\n')
    fd(10, 4, 'pos:\t0\niff:\ttap0\n')
    fd(20, 3, 'pos:\t0\niff:\ttap01\n')
    fd(30, 5, 'pos:\t0\n')
    fd(40, 7, 'pos:\t0\niff:\ttap0\n', 'openvpn')
    (tmp_path / 'self').mkdir()
    assert t.find_holders('tap0', proc=str(tmp_path)) == [(10, 'qemu'), (40, 'openvpn')]
    assert t.find_holders('nope', proc=str(tmp_path)) == []
    assert t.holders_text([(10, 'qemu'), (40, 'openvpn')]) == 'pid 10 (qemu), pid 40 (openvpn)'
    assert t.holders_text([]) == 'a process'


def test_error_texts():
    assert 'held open' in t.tun_error_text(t.TunError('TUNSETIFF', errno.EBUSY), True)
    assert 'mode or multi_queue' in t.tun_error_text(t.TunError('TUNSETIFF', errno.EINVAL), True)
    assert 'another kind' in t.tun_error_text(t.TunError('TUNSETIFF', errno.EINVAL), False)
    assert 'CAP_NET_ADMIN' in t.tun_error_text(t.TunError('TUNSETOWNER', errno.EPERM), False)


class _Nla(dict):
    """pyroute2 0.9 nla objects are dicts whose attribute list is under 'attrs'."""


def test_info_data_of_pyroute2_09_nla_objects():
    data = _Nla(attrs=[('IFLA_TUN_TYPE', 2), ('IFLA_TUN_OWNER', 65534)])
    assert _data_dict(data) == {'IFLA_TUN_TYPE': 2, 'IFLA_TUN_OWNER': 65534}
    assert _data_dict(None) == {}
