#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: plumbing
short_description: A host's whole virtual network plumbing in one task
version_added: 0.1.0
description:
  - Applies one document of network namespaces, bridges, tun/tap devices, veth pairs, macvlan and macvtap
    devices, VXLAN devices, addresses and routes in one module run, as the device modules would in eight
    tasks - with one host lock, one transaction and one result.
  - Each section takes a list whose elements take exactly the options of an element of the corresponding
    module's C(batch) (or, for O(namespaces), of M(virtnet.linux.netns)), with that module's defaults;
    each element is validated with that module's own argument spec and checks, and brought to its state
    by that module's own code. Every element of every section is validated before anything is read or
    changed; a message begins with the element, by section and position followed by its name in
    parentheses (C(bridges[2]) and so on).
  - Elements with C(state=absent) are handled first, the sections in reverse
    order (routes, addresses, vxlans, macvlans, veths, tuntaps, bridges, namespaces); then the others are
    made and fixed in dependency order (namespaces, bridges, tuntaps, veths, macvlans, vxlans, addresses,
    routes). A section reads the kernel when its turn comes, so an element may use what an earlier section of
    the same task makes - a veth whose peer goes into a namespace of O(namespaces), whose master is a bridge
    of O(bridges), a macvlan of the veth's end, a VXLAN device over it on a bridge, an address on the veth's
    end, a route through it.
  - A failure anywhere undoes everything the task had done, in every section (reported in RV(rolled_back)).
    Deletions cannot be undone; a failure after one lists them in RV(not_undone) and reports a change.
  - The task is checked against itself before anything is read - a link made by two sections, an object
    that needs what the task deletes, a master that the task makes as something other than a bridge are
    refused. A namespace an object needs must exist or be made by O(namespaces).
  - A bridge port (C(ports) of an element of O(bridges)) that the same task makes as a tap or as a veth end
    in the bridge's namespace cannot be added when the bridges' turn comes, so that device takes the bridge
    as its C(master) (or C(peer_master)) instead, unless it names another one (an error), and the bridge
    leaves the port to it until the port is its own.
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
  - virtnet.linux._attributes.ACTIONGROUP_NETLINK
