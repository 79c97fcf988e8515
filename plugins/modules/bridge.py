#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: bridge
short_description: Manage Linux bridges and their ports
version_added: 0.1.0
description:
  - Creates, changes and deletes Linux bridge devices, like C(ip link add NAME type bridge ...),
    C(ip link set NAME type bridge ...) and C(ip link set PORT master NAME) do, in the module's own
    network namespace or in a named one (O(netns)).
  - Only the options given are managed; each is compared with what the kernel reports and only real
    differences are sent. Timers are given in seconds and compared after conversion to the kernel's
    centiseconds, allowing for the kernel's rounding to its clock tick, so that re-runs are idempotent.
  - O(ports) adds links of the bridge's namespace to the bridge (a port of another bridge is moved);
    with O(purge_ports) ports not listed are released. Ports are never created or deleted.
  - Many bridges can be handled by one task with O(batch); every element is validated before anything
    is changed, and a failure undoes what the task had already done (ports added are released again,
    bridges created are deleted).
requirements:
  - pyroute2 (0.7 or later) on the target
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
  - virtnet.linux._attributes.ACTIONGROUP_NETLINK
  - virtnet.linux._netns
  - virtnet.linux._link
attributes:
  check_mode:
    support: full
    details:
      - For a bridge that does not exist yet, a O(vlan_filtering=true) the kernel cannot do is only
        detected when the bridge is really created.
  diff_mode:
    support: full
options:
  state:
    description:
      - V(present) creates the bridge if needed and makes it match the options given.
      - V(absent) deletes it; its ports are released by the kernel, not deleted. A bridge that is already
        gone is not an error; a device of that name that is not a bridge is not deleted (an error).
    type: str
    choices: [present, absent]
    default: present
  stp:
    description:
      - Whether the Spanning Tree Protocol is on (C(stp_state)).
      - When STP is turned on the kernel moves O(forward_delay) into 2..30 seconds.
    type: bool
  forward_delay:
    description:
      - Forwarding delay in seconds (fractions allowed), C(forward_delay) of C(ip link).
      - 2..30 while STP is on (the kernel refuses other values then), any value up to 42949672 while it
        is off. Every timer must be a finite number (V(.nan) and V(.inf) are refused).
    type: float
  hello_time:
    description: Hello time in seconds (1..10), C(hello_time) of C(ip link).
    type: float
  max_age:
    description: Maximum message age in seconds (6..40), C(max_age) of C(ip link).
    type: float
  ageing_time:
    description:
      - How long, in seconds, a learned MAC address stays in the forwarding database (C(ageing_time)).
      - V(0) makes the bridge forget addresses at once (it floods like a hub).
    type: float
  priority:
    description: STP bridge priority (0..65535).
    type: int
  mcast_snooping:
    description: Whether IGMP/MLD snooping is on (C(mcast_snooping)).
    type: bool
  mcast_querier:
    description: Whether the bridge sends IGMP/MLD queries itself (C(mcast_querier)).
    type: bool
  group_fwd_mask:
    description:
      - Bit mask of link-local group addresses 01:80:C2:00:00:0X that the bridge forwards
        (C(group_fwd_mask)), 0..65535.
      - The kernel never forwards bits 0, 1 and 2 (STP, MAC pause, LACP); a mask with them is refused.
    type: int
  vlan_filtering:
    description:
      - Whether VLAN filtering is on (C(vlan_filtering)).
      - Sent only when it differs from what the kernel reports. Kernels built without
        C(CONFIG_BRIDGE_VLAN_FILTERING) report V(false) (so V(false) succeeds without change) and cannot
        turn it on (an error saying so).
    type: bool
  ports:
    description:
      - Links of the bridge's namespace to make ports of the bridge (C(ip link set PORT master NAME)).
      - A link that is a port of another bridge is moved (reported in RV(actions)); a missing link, a
        bridge, or a port of a device that is not a bridge is an error naming it, and nothing is changed.
      - Ports not listed are left alone unless O(purge_ports) is set. Unset, ports are not managed.
    type: list
    elements: str
  purge_ports:
    description:
      - Release the ports of the bridge that O(ports) does not list (they are not deleted).
      - Needs O(ports); O(ports=[]) with O(purge_ports=true) releases every port.
    type: bool
    default: false
  batch:
    description:
      - Several bridges in one task. Each element takes the options of a single bridge; options an
        element leaves out come from the task's top level.
      - Every element is validated before anything is changed; duplicates are refused.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the bridge.
        type: str
        required: true
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
      netns:
        description: As O(netns).
        type: str
      link_state:
        description: As O(link_state).
        type: str
        choices: [up, down]
      mtu:
        description: As O(mtu).
        type: int
      address:
        description: As O(address).
        type: str
      master:
        description: As O(master).
        type: str
      txqueuelen:
        description: As O(txqueuelen).
        type: int
      alias:
        description: As O(alias).
        type: str
      stp:
        description: As O(stp).
        type: bool
      forward_delay:
        description: As O(forward_delay).
        type: float
      hello_time:
        description: As O(hello_time).
        type: float
      max_age:
        description: As O(max_age).
        type: float
      ageing_time:
        description: As O(ageing_time).
        type: float
      priority:
        description: As O(priority).
        type: int
      mcast_snooping:
        description: As O(mcast_snooping).
        type: bool
      mcast_querier:
        description: As O(mcast_querier).
        type: bool
      group_fwd_mask:
        description: As O(group_fwd_mask).
        type: int
      vlan_filtering:
        description: As O(vlan_filtering).
        type: bool
      ports:
        description: As O(ports).
        type: list
        elements: str
      purge_ports:
        description: As O(purge_ports).
        type: bool
