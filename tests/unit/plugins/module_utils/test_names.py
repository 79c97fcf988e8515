# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of names and values, and conversion to plain data (no kernel involved)."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    LinkNotFound, ObjectExists, VirtnetError, coerced_names, coercion_error, kernel_error, mac_error, normalise_mac,
    validate_ifname, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._pyroute2 import to_plain


@pytest.mark.parametrize('name', ['a', 'qdhcp-42', 'x' * 255, 'with space', 'tenant_01.a'])
def test_valid_netns_names(name):
    assert validate_netns_name(name) is None


@pytest.mark.parametrize('name,part', [
    ('', 'must not be empty'), ('.', 'not namespace names'), ('..', 'not namespace names'),
    ('../x', 'plain file name'), ('a/b', 'plain file name'), ('/abs', 'plain file name'),
    ('a\0b', 'NUL byte'), ('x' * 256, 'longer than 255'), (None, 'must not be empty'),
    ('a\nb', 'control characters'), ('a\tb', 'control characters'), ('a\x7fb', 'control characters'),
    ('a\x85b', 'control characters'), ('ns%d', 'must not contain "%"'),
])
def test_invalid_netns_names(name, part):
    assert part in validate_netns_name(name)


@pytest.mark.parametrize('name', ['eth0', 'tap42', 'a' * 15, 'br-x.10', 'ns-42'])
def test_valid_ifnames(name):
    assert validate_ifname(name) is None


@pytest.mark.parametrize('name,part', [
    ('', 'must not be empty'), ('a' * 16, 'longer than 15'), ('.', 'invalid'), ('..', 'invalid'),
    ('a/b', 'must not contain'), ('a:b', 'must not contain'), ('a b', 'must not contain'),
    ('a\tb', 'control characters'), ('a\nb', 'control characters'), ('a\x01', 'control characters'),
    ('a\0b', 'NUL byte'), ('zt%d', 'must not contain "%"'), ('a%', 'name template'),
])
def test_invalid_ifnames(name, part):
    assert part in validate_ifname(name)


def test_nul_is_named_as_such():
    assert '/' not in validate_ifname('a\0b')
    assert '/' not in validate_netns_name('a\0b')


def test_etc_file_names_may_hold_percent():
    assert validate_netns_name('a%b', 'file name', template_ok=True) is None
    assert 'file name' in validate_netns_name('a\nb', 'file name', template_ok=True)


@pytest.mark.parametrize('value', [['x'], {'a': 1}, True, 1.5])
def test_coercion_error(value):
    assert 'must be a string' in coercion_error(value)


@pytest.mark.parametrize('value', ['x', 42, '', None])
def test_no_coercion_error(value):
    assert coercion_error(value) is None


def test_coerced_names_walks_lists_and_batches():
    spec = dict(name=dict(type='str'), alias=dict(type='str'), ports=dict(type='list', elements='str'),
                batch=dict(type='list', elements='dict', options=dict(name=dict(type='str'),
                                                                      peer=dict(type='str'))))
    raw = dict(name=['x'], alias=['not a name'], ports=['a', ['b']],
               batch=[dict(name='ok'), dict(name='ok2', peer={'a': 1})])
    errors = coerced_names(spec, raw)
    assert errors == [
        "name must be a string, not a list (['x']); quote it if it is meant literally",
        "ports[1] must be a string, not a list (['b']); quote it if it is meant literally",
        "batch[1].peer must be a string, not a dict ({'a': 1}); quote it if it is meant literally",
    ]
    assert coerced_names(spec, dict(name='x', ports=['a'], batch=[dict(name=7)])) == []


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


def test_kernel_error_mapping():
    e = kernel_error(_Err(errno.ENODEV), 'setting mtu on x', 'ns1')
    assert isinstance(e, LinkNotFound)
    assert e.msg == 'setting mtu on x in netns ns1: not found'
    e = kernel_error(_Err(errno.EEXIST), 'creating x', None)
    assert isinstance(e, ObjectExists)
    assert e.msg == 'creating x in the default netns: already exists'
    e = kernel_error(_Err(errno.EOPNOTSUPP), 'setting vlan_filtering on br0', None)
    assert isinstance(e, VirtnetError) and not isinstance(e, (LinkNotFound, ObjectExists)) and 'not supported by this kernel' in e.msg
    assert 'CAP_NET_ADMIN' in kernel_error(_Err(errno.EPERM), 'x', None).msg


def test_to_plain():
    assert to_plain({'a': (1, b'x'), 'b': None}) == {'a': [1, 'x'], 'b': None}
