# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The segment role on the three hosts of segment_test (dhcp1 plain, dhcp2 systemd, cmp1 plain), by traffic
and by the kernel's own tables: networks 71 and 72 (molecule/segment/vars/networks.yml) on all three, through
molecule/segment's converge.yml and verify.yml, with per-host variants as extra vars (segment_test_by_host).

Steps (module-scoped fixtures, each on the state the one before left):
  refused (bad inputs, nothing changed on any host) -> checked_fresh -> converged -> rebooted (dhcp2, systemd:
  back without a converge) -> reconverged (changed=0) -> verified
  (traffic across hosts, isolation) -> dropped (cmp1 leaves 71) -> purged (71 no longer listed) -> removed
  -> removed_again
"""

from __future__ import annotations

import os
import time

import pytest
import yaml

from harness.runs import assert_run, checked  # pylint: disable=import-error

LAB = 'roles'
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MOL = os.path.join(TOP, 'molecule', 'segment')
HOSTS = ['cmp1', 'dhcp1', 'dhcp2']
with open(os.path.join(MOL, 'vars', 'networks.yml')) as _f:
    BASE = yaml.safe_load(_f)['segment_test_networks']
N71, N72 = BASE
VX71, VX72 = 'vxlan-%d' % N71['vni'], 'vxlan-%d' % N72['vni']


def by_host(**nets):
    """Extra vars: HOST -> its segment_networks (the others keep BASE)."""
    return {'segment_test_by_host': nets}


def converge(runs, lab, name, v=None, **kw):
    return runs.play(os.path.join(MOL, 'converge.yml'), lab.inventory, name=name, extravars=v or {}, **kw)


# ---- reading the hosts ---------------------------------------------------------------------------------
READ = ('ls /etc/virtnet/boot 2>/dev/null | sed "s/^/boot: /"; ip -d -o link show; echo "--fdb"; '
        'for d in $(ip -o link show type vxlan | sed -E "s/^[0-9]+: ([^:@]+).*/\\1/"); '
        'do echo "--fdb $d"; bridge fdb show dev "$d" | sort; done; true')


def kernel(lab):
    """Every host's links (`ip -d -o link show`) and the forwarding entries of its VXLAN devices: one read
    per host. What a refused or check-mode run must not change, and what the checks below look at."""
    return dict((h, lab.out(h, READ)) for h in HOSTS)


def link(seen, host, name):
    """The `ip -d -o link show` line of NAME on HOST ('' without it)."""
    for line in seen[host].split('\n--fdb')[0].splitlines():
        if line.split(': ', 1)[-1].split('@')[0].split(':')[0] == name:
            return line + ' '
    return ''


def flood(seen, host, dev):
    """The flood entries (all-zero forwarding entries) of DEV on HOST, sorted; None without the device."""
    if not link(seen, host, dev):
        return None
    entries = seen[host].split('--fdb %s\n' % dev, 1)[1].split('--fdb')[0].splitlines()
    return sorted(line.split(' dst ')[1].split()[0] for line in entries
                  if line.startswith('00:00:00:00:00:00 ') and ' dst ' in line)


def boot_saved(seen, host):
    """Whether HOST keeps the role's declaration for boot (/etc/virtnet/boot/segment.json)."""
    return 'boot: segment.json' in seen[host].splitlines()


def devices(seen, host):
    """What boot restore must bring back of the role's devices on HOST: per device its master, MTU, VXLAN id,
    local address, alias, and its flood entries (not the ifindex, which a reboot changes)."""
    out = {}
    for name in (VX71, VX72, 'brq71', 'brq72'):
        line = link(seen, host, name)
        words = line.split()
        keep = [w for k, w in zip(words, words[1:]) if k in ('master', 'mtu', 'id', 'local', 'alias')]
        out[name] = (keep, flood(seen, host, name) if name.startswith('vxlan') else None)
    return out


def others(lab, host):
    """The underlay addresses of the other hosts of segment_test."""
    return sorted(lab.address(h) for h in HOSTS if h != host)


def step(lab, run):
    """A run and the hosts as it left them."""
    return run, kernel(lab)


# ---- 1. bad inputs: refused naming the network, nothing changed on any host ---------------------------------
ON_ONE_HOST = [   # (what, what the message says) - cmp1's networks below, all in one run (the host's own check)
    ('vni-0', 'network 71 (on cmp1): vni 0 is not a VXLAN id (1 to 16777215)'),
    ('vni-too-big', 'network 72 (on cmp1): vni 16777216 is not a VXLAN id (1 to 16777215)'),
    ('mtu-above-underlay', 'network 73 (on cmp1): mtu 1500 is above 1450, the underlay'),
    ('bad-id', "network Seg_1 (on cmp1): id 'Seg_1' must be 1 to 11 characters of a-z, 0-9 and -"),
]
ONE_HOST = by_host(cmp1=[dict(N71, vni=0), dict(N72, vni=16777216), {'id': '73', 'vni': 7073, 'mtu': 1500},
                         {'id': 'Seg_1', 'vni': 7074}])
