# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The module engine: differences, a transaction that undoes itself, and the one loop of every module.

    params --normalise--> desired spec
    kernel --read--> current state (plain dicts)
    compare --> Differences (each "in place" or "needs recreate")
    plan/apply through a Transaction (mutations skipped in check mode, undone on failure)
    --> result: changed, diff {before, after}, the object as it is now

A module is its documentation, its argument spec and ``run(module, spec)``. Everything one needs to
know about a kind of object is its :class:`Spec`, in ``_spec/<device>`` (devices add the common link
options and path of ``_link.LinkKind``). :func:`run` drives every module the same way:

    expand        the task's objects: its batch, or the task itself (spec.expand)
    validate      every input error of every object, before anything is read (spec.validate_all), then
                  the namespaces the objects need (spec.needs)
    resolve       read-only lookups before the lock, e.g. the links an address names (spec.resolve_all)
    lock          the host lock (Context.lock)
    prepare       read-only checks under the lock, before the first change (spec.prepare)
    ensure        each object in spec.order, one ObjectResult each, in one transaction (spec.ensure)
    finish        work carried out together once every object is ensured (spec.finish)
    --> exit_json, or on failure: rollback of the whole task and fail_json naming the object

Nothing here imports pyroute2: it is pure logic, covered by unit tests.
"""

from __future__ import annotations

import copy
import traceback

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, hold_lock, netns_exists, refuse_coerced_names,
)


LOCK_DIR = '/run/virtnet.linux'
LOCK_NAME = 'lock'
LOCK_TIMEOUT = 300


def lock_dir(path=LOCK_DIR):
    """The directory of the host lock: made 0700 if missing, refused unless it is a real directory
    of this process's user (root) that nobody else can write (an unprivileged user who could create
    or hold the lock file would block every task)."""
    import os
    import stat
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise VirtnetError('cannot create the lock directory %s: %s' % (path, exc.strerror or exc))
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise VirtnetError('the lock directory %s is not a directory: refusing to use it' % path)
    if st.st_uid != os.geteuid():
        raise VirtnetError('the lock directory %s is owned by uid %d, not %d: refusing to use it'
                           % (path, st.st_uid, os.geteuid()))
    if st.st_mode & 0o022:
        raise VirtnetError('the lock directory %s can be written by other users (mode %04o): refusing to use it'
                           % (path, stat.S_IMODE(st.st_mode)))
    return path


class Difference(object):
    __slots__ = ('key', 'before', 'after', 'recreate')

    def __init__(self, key, before, after, recreate=False):
        self.key = key
        self.before = before
        self.after = after
        self.recreate = recreate

    def __repr__(self):
        return 'Difference(%r, %r -> %r%s)' % (self.key, self.before, self.after,
                                               ', recreate' if self.recreate else '')


class Differences(object):
    """Collects differences between the kernel's state and the wanted one."""

    def __init__(self):
        self.items = []

    def add(self, key, before, after, recreate=False):
        self.items.append(Difference(key, before, after, recreate))

    def compare(self, key, wanted, current, recreate=False, normalise=None):
        """Record a difference when `wanted` is managed (not None) and differs from `current`."""
        if wanted is None:
            return False
        a, b = wanted, current
        if normalise is not None:
            a, b = normalise(a), normalise(b)
        if a != b:
            self.add(key, current, wanted, recreate)
            return True
        return False

    @property
    def empty(self):
        return not self.items

    @property
    def needs_recreate(self):
        return [d for d in self.items if d.recreate]

    @property
    def in_place(self):
        return [d for d in self.items if not d.recreate]

    def keys(self):
        return [d.key for d in self.items]

    def get(self, key):
        for d in self.items:
            if d.key == key:
                return d
        return None

    def __contains__(self, key):
        return self.get(key) is not None

    def __bool__(self):
        return bool(self.items)

    __nonzero__ = __bool__

    def before_after(self):
        before, after = {}, {}
        for d in self.items:
            before[d.key] = d.before
            after[d.key] = d.after
        return before, after


