# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""virtnet.linux.daemon's two back ends over SSH, the same tasks on a systemd host (d1: units, the journal)
and a plain host (d2: pid files, log files): a batch that owns its files, check mode, reload- and
restart-class files, log_errors with a real dnsmasq in a namespace, removal (backends.yml). The playbook
runs once; each "Check: ..." task of it is one behaviour, and one test here.

Run alone: tests/run.sh tests/daemon  (or -k NAME)."""

from __future__ import annotations

import os

import pytest

LAB = 'daemon'
HERE = os.path.dirname(os.path.abspath(__file__))
HOSTS = ['d1', 'd2']
SYSTEMD = ['d1']


@pytest.fixture(scope='module')
def scenario(lab, runs):
    return runs.play(os.path.join(HERE, 'backends.yml'), lab.inventory, name='backends')


def check(run, host, behaviour):
    """The result of the task "Check: BEHAVIOUR" on HOST: it must have run and passed."""
    results = run.results(host=host, task='Check: %s' % behaviour)
    assert results, 'not reached on %s (an earlier task failed):\n%s' % (host, run.report())
    assert results[0].status == 'ok', '%s on %s: %s' % (behaviour, host, results[0].message)


def test_every_task_but_the_checks_succeeds(scenario):
    assert sorted(scenario.hosts) == HOSTS
    assert not scenario.failed_hosts, scenario.report()


@pytest.mark.parametrize('host', HOSTS)
def test_a_batch_starts_every_daemon_under_the_hosts_service_manager(scenario, host):
    check(scenario, host, "a batch starts every daemon under the host's service manager")


@pytest.mark.parametrize('host', SYSTEMD)
def test_systemd_is_reloaded_once_for_a_batch_of_new_units(scenario, host):
    check(scenario, host, 'systemd is reloaded once for a batch of new units')


@pytest.mark.parametrize('host', HOSTS)
def test_a_secret_files_content_shows_nowhere(scenario, host):
    check(scenario, host, "a secret file's content shows nowhere - result, journal")


@pytest.mark.parametrize('host', HOSTS)
def test_a_converged_batch_changes_nothing(scenario, host):
    check(scenario, host, 'a converged batch changes nothing')


@pytest.mark.parametrize('host', HOSTS)
def test_check_mode_reports_the_reload_and_the_restart_and_changes_nothing(scenario, host):
    check(scenario, host, 'check mode reports the reload and the restart and changes nothing')


@pytest.mark.parametrize('host', HOSTS)
def test_a_reload_class_file_keeps_the_pid_a_restart_class_file_restarts(scenario, host):
    check(scenario, host, 'a reload-class file keeps the PID, a restart-class file restarts')


@pytest.mark.parametrize('host', HOSTS)
def test_log_errors_fails_a_reload_with_the_daemons_own_line(scenario, host):
    check(scenario, host, "log_errors fails a reload with the daemon's own line")


@pytest.mark.parametrize('host', HOSTS)
def test_log_errors_fails_a_restart_with_the_daemons_own_line(scenario, host):
    check(scenario, host, "log_errors fails a restart with the daemon's own line")


@pytest.mark.parametrize('host', HOSTS)
def test_a_daemon_that_logged_an_error_is_acted_on_until_mended(scenario, host):
    check(scenario, host, 'a daemon that logged an error is acted on again until it is mended')


@pytest.mark.parametrize('host', HOSTS)
def test_absent_removes_units_records_processes_and_files(scenario, host):
    check(scenario, host, 'absent removes units, records, processes and files; a directory with leases stays')


@pytest.mark.parametrize('host', SYSTEMD)
def test_systemd_is_reloaded_once_for_the_removal_of_a_batch(scenario, host):
    check(scenario, host, 'systemd is reloaded once for the removal of a batch')


@pytest.mark.parametrize('host', HOSTS)
def test_absent_again_changes_nothing(scenario, host):
    check(scenario, host, 'absent again changes nothing')
