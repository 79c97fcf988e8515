# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The devices' views of what the kernel reports, shared by each device's spec and by link_info.

What link_info shows of a bridge's options, of a veth's peer, of a vxlan's settings and flood entries or of
a macvlan's mode and parent is exactly what those modules read, compare and return: the spec files
(`_spec/bridge`, `_spec/veth`, `_spec/vxlan`, `_spec/macvlan`) import these functions under their own names
and use them as their view. (A tun's settings: `_tuntap.tun_view`, likewise shared.)

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


# --------------------------------------------------------------------------- vxlan

#: the flood entries of a vxlan: forwarding entries of the all-zero MAC (head-end replication)
FLOOD_MAC = '00:00:00:00:00:00'


def vxlan_view(info_data):
    """The vxlan module's options as a vxlan's IFLA_INFO_DATA (`_rtnl`'s vxlan table) reports them; `dev` is
    the underlay's ifindex here (0 or None: none), named by the caller. `group` is the device's own remote or
    multicast group (set by hand: the module makes devices without one), None when it has none."""
    data = info_data or {}
    learning = data.get('IFLA_VXLAN_LEARNING')
    return {
        'vni': data.get('IFLA_VXLAN_ID'),
        'local': data.get('IFLA_VXLAN_LOCAL') or data.get('IFLA_VXLAN_LOCAL6'),
        'port': data.get('IFLA_VXLAN_PORT'),
        'dev': data.get('IFLA_VXLAN_LINK') or None,
        'learning': None if learning is None else bool(learning),
        'ttl': data.get('IFLA_VXLAN_TTL'),
        'tos': data.get('IFLA_VXLAN_TOS'),
        'group': data.get('IFLA_VXLAN_GROUP') or data.get('IFLA_VXLAN_GROUP6'),
    }


def is_flood_entry(entry):
    """Whether a forwarding entry (`_rtnl.parse_fdb`) is a flood entry of its device's own table: the all-zero
    MAC with a destination (a vxlan's head-end replication list)."""
    return entry.get('mac') == FLOOD_MAC and entry.get('dst') is not None and not entry.get('master')


def plain_entry(entry):
    """Whether a flood entry sends to its destination with the device's own port, VNI and underlay: what
    `bridge fdb append 00:00:00:00:00:00 dev X dst PEER` makes, and what the vxlan module's `peers` are."""
    return entry.get('port') is None and entry.get('vni') is None and entry.get('via') is None


def describe_entry(entry, names=None):
    """A flood entry as the vxlan module shows it: its destination, followed by what it has of its own
    ('10.0.0.2 port 4790 vni 7 via eth1'; `names`: ifindex -> name of the underlay)."""
    text = entry['dst']
    if entry.get('port') is not None:
        text += ' port %d' % entry['port']
    if entry.get('vni') is not None:
        text += ' vni %d' % entry['vni']
    if entry.get('via') is not None:
        text += ' via %s' % ((names or {}).get(entry['via']) or '#%d' % entry['via'])
    return text


def flood_peers(entries, group=None, names=None):
    """The flood entries of one device, as the vxlan module shows them (`peers`): every entry of `entries`
    (forwarding entries of the device) that is a flood entry, described (describe_entry) and in address
    order; the device's own remote or group (`group`) is not a peer."""
    out = []
    for entry in entries:
        if not is_flood_entry(entry) or (entry['dst'] == group and plain_entry(entry)):
            continue
        out.append(describe_entry(entry, names))
    return sorted(out, key=address_order)


def address_order(text):
    """A sort key of an address in text ('10.0.0.2', 'fd00::1', '10.0.0.2 port 4790'): IPv4 before IPv6, by
    number, then the rest of the text."""
    import ipaddress
    head, _sep, rest = str(text).partition(' ')
    try:
        address = ipaddress.ip_address(head)
    except ValueError:
        return (9, 0, str(text))
    return (address.version, int(address), rest)


# --------------------------------------------------------------------------- macvlan, macvtap

#: where a macvtap's character device is: /dev/tap<ifindex> (made by devtmpfs or udev)
TAP_DEVICE = '/dev/tap%d'


def macvlan_view(kind, info_data):
    """A macvlan's or macvtap's mode (bridge, private, vepa, passthru, source), from its IFLA_INFO_DATA."""
    data = info_data or {}
    return {'mode': data.get('IFLA_%s_MODE' % (kind or 'macvlan').upper())}


def macvtap_major(proc='/proc'):
    """The major number of the macvtap character devices (/proc/devices), None when the kernel has none."""
    try:
        with open(proc + '/devices') as f:
            for line in f:
                fields = line.split()
                if len(fields) == 2 and fields[1] == 'macvtap' and fields[0].isdigit():
                    return int(fields[0])
    except OSError:
        pass
    return None


def tap_device(ifindex, major=None):
    """(path, os.stat result or None) of the character device of the macvtap with `ifindex`: None when the
    node is missing or is not a macvtap device (its major differs from `major`, when given)."""
    import os
    import stat
    path = TAP_DEVICE % ifindex
    try:
        st = os.stat(path)
    except OSError:
        return path, None
    if not stat.S_ISCHR(st.st_mode) or (major is not None and os.major(st.st_rdev) != major):
        return path, None
    return path, st
