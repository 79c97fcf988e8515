# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The files a daemon reads, owned by the daemon module: their declaration (normalise_files), how they
are on the host against how they are declared (plan_file, plan_directory), writing them atomically
(apply_file: a temporary file in the same directory, owner and mode set before the rename), removing
them, and whether the daemon's user can read them (read_errors), evaluated on the modes the module is
about to set so that check mode gives the same answer.

A file's content digest (sha256) is what the daemon's record keeps: the core compares it with the
record's to decide restart, reload or nothing, so a run killed between a write and the restart is
mended by the next run.
"""

from __future__ import annotations

import errno
import grp
import hashlib
import os
import pwd
import stat
import tempfile

from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError

ON_CHANGE = ('restart', 'reload', 'none')
#: a file's text above this size is not put into the diff (as ansible.builtin.copy does)
DIFF_MAX = 104448
TMP_SUFFIX = '.virtnet-tmp'


def digest(data):
    return hashlib.sha256(data).hexdigest()


def parse_mode(value, what, default):
    """'0644', '644', 0o644 (an int, as YAML reads 0644) -> 0o644."""
    if value is None or value == '':
        value = default
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        text = str(value).strip()
        if text.startswith('0o'):
            text = text[2:]
        if not text or any(c not in '01234567' for c in text):
            raise VirtnetError('%s: mode %r is not an octal number like 0644' % (what, value))
        mode = int(text, 8)
    if not 0 <= mode <= 0o7777:
        raise VirtnetError('%s: mode %r is out of range (0000..7777)' % (what, value))
    return mode


_DATABASES = {
    'user': (pwd.getpwuid, pwd.getpwnam, 'pw_uid', 'pw_name'),
    'group': (grp.getgrgid, grp.getgrnam, 'gr_gid', 'gr_name'),
}


def lookup(kind, name, what):
    """(id, name) of a user or group (`kind`) given by name or id, root when not given; VirtnetError when
    it does not exist."""
    by_id, by_name, id_attr, name_attr = _DATABASES[kind]
    name = 'root' if name is None or name == '' else str(name)
    try:
        entry = by_id(int(name)) if name.isdigit() else by_name(name)
    except KeyError:
        raise VirtnetError('%s: %s %s does not exist on the host' % (what, kind, name))
    return getattr(entry, id_attr), getattr(entry, name_attr)


def check_path(path, what, opt):
    if not isinstance(path, str) or not path:
        raise VirtnetError('%s: %s needs a path' % (what, opt))
    if '\0' in path:
        raise VirtnetError('%s: %s path %r contains a NUL byte' % (what, opt, path))
    if not os.path.isabs(path):
        raise VirtnetError('%s: %s path %r is not absolute' % (what, opt, path))
    if os.path.normpath(path) != path or path.startswith('//'):
        raise VirtnetError('%s: %s path %r is not in its plain form (%s)' % (what, opt, path, os.path.normpath(path)))
    if path == '/':
        raise VirtnetError('%s: %s path must not be /' % (what, opt))
    if path.endswith(TMP_SUFFIX):
        raise VirtnetError('%s: %s path %r ends like the module\'s temporary files' % (what, opt, path))


def _entry(what, kind, i, entry, seen, default_mode):
    """What files and directories share: path, owner, group and mode, checked and looked up."""
    opt = '%s[%d]' % ('files' if kind == 'file' else 'directories', i)
    if not isinstance(entry, dict):
        raise VirtnetError('%s: %s must be a dict with a path' % (what, opt))
    path = entry.get('path')
    check_path(path, what, opt)
    where = '%s: %s %s' % (what, kind, path)
    if path in seen:
        raise VirtnetError('%s: %s is listed twice in files and directories' % (what, path))
    seen[path] = kind
    uid, owner = lookup('user', entry.get('owner'), where)
    gid, group = lookup('group', entry.get('group'), where)
    return where, dict(path=path, mode=parse_mode(entry.get('mode'), where, default_mode), uid=uid, gid=gid,
                       owner=owner, group=group)


def normalise_files(what, files, directories):
    """The declared files and directories of one daemon, validated: lists of dicts with their modes,
    owners and groups as numbers. Raises VirtnetError naming the daemon and the entry."""
    seen = {}
    dirs = [_entry(what, 'directory', i, d, seen, 0o755)[1] for i, d in enumerate(directories or [])]
    out = []
    for i, f in enumerate(files or []):
        where, entry = _entry(what, 'file', i, f, seen, 0o644)
        content = f.get('content')
        if content is None:
            raise VirtnetError('%s: content is required' % where)
        if not isinstance(content, str):
            raise VirtnetError('%s: content must be a string' % where)
        on_change = f.get('on_change') or 'restart'
        if on_change not in ON_CHANGE:
            raise VirtnetError('%s: on_change must be one of %s, not %r' % (where, ', '.join(ON_CHANGE), on_change))
        data = content.encode('utf-8', 'surrogateescape')
        entry.update(data=data, digest=digest(data), on_change=on_change, secret=bool(f.get('secret')))
        out.append(entry)
    for f in out:
        for parent in ancestors(f['path']):
            if seen.get(parent) == 'file':
                raise VirtnetError('%s: %s cannot be a file and the directory of %s' % (what, parent, f['path']))
    return out, dirs


def ancestors(path):
    """'/a/b/c' -> ['/', '/a', '/a/b']."""
    out = []
    parent = os.path.dirname(path)
    while True:
        out.append(parent)
        if parent == '/':
            break
        parent = os.path.dirname(parent)
    return out[::-1]


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# --------------------------------------------------------------------------- what is there

def _stat(func, path, what):
    """func(path) (os.stat or os.lstat); None when the path does not exist."""
    try:
        return func(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VirtnetError('%s: cannot read %s: %s' % (what, path, exc.strerror or exc))


def _missing(path, remove, change):
    return dict(path=path, action='none' if remove else 'create', changes=[] if remove else [change], before=None)


def _attribute_changes(before, want):
    return [name for name, key in (('mode', 'mode'), ('owner', 'uid'), ('group', 'gid')) if before[key] != want[key]]


def plan_file(f, what, remove=False):
    """How file `f` is on the host against its declaration: a dict with action (create, update, remove,
    none), changes (content, mode, owner, group), and what was there (before: data or None, mode, uid, gid).
    Raises VirtnetError when the path is something else than a regular file."""
    path = f['path']
    st = _stat(os.lstat, path, what)
    if st is None:
        return _missing(path, remove, 'content')
    if not stat.S_ISREG(st.st_mode):
        kind = 'a symbolic link' if stat.S_ISLNK(st.st_mode) else 'a directory' if stat.S_ISDIR(st.st_mode) else 'not a regular file'
        raise VirtnetError('%s: %s is %s; the module writes regular files only' % (what, path, kind))
    before = dict(mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid, size=st.st_size, data=None)
    if remove:
        return dict(path=path, action='remove', changes=['content'], before=before)
    changes = []
    if st.st_size != len(f['data']):
        changes.append('content')
        if st.st_size <= DIFF_MAX:
            before['data'] = _read(path, what)
    else:
        before['data'] = _read(path, what)
        if before['data'] != f['data']:
            changes.append('content')
    changes += _attribute_changes(before, f)
    return dict(path=path, action='update' if changes else 'none', changes=changes, before=before)


def _read(path, what):
    try:
        with open(path, 'rb') as fh:
            return fh.read()
    except OSError as exc:
        raise VirtnetError('%s: cannot read %s: %s' % (what, path, exc.strerror or exc))


def plan_directory(d, what, remove=False):
    """How directory `d` is on the host: action create, update, remove (state absent; done only if it is
    empty then) or none; changes (created, mode, owner, group)."""
    path = d['path']
    st = _stat(os.stat, path, what)
    if st is None:
        return _missing(path, remove, 'created')
    if not stat.S_ISDIR(st.st_mode):
        raise VirtnetError('%s: %s is not a directory' % (what, path))
    before = dict(mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)
    if remove:
        return dict(path=path, action='remove', changes=[], before=before)
    changes = _attribute_changes(before, d)
    return dict(path=path, action='update' if changes else 'none', changes=changes, before=before)


# --------------------------------------------------------------------------- changing them

def make_directory(d):
    """Create directory `d` (its missing parents 0755 root:root, as mkdir -p) or fix its mode and owner."""
    path = d['path']
    missing = [p for p in ancestors(path) if not os.path.isdir(p)]
    for parent in missing:
        try:
            os.mkdir(parent, 0o755)
        except FileExistsError:
            pass
        os.chmod(parent, 0o755)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    os.chown(path, d['uid'], d['gid'])
    os.chmod(path, d['mode'])


def write_file(f):
    """Write `f` atomically: a temporary file in the same directory, owner and mode set, then renamed
    over the path (a reader sees the old content or the new, never a part)."""
    path = f['path']
    directory, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % base, suffix=TMP_SUFFIX, dir=directory)
    try:
        try:
            view = memoryview(f['data'])
            while view:
                view = view[os.write(fd, view):]
            os.fchown(fd, f['uid'], f['gid'])
            os.fchmod(fd, f['mode'])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def apply_file(f, plan):
    """Carry out plan_file's plan for `f`."""
    if plan['action'] in ('create',) or 'content' in plan['changes']:
        write_file(f)
    elif plan['changes']:
        os.chown(f['path'], f['uid'], f['gid'])      # chown first: it clears set-id bits that chmod then sets
        os.chmod(f['path'], f['mode'])


