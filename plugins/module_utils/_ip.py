# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""IP addresses and routes: parsing, normalising, keys and plans (pure), plus cheap kernel reads.

The first part is pure logic (covered by unit tests). The second part reads addresses and routes
over an existing pyroute2 socket with kernel-side filtering (NETLINK_GET_STRICT_CHK), so reading
the addresses of one link or the routes of one table does not parse the whole namespace.
"""

from __future__ import annotations

import errno
import ipaddress
import os

from ansible_collections.virtnet.linux.plugins.module_utils._common import kernel_error
from ansible_collections.virtnet.linux.plugins.module_utils._pyroute2 import dump_request, msg_get

AF_INET = 2
AF_INET6 = 10
FAMILY_NAMES = {AF_INET: 'ipv4', AF_INET6: 'ipv6'}
HOST_PREFIX = {AF_INET: 32, AF_INET6: 128}
#: the metric the kernel gives a route that does not set one (RTA_PRIORITY absent)
DEFAULT_METRIC = {AF_INET: 0, AF_INET6: 1024}

TABLES = {'main': 254, 'local': 255, 'default': 253}
SCOPES = {'universe': 0, 'site': 200, 'link': 253, 'host': 254, 'nowhere': 255}
ROUTE_TYPES = {'unspec': 0, 'unicast': 1, 'local': 2, 'broadcast': 3, 'anycast': 4, 'multicast': 5,
               'blackhole': 6, 'unreachable': 7, 'prohibit': 8, 'throw': 9, 'nat': 10, 'xresolve': 11}
#: route types a user can ask for (the others are made by the kernel)
USER_ROUTE_TYPES = ['unicast', 'blackhole', 'unreachable', 'prohibit', 'throw']
PROTOS = {'unspec': 0, 'redirect': 1, 'kernel': 2, 'boot': 3, 'static': 4, 'gated': 8, 'ra': 9,
          'mrt': 10, 'zebra': 11, 'bird': 12, 'dnrouted': 13, 'xorp': 14, 'ntk': 15, 'dhcp': 16,
          'keepalived': 18, 'babel': 42, 'openr': 99, 'bgp': 186, 'isis': 187, 'ospf': 188,
          'rip': 189, 'eigrp': 192}
DEFAULT_PROTO = 'static'
RT_TABLES_FILES = ('/usr/share/iproute2/rt_tables', '/etc/iproute2/rt_tables')
RT_TABLES_DIRS = ('/usr/share/iproute2/rt_tables.d', '/etc/iproute2/rt_tables.d')

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


def unusable_address(addr, dev=None):
    """Why the kernel would never keep `addr` (an Addr) on link `dev`, or None.

    IPv6 refuses multicast, the unspecified address and ::1 outside lo (but only after it has set up
    the link for IPv6, e.g. its ff00::/8 route); IPv4 takes multicast addresses, and drops 0.0.0.0
    without an error: neither can be a link's address.
    """
    ip = ipaddress.ip_address(addr.address)
    if ip.is_multicast:
        return 'a multicast address cannot be assigned to a link'
    if ip.is_unspecified:
        return 'the unspecified address cannot be assigned to a link'
    if addr.family == AF_INET6 and ip.is_loopback and dev != 'lo':
        return 'the loopback address ::1 can be assigned to lo only'
    return None


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


def address_list(entries):
    """The public list of CIDR strings of address entries, sorted (IPv4 first)."""
    return [cidr(e['address'], e['prefixlen']) if isinstance(e, dict) else e.cidr for e in sort_addresses(entries)]


def parse_address_list(values, what='address'):
    """Parse a list of CIDR strings -> (list of Addr, list of error messages)."""
    parsed, errors = [], []
    seen = {}
    for value in values or []:
        try:
            a = parse_cidr(value, what)
        except IPError as exc:
            errors.append(str(exc))
            continue
        if a.key in seen:
            errors.append('%s %s is listed twice' % (what, a.cidr))
            continue
        if a.family == AF_INET6:
            other = [b for b in parsed if b.family == AF_INET6 and b.address == a.address]
            if other:
                errors.append('%s %s conflicts with %s: an IPv6 address can have only one prefix length on a link'
                              % (what, a.cidr, other[0].cidr))
                continue
        seen[a.key] = a
        parsed.append(a)
    return parsed, errors


# =========================================================================== address plans

def plan_addresses(current, wanted, state, purge=False):
    """What to remove and what to add so that a link's addresses match the task.

    current: dicts with family, address, prefixlen (as the kernel reports them)
    wanted:  Addr objects from the task
    Returns (remove, add): remove is a list of `current` entries, add a list of Addr.

    present: every wanted address with its prefix length; the same address with another prefix
             length is replaced. With purge, every other address of a family that is listed goes,
             except IPv6 link-local (fe80::/10) addresses that are not listed.
    absent:  each listed address goes; one written without a prefix goes whatever its prefix length.
    """
    current = list(current)
    have = set((c['family'], c['address'], c['prefixlen']) for c in current)
    remove, add = [], []
    if state == 'absent':
        for c in current:
            for w in wanted:
                if c['family'] != w.family or c['address'] != w.address:
                    continue
                if w.host_only or c['prefixlen'] == w.prefixlen:
                    remove.append(c)
                    break
        return remove, add

    want_keys = set(w.key for w in wanted)
    want_addrs = set((w.family, w.address) for w in wanted)
    families = set(w.family for w in wanted)
    for c in current:
        key = (c['family'], c['address'], c['prefixlen'])
        if key in want_keys:
            continue
        if (c['family'], c['address']) in want_addrs:
            remove.append(c)            # the same address with another prefix length: replaced
        elif purge and c['family'] in families:
            if c['family'] == AF_INET6 and is_ipv6_link_local(c['address']):
                continue
            remove.append(c)
    for w in wanted:
        if w.key not in have:
            add.append(w)
    return remove, add


def predict_addresses(current, remove, add):
    """The address entries after removing `remove` and adding `add` (check mode)."""
    gone = set((r['family'], r['address'], r['prefixlen']) for r in remove)
    out = [dict(c) for c in current if (c['family'], c['address'], c['prefixlen']) not in gone]
    for a in add:
        out.append({'family': a.family, 'address': a.address, 'prefixlen': a.prefixlen})
    return sort_addresses(out)


# =========================================================================== route parsing

def read_rt_tables(files=RT_TABLES_FILES, dirs=RT_TABLES_DIRS):
    """Table names from iproute2's rt_tables files (later files win); missing files are fine."""
    names = {}
    paths = list(files)
    for d in dirs:
        try:
            paths.extend(os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith('.conf'))
        except OSError:
            continue
    for path in paths:
        try:
            with open(path) as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            continue
        names.update(parse_rt_tables(text))
    return names


