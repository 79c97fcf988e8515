# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Routes: every behaviour of the module virtnet.linux.route."""

from __future__ import annotations

import errno
import ipaddress
import os

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, error_code, kernel_error, kernel_message, ns_label, validate_ifname, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    ObjectResult, Spec, link_key, netns_key,
)
from ansible_collections.virtnet.linux.plugins.module_utils._link import read_link
from ansible_collections.virtnet.linux.plugins.module_utils._ip import (
    AF_INET, AF_INET6, FAMILY_NAMES, IPError, _text, cidr, is_ipv6_link_local, parse_ip,
)
from ansible_collections.virtnet.linux.plugins.module_utils._pyroute2 import prepare_socket, read_routes

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

KEYS = ['dst', 'gateway', 'dev', 'metric', 'table', 'scope', 'proto', 'src', 'type', 'state', 'netns']
#: the options of one route, with the task's defaults: the module's argument spec (and its batch
#: elements') and the element of virtnet.linux.plumbing's `routes`
ARGUMENT_SPEC = dict(
    dst=dict(type='str'),
    gateway=dict(type='str'),
    dev=dict(type='str'),
    metric=dict(type='int'),
    table=dict(type='str'),
    scope=dict(type='str'),
    proto=dict(type='str'),
    src=dict(type='str'),
    type=dict(type='str', default='unicast', choices=USER_ROUTE_TYPES),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    netns=dict(type='str', default=''),
)
RTNH_F_ONLINK = 4


# --------------------------------------------------------------------------- parsing

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
    """The public view of a kernel route (plain dict from :func:`_pyroute2.route_from_msg`).

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


# --------------------------------------------------------------------------- tables

def _table_key(spec):
    return (spec['netns'], spec['family'], spec['table'])


class Routes(object):
    """The routing tables a task touches, each read once; the links they name, each looked up once."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.tables = {}
        self.dirty = set()
        self.links = {}
        self.prepared = set()
        self.pending = []       # (spec, result) of routes added or replaced, read back at the end

    def ipr(self, netns):
        ipr = self.ctx.ipr(netns)
        if netns not in self.prepared:
            prepare_socket(ipr)
            self.prepared.add(netns)
        return ipr

    def table(self, netns, family, table):
        key = (netns, family, table)
        if key not in self.tables:
            plan = self.ctx.plan
            if plan is not None and plan.netns_made(netns):
                self.tables[key] = []       # check mode: a namespace the task would make has no routes yet
            else:
                self.tables[key] = read_routes(self.ipr(netns), family, table, netns)
        return self.tables[key]

    def find(self, spec):
        """The kernel's routes with the identity of `spec` (any metric for a removal without one)."""
        any_metric = spec['state'] == 'absent' and not spec['metric_given']
        out = []
        for r in self.table(spec['netns'], spec['family'], spec['table']):
            if r['dst_len'] != spec['dst_len'] or r['dst'] != spec['dst'] or r['tos'] or r['src_len']:
                continue
            if any_metric or r['metric'] == spec['metric']:
                out.append(r)
        return out

    def link_name(self, netns, index):
        key = (netns, index)
        if key not in self.links:
            link = read_link(self.ctx, netns, index=index)
            self.links[key] = link['ifname'] if link else None
        return self.links[key]

    def view(self, netns, raw):
        return route_view(raw, lambda index: self.link_name(netns, index), netns)

    def finalise(self):
        """Read back every table the task changed (once each) and report the routes as they are."""
        for key in list(self.dirty):
            self.tables.pop(key, None)
        self.dirty = set()
        for spec, result in self.pending:
            found = self.find(spec)
            if not found:
                raise VirtnetError('route %s was sent to the kernel but cannot be read back' % route_label(spec))
            result.after = public_route(self.view(spec['netns'], found[0]))
            result.extra['route'] = result.after
        self.pending = []


# --------------------------------------------------------------------------- requests

def _identity_args(spec):
    args = {'family': spec['family'], 'dst_len': spec['dst_len'], 'table': spec['table'],
            'priority': spec['metric'], 'tos': 0}
    if spec['dst_len']:
        args['dst'] = spec['dst']
    return args