def remove_path(path):
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def remove_directory(path):
    """rmdir if empty: True when removed, False when it is not empty or gone."""
    try:
        os.rmdir(path)
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
            return False
        raise


def would_be_empty(path, removed):
    """Whether directory `path` is empty once the paths in `removed` are gone (check mode's prediction)."""
    try:
        entries = os.listdir(path)
    except OSError:
        return False
    return all(os.path.join(path, e) in removed for e in entries)


# --------------------------------------------------------------------------- who can read them

def reader(name, what):
    """(name, uid, groups) of the user a daemon reads its files as; None for root (no check)."""
    if name is None or name == '':
        return None
    name = str(name)
    try:
        pw = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        raise VirtnetError('%s: read_as user %s does not exist on the host' % (what, name))
    if pw.pw_uid == 0:
        return None
    try:
        groups = set(os.getgrouplist(pw.pw_name, pw.pw_gid))
    except OSError:
        groups = {pw.pw_gid}
    return pw.pw_name, pw.pw_uid, groups


def allowed(uid, groups, attrs, bits):
    """Whether a user (uid, groups) has `bits` (4 read, 1 search) on attributes (mode, uid, gid), as the
    kernel decides from the mode bits: the owner's bits for the owner, else the group's for a member,
    else the others'. (ACLs and capabilities are not looked at.)"""
    mode, ouid, ogid = attrs
    if uid == 0:
        return True
    if uid == ouid:
        return (mode >> 6) & bits == bits
    if ogid in groups:
        return (mode >> 3) & bits == bits
    return mode & bits == bits


def attributes(path, declared):
    """(mode, uid, gid) of `path` once the task has run: declared (a file or directory of the task),
    else as it is, else 0755 root:root (a parent the task makes)."""
    if path in declared:
        return declared[path]
    try:
        st = os.stat(path)
    except OSError:
        return (0o755, 0, 0)
    return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def read_error(what, who, path, is_file, declared):
    """Why user `who` (reader()) cannot read file `path` (or enter directory `path`): a message naming
    the first directory or the file that blocks it, or None."""
    name, uid, groups = who
    for part in ancestors(path) + [path]:
        attrs = attributes(part, declared)
        bits = 4 if (part == path and is_file) else 1
        if not allowed(uid, groups, attrs, bits):
            return ('%s: %s cannot %s %s: %s is mode %04o owned by %s:%s'
                    % (what, name, 'read' if is_file else 'enter', path, part, attrs[0],
                       user_name(attrs[1]), group_name(attrs[2])))
    return None
