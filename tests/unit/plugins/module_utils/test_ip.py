# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""IP values (_ip): addresses and prefixes parsed and normalised; the kernel error translator's messages."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._ip import (
    AF_INET, AF_INET6, Addr, IPError, parse_cidr, parse_ip,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import kernel_error, kernel_message


# ------------------------------------------------------------------ addresses

@pytest.mark.parametrize('text, expected', [
    ('10.42.0.2/24', (AF_INET, '10.42.0.2', 24, False)),
    (' 10.42.0.2/255.255.255.0 ', (AF_INET, '10.42.0.2', 24, False)),
    ('10.42.0.2', (AF_INET, '10.42.0.2', 32, True)),
    ('FD00:42:0::2/64', (AF_INET6, 'fd00:42::2', 64, False)),
    ('fd00:42::2', (AF_INET6, 'fd00:42::2', 128, True)),
    ('10.42.0.0/24', (AF_INET, '10.42.0.0', 24, False)),
])
def test_parse_cidr(text, expected):
    assert tuple(parse_cidr(text)) == expected


@pytest.mark.parametrize('text', ['10.42.0.300/24', '10.0.0.1/33', 'fd00::zz/64', 'fd00::1/129', 'eth0', '',
                                  '10.0.0.1/24/3', 'fe80::1%eth0/64', '10.0.0.1/'])
def test_parse_cidr_rejects(text):
    with pytest.raises(IPError) as err:
        parse_cidr(text)
    assert repr(text) in str(err.value) or 'empty' in str(err.value)


def test_parse_ip():
    assert parse_ip('FD00::0:1') == (AF_INET6, 'fd00::1')
    for bad in ('10.0.0.1/24', 'x', 'fe80::1%eth0'):
        with pytest.raises(IPError):
            parse_ip(bad, 'gateway')


def test_addr_properties():
    a = Addr(AF_INET, '10.0.0.1', 24)
    assert a.key == (AF_INET, '10.0.0.1', 24) and a.cidr == '10.0.0.1/24' and not a.host_only


# ------------------------------------------------------------------ kernel errors

class FakeNetlinkError(Exception):
    def __init__(self, code, text):
        super().__init__(code, text)
        self.code = code


def test_kernel_error_carries_the_kernel_message():
    exc = FakeNetlinkError(errno.ENETUNREACH, 'Nexthop has invalid gateway')
    assert kernel_message(exc) == 'Nexthop has invalid gateway'
    err = kernel_error(exc, 'adding route 10.0.0.0/8', 'ns1', 'gateway 10.9.9.9 is not on a connected subnet',
                       kernel_first=True)
    assert err.msg == ('adding route 10.0.0.0/8 in netns ns1: gateway 10.9.9.9 is not on a connected subnet '
                       '(kernel: Nexthop has invalid gateway)')
    err = kernel_error(FakeNetlinkError(errno.EACCES, 'ipv6: IPv6 is disabled on this device'), 'adding x', 'n',
                       kernel_first=True)
    assert err.msg == 'adding x in netns n: ipv6: IPv6 is disabled on this device (EACCES)'
    plain = FakeNetlinkError(errno.ESRCH, 'No such process')
    assert kernel_message(plain) is None
    assert kernel_error(plain, 'x', '', kernel_first=True).msg == 'x in the default netns: no such object'