notes:
  - The kernel does not allow a bridge as a port of another bridge, so for a bridge O(master) is normally
    left unset; a bridge given there is refused before anything is sent (in check mode too).
seealso:
  - module: virtnet.linux.netns
  - name: ip-link(8)
    description: The iproute2 manual page, section C(BRIDGE Type Support).
    link: https://man7.org/linux/man-pages/man8/ip-link.8.html
'''

EXAMPLES = r'''
- name: Host bridge br0 for KVM guests, STP on with a short forwarding delay
  virtnet.linux.bridge:
    name: br0
    stp: true
    forward_delay: 4
    link_state: up

- name: Bridge of network 42 with the veth end of its DHCP namespace and the uplink NIC as ports
  virtnet.linux.bridge:
    name: brq42
    ports: [tap42, eth1]
    purge_ports: true
    link_state: up

- name: A bridge inside a network namespace, its ports there too
  virtnet.linux.bridge:
    name: br-lab
    netns: lab
    ports: [veth-h1, veth-h2]
    mcast_snooping: false
    ageing_time: 0
    link_state: up

- name: Several bridges in one task
  virtnet.linux.bridge:
    link_state: up
    batch:
      - name: brq1
        ports: [tap1]
      - name: brq2
        ports: [tap2]
      - name: brq3
        state: absent

- name: Delete a bridge (its ports are released, not deleted)
  virtnet.linux.bridge:
    name: brq42
    state: absent
