# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""IP values: addresses and prefixes parsed, normalised, named and ordered (pure).

Shared by the address and route specs (`_spec.address`, `_spec.route`) and the kernel reads in
`_pyroute2`; what an address or a route *does* lives in its spec file.
"""

from __future__ import annotations

import ipaddress

AF_INET = 2
AF_INET6 = 10
FAMILY_NAMES = {AF_INET: 'ipv4', AF_INET6: 'ipv6'}
HOST_PREFIX = {AF_INET: 32, AF_INET6: 128}

_LINK_LOCAL_V6 = ipaddress.ip_network('fe80::/10')


class IPError(ValueError):
    """A user input that is not a valid address, prefix, table, scope or protocol."""


# =========================================================================== parsing

def _text(value, what):
    if value is None:
        raise IPError('%s is missing' % what)
    text = str(value).strip()
    if not text:
        raise IPError('%s must not be empty' % what)
    return text


def parse_ip(value, what='address'):
    """A plain IPv4/IPv6 address (no prefix) -> (family, normalised text)."""
    text = _text(value, what)
    if '%' in text:
        raise IPError('invalid %s %r: zone indexes (%%...) are not supported; name the link instead' % (what, value))
    if '/' in text:
        raise IPError('invalid %s %r: expected a plain address without a prefix length' % (what, value))
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise IPError('invalid %s %r: not an IPv4 or IPv6 address' % (what, value))
    return (AF_INET if ip.version == 4 else AF_INET6), ip.compressed


class Addr(tuple):
    """An interface address: (family, address, prefixlen) plus whether the prefix was given."""

    __slots__ = ()

    def __new__(cls, family, address, prefixlen, host_only=False):
        return tuple.__new__(cls, (family, address, prefixlen, host_only))

    family = property(lambda self: self[0])
    address = property(lambda self: self[1])
    prefixlen = property(lambda self: self[2])
    host_only = property(lambda self: self[3])

    @property
    def key(self):
        return (self[0], self[1], self[2])

    @property
    def cidr(self):
        return '%s/%d' % (self[1], self[2])

    def __repr__(self):
        return 'Addr(%s%s)' % (self.cidr, ', host-only' if self.host_only else '')


def parse_cidr(value, what='address'):
    """An address in CIDR form (10.42.0.2/24, fd00:42::2/64) -> Addr.

    The prefix may also be a dotted netmask (10.42.0.2/255.255.255.0). An address without a prefix
    gets the host prefix (/32 or /128), as ``ip address add`` gives it; ``host_only`` records that.
    """
    text = _text(value, what)
    example = 'like 10.42.0.2/24 or fd00:42::2/64'
    if '%' in text:
        raise IPError('invalid %s %r: zone indexes (%%...) are not supported' % (what, value))
    if text.count('/') > 1:
        raise IPError('invalid %s %r: expected an address in CIDR form %s' % (what, value, example))
    host_only = '/' not in text
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise IPError('invalid %s %r: expected an IPv4 or IPv6 address in CIDR form %s' % (what, value, example))
    family = AF_INET if iface.version == 4 else AF_INET6
    return Addr(family, iface.ip.compressed, iface.network.prefixlen, host_only)


def cidr(address, prefixlen):
    return '%s/%d' % (address, prefixlen)


def is_ipv6_link_local(address):
    try:
        return ipaddress.ip_address(address) in _LINK_LOCAL_V6
    except ValueError:
        return False


def addr_sort_key(family, address, prefixlen):
    """IPv4 before IPv6, then numerically."""
    try:
        num = int(ipaddress.ip_address(address))
    except ValueError:
        num = 0
    return (0 if family == AF_INET else 1, num, prefixlen)


def sort_addresses(entries):
    """Sort dicts/Addr with family, address and prefixlen."""
    def key(e):
        if isinstance(e, Addr):
            return addr_sort_key(e.family, e.address, e.prefixlen)
        return addr_sort_key(e['family'], e['address'], e['prefixlen'])
    return sorted(entries, key=key)
