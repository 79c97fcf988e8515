# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Routes: every behaviour of the module virtnet.linux.route."""

from __future__ import annotations

import errno

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, error_code, kernel_error, kernel_message, ns_label, validate_ifname, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    ObjectResult, Spec, netns_errors,
)
from ansible_collections.virtnet.linux.plugins.module_utils._link import read_link
from ansible_collections.virtnet.linux.plugins.module_utils._ip import (
    SCOPES, TABLES, predict_route, prepare_socket, public_route, read_routes, read_rt_tables,
    route_conflicts, route_differences, route_label, route_spec, route_target, route_view,
)

KEYS = ['dst', 'gateway', 'dev', 'metric', 'table', 'scope', 'proto', 'src', 'type', 'state', 'netns']
RTNH_F_ONLINK = 4


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
    if not errors:
        errors = netns_errors(specs, lambda s: [(s['netns'], 'needed by route %s' % route_label(s, False))])
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

    def resolve_all(self, ctx, items):
        ctx.routes = Routes(ctx)
        errors = resolve_links(ctx, items)
        if items and not errors:
            items[-1]['_last'] = True       # ensure reads back every changed table after the last route
        return errors

    def ensure(self, ctx, item):
        return ensure(ctx, item)