'''

RETURN = r'''
link:
  description: The bridge after the task (single form, O(state=present)); predicted in check mode.
  returned: success, when O(state=present) and O(batch) is not used
  type: dict
  contains:
    name:
      description: Name of the bridge.
      type: str
      sample: br0
    netns:
      description: Namespace of the bridge (V('') for the module's own).
      type: str
      sample: ''
    ifindex:
      description: Interface index.
      type: int
      sample: 7
    kind:
      description: Link kind, always V(bridge).
      type: str
      sample: bridge
    link_state:
      description: Administrative state, V(up) or V(down).
      type: str
      sample: up
    operstate:
      description: Operational state as the kernel reports it (C(DOWN) without carrier).
      type: str
      sample: UP
    mtu:
      description: MTU.
      type: int
      sample: 1500
    address:
      description: MAC address.
      type: str
      sample: 02:00:00:00:00:01
    master:
      description: Device this bridge is a port of (V('') for none).
      type: str
      sample: ''
    txqueuelen:
      description: Transmit queue length.
      type: int
      sample: 1000
    alias:
      description: Alias (V('') for none).
      type: str
      sample: ''
    stp:
      description: Whether STP is on.
      type: bool
      sample: true
    forward_delay:
      description: Forwarding delay in seconds.
      type: float
      sample: 4.0
    hello_time:
      description: Hello time in seconds.
      type: float
      sample: 2.0
    max_age:
      description: Maximum message age in seconds.
      type: float
      sample: 20.0
    ageing_time:
      description: FDB ageing time in seconds.
      type: float
      sample: 300.0
    priority:
      description: STP bridge priority.
      type: int
      sample: 32768
    mcast_snooping:
      description: Whether IGMP/MLD snooping is on.
      type: bool
      sample: true
    mcast_querier:
      description: Whether the bridge is a multicast querier.
      type: bool
      sample: false
    group_fwd_mask:
      description: Group forwarding mask.
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
      sample: [eth1, tap42]
actions:
  description: What the task did (or would do, in check mode), in order (single form).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["create bridge br0", "add port tap42 to br0", "move port eth1 from br1 to br0"]
results:
  description: One entry per element of O(batch), with C(name), C(changed), C(actions) and C(link) (for
    bridges that are present).
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "brq1", "changed": true, "actions": ["create bridge brq1", "add port tap1 to brq1"],
            "link": {"name": "brq1", "ports": ["tap1"], "stp": false}}]
