# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab itself (tools/lab.sh), on one plain and one systemd host: what a host looks like, Ansible over
the lab's inventory, `up` again, a reboot, and `down` leaving nothing. The last tests take the lab down.

Run alone: tests/run.sh tests/lab  (or -k NAME)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.lab import leftovers  # pylint: disable=import-error
from harness.runs import assert_run  # pylint: disable=import-error

LAB = 'lab'
HERE = os.path.dirname(os.path.abspath(__file__))
HOSTS = ['p1', 's1']
INIT = {'p1': 'sshd', 's1': 'systemd'}


def inventory(lab):
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-inventory'), '-i', lab.inventory, '--list'],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_hosts_get_addresses_in_the_order_they_were_given(lab):
    inv = inventory(lab)
    assert [inv['_meta']['hostvars'][h]['ansible_host'] for h in HOSTS] == ['10.88.0.11', '10.88.0.12']


@pytest.mark.parametrize('host', HOSTS)
def test_host_has_its_own_hostname(lab, host):
    assert lab.out(host, 'hostname') == host


@pytest.mark.parametrize('host', HOSTS)
def test_host_has_no_default_route(lab, host):
    assert lab.out(host, 'ip -4 route show default; ip -6 route show default') == ''


@pytest.mark.parametrize('host', HOSTS)
def test_host_resolves_nothing_outside(lab, host):
    assert lab.out(host, 'cat /etc/resolv.conf') == 'nameserver 127.0.0.1'


@pytest.mark.parametrize('host', HOSTS)
def test_etc_hosts_lists_every_lab_host(lab, host):
    lines = lab.out(host, 'cat /etc/hosts').splitlines()
    assert '10.88.0.11 p1' in lines and '10.88.0.12 s1' in lines


@pytest.mark.parametrize('host', HOSTS)
def test_root_shell_profile_is_empty(lab, host):
    assert lab.out(host, 'wc -c < /root/.bashrc; wc -c < /root/.profile').split() == ['0', '0']


@pytest.mark.parametrize('host', HOSTS)
def test_pid1_is_the_init_of_the_host_kind(lab, host):
    assert lab.out(host, 'cat /proc/1/comm') == INIT[host]


def test_plain_host_pid1_reaps_orphans(lab):
    """An orphan gets sshd (PID 1) as its parent: once it ends it must not stay a zombie."""
    assert lab.out('p1', 'setsid sh -c "sleep 1 & exit 0"; sleep 2; ps -eo stat= | grep -c "^Z" || true') == '0'


@pytest.fixture(scope='module')
def facts(lab, runs):
    return runs.play(os.path.join(HERE, 'facts.yml'), lab.inventory, name='facts')


def test_ansible_reaches_every_host_over_ssh(facts):
    assert_run(facts, hosts=HOSTS)


def test_ansible_sees_each_host_kinds_service_manager(facts):
    seen = dict((r.host, r.res['ansible_facts']['ansible_service_mgr']) for r in facts.results(action='setup'))
    assert seen == {'p1': 'sshd', 's1': 'systemd'}


def test_inventory_gives_each_host_its_kind(lab):
    hostvars = inventory(lab)['_meta']['hostvars']
    assert dict((h, hostvars[h]['lab_kind']) for h in HOSTS) == {'p1': 'plain', 's1': 'systemd'}


def test_inventory_has_the_groups_given(lab):
    inv = inventory(lab)
    assert (sorted(inv['grp_a']['hosts']), inv['grp_b']['hosts']) == (HOSTS, ['s1'])


def test_ansible_control_sockets_live_in_the_lab_directory(lab, facts):
    assert [n for n in os.listdir(os.path.join(lab.dir, 'cp')) if n.startswith('root@')]


def test_up_again_restarts_no_host(lab):
    before = lab.pid1s()
    lab.up()
    assert lab.pid1s() == before


@pytest.fixture(scope='module')
def rebooted(lab):
    """Files, a /run marker, a namespace and a tun device made on each host, then stop and start."""
    for h in HOSTS:
        lab.run(h, 'echo kept > /root/file; touch /run/marker; ip netns add inner; ip tuntap add mode tun dev tx')
    lab.stop(*HOSTS)
    states = dict((h['name'], h['state']) for h in lab.status()['hosts'])
    lab.start(*HOSTS)
    return states


def test_stopped_hosts_are_reported_stopped(rebooted):
    assert rebooted == {'p1': 'stopped', 's1': 'stopped'}


@pytest.mark.parametrize('host', HOSTS)
def test_reboot_keeps_files(lab, rebooted, host):
    assert lab.out(host, 'cat /root/file') == 'kept'


@pytest.mark.parametrize('host', HOSTS)
def test_reboot_loses_runtime_namespaces_and_links(lab, rebooted, host):
    assert lab.out(host, 'ls /run/marker /run/netns/inner 2>/dev/null | wc -l; ip -o link | wc -l').split() == ['0', '2']


def test_down_leaves_nothing(lab):
    """Namespaces, links, mounts, cgroup directories, control sockets, processes: none left."""
    lab_id = lab.lab_id
    lab.lab_sh('down')
    lab.is_up = False
    assert leftovers(lab.dir, lab_id) == []


def test_down_again_when_nothing_is_up(lab):
    lab.lab_sh('down')
    lab.is_up = False
    lab.lab_sh('down')
    assert not os.path.exists(os.path.join(lab.dir, 'hosts'))
