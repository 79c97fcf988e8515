# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The daemon module's back end for hosts whose PID 1 is systemd: a unit `virtnet-NAME.service`
(Type=simple, NetworkNamespacePath=, User=, AmbientCapabilities=), driven with systemctl.

What costs a process per call is done once for all daemons of a task: one `systemctl show` reads every
unit, one `daemon-reload` follows all unit files written or removed.
"""

from __future__ import annotations

import json
import os
import time

from ansible_collections.virtnet.linux.plugins.module_utils import _boot
from ansible_collections.virtnet.linux.plugins.module_utils._common import NETNS_RUN_DIR, VirtnetError
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.base import (
    Backend, makedirs, proc_alive, proc_in_netns, proc_uid, remove_file,
)

UNIT_DIR = '/etc/systemd/system'
SHOW_PROPS = ('Id', 'ActiveState', 'SubState', 'MainPID', 'NRestarts', 'ExecMainStatus')
#: what boot adds to a unit (daemon option boot): it starts after the boot restore of the plumbing
#: (virtnet.linux.plumbing's virtnet-boot.service: namespaces and devices first) and is wanted at boot
BOOT_AFTER = 'After=%s' % _boot.UNIT
BOOT_INSTALL = ['', '[Install]', 'WantedBy=%s' % _boot.TARGET]


def unit_name(name):
    return 'virtnet-%s.service' % name


def _systemd_quote(arg):
    """One ExecStart= word: quoted, with systemd's specifiers and variables escaped."""
    arg = arg.replace('\\', '\\\\').replace('"', '\\"').replace('%', '%%').replace('$', '$$')
    arg = arg.replace('\n', '\\n').replace('\t', '\\t')
    return '"%s"' % arg