def _send_args(spec, target):
    args = _identity_args(spec)
    args.update(type=target['type'], proto=target['proto'], scope=target['scope'])
    if target['gateway']:
        args['gateway'] = target['gateway']
    if target['dev']:
        args['oif'] = spec['_oif']
    if target['src']:
        args['prefsrc'] = target['src']
    return args


def _restore_args(raw):
    """The request that recreates a route exactly as it was read (undo)."""
    args = {'family': raw['family'], 'dst_len': raw['dst_len'], 'table': raw['table'], 'priority': raw['metric'],
            'tos': raw['tos'], 'type': raw['type_num'], 'proto': raw['proto_num'], 'scope': raw['scope_num']}
    if raw['dst_len']:
        args['dst'] = raw['dst']
    if raw['multipath']:
        hops = []
        for hop in raw['multipath']:
            one = dict((k, hop[k]) for k in ('gateway', 'oif', 'hops') if hop.get(k))     # hops: weight - 1
            if hop['flags'] & RTNH_F_ONLINK:    # the other flags (dead, linkdown) are the kernel's to set
                one['flags'] = RTNH_F_ONLINK
            hops.append(one)
        args['multipath'] = hops
    else:
        if raw['gateway']:
            args['gateway'] = raw['gateway']
        if raw['oif']:
            args['oif'] = raw['oif']
    if raw['prefsrc']:
        args['prefsrc'] = raw['prefsrc']
    if raw['flags'] & RTNH_F_ONLINK:
        args['flags'] = RTNH_F_ONLINK
    return args


def _delete_args(raw_or_spec):
    args = {'family': raw_or_spec['family'], 'dst_len': raw_or_spec['dst_len'], 'table': raw_or_spec['table'],
            'priority': raw_or_spec['metric'], 'tos': 0, 'scope': SCOPES['nowhere']}   # nowhere: any scope
    if raw_or_spec['dst_len']:
        args['dst'] = raw_or_spec['dst']
    return args


def _hint(exc, args, spec):
    code = error_code(exc)
    text = kernel_message(exc) or ''
    gateway = args.get('gateway')
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH) and gateway:
        dev = spec.get('dev')
        return 'gateway %s is not on a connected subnet%s' % (gateway, ' of %s' % dev if dev else '')
    if code == errno.EINVAL and args.get('prefsrc') and 'prefsrc' in text:
        return 'src %s is not an address of this namespace' % args['prefsrc']
    if code == errno.ENODEV and spec.get('dev'):
        return 'link %s not found' % spec['dev']
    return None


def _send(routes, netns, command, args, what, spec=None):
    def act():
        ipr = routes.ipr(netns)
        try:
            ipr.route(command, **args)
        except Exception as exc:  # pylint: disable=broad-except
            if command == 'del' and error_code(exc) == errno.ESRCH:    # already gone
                return
            raise kernel_error(exc, what, netns, _hint(exc, args, spec or {}), kernel_first=True)
    return act


def _describe(spec, target):
    label = route_label(spec, with_netns=False)
    words = []
    if target['type'] != 'unicast':
        words.append(target['type'])
    if target['gateway']:
        words.append('via %s' % target['gateway'])
    if target['dev']:
        words.append('dev %s' % target['dev'])
    if spec['src']:
        words.append('src %s' % spec['src'])
    return ' '.join(['route', label] + words)


# --------------------------------------------------------------------------- ensure

def ensure(ctx, spec):
    result = _ensure(ctx, spec)
    if spec.get('_last') and not ctx.check_mode:
        ctx.routes.finalise()
    return result


