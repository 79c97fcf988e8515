# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Benchmark helper, not part of the collection: Ansible's own cost of a task with the arguments and
# the result of a veth batch, without the work (no netlink, nothing changed on the host).

from __future__ import annotations

DOCUMENTATION = r'''
module: bench_null_batch
short_description: Benchmark reference, takes a veth batch and returns a stored result
description:
  - Validates the same batch argument spec as virtnet.linux.veth, changes nothing and returns the result
    stored in O(result_file) (a veth result with its C(invocation) removed).
options:
  batch:
    description: The veth batch, as given to virtnet.linux.veth.
    type: list
    elements: dict
  result_file:
    description: JSON file with the result to return.
    type: path
author:
  - virtnet.linux developers (@virtnet)
'''

import json

from ansible.module_utils.basic import AnsibleModule

_STR = ('name', 'netns', 'address', 'master', 'alias', 'peer', 'peer_netns', 'peer_address', 'peer_master',
        'peer_alias')
_INT = ('mtu', 'txqueuelen', 'peer_mtu', 'peer_txqueuelen')
_UPDOWN = ('link_state', 'peer_link_state')


def main():
    item = dict((k, dict(type='str')) for k in _STR)
    item.update((k, dict(type='int')) for k in _INT)
    item.update((k, dict(type='str', choices=['up', 'down'])) for k in _UPDOWN)
    item['state'] = dict(type='str', choices=['present', 'absent'])
    item['recreate'] = dict(type='bool')
    item['name']['required'] = True
    module = AnsibleModule(argument_spec=dict(
        batch=dict(type='list', elements='dict', options=item),
        result_file=dict(type='path'),
    ), supports_check_mode=True)
    result = {'changed': False}
    if module.params['result_file']:
        with open(module.params['result_file']) as f:
            result = json.load(f)
        result.pop('invocation', None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
