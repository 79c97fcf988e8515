# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Transitional: the names the bridge, address and route modules still import from here.

The netlink layer is `_rtnl` (hand-built) and `_pyroute2` (what stays with pyroute2); this file goes
once those modules import `_common` and `_pyroute2` themselves.
"""

from __future__ import annotations

from ansible_collections.virtnet.linux.plugins.module_utils._common import (  # noqa: F401 pylint: disable=unused-import
    VirtnetError, kernel_error, netns_exists, ns_label, validate_ifname, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._pyroute2 import (  # noqa: F401 pylint: disable=unused-import
    NetlinkError, dump_ports, nl_call,
)
