# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""One way to supervise long-running processes, optionally inside named network namespaces.

The core of the daemon module: the desired state of each daemon (normalise), what its running instance
was started with (the record), what to do (differences, plan) and the run over all daemons of a task
(ensure), which drives the back ends through one interface (base.Backend) and never branches on which
one it has:

- systemd (systemd.py): a unit `virtnet-NAME.service` driven with systemctl;
- pidfile (pidfile.py): a detached process, its PID in a pid file, checked through /proc.

What the running instance was started with (argv, namespace, user, restart/reload keys) is kept in a
small JSON record next to it, written only after the process is up: a run killed half-way leaves a
record that does not match, and the next run restarts instead of trusting it.

A task's daemons are handled together: validated before anything changes, then read (one call per back
end), then acted on; the starts of all of them are confirmed in one wait. A daemon that fails does not
stop the others: each one's problem is collected and the task fails naming all of them.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import signal
import time

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, hold_lock, netns_exists, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.base import (
    STATE_DIR, default_path, makedirs, remove_file,
)
from ansible_collections.virtnet.linux.plugins.module_utils._daemon import files as _files
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.files import normalise_files, reader
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.pidfile import PidfileBackend
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.systemd import SystemdBackend

NAME_RE = re.compile(r'^[A-Za-z0-9_.@-]{1,64}$')
BACKENDS = {'systemd': SystemdBackend, 'pidfile': PidfileBackend}
LOCK_TIMEOUT = 300
#: what outlives a reboot: the start counter, and the record of a daemon that starts at boot
PERSIST_DIR = '/var/lib/virtnet/daemon'
#: the states in which a daemon with boot starts at boot
BOOT_STATES = ('started', 'restarted', 'reloaded')
#: seconds a started process may take to turn into the declared one beyond start_wait
LATE_AFTER = 10

# capability names setpriv and systemd both understand (capabilities(7), kernel 6.x)
CAPABILITIES = (
    'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
    'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
    'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
    'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
    'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
    'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN',
    'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF',
    'CAP_CHECKPOINT_RESTORE',
)


# --------------------------------------------------------------------------- desired state

