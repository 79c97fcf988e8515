# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection.

from __future__ import annotations


class ModuleDocFragment(object):

    # The link options of every device module (tuntap, veth, bridge): those of the device O(name)
    DOCUMENTATION = r'''
options:
  name:
    description:
      - Name of the device in O(netns), at most 15 characters, without C(/), C(:), C(%), white space or
        control characters (C(%) would make the kernel pick a number).
      - A list or dict given here is refused (not turned into text).
      - Required unless O(batch) is given.
    type: str
  link_state:
    description:
      - Administrative state of the device O(name), V(up) or V(down) (C(ip link set NAME up|down)).
      - Not managed when not given; a device the task creates is down.
    type: str
    choices: [up, down]
  mtu:
    description: MTU of the device O(name) (68 to 65535). Not managed when not given.
    type: int
  address:
    description: MAC address of the device O(name), like V(02:00:00:00:00:01). Not managed when not given.
    type: str
  master:
    description:
      - Bridge in the same namespace that the device O(name) is a port of. The empty string releases it
        from its bridge. Not managed when not given.
      - A master that does not exist or is not a bridge is an error, found before anything is changed.
    type: str
  txqueuelen:
    description: Transmit queue length of the device O(name), 0 to 4294967295. Not managed when not given.
    type: int
  alias:
    description:
      - Alias (description) of the device O(name), as C(ip link set NAME alias TEXT) sets it; the empty
        string clears it. Not managed when not given.
    type: str
  forwarding:
    description:
      - IPv4 forwarding of the device O(name) - C(net.ipv4.conf.NAME.forwarding) in its namespace O(netns), the
        kernel's per-device switch (C(sysctl -w) as C(ip netns exec NETNS) would write it). Nothing else of the
        namespace or the host changes.
      - The kernel checks the device a packet arrives on - a router forwards what comes in on a device with
        forwarding on; the devices replies come in on need it too.
      - A device this task makes gets it before it is brought up; a deleted device takes it with it. Not
        managed when not given; the returned device shows it only where it is managed.
    type: bool
'''