attributes:
  check_mode:
    support: full
    details:
      - What the task would make does not exist while check mode runs. An element that needs it (its
        namespace, the peer's namespace, its master bridge, the link of its addresses or route) is
        predicted as made or changed without reading it from the kernel, with the reason in its result's
        C(pending); everything else is read and compared as its module does. No C(pending) bookkeeping in
        playbooks is needed.
  diff_mode:
    support: full
options:
  netns:
    description:
      - The namespace of every element of O(bridges), O(tuntaps), O(veths), O(macvlans), O(vxlans),
        O(addresses) and O(routes) that does not set its own C(netns) (and so the peer's namespace of a veth,
        or the parent's of a macvlan, that sets neither).
      - The empty string (the default) means the namespace the module itself runs in.
      - Set it for several tasks with C(module_defaults) and C(group/virtnet.linux.netlink), as for the
        device modules. O(namespaces) are named namespaces, the same whatever this says.
    type: str
    default: ''
  boot:
    description:
      - Whether what this task makes comes back at boot, on a host whose PID 1 is systemd, without a converge.
      - V(true) saves the task's declaration (its elements that are not C(state=absent), validated and complete)
        to C(/etc/virtnet/boot/BOOT_NAME.json), and keeps a oneshot unit C(virtnet-boot.service) enabled
        (C(WantedBy=multi-user.target), before C(network-pre.target)) that applies every saved declaration at
        boot with a copy of this module's own code (C(/var/lib/virtnet/boot/engine.pyz), the module_utils of
        this run) - one transaction per declaration, in dependency order (a declaration that needs a namespace
        or link another one makes comes after it). Daemons of M(virtnet.linux.daemon) with O(virtnet.linux.daemon#module:boot)
        start after it.
      - The saved file is rewritten by every run of the task - what it no longer declares (an element gone,
        or made C(state=absent)) is no longer restored; a task that declares nothing removes it.
      - V(false) with O(boot_name) removes the saved declaration. With the last one go the unit, its
        enablement and the engine's copy.
      - On a host without systemd nothing is saved (it is restored by the next converge, as before); a saved
        declaration of that name is only removed there.
      - Check mode and diff report the changes to the saved declaration (the objects it restores), the unit
        and the engine, and write nothing.
    type: bool
    default: false
  boot_name:
    description:
      - The name of this task's saved declaration (C(/etc/virtnet/boot/BOOT_NAME.json)), one per task that
        uses O(boot), for example the role or play it belongs to. 1 to 64 of C(A-Z a-z 0-9 _ . -).
      - Required with O(boot=true). Without it the module manages nothing of boot.
    type: str
  namespaces:
    description:
      - Named network namespaces. Each element takes the options of M(virtnet.linux.netns) (C(name),
        C(state), C(loopback_up), C(etc)), with its defaults.
    type: list
    elements: dict
    default: []
  bridges:
    description:
      - Bridges. Each element takes the options of an element of
        O(virtnet.linux.bridge#module:batch), with the defaults of M(virtnet.linux.bridge).
    type: list
    elements: dict
    default: []
  tuntaps:
    description:
      - Persistent tun and tap devices. Each element takes the options of an element of
        O(virtnet.linux.tuntap#module:batch), with the defaults of M(virtnet.linux.tuntap).
    type: list
    elements: dict
    default: []
  veths:
    description:
      - Veth pairs. Each element takes the options of an element of O(virtnet.linux.veth#module:batch),
        with the defaults of M(virtnet.linux.veth).
    type: list
    elements: dict
    default: []
  macvlans:
    description:
      - Macvlan and macvtap devices. Each element takes the options of an element of
        O(virtnet.linux.macvlan#module:batch), with the defaults of M(virtnet.linux.macvlan).
    type: list
    elements: dict
    default: []
  vxlans:
    description:
      - VXLAN devices with their flood entries. Each element takes the options of an element of
        O(virtnet.linux.vxlan#module:batch), with the defaults of M(virtnet.linux.vxlan).
    type: list
    elements: dict
    default: []
  addresses:
    description:
      - The IP addresses of links. Each element takes the options of an element of
        O(virtnet.linux.address#module:batch), with the defaults of M(virtnet.linux.address).
    type: list
    elements: dict
    default: []
  routes:
    description:
      - Routes. Each element takes the options of an element of O(virtnet.linux.route#module:batch), with
        the defaults of M(virtnet.linux.route).
    type: list
    elements: dict
    default: []
requirements:
  - root, or CAP_NET_ADMIN and CAP_SYS_ADMIN, on the target
  - pyroute2 (0.7 or later) on the target when O(bridges), O(addresses) or O(routes) is not empty
notes:
  - Works on Linux targets only.
  - Tasks of this collection on one host run one at a time (a host lock); this module holds it once for
    the whole document.
seealso:
  - module: virtnet.linux.netns
  - module: virtnet.linux.bridge
  - module: virtnet.linux.tuntap
  - module: virtnet.linux.veth
  - module: virtnet.linux.macvlan
  - module: virtnet.linux.vxlan
  - module: virtnet.linux.address
  - module: virtnet.linux.route
  - module: virtnet.linux.link_info
'''

EXAMPLES = r'''
- name: A DHCP network - its namespace, its bridge, a veth pair into the namespace, the server's address
  virtnet.linux.plumbing:
    namespaces:
      - name: qdhcp-42
        etc:
          resolv.conf: "nameserver 10.42.0.2\n"
    bridges:
      - name: brq42
        link_state: up
    veths:
      - name: tap42
        master: brq42
        link_state: up
        peer: ns-42
        peer_netns: qdhcp-42
        peer_link_state: up
    addresses:
      - netns: qdhcp-42
        dev: ns-42
        address: [10.42.0.2/24]

- name: A VPN endpoint's tun in its own namespace, owned by the daemon's user, with its address and a route
  virtnet.linux.plumbing:
    namespaces:
      - name: vpn
    tuntaps:
      - name: tun-site
        mode: tun
        netns: vpn
        user: openvpn
        group: openvpn
        link_state: up
    addresses:
      - netns: vpn
        dev: tun-site
        address: [10.8.0.1/24]
    routes:
      - netns: vpn
        dst: 10.20.0.0/24
        dev: tun-site

- name: Everything inside one namespace (module_defaults works as for the device modules)
  virtnet.linux.plumbing:
    netns: lab
    bridges:
      - {name: br-lab, link_state: up, ports: [vm1]}
    tuntaps:
      - {name: vm1, mode: tap, vnet_hdr: true, link_state: up}

- name: Network 42 spans hosts - its bridge with a VXLAN port flooding to two other hosts, and a namespace on
    the host's network through a macvlan of eth0
  virtnet.linux.plumbing:
    namespaces:
      - name: vpn
    bridges:
      - {name: brq42, mtu: 1450, link_state: up}
    vxlans:
      - {name: vxlan-42, vni: 42, dev: eth1, local: 10.88.0.11, peers: [10.88.0.12, 10.88.0.13], master: brq42,
         mtu: 1450, link_state: up}
    macvlans:
      - {name: mv-vpn, link: eth0, link_netns: "", netns: vpn, link_state: up}

- name: Network 43 goes - deletions run first, routes and addresses before links, namespaces last
  virtnet.linux.plumbing:
    namespaces:
      - {name: qdhcp-43, state: absent}
    bridges:
      - {name: brq43, state: absent}
    veths:
      - {name: tap43, state: absent}

- name: Network 42 comes back at boot (systemd hosts) - saved as /etc/virtnet/boot/dhcp-42.json
  virtnet.linux.plumbing:
    boot: true
    boot_name: dhcp-42
    namespaces: [{name: qdhcp-42}]
    bridges: [{name: brq42, link_state: up}]
    veths:
      - {name: tap42, master: brq42, link_state: up, peer: ns-42, peer_netns: qdhcp-42, peer_link_state: up}
    addresses:
      - {netns: qdhcp-42, dev: ns-42, address: [10.42.0.2/24]}

- name: See what it would do - dependents of what the task makes are predicted, with the reason
  virtnet.linux.plumbing:
    namespaces: [{name: qdhcp-44}]
    veths:
      - {name: tap44, peer: ns-44, peer_netns: qdhcp-44}
  check_mode: true
  register: plan
'''

RETURN = r'''
namespaces:
  description:
    - One entry per element of O(namespaces), in their order, as M(virtnet.linux.netns) returns one element
      of its C(batch) in C(results) (C(name), C(changed), C(actions), C(netns)).
    - In check mode, an entry whose element needs what the task would make first also has C(pending), a list
      of what it waits for, one text each (see the check mode attribute).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "qdhcp-42", "changed": true, "actions": ["create netns qdhcp-42", "set lo up in netns qdhcp-42"],
            "netns": {"name": "qdhcp-42", "exists": true, "path": "/run/netns/qdhcp-42", "loopback": "up", "etc": {}}}]
bridges:
  description:
    - One entry per element of O(bridges), in their order, as M(virtnet.linux.bridge) returns one element
      of its C(batch) in C(results) (C(name), C(changed), C(actions), C(link)).
    - In check mode, an entry whose element needs what the task would make first also has C(pending), a list
      of what it waits for, one text each (see the check mode attribute).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "brq42", "changed": true, "actions": ["create bridge brq42"],
            "link": {"name": "brq42", "ports": [], "stp": false}}]
tuntaps:
  description:
    - One entry per element of O(tuntaps), in their order, as M(virtnet.linux.tuntap) returns one element of
      its C(batch) in C(results).
    - In check mode, an entry whose element needs what the task would make first also has C(pending), a list
      of what it waits for, one text each (see the check mode attribute).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "vpn/tun-site", "changed": true, "actions": ["create tun tun-site"],
            "link": {"name": "tun-site", "netns": "vpn", "mode": "tun", "user": 998}}]
veths:
  description:
    - One entry per element of O(veths), in their order, as M(virtnet.linux.veth) returns one element of its
      C(batch) in C(results).
    - In check mode, an entry whose element needs what the task would make first also has C(pending), a list
      of what it waits for, one text each (see the check mode attribute).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "tap42", "changed": true, "actions": ["create veth tap42 with peer ns-42 in netns qdhcp-42"],
            "link": {"name": "tap42", "master": "brq42", "peer": "ns-42", "peer_netns": "qdhcp-42"}}]
macvlans:
  description:
    - One entry per element of O(macvlans), in their order, as M(virtnet.linux.macvlan) returns one element of
      its C(batch) in C(results).
    - In check mode, an entry whose element needs what the task would make first also has C(pending), a list
      of what it waits for, one text each (see the check mode attribute).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "vpn/mv-vpn", "changed": true, "actions": ["create macvlan mv-vpn on eth0 in the default netns
            (mode bridge), moved into netns vpn"], "link": {"name": "mv-vpn", "netns": "vpn", "link": "eth0"}}]
vxlans:
  description:
    - One entry per element of O(vxlans), in their order, as M(virtnet.linux.vxlan) returns one element of its
      C(batch) in C(results).
    - In check mode, an entry whose element needs what the task would make first also has C(pending), a list
      of what it waits for, one text each (see the check mode attribute).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "vxlan-42", "changed": true, "actions": ["create vxlan vxlan-42 (VNI 42, port 4789, dev eth1)"],
            "link": {"name": "vxlan-42", "vni": 42, "peers": ["10.88.0.12", "10.88.0.13"]}}]
