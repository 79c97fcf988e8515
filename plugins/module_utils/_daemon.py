# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""One way to supervise a long-running process, optionally inside a named network namespace.

Two back ends behind one desired state:
- systemd: a unit `virtnet-NAME.service` (Type=simple, NetworkNamespacePath=, User=,
  AmbientCapabilities=), driven with systemctl;
- pidfile: the process is started detached (double fork, new session, `ip netns exec` semantics,
  setpriv for user and capabilities), its PID kept in a pid file; it counts as running only while
  /proc/PID is alive (not a zombie), its cmdline is the declared argv, it sits in the declared
  namespace and runs as the declared user — as Neutron's process manager checks it.

What the running instance was started with (argv, namespace, user, restart/reload keys) is kept in a
small JSON record next to it, written only after the process is up: a run killed half-way leaves a
record that does not match, and the next run restarts instead of trusting it.
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
    NETNS_RUN_DIR, VirtnetError, netns_exists, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import hold_lock

STATE_DIR = '/run/virtnet/daemon'
UNIT_DIR = '/etc/systemd/system'
NAME_RE = re.compile(r'^[A-Za-z0-9_.@-]{1,64}$')

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


def unit_name(name):
    return 'virtnet-%s.service' % name


def default_path(name, suffix):
    return os.path.join(STATE_DIR, '%s.%s' % (name, suffix))


# --------------------------------------------------------------------------- desired state

