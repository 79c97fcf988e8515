# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Boot restore, pure logic: the saved declaration, the files a plumbing task keeps for boot (in a temporary
directory), the order of the saved declarations at boot, the engine's copy; the daemon module's boot part
(its unit, its record across a reboot, its start counter) with a back end that runs no process."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils import _boot
from ansible_collections.virtnet.linux.plugins.module_utils._daemon import base as _base, core as _core
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.systemd import unit_text, without_boot
from ansible_collections.virtnet.linux.plugins.module_utils._engine import Transaction


# ---- the declaration ---------------------------------------------------------------------------------------
def test_declaration_keeps_the_present_elements_of_each_section():
    decl = _boot.declaration([('namespaces', [{'name': 'a', 'state': 'present'}, {'name': 'b', 'state': 'absent'}]),
                              ('bridges', [{'name': 'br', 'state': 'absent'}])], 'lab')
    assert decl == {'netns': 'lab', 'sections': {'namespaces': [{'name': 'a', 'state': 'present'}]}}


def test_a_declaration_of_nothing_present_is_none():
    assert _boot.declaration([('namespaces', [{'name': 'b', 'state': 'absent'}]), ('bridges', [])]) is None


def test_objects_name_each_element_with_its_namespace_in_section_order():
    decl = {'sections': {'routes': [{'netns': 'q', 'dst': '10.0.0.0/8'}], 'namespaces': [{'name': 'q'}],
                         'addresses': [{'netns': 'q', 'dev': 'ns-1'}]}}
    assert _boot.objects(decl, {'namespaces': 10, 'addresses': 50, 'routes': 60}) == \
        ['namespaces/q', 'addresses/q/ns-1', 'routes/q/10.0.0.0/8']


@pytest.mark.parametrize('name', ['', 'a/b', 'x' * 65, 'a b', None])
def test_bad_boot_names_are_refused(name):
    assert 'invalid boot_name' in _boot.validate_name(name)


# ---- the order at boot -------------------------------------------------------------------------------------
def test_a_declaration_comes_after_the_ones_that_provide_what_it_needs():
    ns, br = ('netns', 'q'), ('link', '', 'brq42')
    decls = {'a-site': ({('link', '', 'gtap42')}, {br}), 'b-dhcp': ({ns, br}, set()), 'c-other': (set(), set())}
    assert _boot.order(decls) == ['b-dhcp', 'a-site', 'c-other']


def test_a_cycle_is_taken_by_name():
    decls = {'b': ({('netns', 'x')}, {('netns', 'y')}), 'a': ({('netns', 'y')}, {('netns', 'x')})}
    assert _boot.order(decls) == ['a', 'b']


def test_boot_retries_what_failed_while_others_succeed(tmp_path, monkeypatch):
    for name in ('one', 'two'):
        (tmp_path / ('%s.json' % name)).write_text(json.dumps({'netns': '', 'sections': {'namespaces': [{'name': name}]}}))
    (tmp_path / 'bad.json').write_text('{')
    tries = []

    def apply(params):
        name = params['namespaces'][0]['name']
        tries.append(name)
        # 'one' needs what 'two' makes, unknown to the order: it fails until 'two' ran
        return (True, None) if name == 'two' or 'two' in tries[:-1] else (False, 'not yet')

    monkeypatch.setattr(_boot, 'apply', apply)
    monkeypatch.setattr(_boot, 'keys', lambda params: (set(), set()))
    lines = []
    assert _boot.main([], boot_dir=str(tmp_path), log=lines.append) == 1      # bad.json cannot be read
    assert tries == ['one', 'two', 'one']
    assert [x for x in lines if 'FAILED' in x] == ['virtnet boot: bad FAILED: cannot read %s/bad.json: '
                                                   'Expecting property name enclosed in double quotes: line 1 column 2 (char 1)'
                                                   % tmp_path]


# ---- the files a plumbing task keeps for boot ------------------------------------------------------------
def boot_files(tmp_path, name, wanted, systemd=True):
    return _boot.BootFiles(name, wanted, boot_dir=str(tmp_path / 'etc'), engine_dir=str(tmp_path / 'lib'),
                           unit_dir=str(tmp_path / 'units'), python='/usr/bin/python3', systemd=systemd)


def run(files, check=False):
    tx = Transaction(check)
    reloads = []
    files.apply(tx, files.plan(), lambda: reloads.append(1))
    tx.commit()
    return files.actions, reloads


DECL = {'netns': '', 'sections': {'namespaces': [{'name': 'qdhcp-42', 'state': 'present'}]}}


