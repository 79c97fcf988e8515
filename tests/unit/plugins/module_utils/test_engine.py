# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of the engine: differences, the transaction, batches (no kernel involved)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    Context, Differences, Spec, Transaction, expand_batch, find_duplicates, lock_dir, merge_item, netns_errors,
    task_errors,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import lock_holders
from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError


def test_compare_ignores_unmanaged_options():
    d = Differences()
    assert d.compare('mtu', None, 1500) is False
    assert d.empty


def test_compare_records_before_and_after():
    d = Differences()
    assert d.compare('mtu', 1400, 1500) is True
    assert d.compare('link_state', 'up', 'up') is False
    assert d.keys() == ['mtu']
    assert d.before_after() == ({'mtu': 1500}, {'mtu': 1400})
    assert 'mtu' in d and 'link_state' not in d


def test_compare_normalise():
    d = Differences()
    assert not d.compare('address', '02:AA:00:00:00:01', '02:aa:00:00:00:01', normalise=str.lower)
    assert d.empty


def test_recreate_marks():
    d = Differences()
    d.compare('mode', 'tap', 'tun', recreate=True)
    d.compare('mtu', 1400, 1500)
    assert [x.key for x in d.needs_recreate] == ['mode']
    assert [x.key for x in d.in_place] == ['mtu']


def test_transaction_check_mode_plans_without_acting():
    calls = []
    tx = Transaction(check_mode=True)
    tx.run('create x', lambda: calls.append('create'), lambda: calls.append('undo'))
    assert tx.changed and tx.done == ['create x']
    assert calls == []
    assert tx.rollback() == ([], [])


def test_transaction_rollback_in_reverse_order():
    calls = []
    tx = Transaction()
    tx.run('a', lambda: calls.append('a'), lambda: calls.append('undo a'))
    tx.run('b', lambda: calls.append('b'))                       # no undo (a delete, say)
    tx.run('c', lambda: calls.append('c'), lambda: calls.append('undo c'))
    undone, errors = tx.rollback()
    assert calls == ['a', 'b', 'c', 'undo c', 'undo a']
    assert undone == ['c', 'a'] and errors == []


def test_transaction_failed_action_is_not_undone():
    calls = []
    tx = Transaction()
    tx.run('a', lambda: calls.append('a'), lambda: calls.append('undo a'))

    def boom():
        raise VirtnetError('boom')
    with pytest.raises(VirtnetError):
        tx.run('b', boom, lambda: calls.append('undo b'))
    tx.rollback()
    assert calls == ['a', 'undo a']


def test_transaction_rollback_reports_undo_errors():
    tx = Transaction()

    def bad_undo():
        raise VirtnetError('cannot')
    tx.run('a', lambda: None, bad_undo)
    undone, errors = tx.rollback()
    assert undone == [] and errors == ['undo of "a" failed: cannot']


def test_commit_forgets_undo():
    calls = []
    tx = Transaction()
    tx.run('a', lambda: None, lambda: calls.append('undo'))
    tx.commit()
    tx.rollback()
    assert calls == []


def test_expand_batch_single():
    items, batch = expand_batch({'name': 'x', 'state': 'present', 'batch': None}, ['name', 'state'])
    assert items == [{'name': 'x', 'state': 'present'}] and batch is False


def test_expand_batch_defaults_from_top_level():
    params = {'name': None, 'state': 'present', 'mtu': 1400,
              'batch': [{'name': 'a'}, {'name': 'b', 'mtu': 9000, 'state': None}]}
    items, batch = expand_batch(params, ['name', 'state', 'mtu'])
    assert batch is True
    assert items == [{'name': 'a', 'state': 'present', 'mtu': 1400},
                     {'name': 'b', 'state': 'present', 'mtu': 9000}]


def test_expand_batch_empty_list_is_a_batch():
    items, batch = expand_batch({'name': None, 'batch': []}, ['name'])
    assert items == [] and batch is True


def test_merge_item_false_is_kept():
    assert merge_item({'loopback_up': True}, {'loopback_up': False}, ['loopback_up']) == {'loopback_up': False}


def test_find_duplicates():
    assert find_duplicates(['a', 'b', 'a', 'c', 'a', 'b'], lambda x: x) == ['a', 'b']
    assert find_duplicates([], lambda x: x) == []