def normalise(params):
    """Validate the module's parameters; return the desired spec or raise VirtnetError.

    Everything that can be checked without touching the system is checked here, so that a bad
    input changes nothing (also in check mode)."""
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
    return dict(
        name=name, state=state, argv=argv, netns=netns, user=user or None, group=group or None,
        uid=uid, gid=gid, capabilities=caps, environment=env,
        restart_key=params.get('restart_key'), reload_key=params.get('reload_key'), reload_signal=sig,
        pidfile=params.get('pidfile') or default_path(name, 'pid'),
        log_file=params.get('log_file') or default_path(name, 'log'),
        start_wait=start_wait, stop_timeout=stop_timeout,
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


def read_record(name):
    try:
        with open(record_path(name)) as f:
            rec = json.load(f)
        return rec if isinstance(rec, dict) else {}
    except (OSError, ValueError):
        return {}


def write_record(name, rec):
    _makedirs(STATE_DIR)
    path = record_path(name)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(rec, f, sort_keys=True)
    os.rename(tmp, path)


def remove_file(path):
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _makedirs(path, mode=0o755):
    if not os.path.isdir(path):
        os.makedirs(path, mode)


# --------------------------------------------------------------------------- processes

def proc_alive(pid):
    """True while /proc/PID exists and is not a zombie (dead but not yet reaped)."""
    if not pid or pid <= 0:
        return False
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            stat = f.read()
    except OSError:
        return False
    # pid (comm) S ...: comm may contain spaces and parentheses, the state follows the last ')'
    rest = stat[stat.rfind(b')') + 2:]
    return not rest.startswith((b'Z', b'X'))


def proc_cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:
        return None
    return [a.decode('utf-8', 'surrogateescape') for a in raw.rstrip(b'\0').split(b'\0')]


def proc_uid(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('Uid:'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _ns_id(path):
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return None


def proc_in_netns(pid, netns):
    """Whether process `pid` sits in the named namespace (or, netns '', in the module's own one)."""
    mine = _ns_id('/proc/%d/ns/net' % pid)
    want = _ns_id(os.path.join(NETNS_RUN_DIR, netns)) if netns else _ns_id('/proc/self/ns/net')
    return mine is not None and mine == want


def read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc_alive(pid):
            return True
        time.sleep(0.02)
    return not proc_alive(pid)


def log_tail(path, lines=15):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4096))
            text = f.read().decode('utf-8', 'replace')
    except OSError:
        return ''
    return '\n'.join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- differences

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
        for key in ('argv', 'netns', 'user', 'group', 'capabilities', 'environment'):
            if (rec.get(key) or None) != (spec[key] or None):
                why.append({'argv': 'command line', 'netns': 'network namespace'}.get(key, key))
        if rec.get('restart_key') != spec['restart_key']:
            why.append('restart_key')
    out = []
    for w in why:
        if w not in out:
            out.append(w)
    return out


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
    if state == 'reloaded':
        return 'reload'
    rec = current.get('record') or {}
    if rec.get('reload_key') != spec['reload_key']:
        return 'reload'
    return 'none'


# --------------------------------------------------------------------------- pidfile back end

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


class PidfileManager(object):
    kind = 'pidfile'

    def __init__(self, spec, switch_factory):
        self.spec = spec
        self.switch_factory = switch_factory      # netns -> a function entering it (ip netns exec)

    def read(self, record):
        pidfile = record.get('pidfile') or self.spec['pidfile']
        pid = read_pidfile(pidfile)
        cur = dict(pid=None, running=False, exists=os.path.exists(pidfile) or bool(record), record=record,
                   pidfile=pidfile)
        if pid and proc_alive(pid):
            cmd = proc_cmdline(pid)
            known = [a for a in (record.get('argv'), self.spec['argv']) if a]
            if cmd is not None and cmd in known:
                cur.update(pid=pid, running=True, argv=cmd, uid=proc_uid(pid),
                           in_netns=proc_in_netns(pid, self.spec['netns']))
        return cur

    def start(self):
        spec = self.spec
        switch = self.switch_factory(spec['netns']) if spec['netns'] else None
        for path in (spec['pidfile'], spec['log_file']):
            _makedirs(os.path.dirname(path))
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

    def confirm(self, pid):
        """Wait until the started process runs the declared command; fail with its log if it died."""
        spec = self.spec
        deadline = time.monotonic() + max(spec['start_wait'], 0.05)
        ran = False
        while True:
            if not proc_alive(pid):
                tail = log_tail(spec['log_file'])
                remove_file(spec['pidfile'])
                raise VirtnetError('daemon %s: %s exited right after it was started%s'
                                   % (spec['name'], spec['argv'][0],
                                      (' - last lines of %s:\n%s' % (spec['log_file'], tail)) if tail else ''))
            if proc_cmdline(pid) == spec['argv']:
                ran = True
            if time.monotonic() >= deadline and ran:
                return
            if time.monotonic() >= deadline + 10:
                raise VirtnetError('daemon %s: process %d did not turn into %s within %.1f s'
                                   % (spec['name'], pid, spec['argv'][0], spec['start_wait'] + 10))
            time.sleep(0.02)

    def stop(self, current):
        pid = current.get('pid')
        if pid and proc_alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not wait_gone(pid, self.spec['stop_timeout']):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                wait_gone(pid, 5)
        remove_file(current.get('pidfile') or self.spec['pidfile'])

    def reload(self, current):
        os.kill(current['pid'], getattr(signal, 'SIG' + self.spec['reload_signal']))
        return current['pid']

    def remove(self, current):
        self.stop(current)
        remove_file(self.spec['pidfile'])


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


def _open_fds():
    try:
        return [int(x) for x in os.listdir('/proc/self/fd')]
    except OSError:
        return list(range(3, 1024))


# --------------------------------------------------------------------------- systemd back end

def _systemd_quote(arg):
    """One ExecStart= word: quoted, with systemd's specifiers and variables escaped."""
    arg = arg.replace('\\', '\\\\').replace('"', '\\"').replace('%', '%%').replace('$', '$$')
    arg = arg.replace('\n', '\\n').replace('\t', '\\t')
    return '"%s"' % arg


def unit_text(spec):
    lines = [
        '# Managed by Ansible (virtnet.linux.daemon): changes here are overwritten.',
        '[Unit]',
        'Description=virtnet.linux daemon %s' % spec['name'],
        'After=network.target',
        '',
        '[Service]',
        'Type=simple',
        'ExecStart=%s' % ' '.join(_systemd_quote(a) for a in spec['argv']),
        'ExecReload=/bin/kill -s %s $MAINPID' % spec['reload_signal'],
        'Restart=on-failure',
        'RestartSec=1',
    ]
    if spec['netns']:
        lines.append('NetworkNamespacePath=%s' % os.path.join(NETNS_RUN_DIR, spec['netns']))
    if spec['user']:
        lines.append('User=%s' % spec['user'])
        lines.append('Group=%s' % spec['group'])
    if spec['capabilities']:
        caps = ' '.join(spec['capabilities'])
        lines.append('AmbientCapabilities=%s' % caps)
        lines.append('CapabilityBoundingSet=%s' % caps)
    for key in sorted(spec['environment']):
        lines.append('Environment=%s' % _systemd_quote('%s=%s' % (key, spec['environment'][key])))
    return '\n'.join(lines) + '\n'


class SystemdManager(object):
    kind = 'systemd'

    def __init__(self, spec, run, unit_dir=UNIT_DIR):
        self.spec = spec
        self.run = run              # run(argv) -> (rc, out, err)
        self.unit = unit_name(spec['name'])
        self.path = os.path.join(unit_dir, self.unit)

    def systemctl(self, *args, **kw):
        rc, out, err = self.run(['systemctl'] + list(args))
        if rc != 0 and not kw.get('ok_rc'):
            raise VirtnetError('daemon %s: systemctl %s failed (rc %d): %s'
                               % (self.spec['name'], ' '.join(args), rc, (err or out).strip()))
        return rc, out

    def show(self):
        rc, out = self.systemctl('show', self.unit, '-p', 'ActiveState', '-p', 'SubState', '-p', 'MainPID',
                                 '-p', 'NRestarts', '-p', 'ExecMainStatus', ok_rc=True)
        props = {}
        for line in out.splitlines():
            if '=' in line:
                k, v = line.split('=', 1)
                props[k] = v
        return props

    def read(self, record):
        try:
            with open(self.path) as f:
                text = f.read()
        except FileNotFoundError:
            text = None
        props = self.show()
        pid = int(props.get('MainPID') or 0)
        running = props.get('ActiveState') in ('active', 'reloading', 'activating') and pid > 0 and proc_alive(pid)
        cur = dict(pid=pid if running else None, running=running, exists=text is not None, unit_text=text,
                   record=record, active_state=props.get('ActiveState'))
        if running:
            cur.update(uid=proc_uid(pid), in_netns=proc_in_netns(pid, self.spec['netns']))
            cur['unit_differs'] = text is not None and text != unit_text(self.spec)
        return cur

    def _write_unit(self):
        want = unit_text(self.spec)
        try:
            with open(self.path) as f:
                if f.read() == want:
                    return False
        except FileNotFoundError:
            pass
        _makedirs(os.path.dirname(self.path))
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(want)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.path)
        self.systemctl('daemon-reload')
        return True

    def start(self, restart=False):
        self._write_unit()
        self.systemctl('reset-failed', self.unit, ok_rc=True)
        restarts = int(self.show().get('NRestarts') or 0)
        self.systemctl('restart' if restart else 'start', self.unit)
        return self.confirm(restarts)

    def confirm(self, restarts):
        """Wait start_wait seconds; the start counts if the same main process is still running then.
        A process that exits sooner (systemd may already be restarting it) fails the task, stopped."""
        spec = self.spec
        deadline = time.monotonic() + max(spec['start_wait'], 0.05)
        first = None
        while True:
            props = self.show()
            pid = int(props.get('MainPID') or 0)
            state = props.get('ActiveState')
            if first is None and pid:
                first = pid
            died = (state in ('failed', 'inactive') or props.get('SubState') == 'auto-restart'
                    or int(props.get('NRestarts') or 0) > restarts
                    or (first is not None and pid != first) or (pid and not proc_alive(pid)))
            if died:
                self.systemctl('stop', self.unit, ok_rc=True)
                self.systemctl('reset-failed', self.unit, ok_rc=True)
                raise VirtnetError('daemon %s: %s exited right after it was started (exit status %s)%s'
                                   % (spec['name'], spec['argv'][0], props.get('ExecMainStatus', '?'),
                                      self._journal()))
            if time.monotonic() >= deadline and state == 'active' and pid:
                return pid
            if time.monotonic() >= deadline + 10:
                raise VirtnetError('daemon %s: %s did not become active (state %s)'
                                   % (spec['name'], self.unit, state))
            time.sleep(0.05)

    def _journal(self):
        rc, out, err = self.run(['journalctl', '-u', self.unit, '-n', '8', '--no-pager', '-q', '-o', 'cat'])
        return (' - last lines of journalctl -u %s:\n%s' % (self.unit, out.strip())) if rc == 0 and out.strip() else ''

    def stop(self, current):
        self.systemctl('stop', self.unit, ok_rc=True)

    def reload(self, current):
        self.systemctl('reload', self.unit)
        return current['pid']

    def remove(self, current):
        if current.get('running') or current.get('active_state') not in (None, 'inactive'):
            self.systemctl('stop', self.unit, ok_rc=True)
        if remove_file(self.path):
            self.systemctl('daemon-reload')
        self.systemctl('reset-failed', self.unit, ok_rc=True)