def test_first_save_writes_declaration_engine_unit_and_enables_it(tmp_path):
    actions, reloads = run(boot_files(tmp_path, 'dhcp', DECL))
    assert [a.split(' /')[0] for a in actions] == ['save the boot declaration', 'write the boot engine', 'write the unit',
                                                   'enable virtnet-boot.service']
    assert json.loads((tmp_path / 'etc' / 'dhcp.json').read_text()) == DECL
    assert os.stat(str(tmp_path / 'etc' / 'dhcp.json')).st_mode & 0o777 == 0o600
    unit = (tmp_path / 'units' / 'virtnet-boot.service').read_text()
    assert 'ExecStart=/usr/bin/python3 %s/lib/engine.pyz' % tmp_path in unit and 'WantedBy=multi-user.target' in unit
    assert os.readlink(str(tmp_path / 'units' / 'multi-user.target.wants' / 'virtnet-boot.service')) == \
        str(tmp_path / 'units' / 'virtnet-boot.service')
    assert reloads == [1]


def test_the_same_declaration_again_changes_nothing(tmp_path):
    run(boot_files(tmp_path, 'dhcp', DECL))
    assert run(boot_files(tmp_path, 'dhcp', DECL)) == ([], [])


def test_check_mode_reports_and_writes_nothing(tmp_path):
    actions, reloads = run(boot_files(tmp_path, 'dhcp', DECL), check=True)
    assert len(actions) == 4 and reloads == [] and not os.path.exists(str(tmp_path / 'etc'))


def test_a_changed_declaration_updates_only_its_file(tmp_path):
    run(boot_files(tmp_path, 'dhcp', DECL))
    other = {'netns': '', 'sections': {'namespaces': [{'name': 'qdhcp-43', 'state': 'present'}]}}
    files = boot_files(tmp_path, 'dhcp', other)
    actions, _r = run(files)
    assert actions == ['update the boot declaration %s/etc/dhcp.json' % tmp_path]
    assert files.diff({'namespaces': 10}) == ({'path': files.path, 'objects': ['namespaces/qdhcp-42']},
                                              {'path': files.path, 'objects': ['namespaces/qdhcp-43']})


def test_off_removes_the_declaration_and_with_the_last_one_the_unit_and_engine(tmp_path):
    run(boot_files(tmp_path, 'dhcp', DECL))
    run(boot_files(tmp_path, 'vpn', DECL))
    assert run(boot_files(tmp_path, 'dhcp', None))[0] == ['remove the boot declaration %s/etc/dhcp.json' % tmp_path]
    actions, reloads = run(boot_files(tmp_path, 'vpn', None))
    assert len(actions) == 4 and reloads == [1]
    assert sorted(os.listdir(str(tmp_path / 'units'))) == ['multi-user.target.wants']
    assert os.listdir(str(tmp_path / 'units' / 'multi-user.target.wants')) == [] and os.listdir(str(tmp_path / 'lib')) == []
    assert run(boot_files(tmp_path, 'vpn', None)) == ([], [])


def test_without_systemd_nothing_is_saved(tmp_path):
    files = boot_files(tmp_path, 'dhcp', DECL, systemd=False)
    assert run(files) == ([], []) and not os.path.exists(str(tmp_path / 'etc'))
    assert files.result({})['systemd'] is False


def test_a_failure_later_in_the_task_undoes_the_boot_files(tmp_path):
    run(boot_files(tmp_path, 'vpn', DECL))
    before = (tmp_path / 'etc' / 'vpn.json').read_bytes()
    tx = Transaction(False)
    files = boot_files(tmp_path, 'vpn', None)
    files.apply(tx, files.plan(), lambda: None)
    assert not os.path.exists(str(tmp_path / 'etc' / 'vpn.json'))
    tx.rollback()
    assert (tmp_path / 'etc' / 'vpn.json').read_bytes() == before
    assert os.path.islink(str(tmp_path / 'units' / 'multi-user.target.wants' / 'virtnet-boot.service'))


def test_the_engine_copy_is_the_same_bytes_every_time_and_runs_main():
    data = _boot.engine_bytes()
    assert data == _boot.engine_bytes()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert '__main__.py' in names
    assert 'ansible_collections/virtnet/linux/plugins/module_utils/_plumbing.py' in names
    assert 'ansible/module_utils/common/arg_spec.py' in names


# ---- the daemon module's boot part ----------------------------------------------------------------------
def spec(**kw):
    p = dict(name='d1', argv=['/bin/sleep', '1000'], netns='', user=None, group=None, ambient_capabilities=None,
             environment=None, restart_key='k', reload_key=None, reload_signal='HUP', state='started',
             pidfile=None, log_file=None, start_wait=0, stop_timeout=10, service_manager='systemd')
    p.update(kw)
    return _core.normalise(p)


def test_boot_adds_only_ordering_and_install_to_the_unit():
    on, off = unit_text(spec(boot=True)), unit_text(spec(boot=False))
    assert 'After=virtnet-boot.service\n' in on and on.endswith('[Install]\nWantedBy=multi-user.target\n')
    assert without_boot(on) == off and without_boot(off) == off


