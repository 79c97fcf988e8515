# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection.

from __future__ import annotations


class ModuleDocFragment(object):

    # The netns option and the requirements of every netlink module (pyroute2: in each module that uses it)
    DOCUMENTATION = r'''
options:
  netns:
    description:
      - Name of the network namespace to work in, as listed by C(ip netns list) (a file in C(/run/netns)).
      - The empty string (the default) means the namespace the module itself runs in.
      - A namespace that does not exist is an error naming it; it is never created by this option.
      - Set it once for several tasks with C(module_defaults) and C(group/virtnet.linux.netlink).
    type: str
    default: ''
requirements:
  - root, or CAP_NET_ADMIN and CAP_SYS_ADMIN, on the target
notes:
  - Works on Linux targets only.
'''