def normalise(params, detect=None):
    """Validate one daemon's parameters; return the desired spec or raise VirtnetError.

    Everything that can be checked without touching the system is checked here, so that a bad
    input changes nothing (also in check mode). service_manager 'auto' is resolved by `detect()`
    (default: detect_service_manager)."""
    name = params['name']
    what = 'daemon %s' % name
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise VirtnetError('invalid daemon name %r: 1 to 64 of A-Z a-z 0-9 _ . @ -' % (name,))
    state = params['state']
    argv = params.get('argv')
    if state in ('started', 'restarted', 'reloaded'):
        if not argv:
            raise VirtnetError('%s: argv is required with state=%s' % (what, state))
    argv = list(argv or [])
    for i, arg in enumerate(argv):
        if not isinstance(arg, str):
            raise VirtnetError('%s: argv[%d] must be a string' % (what, i))
        if '\0' in arg:
            raise VirtnetError('%s: argv[%d] contains a NUL byte' % (what, i))
    if argv and not argv[0]:
        raise VirtnetError('%s: argv[0] (the program) must not be empty' % what)
    netns = params.get('netns') or ''
    if netns:
        err = validate_netns_name(netns)
        if err:
            raise VirtnetError('%s: %s' % (what, err))
    user, group = params.get('user'), params.get('group')
    uid = gid = None
    if user:
        try:
            pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
        except KeyError:
            raise VirtnetError('%s: user %s does not exist on the host' % (what, user))
        uid, gid = pw.pw_uid, pw.pw_gid
        user = pw.pw_name
    if group:
        try:
            gr = grp.getgrnam(group) if not group.isdigit() else grp.getgrgid(int(group))
        except KeyError:
            raise VirtnetError('%s: group %s does not exist on the host' % (what, group))
        gid = gr.gr_gid
        group = gr.gr_name
    elif user:
        try:
            group = grp.getgrgid(gid).gr_name
        except KeyError:
            group = str(gid)
    caps = []
    for cap in params.get('ambient_capabilities') or []:
        c = cap.upper()
        if not c.startswith('CAP_'):
            c = 'CAP_' + c
        if c not in CAPABILITIES:
            raise VirtnetError('%s: unknown capability %r in ambient_capabilities' % (what, cap))
        if c not in caps:
            caps.append(c)
    if caps and not user:
        raise VirtnetError('%s: ambient_capabilities need user (root has every capability already)' % what)
    sig = (params.get('reload_signal') or 'HUP').upper()
    if sig.startswith('SIG'):
        sig = sig[3:]
    if not hasattr(signal, 'SIG' + sig) or sig in ('KILL', 'STOP'):
        raise VirtnetError('%s: unknown or unusable reload_signal %r' % (what, params.get('reload_signal')))
    env = {}
    for key, value in (params.get('environment') or {}).items():
        if not key or '=' in key or '\0' in key or '\n' in key:
            raise VirtnetError('%s: invalid environment variable name %r' % (what, key))
        value = '' if value is None else str(value)
        if '\0' in value or '\n' in value:
            raise VirtnetError('%s: environment variable %s contains a NUL byte or a newline' % (what, key))
        env[key] = value
    for opt in ('pidfile', 'log_file'):
        path = params.get(opt)
        if path and not os.path.isabs(path):
            raise VirtnetError('%s: %s must be an absolute path, not %r' % (what, opt, path))
    start_wait = params.get('start_wait')
    start_wait = 1.0 if start_wait is None else float(start_wait)
    if not 0 <= start_wait <= 300:
        raise VirtnetError('%s: start_wait must be between 0 and 300 seconds' % what)
    stop_timeout = params.get('stop_timeout')
    stop_timeout = 10 if stop_timeout is None else int(stop_timeout)
    if not 1 <= stop_timeout <= 3600:
        raise VirtnetError('%s: stop_timeout must be between 1 and 3600 seconds' % what)
    kind = params.get('service_manager') or 'auto'
    if kind == 'auto':
        kind = (detect or detect_service_manager)()
    declared, directories = normalise_files(what, params.get('files'), params.get('directories'))
    log_errors = []
    for i, pattern in enumerate(params.get('log_errors') or []):
        try:
            log_errors.append(re.compile(pattern))
        except (re.error, TypeError) as exc:
            raise VirtnetError('%s: log_errors[%d] %r is not a regular expression: %s' % (what, i, pattern, exc))
    binds = []
    for i, bind in enumerate(params.get('bind_paths') or []):
        src, sep, dst = str(bind).partition(':')
        if not sep or not os.path.isabs(src) or not os.path.isabs(dst) or ':' in dst or '\n' in bind:
            raise VirtnetError('%s: bind_paths[%d] %r must be SOURCE:DESTINATION, two absolute paths' % (what, i, bind))
        binds.append('%s:%s' % (os.path.normpath(src), os.path.normpath(dst)))
    read_as = params.get('read_as')
    return dict(
        boot=bool(params.get('boot')) and state in BOOT_STATES,
        name=name, state=state, service_manager=kind, argv=argv, netns=netns, user=user or None, group=group or None,
        uid=uid, gid=gid, capabilities=caps, environment=env, bind_paths=binds,
        restart_key=params.get('restart_key'), reload_key=params.get('reload_key'), reload_signal=sig,
        pidfile=params.get('pidfile') or default_path(name, 'pid'),
        log_file=params.get('log_file') or default_path(name, 'log'),
        start_wait=start_wait, stop_timeout=stop_timeout,
        files=declared, directories=directories, log_errors=log_errors,
        reader=reader(user if read_as is None else read_as, what) if state != 'absent' else None,
    )


def detect_service_manager():
    """'systemd' when the host's PID 1 is systemd and it is up (as sd_booted() decides), else 'pidfile'."""
    if not os.path.isdir('/run/systemd/system'):
        return 'pidfile'
    try:
        with open('/proc/1/comm') as f:
            return 'systemd' if f.read().strip() == 'systemd' else 'pidfile'
    except OSError:
        return 'pidfile'


# --------------------------------------------------------------------------- the record

def record_path(name):
    return default_path(name, 'json')


def read_json(path):
    """A JSON object kept by the module (a record): {} when missing or unreadable."""
    try:
        with open(path) as f:
            rec = json.load(f)
        return rec if isinstance(rec, dict) else {}
    except (OSError, ValueError):
        return {}


def write_json(path, rec):
    """Atomically, root's only (a record holds the digests of secret files)."""
    makedirs(os.path.dirname(path))
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, 'w') as f:
        os.fchmod(fd, 0o600)
        json.dump(rec, f, sort_keys=True)
    os.rename(tmp, path)


def read_record(name):
    return read_json(record_path(name))


def write_record(name, rec):
    write_json(record_path(name), rec)


def persist_path(name):
    return os.path.join(PERSIST_DIR, '%s.json' % name)


