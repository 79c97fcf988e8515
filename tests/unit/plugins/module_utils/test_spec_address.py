# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Address behaviour (_spec.address): checks, public lists, duplicates and conflicts, plans, predictions."""

from __future__ import annotations

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._ip import parse_cidr
from ansible_collections.virtnet.linux.plugins.module_utils._spec.address import (
    address_list, parse_address_list, plan_addresses, predict_addresses, unusable_address,
)


def entry(text, family=None):
    a = parse_cidr(text)
    return {'family': family or a.family, 'address': a.address, 'prefixlen': a.prefixlen}


def test_address_list_is_sorted_ipv4_first_numerically():
    entries = [entry('fd00::2/64'), entry('10.0.0.10/24'), entry('10.0.0.9/24'), entry('fe80::1/64')]
    assert address_list(entries) == ['10.0.0.9/24', '10.0.0.10/24', 'fd00::2/64', 'fe80::1/64']


def test_parse_address_list_duplicates_and_conflicts():
    parsed, errors = parse_address_list(['10.0.0.1/24', '10.0.0.1/24', '10.0.0.1/16', 'fd00::1/64',
                                         'FD00::1/48', 'bad'])
    assert [a.cidr for a in parsed] == ['10.0.0.1/24', '10.0.0.1/16', 'fd00::1/64']
    assert any('listed twice' in e for e in errors)
    assert any('fd00::1/48 conflicts with fd00::1/64' in e for e in errors)
    assert any("'bad'" in e for e in errors)
    assert len(errors) == 3


def test_plan_present_adds_missing_only():
    current = [entry('10.0.0.1/24'), entry('fe80::1/64')]
    remove, add = plan_addresses(current, [parse_cidr('10.0.0.1/24'), parse_cidr('fd00::1/64')], 'present')
    assert remove == []
    assert [a.cidr for a in add] == ['fd00::1/64']


def test_plan_present_other_prefix_is_replaced():
    current = [entry('10.0.0.1/16'), entry('fd00::1/48')]
    remove, add = plan_addresses(current, [parse_cidr('10.0.0.1/24'), parse_cidr('fd00::1/64')], 'present')
    assert address_list(remove) == ['10.0.0.1/16', 'fd00::1/48']
    assert [a.cidr for a in add] == ['10.0.0.1/24', 'fd00::1/64']


def test_plan_present_without_purge_keeps_others():
    current = [entry('10.0.0.9/24')]
    remove, add = plan_addresses(current, [parse_cidr('10.0.0.1/24')], 'present', purge=False)
    assert remove == [] and [a.cidr for a in add] == ['10.0.0.1/24']


def test_plan_purge_touches_listed_families_only_and_never_link_local():
    current = [entry('10.0.0.1/24'), entry('10.0.0.9/24'), entry('192.168.1.1/24'),
               entry('fd00::9/64'), entry('fe80::1/64')]
    remove, add = plan_addresses(current, [parse_cidr('10.0.0.1/24')], 'present', purge=True)
    assert address_list(remove) == ['10.0.0.9/24', '192.168.1.1/24']
    assert add == []
    remove, add = plan_addresses(current, [parse_cidr('fd00::1/64')], 'present', purge=True)
    assert address_list(remove) == ['fd00::9/64']
    assert [a.cidr for a in add] == ['fd00::1/64']
    # listing one link-local address does not expose the others to purging
    remove, add = plan_addresses(current, [parse_cidr('fe80::2/64')], 'present', purge=True)
    assert address_list(remove) == ['fd00::9/64']
    assert [a.cidr for a in add] == ['fe80::2/64']
    remove, add = plan_addresses(current, [parse_cidr('fe80::1/64')], 'present', purge=True)
    assert address_list(remove) == ['fd00::9/64']
    assert add == []


def test_plan_absent():
    current = [entry('10.0.0.1/24'), entry('10.0.0.2/28'), entry('fd00::1/64')]
    remove, add = plan_addresses(current, [parse_cidr('10.0.0.1/16'), parse_cidr('10.0.0.2'),
                                           parse_cidr('fd00::1/64'), parse_cidr('10.9.9.9/24')], 'absent')
    # 10.0.0.1/16 is another address than 10.0.0.1/24; 10.0.0.2 without prefix matches any prefix
    assert address_list(remove) == ['10.0.0.2/28', 'fd00::1/64']
    assert add == []


def test_plan_absent_purge_is_ignored():
    current = [entry('10.0.0.1/24'), entry('10.0.0.9/24')]
    remove, add = plan_addresses(current, [parse_cidr('10.0.0.1/24')], 'absent', purge=True)
    assert address_list(remove) == ['10.0.0.1/24'] and add == []


def test_predict_addresses():
    current = [entry('10.0.0.1/16'), entry('fe80::1/64')]
    remove, add = plan_addresses(current, [parse_cidr('10.0.0.1/24')], 'present')
    assert address_list(predict_addresses(current, remove, add)) == ['10.0.0.1/24', 'fe80::1/64']


@pytest.mark.parametrize('text,dev,part', [
    ('224.1.1.1/24', 'eth0', 'multicast'), ('ff02::5/64', 'eth0', 'multicast'),
    ('0.0.0.0/0', 'eth0', 'unspecified'), ('::/0', 'eth0', 'unspecified'),
    ('::1/128', 'eth0', 'lo only'),
])
def test_unusable_addresses(text, dev, part):
    assert part in unusable_address(parse_cidr(text), dev)


@pytest.mark.parametrize('text,dev', [('10.0.0.1/24', 'eth0'), ('fd00::1/64', 'eth0'), ('::1/128', 'lo'),
                                      ('127.0.0.2/8', 'lo'), ('fe80::1/64', 'eth0')])
def test_usable_addresses(text, dev):
    assert unusable_address(parse_cidr(text), dev) is None