def parse_rt_tables(text):
    names = {}
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            num = int(parts[0], 0)
        except ValueError:
            continue
        names[parts[1]] = num
    return names


def _int_in(text, lo, hi):
    try:
        num = int(str(text).strip(), 0)
    except ValueError:
        return None
    return num if lo <= num <= hi else None


def parse_table(value, names=None):
    """A routing table name or number -> its number (1..2**32-1). None -> main (254)."""
    if value is None or str(value).strip() == '':
        return TABLES['main']
    text = str(value).strip()
    if text in TABLES:
        return TABLES[text]
    if names and text in names and 0 < names[text] < 2 ** 32:
        return names[text]
    num = _int_in(text, 1, 2 ** 32 - 1)
    if num is None:
        raise IPError('invalid table %r: expected main, local, default, a name from rt_tables or a number '
                      '1..4294967295' % (value,))
    return num


def parse_scope(value):
    if value is None:
        return None
    text = str(value).strip()
    if text in SCOPES:
        return SCOPES[text]
    if text == 'global':
        return 0
    num = _int_in(text, 0, 255)
    if num is None:
        raise IPError('invalid scope %r: expected universe, site, link, host, nowhere or 0..255' % (value,))
    return num


def parse_proto(value):
    if value is None:
        return None
    text = str(value).strip()
    if text in PROTOS:
        return PROTOS[text]
    num = _int_in(text, 0, 255)
    if num is None:
        raise IPError('invalid proto %r: expected a name such as static, boot, dhcp or a number 0..255' % (value,))
    return num


