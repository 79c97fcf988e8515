# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of names and values, and conversion to plain data (no kernel involved)."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._netlink import (
    LinkNotFound, ObjectExists, VirtnetError, netlink_error, to_plain, validate_ifname, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._link import mac_error, normalise_mac


@pytest.mark.parametrize('name', ['a', 'qdhcp-42', 'x' * 255, 'with space', 'tenant_01.a'])
def test_valid_netns_names(name):
    assert validate_netns_name(name) is None


@pytest.mark.parametrize('name,part', [
    ('', 'must not be empty'), ('.', 'not namespace names'), ('..', 'not namespace names'),
    ('../x', 'plain file name'), ('a/b', 'plain file name'), ('/abs', 'plain file name'),
    ('a\0b', 'plain file name'), ('x' * 256, 'longer than 255'), (None, 'must not be empty'),
])
def test_invalid_netns_names(name, part):
    assert part in validate_netns_name(name)


@pytest.mark.parametrize('name', ['eth0', 'tap42', 'a' * 15, 'br-x.10', 'ns-42'])
def test_valid_ifnames(name):
    assert validate_ifname(name) is None


@pytest.mark.parametrize('name,part', [
    ('', 'must not be empty'), ('a' * 16, 'longer than 15'), ('.', 'invalid'), ('..', 'invalid'),
    ('a/b', 'must not contain'), ('a:b', 'must not contain'), ('a b', 'must not contain'),
    ('a\tb', 'must not contain'),
])
def test_invalid_ifnames(name, part):
    assert part in validate_ifname(name)


def test_ifname_length_counts_bytes():
    assert validate_ifname('é' * 8) is not None     # 16 bytes


def test_mac():
    assert normalise_mac('02-AA-BB-CC-DD-EE') == '02:aa:bb:cc:dd:ee'
    assert mac_error('02:aa:bb:cc:dd:ee') is None
    assert 'expected a MAC' in mac_error('02:aa:bb')
    assert 'multicast' in mac_error('01:00:5e:00:00:01')
    assert mac_error(None) is None


class _Err(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def test_netlink_error_mapping():
    e = netlink_error(_Err(errno.ENODEV), 'setting mtu on x', 'ns1')
    assert isinstance(e, LinkNotFound)
    assert e.msg == 'setting mtu on x in netns ns1: not found'
    e = netlink_error(_Err(errno.EEXIST), 'creating x', None)
    assert isinstance(e, ObjectExists)
    assert e.msg == 'creating x in the default netns: already exists'
    e = netlink_error(_Err(errno.EOPNOTSUPP), 'setting vlan_filtering on br0', None)
    assert isinstance(e, VirtnetError) and not isinstance(e, (LinkNotFound, ObjectExists)) and 'not supported by this kernel' in e.msg
    assert 'CAP_NET_ADMIN' in netlink_error(_Err(errno.EPERM), 'x', None).msg


def test_to_plain():
    assert to_plain({'a': (1, b'x'), 'b': None}) == {'a': [1, 'x'], 'b': None}