addresses:
  description:
    - One entry per element of O(addresses), in their order, as M(virtnet.linux.address) returns one element
      of its C(batch) in C(results).
    - In check mode, an entry whose element needs what the task would make first also has C(pending), a list
      of what it waits for, one text each (see the check mode attribute).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "qdhcp-42/ns-42", "changed": true, "actions": ["add 10.42.0.2/24 to ns-42"], "dev": "ns-42",
            "netns": "qdhcp-42", "addresses": ["10.42.0.2/24"], "added": ["10.42.0.2/24"], "removed": []}]
routes:
  description:
    - One entry per element of O(routes), in their order, as M(virtnet.linux.route) returns one element of
      its C(batch) in C(results).
    - In check mode, an entry whose element needs what the task would make first also has C(pending), a list
      of what it waits for, one text each (see the check mode attribute).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "10.20.0.0/24 in netns vpn", "changed": true, "actions": ["add route 10.20.0.0/24 dev tun-site"],
            "route": {"dst": "10.20.0.0/24", "dev": "tun-site"}}]
boot:
  description:
    - What the task did to what boot restores (O(boot), O(boot_name)); in check mode what it would do.
  returned: when O(boot_name) is given
  type: dict
  contains:
    name:
      description: O(boot_name).
      type: str
      sample: dhcp-42
    path:
      description: The saved declaration.
      type: str
      sample: /etc/virtnet/boot/dhcp-42.json
    changed:
      description: Whether the saved declaration, the unit, its enablement or the engine's copy changed.
      type: bool
      sample: true
    actions:
      description: What was done, one text each.
      type: list
      elements: str
      sample: ["save the boot declaration /etc/virtnet/boot/dhcp-42.json", "enable virtnet-boot.service"]
    systemd:
      description: Whether the host runs systemd (without it nothing is saved).
      type: bool
      sample: true
    objects:
      description: What the saved declaration restores at boot, C(section/object) each.
      type: list
      elements: str
      sample: ["namespaces/qdhcp-42", "bridges/brq42", "veths/tap42", "addresses/qdhcp-42/ns-42"]
rolled_back:
  description: On failure, the steps of the task (of every section) that were undone, newest first.
  returned: failure, when something had been done
  type: list
  elements: str
  sample: ["add 10.42.0.2/24 to ns-42", "create veth tap42 with peer ns-42 in netns qdhcp-42", "create netns qdhcp-42"]
not_undone:
  description: On failure, the deletions the task had carried out (they cannot be undone).
  returned: failure, after a deletion
  type: list
  elements: str
  sample: ["delete tap43"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._plumbing import argument_spec, run_plumbing


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_plumbing(module)


if __name__ == '__main__':
    main()
