#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: route
short_description: Manage IPv4 and IPv6 routes, in any network namespace and routing table
version_added: 0.1.0
description:
  - Adds, changes and removes routes (C(ip route add/replace/del)), in the module's own network
    namespace or in a named one, in the main table or any other.
  - A route is identified as the kernel identifies it - by its family, table, destination (O(dst)) and
    O(metric). The other options describe the route; when they differ from the kernel's route with the
    same identity, the route is replaced in one step (C(ip route replace)).
  - Many routes can be handled by one task with O(batch); every element is validated before anything is
    changed, and a failure undoes what the task had already done. Each routing table is read once per task.
requirements:
  - pyroute2 (0.7 or later) on the target
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
  - virtnet.linux._attributes.ACTIONGROUP_NETLINK
  - virtnet.linux._netns
attributes:
  check_mode:
    support: full
    details:
      - Whether the kernel accepts a route (for example whether its gateway is on a connected subnet) is
        only known when it is sent, so check mode cannot predict that error.
  diff_mode:
    support: full
    details:
      - The diff shows the route before and after, as in RV(route).
options:
  dst:
    description:
      - The destination - V(default), a network in CIDR form (V(10.43.0.0/24), V(fd00:43::/64)), or a host
        address (V(10.43.0.5) means V(10.43.0.5/32), an IPv6 address V(/128)).
      - A network with host bits set (V(10.43.0.5/24)) is an error naming the network meant.
      - V(default) is the IPv4 default route unless O(gateway) or O(src) is an IPv6 address; V(::/0) is
        always the IPv6 one.
      - Required unless O(batch) is given.
    type: str
  gateway:
    description:
      - The next hop's address (C(via)); it must be on a connected subnet, or the kernel refuses the route
        and the task fails naming the gateway.
      - A route with O(state=present) and O(type=unicast) needs O(gateway), O(dev) or both. A route given
        with O(dev) only has no gateway, so an existing route with one is changed.
      - An IPv6 link-local gateway (V(fe80::/10)) needs O(dev).
    type: str
  dev:
    description:
      - The link the route goes out of. Compared only when set; without it the kernel picks the link of
        the gateway.
      - A link that does not exist is an error with O(state=present).
    type: str
  metric:
    description:
      - The route's metric (priority), part of its identity - routes to the same O(dst) with different
        metrics are different routes.
      - When not set, the kernel's default is used - V(0) for IPv4, V(1024) for IPv6 - as with C(ip route).
      - With O(state=absent), leaving it out removes the routes to O(dst) in O(table) of every metric.
    type: int
  table:
    description:
      - The routing table - V(main), V(local), V(default), a name from C(rt_tables) or a number.
      - When not set, V(main) (254) is used.
    type: str
  scope:
    description:
      - The route's scope (IPv4 only) - V(universe), V(site), V(link), V(host), V(nowhere) or a number.
      - Compared only when set. A new route without it gets V(link) when it has no gateway, else
        V(universe), as with C(ip route).
    type: str
  proto:
    description:
      - The routing protocol that owns the route - a name such as V(static), V(boot), V(dhcp), or a number.
      - Compared only when set. A new route without it gets V(static); a replaced one keeps its own.
    type: str
  src:
    description:
      - The preferred source address for traffic the host sends along this route (C(src)); it must be an
        address of the namespace.
      - Compared only when set; a replaced route without it keeps its own.
    type: str
  type:
    description:
      - The route's type. V(blackhole), V(unreachable), V(prohibit) and V(throw) routes take neither
        O(gateway) nor O(dev).
    type: str
    choices: [unicast, blackhole, unreachable, prohibit, throw]
    default: unicast
  state:
    description:
      - V(present) adds the route, or replaces the route with the same identity when it differs.
      - V(absent) removes the route (see O(metric)); a route that is already gone is not an error. Only the
        identity (O(dst), O(table), O(metric)) selects the route to remove; the other options are ignored.
    type: str
    choices: [present, absent]
    default: present
  batch:
    description:
      - Several routes in one task. Each element takes the options O(dst), O(gateway), O(dev),
        O(metric), O(table), O(scope), O(proto), O(src), O(type), O(state) and O(netns); options an
        element leaves out come from the task's top level.
      - A route (same namespace, family, table, O(dst) and O(metric)) must not appear twice.
    type: list
    elements: dict
    suboptions:
      dst:
        description: As O(dst).
        type: str
      gateway:
        description: As O(gateway).
        type: str
      dev:
        description: As O(dev).
        type: str
      metric:
        description: As O(metric).
        type: int
      table:
        description: As O(table).
        type: str
      scope:
        description: As O(scope).
        type: str
      proto:
        description: As O(proto).
        type: str
      src:
        description: As O(src).
        type: str
      type:
        description: As O(type).
        type: str
        choices: [unicast, blackhole, unreachable, prohibit, throw]
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
      netns:
        description: As O(netns).
        type: str
notes:
  - Routes with a type of service (C(tos)) or an IPv6 source prefix (C(from)) are not managed; they are
    different routes for the kernel and are left alone.
  - A multipath route with the same identity is replaced by a single-path one when the task names a
    gateway or a dev.