class Transaction(object):
    """Ordered mutations that are skipped in check mode and undone in reverse on failure."""

    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.done = []          # descriptions of the steps carried out (or planned, in check mode)
        self._undo = []         # (description, callable)
        self.kept = []          # steps carried out that cannot be undone (deletions)

    def run(self, description, action, undo=None):
        """Carry out one mutation. `undo` (a callable) reverts it if a later step fails."""
        self.done.append(description)
        if self.check_mode:
            return None
        result = action()
        if undo is not None:
            self._undo.append((description, undo))
        else:
            self.kept.append(description)
        return result

    @property
    def changed(self):
        return bool(self.done)

    def rollback(self):
        """Undo every step carried out, newest first. Returns (undone, errors)."""
        undone, errors = [], []
        while self._undo:
            description, undo = self._undo.pop()
            try:
                undo()
                undone.append(description)
            except Exception as exc:  # pylint: disable=broad-except
                errors.append('undo of "%s" failed: %s' % (description, getattr(exc, 'msg', exc)))
        return undone, errors

    def commit(self):
        self._undo = []
        self.kept = []


def merge_item(defaults, item, keys):
    """A batch item completed with the task's top-level options (the item wins when it sets a key)."""
    out = {}
    for key in keys:
        value = item.get(key) if item else None
        out[key] = defaults.get(key) if value is None else value
    return out


def batch_argument_spec(options, required=(), exclude=()):
    """The argument spec of a module with a `batch` option, from its options written once.

    `options` (with their defaults) are the task's top-level options; every one of them but those in
    `exclude` is also an option of each batch element, there without its default (an element that leaves
    an option out takes the task's value) and required when it is in `required`.
    """
    spec = dict((key, dict(opts)) for key, opts in options.items())
    element = {}
    for key, opts in options.items():
        if key in exclude:
            continue
        opts = dict(opts)
        opts.pop('default', None)
        if key in required:
            opts['required'] = True
        element[key] = opts
    spec['batch'] = dict(type='list', elements='dict', options=element)
    return spec


def expand_batch(params, keys, batch_key='batch'):
    """The list of per-object parameter dicts of a task: its batch, or the task itself."""
    batch = params.get(batch_key)
    if batch is not None:
        return [merge_item(params, item, keys) for item in batch], True
    return [dict((k, params.get(k)) for k in keys)], False


def find_duplicates(items, keyfunc):
    seen, dups = set(), []
    for item in items:
        key = keyfunc(item)
        if key in seen and key not in dups:
            dups.append(key)
        seen.add(key)
    return dups


def netns_errors(items, needs):
    """'netns X not found (why)' for each namespace the objects need that does not exist.

    `needs(item)` lists (netns, why) pairs; '' (the namespace of the task) is never looked up."""
    seen, errors = {}, []
    for item in items:
        for ns, why in needs(item):
            if ns and ns not in seen:
                seen[ns] = netns_exists(ns)
            if ns and not seen[ns]:
                errors.append('netns %s not found (%s)' % (ns, why))
    return errors


def needed_netns(spec, item):
    """(netns, why) of every namespace the object of `item` needs (see netns_errors)."""
    return [(key[1], why) for key, why, _kind in spec.needs(item) if key[0] == 'netns']


def task_errors(items, key, listed_twice, needs=None):
    """Errors of the task's objects taken together, once each is valid on its own: objects listed twice
    (by `key(item)`: '<listed_twice>: a, b'), else the namespaces they need that do not exist (`needs`:
    see netns_errors)."""
    dups = find_duplicates(items, key)
    if dups:
        return ['%s: %s' % (listed_twice, ', '.join(dups))]
    return netns_errors(items, needs) if needs is not None else []


def netns_key(netns):
    """The key of a named namespace in Spec.needs / Spec.provides."""
    return ('netns', netns or '')


def link_key(netns, name):
    """The key of link `name` of namespace `netns` in Spec.needs / Spec.provides."""
    return ('link', netns or '', name)


