# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The daemon module's files: declaration, comparison, atomic writes, and who can read them."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError
from ansible_collections.virtnet.linux.plugins.module_utils._daemon import files as F


def declare(*files, **kw):
    return F.normalise_files('daemon d1', list(files), kw.get('directories'))


def test_defaults_and_digest():
    (f,), dirs = declare({'path': '/etc/x/a.conf', 'content': 'x=1\n'})
    assert (f['mode'], f['uid'], f['gid'], f['on_change'], f['secret']) == (0o644, 0, 0, 'restart', False)
    assert f['data'] == b'x=1\n'
    assert f['digest'] == F.digest(b'x=1\n') and len(f['digest']) == 64
    assert dirs == []
    (d,) = declare(directories=[{'path': '/etc/x'}])[1]
    assert (d['mode'], d['owner'], d['group']) == (0o755, 'root', 'root')


@pytest.mark.parametrize('value,mode', [('0640', 0o640), ('640', 0o640), ('0o750', 0o750), (0o600, 0o600),
                                        ('2755', 0o2755)])
def test_modes(value, mode):
    assert F.parse_mode(value, 'x', 0o644) == mode


@pytest.mark.parametrize('entry,part', [
    ({'path': 'rel/a', 'content': ''}, "files[0] path 'rel/a' is not absolute"),
    ({'path': '/etc/../a', 'content': ''}, 'is not in its plain form (/a)'),
    ({'path': '/etc/x/', 'content': ''}, 'is not in its plain form (/etc/x)'),
    ({'path': '/', 'content': ''}, 'must not be /'),
    ({'path': '/a\0b', 'content': ''}, 'contains a NUL byte'),
    ({'path': '/etc/a', 'content': '', 'mode': '0999'}, "file /etc/a: mode '0999' is not an octal number"),
    ({'path': '/etc/a', 'content': '', 'mode': '17777'}, 'out of range'),
    ({'path': '/etc/a', 'content': '', 'owner': 'vd-no-such-user'}, 'file /etc/a: user vd-no-such-user does not exist'),
    ({'path': '/etc/a', 'content': '', 'group': 'vd-no-such-group'}, 'group vd-no-such-group does not exist'),
    ({'path': '/etc/a', 'content': '', 'on_change': 'kill'}, 'on_change must be one of restart, reload, none'),
    ({'path': '/etc/a'}, 'file /etc/a: content is required'),
])
def test_bad_files_name_the_daemon_and_the_file(entry, part):
    with pytest.raises(VirtnetError) as exc:
        declare(entry)
    assert exc.value.msg.startswith('daemon d1: ')
    assert part in exc.value.msg


def test_a_path_twice_or_a_file_as_a_directory():
    with pytest.raises(VirtnetError, match='/etc/a is listed twice'):
        declare({'path': '/etc/a', 'content': ''}, {'path': '/etc/a', 'content': 'x'})
    with pytest.raises(VirtnetError, match='/etc/a is listed twice'):
        declare({'path': '/etc/a', 'content': ''}, directories=[{'path': '/etc/a'}])
    with pytest.raises(VirtnetError, match='/etc/a cannot be a file and the directory of /etc/a/b'):
        declare({'path': '/etc/a', 'content': ''}, {'path': '/etc/a/b', 'content': ''})


def test_ancestors():
    assert F.ancestors('/a/b/c') == ['/', '/a', '/a/b']
    assert F.ancestors('/a') == ['/']


def test_plan_create_update_metadata_none(tmp_path):
    path = str(tmp_path / 'f')
    (f,), dummy = declare({'path': path, 'content': 'new\n', 'mode': '0600'})
    assert F.plan_file(f, 'd')['action'] == 'create'
    with open(path, 'w') as fh:
        fh.write('old\n')
    os.chmod(path, 0o644)
    p = F.plan_file(f, 'd')
    assert p['action'] == 'update' and p['changes'] == ['content', 'mode'] and p['before']['data'] == b'old\n'
    F.apply_file(f, p)
    assert open(path).read() == 'new\n' and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert F.plan_file(f, 'd')['action'] == 'none'
    os.chmod(path, 0o640)
    p = F.plan_file(f, 'd')
    assert p['changes'] == ['mode']
    ino = os.stat(path).st_ino
    F.apply_file(f, p)
    assert os.stat(path).st_ino == ino, 'a mode change must not rewrite the file'
    assert F.plan_file(f, 'd', remove=True)['action'] == 'remove'


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = str(tmp_path / 'f')
    with open(path, 'w') as fh:
        fh.write('old\n')
    ino = os.stat(path).st_ino
    (f,), dummy = declare({'path': path, 'content': 'new\n', 'mode': '0640'})
    F.write_file(f)
    assert os.stat(path).st_ino != ino, 'written to a new inode and renamed over the path'
    assert sorted(os.listdir(str(tmp_path))) == ['f']


