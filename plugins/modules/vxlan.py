#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: vxlan
short_description: Manage VXLAN devices and their flood entries
version_added: 0.1.0
description:
  - Creates, changes and deletes VXLAN devices, as C(ip link add NAME type vxlan id VNI ...) does, in the
    module's own network namespace or in a named one, and keeps their flood entries exactly as listed.
  - The flood entries (O(peers)) are unicast head-end replication, what C(bridge fdb append 00:00:00:00:00:00
    dev NAME dst PEER) makes - one entry per other tunnel end, to which the device sends every broadcast,
    unknown unicast and multicast frame. No multicast is needed in the underlay. Missing entries are added and
    every other flood entry of the device is removed, in one step of one task (no process per entry).
  - A VXLAN device as a port of a bridge (O(master)) joins that bridge to the same bridge on every peer (the
    Neutron linuxbridge pattern, one VNI per network).
  - The device's settings are read back from the kernel and compared first; only real differences are
    changed. The kernel cannot change the VNI, the UDP port or the family of the local address of a device,
    nor give an underlay device to one that has none; the device is then deleted and made again, with its
    other settings, link settings and flood entries kept unless the task sets them (see O(recreate)). The
    local address (same family), the underlay device (from one to another), O(learning), O(ttl) and O(tos)
    are changed in place, also while the device is up.
  - Many devices can be handled by one task with O(batch); all of them are validated before any is
    changed, and a failure undoes what the task had already done.
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
  diff_mode:
    support: full