class Spec(object):
    """What a module tells the engine about its objects: one instance per module run, driven by :func:`run`
    (and by `_plumbing.run_plumbing`, which runs several specs in one task).

    Every hook but ensure has a default that does nothing; `items` are the per-object parameter dicts.
    """

    #: the option names of one object (the keys of each item)
    keys = ()
    #: whether the module needs pyroute2 (Ansible's missing-library message when it is absent)
    needs_pyroute2 = False

    def expand(self, params):
        """(items, batch): the task's objects and whether they came from its batch option."""
        return expand_batch(params, self.keys)

    def validate_all(self, items, batch):
        """(items, errors): every input error of the task's objects (strings, naming the object when
        `batch`), found before the kernel is read; the items ensure gets (normalised if need be)."""
        return items, []

    def key(self, item):
        """How results and messages name the object of a (validated) item."""
        return item.get('name')

    def needs(self, item):
        """What the object of a validated item needs to exist before it is ensured: a list of
        (key, why, kind) - key netns_key(NS) (a named namespace; why completes "netns NS not found (...)")
        or link_key(NS, NAME) (a link; kind: 'bridge' when it must be a bridge, 'port' when it must not
        be one, None for any). The engine checks the namespaces; virtnet.linux.plumbing orders the
        sections, checks the task against itself and predicts check mode with the rest."""
        return []

    def provides(self, item):
        """What the object of a validated item is, as keys other objects need: [(key, kind)]."""
        return []

    def gone(self, item):
        """The result of an object with state=absent whose namespace does not exist (nothing to read)."""
        return ObjectResult(self.key(item), None, None, False)

    def resolve_all(self, ctx, items):
        """Errors of read-only lookups before the lock (a link an object names is missing...)."""
        return []

    def order(self, items):
        """The positions of `items` in the order to ensure them; None: the task's order."""
        return None

    def prepare(self, ctx, items):
        """Read-only checks under the lock before the first change (raise VirtnetError)."""

    def ensure(self, ctx, item):
        """Bring one object to its wanted state through ctx.tx: an ObjectResult."""
        raise NotImplementedError

    def finish(self, ctx):
        """Work done once after the last object (inside the transaction)."""


def run(module, spec):
    """The whole run of a module: expand, validate, resolve, then ensure every object in one transaction."""
    refuse_coerced_names(module)
    if spec.needs_pyroute2:
        require_pyroute2(module)
    items, batch = spec.expand(module.params)
    items, errors = spec.validate_all(items, batch)
    if not errors:
        errors = netns_errors(items, lambda item: needed_netns(spec, item))
    if errors:
        module.fail_json(msg='; '.join(errors))
    ctx = Context(module)
    try:
        errors = spec.resolve_all(ctx, items)
    except VirtnetError as exc:
        errors = [exc.msg]
    if errors:
        ctx.close()
        module.fail_json(msg='; '.join(errors))
    order = spec.order(items)
    if order is not None:
        items = [items[n] for n in order]
    run_objects(module, items, spec.ensure, ctx, batch=batch, finish=spec.finish, order=order,
                prepare=lambda c: spec.prepare(c, items))


class ObjectResult(object):
    """What one object of a task did: changed, before/after and the object as it is now."""

    def __init__(self, key, before=None, after=None, changed=False, actions=None, extra=None):
        self.key = key
        self.before = before
        self.after = after
        self.changed = changed
        self.actions = actions or []
        self.extra = extra or {}

    def as_dict(self):
        d = {'name': self.key, 'changed': self.changed, 'actions': list(self.actions)}
        d.update(self.extra)
        return d


