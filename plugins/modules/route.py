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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._engine import batch_argument_spec, run
from ansible_collections.virtnet.linux.plugins.module_utils._spec.route import ARGUMENT_SPEC, Route


def main():
    module = AnsibleModule(
        argument_spec=batch_argument_spec(ARGUMENT_SPEC),
        required_one_of=[('dst', 'batch')],
        supports_check_mode=True,
    )
    run(module, Route())


if __name__ == '__main__':
    main()
