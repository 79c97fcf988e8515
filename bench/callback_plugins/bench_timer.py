# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only callback: records when each task starts and ends (controller clock) and its result.

Enabled by bench/_common.py through ANSIBLE_CALLBACK_PLUGINS / ANSIBLE_CALLBACKS_ENABLED; writes JSON to
the file named by $BENCH_TIMER_OUT when the play ends. Not part of the collection.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
    name: bench_timer
    type: aggregate
    short_description: per-task timings for bench/ (not shipped)
    description: Records per-task wall times into $BENCH_TIMER_OUT.
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tasks = []
        self.t0 = time.monotonic()

    def _start(self, task):
        now = time.monotonic()
        self.tasks.append({'name': task.get_name(), 'start': now - self.t0, 'start_abs': now, 'end': None,
                           'status': None, 'changed': None, 'items': 0})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def _end(self, result, status):
        if not self.tasks:
            return
        cur = self.tasks[-1]
        cur['end'] = time.monotonic() - self.t0
        cur['status'] = status
        res = result._result
        cur['changed'] = bool(res.get('changed'))
        if 'results' in res and isinstance(res['results'], list):
            cur['items'] = len(res['results'])
        if status == 'failed':
            cur['msg'] = str(res.get('msg', ''))[:2000]

    def v2_runner_on_ok(self, result):
        self._end(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._end(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._end(result, 'skipped')

    def v2_playbook_on_stats(self, stats):
        out = os.environ.get('BENCH_TIMER_OUT')
        if out:
            with open(out, 'w') as f:
                json.dump({'tasks': self.tasks, 'total': time.monotonic() - self.t0}, f)