def run_objects(module, items, ensure, context, batch=False, result_key=None, finish=None, order=None,
                prepare=None):
    """Apply `ensure(context, item) -> ObjectResult` to every item in one transaction.

    A failure undoes every mutation of the task (of earlier items too), closes the context and
    fails the module with a message naming the object; nothing half-made is left behind.

    `prepare(context)`, when given, runs under the lock before the first item: the checks that read
    the kernel but change nothing, so that a problem of a later item is found before an earlier one
    deletes anything (a deletion cannot be undone).
    """
    tx = context.tx
    results = []
    current = None
    try:
        context.lock()
        if prepare is not None:
            prepare(context)
        for item in items:
            current = item
            results.append(ensure(context, item))
        current = None
        if finish is not None:
            finish(context)
        tx.commit()
    except VirtnetError as exc:
        fail(module, context, exc.msg, _listed(results), exc.details)
    except Exception as exc:  # pylint: disable=broad-except
        what = current.get('name') if isinstance(current, dict) else current
        fail(module, context, 'unexpected error on %s: %s' % (what, exc), _listed(results),
             {'exception': traceback.format_exc()})
    finally:
        context.close()

    if order is not None:
        # items were processed in another order than the task listed them: report in the task's order
        ordered = [None] * len(results)
        for position, result in zip(order, results):
            ordered[position] = result
        results = ordered
    changed = any(r.changed for r in results)
    out = {'changed': changed}
    if batch:
        out['results'] = [r.as_dict() for r in results]
        before = dict((r.key, r.before) for r in results if r.changed)
        after = dict((r.key, r.after) for r in results if r.changed)
    else:
        r = results[0]
        out.update(r.extra)
        out['actions'] = list(r.actions)
        before, after = r.before, r.after
    if module._diff:
        out['diff'] = {'before': _diffable(before), 'after': _diffable(after)}
    module.exit_json(**out)


def _diffable(value):
    if value is None:
        return {}
    return copy.deepcopy(value)


def _listed(results):
    return {'results': [r.as_dict() for r in results]} if results else None


def fail(module, context, msg, results, details):
    """Roll the whole task back and fail, saying what was undone and what could not be. `results` (the
    keys of the objects' results as the module returns them, or None) are returned when something could
    not be undone."""
    undone, errors = context.tx.rollback()
    context.close()
    extra = {}
    if undone:
        extra['rolled_back'] = undone
        msg = '%s (rolled back: %s)' % (msg, '; '.join(undone))
    if context.tx.kept:
        extra['not_undone'] = list(context.tx.kept)
        msg = '%s (not undone: %s)' % (msg, '; '.join(context.tx.kept))
    if errors:
        extra['rollback_errors'] = errors
        msg = '%s; %s' % (msg, '; '.join(errors))
    if results and errors:
        # what could not be undone is still there: say exactly what the task did
        extra.update(results)
    exception = details.pop('exception', None) if details else None
    if exception:
        extra['exception'] = exception
    for key, value in (details or {}).items():
        extra.setdefault(key, value)
    module.fail_json(msg=msg, changed=bool(errors or context.tx.kept), **extra)


#: Plan.link's answer when the plan knows nothing of a link: read the kernel
UNPLANNED = object()


class Plan(object):
    """Check mode of a task whose later objects use what its earlier objects make (virtnet.linux.plumbing).

    Check mode changes nothing, so a namespace or link the task would have made by now is not in the kernel,
    and one it would have deleted or replaced still is. The plan holds those differences; reads of links
    (`_link.read_link`) and of a namespace's routes ask it first: nothing is in a namespace the task would
    make, a link the task would make or replace reads as a fresh link (`planned`: no addresses, no routes,
    no ports), a link it would delete reads as missing.
    """

    def __init__(self):
        self.namespaces = set()     # namespaces the task would make (they do not exist)
        self.links = {}             # (netns, name) -> a planned link, or None: deleted
        self.indexes = {}           # (netns, ifindex) -> the same, by ifindex (planned: negative)

    def add_netns(self, name):
        """Namespace `name` would be made by now: nothing in it but its loopback device."""
        self.namespaces.add(name)
        self.add_link(name, 'lo', None)

    def add_link(self, netns, name, kind):
        """Link `name` of `netns` would be made (or made again) by now."""
        netns = netns or ''
        self.remove_link(netns, name)
        index = -1 - len(self.indexes)
        link = {'ifname': name, 'index': index, 'kind': kind, 'planned': True, 'master_index': 0,
                'link_state': 'down', 'operstate': None, 'mtu': None, 'address': None, 'txqueuelen': None,
                'alias': None, 'group': 0, 'link_index': None, 'link_netnsid': None}
        self.links[(netns, name)] = link
        self.indexes[(netns, index)] = link

    def remove_link(self, netns, name, index=None):
        """Link `name` (ifindex `index` in the kernel, if known) of `netns` would be deleted by now."""
        netns = netns or ''
        old = self.links.get((netns, name))
        if old is not None:
            self.indexes[(netns, old['index'])] = None
        self.links[(netns, name)] = None
        if index is not None:
            self.indexes[(netns, index)] = None

    def netns_made(self, netns):
        """Whether `netns` is a namespace the task would make (it does not exist yet)."""
        return bool(netns) and netns in self.namespaces

    def made(self, key):
        """Whether the object of a Spec.needs key would be made by the task (it does not exist yet)."""
        if key[0] == 'netns':
            return self.netns_made(key[1])
        return self.netns_made(key[1]) or bool(self.links.get((key[1], key[2])))

    def link(self, netns, ifname=None, index=None):
        """The link as the task would have left it: a planned link, None, or UNPLANNED (read the kernel)."""
        netns = netns or ''
        key, table = ((netns, ifname), self.links) if ifname else ((netns, index), self.indexes)
        if key in table:
            link = table[key]
            return dict(link) if link is not None else None
        if netns in self.namespaces:
            return None
        return UNPLANNED