def read_persist(name):
    """What outlives a reboot (/var/lib/virtnet/daemon/NAME.json): `starts`, the number of starts this
    module made of the daemon, and - while the daemon starts at boot (boot, systemd) - `record`, the record
    of what the unit starts it with (the record in /run is gone after a reboot)."""
    return read_json(persist_path(name))


def write_persist(name, starts, record):
    write_json(persist_path(name), {'starts': starts, 'record': record})


def file_digests(spec):
    return dict((f['path'], f['digest']) for f in spec['files'])


def new_record(spec, pid, starts=0):
    kind = spec['service_manager']
    return dict(starts=starts, argv=spec['argv'], netns=spec['netns'], user=spec['user'], group=spec['group'],
                capabilities=spec['capabilities'], environment=spec['environment'], bind_paths=spec['bind_paths'],
                restart_key=spec['restart_key'], reload_key=spec['reload_key'], pid=pid,
                service_manager=kind, pidfile=spec['pidfile'] if kind == 'pidfile' else None,
                files=file_digests(spec), started=time.time())


# --------------------------------------------------------------------------- differences

def changed_files(spec, record, plans, on_change):
    """The declared files of class `on_change` whose content the running process has not seen: written by
    this run (changed on disk, or new), or different from the digest the record keeps (a run killed
    between writing it and acting on it)."""
    seen = record.get('files') or {}
    return [f['path'] for f, p in zip(spec['files'], plans)
            if f['on_change'] == on_change and ('content' in p['changes'] or seen.get(f['path']) != f['digest'])]


def differences(spec, current):
    """Why a running instance does not match the spec: the reasons for a restart (empty: none)."""
    why = []
    if current.get('unit_differs'):
        why.append('unit file')
    if current.get('argv') is not None and current['argv'] != spec['argv']:
        why.append('command line')
    if not current.get('in_netns', True):
        why.append('network namespace')
    if spec['uid'] is not None and current.get('uid') not in (None, spec['uid']):
        why.append('user')
    rec = current.get('record') or {}
    if not rec:
        why.append('no record of how it was started')
    else:
        for key in ('argv', 'netns', 'user', 'group', 'capabilities', 'environment', 'bind_paths'):
            if (rec.get(key) or None) != (spec[key] or None):
                why.append({'argv': 'command line', 'netns': 'network namespace'}.get(key, key))
        if rec.get('restart_key') != spec['restart_key']:
            why.append('restart_key')
        why.extend('file %s' % path for path in current.get('restart_files') or [])
    out = []
    for w in why:
        if w not in out:
            out.append(w)
    return out


def reload_reasons(spec, current):
    """Why a running instance is sent reload_signal (when no restart is due)."""
    rec = current.get('record') or {}
    why = ['reload_key'] if rec.get('reload_key') != spec['reload_key'] else []
    return why + ['file %s' % path for path in current.get('reload_files') or []]


def plan(spec, current):
    """The action for the desired state given the current one:
    none | start | restart | reload | stop | remove."""
    state = spec['state']
    running = current['running']
    if state == 'absent':
        return 'remove' if (running or current.get('exists')) else 'none'
    if state == 'stopped':
        return 'stop' if running else 'none'
    if not running:
        return 'start'
    if state == 'restarted':
        return 'restart'
    if differences(spec, current):
        return 'restart'
    if state == 'reloaded' or reload_reasons(spec, current):
        return 'reload'
    return 'none'


ACTIONS = {'start': 'started', 'restart': 'restarted', 'reload': 'reloaded', 'stop': 'stopped',
           'remove': 'removed', 'none': 'none'}
FILE_ACTIONS = {'create': 'created', 'update': 'updated', 'remove': 'removed', 'none': 'none', 'keep': 'kept'}


def view(current, kind):
    """What diff shows of one side."""
    if not current['running']:
        return dict(state='stopped' if current.get('exists') else 'absent')
    rec = current.get('record') or {}
    return dict(state='running', pid=current['pid'], service_manager=kind,
                argv=rec.get('argv', current.get('argv')), netns=rec.get('netns', ''),
                user=rec.get('user'), restart_key=rec.get('restart_key'), reload_key=rec.get('reload_key'))


def predicted(spec, action):
    """What diff shows of the side after, in check mode (and of an action that has not happened)."""
    if action == 'stop':
        return dict(state='stopped')
    if action == 'remove':
        return dict(state='absent')
    return dict(state='running', pid='(new)' if action in ('start', 'restart') else '(same)',
                service_manager=spec['service_manager'], argv=spec['argv'], netns=spec['netns'],
                user=spec['user'], restart_key=spec['restart_key'], reload_key=spec['reload_key'])


