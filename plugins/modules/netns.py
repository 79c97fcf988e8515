#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: netns
short_description: Create and delete named network namespaces
version_added: 0.1.0
description:
  - Creates and deletes named network namespaces exactly as C(ip netns add) and C(ip netns delete) do
    (a namespace bind-mounted on C(/run/netns/NAME), with C(/run/netns) a shared mount), so C(ip netns)
    and this module each see what the other made.
  - Names match exactly (C(blue) does not exist because C(blue2) does).
  - Optionally brings the namespace's loopback up and places files in C(/etc/netns/NAME/), which
    C(ip netns exec) and M(virtnet.linux.netns_exec) bind over C(/etc).
  - Many namespaces can be handled by one task with O(batch); all of them are validated before any is
    changed, and a failure undoes what the task had already done.
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
requirements:
  - root, or CAP_NET_ADMIN and CAP_SYS_ADMIN, on the target
notes:
  - Needs no pyroute2 - it talks to the kernel directly (a few system calls and one rtnetlink request
    per namespace).
options:
  name:
    description:
      - Name of the namespace, a plain file name in C(/run/netns).
      - Empty names, C(.), C(..) and names with C(/), C(%) or control characters (a newline would make
        C(ip netns list) show two names) are refused, and so is a list or dict given here (see O(names)).
      - Required unless O(batch) is given.
    type: str
  state:
    description:
      - V(present) creates the namespace if it does not exist.
      - V(absent) deletes it (and its C(/etc/netns/NAME) directory); a namespace that is already gone is
        not an error. Processes still inside keep it alive, as with C(ip netns delete).
    type: str
    choices: [present, absent]
    default: present
  loopback_up:
    description:
      - Bring the namespace's C(lo) up (on creation, and on later runs if it was set down).
      - V(false) leaves C(lo) as it is.
    type: bool
    default: true
  etc:
    description:
      - Files to place in C(/etc/netns/NAME/), as a mapping of file name to content (for example
        C(resolv.conf) or C(hosts)).
      - A file whose content is V(null) is removed. Files not named here are left alone.
    type: dict
  names:
    description:
      - Several namespaces in one task, by name only; the other options apply to each.
      - Shorthand for a O(batch) whose elements only set O(name).
    type: list
    elements: str
  batch:
    description:
      - Several namespaces in one task. Each element takes the options O(name), O(state),
        O(loopback_up) and O(etc); options an element leaves out come from the task's top level.
      - Every element is validated before anything is changed; duplicates are refused.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the namespace.
        type: str
        required: true
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
      loopback_up:
        description: As O(loopback_up).
        type: bool
      etc:
        description: As O(etc).
        type: dict
seealso:
  - module: virtnet.linux.netns_exec
  - name: ip-netns(8)
    description: The iproute2 manual page for network namespaces.
    link: https://man7.org/linux/man-pages/man8/ip-netns.8.html
'''

EXAMPLES = r'''
- name: A namespace for the DHCP server of network 42
  virtnet.linux.netns:
    name: qdhcp-42

- name: A namespace with its own resolver configuration
  virtnet.linux.netns:
    name: vpn
    etc:
      resolv.conf: |
        nameserver 10.8.0.1

- name: Fifty namespaces in one task
  virtnet.linux.netns:
    names: "{{ query('sequence', 'start=1 end=50 format=tenant-%02d') }}"

- name: Several namespaces, listed
  virtnet.linux.netns:
    batch:
      - name: red
      - name: green
      - name: blue
        state: absent

- name: Delete a namespace (no error if it is already gone)
  virtnet.linux.netns:
    name: qdhcp-42
    state: absent
'''

RETURN = r'''
netns:
  description: The namespace after the task (single form).
  returned: success, unless O(batch) or O(names) is used
  type: dict
  contains:
    name:
      description: Name of the namespace.
      type: str
      sample: qdhcp-42
    exists:
      description: Whether the namespace exists.
      type: bool
      sample: true
    path:
      description: The namespace's file.
      type: str
      sample: /run/netns/qdhcp-42
    loopback:
      description: State of C(lo) in the namespace (V(null) when it does not exist).
      type: str
      sample: up
    etc:
      description: Content of the files named in O(etc), V(null) for a missing file.
      type: dict
      sample: {"resolv.conf": "nameserver 10.8.0.1\n"}
actions:
  description: What the task did (or would do, in check mode), in order (single form).
  returned: success, unless O(batch) or O(names) is used
  type: list
  elements: str
  sample: ["create netns qdhcp-42", "set lo up in netns qdhcp-42"]
results:
  description: One entry per element of O(batch), with C(name), C(changed), C(actions) and C(netns).
  returned: success, when O(batch) or O(names) is used
  type: list
  elements: dict
  sample: [{"name": "red", "changed": true, "actions": ["create netns red", "set lo up in netns red"],
            "netns": {"name": "red", "exists": true, "path": "/run/netns/red", "loopback": "up", "etc": {}}}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._engine import batch_argument_spec, run
from ansible_collections.virtnet.linux.plugins.module_utils._spec.netns import ARGUMENT_SPEC, Netns


def main():
    module = AnsibleModule(
        argument_spec=batch_argument_spec(dict(ARGUMENT_SPEC, names=dict(type='list', elements='str')),
                                          required=('name',), exclude=('names',)),
        required_one_of=[('name', 'names', 'batch')],
        mutually_exclusive=[('name', 'names', 'batch')],
        supports_check_mode=True,
    )
    run(module, Netns())


if __name__ == '__main__':
    main()
