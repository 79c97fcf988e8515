#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: tuntap
short_description: Manage persistent TUN and TAP devices
version_added: 0.1.0
description:
  - Creates, changes and deletes persistent TUN (IP packets) and TAP (Ethernet frames) devices, as
    C(ip tuntap add) and C(ip tuntap del) do, in the module's own network namespace or in a named one.
  - A TAP device on a bridge is the host side of a KVM/qemu guest's NIC; a TUN device owned by an
    unprivileged user is what a VPN daemon such as OpenVPN attaches to after dropping privileges.
  - The device's settings are read back from the kernel and compared first; only real differences are
    changed. The kernel's C(TUNSETIFF) silently rewrites the settings of an existing device, so it is
    used only to change O(user), O(group), O(pi) and O(vnet_hdr), never to look at a device.
  - Changing O(mode) or O(multi_queue), or removing an owner, needs a new device. The device is then
    deleted and created again with its link settings (state, MTU, MAC address, bridge, queue length,
    alias) and owner kept, unless the task sets them otherwise.
  - The TUN/TAP settings of a device held open by a process (a running VPN daemon or virtual machine)
    are never changed, nor is such a device replaced; the task then fails naming the processes, and
    nothing is changed. Its link settings (state, MTU, bridge, ...) can be changed while it is in use.
  - Many devices can be handled by one task with O(batch); all of them are validated before any is
    changed (names, values, masters, and - when a device may be replaced - each device as the kernel has
    it), and a failure undoes what the task had already done.
  - The undo of an owner (O(user) or O(group)) given to a device that had none is a new device with the
    settings read before (the kernel cannot take an owner away); addresses and routes on that device are
    not restored. Every undone change of the TUN/TAP settings is read back; one that did not take is
    reported in C(rollback_errors), not in C(rolled_back).
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
      - V(absent) deletes it; a device that is already gone is not an error. A device of another kind
        with that name is never deleted. As with C(ip tuntap del), a device held open by a process is
        deleted too (the process keeps a file descriptor that no longer has a device).
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - V(tun) for a layer 3 device carrying IP packets, V(tap) for a layer 2 device carrying Ethernet
        frames.
      - Required with O(state=present).
      - Changing it replaces the device (see O(recreate)).
    type: str
    choices: [tun, tap]
  user:
    description:
      - The user allowed to attach to the device without privileges, by name or numeric id.
      - A name must exist on the target, otherwise the task fails before anything changes; a numeric id
        is taken as it is.
      - The empty string means no owner; the kernel cannot remove an owner, so that replaces the device.
      - Not managed when not given (a device made by the task then has no owner).
    type: raw
  group:
    description:
      - The group whose members may attach to the device without privileges, by name or numeric id.
      - Same rules as O(user).
    type: raw
  pi:
    description:
      - Packet information, a 4-byte header the kernel adds in front of every packet read from the
        device.
      - The default matches C(ip tuntap) and what OpenVPN and qemu expect.
    type: bool
    default: false
  vnet_hdr:
    description:
      - The virtio net header in front of every packet, for offloads with vhost-net (qemu C(vnet_hdr=on)).
    type: bool
    default: false
  multi_queue:
    description:
      - Several queues, so that several file descriptors (for example one per guest vCPU) can attach.
      - Changing it replaces the device (see O(recreate)).
    type: bool
    default: false
  recreate:
    description:
      - Allow replacing an existing device when O(mode) or O(multi_queue) differ, or when an owner must
        be removed.
      - With V(false), such a difference fails the task and nothing is changed.
      - A device held open by a process is never replaced.
    type: bool
    default: true
  batch:
    description:
      - Several devices in one task. Each element takes the options below; options an element leaves
        out come from the task's top level (so O(netns), O(mode) or O(user) can be set once for all).
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
      mode:
        description: As O(mode).
        type: str
        choices: [tun, tap]
      user:
        description: As O(user).
        type: raw
      group:
        description: As O(group).
        type: raw
      pi:
        description: As O(pi).
        type: bool
      vnet_hdr:
        description: As O(vnet_hdr).
        type: bool
      multi_queue:
        description: As O(multi_queue).
        type: bool
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
  - A TUN or TAP device that is up (O(link_state=up)) only gets carrier, and an operational state of
    C(UP), while a process has it open.
  - O(address) and O(master) are for TAP devices only; a TUN device has no MAC address and cannot be a bridge
    port.
  - The kernel reports both modes as link kind C(tun) (C(ip -d link show) prints C(tun type tap)).
  - O(user), O(group), O(pi) and O(vnet_hdr) are changed by attaching to the device, which a process
    that holds a non-multi-queue device open prevents; the task then fails naming the process.
