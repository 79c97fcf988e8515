# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The shared path of every device module (tuntap, veth, bridge).

Each device describes its kind with a :class:`LinkKind` subclass in its spec file
(`_spec/veth`, `_spec/tuntap`, `_spec/bridge`); its module calls ``_engine.run(module, kind)``.
Everything common lives here once: name validation, the common link options (link_state, mtu,
address, master, txqueuelen, alias, forwarding), kind checks, create / update / recreate / delete through the
transaction, and the public view of a link.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    UNPLANNED, Differences, ObjectResult, Spec, batch_argument_spec, expand_batch, link_key, netns_key,
    task_errors,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, error_code, kernel_error, mac_error, normalise_mac, ns_label, validate_ifname,
    validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._rtnl import FALLBACK
from ansible_collections.virtnet.linux.plugins.module_utils import _netns

MAX_U32 = 2 ** 32 - 1

# the options of every device module (documented once, in the doc fragment virtnet.linux._link)
LINK_OPTIONS = dict(
    name=dict(type='str'),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    netns=dict(type='str', default=''),
    link_state=dict(type='str', choices=['up', 'down']),
    mtu=dict(type='int'),
    address=dict(type='str'),
    master=dict(type='str'),
    txqueuelen=dict(type='int'),
    alias=dict(type='str'),
    forwarding=dict(type='bool'),
)
COMMON_KEYS = list(LINK_OPTIONS)


def link_options(options):
    """The options of one device of a kind: LINK_OPTIONS, then the kind's own `options`, each with its
    default (a spec file's ARGUMENT_SPEC; its module and virtnet.linux.plumbing take them from there)."""
    spec = dict(LINK_OPTIONS)
    spec.update(options)
    return spec


def link_module_args(options):
    """AnsibleModule's keywords for a device module whose options of one device are `options` (see
    link_options), each written once with its default: the batch elements take them all, without defaults."""
    return dict(argument_spec=batch_argument_spec(options, required=('name',)),
                required_one_of=[('name', 'batch')],
                mutually_exclusive=[('name', 'batch')],
                supports_check_mode=True)


def validate_common(item, prefix=''):
    """Errors of the common options of one object (`prefix` 'peer_' for a veth peer's options)."""
    errors = []
    name_key = 'peer' if prefix else 'name'
    err = validate_ifname(item.get(name_key), '%s name' % ('peer' if prefix else 'device'))
    if err:
        errors.append(err)
    ns_key = prefix + 'netns'
    if item.get(ns_key):
        err = validate_netns_name(item[ns_key])
        if err:
            errors.append(err)
    mtu = item.get(prefix + 'mtu')
    if mtu is not None and not 68 <= mtu <= 65535:
        errors.append('%smtu %d out of range (68..65535)' % (prefix, mtu))
    err = mac_error(item.get(prefix + 'address'), prefix + 'address')
    if err:
        errors.append(err)
    master = item.get(prefix + 'master')
    if master:
        err = validate_ifname(master, prefix + 'master')
        if err:
            errors.append(err)
    txq = item.get(prefix + 'txqueuelen')
    if txq is not None and txq < 0:
        errors.append('%stxqueuelen must not be negative' % prefix)
    elif txq is not None and txq > MAX_U32:
        errors.append('%stxqueuelen %d out of range (0..%d)' % (prefix, txq, MAX_U32))
    alias = item.get(prefix + 'alias')
    if alias is not None and len(alias.encode()) > 255:
        errors.append('%salias longer than 255 bytes' % prefix)
    elif alias is not None and '\0' in alias:
        errors.append('%salias must not contain a NUL byte' % prefix)
    return errors


def read_link(ctx, netns, ifname=None, index=None, need_data=True):
    """The link `ifname` (or `index`) as a plain dict, None when it does not exist.

    Read on the hand-built socket (`_rtnl`); only a link whose kind-specific data is needed (need_data)
    and not decoded there (a bridge port's slave data, a kind without a table) is read again through
    pyroute2 (`_pyroute2`), imported here on first use. In check mode of a task that uses what it makes
    itself, the task's plan is asked first (`_engine.Plan`).
    """
    if ctx.plan is not None:
        link = ctx.plan.link(netns, ifname=ifname, index=index)
        if link is not UNPLANNED:
            return link
    link = ctx.rt.get_link(netns, ifname=ifname, index=index, need_data=need_data)
    if link is FALLBACK:
        from ansible_collections.virtnet.linux.plugins.module_utils._pyroute2 import get_link
        link = get_link(ctx.ipr(netns), ifname=ifname, index=index, netns=netns)
    return link