def name_of(mapping, num):
    """The name of `num` in a name->number mapping, else the number itself."""
    for name, value in mapping.items():
        if value == num:
            return name
    return num


def scope_name(num):
    return name_of(SCOPES, num)


def proto_name(num):
    return name_of(PROTOS, num)


def type_name(num):
    return name_of(ROUTE_TYPES, num)


def parse_route_dst(value, family_hint=None):
    """dst: ``default``, a network in CIDR form or a host address -> (family, network, prefixlen).

    ``default`` is IPv4 unless `family_hint` says IPv6. Host bits set in a network are an error
    (as with ``ip route``), naming the network the user probably meant.
    """
    text = _text(value, 'dst')
    if text == 'default':
        family = family_hint or AF_INET
        return family, ('0.0.0.0' if family == AF_INET else '::'), 0
    if '%' in text:
        raise IPError('invalid dst %r: zone indexes (%%...) are not supported' % (value,))
    try:
        if '/' in text:
            iface = ipaddress.ip_interface(text)
        else:
            ip = ipaddress.ip_address(text)
            iface = ipaddress.ip_interface('%s/%d' % (ip, ip.max_prefixlen))
    except ValueError:
        raise IPError('invalid dst %r: expected default, a network like 10.43.0.0/24 or fd00:43::/64, '
                      'or a host address' % (value,))
    family = AF_INET if iface.version == 4 else AF_INET6
    if iface.ip != iface.network.network_address:
        raise IPError('invalid dst %r: host bits set (did you mean %s?)' % (value, iface.network.compressed))
    return family, iface.network.network_address.compressed, iface.network.prefixlen


def dst_text(family, dst, dst_len):
    """How a route's destination is shown: ``default`` or a CIDR network."""
    if dst_len == 0:
        return 'default'
    return cidr(dst, dst_len)


def route_spec(item, table_names=None):
    """Normalise one route of the task -> (spec dict, list of errors)."""
    errors = []
    spec = {'netns': item.get('netns') or '', 'state': item.get('state') or 'present'}

    def parse(func, key, *args):
        if item.get(key) is None:
            return None
        try:
            return func(item[key], *args)
        except IPError as exc:
            errors.append(str(exc))
            return None

    gw = parse(parse_ip, 'gateway', 'gateway')
    src = parse(parse_ip, 'src', 'src')
    hint = (gw or src or (None, None))[0]
    dst = parse(parse_route_dst, 'dst', hint)
    if item.get('dst') is None:
        errors.append('dst is required')
    spec['table'] = parse(parse_table, 'table', table_names) or TABLES['main']
    spec['scope'] = parse(parse_scope, 'scope')
    spec['proto'] = parse(parse_proto, 'proto')
    rtype = item.get('type') or 'unicast'
    if rtype not in USER_ROUTE_TYPES:
        errors.append('invalid type %r: expected one of %s' % (rtype, ', '.join(USER_ROUTE_TYPES)))
    spec['type'] = rtype
    metric = item.get('metric')
    if metric is not None and not 0 <= metric <= 2 ** 32 - 1:
        errors.append('metric %d out of range (0..4294967295)' % metric)
        metric = None
    spec['dev'] = item.get('dev') or None
    spec['gateway'] = gw[1] if gw else None
    spec['src'] = src[1] if src else None
    if dst is None:
        return spec, errors
    family, network, plen = dst
    spec.update(family=family, dst=network, dst_len=plen)
    spec['metric_given'] = metric is not None
    spec['metric'] = metric if metric is not None else DEFAULT_METRIC[family]
    label = dst_text(family, network, plen)
    for what, parsed in (('gateway', gw), ('src', src)):
        if parsed and parsed[0] != family:
            errors.append('%s %s is %s but dst %s is %s' % (what, parsed[1], FAMILY_NAMES[parsed[0]],
                                                            label, FAMILY_NAMES[family]))
    if spec['scope'] is not None and family == AF_INET6:
        errors.append('scope applies to IPv4 routes only (the kernel ignores it for IPv6): %s' % label)
    if spec['state'] == 'present':
        if rtype == 'unicast':
            if item.get('gateway') is None and not spec['dev']:
                errors.append('route %s needs a gateway or a dev' % label)
            if gw and family == AF_INET6 and is_ipv6_link_local(gw[1]) and not spec['dev']:
                errors.append('gateway %s is link-local: dev is required to say on which link' % gw[1])
        elif spec['gateway'] or spec['dev']:
            errors.append('a %s route (%s) takes neither gateway nor dev' % (rtype, label))
    return spec, errors