def _text(data, secret):
    if secret:
        return '(secret content not shown)\n'
    if data is None:
        return '(not shown: larger than %d bytes)\n' % _files.DIFF_MAX
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        return '(binary content not shown)\n'


def _attrs(mode, uid, gid):
    return dict(mode='%04o' % mode, owner=_files.user_name(uid), group=_files.group_name(gid))


def file_diffs(f, p):
    """Diff entries of one declared file: its text before and after (a secret file's never), and its
    attributes when only they change."""
    if p['action'] == 'none':
        return []
    path, before = p['path'], p['before']
    out = []
    if 'content' in p['changes']:
        header = path + (' (secret)' if f['secret'] else '')
        if p['action'] == 'remove':
            old, new = _text(before['data'] if before['size'] <= _files.DIFF_MAX else None, f['secret']), ''
        elif before is None:
            old, new = '', _text(f['data'], f['secret'])
        else:
            old = _text(before['data'], f['secret'])
            new = _text(f['data'], f['secret'])
            if f['secret']:
                new = '(secret content not shown, changed)\n'
        out.append(dict(before_header=header, after_header=header, before=old, after=new))
    meta = [c for c in p['changes'] if c != 'content']
    if meta and before is not None:
        out.append(dict(before_header=path + ' (attributes)', after_header=path + ' (attributes)',
                        before=_attrs(before['mode'], before['uid'], before['gid']),
                        after=_attrs(f['mode'], f['uid'], f['gid'])))
    return out


def directory_diffs(d, p):
    if p['action'] in ('none', 'keep'):
        return []
    before = p['before']
    b = _attrs(before['mode'], before['uid'], before['gid']) if before else {}
    a = {} if p['action'] == 'remove' else _attrs(d['mode'], d['uid'], d['gid'])
    b['state'] = 'directory' if before else 'absent'
    a['state'] = 'absent' if p['action'] == 'remove' else 'directory'
    header = d['path'] + ' (directory)'
    return [dict(before_header=header, after_header=header, before=b, after=a)]


# --------------------------------------------------------------------------- the run

class Daemon(object):
    """One daemon of a task through its run: spec, what was found, the plan, what happened."""

    def __init__(self, spec, backend):
        self.spec = spec
        self.name = spec['name']
        self.backend = backend
        self.record = {}
        self.current = None
        self.old = None             # (backend, spec, current) of the other back end that ran it before
        self.file_plans = []        # plan_file() of each declared file
        self.dir_plans = []         # plan_directory() of each declared directory
        self.action = 'none'
        self.reasons = []
        self.changed = False
        self.error = None
        self.pid = None
        self.token = None
        self.deadline = None
        self.log_mark = None        # where its log ended before the action (log_errors)
        self.before = None
        self.after = None
        self.persist = {}           # read_persist()
        self.from_boot = False      # the record is the persisted one (the process was started at boot)
        self.starts = 0             # starts this module made of the daemon (before this run)
        self.boot_before = False    # whether it starts at boot (its unit is enabled)
        self.boot_after = False
        self.boot_unit = False      # its unit file is to be rewritten for boot alone (no restart)

    def fail(self, msg):
        if self.error is None:
            self.error = msg

    @property
    def ok(self):
        return self.error is None

    @property
    def boot_changed(self):
        return self.boot_before != self.boot_after or self.boot_unit

    @property
    def files_changed(self):
        return any(p['action'] not in ('none', 'keep') for p in self.file_plans + self.dir_plans)

    def result(self):
        out = dict(name=self.name, action=ACTIONS[self.action], reasons=list(self.reasons), pid=self.pid,
                   service_manager=self.spec['service_manager'], changed=self.changed, boot=self.boot_after,
                   starts=self.starts + (1 if self.action in ('start', 'restart') and self.ok else 0))
        out.update(self.backend.describe(self.spec))
        out['files'] = [dict(path=p['path'], action=FILE_ACTIONS[p['action']], changes=list(p['changes']),
                             on_change=f['on_change'], secret=f['secret'])
                        for f, p in zip(self.spec['files'], self.file_plans)]
        out['directories'] = [dict(path=p['path'], action=FILE_ACTIONS[p['action']], changes=list(p['changes']))
                              for p in self.dir_plans]
        if self.error is not None:
            out['failed'] = True
            out['msg'] = self.error
        return out

    def diffs(self):
        """The diff entries of this daemon: itself (when it changes) and its files and directories."""
        out = []
        if self.before != self.after:
            header = 'daemon %s' % self.name
            out.append(dict(before_header=header, after_header=header, before=self.before, after=self.after))
        if self.boot_changed:
            header = 'daemon %s (boot)' % self.name
            out.append(dict(before_header=header, after_header=header, before=dict(boot=self.boot_before),
                            after=dict(boot=self.boot_after)))
        for f, p in zip(self.spec['files'], self.file_plans):
            out.extend(file_diffs(f, p))
        for d, p in zip(self.spec['directories'], self.dir_plans):
            out.extend(directory_diffs(d, p))
        return out


