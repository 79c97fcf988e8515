#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: bridge
short_description: Manage Linux bridges and their ports
version_added: 0.1.0
description:
  - Creates, changes and deletes Linux bridge devices, like C(ip link add NAME type bridge ...),
    C(ip link set NAME type bridge ...) and C(ip link set PORT master NAME) do, in the module's own
    network namespace or in a named one (O(netns)).
  - Only the options given are managed; each is compared with what the kernel reports and only real
    differences are sent. Timers are given in seconds and compared after conversion to the kernel's
    centiseconds, allowing for the kernel's rounding to its clock tick, so that re-runs are idempotent.
  - O(ports) adds links of the bridge's namespace to the bridge (a port of another bridge is moved);
    with O(purge_ports) ports not listed are released. Ports are never created or deleted.
  - Many bridges can be handled by one task with O(batch); every element is validated before anything
    is changed, and a failure undoes what the task had already done (ports added are released again,
    bridges created are deleted).
requirements:
  - pyroute2 (0.7 or later) on the target
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
  - virtnet.linux._attributes.ACTIONGROUP_NETLINK
  - virtnet.linux._netns
  - virtnet.linux._link
attributes:
  check_mode:
    support: full
    details:
      - For a bridge that does not exist yet, a O(vlan_filtering=true) the kernel cannot do is only
        detected when the bridge is really created.
  diff_mode:
    support: full
options:
  state:
    description:
      - V(present) creates the bridge if needed and makes it match the options given.
      - V(absent) deletes it; its ports are released by the kernel, not deleted. A bridge that is already
        gone is not an error; a device of that name that is not a bridge is not deleted (an error).
    type: str
    choices: [present, absent]
    default: present
  stp:
    description:
      - Whether the Spanning Tree Protocol is on (C(stp_state)).
      - When STP is turned on the kernel moves O(forward_delay) into 2..30 seconds.
    type: bool
  forward_delay:
    description:
      - Forwarding delay in seconds (fractions allowed), C(forward_delay) of C(ip link).
      - 2..30 while STP is on (the kernel refuses other values then), any value up to 42949672 while it
        is off. Every timer must be a finite number (V(.nan) and V(.inf) are refused).
    type: float
  hello_time:
    description: Hello time in seconds (1..10), C(hello_time) of C(ip link).
    type: float
  max_age:
    description: Maximum message age in seconds (6..40), C(max_age) of C(ip link).
    type: float
  ageing_time:
    description:
      - How long, in seconds, a learned MAC address stays in the forwarding database (C(ageing_time)).
      - V(0) makes the bridge forget addresses at once (it floods like a hub).
    type: float
  priority:
    description: STP bridge priority (0..65535).
    type: int
  mcast_snooping:
    description: Whether IGMP/MLD snooping is on (C(mcast_snooping)).
    type: bool
  mcast_querier:
    description: Whether the bridge sends IGMP/MLD queries itself (C(mcast_querier)).
    type: bool
  group_fwd_mask:
    description:
      - Bit mask of link-local group addresses 01:80:C2:00:00:0X that the bridge forwards
        (C(group_fwd_mask)), 0..65535.
      - The kernel never forwards bits 0, 1 and 2 (STP, MAC pause, LACP); a mask with them is refused.
    type: int
  vlan_filtering:
    description:
      - Whether VLAN filtering is on (C(vlan_filtering)).
      - Sent only when it differs from what the kernel reports. Kernels built without
        C(CONFIG_BRIDGE_VLAN_FILTERING) report V(false) (so V(false) succeeds without change) and cannot
        turn it on (an error saying so).
    type: bool
  ports:
    description:
      - Links of the bridge's namespace to make ports of the bridge (C(ip link set PORT master NAME)).
      - A link that is a port of another bridge is moved (reported in RV(actions)); a missing link, a
        bridge, or a port of a device that is not a bridge is an error naming it, and nothing is changed.
      - Ports not listed are left alone unless O(purge_ports) is set. Unset, ports are not managed.
    type: list
    elements: str
  purge_ports:
    description:
      - Release the ports of the bridge that O(ports) does not list (they are not deleted).
      - Needs O(ports); O(ports=[]) with O(purge_ports=true) releases every port.
    type: bool
    default: false
  batch:
    description:
      - Several bridges in one task. Each element takes the options of a single bridge; options an
        element leaves out come from the task's top level.
      - Every element is validated before anything is changed; duplicates are refused.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the bridge.
        type: str
        required: true
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
      netns:
        description: As O(netns).
        type: str
      link_state:
        description: As O(link_state).
        type: str
        choices: [up, down]
      mtu:
        description: As O(mtu).
        type: int
      address:
        description: As O(address).
        type: str
      master:
        description: As O(master).
        type: str
      txqueuelen:
        description: As O(txqueuelen).
        type: int
      alias:
        description: As O(alias).
        type: str
      forwarding:
        description: As O(forwarding).
        type: bool
      stp:
        description: As O(stp).
        type: bool
      forward_delay:
        description: As O(forward_delay).
        type: float
      hello_time:
        description: As O(hello_time).
        type: float
      max_age:
        description: As O(max_age).
        type: float
      ageing_time:
        description: As O(ageing_time).
        type: float
      priority:
        description: As O(priority).
        type: int
      mcast_snooping:
        description: As O(mcast_snooping).
        type: bool
      mcast_querier:
        description: As O(mcast_querier).
        type: bool
      group_fwd_mask:
        description: As O(group_fwd_mask).
        type: int
      vlan_filtering:
        description: As O(vlan_filtering).
        type: bool
      ports:
        description: As O(ports).
        type: list
        elements: str
      purge_ports:
        description: As O(purge_ports).
        type: bool
