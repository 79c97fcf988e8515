# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The devices' views of what the kernel reports, shared by each device's spec and by link_info.

What link_info shows of a bridge's options or of a veth's peer is exactly what the bridge and veth modules
read, compare and return: the spec files (`_spec/bridge`, `_spec/veth`) import these functions under
their own names and use them as their view. (A tun's settings: `_tuntap.tun_view`, likewise shared.)

They live here, not in the spec files, for one measured reason: a spec builds on the engine (`_link`,
`_engine`, the spec itself: about 1,800 lines), and AnsiballZ ships module_utils as source, so link_info
would compile all of that on every run only to read these few functions - about 20 ms of CPU per task
(BENCHMARKS.md, "Issue 15, last steps"). Nothing here imports the engine, pyroute2 or anything but Python.
"""

from __future__ import annotations


# --------------------------------------------------------------------------- bridge

#: option -> (IFLA_BR_* attribute read back, pyroute2 key sent, type): the bridge module's options
BRIDGE_OPTIONS = {
    'stp': ('IFLA_BR_STP_STATE', 'br_stp_state', 'bool'),
    'forward_delay': ('IFLA_BR_FORWARD_DELAY', 'br_forward_delay', 'timer'),
    'hello_time': ('IFLA_BR_HELLO_TIME', 'br_hello_time', 'timer'),
    'max_age': ('IFLA_BR_MAX_AGE', 'br_max_age', 'timer'),
    'ageing_time': ('IFLA_BR_AGEING_TIME', 'br_ageing_time', 'timer'),
    'priority': ('IFLA_BR_PRIORITY', 'br_priority', 'int'),
    'mcast_snooping': ('IFLA_BR_MCAST_SNOOPING', 'br_mcast_snooping', 'bool'),
    'mcast_querier': ('IFLA_BR_MCAST_QUERIER', 'br_mcast_querier', 'bool'),
    'group_fwd_mask': ('IFLA_BR_GROUP_FWD_MASK', 'br_group_fwd_mask', 'int'),
    'vlan_filtering': ('IFLA_BR_VLAN_FILTERING', 'br_vlan_filtering', 'bool'),
}


def cs_to_seconds(cs):
    """Centiseconds as the kernel reports them to seconds (1500 -> 15.0)."""
    if cs is None:
        return None
    return round(cs / 100.0, 2)


def bridge_value(option, value):
    """A value the kernel reports for bridge option `option`, in the module's units."""
    kind = BRIDGE_OPTIONS[option][2]
    if value is None:
        return None
    if kind == 'timer':
        return cs_to_seconds(value)
    if kind == 'bool':
        return bool(value)
    return value


def bridge_view(info_data):
    """Every bridge option in the module's units, from a bridge's IFLA_INFO_DATA (`_rtnl.parse_link`'s
    or `_pyroute2`'s info_data; None when the kernel reports none): the bridge module's view and link_info's."""
    data = info_data or {}
    return dict((option, bridge_value(option, data.get(attr)))
                for option, (attr, _key, _t) in BRIDGE_OPTIONS.items())


# --------------------------------------------------------------------------- veth

def veth_peer(link):
    """Where the peer of veth `link` (a `_rtnl.parse_link` record) is, as its own namespace's kernel says:
    (peer ifindex, None) when the peer is in the same namespace; (peer ifindex, nsid) when it is in the
    namespace that the link's namespace knows by link-netnsid `nsid` (negative: the kernel gave that namespace
    no id, so it cannot be named); None when the kernel names no peer (IFLA_LINK absent or 0: the pair is
    going away). The veth module's view and link_info both start from it; naming the namespace and
    the peer is theirs (one link at a time there, batched over every namespace in link_info)."""
    index = link.get('link_index')
    if not index:
        return None
    return index, link.get('link_netnsid')
