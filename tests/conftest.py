# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the lab-based tests (tests/lab, tests/roles/*, tests/site): see tests/README.md.

- `labs` (session): the labs of this test run (harness.lab.LabPool). Refuses to run outside
  tools/sandbox.sh --pid. At the end every lab still up is taken down and checked to have left nothing.
- `lab` (module): the lab the module names in its LAB attribute ('lab', 'roles', 'site'), shared with
  every other module that names it (the tests are ordered so that each lab comes up once).
- `runs` (module): playbook runs through ansible-runner (harness.runs.Runs), artifacts under
  build/tests/runs/MODULE/; when a test fails, every run of its module is listed with its post-mortem.
Options: --deep (the long trials: the site's ten host and two whole-site SIGKILL trials, and every test marked
`deep`), --site-trials N, --site-trial-scope host|all.

This file is also loaded by ansible-test's unit tests (it sits above tests/unit): it imports nothing
that their virtual environment lacks, and no fixture here is autouse.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))     # harness/, also under ansible-test

from harness.lab import LabError, LabPool, in_sandbox  # noqa: E402  pylint: disable=wrong-import-position

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, 'build', 'tests')


def pytest_addoption(parser):
    group = parser.getgroup('virtnet', 'virtnet.linux lab-based tests')
    group.addoption('--deep', action='store_true', help='also the long trials (tools/test.sh --deep)')
    group.addoption('--site-trials', type=int, default=None,
                    help='SIGKILL trials of the site (default 2, one round; 10 with --deep)')
    group.addoption('--site-trial-scope', choices=['host', 'all'], default=None,
                    help="trials of one host's converge (host, default) or of the whole site's (all)")


def pytest_collection_modifyitems(config, items):
    """Tests marked deep (the long trials) only with --deep: deselected otherwise (pytest counts them so).
    Tests that use the same lab run together (a lab is up once); otherwise the collected order."""
    if not config.getoption('--deep', default=False):
        deep = [item for item in items if item.get_closest_marker('deep') is not None]
        if deep:
            config.hook.pytest_deselected(items=deep)
            items[:] = [item for item in items if item.get_closest_marker('deep') is None]
    order = {}
    for item in items:
        order.setdefault(getattr(item.module, 'LAB', None), len(order))
    items.sort(key=lambda item: order[getattr(item.module, 'LAB', None)])


@pytest.fixture(scope='session')
def labs():
    if not in_sandbox():
        pytest.exit('the lab-based tests run only inside the lab sandbox: tools/sandbox.sh --pid ... '
                    '(tests/run.sh does it); the machine\'s own network is never touched', returncode=4)
    pool = LabPool(os.path.join(BUILD, 'labs'))
    yield pool
    problems = pool.close()
    if problems:
        raise LabError('\n'.join(problems))


@pytest.fixture(scope='module')
def lab(request, labs):
    return labs.get(request.module.LAB)


@pytest.fixture(scope='module')
def runs(request):
    from harness.runs import Runs  # pylint: disable=import-error,import-outside-toplevel
    name = request.module.__name__.rsplit('.', 1)[-1]
    r = Runs(os.path.join(BUILD, 'runs', name))
    request.module.RUNS = r
    return r


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    r = getattr(item.module, 'RUNS', None)
    if report.failed and r is not None and r.done:
        report.sections.append(('ansible runs of %s' % item.module.__name__,
                                '\n'.join(run.report() for run in r.done)))