notes:
  - The kernel does not allow a bridge as a port of another bridge, so for a bridge O(master) is normally
    left unset; a bridge given there is refused before anything is sent (in check mode too).
seealso:
  - module: virtnet.linux.netns
  - name: ip-link(8)
    description: The iproute2 manual page, section C(BRIDGE Type Support).
    link: https://man7.org/linux/man-pages/man8/ip-link.8.html
'''

EXAMPLES = r'''
- name: Host bridge br0 for KVM guests, STP on with a short forwarding delay
  virtnet.linux.bridge:
    name: br0
    stp: true
    forward_delay: 4
    link_state: up

- name: Bridge of network 42 with the veth end of its DHCP namespace and the uplink NIC as ports
  virtnet.linux.bridge:
    name: brq42
    ports: [tap42, eth1]
    purge_ports: true
    link_state: up

- name: A bridge inside a network namespace, its ports there too
  virtnet.linux.bridge:
    name: br-lab
    netns: lab
    ports: [veth-h1, veth-h2]
    mcast_snooping: false
    ageing_time: 0
    link_state: up

- name: Several bridges in one task
  virtnet.linux.bridge:
    link_state: up
    batch:
      - name: brq1
        ports: [tap1]
      - name: brq2
        ports: [tap2]
      - name: brq3
        state: absent

- name: Delete a bridge (its ports are released, not deleted)
  virtnet.linux.bridge:
    name: brq42
    state: absent
'''

RETURN = r'''
link:
  description: The bridge after the task (single form, O(state=present)); predicted in check mode.
  returned: success, when O(state=present) and O(batch) is not used
  type: dict
  contains:
    name:
      description: Name of the bridge.
      type: str
      sample: br0
    netns:
      description: Namespace of the bridge (V('') for the module's own).
      type: str
      sample: ''
    ifindex:
      description: Interface index.
      type: int
      sample: 7
    kind:
      description: Link kind, always V(bridge).
      type: str
      sample: bridge
    link_state:
      description: Administrative state, V(up) or V(down).
      type: str
      sample: up
    operstate:
      description: Operational state as the kernel reports it (C(DOWN) without carrier).
      type: str
      sample: UP
    mtu:
      description: MTU.
      type: int
      sample: 1500
    address:
      description: MAC address.
      type: str
      sample: 02:00:00:00:00:01
    master:
      description: Device this bridge is a port of (V('') for none).
      type: str
      sample: ''
    txqueuelen:
      description: Transmit queue length.
      type: int
      sample: 1000
    alias:
      description: Alias (V('') for none).
      type: str
      sample: ''
    stp:
      description: Whether STP is on.
      type: bool
      sample: true
    forward_delay:
      description: Forwarding delay in seconds.
      type: float
      sample: 4.0
    hello_time:
      description: Hello time in seconds.
      type: float
      sample: 2.0
    max_age:
      description: Maximum message age in seconds.
      type: float
      sample: 20.0
    ageing_time:
      description: FDB ageing time in seconds.
      type: float
      sample: 300.0
    priority:
      description: STP bridge priority.
      type: int
      sample: 32768
    mcast_snooping:
      description: Whether IGMP/MLD snooping is on.
      type: bool
      sample: true
    mcast_querier:
      description: Whether the bridge is a multicast querier.
      type: bool
      sample: false
    group_fwd_mask:
      description: Group forwarding mask.
      type: int
      sample: 0
    vlan_filtering:
      description: Whether VLAN filtering is on.
      type: bool
      sample: false
    ports:
      description: Names of the bridge's ports, sorted.
      type: list
      elements: str
      sample: [eth1, tap42]
actions:
  description: What the task did (or would do, in check mode), in order (single form).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["create bridge br0", "add port tap42 to br0", "move port eth1 from br1 to br0"]
results:
  description: One entry per element of O(batch), with C(name), C(changed), C(actions) and C(link) (for
    bridges that are present).
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "brq1", "changed": true, "actions": ["create bridge brq1", "add port tap1 to brq1"],
            "link": {"name": "brq1", "ports": ["tap1"], "stp": false}}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._engine import run
from ansible_collections.virtnet.linux.plugins.module_utils._link import link_module_args
from ansible_collections.virtnet.linux.plugins.module_utils._spec.bridge import ARGUMENT_SPEC, BridgeKind


def main():
    module = AnsibleModule(**link_module_args(ARGUMENT_SPEC))
    run(module, BridgeKind())


if __name__ == '__main__':
    main()
