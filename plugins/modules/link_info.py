#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: link_info
short_description: Report every link, with its addresses, in one or more network namespaces
version_added: 0.1.0
description:
  - Reports the links of the module's own network namespace and of named namespaces (those of
    C(ip netns list)) as plain data, ready for C(selectattr), C(community.general.json_query) or the
    P(virtnet.linux.topology_dot#filter) filter.
  - "For each link: name, index, kind (tun and tap told apart), administrative and operational state,
    MTU, MAC address, master, alias, transmit queue length, IP addresses, and depending on the kind:
    the veth peer with the B(name) of the namespace it is in, tun/tap details (mode, owner, group, flags),
    bridge details (STP, timers in seconds, priority, multicast snooping, VLAN filtering, ports), VXLAN
    details (VNI, local address, port, underlay device, learning, flood peers) or macvlan/macvtap details
    (mode, parent with its namespace, a macvtap's character device with its owner)."
  - Reads one link list and one address list per namespace (no request per link), and one list of
    forwarding entries in a namespace that has VXLAN devices, so thousands of links in dozens of namespaces
    are reported in well under a second.
  - Changes nothing. A namespace named in O(netns) that does not exist is an error naming it; no
    namespace is ever created.
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
  - virtnet.linux._attributes.INFO_MODULE
  - virtnet.linux._attributes.ACTIONGROUP_NETLINK
requirements:
  - root, or CAP_SYS_ADMIN (to enter named namespaces), on the target; reading only the module's own
    namespace (O(netns=[''])) needs no privileges
options:
  netns:
    description:
      - The namespaces to report, by name as listed by C(ip netns list); the empty string V('') is the
        namespace the module itself runs in.
      - Shell-style wildcards (V(qdhcp-*)) select among the named namespaces; a wildcard that matches
        nothing is not an error, a plain name that does not exist is.
      - When not given, the module's own namespace and every named namespace are reported.
      - Set it for several tasks with C(module_defaults) and C(group/virtnet.linux.netlink) (a single
        name there means that one namespace).
    type: list
    elements: str
  links:
    description:
      - Report only the links with these names (shell-style wildcards such as V(tap*) allowed).
      - Bridge port lists, veth peers and addresses are complete regardless of this filter.
    type: list
    elements: str
  kinds:
    description:
      - Report only links of these kinds, as in RV(links[].kind), for example V(tap), V(tun),
        V(veth) or V(bridge).
      - An entry that is not a kind of the kernel's links (a typo such as V(brige)) fails the task,
        unless a link of that kind was found.
    type: list
    elements: str
notes:
  - Works on Linux targets only. Uses rtnetlink directly (no C(ip) command and no Python library needed).
  - The result is gathered namespace by namespace; links that appear or vanish while the module runs
    may be missing from it or may be reported with a peer whose name is V(null).
seealso:
  - module: virtnet.linux.netns
  - plugin: virtnet.linux.topology_dot
    plugin_type: filter
  - name: ip-link(8)
    description: The iproute2 manual page for links.
    link: https://man7.org/linux/man-pages/man8/ip-link.8.html
'''

EXAMPLES = r'''
- name: Every link in every namespace
  virtnet.linux.link_info:
  register: net

- name: Only the DHCP namespaces and the module's own one
  virtnet.linux.link_info:
    netns: ['', 'qdhcp-*']
  register: dhcp

- name: Only the taps of the host namespace
  virtnet.linux.link_info:
    netns: ['']
    kinds: [tap]
  register: taps

# Selections with community.general.json_query (JMESPath). The own namespace is netns == ''.
- name: Names of all taps owned by uid 1000
  ansible.builtin.debug:
    msg: "{{ net | community.general.json_query('links[?kind==`tap` && tun.owner==`1000`].name') }}"

- name: veth pairs that cross into a qdhcp-* namespace (each as seen from its end outside)
  ansible.builtin.debug:
    msg: >-
      {{ net | community.general.json_query(
           "links[?kind=='veth' && peer.netns != netns && peer.netns != null && starts_with(peer.netns, 'qdhcp-')]
            .{end: name, netns: netns, peer: peer.name, peer_netns: peer.netns}") }}

- name: Ports of bridge br0 in the host namespace
  ansible.builtin.debug:
    msg: "{{ net | community.general.json_query(\"links[?netns=='' && name=='br0'].bridge.ports[]\") }}"

- name: The VXLAN devices with their settings and flood peers, as NAME -> details
  ansible.builtin.debug:
    msg: "{{ net.links | selectattr('kind', 'eq', 'vxlan') | items2dict(key_name='name', value_name='vxlan') }}"

- name: Every address in namespace qdhcp-42
  ansible.builtin.debug:
    msg: "{{ net | community.general.json_query(\"links[?netns=='qdhcp-42'].addresses[]\") }}"

- name: Bridges whose STP is off, anywhere, as NETNS/NAME
  ansible.builtin.debug:
    msg: "{{ net | community.general.json_query(\"links[?kind=='bridge' && bridge.stp==`false`].join('/', [netns, name])\") }}"

# The same without community.general: plain Jinja filters
- name: Taps owned by uid 1000, with selectattr
  ansible.builtin.debug:
    msg: "{{ net.links | selectattr('kind', 'eq', 'tap') | selectattr('tun.owner', 'eq', 1000) | map(attribute='name') }}"

- name: Links of namespace qdhcp-42 that are down
  ansible.builtin.debug:
    msg: "{{ net.links | selectattr('netns', 'eq', 'qdhcp-42') | selectattr('link_state', 'eq', 'down') | map(attribute='name') }}"

- name: Links grouped by namespace
  ansible.builtin.debug:
    msg: "{{ dict(net.links | groupby('netns')) }}"

- name: Names of the links of each namespace
  ansible.builtin.debug:
    msg: "{{ net.namespaces | dict2items | map(attribute='value') | items2dict(key_name='name', value_name='links') }}"

- name: A Graphviz picture of it all
  ansible.builtin.copy:
    content: "{{ net | virtnet.linux.topology_dot }}"
    dest: /tmp/topology.dot
    mode: '0644'
  delegate_to: localhost
'''

RETURN = r'''
links:
  description:
    - Every reported link, namespace by namespace (the module's own first, then the named ones in
      name order), by interface index within a namespace, each with its RV(links[].netns).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Interface name.
      type: str
      sample: tap0
    netns:
      description: Namespace of the link; V('') is the module's own namespace.
      type: str
      sample: qdhcp-42
    ifindex:
      description: Interface index (unique within its namespace only).
      type: int
      sample: 7
    kind:
      description:
        - The link's kind (C(ip -d link) C(info_kind)), with tun/tap devices reported as V(tun) or V(tap)
          by their mode; V(null) for devices without one (C(lo), physical NICs).
      type: str
      sample: tap
    link_state:
      description: Administrative state, V(up) or V(down) (the C(UP) flag).
      type: str
      sample: up
    operstate:
      description: Operational state as the kernel reports it (V(UP), V(DOWN), V(UNKNOWN), V(LOWERLAYERDOWN), ...).
      type: str
      sample: UP
    mtu:
      description: MTU.
      type: int
      sample: 1500
    address:
      description: MAC address, lower case; V(null) for devices without one (tun).
      type: str
      sample: "02:00:00:00:00:01"
    master:
      description: Name of the link's master (the bridge it is a port of), V('') when none.
      type: str
      sample: br0
    alias:
      description: Interface alias, V('') when none.
      type: str
      sample: guest vm1
    txqueuelen:
      description: Transmit queue length.
      type: int
      sample: 1000
    group:
      description: Interface group number.
      type: int
      sample: 0
    addresses:
      description: IP addresses in CIDR notation, as C(ip addr) lists them (IPv4 first, link-local included).
      type: list
      elements: str
      sample: ["10.42.0.2/24", "fe80::1/64"]
    peer:
      description:
        - For a veth, its other end; V(null) for other kinds.
        - RV(links[].peer.netns) is the name of the namespace the peer is in (V('') for the module's own), or
          V(null) when the peer is in a namespace without a name in C(/run/netns) (a container's, say);
          its name is then V(null) too.
      type: dict
      contains:
        name:
          description: Name of the peer.
          type: str
          sample: ns-42
        netns:
          description: Namespace of the peer.
          type: str
          sample: qdhcp-42
        ifindex:
          description: Index of the peer in its namespace.
          type: int
          sample: 2
        netnsid:
          description: The id the link's namespace gives the peer's one (C(ip netns list-id)); V(null) for the same namespace.
          type: int
          sample: 0
    tun:
      description: For a tun or tap device, its settings; V(null) for other kinds.
      type: dict
      contains:
        mode:
          description: V(tun) or V(tap).
          type: str
          sample: tap
        owner:
          description: uid allowed to attach to the device, V(null) when unset.
          type: int
          sample: 1000
        owner_name:
          description: User name of RV(links[].tun.owner), V(null) when unset or unknown on the target.
          type: str
          sample: qemu
        group:
          description: gid allowed to attach to the device, V(null) when unset.
          type: int
          sample: 1000
        group_name:
          description: Group name of RV(links[].tun.group), V(null) when unset or unknown on the target.
          type: str
          sample: kvm
        pi:
          description: Whether packet information headers are on.
          type: bool
          sample: false
        vnet_hdr:
          description: Whether virtio-net headers are on.
          type: bool
          sample: true
        multi_queue:
          description: Whether the device is multi-queue.
          type: bool
          sample: false
        persist:
          description: Whether the device persists without a process holding it.
          type: bool
          sample: true
        num_queues:
          description: Number of attached queues (multi-queue devices only, else V(null)).
          type: int
          sample: 0
    bridge:
      description: For a bridge, its settings and ports; V(null) for other kinds.
      type: dict
      contains:
        stp:
          description: Whether STP is on.
          type: bool
          sample: false
        forward_delay:
          description: Forward delay in seconds.
          type: float
          sample: 15.0
        hello_time:
          description: Hello time in seconds.
          type: float
          sample: 2.0
        max_age:
          description: Max age in seconds.
          type: float
          sample: 20.0
        ageing_time:
          description: FDB ageing time in seconds.
          type: float
          sample: 300.0
        priority:
          description: Bridge priority.
          type: int
          sample: 32768
        mcast_snooping:
          description: Whether multicast snooping is on.
          type: bool
          sample: true
        mcast_querier:
          description: Whether the bridge sends IGMP/MLD queries itself.
          type: bool
          sample: false
        group_fwd_mask:
          description: Bit mask of link-local group addresses 01:80:C2:00:00:0X that the bridge forwards.
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
          sample: [tap0, tap42]
    vxlan:
      description: For a VXLAN device, its settings and flood peers, as M(virtnet.linux.vxlan) shows them; V(null) for other kinds.
      type: dict
      contains:
        vni:
          description: The VXLAN network identifier.
          type: int
          sample: 42
        local:
          description: The local address, V(null) when it has none.
          type: str
          sample: 10.88.0.11
        port:
          description: The UDP port.
          type: int
          sample: 4789
        dev:
          description: The underlay device, V(null) when it has none (or it is in another namespace).
          type: str
          sample: eth1
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
          description: Its own remote or multicast group, V(null) when it has none.
          type: str
          sample: null
        peers:
          description:
            - Its flood entries (all-zero MAC, C(bridge fdb show dev NAME)), in address order; an entry with a
              port, VNI or underlay device of its own shows them after the address.
          type: list
          elements: str
          sample: [10.88.0.12, 10.88.0.13]
    macvlan:
      description: For a macvlan or macvtap device, its mode, parent and character device; V(null) for other kinds.
      type: dict
      contains:
        mode:
          description: V(bridge), V(private), V(vepa), V(passthru) or V(source).
          type: str
          sample: bridge
        parent:
          description:
            - Its parent device, as RV(links[].peer) shows a veth's peer (C(name), C(netns), C(ifindex),
              C(netnsid)); the parent may be in another namespace.
          type: dict
          sample: {name: eth0, netns: '', ifindex: 2, netnsid: 0}
        tap:
          description:
            - For a macvtap, its character device C(/dev/tapN) with C(device), C(owner), C(owner_name), C(group),
              C(group_name) and C(mode) (octal text); V(null) for a macvlan or when the node is missing.
          type: dict
          sample: {device: /dev/tap7, owner: 64055, owner_name: libvirt-qemu, group: 0, group_name: root,
                   mode: '0600'}
  sample:
    - name: tap0
      netns: ""
      ifindex: 5
      kind: tap
      link_state: up
      operstate: UP
      mtu: 1500
      address: "5a:0c:3c:8b:12:01"
      master: br0
      alias: ""
      txqueuelen: 1000
      group: 0
      addresses: []
      peer: null
      tun: {mode: tap, owner: 1000, owner_name: qemu, group: null, group_name: null, pi: false,
            vnet_hdr: true, multi_queue: false, persist: true, num_queues: null}
      bridge: null
      vxlan: null
      macvlan: null
    - name: tap42
      netns: ""
      ifindex: 9
      kind: veth
      link_state: up
      operstate: UP
      mtu: 1500
      address: "8e:10:4f:3a:be:02"
      master: br0
      alias: ""
      txqueuelen: 1000
      group: 0
      addresses: []
      peer: {name: ns-42, netns: qdhcp-42, ifindex: 2, netnsid: 0}
      tun: null
      bridge: null
      vxlan: null
      macvlan: null
namespaces:
  description:
    - The reported namespaces by name (V('') is the module's own), each with its C(name) and the names of
      its C(links) in the order of RV(links) (the links themselves are in RV(links), once).
    - A namespace the module could read always appears, even with no link other than C(lo).
  returned: success
  type: dict
  sample:
    "":
      name: ""
      links: [lo, br0, tap0, tap42]
    qdhcp-42:
      name: qdhcp-42
      links: [lo, ns-42]
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._info import link_info, unknown_kinds, validate_selection
from ansible_collections.virtnet.linux.plugins.module_utils._rtnl import Rtnl
from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError, refuse_coerced_names


def main():
    module = AnsibleModule(
        argument_spec=dict(
            netns=dict(type='list', elements='str'),
            links=dict(type='list', elements='str'),
            kinds=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    refuse_coerced_names(module)
    params = module.params
    errors = validate_selection(params['netns'])
    if errors:
        module.fail_json(msg='; '.join(errors))

    rtnl = Rtnl()
    try:
        result = link_info(rtnl, netns=params['netns'], links=params['links'], kinds=params['kinds'])
    except VirtnetError as exc:
        rtnl.close()
        module.fail_json(msg=exc.msg, **exc.details)
    except Exception as exc:  # pylint: disable=broad-except
        rtnl.close()
        module.fail_json(msg='reading links: %s' % exc, exception=traceback.format_exc())
    rtnl.close()
    unknown = unknown_kinds(params['kinds'], result['links'])
    if unknown:
        module.fail_json(msg='unknown link kind%s in kinds: %s (kinds of the kernel are for example tun, tap, '
                         'veth, bridge, vlan, dummy)' % ('s' if len(unknown) > 1 else '', ', '.join(unknown)))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