# --------------------------------------------------------------------------- running it

def view(current, manager):
    """What diff shows of one side."""
    if not current['running']:
        return dict(state='stopped' if current.get('exists') else 'absent')
    rec = current.get('record') or {}
    return dict(state='running', pid=current['pid'], service_manager=manager,
                argv=rec.get('argv', current.get('argv')), netns=rec.get('netns', ''),
                user=rec.get('user'), restart_key=rec.get('restart_key'), reload_key=rec.get('reload_key'))


def new_record(spec, manager, pid):
    return dict(argv=spec['argv'], netns=spec['netns'], user=spec['user'], group=spec['group'],
                capabilities=spec['capabilities'], environment=spec['environment'],
                restart_key=spec['restart_key'], reload_key=spec['reload_key'], pid=pid,
                service_manager=manager, pidfile=spec['pidfile'] if manager == 'pidfile' else None,
                started=time.time())


def make_manager(kind, spec, run, switch_factory):
    if kind == 'systemd':
        return SystemdManager(spec, run)
    return PidfileManager(spec, switch_factory)


ACTIONS = {'start': 'started', 'restart': 'restarted', 'reload': 'reloaded', 'stop': 'stopped',
           'remove': 'removed', 'none': 'none'}


def ensure(spec, kind, check_mode, run, switch_factory, lock_timeout=300):
    """Bring the daemon to spec['state'] with back end `kind`, holding the daemon's lock (two runs
    for the same daemon at once must not both start it).

    Returns (changed, result, before, after)."""
    if check_mode:
        return _ensure(spec, kind, check_mode, run, switch_factory)     # reads only: no lock file made
    _makedirs(STATE_DIR)
    path = default_path(spec['name'], 'lock')
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        holders = hold_lock(fd, path, lock_timeout, poll=0.05)
        if holders is not None:
            raise VirtnetError('daemon %s: another task holds %s for more than %d s: held by %s'
                               % (spec['name'], path, lock_timeout, holders))
        result = _ensure(spec, kind, check_mode, run, switch_factory)
        if spec['state'] == 'absent':
            remove_file(default_path(spec['name'], 'lock'))     # absent leaves nothing, its lock neither
        return result
    finally:
        os.close(fd)