def default_scope(spec):
    """The scope ``ip route`` gives a route that does not set one."""
    if spec['type'] == 'unicast' and not spec.get('gateway'):
        return SCOPES['link']
    return SCOPES['universe']


def route_key(spec):
    """A route's identity, as the kernel's: (netns, family, table, dst, dst_len, metric)."""
    return (spec['netns'], spec['family'], spec['table'], spec['dst'], spec['dst_len'], spec['metric'])


def route_label(spec, with_netns=True):
    """A route named for messages and results: 10.43.0.0/24 [table 100] [metric 5] [in netns X]."""
    out = dst_text(spec['family'], spec['dst'], spec['dst_len'])
    if spec['dst_len'] == 0 and spec['family'] == AF_INET6:
        out = 'default (ipv6)'
    if spec['table'] != TABLES['main']:
        out += ' table %s' % name_of(TABLES, spec['table'])
    if spec.get('metric_given', True) and spec['metric'] != DEFAULT_METRIC[spec['family']]:
        out += ' metric %d' % spec['metric']
    if with_netns and spec.get('netns'):
        out += ' in netns %s' % spec['netns']
    return out


def route_conflicts(specs):
    """Labels of routes named more than once in a task.

    Identity is (netns, family, table, dst, metric); a removal without a metric stands for every
    metric, so it conflicts with any other entry for the same destination.
    """
    groups = {}
    for spec in specs:
        base = (spec['netns'], spec['family'], spec['table'], spec['dst'], spec['dst_len'])
        groups.setdefault(base, []).append(spec)
    out = []
    for group in groups.values():
        if len(group) < 2:
            continue
        wildcard = [s for s in group if s['state'] == 'absent' and not s.get('metric_given', True)]
        metrics = [s['metric'] for s in group]
        if wildcard or len(set(metrics)) < len(metrics):
            label = route_label(wildcard[0] if wildcard else group[0])
            if label not in out:
                out.append(label)
    return out


def route_differences(want, have):
    """[(field, before, after)] between a wanted route spec and the kernel's route (a plain dict).

    The next hop is compared as a whole (a route given with only a dev has no gateway); dev, src,
    scope and proto are compared only when the task sets them.
    """
    diffs = []
    if have.get('type') != want['type']:
        diffs.append(('type', have.get('type'), want['type']))
    if want['type'] == 'unicast':
        if have.get('multipath'):
            diffs.append(('gateway', 'multipath', want['gateway']))
        elif have.get('gateway') != want['gateway']:
            diffs.append(('gateway', have.get('gateway'), want['gateway']))
        if want['dev'] is not None and have.get('dev') != want['dev']:
            diffs.append(('dev', have.get('dev'), want['dev']))
    if want['src'] is not None and have.get('src') != want['src']:
        diffs.append(('src', have.get('src'), want['src']))
    if want['scope'] is not None and have.get('scope_num') != want['scope']:
        diffs.append(('scope', have.get('scope'), scope_name(want['scope'])))
    if want['proto'] is not None and have.get('proto_num') != want['proto']:
        diffs.append(('proto', have.get('proto'), proto_name(want['proto'])))
    return diffs


