# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The dhcp_namespace role on the real kernel with real DHCP clients, on two lab hosts at once: dhcp1
(plain: dnsmasq by pid file) and dhcp2 (systemd: dnsmasq as a unit), with a qemu guest on dhcp2.
Networks 42 and 43 come from molecule/shared/vars/dhcp_networks.yml; the variants below change them
(extra vars). The converge and verify playbooks are molecule/dhcp_namespace's; the guests' DHCP client
hooks are playbooks/tasks/files/'s.

Steps (module-scoped fixtures, each on the state the one before left):
  refused -> checked_fresh -> applied -> applied_again -> checked_converged -> verified -> guests ->
  checked_hosts -> hosts_changed -> range_changed -> dnsmasq_killed -> netns_deleted -> veth_deleted
  -> repaired_again -> uplinked -> uplink_dropped -> checked_absent -> absent43 -> qemu_guest
  -> checked_purge -> purged
and, on network 44 in state directories of their own (independent of the steps above): locked ->
unreadable (files dnsmasq's user cannot read; with --deep also the run after each failure and the
again-runs: the tests marked deep).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import time

import pytest
import yaml

from harness.runs import assert_run, checked, daemon_actions  # pylint: disable=import-error

LAB = 'roles'
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HERE = os.path.dirname(os.path.abspath(__file__))
MOL = os.path.join(TOP, 'molecule', 'dhcp_namespace')
HOSTS = ['dhcp1', 'dhcp2']
STATE = '/var/lib/virtnet/dhcp'
HOOKS = '/usr/local/lib/virtnet-dhcp'
with open(os.path.join(TOP, 'molecule', 'shared', 'vars', 'dhcp_networks.yml')) as _f:
    BASE = yaml.safe_load(_f)['dhcp_namespace_networks']


# ---- the networks and their variants -------------------------------------------------------------------
def networks(*changes, purge=False):
    nets = copy.deepcopy(BASE)
    by_id = dict((n['id'], n) for n in nets)
    for change in changes:
        change(by_id)
    return {'dhcp_namespace_networks': nets, 'dhcp_namespace_purge': purge}


def web2(n):                    # 42: one more static host (a SIGHUP)
    n['42']['hosts'].append({'mac': '52:54:00:00:42:11', 'ip': '10.42.0.11', 'name': 'web2'})


def narrower(n):                # 42: another range (a restart)
    n['42']['range_end'] = '10.42.0.189'


def uplink(n):                  # 42: an uplink NIC on its bridge
    n['42']['uplink'] = 'upl42'


def absent43(n):
    n['43']['state'] = 'absent'


BAD = [  # (network, its definition, what the message says)
    ('abcdefghijkl', {'subnet': '10.1.0.0/24', 'range_start': '10.1.0.100', 'range_end': '10.1.0.199'},
     "network abcdefghijkl: id 'abcdefghijkl' must be 1 to 11 characters"),
    ('Net1', {'subnet': '10.1.0.0/24', 'range_start': '10.1.0.100', 'range_end': '10.1.0.199'},
     "network Net1: id 'Net1' must be 1 to 11"),
    ('7', {'subnet': '10.7.0.0/24', 'range_start': '10.7.0.100', 'range_end': '10.8.0.199'},
     'network 7: range_end 10.8.0.199 is not a host address of subnet 10.7.0.0/24'),
    ('8', {'subnet': '10.8.0.0/24', 'range_start': '10.8.0.199', 'range_end': '10.8.0.100'},
     'network 8: range_start 10.8.0.199 is after range_end 10.8.0.100'),
    ('9', {'subnet': '10.9.0.0/24', 'range_start': '10.9.0.100', 'range_end': '10.9.0.199', 'server_address': '10.9.0.150'},
     'network 9: server_address 10.9.0.150 is inside the dynamic range'),
    ('10', {'subnet': '10.10.0.0/24', 'range_start': '10.10.0.100', 'range_end': '10.10.0.199', 'router': '10.99.0.1'},
     'network 10: router 10.99.0.1 is not a host address'),
    ('11', {'subnet': '10.11.0.1/24', 'range_start': '10.11.0.100', 'range_end': '10.11.0.199'},
     'network 11: subnet 10.11.0.1/24 has host bits set'),
    ('12', {'subnet': '10.12.0.0/24', 'range_start': '10.12.0.100', 'range_end': '10.12.0.199'},
     'network 12: id 12 is used twice'),
    ('13', {'subnet': '10.13.0.0/24', 'range_start': '10.13.0.100', 'range_end': '10.13.0.199',
            'hosts': [{'mac': '52:54:00:00:13:10', 'ip': '10.13.0.10'}, {'mac': '52:54:00:00:13:11', 'ip': '10.13.0.10'}]},
     'network 13: host 52:54:00:00:13:11: ip 10.13.0.10 is already used by host 52:54:00:00:13:10'),
    ('14', {'subnet': '10.14.0.0/24', 'range_start': '10.14.0.100', 'range_end': '10.14.0.199',
            'hosts': [{'mac': '52:54:00:00:14', 'ip': '10.14.0.10'}]},
     "network 14: hosts[0]: mac '52:54:00:00:14' is not a MAC address"),
    ('15', {'subnet': '10.15.0.0/24', 'range_start': '10.15.0.100', 'range_end': '10.15.0.199',
            'hosts': [{'mac': '52:54:00:00:15:10', 'ip': '10.15.0.1'}]},
     "network 15: host 52:54:00:00:15:10: ip 10.15.0.1 is the server's address"),
    ('16', {'range_start': '10.16.0.100', 'range_end': '10.16.0.199'}, 'network 16: subnet is required'),
    ('17', {'subnet': '10.17.0.0/24', 'range_start': '10.17.0.100', 'range_end': '10.17.0.199', 'lease_time': '12 hours'},
     "network 17: lease_time '12 hours' is not dnsmasq's form"),
    ('18', {'subnet': '10.18.0.0/24', 'range_start': '10.18.0.100', 'range_end': '10.18.0.199', 'state': 'gone'},
     "network 18: state must be present or absent, not 'gone'"),
    ('20', {'subnet': '10.20.0.0/24', 'range_start': '10.20.0.100', 'range_end': '10.20.0.199', 'uplink': 'upl42'},
     'network 20: uplink upl42 is already the uplink of network 19'),
]


