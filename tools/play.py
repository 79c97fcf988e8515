# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One playbook run through ansible-runner's Python API, read from its events - never from its text.

The one runner of the project's lab-based tests (tests/harness), the main job (tools/main.sh) and the
benchmarks (bench/): a run returns its rc, the per-host stats of the playbook_on_stats event
(ok/changed/failures/dark/skipped) and every task result from the job events (runner_on_* and
runner_item_on_*), and keeps ansible-runner's artifacts (stdout, job_events) in its own directory for
post-mortems.

As a library:   run = play.run('playbooks/site.yml', inventory, workdir='build/x', name='site-1')
                run.ok, run.stats['vpn1']['changed'], run.results(action='virtnet.linux.daemon')
As a command (what tools/main.sh and bench use):
    python tools/play.py [--dir DIR] [--name NAME] [--progress] [--hosts N] [--idempotent]
                         [--summary FILE] -i INVENTORY PLAYBOOK [ansible-playbook options...]
  prints a line per host (changed, task results) and exits non-zero if the run failed, a host failed or
  was unreachable, fewer than N hosts ran (--hosts), or anything changed (--idempotent; the changed task
  results are listed). --summary writes the same as JSON.

Task results per host (`task_lines`): every ok/changed result a run printed for the host - one per task,
one per loop item, delegated results under the host that delegated them. That is issue 21's measure of
what a converge costs (each is one module or action run).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time

DAEMON_ACTIONS = ('virtnet.linux.daemon', 'daemon')
RESULT_EVENTS = {
    'runner_on_ok': 'ok', 'runner_on_failed': 'failed', 'runner_on_skipped': 'skipped',
    'runner_on_unreachable': 'unreachable', 'runner_item_on_ok': 'ok', 'runner_item_on_failed': 'failed',
    'runner_item_on_skipped': 'skipped',
}
STAT_KEYS = ('ok', 'changed', 'failures', 'dark', 'skipped', 'rescued', 'ignored')
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TaskResult(object):
    """One task result: a task on a host, or one loop item of it."""

    def __init__(self, event):
        data = event.get('event_data', {})
        self.event = event['event']
        self.host = data.get('host')
        self.task = data.get('task', '')
        self.action = data.get('resolved_action') or data.get('task_action', '')
        self.path = data.get('task_path', '')
        self.uuid = data.get('task_uuid')
        self.res = data.get('res') if isinstance(data.get('res'), dict) else {}
        self.is_item = self.event.startswith('runner_item_')
        self.item = self.res.get('item') if self.is_item else None
        self.ignored = bool(data.get('ignore_errors'))
        self.delegated_to = (self.res.get('_ansible_delegated_vars') or {}).get('ansible_delegated_host')
        status = RESULT_EVENTS[self.event]
        self.status = 'changed' if status == 'ok' and self.res.get('changed') else status
        self.aggregate = False      # a loop's summary result (its items are results of their own)

    @property
    def label(self):
        if not self.is_item:
            return ''
        return str(self.res.get('_ansible_item_label', self.item))

    @property
    def message(self):
        r = self.res
        msg = r.get('msg', '')
        parts = ['\n'.join(str(m) for m in msg) if isinstance(msg, list) else str(msg)]
        for k in ('stderr', 'stdout'):
            if r.get(k) and self.status == 'failed':
                parts.append('%s: %s' % (k, str(r[k])[-600:]))
        return ' | '.join(p for p in parts if p)

    def __repr__(self):
        return '%s: [%s] %s%s' % (self.status, self.host, self.task,
                                  (' (item=%s)' % self.label) if self.is_item else '')