seealso:
  - module: virtnet.linux.netns
  - name: ip-tuntap(8)
    description: The iproute2 manual page for TUN/TAP devices.
    link: https://man7.org/linux/man-pages/man8/ip-tuntap.8.html
  - name: Universal TUN/TAP device driver
    description: The kernel's documentation of TUN/TAP devices.
    link: https://docs.kernel.org/networking/tuntap.html
'''

EXAMPLES = r'''
- name: The NIC of a KVM guest - a tap owned by the user qemu runs as, on bridge br0
  virtnet.linux.tuntap:
    name: vnet-web1
    mode: tap
    user: libvirt-qemu
    vnet_hdr: true
    master: br0
    link_state: up

- name: A tun for an OpenVPN server that drops privileges to nobody, in the namespace vpn
  virtnet.linux.tuntap:
    name: tun0
    mode: tun
    user: nobody
    group: nogroup
    netns: vpn
    mtu: 1400
    link_state: up

- name: A multi-queue tap for a guest with four vCPUs, owned by numeric ids
  virtnet.linux.tuntap:
    name: vnet-db1
    mode: tap
    user: 107
    group: 107
    vnet_hdr: true
    multi_queue: true
    address: "02:00:00:00:01:01"
    master: br0
    link_state: up

- name: The taps of several guests in one task; top-level options apply to every element
  virtnet.linux.tuntap:
    mode: tap
    user: libvirt-qemu
    vnet_hdr: true
    master: br0
    link_state: up
    batch: "{{ guest_nics }}"
  vars:
    guest_nics:
      - name: vnet-g1
      - name: vnet-g2
        address: "02:00:00:00:02:02"
      - name: vnet-g3
        mtu: 9000

- name: Two devices of different kinds, listed
  virtnet.linux.tuntap:
    batch:
      - name: tap-lab1
        mode: tap
        master: br-lab
      - name: tun-lab1
        mode: tun
        user: nobody
        state: present
      - name: tap-old
        state: absent

- name: Switch a device from tun to tap only if nothing uses it (fails instead of replacing)
  virtnet.linux.tuntap:
    name: tun1
    mode: tap
    recreate: false

- name: Delete a device (no error if it is already gone)
  virtnet.linux.tuntap:
    name: vnet-web1
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
      sample: vnet-web1
    netns:
      description: The namespace it is in (empty for the module's own).
      type: str
      sample: ''
    ifindex:
      description: Its interface index in that namespace.
      type: int
      sample: 12
    kind:
      description: The link kind the kernel reports, C(tun) for both modes.
      type: str
      sample: tun
    mode:
      description: V(tun) or V(tap).
      type: str
      sample: tap
    user:
      description: The numeric id of the owning user, V(null) when it has none.
      type: int
      sample: 64055
    group:
      description: The numeric id of the owning group, V(null) when it has none.
      type: int
      sample: null
    pi:
      description: Whether packet information is on.
      type: bool
      sample: false
    vnet_hdr:
      description: Whether the virtio net header is on.
      type: bool
      sample: true
    multi_queue:
      description: Whether it is a multi-queue device.
      type: bool
      sample: false
    persist:
      description: Whether it is persistent (always V(true) once the module made or changed it).
      type: bool
      sample: true
    link_state:
      description: V(up) or V(down), the administrative state.
      type: str
      sample: up
    operstate:
      description: The kernel's operational state (C(UP) only while a process has the device open).
      type: str
      sample: DOWN
    mtu:
      description: The MTU.
      type: int
      sample: 1500
    address:
      description: The MAC address (V(null) for a TUN device).
      type: str
      sample: 02:00:00:00:01:01
    master:
      description: The bridge it is a port of, empty when none.
      type: str
      sample: br0
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
  sample: ["create tap vnet-web1", "set master=br0 on vnet-web1", "set vnet-web1 up"]
results:
  description: One entry per element of O(batch), with C(name) (C(NETNS/NAME) for a device in a named
    namespace), C(changed), C(actions) and, for an element with O(state=present), C(link) as above.
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "tap-lab1", "changed": true, "actions": ["create tap tap-lab1"],
            "link": {"name": "tap-lab1", "netns": "", "kind": "tun", "mode": "tap", "user": null}}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._engine import run
from ansible_collections.virtnet.linux.plugins.module_utils._link import link_module_args
from ansible_collections.virtnet.linux.plugins.module_utils._spec.tuntap import ARGUMENT_SPEC, TuntapKind


def main():
    module = AnsibleModule(**link_module_args(ARGUMENT_SPEC))
    run(module, TuntapKind())


if __name__ == '__main__':
    main()