def _ensure(spec, kind, check_mode, run, switch_factory):
    name = spec['name']
    manager = make_manager(kind, spec, run, switch_factory)
    record = read_record(name)
    # The other back end ran it before (service_manager changed): that instance is stopped first.
    other = record.get('service_manager')
    switched_from = other if other and other != kind else None
    if spec['state'] in ('started', 'restarted', 'reloaded') and spec['netns'] and not netns_exists(spec['netns']):
        raise VirtnetError('daemon %s: netns %s not found (create it first)' % (name, spec['netns']))
    current = manager.read({} if switched_from else record)
    action = plan(spec, current)
    why = differences(spec, current) if action == 'restart' and spec['state'] != 'restarted' else []
    result = dict(action=ACTIONS[action], service_manager=kind, pid=current.get('pid'), reasons=why)
    if kind == 'systemd':
        result['unit'] = manager.unit
    else:
        result.update(pidfile=spec['pidfile'], log_file=spec['log_file'])
    before = view(current, kind)
    changed = action != 'none' or switched_from is not None
    if check_mode or not changed:
        return changed, result, before, (_predicted(spec, action, kind) if changed else before)
    if switched_from:
        old = make_manager(switched_from, dict(spec, pidfile=record.get('pidfile') or spec['pidfile']), run,
                           switch_factory)
        old.remove(old.read(record))
    if action == 'stop':
        manager.stop(current)
        remove_file(record_path(name))
        result['pid'] = None
    elif action == 'remove':
        manager.remove(current)
        remove_file(record_path(name))
        if kind == 'pidfile':
            remove_file(spec['log_file'])
        result['pid'] = None
    elif action == 'reload':
        result['pid'] = manager.reload(current)
        rec = dict(record)
        rec['reload_key'] = spec['reload_key']
        write_record(name, rec)
    elif action != 'none':
        remove_file(record_path(name))   # from here on, a run killed half-way leaves no matching record
        if kind == 'pidfile':
            if current['running']:
                manager.stop(current)
            pid = manager.start()
            manager.confirm(pid)
        else:
            pid = manager.start(restart=current['running'])
        write_record(name, new_record(spec, kind, pid))
        result['pid'] = pid
    after = dict(state='absent') if action == 'remove' else view(manager.read(read_record(name)), kind)
    return True, result, before, after


def _predicted(spec, action, manager):
    if action in ('stop',):
        return dict(state='stopped')
    if action == 'remove':
        return dict(state='absent')
    return dict(state='running', pid='(new)' if action in ('start', 'restart') else '(same)',
                service_manager=manager, argv=spec['argv'], netns=spec['netns'], user=spec['user'],
                restart_key=spec['restart_key'], reload_key=spec['reload_key'])