def task_errors(specs):
    """Errors of the task's daemons taken together, before anything is read or changed: names and files
    listed twice, directories declared twice with other attributes, namespaces that do not exist."""
    errors = []
    seen, twice = set(), []
    for spec in specs:
        if spec['name'] in seen and spec['name'] not in twice:
            twice.append(spec['name'])
        seen.add(spec['name'])
    if twice:
        errors.append('daemons listed twice: %s' % ', '.join(twice))
    owners, dirs = {}, {}
    for spec in specs:
        for f in spec['files']:
            other = owners.setdefault(f['path'], spec['name'])
            if other != spec['name']:
                errors.append('file %s is declared by daemons %s and %s' % (f['path'], other, spec['name']))
        for d in spec['directories']:
            attrs = (d['mode'], d['uid'], d['gid'])
            other = dirs.setdefault(d['path'], (spec['name'], attrs))
            if other[1] != attrs:
                errors.append('directory %s is declared by daemons %s and %s with other mode, owner or group'
                              % (d['path'], other[0], spec['name']))
            if d['path'] in owners:
                errors.append('%s is a file of daemon %s and a directory of daemon %s'
                              % (d['path'], owners[d['path']], spec['name']))
    for spec in specs:
        if spec['state'] in ('started', 'restarted', 'reloaded') and spec['netns'] and not netns_exists(spec['netns']):
            errors.append('daemon %s: netns %s not found (create it first)' % (spec['name'], spec['netns']))
    return errors


def file_errors(daemons):
    """Errors of the declared files as the host has them (read-only, before any change): a path that is
    not a regular file or directory, a file whose directory is neither there nor declared, a file or
    directory the daemon's read_as user could not read or enter. Fills each daemon's file plans."""
    errors = []
    made = set()            # directories the task makes or keeps
    declared = {}           # path -> (mode, uid, gid) once the task has run
    for d in daemons:
        remove = d.spec['state'] == 'absent'
        what = 'daemon %s' % d.name
        try:
            d.dir_plans = [_files.plan_directory(x, what, remove) for x in d.spec['directories']]
            d.file_plans = [_files.plan_file(f, what, remove) for f in d.spec['files']]
        except VirtnetError as exc:
            errors.append(exc.msg)
            continue
        if not remove:
            for x in d.spec['directories']:
                made.add(x['path'])
                declared[x['path']] = (x['mode'], x['uid'], x['gid'])
            for f in d.spec['files']:
                declared[f['path']] = (f['mode'], f['uid'], f['gid'])
    for d in daemons:
        if d.spec['state'] == 'absent':
            continue
        for f in d.spec['files']:
            parent = os.path.dirname(f['path'])
            if parent not in made and not os.path.isdir(parent):
                errors.append('daemon %s: the directory of %s does not exist (declare it in directories)'
                              % (d.name, f['path']))
        who = d.spec['reader']
        if who is None:
            continue
        what = 'daemon %s' % d.name
        blockers = set()        # one message per daemon and what blocks it: the first file it blocks
        for path, is_file in [(f['path'], True) for f in d.spec['files']] + [(x['path'], False) for x in d.spec['directories']]:
            err = _files.read_error(what, who, path, is_file, declared)
            if err:
                blocker = err.rsplit(': ', 1)[1]
                if blocker not in blockers:
                    blockers.add(blocker)
                    errors.append(err)
    return errors


