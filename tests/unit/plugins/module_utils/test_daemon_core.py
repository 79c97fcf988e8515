# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The daemon module's core, pure logic: input validation and the plan (no process involved)."""

from __future__ import annotations

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._daemon.core import (
    Daemon, _check_logs, changed_files, differences, file_diffs, file_digests, normalise, plan, reload_reasons,
)
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.files import digest
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


# --------------------------------------------------------------------------- files in the plan

def with_files(**kw):
    files = [dict(path='/v/d1/conf', content='c1'), dict(path='/v/d1/hosts', content='h1', on_change='reload'),
             dict(path='/v/d1/extra', content='e1', on_change='none')]
    return normalise(params(files=files, directories=[dict(path='/v/d1')], **kw))


def file_plans(spec, changed=()):
    return [dict(path=f['path'], action='update' if f['path'] in changed else 'none',
                 changes=['content'] if f['path'] in changed else [], before=None) for f in spec['files']]


def converged(spec, plans):
    cur = running(spec)
    cur['record']['files'] = file_digests(spec)
    rec = cur['record']
    cur['restart_files'] = changed_files(spec, rec, plans, 'restart')
    cur['reload_files'] = changed_files(spec, rec, plans, 'reload')
    return cur


def test_files_as_recorded_do_nothing():
    spec = with_files()
    assert plan(spec, converged(spec, file_plans(spec))) == 'none'


def test_a_restart_file_written_restarts_naming_it():
    spec = with_files()
    cur = converged(spec, file_plans(spec, ['/v/d1/conf', '/v/d1/hosts']))
    assert plan(spec, cur) == 'restart'
    assert differences(spec, cur) == ['file /v/d1/conf']


def test_only_reload_files_reload():
    spec = with_files()
    cur = converged(spec, file_plans(spec, ['/v/d1/hosts', '/v/d1/extra']))
    assert plan(spec, cur) == 'reload'
    assert reload_reasons(spec, cur) == ['file /v/d1/hosts']


def test_a_none_file_never_acts():
    spec = with_files()
    assert plan(spec, converged(spec, file_plans(spec, ['/v/d1/extra']))) == 'none'


def test_a_file_already_written_but_not_acted_on_restarts():
    """A run killed between the write and the restart: the file is as declared, the record is not."""
    spec = with_files()
    plans = file_plans(spec)
    cur = running(spec)
    cur['record']['files'] = dict(file_digests(spec), **{'/v/d1/conf': digest(b'c0')})
    cur['restart_files'] = changed_files(spec, cur['record'], plans, 'restart')
    cur['reload_files'] = changed_files(spec, cur['record'], plans, 'reload')
    assert plan(spec, cur) == 'restart' and differences(spec, cur) == ['file /v/d1/conf']


def test_reload_key_and_reload_file_together():
    spec = with_files(reload_key='k2')
    cur = converged(spec, file_plans(spec, ['/v/d1/hosts']))
    cur['record']['reload_key'] = 'k1'
    assert reload_reasons(spec, cur) == ['reload_key', 'file /v/d1/hosts']


def test_a_record_made_before_files_acts_once():
    spec = with_files()
    cur = running(spec)
    plans = file_plans(spec)
    cur['restart_files'] = changed_files(spec, cur['record'], plans, 'restart')
    assert cur['restart_files'] == ['/v/d1/conf']


def test_read_as_defaults_to_user_and_root_means_no_check():
    assert normalise(params())['reader'] is None
    assert normalise(params(user='nobody'))['reader'][0] == 'nobody'
    assert normalise(params(user='nobody', read_as='root'))['reader'] is None
    assert normalise(params(read_as='nobody'))['reader'][1] == 65534


def test_a_secret_file_never_shows_its_content():
    spec = normalise(params(files=[dict(path='/v/key', content='TOPSECRET', secret=True, mode='0600')]))
    f = spec['files'][0]
    before = dict(data=b'OLDSECRET', mode=0o644, uid=0, gid=0, size=9)
    for p in (dict(path='/v/key', action='update', changes=['content', 'mode'], before=before),
              dict(path='/v/key', action='create', changes=['content'], before=None),
              dict(path='/v/key', action='remove', changes=['content'], before=before)):
        text = repr(file_diffs(f, p))
        assert 'SECRET' not in text and '(secret)' in text


def test_file_diff_shows_text_with_headers_and_attributes():
    spec = normalise(params(files=[dict(path='/v/conf', content='new\n', mode='0640')]))
    before = dict(data=b'old\n', mode=0o644, uid=0, gid=0, size=4)
    text, attrs = file_diffs(spec['files'][0], dict(path='/v/conf', action='update', changes=['content', 'mode'],
                                                    before=before))
    assert text == dict(before_header='/v/conf', after_header='/v/conf', before='old\n', after='new\n')
    assert attrs['before']['mode'] == '0644' and attrs['after']['mode'] == '0640'


# --------------------------------------------------------------------------- log_errors

def test_log_errors_must_be_regular_expressions():
    assert [r.pattern for r in normalise(params(log_errors=['cannot read', 'bad (x|y)']))['log_errors']] == \
        ['cannot read', 'bad (x|y)']
    with pytest.raises(VirtnetError, match=r"daemon d1: log_errors\[1\] 'bad \(' is not a regular expression"):
        normalise(params(log_errors=['ok', 'bad (']))


class FakeLogs(object):
    poll_interval = 0.01

    def __init__(self, lines):
        self.lines = lines

    def logged(self, entries):
        return [self.lines.get(spec['name'], []) for spec, mark in entries]


def watched(name, action, log_errors, backend):
    d = Daemon(normalise(params(name=name, log_errors=log_errors)), backend)
    d.action, d.log_mark, d.deadline = action, 0, 0
    return d


def test_a_logged_line_that_matches_fails_the_daemon_naming_the_action():
    be = FakeLogs({'a': ['started', 'dnsmasq[7]: cannot read /x/hosts: Permission denied', 'cannot read /y'],
                   'b': ['read /x/hosts'], 'c': ['failed to bind']})
    a = watched('a', 'reload', ['cannot read'], be)
    b = watched('b', 'start', ['cannot read'], be)
    c = watched('c', 'restart', ['cannot read', '^failed'], be)
    quiet = watched('d', 'start', [], be)
    _check_logs([a, b, c, quiet])
    assert a.error == 'daemon a: logged an error after its reload: dnsmasq[7]: cannot read /x/hosts: Permission denied'
    assert b.error is None and quiet.error is None
    assert c.error == 'daemon c: logged an error after its restart: failed to bind'