def route_view(raw, names, netns=''):
    """The public view of a kernel route (plain dict from :func:`route_from_msg`).

    `names` maps an ifindex to a link name. ``scope_num``/``proto_num`` are kept for comparisons and
    dropped by :func:`public_route`.
    """
    view = {
        'dst': dst_text(raw['family'], raw['dst'], raw['dst_len']),
        'family': FAMILY_NAMES.get(raw['family'], raw['family']),
        'table': raw['table'],
        'metric': raw['metric'],
        'type': type_name(raw['type_num']),
        'gateway': raw['gateway'],
        'dev': names(raw['oif']) if raw['oif'] else None,
        'src': raw['prefsrc'],
        'scope': scope_name(raw['scope_num']),
        'proto': proto_name(raw['proto_num']),
        'netns': netns or '',
        'scope_num': raw['scope_num'],
        'proto_num': raw['proto_num'],
    }
    if raw['multipath']:
        view['multipath'] = [{'gateway': h['gateway'], 'dev': names(h['oif']) if h['oif'] else None}
                             for h in raw['multipath']]
    return view


def public_route(view):
    if view is None:
        return None
    return dict((k, v) for k, v in view.items() if k not in ('scope_num', 'proto_num'))


def route_target(spec, have=None):
    """The attributes the module sends to add `spec`, or to replace `have` with it.

    Options the task leaves out get ``ip route``'s defaults (scope link for a unicast route without
    gateway, else universe; proto static); when replacing, an unset proto or src keeps the old one.
    """
    unicast = spec['type'] == 'unicast'
    scope = spec['scope'] if spec['scope'] is not None else default_scope(spec)
    if spec['family'] == AF_INET6:
        scope = SCOPES['universe']
    proto = spec['proto']
    if proto is None:
        proto = have['proto_num'] if have else PROTOS[DEFAULT_PROTO]
    src = spec['src']
    if src is None and have and unicast:
        src = have.get('src')
    return {
        'type': spec['type'],
        'gateway': spec['gateway'] if unicast else None,
        'dev': spec['dev'] if unicast else None,
        'src': src if unicast else None,
        'scope': scope,
        'proto': proto,
    }


def predict_route(spec, target, have=None):
    """The public view of a route after the task (check mode)."""
    dev = target['dev']
    if dev is None and have and target['type'] == 'unicast' and target['gateway'] == have.get('gateway'):
        dev = have.get('dev')       # same gateway: the kernel picks the same link again
    return {
        'dst': dst_text(spec['family'], spec['dst'], spec['dst_len']),
        'family': FAMILY_NAMES[spec['family']],
        'table': spec['table'],
        'metric': spec['metric'],
        'type': target['type'],
        'gateway': target['gateway'],
        'dev': dev,
        'src': target['src'],
        'scope': scope_name(target['scope']),
        'proto': proto_name(target['proto']),
        'netns': spec['netns'],
    }


# =========================================================================== kernel side

def _sockopt(ipr, option, value):
    from pyroute2.netlink import SOL_NETLINK
    try:
        ipr.setsockopt(SOL_NETLINK, option, value)
        return True
    except Exception:  # pylint: disable=broad-except
        return False


def prepare_socket(ipr):
    """Ask the kernel for extended error messages on this socket (harmless if unsupported)."""
    from pyroute2.netlink import NETLINK_EXT_ACK
    _sockopt(ipr, NETLINK_EXT_ACK, 1)


def strict_dump(ipr, msg, msg_type):
    """One dump request filtered by the kernel (NETLINK_GET_STRICT_CHK), or None if unavailable.

    The socket goes back to non-strict mode afterwards, so other requests on it are unaffected.
    """
    from pyroute2.netlink import NETLINK_GET_STRICT_CHK
    if not hasattr(ipr, 'nlm_request') or not _sockopt(ipr, NETLINK_GET_STRICT_CHK, 1):
        return None
    from pyroute2.netlink.exceptions import NetlinkError
    try:
        return dump_request(ipr, msg, msg_type)
    except NetlinkError as exc:
        if exc.code in (errno.EINVAL, errno.EOPNOTSUPP):    # a kernel that does not filter this dump
            return None
        raise
    finally:
        _sockopt(ipr, NETLINK_GET_STRICT_CHK, 0)


def _get(msg, key, default=None):
    return msg_get(msg, key, default)


