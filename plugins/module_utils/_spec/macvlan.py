# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The macvlan and macvtap devices: every behaviour of the module virtnet.linux.macvlan.

A macvlan (or macvtap) is made in its parent's namespace and, when it is to live in another one, sent there
in the same request (IFLA_NET_NS_FD, as `ip link add NAME link PARENT netns NS type macvlan` does); the kernel
then reports its parent by ifindex and link-netnsid, as a veth reports its peer.

What the kernel (6.18, verified by the macvlan integration target) changes in place: the mode between
bridge, private and vepa; a change to or from passthru is refused (EINVAL), as is a change of the parent or
of the kind: those need a new device. A macvtap's character device /dev/tap<ifindex> (made by devtmpfs or
udev, root's and mode 0600) gets `user` and `group` for a qemu that opens it itself; it is a new node, root's
again, whenever the device is made again or moves. A macvtap whose character device a process holds open
is never replaced.
"""

from __future__ import annotations

import errno
import os
import stat

from ansible_collections.virtnet.linux.plugins.module_utils._link import (
    LinkKind, link_options, read_link, remove_link,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    NetnsNotFound, VirtnetError, error_code, kernel_error, ns_label, open_netns_fd, validate_ifname,
    validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import link_key
from ansible_collections.virtnet.linux.plugins.module_utils._rtnl import link_body, macvlan_data
from ansible_collections.virtnet.linux.plugins.module_utils._tuntap import holders_text, processes_with, resolve_id
from ansible_collections.virtnet.linux.plugins.module_utils._spec.views import (
    macvlan_view, macvtap_major, tap_device, veth_peer,
)

KINDS = ('macvlan', 'macvtap')
MODES = ('bridge', 'private', 'vepa', 'passthru')
ARPHRD_ETHER = 1

KEYS = ['kind', 'link', 'link_netns', 'mode', 'user', 'group', 'recreate']
#: the options of one device, with the task's defaults: the module's argument spec (and its batch
#: elements') and the element of virtnet.linux.plumbing's `macvlans`
ARGUMENT_SPEC = link_options(dict(
    kind=dict(type='str', default='macvlan', choices=list(KINDS)),
    link=dict(type='str'),
    link_netns=dict(type='str'),
    mode=dict(type='str', default='bridge', choices=list(MODES)),
    user=dict(type='raw'),
    group=dict(type='raw'),
    recreate=dict(type='bool', default=True),
))
#: settings a replaced device keeps unless the task sets them
_CARRY = ('link_state', 'mtu', 'address', 'master', 'txqueuelen', 'alias')


# --------------------------------------------------------------------------- pure logic

def link_netns_of(item):
    """The namespace the parent is in: link_netns, else the device's own namespace."""
    if item.get('link_netns') is not None:
        return item['link_netns']
    return item.get('netns') or ''


def label(item):
    """'macvtap mt0 in netns vm1' for messages."""
    return '%s %s in %s' % (item.get('kind') or 'macvlan', item.get('name'), ns_label(item.get('netns') or ''))


def mode_needs_recreate(before, after):
    """Whether the kernel must make a new device to go from mode `before` to `after` (to or from passthru)."""
    return before != after and 'passthru' in (before, after)


def wanted_tap_mode(mode, group):
    """The permission bits a macvtap's character device should have: its own, with read and write for the
    group when a group is set (its members open it)."""
    return mode | 0o060 if group is not None else mode


def fd_targets(path, proc='/proc'):
    """[(pid, command)] of processes with an open file descriptor on the character device `path` (compared
    by device number, so a process that sees the node under another path counts too)."""
    try:
        rdev = os.stat(path).st_rdev
    except OSError:
        return []

    def opened(base, fd):
        link = os.path.join(base, 'fd', fd)
        try:
            if not os.readlink(link).startswith('/dev/'):
                return False
            st = os.stat(link)
        except OSError:
            return False
        return stat.S_ISCHR(st.st_mode) and st.st_rdev == rdev
    return processes_with(opened, proc)


# --------------------------------------------------------------------------- the device

