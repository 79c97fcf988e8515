# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The tun/tap device: every behaviour of the module virtnet.linux.tuntap."""

from __future__ import annotations

import os

from ansible_collections.virtnet.linux.plugins.module_utils._link import (
    LinkKind, link_options, read_link, remove_link, resolve_master,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, ns_label, open_netns_fd, setns,
)
from ansible_collections.virtnet.linux.plugins.module_utils._tuntap import (
    TUN_KEYS, TunError, find_holders, flags_for, holders_text, open_tun, resolve_id, tun_apply,
    tun_differences, tun_error_text, tun_view,
)

KEYS = ['mode', 'user', 'group', 'pi', 'vnet_hdr', 'multi_queue', 'recreate']
#: the options of one device, with the task's defaults: the module's argument spec (and its batch
#: elements') and the element of virtnet.linux.plumbing's `tuntaps`
ARGUMENT_SPEC = link_options(dict(
    mode=dict(type='str', choices=['tun', 'tap']),
    user=dict(type='raw'),
    group=dict(type='raw'),
    pi=dict(type='bool', default=False),
    vnet_hdr=dict(type='bool', default=False),
    multi_queue=dict(type='bool', default=False),
    recreate=dict(type='bool', default=True),
))
#: link settings a replaced device keeps unless the task sets them
_CARRY = ('link_state', 'mtu', 'address', 'master', 'txqueuelen', 'alias', 'user', 'group')