def _ensure(ctx, spec):
    routes = ctx.routes
    netns = spec['netns']
    tx = ctx.tx
    label = route_label(spec)
    short = route_label(spec, with_netns=False)
    start = len(tx.done)
    found = routes.find(spec)
    if spec['state'] == 'absent':
        if not found:
            return ObjectResult(label, None, None, False, [], {'route': None})
        views = [public_route(routes.view(netns, r)) for r in found]
        for raw in found:
            one = dict(spec, metric=raw['metric'], metric_given=True)
            text = route_label(one, with_netns=False)
            tx.run('delete route %s' % text,
                   _send(routes, netns, 'del', _delete_args(raw), 'deleting route %s' % text),
                   _send(routes, netns, 'replace', _restore_args(raw), 'restoring route %s' % text))
        before = views[0] if len(views) == 1 else views
        return ObjectResult(label, before, None, True, tx.done[start:], {'route': None})

    if not found:
        target = route_target(spec)
        args = _send_args(spec, target)
        tx.run('add %s' % _describe(spec, target),
               _send(routes, netns, 'add', args, 'adding route %s' % short, spec),
               _send(routes, netns, 'del', _delete_args(spec), 'deleting route %s' % short))
        after = predict_route(spec, target)
        result = ObjectResult(label, None, after, True, tx.done[start:], {'route': after})
    else:
        have = routes.view(netns, found[0])
        diffs = route_differences(spec, have)
        if not diffs:
            view = public_route(have)
            return ObjectResult(label, view, view, False, [], {'route': view})
        target = route_target(spec, have)
        args = _send_args(spec, target)
        change = ', '.join('%s %s -> %s' % (f, 'none' if b is None else b, 'none' if a is None else a)
                           for f, b, a in diffs)
        tx.run('replace route %s: %s' % (short, change),
               _send(routes, netns, 'replace', args, 'replacing route %s' % short, spec),
               _send(routes, netns, 'replace', _restore_args(found[0]), 'restoring route %s' % short))
        after = predict_route(spec, target, have)
        result = ObjectResult(label, public_route(have), after, True, tx.done[start:], {'route': after})
    if not ctx.check_mode:
        routes.dirty.add(_table_key(spec))
        routes.pending.append((spec, result))
    return result


# --------------------------------------------------------------------------- validation

def validate(items, batch):
    errors, specs = [], []
    names = None
    for item in items:
        table = item.get('table')
        if names is None and table is not None and str(table).strip() not in TABLES and not str(table).strip().isdigit():
            names = read_rt_tables()
        spec, errs = route_spec(item, names)
        if item.get('dev'):
            err = validate_ifname(item['dev'], 'dev')
            if err:
                errs.append(err)
        if item.get('netns'):
            err = validate_netns_name(item['netns'])
            if err:
                errs.append(err)
        label = route_label(spec) if 'family' in spec else (item.get('dst') or '(no dst)')
        errors.extend(('%s: %s' % (label, e)) if batch and not e.startswith(label) else e for e in errs)
        specs.append(spec)
    if not errors:
        dups = route_conflicts(specs)
        if dups:
            errors.append('routes listed more than once in batch: %s' % ', '.join(dups))
    return specs, errors


def resolve_links(ctx, specs):
    """Look up every dev before changing anything."""
    errors = []
    for spec in specs:
        spec['_oif'] = None
        if not spec['dev'] or spec['state'] != 'present':
            continue
        link = read_link(ctx, spec['netns'], ifname=spec['dev'])
        if link is None:
            errors.append('link %s not found in %s (dev of route %s)'
                          % (spec['dev'], ns_label(spec['netns']), route_label(spec, with_netns=False)))
        else:
            spec['_oif'] = link['index']
    return errors


class Route(Spec):
    """One route per object (the module virtnet.linux.route); validate_all turns items into route specs."""

    keys = KEYS
    needs_pyroute2 = True

    def validate_all(self, items, batch):
        return validate(items, batch)

    def key(self, item):
        return route_label(item)

    def needs(self, item):
        out = [(netns_key(item['netns']), 'needed by route %s' % route_label(item, False), None)]
        if item['dev'] and item['state'] == 'present':
            out.append((link_key(item['netns'], item['dev']), 'dev of route %s' % route_label(item, False), None))
        return out

    def gone(self, item):
        return ObjectResult(route_label(item), None, None, False, [], {'route': None})

    def resolve_all(self, ctx, items):
        ctx.routes = Routes(ctx)
        errors = resolve_links(ctx, items)
        if items and not errors:
            items[-1]['_last'] = True       # ensure reads back every changed table after the last route
        return errors

    def ensure(self, ctx, item):
        return ensure(ctx, item)