def resolve_master(ctx, netns, master):
    """Index of bridge `master` in `netns`; 0 for '' (release). Errors if missing or no bridge."""
    if master is None:
        return None
    if master == '':
        return 0
    link = read_link(ctx, netns, ifname=master, need_data=False)
    if link is None:
        raise VirtnetError('master %s not found in %s' % (master, ns_label(netns)))
    if link['kind'] != 'bridge':
        raise VirtnetError('master %s in %s is not a bridge (it is a %s)'
                           % (master, ns_label(netns), link['kind'] or 'device without kind'))
    return link['index']


def check_master(ctx, item, prefix, name, netns):
    """Fail before changing anything when (peer_)master of `item` is missing or not a bridge."""
    master = item.get(prefix + 'master')
    if not master:
        return
    cache = ctx.deferred.setdefault('masters', {})
    key = (netns, master)
    if key not in cache:
        try:
            resolve_master(ctx, netns, master)
            cache[key] = None
        except VirtnetError as exc:
            cache[key] = exc.msg
    if cache[key] is not None:
        if prefix:
            raise VirtnetError('peer %s in %s: %s%s' % (name, ns_label(netns), prefix, cache[key]))
        raise VirtnetError('%s in %s: %s' % (name, ns_label(netns), cache[key]))


def preflight(ctx, kind, items):
    """Every check of every object that needs the kernel but changes nothing, before the first change.

    Masters (and what each kind adds) for every object; and, when a batch may recreate a device, each
    object's read and compare too (kind, refuse_recreate...), so that a later object's problem is found
    before an earlier object's old device is deleted for good.
    """
    present = [item for item in items if item['state'] != 'absent']
    for item in present:
        kind.check_masters(ctx, item)
        kind.preflight(ctx, item)
    if len(items) < 2 or not any(kind.may_recreate(item) for item in present):
        return
    # a device whose veth peer an element of the batch deletes goes with it before the rest is done
    deleted = set((item.get('netns') or '', item['name']) for item in items if item['state'] == 'absent')
    for item in present:
        item = dict(item)       # compare() may fill in carried settings: leave the real item alone
        netns = item.get('netns') or ''
        name = item['name']
        link = read_link(ctx, netns, ifname=name, need_data=kind.needs_data)
        if link is None:
            continue
        if link['kind'] not in kind.read_kinds:
            raise VirtnetError('%s already exists in %s as a %s, not a %s'
                               % (name, ns_label(netns), link['kind'] or 'device without kind', kind.kind))
        view = _view(ctx, kind, item, link)
        if (view.get('peer_netns'), view.get('peer')) in deleted:
            continue
        diffs = _differences(ctx, kind, item, link, view)
        if diffs.needs_recreate:
            reason = kind.refuse_recreate(ctx, item, link, view, diffs)
            if reason:
                raise VirtnetError(reason)


def common_view(ctx, netns, link):
    """The public, comparable view of the common attributes of a kernel link."""
    master = read_link(ctx, netns, index=link['master_index'], need_data=False) if link['master_index'] else None
    return {
        'name': link['ifname'],
        'netns': netns or '',
        'ifindex': link['index'],
        'kind': link['kind'],
        'link_state': link['link_state'],
        'operstate': link['operstate'],
        'mtu': link['mtu'],
        'address': link['address'],
        'master': master['ifname'] if master else '',
        'txqueuelen': link['txqueuelen'],
        'alias': link['alias'] or '',
    }


def compare_common(view, item, diffs, prefix=''):
    """Record differences of the common options between `view` (current) and `item` (wanted)."""
    diffs.compare(prefix + 'mtu', item.get(prefix + 'mtu'), view['mtu'])
    diffs.compare(prefix + 'address', normalise_mac(item.get(prefix + 'address')),
                  normalise_mac(view['address']))
    diffs.compare(prefix + 'master', item.get(prefix + 'master'), view['master'])
    diffs.compare(prefix + 'txqueuelen', item.get(prefix + 'txqueuelen'), view['txqueuelen'])
    diffs.compare(prefix + 'alias', item.get(prefix + 'alias'), view['alias'])
    diffs.compare(prefix + 'link_state', item.get(prefix + 'link_state'), view['link_state'])
    diffs.compare(prefix + 'forwarding', item.get(prefix + 'forwarding'), view.get('forwarding'))