def test_boot_is_only_for_a_daemon_that_runs():
    assert spec(boot=True, state='stopped')['boot'] is False and spec(boot=True)['boot'] is True


class Host(object):
    """What a systemd back end would find on a host: a running process per unit, enabled units."""

    def __init__(self):
        self.running = {}       # name -> pid
        self.enabled = set()
        self.units = {}         # name -> unit text
        self.pid = 100


class FakeSystemd(_base.Backend):
    kind = 'systemd'
    supports_boot = True
    host = None

    def describe(self, spec):
        return {'unit': 'virtnet-%s.service' % spec['name']}

    def read(self, entries):
        out = []
        for spec, record in entries:
            pid = self.host.running.get(spec['name'])
            text = self.host.units.get(spec['name'])
            cur = dict(running=pid is not None, pid=pid, exists=text is not None, record=record,
                       boot=spec['name'] in self.host.enabled)
            if pid is not None:
                cur.update(in_netns=True, uid=0, unit_differs=without_boot(text) != unit_text(spec, boot=False),
                           boot_unit_differs=text != unit_text(spec))
            out.append(cur)
        return out

    def install(self, spec):
        self.host.units[spec['name']] = unit_text(spec)

    def launch(self, specs_currents):
        tokens = []
        for spec, _current in specs_currents:
            self.host.pid += 1
            self.host.running[spec['name']] = self.host.pid
            tokens.append({})
        return tokens

    def poll(self, entries):
        return [('up', self.host.running[spec['name']]) for spec, _token in entries]

    def set_boot(self, spec, on):
        (self.host.enabled.add if on else self.host.enabled.discard)(spec['name'])


@pytest.fixture
def host(tmp_path, monkeypatch):
    monkeypatch.setattr(_base, 'STATE_DIR', str(tmp_path / 'run'))
    monkeypatch.setattr(_core, 'STATE_DIR', str(tmp_path / 'run'))
    monkeypatch.setattr(_core, 'PERSIST_DIR', str(tmp_path / 'lib'))
    monkeypatch.setattr(_core, 'BACKENDS', {'systemd': FakeSystemd})
    h = Host()
    monkeypatch.setattr(FakeSystemd, 'host', h)
    h.tmp = tmp_path
    return h


def ensure(*specs, check=False):
    return [d.result() for d in _core.ensure(list(specs), check, None, None)]


def reboot(host):
    """/run is gone, processes too; what the unit starts at boot runs again (a new PID)."""
    for f in os.listdir(str(host.tmp / 'run')):
        os.unlink(str(host.tmp / 'run' / f))
    host.running = {}
    for name in host.enabled:
        host.pid += 1
        host.running[name] = host.pid


def test_a_daemon_with_boot_is_enabled_and_after_a_reboot_nothing_changes(host):
    first = ensure(spec(boot=True))[0]
    assert (first['action'], first['boot'], first['starts'], first['changed']) == ('started', True, 1, True)
    assert host.enabled == {'d1'}
    reboot(host)
    again = ensure(spec(boot=True))[0]
    assert (again['action'], again['changed'], again['starts']) == ('none', False, 1)
    assert ensure(spec(boot=True))[0]['changed'] is False


def test_without_boot_a_reboot_means_a_start_and_the_counter_goes_on(host):
    ensure(spec())
    reboot(host)
    after = ensure(spec())[0]
    assert (after['action'], after['starts'], after['boot']) == ('started', 2, False)


def test_switching_boot_restarts_nothing(host):
    ensure(spec())
    pid = host.running['d1']
    check = ensure(spec(boot=True), check=True)[0]
    assert (check['changed'], check['boot'], host.enabled) == (True, True, set())
    on = ensure(spec(boot=True))[0]
    assert (on['action'], on['changed'], on['boot'], host.running['d1']) == ('none', True, True, pid)
    assert host.units['d1'] == unit_text(spec(boot=True))
    assert ensure(spec(boot=True))[0]['changed'] is False
    off = ensure(spec(boot=False))[0]
    assert (off['action'], off['changed'], off['boot'], host.enabled, host.running['d1']) == ('none', True, False, set(), pid)
    assert ensure(spec(boot=False))[0]['changed'] is False
    reboot(host)
    assert ensure(spec())[0]['action'] == 'started'


def test_a_restart_counts_and_check_mode_predicts_it(host):
    ensure(spec(boot=True))
    assert ensure(spec(boot=True, restart_key='k2'), check=True)[0]['starts'] == 2
    assert ensure(spec(boot=True, restart_key='k2'))[0]['starts'] == 2
    reboot(host)
    assert ensure(spec(boot=True, restart_key='k2'))[0]['changed'] is False