def test_a_failed_write_removes_its_temporary_file(tmp_path):
    (f,), dummy = declare({'path': str(tmp_path / 'f'), 'content': 'x'})
    f['data'] = None    # the write fails after the temporary file was made
    with pytest.raises(TypeError):
        F.write_file(f)
    assert os.listdir(str(tmp_path)) == []


def test_not_a_regular_file_is_refused(tmp_path):
    link = tmp_path / 'link'
    os.symlink('/etc/hostname', str(link))
    (f,), dummy = declare({'path': str(link), 'content': ''})
    with pytest.raises(VirtnetError, match='is a symbolic link; the module writes regular files only'):
        F.plan_file(f, 'daemon d1')
    (f,), dummy = declare({'path': str(tmp_path), 'content': ''})
    with pytest.raises(VirtnetError, match='is a directory'):
        F.plan_file(f, 'daemon d1')


def test_directory_created_with_parents_and_removed_only_when_empty(tmp_path):
    path = str(tmp_path / 'a' / 'b')
    dummy, (d,) = declare(directories=[{'path': path, 'mode': '0750'}])
    assert F.plan_directory(d, 'x')['action'] == 'create'
    F.make_directory(d)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(str(tmp_path / 'a')).st_mode) == 0o755
    assert F.plan_directory(d, 'x')['action'] == 'none'
    open(os.path.join(path, 'leases'), 'w').close()
    assert F.would_be_empty(path, set()) is False
    assert F.would_be_empty(path, {os.path.join(path, 'leases')}) is True
    assert F.remove_directory(path) is False
    os.unlink(os.path.join(path, 'leases'))
    assert F.remove_directory(path) is True


@pytest.mark.parametrize('attrs,bits,ok', [
    ((0o700, 0, 0), 1, False),          # root's private directory
    ((0o711, 0, 0), 1, True),           # others may search
    ((0o750, 0, 65534), 1, True),       # the user's group may
    ((0o075, 65534, 0), 1, False),      # the owner's bits count for the owner, not the others'
    ((0o644, 0, 0), 4, True),
    ((0o640, 0, 0), 4, False),
    ((0o600, 65534, 0), 4, True),
])
def test_allowed_by_mode_bits(attrs, bits, ok):
    assert F.allowed(65534, {65534}, attrs, bits) is ok


def test_read_error_names_what_blocks_on_the_modes_to_be():
    top = '/vd-not-there'       # missing: a parent the task would make (0755 root), unless declared
    who = ('nobody', 65534, {65534})
    hosts = os.path.join(top, 'x', '42', 'hosts')
    declared = {os.path.join(top, 'x'): (0o700, 0, 0), os.path.join(top, 'x', '42'): (0o755, 0, 0),
                hosts: (0o644, 0, 0)}
    err = F.read_error('daemon dnsmasq-42', who, hosts, True, declared)
    assert err == ('daemon dnsmasq-42: nobody cannot read %s: %s is mode 0700 owned by root:root'
                   % (hosts, os.path.join(top, 'x')))
    declared[os.path.join(top, 'x')] = (0o755, 0, 0)
    assert F.read_error('daemon dnsmasq-42', who, hosts, True, declared) is None
    declared[hosts] = (0o600, 0, 0)
    assert F.read_error('d', who, hosts, True, declared).endswith('%s is mode 0600 owned by root:root' % hosts)
    # a directory the task makes as a parent is 0755 root: passable
    assert F.read_error('d', who, os.path.join(top, 'new', 'dir'), False, {}) is None
    assert F.read_error('d', who, os.path.join(top, 'new', 'dir'), False, {top: (0o750, 0, 0)}) is not None


def test_reader_of_root_is_no_check():
    assert F.reader('root', 'x') is None and F.reader('0', 'x') is None and F.reader(None, 'x') is None
    name, uid, groups = F.reader('nobody', 'x')
    assert (name, uid) == ('nobody', 65534) and 65534 in groups
    with pytest.raises(VirtnetError, match='read_as user vd-nobody-here does not exist'):
        F.reader('vd-nobody-here', 'daemon d1')