_SET_ARGS = {'mtu': 'mtu', 'address': 'address', 'txqueuelen': 'txqlen', 'alias': 'ifalias',
             'link_state': 'state'}


def apply_common(ctx, netns, name, index, view, diffs, prefix=''):
    """Send the in-place differences of the common options in one request (undo: old values)."""
    new, old, shown = {}, {}, {}
    for key, arg in _SET_ARGS.items():
        d = diffs.get(prefix + key)
        if d is not None:
            new[arg] = d.after
            old[arg] = '' if d.before is None and arg == 'ifalias' else d.before   # '' clears an alias
            if key != 'link_state':
                shown[key] = d.after
    d = diffs.get(prefix + 'master')
    if d is not None:
        new['master'] = resolve_master(ctx, netns, d.after)
        old['master'] = resolve_master(ctx, netns, d.before) if d.before else 0
        shown['master'] = d.after if d.after else '(none)'
    d = diffs.get(prefix + 'forwarding')
    if d is not None:
        # net.ipv4.conf.NAME.forwarding in the device's namespace (a sysctl, not a link attribute)
        ctx.tx.run('set forwarding=%s on %s' % ('on' if d.after else 'off', name),
                   _bind(_netns.set_forwarding, netns, name, d.after),
                   _bind(_netns.set_forwarding, netns, name, bool(d.before)))
    if not new:
        return
    # bring a link up only after everything else is in place
    state = new.pop('state', None)
    old_state = old.pop('state', None)

    def do(args):
        what = 'setting %s on %s' % (', '.join(sorted(args)), name)
        return lambda: ctx.rt.call(what, netns, 'set_link', index, **args)

    def undo(args):
        # by name: a later step's undo may have replaced the device (a tun/tap that had no owner)
        what = 'setting %s on %s' % (', '.join(sorted(args)), name)

        def run():
            link = read_link(ctx, netns, ifname=name, need_data=False)
            ctx.rt.call(what, netns, 'set_link', link['index'] if link else index, **args)
            verify_link(ctx, netns, name, args)
        return run

    if new:
        ctx.tx.run('set %s on %s' % (', '.join('%s=%s' % (k, v) for k, v in sorted(shown.items())), name),
                   do(new), undo(old))
    if state is not None:
        ctx.tx.run('set %s %s' % (name, state), do({'state': state}), undo({'state': old_state}))


_READ_BACK = {'mtu': 'mtu', 'txqlen': 'txqueuelen', 'address': 'address', 'ifalias': 'alias',
              'master': 'master_index', 'state': 'link_state'}


def verify_link(ctx, netns, name, args):
    """Read link `name` back after an undo: fail unless every attribute of `args` (set_link keywords)
    is as sent, so that a step is reported as rolled back only when it really is."""
    link = read_link(ctx, netns, ifname=name, need_data=False)
    if link is None:
        raise VirtnetError('%s in %s is gone after the undo' % (name, ns_label(netns)))
    wrong = []
    for arg, value in sorted(args.items()):
        now = link.get(_READ_BACK[arg])
        if arg == 'address':
            value, now = normalise_mac(value), normalise_mac(now)
        elif arg in ('ifalias', 'master'):
            value, now = value or None, now or None
        if now != value:
            wrong.append('%s is %s, not %s' % (_READ_BACK[arg], now, value))
    if wrong:
        raise VirtnetError('read back, %s in %s: %s' % (name, ns_label(netns), ', '.join(wrong)))


def delete_link(ctx, netns, name, index):
    """Delete a link; "already gone" is not an error."""

    ctx.tx.run('delete %s' % name, lambda: remove_link(ctx, netns, name, index=index))


def remove_link(ctx, netns, name, index=None, group=None):
    """Delete link `index` (else the link called `name`, or with `group` every link of that group) in
    `netns` now; a link that is already gone is not an error. The one "already gone" delete of links."""
    try:
        ctx.rt.sock(netns).del_link(index=index, ifname=None if index or group else name, group=group)
    except OSError as exc:
        if error_code(exc) != errno.ENODEV:
            raise kernel_error(exc, 'deleting %s' % name, netns)