class Run(object):
    """A finished playbook run: rc, status, per-host stats, task results, artifacts."""

    def __init__(self, runner, name, workdir, command):
        self.name = name
        self.workdir = workdir
        self.command = command
        self.rc = runner.rc
        self.status = runner.status
        self.artifact_dir = runner.config.artifact_dir
        self.stdout_path = os.path.join(self.artifact_dir, 'stdout')
        self.events = list(runner.events)
        stats = [e for e in self.events if e.get('event') == 'playbook_on_stats']
        self.stats_events = len(stats)
        data = stats[-1].get('event_data', {}) if stats else {}
        hosts = set()
        for k in STAT_KEYS + ('processed',):
            hosts.update(data.get(k) or {})
        self.stats = {h: dict((k, (data.get(k) or {}).get(h, 0)) for k in STAT_KEYS) for h in sorted(hosts)}
        self._results = [TaskResult(e) for e in self.events if e.get('event') in RESULT_EVENTS]
        looped = set((r.host, r.uuid) for r in self._results if r.is_item)
        for r in self._results:
            r.aggregate = not r.is_item and (r.host, r.uuid) in looped

    # --- what happened ------------------------------------------------------------------------------
    @property
    def hosts(self):
        return sorted(self.stats)

    @property
    def ok(self):
        """rc 0, a stats event, and no host failed or unreachable."""
        return self.rc == 0 and self.stats_events == 1 and not self.failed_hosts

    @property
    def failed_hosts(self):
        return sorted(h for h, s in self.stats.items() if s['failures'] or s['dark'])

    @property
    def changed(self):
        """Total of the changed counts of every host (the play recap's changed=)."""
        return sum(s['changed'] for s in self.stats.values())

    def results(self, host=None, task=None, action=None, status=None, path=None, items=None):
        """Task results (loop summaries left out: their items are results of their own) that match:
        host, task name, action (FQCN or its short name), status (or a tuple of them), a substring of
        the task's file path, items=True/False (only loop items / only non-items)."""
        out = []
        for r in self._results:
            if r.aggregate:
                continue
            if host is not None and r.host != host:
                continue
            if task is not None and r.task != task:
                continue
            if action is not None and r.action != action and r.action.split('.')[-1] != action:
                continue
            if status is not None and r.status not in ((status,) if isinstance(status, str) else status):
                continue
            if path is not None and path not in r.path:
                continue
            if items is not None and r.is_item != items:
                continue
            out.append(r)
        return out

    def failures(self):
        """Failed (not ignored) and unreachable results."""
        return [r for r in self.results(status=('failed', 'unreachable')) if not r.ignored]

    def task_lines(self):
        """Per host: the ok and changed results it printed (one per task, per loop item; delegated
        results under the delegating host) - issue 21's count of module runs."""
        out = dict((h, 0) for h in self.hosts)
        for r in self.results(status=('ok', 'changed')):
            out[r.host] = out.get(r.host, 0) + 1
        return out

    def task_starts(self):
        """Number of tasks the run started (playbook_on_task_start events)."""
        return sum(1 for e in self.events if e.get('event') == 'playbook_on_task_start')

    def messages(self):
        """Every failure message (task, host, message), for an assertion's text."""
        return ['%r: %s' % (r, r.message) for r in self.failures()]

    def report(self, limit=20):
        """A post-mortem in a few lines: status, stats, failures, changes, and where the output is."""
        lines = ['run %s: rc=%s status=%s (%s)' % (self.name, self.rc, self.status, self.command)]
        for h, s in self.stats.items():
            lines.append('  %s: %s' % (h, ' '.join('%s=%s' % (k, s[k]) for k in STAT_KEYS)))
        lines += ['  FAILED %s' % m[:800] for m in self.messages()[:limit]]
        changed = self.results(status='changed')
        if changed:
            lines.append('  changed: %s' % ', '.join(repr(r)[len('changed: '):] for r in changed[:limit]))
        lines.append('  output: %s' % self.stdout_path)
        return '\n'.join(lines)

    def summary(self):
        return {
            'name': self.name, 'rc': self.rc, 'status': self.status, 'stdout': self.stdout_path,
            'hosts': dict((h, dict(self.stats[h], task_results=self.task_lines().get(h, 0))) for h in self.hosts),
            'changed': [repr(r) for r in self.results(status='changed')],
            'failed': self.messages(),
        }


def daemon_actions(run, acted_only=True):
    """What virtnet.linux.daemon reported it did (or, in check mode, would do), as {(host, daemon name):
    action}, from the task results: a task per daemon (a loop: one result per item, the name in the
    module's arguments or the item) or a batch task (res.results[*].name and .action). acted_only: only
    results that changed something (a check-mode read with changed_when: false acted on nothing) and
    not action 'none'."""
    out = {}
    for r in run.results(status=('ok', 'changed')):
        if r.action not in DAEMON_ACTIONS:
            continue
        res = r.res
        batch = res.get('results')
        if isinstance(batch, list) and batch and all(isinstance(x, dict) and 'name' in x for x in batch):
            rows = [(x['name'], x.get('action', 'none'), x.get('changed', r.status == 'changed')) for x in batch]
        else:
            args = (res.get('invocation') or {}).get('module_args') or {}
            name = args.get('name') or (r.item.get('daemon') if isinstance(r.item, dict) else None) or r.label
            rows = [(name, res.get('action', 'none'), r.status == 'changed')]
        for name, action, changed in rows:
            if acted_only and (action in (None, 'none') or not changed):
                continue
            out[(r.host, name)] = action
    return out


def _progress(t0, out):
    def handler(event):
        kind = event.get('event')
        data = event.get('event_data', {})
        if kind == 'playbook_on_play_start':
            out.write('   %4ds  play: %s\n' % (time.time() - t0, data.get('play', '')))
        elif kind == 'playbook_on_task_start':
            out.write('   %4ds    %s\n' % (time.time() - t0, data.get('task', '')))
        elif kind in ('runner_on_failed', 'runner_item_on_failed', 'runner_on_unreachable') and not data.get('ignore_errors'):
            failed = TaskResult(event)
            out.write('          %r: %s\n' % (failed, failed.message[:500]))
        out.flush()
        return True
    return handler