class MacvlanKind(LinkKind):
    kind = 'macvlan'
    read_kinds = KINDS
    keys = KEYS
    # the mode is in _rtnl's macvlan and macvtap tables; the parent is IFLA_LINK: one raw get, no pyroute2
    needs_data = 'table'
    needs_pyroute2 = False

    def __init__(self):
        self._ids = {}
        self._major = None

    # ----------------------------------------------------------------- validation
    def resolve(self, what, value):
        """The numeric id of a user or group (0, root, for '': the owner of a new node)."""
        key = (what, value.strip() if isinstance(value, str) else value)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return resolve_id(value, what)      # raises: not a name or an id
        if key not in self._ids:
            number = resolve_id(value, what)
            self._ids[key] = 0 if number is None else number
        return self._ids[key]

    def validate(self, item):
        if item.get('state') == 'absent':
            return []
        errors = []
        what = label(item)
        if not item.get('link'):
            errors.append('link (the parent device) is required to create or manage %s' % what)
        else:
            err = validate_ifname(item['link'], 'parent name')
            if err:
                errors.append('%s (%s)' % (err, what))
            elif item['link'] == item.get('name') and link_netns_of(item) == (item.get('netns') or ''):
                errors.append('%s cannot be its own parent' % what)
        if item.get('link_netns'):
            err = validate_netns_name(item['link_netns'])
            if err:
                errors.append(err)
        for key in ('user', 'group'):
            if item.get(key) is None:
                continue
            if item.get('kind') != 'macvtap':
                errors.append('%s: %s is for the character device of a macvtap (kind macvtap); a macvlan has none'
                              % (what, key))
                continue
            try:
                self.resolve(key, item[key])
            except ValueError as exc:
                errors.append('cannot set the %s of %s: %s' % (key, what, exc))
        return errors

    def netns_needed(self, item):
        needed = [item.get('netns') or '']
        if item.get('state') != 'absent' and link_netns_of(item) not in needed:
            needed.append(link_netns_of(item))
        return needed

    def needs(self, item):
        """Its namespaces, its master bridge and, to be made present, its parent."""
        out = LinkKind.needs(self, item)
        if item.get('state') != 'absent' and item.get('link'):
            out.append((link_key(link_netns_of(item), item['link']), 'parent of %s %s' % (item['kind'], item['name']),
                        None))
        return out

    def preflight(self, ctx, item):
        self.parent(ctx, item)

    def parent(self, ctx, item):
        """The parent's link record (an error naming it when it is missing or cannot be a parent)."""
        link_ns = link_netns_of(item)
        parent = read_link(ctx, link_ns, ifname=item['link'], need_data=False)
        what = '%s %s' % (item['kind'], item['name'])
        if parent is None:
            raise VirtnetError('%s: parent %s not found in %s' % (what, item['link'], ns_label(link_ns)))
        if parent.get('planned'):
            return parent
        if parent['kind'] in KINDS:
            raise VirtnetError('%s: parent %s in %s is itself a %s (the kernel would use its parent instead): '
                               'name that one' % (what, item['link'], ns_label(link_ns), parent['kind']))
        if parent.get('master_index'):
            master = read_link(ctx, link_ns, index=parent['master_index'], need_data=False)
            raise VirtnetError('%s: parent %s in %s is a port of %s %s, and a port cannot carry a macvlan (the kernel '
                               'refuses it: EBUSY); name the bridge as the parent instead' % (
                                   what, item['link'], ns_label(link_ns), (master or {}).get('kind') or 'device',
                                   (master or {}).get('ifname') or '#%d' % parent['master_index']))
        if parent.get('ifi_type') not in (None, ARPHRD_ETHER) or parent['ifname'] == 'lo':
            raise VirtnetError('%s: parent %s in %s is not an Ethernet device (a %s cannot carry a macvlan)'
                               % (what, item['link'], ns_label(link_ns), parent['kind'] or 'loopback or device '
                                  'without kind'))
        return parent

    # ----------------------------------------------------------------- reading
    def _parent_netns(self, ctx, item, netns, nsid):
        want = link_netns_of(item)
        if want != netns:
            try:
                if ctx.rt.nsid_of(netns, want) == nsid:
                    return want
            except NetnsNotFound:
                pass
        return ctx.rt.nsid_to_netns(netns, nsid)

    def major(self):
        if self._major is None:
            self._major = macvtap_major() or 0
        return self._major or None

    def view(self, ctx, item, link):
        netns = item.get('netns') or ''
        out = macvlan_view(link['kind'], link.get('info_data'))
        out['link'] = out['link_netns'] = None
        where = veth_peer(link)
        if where is not None:
            index, nsid = where
            parent_ns = netns if nsid is None else self._parent_netns(ctx, item, netns, nsid)
            parent = None if parent_ns is None else read_link(ctx, parent_ns, index=index, need_data=False)
            if parent is not None:
                out['link'] = parent['ifname']
                out['link_netns'] = parent_ns
        out['tap_device'] = out['user'] = out['group'] = out['tap_mode'] = None
        if link['kind'] == 'macvtap':
            path, st = tap_device(link['index'], self.major())
            if st is not None:
                out.update(tap_device=path, user=st.st_uid, group=st.st_gid, tap_mode='%04o' % stat.S_IMODE(st.st_mode))
        return out

    # ----------------------------------------------------------------- comparing
    def compare(self, ctx, item, link, view, diffs):
        diffs.compare('kind', item.get('kind'), link['kind'], recreate=True)
        want_ns = link_netns_of(item)
        if view['link'] != item['link'] or view['link_netns'] != want_ns:
            diffs.add('link', view['link'], item['link'], recreate=True)
            if view['link_netns'] != want_ns:
                diffs.add('link_netns', view['link_netns'], want_ns, recreate=True)
        mode = item.get('mode')
        if mode is not None and mode != view['mode']:
            diffs.add('mode', view['mode'], mode, recreate=mode_needs_recreate(view['mode'], mode))
        if diffs.needs_recreate:
            # the new device keeps what the task leaves unmanaged (its character device is a new, root's node)
            for key in _CARRY:
                if item.get(key) is None and view.get(key) not in (None, ''):
                    item[key] = view[key]
            return
        if item.get('kind') == 'macvtap' and (item.get('user') is not None or item.get('group') is not None):
            if view['tap_device'] is None:
                raise VirtnetError('%s: its character device %s is missing or no macvtap device (is devtmpfs '
                                   'mounted on /dev?): cannot give it an owner' % (label(item), '/dev/tap%d' % link['index']))
            for key in ('user', 'group'):
                if item.get(key) is not None:
                    diffs.compare(key, self.resolve(key, item[key]), view[key])
            old = int(view['tap_mode'], 8)
            new = wanted_tap_mode(old, item.get('group'))
            if new != old:
                diffs.add('tap_mode', view['tap_mode'], '%04o' % new)

    def may_recreate(self, item):
        return bool(item.get('recreate'))

    def refuse_recreate(self, ctx, item, link, view, diffs):
        what = ', '.join('%s (%s -> %s)' % (d.key, _show(d.before), _show(d.after)) for d in diffs.needs_recreate)
        if not item.get('recreate'):
            return '%s must be replaced to change %s, and recreate is false: nothing was changed' % (label(item), what)
        if view.get('tap_device'):
            holders = fd_targets(view['tap_device'])
            if holders:
                return ('%s: its character device %s is held open by %s: cannot replace it to change %s; stop the '
                        'process first' % (label(dict(item, kind=link['kind'])), view['tap_device'],
                                           holders_text(holders), what))
        return None

    # ----------------------------------------------------------------- writing
    def create(self, ctx, item):
        netns = item.get('netns') or ''
        link_ns = link_netns_of(item)
        name, kind = item['name'], item['kind']
        parent = self.parent(ctx, item)
        attrs = {}
        for key, arg in (('mtu', 'mtu'), ('address', 'address'), ('txqueuelen', 'txqlen')):
            if item.get(key) is not None:
                attrs[arg] = item[key]
        description = 'create %s %s on %s (mode %s)' % (kind, name, item['link'], item['mode'])
        if link_ns != netns:
            description = 'create %s %s on %s in %s (mode %s), moved into %s' % (
                kind, name, item['link'], ns_label(link_ns), item['mode'], ns_label(netns))
        elif netns:
            description += ' in netns %s' % netns

        def act():
            fd, close = None, False
            if link_ns != netns:
                fd, close = (ctx.rt.home_fd(), False) if not netns else (open_netns_fd(netns), True)
            try:
                ctx.rt.sock(link_ns).add_link(link_body(name, kind, macvlan_data(item['mode']), link=parent['index'],
                                                        net_ns_fd=fd, **attrs))
            except OSError as exc:
                hint = None
                if error_code(exc) == errno.EINVAL and item.get('mtu') and parent.get('mtu') \
                        and item['mtu'] > parent['mtu']:
                    hint = 'invalid argument: mtu %d is above the MTU of the parent (%d)' % (item['mtu'], parent['mtu'])
                elif error_code(exc) == errno.EINVAL:
                    hint = ('invalid argument: a passthru macvlan or macvtap must be the only one on its parent (%s '
                            'has one, in this or another namespace, or this one would be a second)' % item['link'])
                elif error_code(exc) == errno.EEXIST:
                    hint = 'the name %s is taken in %s' % (name, ns_label(netns))
                elif error_code(exc) == errno.EBUSY:
                    hint = 'device or resource busy: %s is a port of a bridge or another upper device' % item['link']
                raise kernel_error(exc, 'creating %s %s on %s' % (kind, name, item['link']), link_ns, hint=hint)
            finally:
                if close:
                    os.close(fd)

        def undo():
            remove_link(ctx, netns, name)
            if read_link(ctx, netns, ifname=name, need_data=False) is not None:
                raise VirtnetError('read back, %s is still in %s' % (name, ns_label(netns)))

        ctx.tx.run(description, act, undo)

    def update(self, ctx, item, link, view, diffs):
        netns = item.get('netns') or ''
        name, index, kind = link['ifname'], link['index'], link['kind']
        d = diffs.get('mode')
        if d is not None and not d.recreate:
            def mode(value):
                def run():
                    try:
                        ctx.rt.sock(netns).change_kind(index, kind, macvlan_data(value))
                    except OSError as exc:
                        raise kernel_error(exc, 'setting the mode of %s %s' % (kind, name), netns)
                return run
            ctx.tx.run('set mode=%s on %s' % (d.after, name), mode(d.after), mode(d.before))
        owner = [diffs.get(key) for key in ('user', 'group', 'tap_mode') if diffs.get(key) is not None]
        if owner:
            path = view['tap_device']
            new = dict((x.key, x.after) for x in owner)
            old = dict((key, view[key]) for key in ('user', 'group', 'tap_mode'))

            def chown(values, check=False):
                def run():
                    try:
                        os.chown(path, values.get('user', -1) if values.get('user') is not None else -1,
                                 values.get('group', -1) if values.get('group') is not None else -1)
                        if values.get('tap_mode') is not None:
                            os.chmod(path, int(values['tap_mode'], 8))
                    except OSError as exc:
                        raise VirtnetError('%s: cannot set the owner of %s: %s' % (label(item), path, exc.strerror))
                    if check:
                        st = os.stat(path)
                        now = {'user': st.st_uid, 'group': st.st_gid, 'tap_mode': '%04o' % stat.S_IMODE(st.st_mode)}
                        wrong = ['%s is %s, not %s' % (k, now[k], v) for k, v in sorted(values.items()) if now[k] != v]
                        if wrong:
                            raise VirtnetError('read back, %s: %s' % (path, ', '.join(wrong)))
                return run
            ctx.tx.run('set %s on %s' % (', '.join('%s=%s' % (x.key, x.after) for x in owner), path),
                       chown(new), chown(old, True))

    # ----------------------------------------------------------------- check mode
    def predict(self, item, view):
        out = LinkKind.predict(self, item, view)
        out.pop('recreate', None)
        out['kind'] = item['kind']
        out['link_netns'] = link_netns_of(item)
        out['tap_device'] = None
        out['tap_mode'] = None
        for key in ('user', 'group'):
            out[key] = self.resolve(key, item[key]) if item.get(key) is not None else None
        return out

    def predict_update(self, item, view, diffs):
        after = LinkKind.predict_update(self, item, view, diffs)
        if diffs.needs_recreate:
            # a new device: a new character device, root's, with the task's owner
            after['kind'] = item['kind']
            after['tap_device'] = None
            after['tap_mode'] = None
            for key in ('user', 'group'):
                after[key] = self.resolve(key, item[key]) if item.get(key) is not None else None
        return after


def _show(value):
    return 'none' if value is None else str(value)