class TuntapKind(LinkKind):
    kind = 'tuntap'
    read_kinds = ('tun',)
    # the tun settings (IFLA_INFO_DATA) are decoded on the raw socket; tuntap needs no pyroute2
    needs_data = 'info'
    needs_pyroute2 = False
    keys = KEYS

    def __init__(self):
        self._ids = {}

    # ------------------------------------------------------------------ inputs
    def resolve(self, what, value):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return resolve_id(value, what)      # raises: not a name or an id
        key = (what, value.strip() if isinstance(value, str) else value)
        if key not in self._ids:
            self._ids[key] = resolve_id(value, what)
        return self._ids[key]

    def validate(self, item):
        errors = []
        name = item.get('name')
        present = item.get('state') == 'present'
        if present and not item.get('mode'):
            errors.append('mode (tun or tap) is required to create or manage %s' % name)
        for what in ('user', 'group'):
            if item.get(what) is not None:
                try:
                    self.resolve(what, item[what])
                except ValueError as exc:
                    errors.append('cannot set the %s of %s: %s' % (what, name, exc))
        if present and item.get('mode') == 'tun':
            if item.get('address'):
                errors.append('cannot set a MAC address on tun device %s: a tun device has none '
                              '(address needs mode tap)' % name)
            if item.get('master'):
                errors.append('cannot make tun device %s a port of bridge %s: a tun device carries IP packets, '
                              'not Ethernet frames (master needs mode tap)' % (name, item['master']))
        return errors

    def want(self, item):
        """The managed tun settings of an object (user/group None = no owner)."""
        out = {'persist': True}
        for key in ('mode', 'pi', 'vnet_hdr', 'multi_queue'):
            if item.get(key) is not None:
                out[key] = item[key]
        for what in ('user', 'group'):
            if item.get(what) is not None:
                out[what] = self.resolve(what, item[what])
        return out

    # ------------------------------------------------------------------ reading
    def view(self, ctx, item, link):
        return tun_view(link['info_data'])

    def predict(self, item, view):
        out = LinkKind.predict(self, item, view)
        out.pop('recreate', None)
        out['kind'] = 'tun'
        out.update(self.want(item))
        out.setdefault('user', None)
        out.setdefault('group', None)
        if out.get('mode') == 'tun':
            out['address'] = None
        return out

    def compare(self, ctx, item, link, view, diffs):
        for key, before, after, recreate in tun_differences(self.want(item), view):
            diffs.add(key, before, after, recreate)
        if diffs.needs_recreate:
            # the new device keeps what the task leaves unmanaged
            new_mode = item.get('mode') or view['mode']
            for key in _CARRY:
                if item.get(key) is not None or view.get(key) in (None, ''):
                    continue
                if key in ('address', 'master') and (new_mode != 'tap' or view['mode'] != 'tap'):
                    continue
                item[key] = view[key]

    def may_recreate(self, item):
        return bool(item.get('recreate'))

    def held(self, ctx, item, link):
        """The processes holding the device open (a non-empty list), or [] when none does."""
        netns = item.get('netns') or ''
        try:
            now = read_link(ctx, netns, index=link['index'], need_data=False)
        except VirtnetError:
            return []
        if not now or not now.get('carrier'):
            return []
        return find_holders(link['ifname']) or [(0, 'unknown')]

    def refuse_recreate(self, ctx, item, link, view, diffs):
        netns = item.get('netns') or ''
        what = _describe(diffs.needs_recreate)
        if not item.get('recreate'):
            return ('%s in %s must be replaced to change %s, and recreate is false: nothing was changed'
                    % (link['ifname'], ns_label(netns), what))
        holders = self.held(ctx, item, link)
        if holders:
            return ('%s in %s is held open by %s: cannot replace it to change %s; stop the process first'
                    % (link['ifname'], ns_label(netns), _holders(holders), what))
        return None

    # ------------------------------------------------------------------ writing
    def _attach(self, ctx, netns, name, flags, uid, gid, existing):
        ns_fd = open_netns_fd(netns) if netns else None
        try:
            fd = open_tun(ns_fd, ctx.rt.home_fd() if ns_fd is not None else None, setns)
        except OSError as exc:
            raise VirtnetError('%s %s in %s: cannot open /dev/net/tun: %s (is the tun kernel module loaded?)'
                               % ('changing' if existing else 'creating', name, ns_label(netns), exc.strerror))
        finally:
            if ns_fd is not None:
                os.close(ns_fd)
        try:
            tun_apply(fd, name, flags, uid, gid)
        except TunError as exc:
            raise VirtnetError('%s %s in %s: %s' % ('changing' if existing else 'creating', name,
                                                    ns_label(netns), tun_error_text(exc, existing)))
        finally:
            os.close(fd)

    def create(self, ctx, item):
        netns = item.get('netns') or ''
        name = item['name']
        want = self.want(item)
        flags = flags_for(want['mode'], want.get('pi', False), want.get('vnet_hdr', False),
                          want.get('multi_queue', False))

        def undo():
            remove_link(ctx, netns, name)
            if read_link(ctx, netns, ifname=name, need_data=False) is not None:
                raise VirtnetError('read back, %s is still in %s' % (name, ns_label(netns)))

        ctx.tx.run('create %s %s' % (want['mode'], name),
                   lambda: self._attach(ctx, netns, name, flags, want.get('user'), want.get('group'), False),
                   undo)

    def update(self, ctx, item, link, view, diffs):
        changes = [d for d in diffs.in_place if d.key in TUN_KEYS]
        if not changes:
            return
        netns = item.get('netns') or ''
        name = link['ifname']
        holders = self.held(ctx, item, link)
        if holders:
            raise VirtnetError('%s in %s is held open by %s: cannot change %s while it is attached; '
                               'stop the process first' % (name, ns_label(netns), _holders(holders),
                                                           _describe(changes)))
        new = dict(view)
        for d in changes:
            new[d.key] = d.after

        def attach(state, owner_from):
            flags = flags_for(state['mode'], state['pi'], state['vnet_hdr'], state['multi_queue'])
            uid = owner_from['user'] if 'user' in diffs else None
            gid = owner_from['group'] if 'group' in diffs else None
            return lambda: self._attach(ctx, netns, name, flags, uid, gid, True)

        # The kernel cannot take an owner away (TUNSETOWNER/TUNSETGROUP refuse -1): the undo of giving
        # an owner to a device that had none is a new device with the settings read before.
        unowned = [key for key in ('user', 'group') if key in diffs and view[key] is None]
        restore = self._remake(ctx, item, view) if unowned else attach(view, view)

        def undo():
            restore()
            self._verify(ctx, netns, name, view, [d.key for d in changes] + unowned)

        ctx.tx.run('set %s on %s' % (', '.join('%s=%s' % (d.key, _show(d.after)) for d in changes), name),
                   attach(new, new), undo)

    def _remake(self, ctx, item, view):
        """An action that replaces the device by a new one with the settings of `view` (tun settings,
        owner or none, and the common link settings; addresses and routes on it are not kept)."""
        netns = item.get('netns') or ''
        name = view['name']

        def act():
            remove_link(ctx, netns, name)
            flags = flags_for(view['mode'], view['pi'], view['vnet_hdr'], view['multi_queue'])
            self._attach(ctx, netns, name, flags, view['user'], view['group'], False)
            link = read_link(ctx, netns, ifname=name, need_data=False)
            if link is None:
                raise VirtnetError('%s in %s cannot be read back after being made again' % (name, ns_label(netns)))
            args = {'mtu': view['mtu'], 'txqlen': view['txqueuelen']}
            if view['alias']:
                args['ifalias'] = view['alias']
            if view['mode'] == 'tap' and view.get('address'):
                args['address'] = view['address']
            if view.get('master'):
                args['master'] = resolve_master(ctx, netns, view['master'])
            ctx.rt.call('restoring the settings of %s' % name, netns, 'set_link', link['index'], **args)
            if view.get('link_state') == 'up':
                ctx.rt.call('restoring the state of %s' % name, netns, 'set_link', link['index'], state='up')
        return act

    def _verify(self, ctx, netns, name, view, keys):
        """Read the device back after an undo: fail unless `keys` are as in `view` again."""
        link = read_link(ctx, netns, ifname=name, need_data=self.needs_data)
        if link is None:
            raise VirtnetError('%s in %s is gone after the undo' % (name, ns_label(netns)))
        now = tun_view(link['info_data'])
        wrong = ['%s is %s, not %s' % (key, _show(now.get(key)), _show(view.get(key)))
                 for key in keys if now.get(key) != view.get(key)]
        if wrong:
            raise VirtnetError('read back, %s in %s: %s' % (name, ns_label(netns), ', '.join(wrong)))


def _show(value):
    if value is None:
        return 'none'
    if isinstance(value, bool):
        return 'on' if value else 'off'
    return str(value)


def _describe(changes):
    return ', '.join('%s (%s -> %s)' % (d.key, _show(d.before), _show(d.after)) for d in changes)


def _holders(holders):
    return holders_text([h for h in holders if h[0]])