def run(playbook, inventory, workdir, name='run', extravars=None, limit=None, check=False, diff=False,
        verbosity=0, cmdline=None, envvars=None, progress=None, timeout=None, cancel=None, event_handler=None,
        start=True):
    """Runs PLAYBOOK (a path, or a collection's playbook as NS.COLL.NAME) against INVENTORY through
    ansible-runner; returns a Run (or, with start=False, the
    (thread, runner) pair of ansible_runner.run_async, to be finished with finish()).

    workdir: the run's own directory (ansible-runner's private data dir, emptied first; artifacts in
    workdir/artifacts/NAME). cmdline: more ansible-playbook options (a list). envvars: more environment
    (ANSIBLE_NOCOLOR and a PATH with this interpreter's bin directory first are set). progress: a stream
    for a line per play, task and failure. cancel: a callable that returns True to SIGKILL the run's
    whole process group (ansible-runner's cancel; polled every 50 ms when
    given). timeout: seconds, then the same."""
    import ansible_runner  # pylint: disable=import-outside-toplevel

    shutil.rmtree(workdir, ignore_errors=True)      # a run's artifacts are its own (never an older run's)
    os.makedirs(workdir)
    args = list(cmdline or [])
    if check:
        args.append('--check')
    if diff:
        args.append('--diff')
    env = {'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_FORCE_COLOR': '0', 'ANSIBLE_RETRY_FILES_ENABLED': '0',
           'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0', 'ANSIBLE_LOCALHOST_WARNING': '0', 'PYTHONUNBUFFERED': '1',
           # the ansible-playbook of this interpreter's environment (the project's venv) first
           'PATH': '%s:%s' % (os.path.dirname(sys.executable), os.environ.get('PATH', ''))}
    env.update(envvars or {})
    handlers = [h for h in (_progress(time.time(), progress) if progress else None, event_handler) if h]

    def on_event(event):
        for h in handlers:
            h(event)
        return True

    if os.path.exists(playbook):
        playbook = os.path.abspath(playbook)        # else a collection's playbook: virtnet.linux.site
    kwargs = dict(private_data_dir=workdir, ident=name, playbook=playbook,
                  inventory=os.path.abspath(inventory) if os.path.exists(inventory) else inventory, quiet=True, envvars=env, extravars=extravars or {},
                  limit=limit, verbosity=verbosity or None, cmdline=shlex.join(args) if args else None,
                  event_handler=on_event, suppress_env_files=False)
    if timeout:
        kwargs['timeout'] = timeout
    if cancel:
        kwargs['cancel_callback'] = cancel
        kwargs['settings'] = {'pexpect_timeout': 0.05}
    command = 'ansible-playbook -i %s %s %s%s%s' % (
        inventory, playbook, ' '.join(args), (' --limit %s' % limit) if limit else '', (' -' + 'v' * verbosity) if verbosity else '')
    if not start:
        thread, runner = ansible_runner.run_async(**kwargs)
        return thread, runner, (name, workdir, command.strip())
    return Run(ansible_runner.run(**kwargs), name, workdir, command.strip())


def finish(started, timeout=3600):
    """The Run of a run started with start=False (waits for it; bounded)."""
    thread, runner, (name, workdir, command) = started
    thread.join(timeout)
    if thread.is_alive():
        raise RuntimeError('run %s did not end within %d s' % (name, timeout))
    return Run(runner, name, workdir, command)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    p.add_argument('-i', '--inventory', required=True)
    p.add_argument('playbook')
    p.add_argument('--dir', default=os.path.join(TOP, 'build', 'runs'), help='where the run keeps its artifacts')
    p.add_argument('--name', default='run')
    p.add_argument('--progress', action='store_true', help='a line per play, task and failure')
    p.add_argument('--hosts', type=int, help='fail unless this many hosts ran')
    p.add_argument('--idempotent', action='store_true', help='fail if anything changed')
    p.add_argument('--summary', help='write the summary as JSON here')
    opts, rest = p.parse_known_args(argv)
    r = run(opts.playbook, opts.inventory, os.path.join(opts.dir, opts.name), name=opts.name, cmdline=rest,
            progress=sys.stdout if opts.progress else None)
    lines = r.task_lines()
    for h in r.hosts:
        s = r.stats[h]
        print('   %-12s changed=%-3d task results=%-4d failed=%d unreachable=%d'
              % (h, s['changed'], lines.get(h, 0), s['failures'], s['dark']))
    if opts.summary:
        with open(opts.summary, 'w') as f:
            json.dump(r.summary(), f, indent=1)
    bad = []
    if not r.ok:
        bad.append('the run failed')
    if opts.hosts is not None and len(r.hosts) != opts.hosts:
        bad.append('%d hosts ran, not %d' % (len(r.hosts), opts.hosts))
    if opts.idempotent and r.changed:
        bad.append('changed=%d, not 0' % r.changed)
    if bad:
        print('%s: %s\n%s' % (opts.name, '; '.join(bad), r.report()))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