def address_from_msg(msg):
    """A plain dict of one RTM_NEWADDR message."""
    family = msg['family']
    local = _get(msg, 'IFA_LOCAL')
    address = _get(msg, 'IFA_ADDRESS')
    mine = local or address
    if family == AF_INET6 and mine:
        mine = ipaddress.ip_address(mine).compressed
    entry = {
        'family': family,
        'address': mine,
        'prefixlen': msg['prefixlen'],
        'index': msg['index'],
        'flags': _get(msg, 'IFA_FLAGS', msg['flags']),
        'scope': msg['scope'],
        'peer': address if local and address and address != local else None,
        'broadcast': _get(msg, 'IFA_BROADCAST'),
        'label': _get(msg, 'IFA_LABEL'),
    }
    return entry


def read_addresses(ipr, index, netns=None):
    """The addresses of link `index` (plain dicts), read with one kernel-filtered dump."""
    from pyroute2.netlink.rtnl import RTM_GETADDR
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.exceptions import NetlinkError
    try:
        msg = ifaddrmsg()
        msg['family'] = 0
        msg['index'] = index
        msgs = strict_dump(ipr, msg, RTM_GETADDR)
        if msgs is None:
            msgs = ipr.addr('dump', index=index)
    except NetlinkError as exc:
        raise kernel_error(exc, 'reading the addresses of link %s' % index, netns, kernel_first=True)
    out = []
    for m in msgs:
        if m.get('event') not in (None, 'RTM_NEWADDR') or m['index'] != index:
            continue
        if m['family'] not in (AF_INET, AF_INET6):
            continue
        out.append(address_from_msg(m))
    return sort_addresses(out)


def route_from_msg(msg):
    """A plain dict of one RTM_NEWROUTE message (identity fields, next hop, attributes)."""
    family = msg['family']
    dst = _get(msg, 'RTA_DST') or ('0.0.0.0' if family == AF_INET else '::')
    gateway = _get(msg, 'RTA_GATEWAY')
    prefsrc = _get(msg, 'RTA_PREFSRC')
    if family == AF_INET6:
        dst = ipaddress.ip_address(dst).compressed
        gateway = ipaddress.ip_address(gateway).compressed if gateway else None
        prefsrc = ipaddress.ip_address(prefsrc).compressed if prefsrc else None
    hops = []
    for nh in _get(msg, 'RTA_MULTIPATH') or []:
        hop_gw = _get(nh, 'RTA_GATEWAY')
        if family == AF_INET6 and hop_gw:
            hop_gw = ipaddress.ip_address(hop_gw).compressed
        hops.append({'gateway': hop_gw, 'oif': _get(nh, 'oif'), 'flags': _get(nh, 'flags', 0),
                     'hops': _get(nh, 'hops', 0)})
    return {
        'family': family,
        'dst': dst,
        'dst_len': msg['dst_len'],
        'src_len': msg['src_len'],
        'tos': msg['tos'],
        'table': _get(msg, 'RTA_TABLE', msg['table']),
        'metric': _get(msg, 'RTA_PRIORITY', 0),
        'type_num': msg['type'],
        'scope_num': msg['scope'],
        'proto_num': msg['proto'],
        'flags': msg['flags'],
        'gateway': gateway,
        'oif': _get(msg, 'RTA_OIF'),
        'prefsrc': prefsrc,
        'multipath': hops,
    }


def read_routes(ipr, family, table, netns=None):
    """The routes of one table and family (plain dicts), read with one kernel-filtered dump."""
    from pyroute2.netlink.rtnl import RTM_GETROUTE
    from pyroute2.netlink.rtnl.rtmsg import rtmsg
    from pyroute2.netlink.exceptions import NetlinkError
    try:
        msg = rtmsg()
        msg['family'] = family
        msg['attrs'] = [('RTA_TABLE', table)]
        msgs = strict_dump(ipr, msg, RTM_GETROUTE)
        if msgs is None:
            msgs = ipr.route('dump', family=family, table=table)
    except NetlinkError as exc:
        if exc.code in (errno.ENOENT, errno.ESRCH):    # a table that does not exist (yet)
            return []
        raise kernel_error(exc, 'reading routing table %s' % table, netns, kernel_first=True)
    out = []
    for m in msgs:
        if m.get('event') not in (None, 'RTM_NEWROUTE') or m['family'] != family:
            continue
        r = route_from_msg(m)
        if r['table'] == table:
            out.append(r)
    return out