N76 = {'id': '76', 'vni': 7076, 'hosts': ['dhcp1', 'dhcp2']}
ACROSS = [        # (what, what the message says) - the networks below, all in one run (the check across hosts)
    ('one-vni-two-networks',
     'vni %d is used by network 71 (on cmp1) and network 73 (on dhcp2): one VNI, one network' % N71['vni']),
    ('different-vni', 'network 71: vni %d on cmp1 but 7075 on dhcp1 (the same on every host of the network)'
     % N71['vni']),
    ('different-port', 'network 72: port 8472 on cmp1 but 4789 on dhcp1'),
    ('host-not-in-inventory', 'network 74 (on dhcp1): host net9 in hosts is not in the inventory'),
    ('host-missing-from-hosts', 'network 76: cmp1 declares it but is not in its hosts list (dhcp1, dhcp2)'),
]
ACROSS_HOSTS = by_host(cmp1=[N71, dict(N72, port=8472), N76],
                       dhcp1=[dict(N71, vni=7075), N72, {'id': '74', 'vni': 7074, 'hosts': ['dhcp1', 'net9']}, N76],
                       dhcp2=[N72, {'id': '73', 'vni': N71['vni']}, N76])


@pytest.fixture(scope='module')
def refused(lab, runs):
    one = checked(lambda: kernel(lab), lambda: converge(runs, lab, 'refused-one-host', ONE_HOST))
    across = checked(lambda: kernel(lab), lambda: converge(runs, lab, 'refused-across', ACROSS_HOSTS))
    return one, across


def test_bad_input_on_one_host_fails_the_run(refused):
    run = refused[0][0]
    assert not run.ok and run.failed_hosts == ['cmp1'], run.report()


def test_bad_input_across_hosts_fails_the_run_on_every_host(refused):
    run = refused[1][0]
    assert sorted(run.failed_hosts) == HOSTS, run.report()


@pytest.mark.parametrize('message', [b[1] for b in ON_ONE_HOST], ids=[b[0] for b in ON_ONE_HOST])
def test_bad_input_on_one_host_is_refused_naming_the_network(refused, message):
    assert message in '\n'.join(refused[0][0].messages())


@pytest.mark.parametrize('message', [b[1] for b in ACROSS], ids=[b[0] for b in ACROSS])
def test_bad_input_across_hosts_is_refused_naming_the_network(refused, message):
    assert message in '\n'.join(refused[1][0].messages())


def test_bad_inputs_change_nothing_on_any_host(refused):
    for _run, before, after in refused:
        assert after == before


# ---- 2. check mode on fresh hosts, apply, again ----------------------------------------------------------
@pytest.fixture(scope='module')
def checked_fresh(lab, runs, refused):
    return checked(lambda: kernel(lab), lambda: converge(runs, lab, 'check-fresh', check=True, diff=True))


def test_check_mode_on_fresh_hosts_reports_changes(checked_fresh):
    assert_run(checked_fresh[0], hosts=HOSTS, changed=True)


def test_check_mode_on_fresh_hosts_changes_nothing(checked_fresh):
    assert checked_fresh[2] == checked_fresh[1]


@pytest.fixture(scope='module')
def converged(lab, runs, checked_fresh):
    return step(lab, converge(runs, lab, 'converge', diff=True))


def test_first_converge_changes_every_host(converged):
    assert_run(converged[0], hosts=HOSTS, changed=True)


@pytest.fixture(scope='module')
def rebooted(lab, converged):
    """dhcp2 (systemd) rebooted without a converge: its devices come back from the saved declaration (the
    boot unit; waited for 30 s at most, its flood entries read once a second)."""
    lab.reboot('dhcp2')
    for _attempt in range(30):
        if lab.ok('dhcp2', '[ $(bridge fdb show dev %s | grep -c ^00:00:00:00:00:00) = 2 ] && '
                           '[ $(bridge fdb show dev %s | grep -c ^00:00:00:00:00:00) = 2 ]' % (VX71, VX72)):
            break
        time.sleep(1)
    return kernel(lab)


def test_converge_saves_the_segments_for_boot_on_the_systemd_host_only(converged):
    assert [h for h in HOSTS if boot_saved(converged[1], h)] == ['dhcp2']


def test_reboot_of_the_systemd_host_brings_devices_and_flood_entries_back_without_a_converge(converged, rebooted):
    assert devices(rebooted, 'dhcp2') == devices(converged[1], 'dhcp2')
    assert flood(rebooted, 'dhcp2', VX71) == flood(converged[1], 'dhcp2', VX71) != []


@pytest.fixture(scope='module')
def reconverged(lab, runs, rebooted):
    return converge(runs, lab, 'converge-again')


def test_second_converge_changes_nothing(reconverged):
    assert_run(reconverged, hosts=HOSTS, changed=False)


def test_each_vxlan_device_is_a_port_of_its_bridge_with_the_underlay_mtu(lab, converged):
    seen = converged[1]
    for h in HOSTS:
        for net, dev in ((N71, VX71), (N72, VX72)):
            shown = link(seen, h, dev)
            assert ' master brq%s ' % net['id'] in shown and ' mtu 1450 ' in shown, (h, shown)
            assert 'vxlan id %d ' % net['vni'] in shown and 'local %s ' % lab.address(h) in shown, (h, shown)
            assert ' mtu 1450 ' in link(seen, h, 'brq' + net['id']), h


