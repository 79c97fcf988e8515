#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: veth
short_description: Create, configure and delete veth pairs, across network namespaces
version_added: 0.1.0
description:
  - Manages a virtual Ethernet pair like C(ip link add NAME type veth peer name PEER netns PEER_NETNS)
    does - the local end O(name) in O(netns), the other end O(peer) in O(peer_netns).
  - The pair is created in one netlink request with its peer directly in O(peer_netns), so a pair is
    never left half-made or with its peer in the wrong namespace.
  - An existing device counts as the pair only if it is a veth whose other end really is O(peer) in
    O(peer_netns) (the kernel's peer index and link netnsid are checked), whether the peer was created
    there or moved there later. Any other peer is an error naming what the peer actually is, unless
    O(recreate=true) asks to replace the pair.
  - The options of both ends (state, MTU, MAC address, bridge, queue length, alias) are compared with
    what the kernel reports, and only the differences are changed, on new and existing pairs alike.
    Options that are not given are not managed.
  - Many pairs can be handled by one task with O(batch); all of them are validated before any is
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
      - V(present) creates the pair if it does not exist and fixes the options given.
      - V(absent) deletes the pair (deleting one end deletes both). A device that is already gone is not
        an error; a device of another kind with this name is refused. O(peer) and the peer options are
        not needed and are ignored.
    type: str
    choices: [present, absent]
    default: present
  peer:
    description:
      - Name of the other end of the pair, in O(peer_netns). Same rules as O(name).
      - Required with O(state=present).
    type: str
  peer_netns:
    description:
      - Name of the network namespace of the other end (a file in C(/run/netns)).
      - When not given, the peer lives in the same namespace as the local end (O(netns)).
      - The empty string means the namespace the module itself runs in (the host), also when O(netns)
        is set.
      - A namespace that does not exist is an error naming it; it is never created.
    type: str
  peer_link_state:
    description: Administrative state of the peer.
    type: str
    choices: [up, down]
  peer_mtu:
    description: MTU of the peer (68 to 65535).
    type: int
  peer_address:
    description: MAC address of the peer.
    type: str
  peer_master:
    description:
      - Bridge in O(peer_netns) that the peer is a port of. The empty string releases it from its bridge.
      - A bridge that does not exist in the peer's namespace or is not a bridge is an error.
    type: str
  peer_txqueuelen:
    description: Transmit queue length of the peer.
    type: int
  peer_alias:
    description: Alias of the peer; the empty string clears it.
    type: str
  recreate:
    description:
      - When O(name) exists as a veth whose peer is not O(peer) in O(peer_netns), delete that pair and
        create the declared one instead of failing.
      - The new peer name must be free in O(peer_netns); otherwise nothing is deleted.
    type: bool
    default: false
  batch:
    description:
      - Several pairs in one task. Each element takes the options below; options an element leaves out
        come from the task's top level (for example O(netns) or O(peer_netns) for every pair).
      - Every element is validated before anything is changed. Two elements naming the same device in
        the same namespace (as a local end or as a peer) are refused.
      - A failure on any element undoes what the task had done for the earlier ones.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the local end.
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
      peer:
        description: As O(peer).
        type: str
      peer_netns:
        description: As O(peer_netns).
        type: str
      peer_link_state:
        description: As O(peer_link_state).
        type: str
        choices: [up, down]
      peer_mtu:
        description: As O(peer_mtu).
        type: int
      peer_address:
        description: As O(peer_address).
        type: str
      peer_master:
        description: As O(peer_master).
        type: str
      peer_txqueuelen:
        description: As O(peer_txqueuelen).
        type: int
      peer_alias:
        description: As O(peer_alias).
        type: str
      recreate:
        description: As O(recreate).
        type: bool
notes:
  - Moving an end to another namespace resets its bridge and brings it down (the kernel does that);
    the next run with O(peer_master) or O(peer_link_state) puts it back.
  - With O(recreate=true) the old pair is deleted before the new one is made; a failure later in the
    task removes the new pair but cannot bring the old one back.
seealso:
  - module: virtnet.linux.netns
  - name: ip-link(8)
    description: The iproute2 manual page, section C(VETH, VXCAN, NETKIT Type Support).
    link: https://man7.org/linux/man-pages/man8/ip-link.8.html
'''

EXAMPLES = r'''
- name: The namespace of the DHCP server of network 42
  virtnet.linux.netns:
    name: qdhcp-42

- name: Join bridge brq42 in the host to that namespace - tap42 on the bridge, ns-42 inside
  virtnet.linux.veth:
    name: tap42
    master: brq42
    link_state: up
    peer: ns-42
    peer_netns: qdhcp-42
    peer_link_state: up

- name: A pair between two namespaces, with its MTU on both ends
  virtnet.linux.veth:
    netns: red
    name: to-blue
    peer: to-red
    peer_netns: blue
    mtu: 1400
    peer_mtu: 1400
    link_state: up
    peer_link_state: up

- name: A pair whose peer is in the host while the local end is in a namespace
  virtnet.linux.veth:
    netns: red
    name: uplink
    peer: red-uplink
    peer_netns: ''

- name: Three networks in one task (the task's options are defaults for each element)
  virtnet.linux.veth:
    link_state: up
    peer_link_state: up
    batch:
      - {name: tap41, peer: ns-41, peer_netns: qdhcp-41, master: brq41}
      - {name: tap42, peer: ns-42, peer_netns: qdhcp-42, master: brq42}
      - {name: tap43, peer: ns-43, peer_netns: qdhcp-43, master: brq43}

- name: Replace a pair whose peer is not the declared one
  virtnet.linux.veth:
    name: tap42
    peer: ns-42
    peer_netns: qdhcp-42
    recreate: true

- name: Delete the pair (both ends; no error if it is already gone)
  virtnet.linux.veth:
    name: tap42
    state: absent
'''

RETURN = r'''
link:
  description: The local end of the pair after the task, with its peer (single form, O(state=present)).
  returned: success, when O(state=present) and O(batch) is not used
  type: dict
  contains:
    name:
      description: Name of the local end.
      type: str
      sample: tap42
    netns:
      description: Namespace of the local end (empty for the module's own).
      type: str
      sample: ''
    ifindex:
      description: Interface index of the local end in its namespace.
      type: int
      sample: 12
    kind:
      description: Kind of the device.
      type: str
      sample: veth
    link_state:
      description: Administrative state, V(up) or V(down).
      type: str
      sample: up
    operstate:
      description: Operational state as the kernel reports it.
      type: str
      sample: UP
    mtu:
      description: MTU.
      type: int
      sample: 1500
    address:
      description: MAC address.
      type: str
      sample: 02:00:00:00:10:01
    master:
      description: Bridge the local end is a port of (empty for none).
      type: str
      sample: brq42
    txqueuelen:
      description: Transmit queue length.
      type: int
      sample: 1000
    alias:
      description: Alias (empty for none).
      type: str
      sample: ''
    peer:
      description: Name of the other end (V(null) when it is in a namespace without a name).
      type: str
      sample: ns-42
    peer_netns:
      description: Namespace of the other end (empty for the module's own; V(null) when it has no name).
      type: str
      sample: qdhcp-42
    peer_ifindex:
      description: Interface index of the other end in its namespace.
      returned: when the other end is in a namespace without a name in C(/run/netns)
      type: int
      sample: 7
    peer_nsid:
      description: The id of the other end's namespace, as seen from the local end's namespace.
      returned: when the other end is in a namespace without a name in C(/run/netns)
      type: int
      sample: 3
    peer_link:
      description: The other end, with the same keys as the local end (C(name), C(netns), C(ifindex),
        C(kind), C(link_state), C(operstate), C(mtu), C(address), C(master), C(txqueuelen), C(alias)).
      type: dict
      sample: {"name": "ns-42", "netns": "qdhcp-42", "ifindex": 2, "kind": "veth", "link_state": "up",
               "operstate": "UP", "mtu": 1500, "address": "ae:41:0c:3e:1f:7b", "master": "",
               "txqueuelen": 1000, "alias": ""}
actions:
  description: What the task did (or would do, in check mode), in order (single form).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["create veth tap42 with peer ns-42 in netns qdhcp-42", "set master=brq42 on tap42", "set tap42 up"]
results:
  description: One entry per element of O(batch), with C(name) (C(NETNS/NAME) for a local end in a
    namespace), C(changed), C(actions) and, for O(state=present), C(link) as described above.
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "tap42", "changed": true, "actions": ["create veth tap42 with peer ns-42 in netns qdhcp-42"],
            "link": {"name": "tap42", "peer": "ns-42", "peer_netns": "qdhcp-42"}}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._engine import run
from ansible_collections.virtnet.linux.plugins.module_utils._link import link_module_args
from ansible_collections.virtnet.linux.plugins.module_utils._spec.veth import ARGUMENT_SPEC, Veth


def main():
    module = AnsibleModule(**link_module_args(ARGUMENT_SPEC))
    run(module, Veth())


if __name__ == '__main__':
    main()