def bad_networks():
    nets = [dict(b[1], id=b[0]) for b in BAD]
    nets.insert(8, dict(nets[7]))       # network 12 twice
    nets.insert(-1, {'id': '19', 'subnet': '10.19.0.0/24', 'range_start': '10.19.0.100', 'range_end': '10.19.0.199', 'uplink': 'upl42'})
    return {'dhcp_namespace_networks': nets}


# ---- the hosts -----------------------------------------------------------------------------------------
def on_both(lab, script):
    return dict((h, lab.out(h, script)) for h in HOSTS)


def snapshot(lab):
    """Links, namespaces, the role's files and the namespaces' addresses of each host."""
    return on_both(lab, 'ip -br link | sed "s/ \\+/ /g" | cut -d" " -f1; ip netns list; ls -R %s 2>/dev/null; '
                        'for n in $(ip netns list | cut -d" " -f1); do ip -n "$n" -br addr; done; '
                        'cat %s/*/*.conf %s/*/hosts %s/*/opts 2>/dev/null; true' % (STATE, STATE, STATE, STATE))


def dnsmasq(lab, host, net):
    """The PID of the dnsmasq that runs inside qdhcp-NET ('' if none)."""
    return lab.out(host, 'for p in $(ip netns pids qdhcp-%s 2>/dev/null); do [ "$(cat /proc/$p/comm)" = dnsmasq ] && echo $p; done; true' % net)


def pids(lab):
    return dict(((h, n), dnsmasq(lab, h, n)) for h in HOSTS for n in ('42', '43'))


def alive(lab, host, pid):
    return bool(pid) and lab.ok(host, '[ "$(cat /proc/%s/comm 2>/dev/null)" = dnsmasq ] && ! grep -q "^State:.*Z" /proc/%s/status' % (pid, pid))


def master(lab, host, link):
    """The bridge LINK is a port of ('' if none), as the kernel reports it (ip -j: a systemd host's /sys is
    not its network namespace's)."""
    links = json.loads(lab.out(host, 'ip -j link show dev %s 2>/dev/null || echo "[]"' % link) or '[]')
    return links[0].get('master', '') if links else ''


def acted(run):
    return dict(('%s:%s' % k, a) for k, a in daemon_actions(run).items())


def ip_key(address):
    return [int(x) for x in address.split('.')]


def in_range(ip, lo, hi):
    return ip_key(lo) <= ip_key(ip) <= ip_key(hi)


def add_guest(lab, host, net, ns, mac):
    """A guest: namespace NS whose eth0 (MAC) is a veth whose other end g-NS is a port of brqNET."""
    lab.run(host, 'ip netns add {ns} && ip link add g-{ns} type veth peer name eth0 netns {ns} && '
                  'ip link set g-{ns} master brq{net} up && ip -n {ns} link set eth0 address {mac} up'.format(ns=ns, net=net, mac=mac))


def lease(lab, host, ns, client='udhcpc'):
    """A lease in guest NS with the shared hook of CLIENT; what the server sent (the hook's record), or {}."""
    if client == 'dhclient':
        cmd = ('ip netns exec {ns} timeout 30 dhclient -4 -1 -sf {h}/dhclient-hook.sh -lf /run/virtnet-dhcp/{ns}.leases '
               '-pf /run/virtnet-dhcp/{ns}.pid eth0; rc=$?; '
               'for p in $(ip netns pids {ns}); do [ "$(cat /proc/$p/comm)" = dhclient ] && kill $p; done; exit $rc')
    else:
        cmd = 'ip netns exec {ns} timeout 30 busybox udhcpc -i eth0 -n -q -t 5 -T 1 -s {h}/udhcpc-hook.sh'
    lab.run(host, 'rm -f /run/virtnet-dhcp/{ns}.lease; '.format(ns=ns) + cmd.format(ns=ns, h=HOOKS), check=False, timeout=60)
    text = lab.run(host, 'cat /run/virtnet-dhcp/%s.lease' % ns, check=False).stdout
    return dict(line.split('=', 1) for line in text.splitlines() if '=' in line)


def converge(runs, lab, name, v, **kw):
    return runs.play(os.path.join(MOL, 'converge.yml'), lab.inventory, name=name, limit=','.join(HOSTS),
                     extravars=dict(v, dhcp_namespace_install_packages=False), **kw)


