# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The daemon module's systemd back end: the unit file and reading systemctl show (no systemd involved)."""

from __future__ import annotations

from ansible_collections.virtnet.linux.plugins.module_utils._daemon.core import normalise
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.systemd import (
    SystemdBackend, parse_journal, parse_show, unit_text,
)
from ansible_collections.virtnet.linux.tests.unit.plugins.module_utils.test_daemon_core import params


def test_unit_text_quotes_and_options():
    spec = normalise(params(argv=['/usr/sbin/openvpn', '--config', '/etc/x y/%i.conf', 'a"b$c'],
                            netns='vpn', user='nobody', ambient_capabilities=['net_admin'],
                            environment={'K': 'v 1'}, reload_signal='usr1'))
    text = unit_text(spec)
    assert 'ExecStart="/usr/sbin/openvpn" "--config" "/etc/x y/%%i.conf" "a\\"b$$c"\n' in text
    assert 'NetworkNamespacePath=/run/netns/vpn\n' in text
    assert 'User=nobody\nGroup=nogroup\n' in text
    assert 'AmbientCapabilities=CAP_NET_ADMIN\nCapabilityBoundingSet=CAP_NET_ADMIN\n' in text
    assert 'ExecReload=/bin/kill -s USR1 $MAINPID\n' in text
    assert 'Environment="K=v 1"\n' in text


def test_show_of_several_units_in_one_call():
    out = ('Id=virtnet-a.service\nActiveState=active\nMainPID=10\n\n'
           'Id=virtnet-b.service\nActiveState=inactive\nMainPID=0\n')
    props = parse_show(out, ['virtnet-a.service', 'virtnet-b.service', 'virtnet-c.service'])
    assert props['virtnet-a.service']['MainPID'] == '10'
    assert props['virtnet-b.service']['ActiveState'] == 'inactive'
    assert props['virtnet-c.service'] == {}


def test_show_blocks_in_the_order_asked():
    out = 'Id=other.service\nActiveState=active\n\nId=virtnet-b.service\nActiveState=failed\n'
    props = parse_show(out, ['virtnet-a.service', 'virtnet-b.service'])
    assert props['virtnet-a.service']['ActiveState'] == 'active'
    assert props['virtnet-b.service']['ActiveState'] == 'failed'


def test_journal_lines_by_unit():
    out = '\n'.join([
        '{"MESSAGE": "dnsmasq[7]: cannot read /x/hosts: Permission denied", "_SYSTEMD_UNIT": "virtnet-a.service"}',
        '{"MESSAGE": "virtnet-b.service: Main process exited", "_SYSTEMD_UNIT": "init.scope", "UNIT": "virtnet-b.service"}',
        '{"MESSAGE": [104, 105], "_SYSTEMD_UNIT": "virtnet-a.service"}',
        'not json',
    ])
    assert parse_journal(out) == [
        (('virtnet-a.service', None), 'dnsmasq[7]: cannot read /x/hosts: Permission denied'),
        (('init.scope', 'virtnet-b.service'), 'virtnet-b.service: Main process exited'),
        (('virtnet-a.service', None), 'hi'),
    ]


class FakeRun(object):
    def __init__(self, outputs):
        self.outputs = outputs
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        return 0, self.outputs.pop(0), ''


def test_what_units_logged_after_one_cursor_is_one_journalctl():
    run = FakeRun(['{"__CURSOR": "s=1;i=2", "MESSAGE": "x"}\n', '',
                   '{"MESSAGE": "a1", "_SYSTEMD_UNIT": "virtnet-a.service"}\n'
                   '{"MESSAGE": "b1", "_SYSTEMD_UNIT": "init.scope", "UNIT": "virtnet-b.service"}\n'
                   '{"MESSAGE": "other", "_SYSTEMD_UNIT": "cron.service"}\n'])
    be = SystemdBackend(run, None)
    specs = [normalise(params(name='a')), normalise(params(name='b')), normalise(params(name='c'))]
    marks = be.log_marks(specs)
    assert marks[0][0] == 's=1;i=2' and len(set(marks)) == 1
    assert be.logged(list(zip(specs, marks))) == [['a1'], ['b1'], []]
    assert len(run.calls) == 3 and run.calls[1] == ['journalctl', '--sync']
    assert '--after-cursor=s=1;i=2' in run.calls[2]
    assert run.calls[2][-6:] == ['-u', 'virtnet-a.service', '-u', 'virtnet-b.service', '-u', 'virtnet-c.service']
