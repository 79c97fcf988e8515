# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The bridge device: every behaviour of the module virtnet.linux.bridge (timers, options, ports)."""

from __future__ import annotations

import errno
import math

from ansible_collections.virtnet.linux.plugins.module_utils._link import (
    LinkKind, check_master, link_options, normalise_mac, read_link,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, kernel_error, ns_label, validate_ifname,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import link_key
# the bridge's view of the kernel's data, shared with link_info (`_spec.views`: why it lives there)
from ansible_collections.virtnet.linux.plugins.module_utils._spec.views import (  # pylint: disable=unused-import
    BRIDGE_OPTIONS as OPTIONS, bridge_value as from_kernel, bridge_view as options_view, cs_to_seconds,
)


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

#: the options of one bridge, with the task's defaults: the module's argument spec (and its batch
#: elements') and the element of virtnet.linux.plumbing's `bridges`
ARGUMENT_SPEC = link_options(dict(
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
))


# --------------------------------------------------------------------------- pure logic

def seconds_to_cs(seconds):
    """Seconds (int/float) to the kernel's centiseconds, rounded half up (15 -> 1500, 4.01 -> 401)."""
    return int(math.floor(float(seconds) * 100 + 0.5))


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

def _pyroute2():
    """The `_pyroute2` module, imported on first use (a bridge is read without it: one raw get)."""
    from ansible_collections.virtnet.linux.plugins.module_utils import _pyroute2 as module
    return module


def read_ports(ipr, index, netns):
    """{port name: ifindex} of the bridge with `index`.

    The kernel filters a link dump by IFLA_MASTER itself, so this costs about as much as one
    `link get` however many links exist (a plain dump filtered in Python costs 0.3 s per 1000 links).
    """
    return dict((link['ifname'], link['index']) for link in _pyroute2().dump_ports(ipr, index, netns))


def _set(ctx, netns, what, **args):
    """An action that sets link attributes `args` in `netns` (the socket is opened when it runs)."""
    return lambda: _pyroute2().nl_call(what, netns, ctx.ipr(netns).link, 'set', **args)


def _restore_master(ctx, netns, what, port, index, master):
    """An undo that gives port #index its master #master again and reads it back."""
    def run():
        _pyroute2().nl_call(what, netns, ctx.ipr(netns).link, 'set', index=index, master=master)
        link = read_link(ctx, netns, index=index, need_data=False)
        now = (link or {}).get('master_index') or 0
        if link is None or now != (master or 0):
            raise VirtnetError('read back, port %s in %s: master is #%s, not #%s'
                               % (port, ns_label(netns), now, master or 0))
    return run


class BridgeKind(LinkKind):
    kind = 'bridge'
    read_kinds = ('bridge',)
    keys = KEYS
    # every IFLA_BR_* attribute read here (OPTIONS, and the VLAN protocol and default PVID that tell whether
    # the kernel has VLAN filtering) is in _rtnl's bridge table: one raw get, no pyroute2 re-read
    needs_data = 'table'

    # ----------------------------------------------------------------- validation
    def validate(self, item):
        if item.get('state') == 'absent':
            return []
        return validate_bridge(item)

    def needs(self, item):
        """Its namespace and, to be made present, its ports (links that are no bridge)."""
        out = LinkKind.needs(self, item)
        if item.get('state') != 'absent':
            netns = item.get('netns') or ''
            out.extend((link_key(netns, port), 'port of bridge %s' % item['name'], 'port')
                       for port in item.get('ports') or [])
        return out

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
        out = options_view(link.get('info_data'))
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
            link = read_link(ctx, netns, ifname=port, need_data=False)
            if link is None:
                raise VirtnetError('port %s of bridge %s not found in %s' % (port, name, ns_label(netns)))
            if link['kind'] == 'bridge':
                raise VirtnetError('port %s of bridge %s in %s is itself a bridge: a bridge cannot be a port '
                                   'of another bridge' % (port, name, ns_label(netns)))
            old = link['master_index'] or 0
            old_name = None
            if old and old != bridge_index:
                master = read_link(ctx, netns, index=old, need_data=False)
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
                ctx.ipr(netns).link('add', **args)
            except _pyroute2().NetlinkError as exc:
                if exc.code == errno.EOPNOTSUPP and item.get('vlan_filtering'):
                    raise VirtnetError(_vlan_unsupported(name, netns))
                raise kernel_error(exc, 'creating bridge %s' % name, netns)

        def undo():
            _pyroute2().nl_call('deleting %s' % name, netns, ctx.ipr(netns).link, 'del', ifname=name)
            if read_link(ctx, netns, ifname=name, need_data=False) is not None:
                raise VirtnetError('read back, bridge %s is still in %s' % (name, ns_label(netns)))

        ctx.tx.run('create bridge %s' % name, act, undo)
        if item.get('alias'):
            # the kernel ignores IFLA_IFALIAS in a request that creates a link
            ctx.tx.run('set ifalias=%s on %s' % (item['alias'], name),
                       _set(ctx, netns, 'setting the alias of %s' % name, ifname=name, ifalias=item['alias']))
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
                        except _pyroute2().NetlinkError as exc:
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
                           _set(ctx, netns, 'releasing port %s from %s' % (port, name), index=pidx, master=0),
                           _restore_master(ctx, netns, 'adding port %s to %s again' % (port, name), port, pidx, index))
            self._add_ports(ctx, item, adds, lambda: index)

    def _verify_options(self, ctx, netns, name, index, wanted):
        """Read the bridge back after an undo: fail unless every option of `wanted` is as it was."""
        link = read_link(ctx, netns, index=index, need_data=self.needs_data)
        data = (link or {}).get('info_data') or {}
        wrong = ['%s is %s, not %s' % (option, from_kernel(option, data.get(OPTIONS[option][0])), value)
                 for option, value in sorted(wanted.items())
                 if not option_equal(option, value, data.get(OPTIONS[option][0]))]
        if link is None or wrong:
            raise VirtnetError('read back, bridge %s in %s: %s' % (name, ns_label(netns), ', '.join(wrong) or 'gone'))

    def _add_ports(self, ctx, item, adds, bridge_index):
        netns = item.get('netns') or ''
        name = item['name']
        for port, pidx, old, old_name in adds:
            if old_name:
                description = 'move port %s from %s to %s' % (port, old_name, name)
            else:
                description = 'add port %s to %s' % (port, name)

            def act(pidx=pidx, port=port):
                _pyroute2().nl_call('adding port %s to bridge %s' % (port, name), netns,
                                    ctx.ipr(netns).link, 'set', index=pidx, master=bridge_index())

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
    link = read_link(ctx, netns, ifname=name, need_data=False)
    if link is None:
        raise VirtnetError('bridge %s vanished from %s' % (name, ns_label(netns)))
    return link['index']