'''

import errno
import math

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._link import (
    LinkKind, check_master, link_module_args, normalise_mac, read_link, run_link_module,
)
from ansible_collections.virtnet.linux.plugins.module_utils._netlink import (
    NetlinkError, VirtnetError, dump_ports, kernel_error, nl_call, ns_label, validate_ifname,
)

# option -> (IFLA_BR_* attribute read back, pyroute2 key sent, type)
OPTIONS = {
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

#: what a new bridge reports (kernel defaults), in the module's units
DEFAULTS = {
    'stp': False, 'forward_delay': 15.0, 'hello_time': 2.0, 'max_age': 20.0, 'ageing_time': 300.0,
    'priority': 32768, 'mcast_snooping': True, 'mcast_querier': False, 'group_fwd_mask': 0,
    'vlan_filtering': False,
}

#: the kernel stores timers in jiffies: a value in centiseconds may come back 1 lower (HZ=250 etc.)
TIMER_TOLERANCE_CS = 1
MAX_TIMER_CS = 0xFFFFFFFF
#: timer limits the kernel enforces, in centiseconds (always, or only while STP is on)
TIMER_LIMITS_CS = {'hello_time': (100, 1000), 'max_age': (600, 4000)}
STP_FORWARD_DELAY_CS = (200, 3000)
GROUP_FWD_RESTRICTED = 0x0007

KEYS = list(OPTIONS) + ['ports', 'purge_ports']


# --------------------------------------------------------------------------- pure logic

def seconds_to_cs(seconds):
    """Seconds (int/float) to the kernel's centiseconds, rounded half up (15 -> 1500, 4.01 -> 401)."""
    return int(math.floor(float(seconds) * 100 + 0.5))


def cs_to_seconds(cs):
    """Centiseconds as the kernel reports them to seconds (1500 -> 15.0)."""
    if cs is None:
        return None
    return round(cs / 100.0, 2)


def timer_equal(wanted_seconds, current_cs):
    """Whether a wanted timer matches the kernel's value, allowing for its rounding to jiffies."""
    if current_cs is None:
        return False
    return abs(seconds_to_cs(wanted_seconds) - current_cs) <= TIMER_TOLERANCE_CS


def to_kernel(option, value):
    """A value of `option` in the module's units as the kernel takes it."""
    kind = OPTIONS[option][2]
    if kind == 'timer':
        return seconds_to_cs(value)
    if kind == 'bool':
        return 1 if value else 0
    return int(value)


def from_kernel(option, value):
    """A value the kernel reports for `option` in the module's units."""
    kind = OPTIONS[option][2]
    if value is None:
        return None
    if kind == 'timer':
        return cs_to_seconds(value)
    if kind == 'bool':
        return bool(value)
    return value


def normalise(option, value):
    """A wanted value as the view will show it (timers rounded to centiseconds)."""
    if value is None:
        return None
    return from_kernel(option, to_kernel(option, value))


def option_equal(option, wanted, current_kernel):
    """Whether a wanted value matches what the kernel reports (stp_state 2, user-space STP, is on)."""
    if current_kernel is None:
        return False
    if OPTIONS[option][2] == 'timer':
        return timer_equal(wanted, current_kernel)
    return from_kernel(option, current_kernel) == normalise(option, wanted)


def _label(item):
    return 'bridge %s in %s' % (item.get('name'), ns_label(item.get('netns') or ''))


def timer_errors(item, stp_on):
    """Range errors of the timers of one bridge; `stp_on` is the STP state the bridge will have."""
    errors = []
    label = _label(item)
    for option in ('forward_delay', 'hello_time', 'max_age', 'ageing_time'):
        value = item.get(option)
        if value is None:
            continue
        if not math.isfinite(float(value)):
            errors.append('%s of %s must be a finite number of seconds, not %s' % (option, label, value))
            continue
        cs = seconds_to_cs(value)
        low, high = TIMER_LIMITS_CS.get(option, (0, MAX_TIMER_CS))
        if option == 'forward_delay' and stp_on:
            low, high = STP_FORWARD_DELAY_CS
        if not low <= cs <= high:
            cond = ' while STP is on' if option == 'forward_delay' and stp_on else ''
            errors.append('%s %s of %s out of range%s (%s..%s seconds)'
                          % (option, _num(value), label, cond, _num(low / 100.0), _num(high / 100.0)))
    return errors


def _num(value):
    value = float(value)
    return '%d' % value if value == int(value) else '%s' % value


def validate_bridge(item):
    """Errors of the bridge options of one object that need no kernel (list of strings)."""
    name = item.get('name')
    label = _label(item)
    errors = timer_errors(item, item.get('stp') is True)
    priority = item.get('priority')
    if priority is not None and not 0 <= priority <= 65535:
        errors.append('priority %d of %s out of range (0..65535)' % (priority, label))
    mask = item.get('group_fwd_mask')
    if mask is not None:
        if not 0 <= mask <= 65535:
            errors.append('group_fwd_mask %d of %s out of range (0..65535)' % (mask, label))
        elif mask & GROUP_FWD_RESTRICTED:
            errors.append('group_fwd_mask %#x of %s: bits 0, 1 and 2 (STP, MAC pause, LACP) '
                          'cannot be forwarded' % (mask, label))
    ports = item.get('ports')
    if ports is not None:
        seen = set()
        for port in ports:
            err = validate_ifname(port, 'port name')
            if err:
                errors.append('%s (%s)' % (err, label))
            elif port == name:
                errors.append('%s cannot be a port of itself' % label)
            elif port in seen:
                errors.append('port %s listed twice for %s' % (port, label))
            seen.add(port)
    elif item.get('purge_ports'):
        errors.append('purge_ports of %s needs ports (ports: [] releases every port)' % label)
    return errors


def plan_ports(wanted, current, purge):
    """(to_add, to_release): ports to add in the order wanted, ports to release (sorted)."""
    if wanted is None:
        return [], []
    to_add = [p for p in wanted if p not in current]
    to_release = sorted(p for p in current if p not in wanted) if purge else []
    return to_add, to_release


def ports_after(current, to_add, to_release):
    return sorted((set(current) | set(to_add)) - set(to_release))


def split_stp(args):
    """Requests to send for bridge attributes `args`, in an order the kernel accepts.

    The kernel applies timers before stp_state within one request, and refuses a forward_delay
    outside 2..30 s while STP is on: STP is therefore turned off in a request of its own first.
    """
    if args.get('br_stp_state') == 0 and len(args) > 1:
        rest = dict(args)
        rest.pop('br_stp_state')
        return [{'br_stp_state': 0}, rest]
    return [dict(args)] if args else []


def describe(values):
    """'forward_delay=4.0, stp=True' for the actions list."""
    return ', '.join('%s=%s' % (k, values[k]) for k in sorted(values))


# --------------------------------------------------------------------------- kernel

def read_ports(ipr, index, netns):
    """{port name: ifindex} of the bridge with `index`.

    The kernel filters a link dump by IFLA_MASTER itself, so this costs about as much as one
    `link get` however many links exist (a plain dump filtered in Python costs 0.3 s per 1000 links).
    """
    return dict((link['ifname'], link['index']) for link in dump_ports(ipr, index, netns))


def _set(ipr, netns, what, **args):
    return lambda: nl_call(what, netns, ipr.link, 'set', **args)


def _restore_master(ctx, netns, what, port, index, master):
    """An undo that gives port #index its master #master again and reads it back."""
    def run():
        nl_call(what, netns, ctx.ipr(netns).link, 'set', index=index, master=master)
        link = read_link(ctx, netns, index=index)
        now = (link or {}).get('master_index') or 0
        if link is None or now != (master or 0):
            raise VirtnetError('read back, port %s in %s: master is #%s, not #%s'
                               % (port, ns_label(netns), now, master or 0))
    return run


class BridgeKind(LinkKind):
    kind = 'bridge'
    read_kinds = ('bridge',)
    keys = KEYS

    # ----------------------------------------------------------------- validation
    def validate(self, item):
        if item.get('state') == 'absent':
            return []
        return validate_bridge(item)

    def check_masters(self, ctx, item):
        """A bridge cannot be a port of another bridge (the kernel refuses it): refused before anything
        is sent, in check mode too."""
        master = item.get('master')
        if master:
            check_master(ctx, item, '', item['name'], item.get('netns') or '')
            raise VirtnetError('%s: master %s is a bridge, and a bridge cannot be a port of another bridge'
                               % (_label(item), master))

    def preflight(self, ctx, item):
        """Every port to add exists and can be a port (read only; the plan is made again later)."""
        if item.get('ports'):
            self._port_plan(ctx, item, None, [])

    # ----------------------------------------------------------------- reading
    def view(self, ctx, item, link):
        data = link.get('info_data') or {}
        out = dict((option, from_kernel(option, data.get(attr))) for option, (attr, _key, _t) in OPTIONS.items())
        netns = item.get('netns') or ''
        out['ports'] = sorted(read_ports(ctx.ipr(netns), link['index'], netns))
        return out

    def _port_plan(self, ctx, item, bridge_index, current):
        """Resolve the ports to add and release; errors for ports that cannot be added. Reads only.

        Returns (adds, releases): adds as (name, ifindex, old master index, old master name),
        releases as names.
        """
        netns = item.get('netns') or ''
        name = item['name']
        to_add, to_release = plan_ports(item.get('ports'), current, item.get('purge_ports'))
        adds = []
        for port in to_add:
            link = read_link(ctx, netns, ifname=port)
            if link is None:
                raise VirtnetError('port %s of bridge %s not found in %s' % (port, name, ns_label(netns)))
            if link['kind'] == 'bridge':
                raise VirtnetError('port %s of bridge %s in %s is itself a bridge: a bridge cannot be a port '
                                   'of another bridge' % (port, name, ns_label(netns)))
            old = link['master_index'] or 0
            old_name = None
            if old and old != bridge_index:
                master = read_link(ctx, netns, index=old)
                old_name = master['ifname'] if master else '#%d' % old
                if master is not None and master['kind'] != 'bridge':
                    raise VirtnetError('port %s of bridge %s in %s is enslaved to %s, a %s, not a bridge: '
                                       'release it first' % (port, name, ns_label(netns), old_name,
                                                             master['kind'] or 'device without kind'))
            adds.append((port, link['index'], old, old_name))
        return adds, to_release

    # ----------------------------------------------------------------- comparing
    def compare(self, ctx, item, link, view, diffs):
        netns = item.get('netns') or ''
        name = item['name']
        data = link.get('info_data') or {}
        stp_on = item['stp'] if item.get('stp') is not None else view['stp']
        errors = timer_errors(item, stp_on)
        if errors:
            raise VirtnetError('; '.join(errors))
        for option, (attr, _key, _t) in OPTIONS.items():
            wanted = item.get(option)
            if wanted is None or option_equal(option, wanted, data.get(attr)):
                continue
            if option == 'vlan_filtering' and not _vlan_supported(data):
                raise VirtnetError(_vlan_unsupported(name, netns))
            diffs.add(option, view[option], normalise(option, wanted))
        if item.get('ports') is not None:
            current = view['ports']
            adds, releases = self._port_plan(ctx, item, link['index'], current)
            if adds or releases:
                diffs.add('ports', current, ports_after(current, [a[0] for a in adds], releases))

    # ----------------------------------------------------------------- changing
    def create(self, ctx, item):
        netns = item.get('netns') or ''
        name = item['name']
        ipr = ctx.ipr(netns)
        adds, _releases = self._port_plan(ctx, item, None, [])
        args = {'ifname': name, 'kind': 'bridge'}
        for option, (_attr, key, _t) in OPTIONS.items():
            value = item.get(option)
            if value is None or (option == 'vlan_filtering' and not value):
                continue        # vlan_filtering=0 is the default and EOPNOTSUPP on kernels without it
            args[key] = to_kernel(option, value)
        for option, key in (('mtu', 'mtu'), ('txqueuelen', 'txqlen'), ('link_state', 'state')):
            if item.get(option) is not None:
                args[key] = item[option]
        if item.get('address') is not None:
            args['address'] = normalise_mac(item['address'])

        def act():
            try:
                ipr.link('add', **args)
            except NetlinkError as exc:
                if exc.code == errno.EOPNOTSUPP and item.get('vlan_filtering'):
                    raise VirtnetError(_vlan_unsupported(name, netns))
                raise kernel_error(exc, 'creating bridge %s' % name, netns)

        def undo():
            nl_call('deleting %s' % name, netns, ipr.link, 'del', ifname=name)
            if read_link(ctx, netns, ifname=name) is not None:
                raise VirtnetError('read back, bridge %s is still in %s' % (name, ns_label(netns)))

        ctx.tx.run('create bridge %s' % name, act, undo)
        if item.get('alias'):
            # the kernel ignores IFLA_IFALIAS in a request that creates a link
            ctx.tx.run('set ifalias=%s on %s' % (item['alias'], name),
                       _set(ipr, netns, 'setting the alias of %s' % name, ifname=name, ifalias=item['alias']))
        self._add_ports(ctx, item, adds, lambda: _index_of(ctx, name, netns))

    def update(self, ctx, item, link, view, diffs):
        netns = item.get('netns') or ''
        name = item['name']
        ipr = ctx.ipr(netns)
        index = link['index']
        new, old, shown = {}, {}, {}
        for option, (_attr, key, _t) in OPTIONS.items():
            d = diffs.get(option)
            if d is None:
                continue
            new[key] = to_kernel(option, d.after)
            if d.before is not None:
                old[key] = to_kernel(option, d.before)
            shown[option] = d.after
        if new:
            what = 'setting bridge options of %s' % name

            def send(args, verify=None):
                def run():
                    for part in split_stp(args):
                        try:
                            ipr.link('set', index=index, kind='bridge', **part)
                        except NetlinkError as exc:
                            if exc.code == errno.EOPNOTSUPP and 'br_vlan_filtering' in part:
                                raise VirtnetError(_vlan_unsupported(name, netns))
                            raise kernel_error(exc, what, netns)
                    if verify:
                        self._verify_options(ctx, netns, name, index, verify)
                return run

            before = dict((d.key, d.before) for d in diffs.items if d.key in OPTIONS and d.before is not None)
            ctx.tx.run('set %s on %s' % (describe(shown), name), send(new), send(old, before))
        if 'ports' in diffs:
            current = read_ports(ipr, index, netns)
            adds, releases = self._port_plan(ctx, item, index, sorted(current))
            for port in releases:
                pidx = current[port]
                ctx.tx.run('release port %s from %s' % (port, name),
                           _set(ipr, netns, 'releasing port %s from %s' % (port, name), index=pidx, master=0),
                           _restore_master(ctx, netns, 'adding port %s to %s again' % (port, name), port, pidx, index))
            self._add_ports(ctx, item, adds, lambda: index)

    def _verify_options(self, ctx, netns, name, index, wanted):
        """Read the bridge back after an undo: fail unless every option of `wanted` is as it was."""
        link = read_link(ctx, netns, index=index)
        data = (link or {}).get('info_data') or {}
        wrong = ['%s is %s, not %s' % (option, from_kernel(option, data.get(OPTIONS[option][0])), value)
                 for option, value in sorted(wanted.items())
                 if not option_equal(option, value, data.get(OPTIONS[option][0]))]
        if link is None or wrong:
            raise VirtnetError('read back, bridge %s in %s: %s' % (name, ns_label(netns), ', '.join(wrong) or 'gone'))

    def _add_ports(self, ctx, item, adds, bridge_index):
        netns = item.get('netns') or ''
        name = item['name']
        ipr = ctx.ipr(netns)
        for port, pidx, old, old_name in adds:
            if old_name:
                description = 'move port %s from %s to %s' % (port, old_name, name)
            else:
                description = 'add port %s to %s' % (port, name)

            def act(pidx=pidx, port=port):
                nl_call('adding port %s to bridge %s' % (port, name), netns,
                        ipr.link, 'set', index=pidx, master=bridge_index())

            ctx.tx.run(description, act,
                       _restore_master(ctx, netns, 'restoring the master of port %s' % port, port, pidx, old))

    # ----------------------------------------------------------------- check mode
    def predict(self, item, view):
        out = LinkKind.predict(self, item, view)
        out.pop('purge_ports', None)
        for option, default in DEFAULTS.items():
            value = item.get(option)
            out[option] = default if value is None else normalise(option, value)
        out['ports'] = sorted(set(item.get('ports') or []))
        out.setdefault('master', '')
        out.setdefault('alias', '')
        out.setdefault('link_state', 'down')
        return out

    def predict_update(self, item, view, diffs):
        after = LinkKind.predict_update(self, item, view, diffs)
        if 'stp' in diffs and diffs.get('stp').after and 'forward_delay' not in diffs:
            # turning STP on moves forward_delay into 2..30 s
            after['forward_delay'] = min(max(after['forward_delay'], 2.0), 30.0)
        return after


def _vlan_supported(data):
    """Kernels with CONFIG_BRIDGE_VLAN_FILTERING report the VLAN protocol and default PVID."""
    return 'IFLA_BR_VLAN_PROTOCOL' in data or 'IFLA_BR_VLAN_DEFAULT_PVID' in data


def _vlan_unsupported(name, netns):
    return ('vlan_filtering is not supported by this kernel (built without CONFIG_BRIDGE_VLAN_FILTERING): '
            'cannot turn it on for bridge %s in %s' % (name, ns_label(netns)))


def _index_of(ctx, name, netns):
    link = read_link(ctx, netns, ifname=name)
    if link is None:
        raise VirtnetError('bridge %s vanished from %s' % (name, ns_label(netns)))
    return link['index']


def main():
    module = AnsibleModule(**link_module_args(dict(
        stp=dict(type='bool'),
        forward_delay=dict(type='float'),
        hello_time=dict(type='float'),
        max_age=dict(type='float'),
        ageing_time=dict(type='float'),
        priority=dict(type='int'),
        mcast_snooping=dict(type='bool'),
        mcast_querier=dict(type='bool'),
        group_fwd_mask=dict(type='int'),
        vlan_filtering=dict(type='bool'),
        ports=dict(type='list', elements='str'),
        purge_ports=dict(type='bool', default=False),
    )))
    run_link_module(module, BridgeKind())


if __name__ == '__main__':
    main()
