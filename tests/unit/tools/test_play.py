# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tools/play.py's reading of ansible-runner's events: stats, task results, loops, delegation, daemons."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tools'))

import play  # noqa: E402  pylint: disable=wrong-import-position


class FakeConfig(object):
    artifact_dir = '/nonexistent'


class FakeRunner(object):
    def __init__(self, events, rc=0, status='successful'):
        self.events = events
        self.rc = rc
        self.status = status
        self.config = FakeConfig()


def ev(event, host, task, uuid, res=None, action='ansible.builtin.command', **data):
    d = dict(host=host, task=task, task_uuid=uuid, resolved_action=action, task_action=action, res=res or {}, **data)
    return {'event': event, 'event_data': d}


STATS = {'event': 'playbook_on_stats', 'event_data': {
    'ok': {'h1': 5, 'h2': 4}, 'changed': {'h1': 2}, 'failures': {'h2': 1}, 'dark': {}, 'skipped': {'h2': 1},
    'processed': {'h1': 1, 'h2': 1}}}


def sample():
    return play.Run(FakeRunner([
        {'event': 'playbook_on_task_start', 'event_data': {'task': 'plain'}},
        ev('runner_on_ok', 'h1', 'plain', 'u1', {'changed': False}),
        ev('runner_on_ok', 'h2', 'plain', 'u1', {'changed': True}),
        {'event': 'playbook_on_task_start', 'event_data': {'task': 'loop'}},
        ev('runner_item_on_ok', 'h1', 'loop', 'u2', {'changed': True, 'item': 'a', 'ansible_loop_var': 'item'}),
        ev('runner_item_on_skipped', 'h1', 'loop', 'u2', {'changed': False, 'item': 'b', 'ansible_loop_var': 'item'}),
        ev('runner_item_on_ok', 'h1', 'loop', 'u2', {'changed': False, 'item': 'c', 'ansible_loop_var': 'item'}),
        ev('runner_on_ok', 'h1', 'loop', 'u2', {'changed': True, 'results': [{}, {}, {}]}),
        ev('runner_on_ok', 'h1', 'delegated', 'u3', {'_ansible_delegated_vars': {'ansible_delegated_host': 'localhost'}}),
        ev('runner_on_failed', 'h2', 'broken', 'u4', {'msg': ['first problem', 'second problem']}),
        ev('runner_on_failed', 'h1', 'tolerated', 'u5', {'msg': 'ignored'}, ignore_errors=True),
        STATS,
    ], rc=2, status='failed'), 'sample', '/tmp/x', 'ansible-playbook x')


def test_stats_per_host_from_the_stats_event():
    r = sample()
    assert r.hosts == ['h1', 'h2']
    assert r.stats['h1']['changed'] == 2 and r.stats['h2']['changed'] == 0 and r.stats['h2']['failures'] == 1
    assert r.changed == 2 and r.failed_hosts == ['h2'] and not r.ok


def test_loop_summaries_are_not_results_of_their_own():
    r = sample()
    assert [x.label for x in r.results(task='loop')] == ['a', 'b', 'c']
    assert [x.status for x in r.results(task='loop')] == ['changed', 'skipped', 'ok']


def test_task_lines_count_ok_and_changed_results_items_and_delegated_ones():
    # h1: plain, loop items a and c, delegated; h2: plain
    assert sample().task_lines() == {'h1': 4, 'h2': 1}


def test_delegated_results_name_their_delegate():
    assert sample().results(task='delegated')[0].delegated_to == 'localhost'


def test_failures_leave_out_ignored_errors_and_join_message_lists():
    r = sample()
    assert [x.task for x in r.failures()] == ['broken']
    assert r.failures()[0].message == 'first problem\nsecond problem'


def test_task_starts_count_the_tasks_the_run_started():
    assert sample().task_starts() == 2


@pytest.mark.parametrize('events,want', [
    # a task per daemon (a loop): the name from the module's arguments
    ([ev('runner_item_on_ok', 'h1', 'd', 'u1', action='virtnet.linux.daemon', res={
        'changed': True, 'action': 'reloaded', 'item': {'name': 'x'}, 'invocation': {'module_args': {'name': 'vpn-alt'}}}),
      ev('runner_item_on_ok', 'h1', 'd', 'u1', action='virtnet.linux.daemon', res={
          'changed': False, 'action': 'none', 'item': {'name': 'y'}, 'invocation': {'module_args': {'name': 'vpn-site'}}})],
     {('h1', 'vpn-alt'): 'reloaded'}),
    # one batch task: res.results[*].name and .action
    ([ev('runner_on_ok', 'h2', 'd', 'u1', {'changed': True, 'results': [
        {'name': 'dnsmasq-42', 'action': 'restarted'}, {'name': 'dnsmasq-43', 'action': 'none'}]}, action='virtnet.linux.daemon')],
     {('h2', 'dnsmasq-42'): 'restarted'}),
    # a check-mode read (changed_when: false) acted on nothing
    ([ev('runner_on_ok', 'h1', 'd', 'u1', {'changed': False, 'action': 'stopped',
                                           'invocation': {'module_args': {'name': 'vpn-site'}}}, action='virtnet.linux.daemon')],
     {}),
], ids=['loop', 'batch', 'read'])
def test_daemon_actions_from_a_loop_or_a_batch(events, want):
    assert play.daemon_actions(play.Run(FakeRunner(events + [STATS]), 'd', '/tmp/x', '')) == want