class Locks(object):
    """The lock of each daemon of the task (/run/virtnet/daemon/NAME.lock), taken in name order so that
    two tasks with overlapping daemons cannot wait for each other; none in check mode (it reads only)."""

    def __init__(self, names, check_mode, timeout=LOCK_TIMEOUT):
        self.names = sorted(set(names))
        self.check_mode = check_mode
        self.timeout = timeout
        self.fds = []

    def __enter__(self):
        if self.check_mode:
            return self
        makedirs(STATE_DIR)
        try:
            for name in self.names:
                path = default_path(name, 'lock')
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self.fds.append(fd)
                holders = hold_lock(fd, path, self.timeout, poll=0.05)
                if holders is not None:
                    raise VirtnetError('daemon %s: another task holds %s for more than %d s: held by %s'
                                       % (name, path, self.timeout, holders))
        except BaseException:
            self.release()
            raise
        return self

    def release(self):
        while self.fds:
            os.close(self.fds.pop())

    def __exit__(self, *exc):
        self.release()
        return False


def ensure(specs, check_mode, run, switch_factory, lock_timeout=LOCK_TIMEOUT):
    """Bring every daemon of `specs` (normalised) to its state. Holds the daemons' locks: two runs for
    the same daemon at once must not both start it.

    Returns the Daemon objects: each with its result(), changed, diffs() and error (None when it went
    well). Raises VirtnetError only for a problem of the task as a whole, found before any change."""
    errors = task_errors(specs)
    if errors:
        raise VirtnetError('; '.join(errors))
    backends = {}

    def backend(kind):
        if kind not in backends:
            backends[kind] = BACKENDS[kind](run, switch_factory)
        return backends[kind]

    daemons = [Daemon(spec, backend(spec['service_manager'])) for spec in specs]
    errors = file_errors(daemons)       # refused before the locks: a refused task leaves no lock file
    if errors:
        raise VirtnetError('; '.join(errors))
    with Locks([d.name for d in daemons], check_mode, lock_timeout):
        if not check_mode:
            errors = file_errors(daemons)   # the plans again, under the locks (another task may have written)
            if errors:
                raise VirtnetError('; '.join(errors))
        _read(daemons, backend)
        for d in daemons:
            _plan(d)
        if check_mode:
            _predict_absent_directories(daemons)
        else:
            _act(daemons, backends)
            _reread(daemons)
        for d in daemons:
            if d.after is None:
                d.after = predicted(d.spec, d.action) if d.action != 'none' or d.old else d.before
        if not check_mode:
            for d in daemons:
                if d.spec['state'] == 'absent' and d.ok:
                    remove_file(default_path(d.name, 'lock'))     # absent leaves nothing, its lock neither
    return daemons


def _by_backend(daemons):
    groups = {}
    for d in daemons:
        groups.setdefault(d.backend, []).append(d)
    return groups.items()


def _read(daemons, backend):
    for d in daemons:
        d.record = read_record(d.name)
        d.persist = read_persist(d.name)
        saved = d.persist.get('record')
        if not d.record and isinstance(saved, dict) and saved.get('service_manager') == 'systemd' == d.spec['service_manager']:
            # after a reboot: the unit started it at boot with what the persisted record says
            d.record = dict(saved)
            d.from_boot = True
        try:
            d.starts = max(int(d.record.get('starts') or 0), int(d.persist.get('starts') or 0))
        except (TypeError, ValueError):
            d.starts = 0
        other = d.record.get('service_manager')
        if other and other != d.spec['service_manager'] and other in BACKENDS:
            # the other back end ran it before (service_manager changed): that instance is removed first
            old_spec = dict(d.spec, pidfile=d.record.get('pidfile') or d.spec['pidfile'])
            d.old = (backend(other), old_spec)
    for be, group in _by_backend(daemons):
        currents = be.read([(d.spec, {} if d.old else d.record) for d in group])
        for d, cur in zip(group, currents):
            d.current = cur
    for d in daemons:
        if d.old:
            be, old_spec = d.old
            d.old = (be, old_spec, be.read([(old_spec, d.record)])[0])


def _plan(d):
    spec, current = d.spec, d.current
    if current['running']:
        record = current.get('record') or {}
        current['restart_files'] = changed_files(spec, record, d.file_plans, 'restart')
        current['reload_files'] = changed_files(spec, record, d.file_plans, 'reload')
    d.action = plan(spec, current)
    if d.action == 'restart' and spec['state'] != 'restarted':
        d.reasons = differences(spec, current)
    elif d.action == 'reload' and spec['state'] != 'reloaded':
        d.reasons = reload_reasons(spec, current)
    d.pid = current.get('pid')
    d.before = view(current, spec['service_manager'])
    if d.backend.supports_boot:
        d.boot_before = bool(current.get('boot'))
        d.boot_after = spec['boot']
        # a running daemon that stays as it is: its unit file changes only in what boot adds (no restart)
        d.boot_unit = d.action in ('none', 'reload') and current.get('boot_unit_differs', False)
    d.changed = d.action != 'none' or d.old is not None or d.files_changed or d.boot_changed