def test_netns_errors_name_each_object_and_skip_the_task_namespace():
    missing = 'virtnet-unit-no-such-netns'
    items = [{'name': 'a', 'netns': missing}, {'name': 'b', 'netns': ''}, {'name': 'c', 'netns': missing}]
    errors = netns_errors(items, lambda i: [(i['netns'], 'needed by %s' % i['name'])])
    assert errors == ['netns %s not found (needed by a)' % missing, 'netns %s not found (needed by c)' % missing]


def test_task_errors_duplicates_first_then_namespaces():
    missing = 'virtnet-unit-no-such-netns'

    def needs(item):
        return [(item['netns'], 'needed by %s' % item['name'])]

    twice = [{'name': 'a', 'netns': missing}, {'name': 'a', 'netns': missing}]
    assert task_errors(twice, lambda i: i['name'], 'duplicate devices in batch', needs) == \
        ['duplicate devices in batch: a']
    once = [{'name': 'a', 'netns': missing}, {'name': 'b', 'netns': ''}]
    assert task_errors(once, lambda i: i['name'], 'duplicate devices in batch', needs) == \
        ['netns %s not found (needed by a)' % missing]
    assert task_errors(once, lambda i: i['name'], 'duplicate devices in batch') == []


def test_spec_defaults_expand_the_batch_and_find_nothing_wrong():
    class One(Spec):
        keys = ('name', 'state')
    spec = One()
    items, batch = spec.expand({'name': None, 'state': 'present', 'batch': [{'name': 'x'}]})
    assert (items, batch) == ([{'name': 'x', 'state': 'present'}], True)
    assert spec.validate_all(items, batch) == (items, [])
    assert spec.resolve_all(None, items) == []
    assert spec.order(items) is None
    with pytest.raises(NotImplementedError):
        spec.ensure(None, items[0])


# --------------------------------------------------------------------------- the host lock

def test_lock_dir_is_made_private(tmp_path):
    path = str(tmp_path / 'lockdir')
    assert lock_dir(path) == path
    assert os.stat(path).st_mode & 0o777 == 0o700


def test_lock_dir_writable_by_others_is_refused(tmp_path):
    path = tmp_path / 'lockdir'
    path.mkdir()
    path.chmod(0o777)
    with pytest.raises(VirtnetError, match=r'can be written by other users \(mode 0777\): refusing'):
        lock_dir(str(path))


def test_lock_dir_symlink_is_refused(tmp_path):
    (tmp_path / 'real').mkdir(mode=0o700)
    os.symlink(str(tmp_path / 'real'), str(tmp_path / 'link'))
    with pytest.raises(VirtnetError, match='is not a directory: refusing'):
        lock_dir(str(tmp_path / 'link'))


def test_lock_holders_from_proc_locks(tmp_path):
    lock = tmp_path / 'lock'
    lock.write_text('1\n')
    fd = os.open(str(lock), os.O_RDONLY)
    try:
        st = os.fstat(fd)
        proc = tmp_path / 'proc'
        (proc / '4321').mkdir(parents=True)
        (proc / '4321' / 'cmdline').write_bytes(b'flock\0/run/virtnet.linux/lock\0sleep\x0060\0')
        ident = '%02x:%02x:%d' % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
        (proc / 'locks').write_text('1: FLOCK  ADVISORY  WRITE 4321 %s 0 EOF\n'
                                    '1: -> FLOCK  ADVISORY  WRITE 999 %s 0 EOF\n'
                                    '2: POSIX  ADVISORY  WRITE 77 %s 0 EOF\n' % (ident, ident, ident))
        assert lock_holders(fd, str(lock), str(proc)) == 'pid 4321 (flock /run/virtnet.linux/lock sleep 60)'
        # not in /proc/locks: what the holder wrote into the file
        (proc / 'locks').write_text('')
        lock.write_text('4321\n')
        assert lock_holders(fd, str(lock), str(proc)) == 'pid 4321 (flock /run/virtnet.linux/lock sleep 60)'
        lock.write_text('')
        assert lock_holders(fd, str(lock), str(proc)) == 'an unknown process'
    finally:
        os.close(fd)


def test_context_forget_closes_only_socket_sets_it_has():
    class Module(object):
        check_mode = False

    class Rt(object):
        forgotten = []

        def forget(self, netns):
            self.forgotten.append(netns)

    ctx = Context(Module())
    ctx.forget('a')                     # no socket opened yet: none is opened to be closed
    assert ctx._rt is None              # pylint: disable=protected-access
    ctx._rt = Rt()                      # pylint: disable=protected-access
    ctx.forget('a')
    assert Rt.forgotten == ['a']