# Links deleted by one task are first given this link group, then deleted with one request per
# namespace: the kernel then unregisters them together (one RCU grace period for all) instead of
# paying ~16 ms per link (PYROUTE2.md §8). The group is random per run (2**31 values), so links left
# tagged by a run that was killed mid-way are never swept up by another run's delete.
def _delete_group():
    return 0x40000000 | (int.from_bytes(os.urandom(4), 'little') & 0x3fffffff)


def defer_delete(ctx, netns, name, index, group=None):
    """Plan the deletion of a link; carried out by flush_deletes() (in the same transaction)."""
    ctx.deferred.setdefault('deletes', {}).setdefault(netns or '', []).append((name, index, group or 0))


def flush_deletes(ctx):
    """Delete every deferred link: one by one for a single link, else by link group per namespace."""
    pending = ctx.deferred.pop('deletes', None) or {}
    if ctx.check_mode:
        return
    for netns, links in pending.items():
        if len(links) == 1:
            delete_link(ctx, netns, links[0][0], links[0][1])
            continue
        sock = ctx.rt.sock(netns)
        group = _delete_group()
        names = [link[0] for link in links]

        def act(sock=sock, links=links, group=group, netns=netns, names=names):
            tagged = []
            try:
                for name, index, old_group in links:
                    try:
                        sock.set_link(index, group=group)
                        tagged.append((index, old_group))
                    except OSError as exc:
                        if getattr(exc, 'code', None) == errno.ENODEV:  # gone (e.g. the peer of another one)
                            continue
                        raise kernel_error(exc, 'deleting %s' % name, netns)
                remove_link(ctx, netns, ', '.join(names), group=group)
            except VirtnetError:
                for index, old_group in tagged:     # leave the survivors as they were
                    try:
                        sock.set_link(index, group=old_group)
                    except OSError:
                        pass
                raise

        ctx.tx.run('delete %s' % ', '.join(names), act)
        # the per-object action texts were recorded already; keep one entry per link
        ctx.tx.done.pop()


