# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The daemon module's core, pure logic: input validation and the plan (no process involved)."""

from __future__ import annotations

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._daemon.core import (
    differences, normalise, plan,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError


def params(**kw):
    p = dict(name='d1', argv=['dnsmasq', '-k'], netns='', user=None, group=None, ambient_capabilities=None,
             environment=None, restart_key=None, reload_key=None, reload_signal='HUP', state='started',
             pidfile=None, log_file=None, start_wait=0.5, stop_timeout=10)
    p.update(kw)
    return p


def running(spec, **kw):
    rec = dict(argv=spec['argv'], netns=spec['netns'], user=spec['user'], group=spec['group'],
               capabilities=spec['capabilities'], environment=spec['environment'],
               restart_key=spec['restart_key'], reload_key=spec['reload_key'])
    cur = dict(running=True, pid=10, argv=spec['argv'], in_netns=True, uid=0, record=rec, exists=True)
    cur.update(kw)
    return cur


def test_defaults_derive_paths():
    spec = normalise(params())
    assert spec['pidfile'] == '/run/virtnet/daemon/d1.pid'
    assert spec['log_file'] == '/run/virtnet/daemon/d1.log'
    assert spec['reload_signal'] == 'HUP'


@pytest.mark.parametrize('kw,part', [
    (dict(name='a b'), "invalid daemon name 'a b'"),
    (dict(name='x' * 65), 'invalid daemon name'),
    (dict(argv=None), 'argv is required with state=started'),
    (dict(argv=['']), 'argv[0] (the program) must not be empty'),
    (dict(argv=['a', 'b\0c']), 'argv[1] contains a NUL byte'),
    (dict(netns='a/b'), 'plain file name'),
    (dict(user='no-such-user-here'), 'user no-such-user-here does not exist'),
    (dict(group='no-such-group-here', user='nobody'), 'group no-such-group-here does not exist'),
    (dict(ambient_capabilities=['net_admin']), 'need user'),
    (dict(user='nobody', ambient_capabilities=['cap_net_nope']), "unknown capability 'cap_net_nope'"),
    (dict(reload_signal='STOP'), 'unusable reload_signal'),
    (dict(reload_signal='NOPE'), 'unknown or unusable reload_signal'),
    (dict(environment={'A=B': 'x'}), "invalid environment variable name 'A=B'"),
    (dict(environment={'A': 'x\ny'}), 'environment variable A contains a NUL byte or a newline'),
    (dict(pidfile='rel/x.pid'), 'pidfile must be an absolute path'),
    (dict(start_wait=-1), 'start_wait must be between'),
    (dict(stop_timeout=0), 'stop_timeout must be between'),
])
def test_bad_input_names_the_daemon_and_the_problem(kw, part):
    with pytest.raises(VirtnetError) as exc:
        normalise(params(**kw))
    assert part in exc.value.msg


def test_argv_not_needed_to_stop_or_remove():
    assert normalise(params(argv=None, state='absent'))['argv'] == []


def test_capabilities_normalised():
    spec = normalise(params(user='nobody', ambient_capabilities=['net_admin', 'CAP_NET_ADMIN', 'cap_net_raw']))
    assert spec['capabilities'] == ['CAP_NET_ADMIN', 'CAP_NET_RAW']


@pytest.mark.parametrize('state,is_running,expected', [
    ('started', False, 'start'), ('started', True, 'none'), ('restarted', True, 'restart'),
    ('restarted', False, 'start'), ('reloaded', True, 'reload'), ('reloaded', False, 'start'),
    ('stopped', True, 'stop'), ('stopped', False, 'none'), ('absent', True, 'remove'),
])
def test_plan_by_state(state, is_running, expected):
    spec = normalise(params(state=state))
    cur = running(spec) if is_running else dict(running=False, exists=False, record={})
    assert plan(spec, cur) == expected


def test_plan_restart_reasons():
    spec = normalise(params(restart_key='a', reload_key='x'))
    assert plan(spec, running(spec)) == 'none'
    assert plan(spec, running(spec, in_netns=False)) == 'restart'
    assert differences(spec, running(spec, in_netns=False)) == ['network namespace']
    assert differences(spec, running(spec, argv=['dnsmasq'])) == ['command line']
    cur = running(spec)
    cur['record']['restart_key'] = 'old'
    assert plan(spec, cur) == 'restart' and differences(spec, cur) == ['restart_key']
    cur = running(spec)
    cur['record']['reload_key'] = 'old'
    assert plan(spec, cur) == 'reload'
    assert differences(spec, running(spec, record={})) == ['no record of how it was started']


def test_absent_of_nothing_is_nothing():
    spec = normalise(params(state='absent'))
    assert plan(spec, dict(running=False, exists=False, record={})) == 'none'
    assert plan(spec, dict(running=False, exists=True, record={})) == 'remove'
