# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Named network namespaces: every behaviour of the module virtnet.linux.netns."""

from __future__ import annotations

import os

from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    ObjectResult, Spec, expand_batch, netns_key, task_errors,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    netns_exists, netns_path, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils import _netns

KEYS = ['name', 'state', 'loopback_up', 'etc']
#: the options of one namespace, with the task's defaults: the module's argument spec (and its batch
#: elements') and the element of virtnet.linux.plumbing's `namespaces`
ARGUMENT_SPEC = dict(
    name=dict(type='str'),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    loopback_up=dict(type='bool', default=True),
    etc=dict(type='dict'),
)


def _view(name, etc_files):
    exists = netns_exists(name)
    return {
        'name': name,
        'exists': exists,
        'path': netns_path(name),
        'loopback': _netns.loopback_state(name) if exists else None,
        'etc': _netns.read_etc(name, etc_files),
    }


def ensure(ctx, item):
    name = item['name']
    etc = item.get('etc') or {}
    tx = ctx.tx
    start = len(tx.done)
    exists = netns_exists(name)

    if item['state'] == 'absent':
        etc_files = _netns.list_etc(name)
        # a file left by a run killed between umount and unlink: `ip netns list` still shows it
        stale = not exists and os.path.lexists(netns_path(name))
        if not exists and not stale and not etc_files and not os.path.isdir(_netns.etc_dir(name)):
            return ObjectResult(name, None, None, False, [], {'netns': _absent_view(name)})
        if exists:
            before = _view(name, etc_files)
        else:
            before = dict(_absent_view(name), etc=_netns.read_etc(name, etc_files))
        if exists or stale:
            tx.run('delete netns %s' % name, _deleter(ctx, name))
        if etc_files or os.path.isdir(_netns.etc_dir(name)):
            tx.run('remove %s' % _netns.etc_dir(name), lambda: _netns.remove_etc_dir(name))
        return ObjectResult(name, before, None, True, tx.done[start:], {'netns': _absent_view(name)})

    before = _view(name, etc) if exists else None
    predicted = dict(before or _absent_view(name))
    predicted['exists'] = True

    if not exists:
        def create():
            def inside():
                if item['loopback_up']:
                    _netns.set_loopback(None, True)    # this thread is in the new namespace now
            _netns.create_netns(name, inside)
        tx.run('create netns %s' % name, create, _deleter(ctx, name))
        if item['loopback_up']:
            tx.done.append('set lo up in netns %s' % name)
            predicted['loopback'] = 'up'
        else:
            predicted['loopback'] = 'down'
    elif item['loopback_up'] and before['loopback'] != 'up':
        tx.run('set lo up in netns %s' % name, lambda: _netns.set_loopback(name, True),
               lambda: _netns.set_loopback(name, False))
        predicted['loopback'] = 'up'

    current_etc = _netns.read_etc(name, etc)
    predicted['etc'] = dict(current_etc)
    for fname in sorted(etc):
        want, have = etc[fname], current_etc[fname]
        if want == have:
            continue
        verb = 'remove' if want is None else 'write'
        tx.run('%s %s/%s' % (verb, _netns.etc_dir(name), fname),
               _bind(_netns.write_etc_file, name, fname, want),
               _bind(_netns.write_etc_file, name, fname, have))
        predicted['etc'][fname] = want

    changed = len(tx.done) > start
    if not changed:
        return ObjectResult(name, before, before, False, [], {'netns': before})
    after = predicted if ctx.check_mode else _view(name, etc)
    return ObjectResult(name, before, after, True, tx.done[start:], {'netns': after})


def _deleter(ctx, name):
    """Delete netns `name`, closing first the sockets this run holds in it (`_engine.Context.forget`): the
    namespace is gone when the task ends, not when the module process exits."""
    def delete():
        ctx.forget(name)
        _netns.delete_netns(name)
    return delete


def _bind(func, *args):
    return lambda: func(*args)


def _absent_view(name):
    return {'name': name, 'exists': False, 'path': netns_path(name), 'loopback': None, 'etc': {}}


def _validate(items, batch):
    errors = []
    for item in items:
        err = validate_netns_name(item.get('name'))
        if err:
            errors.append(err)
        for fname in item.get('etc') or {}:
            ferr = validate_netns_name(fname, 'file name', template_ok=True)
            if ferr:
                errors.append('%s: etc file %s' % (item.get('name'), ferr))
            value = item['etc'][fname]
            if value is not None and not isinstance(value, str):
                errors.append('%s: content of etc file %s must be a string or null' % (item.get('name'), fname))
    if not errors:
        errors = task_errors(items, lambda i: i['name'], 'duplicate namespaces in batch')
    return errors


class Netns(Spec):
    """One named namespace per object (the module virtnet.linux.netns)."""

    keys = KEYS

    def expand(self, params):
        if params['names'] is not None:
            params['batch'] = [{'name': n} for n in params['names']]
        return expand_batch(params, self.keys)

    def validate_all(self, items, batch):
        return items, _validate(items, batch)

    def provides(self, item):
        return [(netns_key(item['name']), 'netns')]

    def ensure(self, ctx, item):
        return ensure(ctx, item)