class LinkKind(Spec):
    """What a device module tells the engine about its kind of link: a :class:`_engine.Spec` whose
    hooks (validate_all, order, prepare, ensure, finish) are the shared path of every device; a kind
    fills in the methods below."""

    #: the module's kind, as the user thinks of it (also the kind=... used to create it)
    kind = None
    #: kinds the kernel reports back for this module's devices
    read_kinds = ()
    #: option names beyond COMMON_KEYS
    keys = []
    #: the kind-specific data view/compare read: True (IFLA_INFO_DATA and IFLA_INFO_SLAVE_DATA), 'info'
    #: (IFLA_INFO_DATA only), 'table' (the IFLA_INFO_DATA attributes _rtnl's table of the kind decodes)
    #: or False (none); see _rtnl.parse_link
    needs_data = True
    #: whether the module needs pyroute2 (False: everything it sends and reads goes over _rtnl)
    needs_pyroute2 = True

    # ------------------------------------------------------------------ the engine's Spec hooks

    def expand(self, params):
        return expand_batch(params, COMMON_KEYS + list(self.keys))

    def validate_all(self, items, batch):
        """Every input error: the task's objects together, then each object's options, duplicates and
        the namespaces they need."""
        errors = self.batch_errors(items)
        if errors:
            return items, errors
        for item in items:
            label = item.get('name') or '(unnamed)'
            for err in validate_common(item) + self.validate(item):
                errors.append('%s: %s' % (label, err) if batch else err)
        if not errors:
            errors = task_errors(items, _object_key, 'duplicate devices in batch')
        return items, sorted(set(errors), key=errors.index)

    def key(self, item):
        return _object_key(item)

    def needs(self, item):
        """Its namespaces (netns_needed) and, to be made present, the bridges it is to be a port of."""
        out = [(netns_key(ns), 'needed by %s' % item['name'], None) for ns in self.netns_needed(item)]
        if item.get('state') != 'absent':
            out.extend((link_key(ns, item[option]), '%s of %s' % (option, name), 'bridge')
                       for ns, name, option in self.masters(item) if item.get(option))
        return out

    def provides(self, item):
        return [(link_key(ns, name), self.kind) for ns, name in self.ends(item)]

    def masters(self, item):
        """(netns, name, the option naming its master) of each end of the object."""
        return [(item.get('netns') or '', item['name'], 'master')]

    def ends(self, item, view=None):
        """(netns, name) of each link the object is: of `view` (the kernel's) when given, else as the item
        declares it."""
        return [(item.get('netns') or '', item['name'])]

    def order(self, items):
        """Deletions first (carried out together, by link group), then creations and updates."""
        return [n for n, i in enumerate(items) if i['state'] == 'absent'] + \
            [n for n, i in enumerate(items) if i['state'] != 'absent']

    def prepare(self, ctx, items):
        preflight(ctx, self, items)

    def ensure(self, ctx, item):
        if item['state'] != 'absent' and not ctx.deferred.get('flushed'):
            ctx.deferred['flushed'] = True
            flush_deletes(ctx)
        return ensure_link(ctx, self, item)

    def finish(self, ctx):
        if not ctx.deferred.get('flushed'):
            flush_deletes(ctx)

    # ------------------------------------------------------------------ what a kind fills in

    def batch_errors(self, items):
        """Errors of the task's objects taken together, found before each is validated (list of strings)."""
        return []

    def validate(self, item):
        """Extra errors for one object (list of strings)."""
        return []

    def netns_needed(self, item):
        """Every namespace the object needs to exist."""
        return [item.get('netns') or '']

    def create(self, ctx, item):
        """Create the device through ctx.tx (with an undo that deletes it).

        ensure_link calls it only when no device of that name is in its namespace: it has just read
        the name and found nothing, or it has just deleted the old device (recreate). There is no need
        to read the name again here.
        """
        raise NotImplementedError

    def view(self, ctx, item, link):
        """Kind-specific public attributes of an existing device (dict)."""
        return {}

    def compare(self, ctx, item, link, view, diffs):
        """Record kind-specific differences (recreate=True for those that need a new device)."""

    def update(self, ctx, item, link, view, diffs):
        """Apply the in-place kind-specific differences through ctx.tx."""

    def refuse_recreate(self, ctx, item, link, view, diffs):
        """A message when the device must not be recreated now (e.g. a process holds it), else None."""
        return None

    def may_recreate(self, item):
        """Whether ensuring `item` may delete its device and make a new one (recreate)."""
        return False

    def check_masters(self, ctx, item):
        """Fail (VirtnetError) when the object's master is missing or no bridge. Reads only."""
        check_master(ctx, item, '', item['name'], item.get('netns') or '')

    def preflight(self, ctx, item):
        """Further read-only checks of one object to be made present (bridge ports, ...)."""

    def predict(self, item, view):
        """The view a newly created device will have (for check mode and diff)."""
        out = dict(view)
        for key in COMMON_KEYS + list(self.keys):
            if key in ('state', 'netns'):
                continue
            value = item.get(key)
            if value is not None:
                out[key] = normalise_mac(value) if key.endswith('address') else value
        return out

    def predict_update(self, item, view, diffs):
        """The view an existing device will have once `diffs` are applied (for check mode and diff)."""
        after = dict(view)
        for d in diffs.items:
            after[d.key] = d.after
        return after


def _object_key(item):
    netns = item.get('netns') or ''
    return '%s/%s' % (netns, item['name']) if netns else item['name']


def _view(ctx, kind, item, link):
    """The public view of an existing device of `item`: the common attributes and the kind's own; its IPv4
    forwarding only where the task manages it (a sysctl read in the device's namespace, not a link
    attribute)."""
    view = dict(common_view(ctx, item.get('netns') or '', link), **kind.view(ctx, item, link))
    if item.get('forwarding') is not None:
        view['forwarding'] = _netns.forwarding(item.get('netns') or '', link['ifname'])
    return view


def _bind(func, *args):
    return lambda: func(*args)


def _differences(ctx, kind, item, link, view):
    """What differs between the device (`view`) and `item`: common options, then the kind's own."""
    diffs = Differences()
    compare_common(view, item, diffs)
    kind.compare(ctx, item, link, view, diffs)
    return diffs


def _apply(ctx, kind, item, link, view, diffs):
    """Fix the in-place differences: the common options, then the kind's own."""
    apply_common(ctx, item.get('netns') or '', item['name'], link['index'], view, diffs)
    kind.update(ctx, item, link, view, diffs)