# ---- 1. bad inputs fail naming the network, and change nothing (one converge, every problem reported) --
@pytest.fixture(scope='module')
def refused(lab, runs):
    return checked(lambda: snapshot(lab), lambda: converge(runs, lab, 'bad', bad_networks()))


def test_bad_inputs_fail_the_run_on_every_host(refused):
    assert sorted(refused[0].failed_hosts) == HOSTS


@pytest.mark.parametrize('net,message', [(b[0], b[2]) for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_refused_naming_the_network(refused, net, message):
    assert message in '\n'.join(refused[0].messages())


def test_bad_inputs_change_nothing(refused):
    assert refused[2] == refused[1]


# ---- 2. the rhythm: check mode first, apply, apply again, check mode again ------------------------------
@pytest.fixture(scope='module')
def checked_fresh(lab, runs, refused):
    return checked(lambda: snapshot(lab), lambda: converge(runs, lab, 'check-fresh', networks(), check=True, diff=True))


def test_check_mode_on_fresh_hosts_reports_changes(checked_fresh):
    assert_run(checked_fresh[0], hosts=HOSTS, changed=True)


def test_check_mode_on_fresh_hosts_makes_nothing(checked_fresh):
    assert checked_fresh[2] == checked_fresh[1]


@pytest.mark.parametrize('host', HOSTS)
def test_check_mode_on_fresh_hosts_reports_every_network(checked_fresh, host):
    """Each network's namespace, bridge, veth pair and server address would be made (the plumbing task's
    prediction); no dnsmasq is reported for namespaces that do not exist yet."""
    res, = [r.res for r in checked_fresh[0].results(host=host, action='virtnet.linux.plumbing')]
    made = dict((section, sorted(e['name'] for e in res[section] if e['changed']))
                for section in ('namespaces', 'bridges', 'veths', 'addresses'))
    assert made == {'namespaces': ['qdhcp-42', 'qdhcp-43'], 'bridges': ['brq42', 'brq43'], 'veths': ['tap42', 'tap43'],
                    'addresses': ['qdhcp-42/ns-42', 'qdhcp-43/ns-43']}
    assert acted(checked_fresh[0]) == {}


@pytest.fixture(scope='module')
def applied(lab, runs, checked_fresh):
    return converge(runs, lab, 'apply', networks())


def test_first_apply_changes(applied):
    assert_run(applied, hosts=HOSTS, changed=True)


@pytest.fixture(scope='module')
def applied_again(lab, runs, applied):
    return converge(runs, lab, 'apply-again', networks())


def test_second_apply_changes_nothing(applied_again):
    assert_run(applied_again, hosts=HOSTS, changed=False)


@pytest.fixture(scope='module')
def checked_converged(lab, runs, applied_again):
    return converge(runs, lab, 'check-converged', networks(), check=True)


def test_check_mode_on_converged_hosts_reports_nothing(checked_converged):
    assert_run(checked_converged, hosts=HOSTS, changed=False)


@pytest.mark.parametrize('host', HOSTS)
def test_bridges_namespaces_veths_and_server_addresses_exist(lab, applied, host):
    assert (master(lab, host, 'tap42'), master(lab, host, 'tap43')) == ('brq42', 'brq43')
    assert lab.out(host, 'ip -n qdhcp-42 -br -4 addr show ns-42; ip -n qdhcp-43 -br -4 addr show ns-43').split()[2::3] == \
        ['10.42.0.2/24', '10.43.0.254/24']


@pytest.mark.parametrize('host', HOSTS)
def test_one_dnsmasq_per_network_inside_its_namespace(lab, applied, host):
    assert all(len(dnsmasq(lab, host, n).split()) == 1 for n in ('42', '43'))


@pytest.fixture(scope='module')
def verified(lab, runs, checked_converged):
    """molecule/dhcp_namespace's verify: real clients, supervision, and the shared hygiene checks."""
    return runs.play(os.path.join(MOL, 'verify.yml'), lab.inventory, name='verify', limit=','.join(HOSTS))


def test_molecule_verify_passes_on_both_host_kinds(verified):
    assert_run(verified, hosts=HOSTS)


def test_dnsmasq_is_reachable_only_where_it_serves(verified):
    """Nothing on 53/67 in the host's namespace; DHCP only on ns-<id>; DNS only on the server address,
    none on 43 (dns: false); answers its guests, not 127.0.0.1; not an open resolver."""
    assert {r.host for r in verified.results(path='hygiene_dhcp.yml', status='ok', action='assert')} == set(HOSTS)
    assert verified.failures() == []


def test_dnsmasq_drops_root(verified):
    assert {r.host for r in verified.results(path='hygiene_daemons.yml', status='ok', action='assert')} == set(HOSTS)
    assert verified.failures() == []


# ---- 3. real clients ------------------------------------------------------------------------------------
GUESTS = [('42', 'g42a', '52:54:00:aa:42:01'), ('42', 'g42b', '52:54:00:aa:42:02'),
          ('42', 'g42s', '52:54:00:00:42:10'), ('43', 'g43a', '52:54:00:aa:43:01')]


@pytest.fixture(scope='module')
def guests(lab, verified):
    """The shared hooks on each host, four guests, and a lease in each: dhclient in g42a, udhcpc in the
    others (g42s has web1's MAC)."""
    out = {}
    for h in HOSTS:
        for name in ('udhcpc-hook.sh', 'dhclient-hook.sh'):
            with open(os.path.join(TOP, 'playbooks', 'tasks', 'files', name)) as f:
                lab.run(h, 'mkdir -p %s && cat > %s/%s && chmod 755 %s/%s' % (HOOKS, HOOKS, name, HOOKS, name), stdin=f.read())
        for net, ns, mac in GUESTS:
            add_guest(lab, h, net, ns, mac)
        for net, ns, mac in GUESTS:
            out[(h, ns)] = lease(lab, h, ns, 'dhclient' if ns == 'g42a' else 'udhcpc')
    return out


@pytest.mark.parametrize('host', HOSTS)
@pytest.mark.parametrize('ns', ['g42a', 'g42b'], ids=['dhclient', 'udhcpc'])
def test_client_gets_a_lease_in_range_with_router_dns_and_domain(guests, host, ns):
    got = guests[(host, ns)]
    assert in_range(got.get('ip', '0.0.0.0'), '10.42.0.100', '10.42.0.199'), got
    assert (got['router'], got['dns'], got['domain']) == ('10.42.0.1', '10.42.0.2', 'net42.example')


@pytest.mark.parametrize('host', HOSTS)
def test_static_hosts_mac_gets_its_reserved_address(guests, host):
    assert guests[(host, 'g42s')].get('ip') == '10.42.0.10'


@pytest.mark.parametrize('host', HOSTS)
def test_guest_of_43_gets_a_lease_from_43s_server_without_router_or_dns(guests, host):
    got = guests[(host, 'g43a')]
    assert in_range(got.get('ip', '0.0.0.0'), '10.43.0.50', '10.43.0.60') and got['server'] == '10.43.0.254', got
    assert (got['router'], got['dns']) == ('', '')


@pytest.mark.parametrize('host', HOSTS)
def test_each_networks_leases_hold_only_its_guests(lab, guests, host):
    l42, l43 = lab.out(host, 'cat %s/42/leases' % STATE), lab.out(host, 'cat %s/43/leases' % STATE)
    assert '52:54:00:aa:42:01' in l42 and '52:54:00:aa:42:02' in l42 and '52:54:00:aa:43' not in l42
    assert '52:54:00:aa:43:01' in l43 and '52:54:00:aa:42' not in l43 and '52:54:00:00:42:10' not in l43


@pytest.mark.parametrize('host', HOSTS)
def test_guest_of_43_cannot_reach_42s_server(lab, guests, host):
    assert not lab.ok(host, 'ip netns exec g43a ping -c1 -W1 10.42.0.2')


@pytest.mark.parametrize('host', HOSTS)
@pytest.mark.parametrize('name', ['web1', 'web1.net42.example'], ids=['short', 'fqdn'])
def test_static_hosts_name_resolves_through_the_server(lab, guests, host, name):
    assert '10.42.0.10' in lab.out(host, 'ip netns exec g42b busybox nslookup %s 10.42.0.2 2>&1; true' % name)


# ---- 4. changes: SIGHUP for hosts, restart for the range; only the changed network is touched -----------
@pytest.fixture(scope='module')
def checked_hosts(lab, runs, guests):
    before = pids(lab)
    run = converge(runs, lab, 'check-hosts', networks(web2), check=True, diff=True)
    return run, before, pids(lab), on_both(lab, 'cat %s/42/hosts' % STATE)


def test_check_mode_reports_a_hosts_change(checked_hosts):
    assert_run(checked_hosts[0], hosts=HOSTS, changed=True)


def test_check_mode_leaves_the_hosts_file_and_the_process_alone(checked_hosts):
    assert checked_hosts[2] == checked_hosts[1] and all('web2' not in t for t in checked_hosts[3].values())


@pytest.fixture(scope='module')
def hosts_changed(lab, runs, checked_hosts):
    before, leases = pids(lab), on_both(lab, 'grep -c . %s/42/leases' % STATE)
    run = converge(runs, lab, 'hosts', networks(web2))
    again = converge(runs, lab, 'hosts-again', networks(web2))
    return run, before, pids(lab), leases, again


def test_hosts_change_reloads_only_42s_dnsmasq(hosts_changed):
    assert_run(hosts_changed[0], hosts=HOSTS, changed=True)
    assert acted(hosts_changed[0]) == {'dhcp1:dnsmasq-42': 'reloaded', 'dhcp2:dnsmasq-42': 'reloaded'}


def test_hosts_change_keeps_every_process(hosts_changed):
    assert hosts_changed[2] == hosts_changed[1]


def test_hosts_change_keeps_the_leases(lab, hosts_changed):
    assert on_both(lab, 'grep -c . %s/42/leases' % STATE) == hosts_changed[3]


@pytest.mark.parametrize('host', HOSTS)
def test_new_static_host_resolves_after_the_reload(lab, hosts_changed, host):
    assert lab.ok(host, 'for i in $(seq 10); do ip netns exec g42b busybox nslookup web2.net42.example 10.42.0.2 2>&1 | '
                        'grep -q 10.42.0.11 && exit 0; sleep 0.3; done; exit 1')


def test_hosts_change_again_changes_nothing(hosts_changed):
    assert_run(hosts_changed[4], hosts=HOSTS, changed=False)


@pytest.fixture(scope='module')
def range_changed(lab, runs, hosts_changed):
    before = pids(lab)
    run = converge(runs, lab, 'range', networks(web2, narrower))
    after = pids(lab)
    gone = dict((h, alive(lab, h, before[(h, '42')])) for h in HOSTS)
    again = converge(runs, lab, 'range-again', networks(web2, narrower))
    return run, before, after, gone, again


def test_range_change_restarts_only_42s_dnsmasq(range_changed):
    assert_run(range_changed[0], hosts=HOSTS, changed=True)
    assert acted(range_changed[0]) == {'dhcp1:dnsmasq-42': 'restarted', 'dhcp2:dnsmasq-42': 'restarted'}


def test_range_change_gives_42_a_new_process_and_keeps_43s(range_changed):
    before, after, old_alive = range_changed[1:4]
    for h in HOSTS:
        assert after[(h, '42')] not in ('', before[(h, '42')]) and not old_alive[h]
        assert after[(h, '43')] == before[(h, '43')]


@pytest.mark.parametrize('host', HOSTS)
def test_range_change_keeps_the_leases_and_serves_the_new_range(lab, range_changed, host):
    assert int(lab.out(host, 'grep -c . %s/42/leases' % STATE)) >= 1
    assert lab.ok(host, 'grep -q "dhcp-range=set:net-42,10.42.0.100,10.42.0.189" %s/42/dnsmasq.conf' % STATE)


def test_range_change_again_changes_nothing(range_changed):
    assert_run(range_changed[4], hosts=HOSTS, changed=False)


# ---- 5. repairs: a killed dnsmasq, a deleted namespace, a deleted veth pair ------------------------------
NOW = networks(web2, narrower)


@pytest.fixture(scope='module')
def dnsmasq_killed(lab, runs, range_changed):
    before = pids(lab)
    for h in HOSTS:
        lab.run(h, 'kill -KILL %s' % before[(h, '42')])
    time.sleep(1)
    run = converge(runs, lab, 'repair-kill', NOW)
    return run, before, pids(lab)


def test_killed_dnsmasq_runs_again_after_a_converge(lab, dnsmasq_killed):
    """dhcp1 (pid file): the converge starts it; dhcp2 (systemd): systemd or the converge does."""
    run, before, after = dnsmasq_killed
    assert_run(run, hosts=HOSTS)
    for h in HOSTS:
        assert after[(h, '42')] not in ('', before[(h, '42')]) and alive(lab, h, after[(h, '42')])


def test_converge_reports_restarting_a_killed_dnsmasq_it_supervises_by_pid_file(dnsmasq_killed):
    assert acted(dnsmasq_killed[0]).get('dhcp1:dnsmasq-42') in ('started', 'restarted')


def test_killed_dnsmasq_leaves_other_networks_alone(dnsmasq_killed):
    assert all(dnsmasq_killed[2][(h, '43')] == dnsmasq_killed[1][(h, '43')] for h in HOSTS)


@pytest.fixture(scope='module')
def netns_deleted(lab, runs, dnsmasq_killed):
    for h in HOSTS:
        lab.run(h, 'ip netns delete qdhcp-42')
    run = converge(runs, lab, 'repair-netns', NOW)
    return run, dict((h, lease(lab, h, 'g42b')) for h in HOSTS)


def test_deleted_namespace_is_rebuilt(netns_deleted):
    assert_run(netns_deleted[0], hosts=HOSTS, changed=True)


@pytest.mark.parametrize('host', HOSTS)
def test_rebuilt_namespace_has_the_server_port_and_dnsmasq_inside(lab, netns_deleted, host):
    assert '10.42.0.2/24' in lab.out(host, 'ip -n qdhcp-42 -br addr show ns-42')
    assert alive(lab, host, dnsmasq(lab, host, '42'))


@pytest.mark.parametrize('host', HOSTS)
def test_guest_gets_a_lease_after_the_rebuild(netns_deleted, host):
    assert in_range(netns_deleted[1][host].get('ip', '0.0.0.0'), '10.42.0.100', '10.42.0.189'), netns_deleted[1][host]


@pytest.fixture(scope='module')
def veth_deleted(lab, runs, netns_deleted):
    """The veth pair goes behind the role's back, its namespace stays: ns-42 comes back with another
    ifindex, and dnsmasq, whose DHCP socket stays bound to the old one, serves nothing until it restarts."""
    before = pids(lab)
    for h in HOSTS:
        lab.run(h, 'ip link delete tap42')
    run = converge(runs, lab, 'repair-veth', NOW)
    return run, before, pids(lab), dict((h, lease(lab, h, 'g42b')) for h in HOSTS)


def test_deleted_veth_pair_is_rebuilt_and_42s_dnsmasq_restarted(lab, veth_deleted):
    run, before, after = veth_deleted[:3]
    assert_run(run, hosts=HOSTS, changed=True)
    assert acted(run) == {'dhcp1:dnsmasq-42': 'restarted', 'dhcp2:dnsmasq-42': 'restarted'}
    for h in HOSTS:
        assert after[(h, '42')] not in ('', before[(h, '42')]) and after[(h, '43')] == before[(h, '43')]
        assert master(lab, h, 'tap42') == 'brq42'


@pytest.mark.parametrize('host', HOSTS)
def test_guest_gets_a_lease_after_the_veth_rebuild(veth_deleted, host):
    assert in_range(veth_deleted[3][host].get('ip', '0.0.0.0'), '10.42.0.100', '10.42.0.189'), veth_deleted[3][host]


@pytest.fixture(scope='module')
def repaired_again(lab, runs, veth_deleted):
    return converge(runs, lab, 'repair-again', NOW)


def test_after_the_repairs_a_converge_changes_nothing(repaired_again):
    assert_run(repaired_again, hosts=HOSTS, changed=False)


# ---- 6. uplink ---------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def uplinked(lab, runs, repaired_again):
    for h in HOSTS:
        lab.run(h, 'ip link add upl42 type veth peer name upl42p')
    run = converge(runs, lab, 'uplink', networks(web2, narrower, uplink))
    masters = dict((h, master(lab, h, 'upl42')) for h in HOSTS)
    return run, masters, converge(runs, lab, 'uplink-again', networks(web2, narrower, uplink))


def test_uplink_becomes_a_port_of_the_networks_bridge(uplinked):
    assert_run(uplinked[0], hosts=HOSTS, changed=True)
    assert uplinked[1] == {'dhcp1': 'brq42', 'dhcp2': 'brq42'}


def test_uplink_again_changes_nothing(uplinked):
    assert_run(uplinked[2], hosts=HOSTS, changed=False)


@pytest.fixture(scope='module')
def uplink_dropped(lab, runs, uplinked):
    run = converge(runs, lab, 'uplink-dropped', NOW)
    return run, dict((h, (lab.ok(h, 'ip link show upl42'), master(lab, h, 'upl42'), master(lab, h, 'g-g42a'))) for h in HOSTS)


def test_dropped_uplink_is_released_not_deleted_and_guests_stay_ports(uplink_dropped):
    assert_run(uplink_dropped[0], hosts=HOSTS, changed=True)
    assert uplink_dropped[1] == dict((h, (True, '', 'brq42')) for h in HOSTS)


# ---- 7. state: absent (check mode, apply, again); the uplink back in the same run ---------------------------
@pytest.fixture(scope='module')
def checked_absent(lab, runs, uplink_dropped):
    for h in HOSTS:
        lab.run(h, 'ip link add brq99 type bridge')     # made by hand, not by the role: purge must leave it
    before = (pids(lab), snapshot(lab))
    run = converge(runs, lab, 'check-absent', networks(web2, narrower, uplink, absent43), check=True, diff=True)
    return run, before, (pids(lab), snapshot(lab))


def test_check_mode_reports_the_removal_and_removes_nothing(checked_absent):
    assert_run(checked_absent[0], hosts=HOSTS, changed=True)
    assert checked_absent[2] == checked_absent[1]


@pytest.fixture(scope='module')
def absent(lab, runs, checked_absent):
    before = pids(lab)
    run = converge(runs, lab, 'absent', networks(web2, narrower, uplink, absent43))
    return run, before, pids(lab), converge(runs, lab, 'absent-again', networks(web2, narrower, uplink, absent43))


def test_absent_changes(absent):
    assert_run(absent[0], hosts=HOSTS, changed=True)


@pytest.mark.parametrize('host', HOSTS)
def test_absent_leaves_nothing_of_43(lab, absent, host):
    assert not alive(lab, host, absent[1][(host, '43')])
    assert lab.out(host, 'ip -br link show brq43 2>/dev/null; ip -br link show tap43 2>/dev/null; ip netns list | grep qdhcp-43; '
                         'ls -d %s/43 2>/dev/null; true' % STATE) == ''


def test_absent_leaves_42_alone(absent):
    assert all(absent[2][(h, '42')] == absent[1][(h, '42')] for h in HOSTS)


def test_absent_again_changes_nothing(absent):
    assert_run(absent[3], hosts=HOSTS, changed=False)


# ---- 8. a qemu guest on a tap made by virtnet.linux.tuntap (on the systemd host) ---------------------------
QEMU_HOST = 'dhcp2'
QEMU_MAC = '52:54:00:12:42:99'


@pytest.fixture(scope='module')
def qemu_guest(lab, runs, absent):
    tap = runs.play(os.path.join(HERE, 'tap.yml'), lab.inventory, name='tap', limit=QEMU_HOST)
    # the kernel and initramfs copied onto the host: a lab host sees the controller's tree only where its
    # root overlay shows it (not below /tmp, where a clean clone may live)
    guest = '/var/tmp/qemu-guest'
    for name in ('vmlinuz', 'initrd.gz'):
        with open(os.path.join(TOP, 'build', 'qemu-guest', name), 'rb') as f:
            lab.run(QEMU_HOST, 'mkdir -p %s && base64 -d > %s/%s' % (guest, guest, name), stdin=base64.b64encode(f.read()).decode())
    console = lab.run(QEMU_HOST, 'timeout 180 qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot '
                                 '-kernel {g}/vmlinuz -initrd {g}/initrd.gz -append "console=ttyS0 quiet panic=-1" '
                                 '-netdev tap,id=n0,ifname=vm42,script=no,downscript=no '
                                 '-device virtio-net-pci,netdev=n0,mac={mac} < /dev/null'.format(g=guest, mac=QEMU_MAC),
                      check=False, timeout=240)
    console = console.stdout + console.stderr      # qemu's own complaints, shown when a test fails
    got = dict(line.split(' ', 1)[1].split('=', 1) for line in console.splitlines() if line.startswith('LEASE ') and '=' in line)
    names = [line.split()[2] for line in console.splitlines() if line.startswith('NAME web1 ')]
    return tap, got, names, console


def test_tap_made_by_tuntap_is_a_port_of_the_bridge(lab, qemu_guest):
    assert_run(qemu_guest[0], hosts=[QEMU_HOST])
    assert master(lab, QEMU_HOST, 'vm42') == 'brq42'


def test_qemu_guest_gets_a_lease_in_range_with_router_dns_and_domain(qemu_guest):
    got = qemu_guest[1]
    assert in_range(got.get('ip', '0.0.0.0'), '10.42.0.100', '10.42.0.189'), qemu_guest[3][-2000:]
    assert (got['router'], got['dns'], got['domain'], got['server']) == ('10.42.0.1', '10.42.0.2', 'net42.example', '10.42.0.2')


def test_qemu_guests_lease_is_in_dnsmasqs_lease_file_with_its_mac(lab, qemu_guest):
    assert '%s %s ' % (QEMU_MAC, qemu_guest[1].get('ip')) in lab.out(QEMU_HOST, 'cat %s/42/leases' % STATE)


def test_qemu_guest_resolves_web1_through_the_server(qemu_guest):
    assert qemu_guest[2] == ['10.42.0.10']


# ---- 9. purge (check mode, apply, again) -------------------------------------------------------------------
PURGE = {'dhcp_namespace_networks': [], 'dhcp_namespace_purge': True}


@pytest.fixture(scope='module')
def checked_purge(lab, runs, qemu_guest):
    return checked(lambda: snapshot(lab), lambda: converge(runs, lab, 'check-purge', PURGE, check=True, diff=True))


def test_check_mode_reports_the_purge_and_removes_nothing(checked_purge):
    assert_run(checked_purge[0], hosts=HOSTS, changed=True)
    assert checked_purge[2] == checked_purge[1]


@pytest.fixture(scope='module')
def purged(lab, runs, checked_purge):
    return converge(runs, lab, 'purge', PURGE), converge(runs, lab, 'purge-again', PURGE)


def test_purge_changes(purged):
    assert_run(purged[0], hosts=HOSTS, changed=True)


@pytest.mark.parametrize('host', HOSTS)
def test_purge_leaves_nothing_of_the_role(lab, purged, host):
    assert lab.out(host, 'ip -br link | grep -E "^(brq4|tap4)"; ip netns list | grep qdhcp-; pgrep -x dnsmasq; ls %s; true' % STATE) \
        == 'networks.json'
    assert lab.out(host, "tr -d ' \\n' < %s/networks.json" % STATE) == '{"networks":{}}'


@pytest.mark.parametrize('host', HOSTS)
def test_purge_leaves_the_uplink_and_a_bridge_made_by_hand(lab, purged, host):
    assert lab.ok(host, 'ip link show upl42 && ip link show brq99')


def test_purge_again_changes_nothing(purged):
    assert_run(purged[1], hosts=HOSTS, changed=False)


# ---- 10. files dnsmasq's user cannot read: refused before dnsmasq starts; a dnsmasq that logs it could not --
# load one fails the run. Network 44 in state directories of its own, removed by purge at the end of each step.
NET44 = {'id': '44', 'subnet': '10.44.0.0/24', 'range_start': '10.44.0.100', 'range_end': '10.44.0.199',
         'domain': 'net44.example', 'hosts': [{'mac': '52:54:00:00:44:10', 'ip': '10.44.0.10', 'name': 'db1'}]}
DB2 = {'mac': '52:54:00:00:44:11', 'ip': '10.44.0.11', 'name': 'db2'}
LOCKED = '/srv/virtnet-locked'      # 0700: nobody cannot enter it
ACL = '/srv/virtnet-acl'            # 0755 with an ACL that keeps nobody out: the mode bits do not show it
ACL_SET = ('python3 -c "import os, struct; os.setxattr(\'%s\', \'system.posix_acl_access\', struct.pack(\'<I\', 2) + '
           'b\'\'.join(struct.pack(\'<HHI\', *e) for e in [(1, 7, 2 ** 32 - 1), (2, 0, 65534), (4, 5, 2 ** 32 - 1), '
           '(16, 5, 2 ** 32 - 1), (32, 5, 2 ** 32 - 1)]))"')    # user::rwx user:nobody:--- group::r-x mask::r-x other::r-x
ACL_CLEAR = 'python3 -c "import os; os.removexattr(\'%s\', \'system.posix_acl_access\')"'


def net44(directory, *hosts):
    return {'dhcp_namespace_networks': [dict(NET44, hosts=NET44['hosts'] + list(hosts))],
            'dhcp_namespace_state_dir': directory + '/state'}


def purge44(directory):
    return dict(PURGE, dhcp_namespace_state_dir=directory + '/state')


def left44(lab, directory):
    return on_both(lab, 'ip netns list | grep qdhcp-44; ip -br link | grep -E "^(brq44|tap44)"; ls %s/state' % directory)


def messages(run, host):
    return '\n'.join(r.message for r in run.failures() if r.host == host)


@pytest.fixture(scope='module')
def locked(lab, runs):
    for h in HOSTS:
        lab.run(h, 'mkdir -m 0700 %s' % LOCKED)
    run = converge(runs, lab, 'locked', net44(LOCKED))
    started = dict((h, dnsmasq(lab, h, '44')) for h in HOSTS)
    purge = converge(runs, lab, 'locked-purge', purge44(LOCKED))
    return run, started, purge, left44(lab, LOCKED)


@pytest.mark.parametrize('host', HOSTS)
def test_state_dir_dnsmasqs_user_cannot_enter_fails_naming_the_file(locked, host):
    assert host in locked[0].failed_hosts
    assert ('daemon dnsmasq-44: nobody cannot read %s/state/44/dnsmasq.conf: %s is mode 0700 owned by root:root'
            % (LOCKED, LOCKED)) in messages(locked[0], host)


def test_no_dnsmasq_starts_on_a_state_dir_its_user_cannot_enter(locked):
    assert locked[1] == dict((h, '') for h in HOSTS)


def test_purge_removes_what_the_refused_run_made(locked):
    assert_run(locked[2], hosts=HOSTS, changed=True)
    assert locked[3] == dict((h, 'networks.json') for h in HOSTS)


@pytest.fixture(scope='module')
def unreadable(request, lab, runs, locked):
    """With the ACL: a start (fails), the next run (fails again); without: a converge, again; with the ACL
    and one more static host: a SIGHUP (fails); without: the next run; then purge. The runs after a failure
    and the again-runs are long trials (--deep): the start and the reload case are every run's."""
    deep = request.config.getoption('--deep')

    def acl(on):
        for h in HOSTS:
            lab.run(h, (ACL_SET if on else ACL_CLEAR) % ACL)
    for h in HOSTS:
        lab.run(h, 'mkdir -m 0755 %s' % ACL)
    out = {}
    acl(True)
    out['start'] = converge(runs, lab, 'acl-start', net44(ACL))
    if deep:
        out['again'] = converge(runs, lab, 'acl-again', net44(ACL))
    acl(False)
    out['readable'] = converge(runs, lab, 'acl-readable', net44(ACL))
    if deep:
        out['readable-again'] = converge(runs, lab, 'acl-readable-again', net44(ACL))
    out['pid'] = dict((h, dnsmasq(lab, h, '44')) for h in HOSTS)
    acl(True)
    out['reload'] = converge(runs, lab, 'acl-reload', net44(ACL, DB2))
    acl(False)
    if deep:
        out['reload-readable'] = converge(runs, lab, 'acl-reload-readable', net44(ACL, DB2))
        out['pid-after'] = dict((h, dnsmasq(lab, h, '44')) for h in HOSTS)
    out['purge'] = converge(runs, lab, 'acl-purge', purge44(ACL))
    out['left'] = left44(lab, ACL)
    return out


LOGGED = r'daemon dnsmasq-44: logged an error after its %s: .*(cannot read|failed to load names from) %s/state/44/[a-z_]+: Permission denied'


@pytest.mark.parametrize('host', HOSTS)
def test_dnsmasq_that_cannot_read_its_files_after_its_start_fails_the_run(unreadable, host):
    assert host in unreadable['start'].failed_hosts
    assert re.search(LOGGED % ('start', ACL), messages(unreadable['start'], host)), messages(unreadable['start'], host)


@pytest.mark.deep
def test_the_next_run_fails_again_never_an_ok_over_a_dnsmasq_without_its_files(unreadable):
    assert sorted(unreadable['again'].failed_hosts) == HOSTS


def test_once_dnsmasq_can_read_its_files_the_run_converges(unreadable):
    assert_run(unreadable['readable'], hosts=HOSTS, changed=True)


@pytest.mark.deep
def test_once_dnsmasq_can_read_its_files_the_next_run_changes_nothing(unreadable):
    assert_run(unreadable['readable-again'], hosts=HOSTS, changed=False)


@pytest.mark.parametrize('host', HOSTS)
def test_dnsmasq_that_cannot_reread_its_hosts_after_a_sighup_fails_the_run(unreadable, host):
    assert host in unreadable['reload'].failed_hosts
    assert re.search(LOGGED % ('reload', ACL), messages(unreadable['reload'], host)), messages(unreadable['reload'], host)


@pytest.mark.deep
def test_once_it_can_the_next_run_sends_sighup_again(unreadable):
    assert_run(unreadable['reload-readable'], hosts=HOSTS, changed=True)
    assert acted(unreadable['reload-readable']) == {'dhcp1:dnsmasq-44': 'reloaded', 'dhcp2:dnsmasq-44': 'reloaded'}
    assert unreadable['pid-after'] == unreadable['pid'] and all(unreadable['pid'].values())


def test_purge_of_the_acl_state_directory_leaves_nothing(unreadable):
    assert_run(unreadable['purge'], hosts=HOSTS, changed=True)
    assert unreadable['left'] == dict((h, 'networks.json') for h in HOSTS)