def test_flood_entries_are_every_other_host(lab, converged):
    for h in HOSTS:
        assert flood(converged[1], h, VX71) == others(lab, h), h
        assert flood(converged[1], h, VX72) == others(lab, h), h


# ---- 3. traffic across hosts through brq<id>, none between the networks --------------------------------------
@pytest.fixture(scope='module')
def verified(lab, runs, reconverged):
    return runs.play(os.path.join(MOL, 'verify.yml'), lab.inventory, name='verify')


def test_traffic_across_hosts_through_the_bridges_and_none_between_networks(verified):
    assert_run(verified, hosts=HOSTS)
    pings = [r for r in verified.results(action='virtnet.linux.netns_exec') if r.is_item]
    assert len(pings) == 6, verified.report()
    for r in pings:     # each guest: its network's two other hosts reached, the other network's three missed
        reached = [line for line in r.res['stdout_lines'] if line.startswith('reached ')]
        missed = [line for line in r.res['stdout_lines'] if line.startswith('missed ')]
        assert len(reached) == 2 and len(missed) == 3, (r.host, r.res['stdout_lines'])


# ---- 4. a host dropped from a network loses its flood entries on the others ---------------------------------
DROPPED = by_host(cmp1=[{'id': '71', 'vni': N71['vni'], 'state': 'absent'}, N72],
                  dhcp1=[dict(N71, hosts=['dhcp1', 'dhcp2']), N72],
                  dhcp2=[dict(N71, hosts=['dhcp1', 'dhcp2']), N72])


@pytest.fixture(scope='module')
def dropped(lab, runs, verified):
    return step(lab, converge(runs, lab, 'drop-cmp1', DROPPED))


def test_dropping_a_host_changes(dropped):
    assert_run(dropped[0], hosts=HOSTS, changed=True)


def test_dropped_host_loses_its_flood_entries_on_the_others(lab, dropped):
    assert flood(dropped[1], 'dhcp1', VX71) == [lab.address('dhcp2')]
    assert flood(dropped[1], 'dhcp2', VX71) == [lab.address('dhcp1')]
    assert flood(dropped[1], 'dhcp1', VX72) == others(lab, 'dhcp1')


def test_dropped_host_has_no_device_and_no_bridge_of_the_network(lab, dropped):
    assert link(dropped[1], 'cmp1', VX71) == '' and link(dropped[1], 'cmp1', 'brq71') == ''
    assert flood(dropped[1], 'cmp1', VX72) == others(lab, 'cmp1')


# ---- 5. purge: a network no longer listed goes, with segment_purge only ------------------------------------
ONLY_72 = by_host(cmp1=[N72], dhcp1=[N72], dhcp2=[N72])


@pytest.fixture(scope='module')
def purged(lab, runs, dropped):
    return (step(lab, converge(runs, lab, 'unlisted-kept', ONLY_72)),
            step(lab, converge(runs, lab, 'purge', dict(ONLY_72, segment_test_purge=True))))


def test_unlisted_network_stays_without_purge(purged):
    run, seen = purged[0]
    assert_run(run, hosts=HOSTS)
    # its devices stay everywhere; only dhcp2's saved boot declaration changes (it no longer restores 71)
    assert [h for h in HOSTS if run.stats[h]['changed']] == ['dhcp2'], run.report()
    assert link(seen, 'dhcp1', VX71) and link(seen, 'dhcp2', VX71) and link(seen, 'dhcp2', 'brq71')


def test_purge_removes_the_unlisted_network(lab, purged):
    run, seen = purged[1]
    assert_run(run, hosts=HOSTS, changed=True)
    for h in HOSTS:
        assert link(seen, h, VX71) == '' and link(seen, h, 'brq71') == '', h
        assert flood(seen, h, VX72) == others(lab, h), h


# ---- 6. remove, remove again ------------------------------------------------------------------------------
ABSENT = by_host(**dict((h, [{'id': n['id'], 'vni': n['vni'], 'state': 'absent'} for n in BASE]) for h in HOSTS))


@pytest.fixture(scope='module')
def removed(lab, runs, purged):
    return step(lab, converge(runs, lab, 'remove', ABSENT))


def test_remove_changes(removed):
    assert_run(removed[0], hosts=HOSTS, changed=True)


def test_remove_leaves_no_device_bridge_flood_entry_or_boot_declaration(removed):
    for h in HOSTS:
        assert [n for n in (VX71, VX72, 'brq71', 'brq72') if link(removed[1], h, n)] == [], h
        assert not boot_saved(removed[1], h), h


@pytest.fixture(scope='module')
def removed_again(lab, runs, removed):
    return converge(runs, lab, 'remove-again', ABSENT)


def test_remove_again_changes_nothing(removed_again):
    assert_run(removed_again, hosts=HOSTS, changed=False)