def _predict_absent_directories(daemons):
    """Check mode: a declared directory of an absent daemon is removed only if nothing else is left in it."""
    removed = set()
    for d in daemons:
        removed.update(p['path'] for p in d.file_plans if p['action'] == 'remove')
    for d in daemons:
        for p in sorted(d.dir_plans, key=lambda p: -len(p['path'])):
            if p['action'] == 'remove':
                if _files.would_be_empty(p['path'], removed):
                    removed.add(p['path'])
                else:
                    p['action'] = 'keep'
        d.changed = d.action != 'none' or d.old is not None or d.files_changed or d.boot_changed


def _guard(d, func, *args):
    """Run one step of daemon d; a failure is d's, not the task's."""
    if not d.ok:
        return None
    try:
        return func(*args)
    except VirtnetError as exc:
        d.fail(exc.msg)
    except OSError as exc:
        d.fail('daemon %s: %s' % (d.name, exc))
    return None


def _write_files(daemons):
    """Directories (of every daemon first: a file may sit in another's), then files."""
    for d in daemons:
        for x, p in zip(d.spec['directories'], d.dir_plans):
            if p['action'] in ('create', 'update'):
                _guard(d, _files.make_directory, x)
    for d in daemons:
        for f, p in zip(d.spec['files'], d.file_plans):
            if p['action'] in ('create', 'update'):
                _guard(d, _files.apply_file, f, p)


def _remove_files(d):
    for p in d.file_plans:
        if p['action'] == 'remove':
            _guard(d, _files.remove_path, p['path'])
    for p in sorted(d.dir_plans, key=lambda p: -len(p['path'])):
        if p['action'] == 'remove' and d.ok:
            if not _guard(d, _files.remove_directory, p['path']):
                p['action'] = 'keep'


def _act(daemons, backends):
    _write_files([d for d in daemons if d.spec['state'] != 'absent'])
    acting = [d for d in daemons if d.ok and (d.action != 'none' or d.old or d.boot_unit)]
    for d in acting:
        if d.old:
            be, old_spec, old_current = d.old
            _guard(d, be.remove, old_spec, old_current)
    # stops and removals first, then reloads, then starts (installed together, confirmed together)
    for d in acting:
        if d.action == 'stop':
            _guard(d, d.backend.stop, d.spec, d.current)
            _guard(d, remove_file, record_path(d.name))
            _guard(d, _persist, d, d.name, d.starts, None)
            d.pid = None
        elif d.action == 'remove':
            _guard(d, d.backend.remove, d.spec, d.current)
            _guard(d, remove_file, record_path(d.name))
            _guard(d, remove_file, persist_path(d.name))
            d.pid = None
    reloading = [d for d in acting if d.action == 'reload' and d.ok]
    _mark_logs(reloading)
    for d in reloading:
        d.pid = _guard(d, d.backend.reload, d.spec, d.current)
        d.deadline = time.monotonic() + d.spec['start_wait']
    starting = [d for d in acting if d.action in ('start', 'restart')]
    for d in starting:
        # from here on, a run killed half-way leaves no matching record (nor one for boot)
        _guard(d, remove_file, record_path(d.name))
        if d.persist.get('record') is not None:
            _guard(d, _persist, d, d.name, d.starts, None)
        _guard(d, d.backend.install, d.spec)
    for d in acting + [x for x in daemons if x.boot_unit and x not in acting]:
        if d.boot_unit and d.ok:
            _guard(d, d.backend.install, d.spec)
    for be in backends.values():
        try:
            be.sync()
        except VirtnetError as exc:
            for d in acting:
                if d.backend is be or (d.old and d.old[0] is be):
                    d.fail(exc.msg)
    starting = [d for d in starting if d.ok]
    _mark_logs(starting)
    _launch(starting)
    _check_logs(reloading + starting)
    # the record only for what went well: a daemon that failed (or logged an error) is acted on again next run
    for d in reloading:
        if d.ok:
            rec = dict(d.record)
            rec['reload_key'] = d.spec['reload_key']
            rec['files'] = file_digests(d.spec)
            _guard(d, write_record, d.name, rec)
    for d in starting:
        if d.ok:
            rec = new_record(d.spec, d.pid, d.starts + 1)
            _guard(d, write_record, d.name, rec)
            _guard(d, _persist, d, d.name, d.starts + 1, rec if d.boot_after else None)
    _persist_boot(daemons)
    for d in acting:
        if not d.ok and d.action == 'start' and d.pid is None and not d.old and not d.files_changed:
            d.changed = False       # a start that failed and left no process: nothing changed
    for d in daemons:
        if d.spec['state'] == 'absent':
            _remove_files(d)
            d.changed = d.changed if d.action != 'none' or d.old else d.files_changed