options:
  state:
    description:
      - V(present) creates the device if it does not exist and makes its settings and flood entries match the
        task.
      - V(absent) deletes it (with its flood entries); a device that is already gone is not an error. A device
        of another kind with that name is never deleted.
    type: str
    choices: [present, absent]
    default: present
  vni:
    description:
      - The VXLAN network identifier, 1 to 16777215. Required with O(state=present).
      - Changing it replaces the device (see O(recreate)); two devices of one namespace cannot have the same
        VNI on the same O(port).
    type: int
  local:
    description:
      - The local (source) address of the tunnel, IPv4 or IPv6, usually an address of O(dev).
      - Not managed when not given (a device the task creates then has none and uses the route's source).
      - A change within one address family is made in place; a change of family replaces the device.
    type: str
  dev:
    description:
      - The underlay device in O(netns) (C(ip link add ... dev DEV)); the tunnel's packets leave through it.
        A device the task creates takes its MTU minus 50 as MTU unless O(mtu) is given.
      - A device that does not exist is an error naming it, found before anything is changed.
      - Not managed when not given. A change to another device is made in place; a device that had none is
        replaced.
    type: str
  port:
    description:
      - The UDP port of the tunnel (C(dstport)), the same on every peer. The IANA port 4789 by default (not
        the kernel's default 8472 that C(ip) warns about).
      - Changing it replaces the device (see O(recreate)).
    type: int
    default: 4789
  learning:
    description:
      - Whether the device learns the tunnel end of a MAC address from the frames it receives (the kernel's
        default for a new device is on). With a complete list of O(peers), learning fills in the unicast
        entries that the flood entries do not give.
      - Not managed when not given.
    type: bool
  ttl:
    description:
      - The TTL of the tunnel's packets, 1 to 255; V(0) lets the route decide (C(ttl auto), the default of a
        new device). Not managed when not given.
    type: int
  tos:
    description:
      - The TOS of the tunnel's packets, 0 to 255; V(1) copies the inner packet's (C(tos inherit)). Not
        managed when not given.
    type: int
  peers:
    description:
      - The underlay addresses of the other tunnel ends, one flood entry each (C(00:00:00:00:00:00 dst PEER)),
        kept exact - entries for addresses not listed, and entries with a port, VNI or underlay device of their
        own, are removed; V([]) removes them all.
      - Unicast addresses of one family, that of O(local) when it is given; each at most once, none of them
        O(local).
      - Not managed when not given. The entry of a remote or multicast group that the device was made with
        elsewhere (C(ip link add ... remote|group ADDR)) is not a peer and is left alone.
    type: list
    elements: str
  recreate:
    description:
      - Allow replacing an existing device when its VNI, port, local address family or underlay need it.
      - With V(false), such a difference fails the task and nothing is changed.
      - The device is deleted and made again, so frames in flight are lost and the addresses and routes on
        the device itself (not those of its bridge) are gone.
    type: bool
    default: true
  batch:
    description:
      - Several devices in one task. Each element takes the options below; options an element leaves out
        come from the task's top level (so O(netns), O(dev), O(local) or O(port) can be set once for all).
      - Every element is validated before anything is changed; the same device twice is refused.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the device.
        type: str
        required: true
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
      netns:
        description: As O(netns).
        type: str
      vni:
        description: As O(vni).
        type: int
      local:
        description: As O(local).
        type: str
      dev:
        description: As O(dev).
        type: str
      port:
        description: As O(port).
        type: int
      learning:
        description: As O(learning).
        type: bool
      ttl:
        description: As O(ttl).
        type: int
      tos:
        description: As O(tos).
        type: int
      peers:
        description: As O(peers).
        type: list
        elements: str
      recreate:
        description: As O(recreate).
        type: bool
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
notes:
  - The underlay (O(dev), O(local)) is in the same namespace as the device.
  - The flood entries of a device are read and written over netlink (C(RTM_GETNEIGH), C(RTM_NEWNEIGH),
    C(RTM_DELNEIGH) in the bridge family, the device's own table); C(bridge fdb show dev NAME) lists them.
  - Two devices with the same VNI and port in one namespace are refused by the kernel; the task's message
    names the device that has them.
seealso:
  - module: virtnet.linux.bridge
  - module: virtnet.linux.link_info
  - name: VXLAN
    description: The kernel's documentation of VXLAN devices.
    link: https://docs.kernel.org/networking/vxlan.html
  - name: ip-link(8)
    description: The iproute2 manual page (C(type vxlan)).
    link: https://man7.org/linux/man-pages/man8/ip-link.8.html
  - name: bridge(8)
    description: The iproute2 manual page of C(bridge fdb).
    link: https://man7.org/linux/man-pages/man8/bridge.8.html
'''

EXAMPLES = r'''
- name: Network 42 across three hosts - a port of brq42, flooding to the two other hosts
  virtnet.linux.vxlan:
    name: vxlan-42
    vni: 42
    dev: eth1
    local: 10.88.0.11
    peers: [10.88.0.12, 10.88.0.13]
    master: brq42
    learning: true
    link_state: up

- name: One task for every network of a host (the underlay set once)
  virtnet.linux.vxlan:
    dev: eth1
    local: 10.88.0.11
    link_state: up
    batch:
      - {name: vxlan-42, vni: 42, master: brq42, peers: [10.88.0.12, 10.88.0.13]}
      - {name: vxlan-43, vni: 43, master: brq43, peers: [10.88.0.12]}

- name: A host left the network - its flood entry goes, the others stay
  virtnet.linux.vxlan:
    name: vxlan-42
    vni: 42
    peers: [10.88.0.12]

- name: A tunnel inside a namespace, over IPv6
  virtnet.linux.vxlan:
    name: vx100
    netns: tenant1
    vni: 100
    local: "fd00:88::11"
    dev: uplink0
    peers: ["fd00:88::12"]
    mtu: 1430

- name: Delete a device (no error if it is already gone)
  virtnet.linux.vxlan:
    name: vxlan-43
    state: absent
'''

RETURN = r'''
link:
  description:
    - The device after the task (single form); in check mode, the device as the task would leave it.
  returned: success with O(state=present), unless O(batch) is used
  type: dict
  contains:
    name:
      description: Name of the device.
      type: str
      sample: vxlan-42
    netns:
      description: The namespace it is in (empty for the module's own).
      type: str
      sample: ''
    ifindex:
      description: Its interface index in that namespace.
      type: int
      sample: 14
    kind:
      description: The link kind, V(vxlan).
      type: str
      sample: vxlan
    vni:
      description: The VXLAN network identifier.
      type: int
      sample: 42
    local:
      description: The local address, V(null) when it has none.
      type: str
      sample: 10.88.0.11
    dev:
      description: The underlay device, V(null) when it has none.
      type: str
      sample: eth1
    port:
      description: The UDP port.
      type: int
      sample: 4789
    learning:
      description: Whether it learns MAC addresses.
      type: bool
      sample: true
    ttl:
      description: The TTL of its packets (V(0) for C(auto)).
      type: int
      sample: 0
    tos:
      description: The TOS of its packets (V(1) for C(inherit)).
      type: int
      sample: 0
    group:
      description: The remote or multicast group it was made with elsewhere, V(null) when it has none (the
        module makes devices without one).
      type: str
      sample: null
    peers:
      description:
        - Its flood entries, in address order. An entry with a port, VNI or underlay device of its own shows
          them after the address (C(10.88.0.14 port 4790 vni 7 via eth2)).
      type: list
      elements: str
      sample: [10.88.0.12, 10.88.0.13]
    link_state:
      description: V(up) or V(down), the administrative state.
      type: str
      sample: up
    operstate:
      description: The kernel's operational state.
      type: str
      sample: UNKNOWN
    mtu:
      description: The MTU.
      type: int
      sample: 1450
    address:
      description: The MAC address.
      type: str
      sample: 6a:2f:1c:00:42:01
    master:
      description: The bridge it is a port of, empty when none.
      type: str
      sample: brq42
    txqueuelen:
      description: The transmit queue length.
      type: int
      sample: 1000
    alias:
      description: The interface alias, empty when none.
      type: str
      sample: ''
actions:
  description: What the task did (or would do, in check mode), in order (single form).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["create vxlan vxlan-42 (VNI 42, port 4789, dev eth1)", "set master=brq42 on vxlan-42",
           "set vxlan-42 up", "set flood entries of vxlan-42: add 10.88.0.12, 10.88.0.13"]
results:
  description: One entry per element of O(batch), with C(name) (C(NETNS/NAME) for a device in a named
    namespace), C(changed), C(actions) and, for an element with O(state=present), C(link) as above.
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "vxlan-42", "changed": false, "actions": [],
            "link": {"name": "vxlan-42", "kind": "vxlan", "vni": 42, "peers": ["10.88.0.12"]}}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._engine import run
from ansible_collections.virtnet.linux.plugins.module_utils._link import link_module_args
from ansible_collections.virtnet.linux.plugins.module_utils._spec.vxlan import ARGUMENT_SPEC, VxlanKind


def main():
    module = AnsibleModule(**link_module_args(ARGUMENT_SPEC))
    run(module, VxlanKind())


if __name__ == '__main__':
    main()