seealso:
  - module: virtnet.linux.address
  - name: ip-route(8)
    description: The iproute2 manual page for the routing tables.
    link: https://man7.org/linux/man-pages/man8/ip-route.8.html
'''

EXAMPLES = r'''
- name: Default route of the DHCP namespace of network 42
  virtnet.linux.route:
    netns: qdhcp-42
    dst: default
    gateway: 10.42.0.1

- name: A route in table 100 (policy routing)
  virtnet.linux.route:
    dst: 10.43.0.0/24
    gateway: 10.42.0.1
    dev: brq42
    table: 100

- name: IPv6 default route with a link-local gateway
  virtnet.linux.route:
    netns: qdhcp-42
    dst: ::/0
    gateway: fe80::1
    dev: ns-42

- name: Several routes in one namespace, set once
  module_defaults:
    group/virtnet.linux.netlink:
      netns: qdhcp-42
  virtnet.linux.route:
    batch:
      - {dst: default, gateway: 10.42.0.1}
      - {dst: 192.0.2.0/24, type: blackhole}
      - {dst: 10.99.0.0/16, state: absent}

- name: Remove the default route of table 100 (no error if it is already gone)
  virtnet.linux.route:
    dst: default
    table: 100
    state: absent
'''

RETURN = r'''
route:
  description:
    - The route after the task (as predicted, in check mode); V(null) when it does not exist (single form).
  returned: success, unless O(batch) is used
  type: dict
  contains:
    dst:
      description: The destination, V(default) or a network in CIDR form.
      type: str
      sample: default
    family:
      description: V(ipv4) or V(ipv6).
      type: str
      sample: ipv4
    table:
      description: The routing table's number.
      type: int
      sample: 254
    metric:
      description: The route's metric (priority).
      type: int
      sample: 0
    type:
      description: The route's type (V(unicast), V(blackhole), ...).
      type: str
      sample: unicast
    gateway:
      description: The next hop's address, V(null) for a route without one.
      type: str
      sample: 10.42.0.1
    dev:
      description:
        - The link the route goes out of, V(null) when there is none.
        - In check mode, V(null) for a new route whose O(dev) is not set (the kernel picks it).
      type: str
      sample: ns-42
    src:
      description: The preferred source address, V(null) when not set.
      type: str
      sample: null
    scope:
      description: The route's scope, by name when it has one (IPv6 routes are always V(universe)).
      type: str
      sample: universe
    proto:
      description: The routing protocol of the route, by name when it has one.
      type: str
      sample: static
    netns:
      description: The namespace, V('') for the module's own.
      type: str
      sample: qdhcp-42
    multipath:
      description: The next hops (each with C(gateway) and C(dev)) of a multipath route.
      returned: when the route has several next hops
      type: list
      elements: dict
      sample: [{"gateway": "10.42.0.1", "dev": "ns-42"}, {"gateway": "10.42.0.254", "dev": "ns-42"}]
actions:
  description: What the task did (or would do, in check mode), in order (single form).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["replace route default: gateway 10.42.0.1 -> 10.42.0.254"]
results:
  description:
    - One entry per element of O(batch), in order, with C(name) (the route, for example
      V(10.43.0.0/24 table 100 in netns qdhcp-42)), C(changed), C(actions) and C(route) as in the
      single form.
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "default in netns qdhcp-42", "changed": true, "actions": ["add route default via 10.42.0.1"],
            "route": {"dst": "default", "family": "ipv4", "table": 254, "metric": 0, "type": "unicast",
                      "gateway": "10.42.0.1", "dev": "ns-42", "src": null, "scope": "universe",
                      "proto": "static", "netns": "qdhcp-42"}}]
'''

import errno

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    error_code, kernel_error, kernel_message, refuse_coerced_names,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    Context, ObjectResult, batch_argument_spec, expand_batch, require_pyroute2, run_objects,
)
from ansible_collections.virtnet.linux.plugins.module_utils._netlink import (
    VirtnetError, netns_exists, ns_label, validate_ifname, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._link import read_link
from ansible_collections.virtnet.linux.plugins.module_utils._ip import (
    SCOPES, TABLES, USER_ROUTE_TYPES, predict_route, prepare_socket, public_route, read_routes, read_rt_tables,
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
        for spec in specs:
            if spec['netns'] and not netns_exists(spec['netns']):
                errors.append('netns %s not found (needed by route %s)' % (spec['netns'], route_label(spec, False)))
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


def main():
    module = AnsibleModule(
        argument_spec=batch_argument_spec(dict(
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
        )),
        required_one_of=[('dst', 'batch')],
        supports_check_mode=True,
    )
    refuse_coerced_names(module)
    require_pyroute2(module)
    items, batch = expand_batch(module.params, KEYS)
    specs, errors = validate(items, batch)
    if errors:
        module.fail_json(msg='; '.join(errors))
    ctx = Context(module)
    ctx.routes = Routes(ctx)
    try:
        errors = resolve_links(ctx, specs)
    except VirtnetError as exc:
        errors = [exc.msg]
    if errors:
        ctx.close()
        module.fail_json(msg='; '.join(errors))
    if specs:
        specs[-1]['_last'] = True
    run_objects(module, specs, ensure, ctx, batch=batch)


if __name__ == '__main__':
    main()