def _persist(d, _name, starts, record):
    """What outlives a reboot, where something starts at boot (systemd); a host without it starts its
    daemons by the next converge and counts from its records in /run."""
    if d.backend.supports_boot:
        write_persist(d.name, starts, record)


def _persist_boot(daemons):
    """After the actions: each daemon's enablement at boot, and what outlives a reboot - the record a boot
    start goes by while it starts at boot, else only its start counter. A record that was the persisted one
    (the process was started at boot) is also written to /run again."""
    for d in daemons:
        if not d.ok or d.action in ('remove',) or d.spec['state'] == 'absent':
            if d.backend.supports_boot and d.spec['state'] == 'absent' and d.boot_before:
                _guard(d, d.backend.set_boot, d.spec, False)
            continue
        if d.backend.supports_boot and d.boot_before != d.boot_after:
            _guard(d, d.backend.set_boot, d.spec, d.boot_after)
        if d.action in ('start', 'restart', 'stop'):
            continue
        rec = read_record(d.name) if d.action == 'reload' else d.record
        if d.from_boot and rec and d.action == 'none':
            _guard(d, write_record, d.name, rec)
        saved = rec if d.boot_after and rec else None
        if d.current.get('running') and (d.persist.get('record') != saved or 'starts' not in d.persist):
            _guard(d, _persist, d, d.name, d.starts, saved)


def _mark_logs(daemons):
    """Before an action: where the log of each daemon that watches it (log_errors) ends."""
    for be, group in _by_backend([d for d in daemons if d.spec['log_errors']]):
        try:
            marks = be.log_marks([d.spec for d in group])
        except VirtnetError as exc:
            for d in group:
                d.fail(exc.msg)
            continue
        for d, mark in zip(group, marks):
            d.log_mark = mark


ACTION_NOUNS = {'start': 'start', 'restart': 'restart', 'reload': 'reload'}


def _check_logs(daemons):
    """After the actions: once start_wait is over for each daemon that watches its log, what it logged
    since its mark; a line that matches one of its log_errors fails it."""
    watching = [d for d in daemons if d.ok and d.spec['log_errors'] and d.log_mark is not None]
    if not watching:
        return
    wait = max(d.deadline or 0 for d in watching) - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    for be, group in _by_backend(watching):
        try:
            logged = be.logged([(d.spec, d.log_mark) for d in group])
        except VirtnetError as exc:
            for d in group:
                d.fail(exc.msg)
            continue
        for d, lines in zip(group, logged):
            for line in lines:
                if any(r.search(line) for r in d.spec['log_errors']):
                    d.fail('daemon %s: logged an error after its %s: %s' % (d.name, ACTION_NOUNS[d.action], line))
                    break


def _launch(daemons):
    for be, group in _by_backend(daemons):
        tokens = be.launch([(d.spec, d.current) for d in group])
        now = time.monotonic()
        for d, token in zip(group, tokens):
            if isinstance(token, VirtnetError):
                d.fail(token.msg)
            else:
                d.token = token
                d.deadline = now + max(d.spec['start_wait'], 0.05)
    _confirm([d for d in daemons if d.ok])


def _confirm(pending):
    """Wait until every started daemon has stayed up for its start_wait (all in one wait)."""
    while pending:
        now = time.monotonic()
        interval = 0.05
        for be, group in _by_backend(pending):
            interval = min(interval, be.poll_interval)
            states = be.poll([(d.spec, d.token) for d in group])
            for d, (state, value) in zip(group, states):
                if state == 'dead':
                    d.fail(value)
                elif state == 'up' and now >= d.deadline:
                    d.pid = value
                    d.token = None
                elif state != 'up' and now >= d.deadline + LATE_AFTER:
                    d.fail(be.late(d.spec, d.token))
        pending = [d for d in pending if d.ok and d.token is not None]
        if pending:
            time.sleep(interval)


def _reread(daemons):
    for be, group in _by_backend(daemons):
        acted = [d for d in group if d.action != 'none' or d.old]
        currents = be.read([(d.spec, read_record(d.name)) for d in acted])
        for d, cur in zip(acted, currents):
            d.after = dict(state='absent') if d.action == 'remove' and d.ok else view(cur, d.spec['service_manager'])
