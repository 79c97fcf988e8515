# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Playbook runs of one test module, through tools/play.py (ansible-runner's Python API).

Each run gets its own directory build/tests/runs/MODULE/NN-NAME (ansible-runner's artifacts: stdout,
job_events); conftest.py prints every run of a module, with its post-mortem, when one of its tests fails.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, 'tools'))

import play  # noqa: E402  pylint: disable=wrong-import-position

COLLECTIONS = os.path.join(TOP, 'build', 'collections')


class Runs(object):
    """The runs of one test module."""

    def __init__(self, directory, collections=COLLECTIONS):
        shutil.rmtree(directory, ignore_errors=True)    # the runs of this session only
        self.dir = directory
        self.done = []
        self.collections = collections
        self.count = 0
        self.lock = threading.Lock()

    def env(self, extra=None):
        env = {'ANSIBLE_COLLECTIONS_PATH': self.collections, 'ANSIBLE_FORKS': '16'}
        env.update(extra or {})
        return env

    def _next(self, name):
        with self.lock:
            self.count += 1
            label = '%02d-%s' % (self.count, name)
        return label, os.path.join(self.dir, label)

    def play(self, playbook, inventory, name='run', envvars=None, **kw):
        """play.run(...) with this module's directory and environment; returns the Run."""
        label, workdir = self._next(name)
        run = play.run(playbook, inventory, workdir, name=label, envvars=self.env(envvars), **kw)
        with self.lock:
            self.done.append(run)
        return run

    def start(self, playbook, inventory, name='run', envvars=None, **kw):
        """The same, started in the background; finish it with finish()."""
        label, workdir = self._next(name)
        return play.run(playbook, inventory, workdir, name=label, envvars=self.env(envvars), start=False, **kw)

    def finish(self, started, timeout=3600):
        run = play.finish(started, timeout)
        self.done.append(run)
        return run


def assert_run(run, hosts=None, changed=None):
    """A run that must have succeeded on HOSTS (on every host it ran if None); changed: True (something
    changed), False (nothing changed), None (either). Raises AssertionError with the run's post-mortem."""
    problems = []
    if not run.ok:
        problems.append('the run failed')
    if hosts is not None and sorted(run.hosts) != sorted(hosts):
        problems.append('hosts %s, not %s' % (run.hosts, sorted(hosts)))
    if changed is False and run.changed:
        problems.append('changed=%d, not 0' % run.changed)
    if changed is True and not run.changed:
        problems.append('nothing changed')
    if problems:
        raise AssertionError('%s\n%s' % ('; '.join(problems), run.report()))
    return run


def checked(read, do):
    """A run between two readings of the hosts (the rhythm's "changes nothing" steps): (run, before, after)."""
    before = read()
    return do(), before, read()


daemon_actions = play.daemon_actions


def files(root):
    """The files under ROOT on the controller (a role's output there, e.g. the profiles of export names):
    {path relative to ROOT: (mode as 0oNNN, content)}; {} where ROOT is not there."""
    out = {}
    for top, dummy, names in os.walk(root):
        for name in names:
            path = os.path.join(top, name)
            with open(path) as f:
                out[os.path.relpath(path, root)] = (oct(os.stat(path).st_mode & 0o777), f.read())
    return out