class Context(object):
    """What one module run shares: the module, its netlink sockets and its transaction."""

    def __init__(self, module):
        self.module = module
        self.check_mode = module.check_mode
        self.tx = Transaction(module.check_mode)
        self._rt = None
        self._lock_fd = None
        self.lock_path = LOCK_DIR
        self.deferred = {}      # work a module plans per object and carries out together
        # check mode of a task that uses what it makes itself (virtnet.linux.plumbing): a Plan of what the
        # task would have made or deleted so far, which reads consult before the kernel (else None)
        self.plan = None

    def lock(self, timeout=None):
        """Serialise the tasks of this collection on one host: read, compare and apply under one lock,
        so that two runs of the same task at once end in the declared state without duplicates.

        The lock is /run/virtnet.linux/lock, in a directory only root can write. How long to wait for
        it: `timeout`, else VIRTNET_LINUX_LOCK_TIMEOUT from the environment (seconds), else 300 s.
        """
        if self._lock_fd is not None:
            return
        import os
        if timeout is None:
            try:
                timeout = max(0, int(os.environ.get('VIRTNET_LINUX_LOCK_TIMEOUT', LOCK_TIMEOUT)))
            except ValueError:
                timeout = LOCK_TIMEOUT
        path = os.path.join(lock_dir(self.lock_path), LOCK_NAME)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise VirtnetError('cannot open the lock file %s: %s' % (path, exc.strerror or exc))
        holders = hold_lock(fd, path, timeout)
        if holders is not None:
            os.close(fd)
            raise VirtnetError('another virtnet.linux task on this host held %s for %d s: held by %s'
                               % (path, timeout, holders))
        self._lock_fd = fd

    @property
    def rt(self):
        """The netlink sockets of this run (`_rtnl.Rtnl`: one set per namespace)."""
        if self._rt is None:
            from ansible_collections.virtnet.linux.plugins.module_utils._rtnl import Rtnl
            self._rt = Rtnl()
        return self._rt

    def ipr(self, netns=None):
        """pyroute2's IPRoute of `netns`, owned by the same socket set (pyroute2 imported on first use)."""
        return self.rt.ipr(netns)

    def forget(self, netns):
        """Close this run's sockets in `netns`, a namespace about to be deleted: an open socket keeps its
        namespace (and every link in it) alive until the module process exits."""
        if self._rt is not None:
            self._rt.forget(netns)

    def close(self):
        if self._rt is not None:
            self._rt.close()
        if self._lock_fd is not None:
            import os
            os.close(self._lock_fd)      # releases the flock
            self._lock_fd = None


def require_pyroute2(module):
    """Fail with Ansible's standard missing-library message when pyroute2 is absent."""
    from ansible.module_utils.basic import missing_required_lib
    from ansible_collections.virtnet.linux.plugins.module_utils import _pyroute2
    if not _pyroute2.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=_pyroute2.PYROUTE2_IMPORT_ERROR)
