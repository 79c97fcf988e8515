#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: address
short_description: Manage the IPv4 and IPv6 addresses of a link, in any network namespace
version_added: 0.1.0
description:
  - Adds and removes IP addresses on a link (C(ip address add/del)), in the module's own network
    namespace or in a named one.
  - Addresses are compared by address and prefix length, so C(10.0.0.1/24) and C(10.0.0.1/16) are different
    addresses; listing an address that the link has with another prefix length replaces it.
  - With O(purge), the link ends up with exactly the listed addresses of each family that is listed.
  - Many links can be handled by one task with O(batch); every element is validated before anything is
    changed, and a failure undoes what the task had already done.
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
  diff_mode:
    support: full
    details:
      - The diff shows the link's addresses before and after, as a list of CIDR strings.
options:
  dev:
    description:
      - Name of the link whose addresses are managed.
      - A link that does not exist is an error with O(state=present); with O(state=absent) its addresses
        count as already gone.
      - Required unless O(batch) is given.
    type: str
  address:
    description:
      - The addresses, in CIDR form (V(10.42.0.2/24), V(fd00:42::2/64)); a single string is accepted.
        IPv6 addresses are compared in their canonical (compressed) form.
      - An address written without a prefix length gets the host prefix (V(/32) or V(/128)), as
        C(ip address add) gives it. With O(state=absent), such an address is removed whatever its
        prefix length on the link.
      - The same address with another prefix length on the link is replaced (removed, then added).
      - IPv4 addresses with a prefix length of up to 30 get the subnet's broadcast address, like
        C(ip address add ... brd +).
      - With O(state=present), multicast addresses, the unspecified address (V(0.0.0.0), V(::)) and V(::1)
        on a link other than C(lo) are refused before anything is sent (the kernel never keeps them).
      - Required unless O(batch) is given; must not be empty.
    type: list
    elements: str
  state:
    description:
      - V(present) adds the listed addresses that the link lacks.
      - V(absent) removes the listed addresses that the link has; addresses that are already gone are
        not an error.
      - Removing an IPv4 primary address makes the kernel remove the secondary addresses of its subnet
        too (unless C(promote_secondaries) is set); the module adds back those it was not asked to remove.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove every other address of the link that belongs to a family
        (IPv4, IPv6) of which O(address) lists at least one address. Families not listed are left alone.
      - IPv6 link-local addresses (V(fe80::/10)) are never removed by purging unless they are listed in
        O(address); the kernel creates them for every link that is up.
      - Ignored with O(state=absent).
    type: bool
    default: false
  batch:
    description:
      - Several links in one task. Each element takes the options O(dev), O(address), O(state),
        O(purge) and O(netns); options an element leaves out come from the task's top level.
      - A link (O(dev) in O(netns)) must not appear twice.
    type: list
    elements: dict
    suboptions:
      dev:
        description: As O(dev).
        type: str
      address:
        description: As O(address).
        type: list
        elements: str
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
      purge:
        description: As O(purge).
        type: bool
      netns:
        description: As O(netns).
        type: str
notes:
  - IPv6 addresses added to a link that is up go through duplicate address detection and are marked
    C(tentative) for a moment; they count as present.
  - The module does not manage address lifetimes, labels, peer addresses or flags; addresses it reads
    with a peer (point-to-point) are identified by their local address.
seealso:
  - module: virtnet.linux.route
  - module: virtnet.linux.veth
  - name: ip-address(8)
    description: The iproute2 manual page for protocol addresses.
    link: https://man7.org/linux/man-pages/man8/ip-address.8.html
'''

EXAMPLES = r'''
- name: The DHCP server's address on ns-42, inside its namespace
  virtnet.linux.address:
    netns: qdhcp-42
    dev: ns-42
    address: 10.42.0.2/24

- name: IPv4 and IPv6, and nothing else of either family (link-local IPv6 stays)
  virtnet.linux.address:
    netns: qdhcp-42
    dev: ns-42
    address:
      - 10.42.0.2/24
      - fd00:42::2/64
    purge: true

- name: Remove an address (no error if it is already gone)
  virtnet.linux.address:
    netns: qdhcp-42
    dev: ns-42
    address: 10.42.0.3/24
    state: absent

- name: Several networks in one task
  virtnet.linux.address:
    purge: true
    batch:
      - {netns: qdhcp-42, dev: ns-42, address: [10.42.0.2/24]}
      - {netns: qdhcp-43, dev: ns-43, address: [10.43.0.2/24]}
      - {dev: brq44, address: [10.44.0.1/24]}
'''

RETURN = r'''
dev:
  description: The link (single form).
  returned: success, unless O(batch) is used
  type: str
  sample: ns-42
netns:
  description: The namespace of the link, V('') for the module's own (single form).
  returned: success, unless O(batch) is used
  type: str
  sample: qdhcp-42
addresses:
  description:
    - Every address of the link after the task (as predicted, in check mode), in CIDR form, IPv4 first.
    - Includes addresses the task does not manage, such as IPv6 link-local ones. Empty when the link does
      not exist.
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["10.42.0.2/24", "fd00:42::2/64", "fe80::5c1e:6dff:fe4a:1b02/64"]
added:
  description: The addresses the task added (or would add, in check mode).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["10.42.0.2/24"]
removed:
  description: The addresses the task removed (or would remove, in check mode).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["10.42.0.9/24"]
actions:
  description: What the task did (or would do, in check mode), in order (single form).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["remove 10.42.0.9/24 from ns-42", "add 10.42.0.2/24 to ns-42"]
results:
  description:
    - One entry per element of O(batch), in order, with C(name) (V(NETNS/DEV), or V(DEV) in the module's
      own namespace), C(changed), C(actions), C(dev), C(netns), C(addresses), C(added) and C(removed) as
      in the single form.
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "qdhcp-42/ns-42", "changed": true, "actions": ["add 10.42.0.2/24 to ns-42"],
            "dev": "ns-42", "netns": "qdhcp-42", "addresses": ["10.42.0.2/24"], "added": ["10.42.0.2/24"],
            "removed": []}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._engine import batch_argument_spec, run
from ansible_collections.virtnet.linux.plugins.module_utils._spec.address import ARGUMENT_SPEC, Address


def main():
    module = AnsibleModule(
        argument_spec=batch_argument_spec(ARGUMENT_SPEC),
        required_one_of=[('dev', 'batch'), ('address', 'batch')],
        supports_check_mode=True,
    )
    run(module, Address())


if __name__ == '__main__':
    main()