def _fix_created(ctx, kind, item):
    """Read a device just created back and fix what its create request could not set.

    Returns (the number of steps done before the fixes, the view read back)."""
    netns, name = item.get('netns') or '', item['name']
    link = read_link(ctx, netns, ifname=name, need_data=kind.needs_data)
    if link is None:
        raise VirtnetError('%s was created in %s but cannot be read back' % (name, ns_label(netns)))
    read_at = len(ctx.tx.done)
    view = _view(ctx, kind, item, link)
    _apply(ctx, kind, item, link, view, _differences(ctx, kind, item, link, view))
    return read_at, view


def _plan(ctx, kind, item, gone=None):
    """Check mode: record in the task's plan (if it has one) the links `item` would make, after those it
    would delete (`gone`: the kernel's link and its view)."""
    plan = ctx.plan
    if plan is None:
        return
    if gone is not None:
        link, view = gone
        for n, (ns, name) in enumerate(kind.ends(item, view)):
            plan.remove_link(ns, name, link['index'] if n == 0 else None)
    if item['state'] != 'absent':
        for ns, name in kind.ends(item):
            plan.add_link(ns, name, kind.read_kinds[0])


def ensure_link(ctx, kind, item):
    netns = item.get('netns') or ''
    name = item['name']
    link = read_link(ctx, netns, ifname=name, need_data=kind.needs_data)
    key = _object_key(item)

    if link is not None and link['kind'] not in kind.read_kinds:
        if item['state'] == 'absent':
            raise VirtnetError('%s in %s is a %s, not a %s: refusing to delete it'
                               % (name, ns_label(netns), link['kind'] or 'device without kind', kind.kind))
        raise VirtnetError('%s already exists in %s as a %s, not a %s'
                           % (name, ns_label(netns), link['kind'] or 'device without kind', kind.kind))

    if item['state'] == 'absent':
        if link is None:
            return ObjectResult(key, None, None, False)
        before = _view(ctx, kind, item, link)
        if ctx.check_mode:
            start = len(ctx.tx.done)
            delete_link(ctx, netns, name, link['index'])
            _plan(ctx, kind, item, gone=(link, before))
            return ObjectResult(key, before, None, True, ctx.tx.done[start:])
        defer_delete(ctx, netns, name, link['index'], link.get('group'))
        ctx.tx.done.append('delete %s' % name)
        return ObjectResult(key, before, None, True, ['delete %s' % name])

    start = len(ctx.tx.done)
    if link is None:
        before = None
        kind.create(ctx, item)
        if ctx.check_mode:
            _plan(ctx, kind, item)
            after = kind.predict(item, {'name': name, 'netns': netns, 'kind': kind.kind})
            return ObjectResult(key, None, after, True, ctx.tx.done[start:], {'link': after})
        read_at, view = _fix_created(ctx, kind, item)
    else:
        read_at = len(ctx.tx.done)
        view = _view(ctx, kind, item, link)
        before = view
        diffs = _differences(ctx, kind, item, link, view)
        if diffs.empty:
            return ObjectResult(key, view, view, False, [], {'link': view})
        if diffs.needs_recreate:
            reason = kind.refuse_recreate(ctx, item, link, view, diffs)
            if reason:
                raise VirtnetError(reason)
            delete_link(ctx, netns, name, link['index'])
            kind.create(ctx, item)
            if not ctx.check_mode:
                read_at, view = _fix_created(ctx, kind, item)
        else:
            _apply(ctx, kind, item, link, view, diffs)
        if ctx.check_mode:
            if diffs.needs_recreate:
                _plan(ctx, kind, item, gone=(link, view))
            after = kind.predict_update(item, view, diffs)
            return ObjectResult(key, before, after, True, ctx.tx.done[start:], {'link': after})

    if len(ctx.tx.done) == read_at:
        # nothing was changed since `view` was read: it is the state after (no second read-back)
        after = view
    else:
        link = read_link(ctx, netns, ifname=name, need_data=kind.needs_data)
        if link is None:
            raise VirtnetError('%s in %s cannot be read back after the changes' % (name, ns_label(netns)))
        after = _view(ctx, kind, item, link)
    changed = len(ctx.tx.done) > start
    return ObjectResult(key, before, after, changed, ctx.tx.done[start:], {'link': after})
