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
  - TODO
author:
  - virtnet.linux developers (@virtnet)
options:
  netns:
    description: TODO
    type: str
    default: ''
  namespaces:
    description: TODO
    type: list
    elements: dict
    default: []
  bridges:
    description: TODO
    type: list
    elements: dict
    default: []
  tuntaps:
    description: TODO
    type: list
    elements: dict
    default: []
  veths:
    description: TODO
    type: list
    elements: dict
    default: []
  addresses:
    description: TODO
    type: list
    elements: dict
    default: []
  routes:
    description: TODO
    type: list
    elements: dict
    default: []
'''

EXAMPLES = r'''
- name: TODO
  virtnet.linux.plumbing:
    namespaces:
      - name: qdhcp-42
'''

RETURN = r'''
results:
  description: TODO
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._plumbing import argument_spec, run_plumbing


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_plumbing(module)


if __name__ == '__main__':
    main()