def unit_text(spec, boot=None):
    """The unit file of a daemon; `boot` (default the spec's) adds what makes it start at boot."""
    boot = spec.get('boot') if boot is None else boot
    lines = [
        '# Managed by Ansible (virtnet.linux.daemon): changes here are overwritten.',
        '[Unit]',
        'Description=virtnet.linux daemon %s' % spec['name'],
        'After=network.target',
    ] + ([BOOT_AFTER] if boot else []) + [
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
    for bind in spec.get('bind_paths') or []:
        lines.append('BindPaths=%s' % bind)
    for key in sorted(spec['environment']):
        lines.append('Environment=%s' % _systemd_quote('%s=%s' % (key, spec['environment'][key])))
    if boot:
        lines.extend(BOOT_INSTALL)
    return '\n'.join(lines) + '\n'


def without_boot(text):
    """A unit file's text without what boot adds (a change of that alone restarts nothing)."""
    lines = text.split('\n')
    lines = [line for line in lines if line != BOOT_AFTER]
    tail = BOOT_INSTALL + ['']
    if lines[-len(tail):] == tail:
        lines = lines[:-len(tail)] + ['']
    return '\n'.join(lines)


def parse_show(out, units):
    """`systemctl show U1 U2 ... -p Id -p ...` -> {unit: {property: value}} (blocks, one per unit, are
    separated by an empty line; a unit systemd does not know still gets its block)."""
    blocks, props = [], {}
    for line in out.splitlines() + ['']:
        if not line.strip():
            if props:
                blocks.append(props)
                props = {}
            continue
        if '=' in line:
            key, value = line.split('=', 1)
            props[key] = value
    by_unit = dict((b.get('Id'), b) for b in blocks if b.get('Id'))
    if len(blocks) == len(units):
        # `Id` of an alias is the unit it points to: the order of the blocks is the order asked
        for unit, block in zip(units, blocks):
            by_unit.setdefault(unit, block)
    return dict((unit, by_unit.get(unit, {})) for unit in units)


def parse_journal(out):
    """`journalctl -o json` lines -> [((unit that logged it, unit systemd wrote it about), message)]; a
    binary message (a list of bytes) decoded."""
    entries = []
    for line in out.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get('MESSAGE')
        if isinstance(message, list):
            try:
                message = bytes(message).decode('utf-8', 'replace')
            except (TypeError, ValueError):
                continue
        if not isinstance(message, str):
            continue
        entries.append(((entry.get('_SYSTEMD_UNIT'), entry.get('UNIT')), message))
    return entries


class SystemdBackend(Backend):
    kind = 'systemd'
    supports_boot = True

    def __init__(self, run, switch_factory, unit_dir=UNIT_DIR):
        super(SystemdBackend, self).__init__(run, switch_factory)
        self.unit_dir = unit_dir
        self.dirty = []             # the daemons whose unit file was written or removed since the last daemon-reload

    def unit(self, spec):
        return unit_name(spec['name'])

    def path(self, spec):
        return os.path.join(self.unit_dir, self.unit(spec))

    def describe(self, spec):
        return dict(unit=self.unit(spec))

    def systemctl(self, names, *args, **kw):
        """systemctl ARGS; a failure (unless ok_rc) names the daemon(s) it was for (`names`: one or a list)."""
        rc, out, err = self.run(['systemctl'] + list(args))
        if rc != 0 and not kw.get('ok_rc'):
            names = [names] if isinstance(names, str) else list(names)
            raise VirtnetError('daemon%s %s: systemctl %s failed (rc %d): %s'
                               % ('s' if len(names) > 1 else '', ', '.join(names), ' '.join(args), rc,
                                  (err or out).strip()))
        return rc, out

    def show(self, units):
        """The properties of several units, in one call."""
        if not units:
            return {}
        args = ['show'] + list(units)
        for prop in SHOW_PROPS:
            args += ['-p', prop]
        rc, out, err = self.run(['systemctl'] + args)
        return parse_show(out, units)

    def read(self, entries):
        props = self.show([self.unit(spec) for spec, record in entries])
        return [self._current(spec, record, props.get(self.unit(spec), {})) for spec, record in entries]

    def _current(self, spec, record, props):
        try:
            with open(self.path(spec)) as f:
                text = f.read()
        except FileNotFoundError:
            text = None
        pid = int(props.get('MainPID') or 0)
        running = props.get('ActiveState') in ('active', 'reloading', 'activating') and pid > 0 and proc_alive(pid)
        cur = dict(pid=pid if running else None, running=running, exists=text is not None, unit_text=text,
                   record=record, active_state=props.get('ActiveState'),
                   boot=_boot.enabled(self.unit(spec), unit_dir=self.unit_dir))
        if running:
            cur.update(uid=proc_uid(pid), in_netns=proc_in_netns(pid, spec['netns']))
            cur['unit_differs'] = text is not None and without_boot(text) != unit_text(spec, boot=False)
            cur['boot_unit_differs'] = text is not None and text != unit_text(spec)
        return cur

    def set_boot(self, spec, on):
        """Enabled (wanted by multi-user.target, as `systemctl enable` makes it) or not."""
        return _boot.set_enabled(self.unit(spec), on, unit_dir=self.unit_dir)

    def install(self, spec):
        want = unit_text(spec)
        path = self.path(spec)
        try:
            with open(path) as f:
                if f.read() == want:
                    return False
        except FileNotFoundError:
            pass
        makedirs(os.path.dirname(path))
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(want)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
        self.dirty.append(spec['name'])
        return True

    def sync(self):
        if self.dirty:
            names, self.dirty = self.dirty, []
            self.systemctl(names, 'daemon-reload')

    def launch(self, specs_currents):
        units = [self.unit(spec) for spec, current in specs_currents]
        if units:
            self.systemctl([], 'reset-failed', *units, ok_rc=True)
        props = self.show(units)
        tokens = []
        for spec, current in specs_currents:
            unit = self.unit(spec)
            token = dict(restarts=int(props.get(unit, {}).get('NRestarts') or 0), first=None, state=None)
            try:
                self.systemctl(spec['name'], 'restart' if current['running'] else 'start', unit)
                tokens.append(token)
            except VirtnetError as exc:
                tokens.append(exc)
        return tokens

    def poll(self, entries):
        """The start counts if the same main process is still running when start_wait is over. A process
        that exits sooner (systemd may already be restarting it) fails, stopped."""
        props = self.show([self.unit(spec) for spec, token in entries])
        out = []
        for spec, token in entries:
            unit = self.unit(spec)
            p = props.get(unit, {})
            pid = int(p.get('MainPID') or 0)
            state = p.get('ActiveState')
            token['state'] = state
            if token['first'] is None and pid:
                token['first'] = pid
            died = (state in ('failed', 'inactive') or p.get('SubState') == 'auto-restart'
                    or int(p.get('NRestarts') or 0) > token['restarts']
                    or (token['first'] is not None and pid != token['first']) or (pid and not proc_alive(pid)))
            if died:
                self.systemctl(spec['name'], 'stop', unit, ok_rc=True)
                self.systemctl(spec['name'], 'reset-failed', unit, ok_rc=True)
                out.append(('dead', 'daemon %s: %s exited right after it was started (exit status %s)%s'
                            % (spec['name'], spec['argv'][0], p.get('ExecMainStatus', '?'), self._journal(unit))))
            elif state == 'active' and pid:
                out.append(('up', pid))
            else:
                out.append(('wait', None))
        return out

    def late(self, spec, token):
        return 'daemon %s: %s did not become active (state %s)' % (spec['name'], self.unit(spec), token['state'])

    def _journal(self, unit):
        rc, out, err = self.run(['journalctl', '-u', unit, '-n', '8', '--no-pager', '-q', '-o', 'cat'])
        return (' - last lines of journalctl -u %s:\n%s' % (unit, out.strip())) if rc == 0 and out.strip() else ''

    def stop(self, spec, current):
        self.systemctl(spec['name'], 'stop', self.unit(spec), ok_rc=True)

    def reload(self, spec, current):
        self.systemctl(spec['name'], 'reload', self.unit(spec))
        return current['pid']

    def log_marks(self, specs):
        """One journal cursor for all of them (the newest entry of the journal, whatever its unit), and
        the time, for a journal without entries."""
        rc, out, err = self.run(['journalctl', '-n', '1', '-o', 'json', '--no-pager', '-q'])
        cursor = None
        if rc == 0:
            for line in out.splitlines():
                try:
                    cursor = json.loads(line).get('__CURSOR') or cursor
                except ValueError:
                    pass
        mark = (cursor, time.time())
        return [mark for spec in specs]

    def logged(self, entries):
        """What the units logged after their marks: one journalctl per mark, for all units that share it.
        First `journalctl --sync`: journald stores what was logged before the call (a service's standard
        output reaches it through a stream, which it may not have read yet on a busy host)."""
        self.run(['journalctl', '--sync'])
        groups = {}
        for spec, mark in entries:
            groups.setdefault(mark, []).append(self.unit(spec))
        lines = {}
        for (cursor, since), units in groups.items():
            args = ['journalctl', '--no-pager', '-q', '-o', 'json', '--output-fields=MESSAGE,_SYSTEMD_UNIT,UNIT']
            args += ['--after-cursor=%s' % cursor] if cursor else ['--since=@%d' % int(since)]
            for unit in units:
                args += ['-u', unit]
            rc, out, err = self.run(args)
            for (own, about), message in parse_journal(out if rc == 0 else ''):
                unit = own if own in units else about
                if unit in units:
                    lines.setdefault(unit, []).append(message)
        return [lines.get(self.unit(spec), []) for spec, mark in entries]

    def remove(self, spec, current):
        """Stopped, its failed state cleared, its unit file gone; the core's next sync() unloads it."""
        unit = self.unit(spec)
        if current.get('running') or current.get('active_state') not in (None, 'inactive'):
            self.systemctl(spec['name'], 'stop', unit, ok_rc=True)
        self.systemctl(spec['name'], 'reset-failed', unit, ok_rc=True)
        _boot.set_enabled(unit, False, unit_dir=self.unit_dir)
        if remove_file(self.path(spec)):
            self.dirty.append(spec['name'])
