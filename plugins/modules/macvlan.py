#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: macvlan
short_description: Manage macvlan and macvtap devices
version_added: 0.1.0
description:
  - Creates, changes and deletes macvlan and macvtap devices - a second MAC address on an Ethernet device (the
    parent, O(link)) with a network device of its own - as C(ip link add NAME link PARENT type macvlan|macvtap
    mode MODE) does.
  - A device can live in another namespace than its parent (O(netns) and O(link_netns)); it is then made in
    the parent's namespace and moved into its own in the same request, as C(ip link add NAME link PARENT netns
    NS type macvlan) does. A namespace gets a leg on the host's network this way.
  - A macvtap also has a character device, C(/dev/tapN) (N its interface index), which a KVM/qemu guest opens
    as its NIC; O(user) and O(group) give it to the user qemu runs as.
  - The device's settings are read back from the kernel and compared first; only real differences are
    changed. The mode is changed in place between V(bridge), V(private) and V(vepa); a change to or from
    V(passthru), of the parent or of O(kind) needs a new device, which is then deleted and made again with its
    link settings kept unless the task sets them (see O(recreate)). A macvtap whose character device a process
    holds open (a running guest) is never replaced; the task then fails naming the process.
  - Many devices can be handled by one task with O(batch); all of them are validated before any is
    changed (names, values, the parents as the kernel has them), and a failure undoes what the task had
    already done.
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
      - V(present) creates the device if it does not exist and makes its settings match the task.
      - V(absent) deletes it; a device that is already gone is not an error. A device of another kind with
        that name is never deleted. A macvtap whose character device a process holds open is deleted too
        (the process keeps a file descriptor that no longer has a device).
    type: str
    choices: [present, absent]
    default: present
  kind:
    description:
      - V(macvlan) for a network device only, V(macvtap) for one with a character device C(/dev/tapN) that a
        guest opens.
      - Changing it replaces the device (see O(recreate)).
    type: str
    choices: [macvlan, macvtap]
    default: macvlan
  link:
    description:
      - The parent, an Ethernet device in O(link_netns) (a NIC, a veth, a bridge, a tap...). Required with
        O(state=present).
      - A parent that does not exist, is itself a macvlan or macvtap, is a port of a bridge (the kernel refuses
        it; the bridge itself can be the parent), or is not an Ethernet device (a tun, the loopback) is an error
        naming it, found before anything is changed.
      - Changing it replaces the device (see O(recreate)).
    type: str
  link_netns:
    description:
      - The namespace of the parent, as listed by C(ip netns list); the empty string means the namespace the
        module itself runs in.
      - Not given, the parent is in the device's own namespace (O(netns)).
      - A device in another namespace than its parent is made in the parent's and moved into O(netns) in the
        same request.
    type: str
  mode:
    description:
      - How the devices on one parent reach each other. V(bridge) (the default here; C(ip)'s default is
        V(vepa)) switches frames between them directly; V(private) keeps them apart; V(vepa) sends everything
        to the parent's external switch; V(passthru) gives the parent to a single device (the only one on it).
      - A change between V(bridge), V(private) and V(vepa) is made in place; to or from V(passthru) it
        replaces the device (see O(recreate)).
    type: str
    choices: [bridge, private, vepa, passthru]
    default: bridge
  user:
    description:
      - For O(kind=macvtap) only. The owner of the device's character device C(/dev/tapN), by name or numeric
        id - the user a guest's qemu runs as. The empty string gives it back to root.
      - A name must exist on the target, otherwise the task fails before anything changes.
      - Not managed when not given (a new character device is root's).
    type: raw
  group:
    description:
      - For O(kind=macvtap) only. The group of the device's character device, by name or numeric id; its members
        may open it (read and write for the group are added to its mode). Same rules as O(user).
    type: raw
  recreate:
    description:
      - Allow replacing an existing device when its kind, parent or a mode change to or from V(passthru) need it.
      - With V(false), such a difference fails the task and nothing is changed.
      - A macvtap whose character device a process holds open is never replaced.
    type: bool
    default: true
  batch:
    description:
      - Several devices in one task. Each element takes the options below; options an element leaves out
        come from the task's top level (so O(netns), O(link), O(kind) or O(user) can be set once for all).
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
      kind:
        description: As O(kind).
        type: str
        choices: [macvlan, macvtap]
      link:
        description: As O(link).
        type: str
      link_netns:
        description: As O(link_netns).
        type: str
      mode:
        description: As O(mode).
        type: str
        choices: [bridge, private, vepa, passthru]
      user:
        description: As O(user).
        type: raw
      group:
        description: As O(group).
        type: raw
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
  - The MTU of a macvlan cannot exceed its parent's.
  - A macvtap's character device is named by its interface index in its namespace (C(/dev/tap7)); C(/dev) is
    shared by every namespace, so two macvtaps with the same index in two namespaces would want the same
    name. It is made by devtmpfs (or udev) when the device is made or moved, and is root's again then; the
    module gives it O(user) and O(group) again on the next run.
  - The frames of a macvlan and of its parent do not reach each other through the parent in V(bridge) mode
    (a known property of macvlan); give the host a macvlan of its own to talk to its namespaces.
seealso:
  - module: virtnet.linux.tuntap
  - module: virtnet.linux.link_info
  - name: ip-link(8)
    description: The iproute2 manual page (C(type macvlan), C(type macvtap)).
    link: https://man7.org/linux/man-pages/man8/ip-link.8.html
'''

EXAMPLES = r'''
- name: A namespace's leg on the host's network - a macvlan of eth0, moved into the namespace vpn, up
  virtnet.linux.macvlan:
    name: mv-vpn
    link: eth0
    link_netns: ""
    netns: vpn
    link_state: up

- name: A guest's NIC as a macvtap of eth1, its /dev/tapN for the user qemu runs as
  virtnet.linux.macvlan:
    name: mvtap-web1
    kind: macvtap
    link: eth1
    user: libvirt-qemu
    group: kvm
    address: "52:54:00:12:34:56"
    link_state: up

- name: Three containers' legs on one parent, in one task
  virtnet.linux.macvlan:
    link: eth1
    link_netns: ""
    link_state: up
    batch:
      - {name: eth1, netns: ct1}
      - {name: eth1, netns: ct2}
      - {name: eth1, netns: ct3, mode: private}

- name: Delete a device (no error if it is already gone)
  virtnet.linux.macvlan:
    name: mv-vpn
    netns: vpn
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
      sample: mv-vpn
    netns:
      description: The namespace it is in (empty for the module's own).
      type: str
      sample: vpn
    ifindex:
      description: Its interface index in that namespace.
      type: int
      sample: 3
    kind:
      description: V(macvlan) or V(macvtap).
      type: str
      sample: macvlan
    link:
      description: Its parent, V(null) when the kernel names none the module can find.
      type: str
      sample: eth0
    link_netns:
      description: The namespace of its parent (empty for the module's own).
      type: str
      sample: ''
    mode:
      description: Its mode.
      type: str
      sample: bridge
    tap_device:
      description: A macvtap's character device, V(null) for a macvlan (or a macvtap whose node is missing).
      type: str
      sample: /dev/tap3
    user:
      description: The owner (uid) of a macvtap's character device, V(null) for a macvlan.
      type: int
      sample: 64055
    group:
      description: The group (gid) of a macvtap's character device, V(null) for a macvlan.
      type: int
      sample: 108
    tap_mode:
      description: The permission bits of a macvtap's character device, V(null) for a macvlan.
      type: str
      sample: '0660'
    link_state:
      description: V(up) or V(down), the administrative state.
      type: str
      sample: up
    operstate:
      description: The kernel's operational state.
      type: str
      sample: UP
    mtu:
      description: The MTU.
      type: int
      sample: 1500
    address:
      description: The MAC address.
      type: str
      sample: 52:54:00:12:34:56
    master:
      description: The bridge it is a port of, empty when none.
      type: str
      sample: ''
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
  sample: ["create macvlan mv-vpn on eth0 in the default netns (mode bridge), moved into netns vpn",
           "set mv-vpn up"]
results:
  description: One entry per element of O(batch), with C(name) (C(NETNS/NAME) for a device in a named
    namespace), C(changed), C(actions) and, for an element with O(state=present), C(link) as above.
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "ct1/eth1", "changed": true, "actions": ["create macvlan eth1 on eth1 ..."],
            "link": {"name": "eth1", "netns": "ct1", "kind": "macvlan", "link": "eth1", "mode": "bridge"}}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._engine import run
from ansible_collections.virtnet.linux.plugins.module_utils._link import link_module_args
from ansible_collections.virtnet.linux.plugins.module_utils._spec.macvlan import ARGUMENT_SPEC, MacvlanKind


def main():
    module = AnsibleModule(**link_module_args(ARGUMENT_SPEC))
    run(module, MacvlanKind())


if __name__ == '__main__':
    main()
