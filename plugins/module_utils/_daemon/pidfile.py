# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The daemon module's back end for hosts without systemd: the process is started detached (double
fork, new session, `ip netns exec` semantics, setpriv for user and capabilities), its PID kept in a pid
file; it counts as running only while /proc/PID is alive (not a zombie), its cmdline is the declared argv,
it sits in the declared namespace and runs as the declared user - as Neutron's process manager checks it.
"""

from __future__ import annotations

import os
import pwd
import signal

from ansible_collections.virtnet.linux.plugins.module_utils._common import CLONE_NEWNS, VirtnetError, mount, unshare
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.base import (
    Backend, file_size, lines_since, log_tail, makedirs, proc_alive, proc_cmdline, proc_in_netns, proc_uid,
    read_pidfile, remove_file, wait_gone,
)


def setpriv_prefix(spec):
    if not spec['user']:
        return []
    pre = ['setpriv', '--reuid=%d' % spec['uid'], '--regid=%d' % spec['gid']]
    pre.append('--init-groups' if spec['group'] is None or _is_primary(spec) else '--clear-groups')
    if spec['capabilities']:
        caps = ','.join('+' + c[4:].lower() for c in spec['capabilities'])
        pre += ['--inh-caps=' + caps, '--ambient-caps=' + caps]
    return pre + ['--']


def _is_primary(spec):
    try:
        return pwd.getpwuid(spec['uid']).pw_gid == spec['gid']
    except KeyError:
        return False


class PidfileBackend(Backend):
    kind = 'pidfile'
    poll_interval = 0.02

    def describe(self, spec):
        return dict(pidfile=spec['pidfile'], log_file=spec['log_file'])

    def read(self, entries):
        return [self._read(spec, record) for spec, record in entries]

    def _read(self, spec, record):
        pidfile = record.get('pidfile') or spec['pidfile']
        pid = read_pidfile(pidfile)
        cur = dict(pid=None, running=False, exists=os.path.exists(pidfile) or bool(record), record=record,
                   pidfile=pidfile)
        if pid and proc_alive(pid):
            cmd = proc_cmdline(pid)
            known = [a for a in (record.get('argv'), spec['argv']) if a]
            if cmd is not None and cmd in known:
                cur.update(pid=pid, running=True, argv=cmd, uid=proc_uid(pid),
                           in_netns=proc_in_netns(pid, spec['netns']))
        return cur

    def launch(self, specs_currents):
        tokens = []
        for spec, current in specs_currents:
            try:
                if current['running']:
                    self.stop(spec, current)
                tokens.append(dict(pid=self._start(spec), ran=False))
            except VirtnetError as exc:
                tokens.append(exc)
        return tokens

    def _start(self, spec):
        switch = self.switch_factory(spec['netns']) if spec['netns'] else None
        for path in (spec['pidfile'], spec['log_file']):
            makedirs(os.path.dirname(path))
        remove_file(spec['pidfile'])
        argv = setpriv_prefix(spec) + spec['argv']
        env = dict(os.environ)
        for key in list(env):
            if key.startswith('ANSIBLE_') or key.startswith('_ANSIBLE'):
                del env[key]
        env.update(spec['environment'])
        rfd, wfd = os.pipe()
        os.set_inheritable(wfd, False)
        child = os.fork()
        if child == 0:      # pragma: no cover - runs in the child
            os.close(rfd)
            _child(spec, switch, argv, env, wfd)
        os.close(wfd)
        chunks = []
        while True:
            data = os.read(rfd, 4096)
            if not data:
                break
            chunks.append(data)
        os.close(rfd)
        os.waitpid(child, 0)
        msg = b''.join(chunks).decode('utf-8', 'replace')
        pid = None
        for line in msg.splitlines():
            if line.startswith('PID '):
                pid = int(line[4:])
            elif line.startswith('ERR '):
                raise VirtnetError('daemon %s: cannot start %s: %s' % (spec['name'], spec['argv'][0], line[4:]))
        if pid is None:
            raise VirtnetError('daemon %s: the starter process died before starting %s'
                               % (spec['name'], spec['argv'][0]))
        return pid

    def poll(self, entries):
        """A start counts once the process runs the declared command (setpriv has exec'd it) and is
        still alive when the core's start_wait is over; one that died fails with its log."""
        out = []
        for spec, token in entries:
            pid = token['pid']
            if not proc_alive(pid):
                tail = log_tail(spec['log_file'])
                remove_file(spec['pidfile'])
                out.append(('dead', 'daemon %s: %s exited right after it was started%s'
                            % (spec['name'], spec['argv'][0],
                               (' - last lines of %s:\n%s' % (spec['log_file'], tail)) if tail else '')))
                continue
            if not token['ran'] and proc_cmdline(pid) == spec['argv']:
                token['ran'] = True
            out.append(('up', pid) if token['ran'] else ('wait', None))
        return out

    def late(self, spec, token):
        return ('daemon %s: process %d did not turn into %s within %.1f s'
                % (spec['name'], token['pid'], spec['argv'][0], spec['start_wait'] + 10))

    def stop(self, spec, current):
        pid = current.get('pid')
        if pid and proc_alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not wait_gone(pid, spec['stop_timeout']):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                wait_gone(pid, 5)
        remove_file(current.get('pidfile') or spec['pidfile'])

    def reload(self, spec, current):
        os.kill(current['pid'], getattr(signal, 'SIG' + spec['reload_signal']))
        return current['pid']

    def remove(self, spec, current):
        self.stop(spec, current)
        remove_file(spec['pidfile'])
        remove_file(spec['log_file'])

    def log_marks(self, specs):
        """The size of each daemon's log_file (it receives the daemon's standard output and error)."""
        return [file_size(spec['log_file']) for spec in specs]

    def logged(self, entries):
        return [lines_since(spec['log_file'], mark) for spec, mark in entries]


def _child(spec, switch, argv, env, wfd):   # pragma: no cover - runs in a forked child
    """First child: new session, fork the daemon, exit. The daemon reports its PID (or an error)
    through wfd, which closes on exec."""
    def report(line):
        try:
            os.write(wfd, (line + '\n').encode('utf-8', 'replace'))
        except OSError:
            pass
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        pid = os.getpid()
        if switch is not None:
            switch()
        if spec.get('bind_paths'):
            _bind(spec['bind_paths'], switch is not None)
        os.chdir('/')
        os.umask(0o022)
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(spec['log_file'], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        keep = {0, 1, 2, wfd}
        for fd in _open_fds():
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        tmp = spec['pidfile'] + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d\n' % pid)
        os.rename(tmp, spec['pidfile'])
        report('PID %d' % pid)
        os.execvpe(argv[0], argv, env)
    except VirtnetError as exc:
        report('ERR %s' % exc.msg)
    except OSError as exc:
        report('ERR %s' % (exc.strerror or exc))
    except Exception as exc:
        report('ERR %s' % exc)
    os._exit(127)


MS_BIND = 0x1000
MS_REC = 0x4000
MS_SLAVE = 1 << 19


def _bind(binds, in_own_mount_ns):   # pragma: no cover - runs in a forked child
    """bind_paths: SOURCE over DESTINATION in a mount namespace of the daemon's own (as systemd's BindPaths=);
    the switch into a network namespace has made one already (ip netns exec semantics)."""
    try:
        if not in_own_mount_ns:
            unshare(CLONE_NEWNS)
            mount('', '/', 'none', MS_SLAVE | MS_REC)
        for bind in binds:
            src, dst = bind.split(':', 1)
            mount(src, dst, 'none', MS_BIND)
    except OSError as exc:
        raise VirtnetError('bind_paths %s: %s' % (' '.join(binds), exc))


def _open_fds():
    try:
        return [int(x) for x in os.listdir('/proc/self/fd')]
    except OSError:
        return list(range(3, 1024))
