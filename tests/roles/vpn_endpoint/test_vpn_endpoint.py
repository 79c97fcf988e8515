# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The vpn_endpoint role by traffic, on three plain lab hosts (pid files; molecule/vpn_endpoint runs the
same playbooks on systemd hosts): vpn1 serves site + alt (tun, udp) and lan (tap on a bridge, tcp), vpn2
is a client of all three, vpn3 a client of site from the namespace vpnns (molecule/shared/vars/
vpn_instances.yml; the variants below change it as extra vars).

Steps (module-scoped fixtures, each on the state the one before left):
  checked_fresh -> converged (-vvv --diff) -> reconverged -> verified (traffic, and through the tunnels to the
  networks behind vpn1 and vpn2) -> checked_reload -> reloaded ->
  reload_verified -> restarted -> restart_verified -> exported (vpn3 leaves the inventory, site exports
  laptop1) -> vpn3_refused, laptop_connected -> checked_drop -> dropped (laptop1 dropped from export; vpn3
  back, its certificate issued for 2 days) -> laptop_refused -> renewed (825/30) -> renewed_again ->
  refused (bad inputs) -> removed -> removed_again -> one_play (servers and clients in one play: fresh
  PKIs; then again) -> one_play_killed (a killed server)
Marked deep (run with --deep only, tools/test.sh --deep): renewed_again, one_play_killed.
"""

from __future__ import annotations

import copy
import os
import shutil
import time

import pytest
import yaml

from harness.runs import assert_run, checked, daemon_actions, files  # pylint: disable=import-error

LAB = 'roles'
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MOL = os.path.join(TOP, 'molecule', 'vpn_endpoint')
HOSTS = ['vpn1', 'vpn2', 'vpn3']
with open(os.path.join(TOP, 'molecule', 'shared', 'vars', 'vpn_instances.yml')) as _f:
    BASE = yaml.safe_load(_f)['vpn_test_instances']
DEVICES = {'site': 'vpn-site', 'alt': 'tun-alt', 'lan': 'vpn-lan'}
# the export names' profiles (on the controller: this sandbox), for every converge of this module
EXPORT_DIR = os.path.join(TOP, 'build', 'tests', 'vpn-profiles')
PROFILE = os.path.join('site', 'laptop1.ovpn')        # under EXPORT_DIR
SITE_LOG = '/run/virtnet/daemon/vpn-site.log'     # the server's log (pid file back end: plain hosts)
OUTSIDE = 'cmp1'                                   # a lab host outside the role's inventory group
# molecule/vpn_endpoint/traffic.yml's routing checks (issue 25)
LAN_PING = 'Ping the host behind each network (3 packets, 2 s each; 30 s at most for a client that just reconnected)'
LAN_TO_LAN = 'From the namespace lan behind vpn2, ping the host behind vpn1 (3 packets, 2 s each, 30 s at most)'


# ---- the instances and their variants ------------------------------------------------------------------
def variant(change):
    """BASE changed by CHANGE(instances) (a copy)."""
    v = copy.deepcopy(BASE)
    change(v)
    return {'vpn_test_instances': v}


def instance(v, host, name):
    return next(i for i in v[host] if i['name'] == name)


def without_lan(v):                 # check mode on fresh hosts: the bridge of lan is made by converge.yml
    for h in ('vpn1', 'vpn2'):
        v[h] = [i for i in v[h] if i['name'] != 'lan']


def more_routes(v):                 # alt pushes one more route: a SIGHUP of alt's server only
    instance(v, 'vpn1', 'alt')['push_routes'] = ['10.21.0.0/24', '10.22.0.0/24']


def bound(v):                       # ... and binds to one address: a restart of alt's server (and its clients)
    more_routes(v)
    instance(v, 'vpn1', 'alt')['local'] = '0.0.0.0'


def all_absent(v):
    for h in v:
        for i in v[h]:
            i['state'] = 'absent'


def both(*changes):
    def change(v):
        for c in changes:
            c(v)
    return change


def set_key(host, name, **kv):
    def change(v):
        instance(v, host, name).update(kv)
    return change


def add(host, inst):
    def change(v):
        v[host].append(inst)
    return change


def without_vpn3(v):               # vpn3 leaves the inventory (its daemon keeps running, unmanaged)
    del v['vpn3']


def export(*names):
    def change(v):
        instance(v, 'vpn1', 'site')['export'] = list(names)
    return change


def bad_many(v):                    # alt: a 16-character device, site's udp port; lan: host bits in its subnet
    alt = instance(v, 'vpn1', 'alt')
    alt.update(dev='tun-alt-too-long')
    del alt['port']
    instance(v, 'vpn1', 'lan')['subnet'] = '10.10.0.1/24'


BAD = {
    'bad-many': (bad_many, [
        'vpn_endpoint_instances[alt] (server on vpn1): device name "tun-alt-too-long" must be 1 to 15 characters',
        'vpn_endpoint_instances[alt] (server on vpn1): udp port 1194 is also used by instance site',
        'vpn_endpoint_instances[lan] (server on vpn1): subnet 10.10.0.1/24 is not a network address']),
    # instances added, none changed: a client that moved to another server or instance would be a change of the
    # inventory, and its server (whose play runs first) would rightly revoke its certificate
    'bad-clients': (both(bound, add('vpn2', {'name': 'far', 'role': 'client', 'server': 'vpn9'}),
                         add('vpn3', {'name': 'lab', 'role': 'client', 'server': 'vpn1'})), [
        'vpn_endpoint_instances[far] (client on vpn2): server "vpn9" is not a host of the inventory',
        'vpn_endpoint_instances[lab] (client on vpn3): server "vpn1" has no server instance named "lab"']),
    'bad-overlap': (both(bound, set_key('vpn1', 'alt', subnet='10.8.0.128/25')), [
        'vpn_endpoint_instances[alt] (server on vpn1): subnet 10.8.0.128/25 overlaps subnet 10.8.0.0/24 of instance site']),
    # a role the plan refuses (closed sets of values are the filter's, roles/README.md), a port the argument
    # spec refuses (types are the spec's)
    'bad-spec': (both(bound, set_key('vpn2', 'lan', role='peer'), set_key('vpn3', 'site', port='https')), [
        'vpn_endpoint_instances[lan] (peer on vpn2): role must be server or client, not "peer"',
        "argument 'port' is of type str found in 'vpn_endpoint_instances'"]),
    'bad-bridge': (both(bound, set_key('vpn1', 'lan', bridge='br-nope')), [
        'vpn_endpoint_instances[lan] (server on vpn1): bridge br-nope does not exist']),
    # issue 24: an export name that is an inventory client's certificate; renew_days not below cert_days
    'bad-export': (both(bound, export('laptop1', 'vpn2')), [
        'vpn_endpoint_instances[site] (server on vpn1): export name "vpn2" collides with the client instance site '
        'on inventory host vpn2 (both would be certificate client-vpn2)']),
    'bad-renew': (bound, [
        'vpn_endpoint_renew_days (30) must be a number of days below vpn_endpoint_cert_days (30, 1 to 36500) on vpn1'],
        {'vpn_endpoint_cert_days': 30, 'vpn_endpoint_renew_days': 30}),
    # routing (issue 25): refused on the server's host too, whose play runs first (nothing changes anywhere)
    'bad-routing': (both(bound, set_key('vpn3', 'site', address='10.8.0.50', networks=['10.8.0.0/28']),
                         set_key('vpn1', 'alt', push_routes=['10.21.0.0/24', '10.30.0.0/24'])), [
        'vpn_endpoint_instances[site] (client on vpn3): address 10.8.0.50 is also the address of client site on vpn2',
        'vpn_endpoint_instances[site] (client on vpn3): networks entry 10.8.0.0/28 overlaps the tunnel subnet 10.8.0.0/24',
        'vpn_endpoint_instances[alt] (server on vpn1): network 10.30.0.0/24 is also routed by instance site on this '
        'host (10.30.0.0/24 into its tunnel)']),
}


# ---- reading the hosts ---------------------------------------------------------------------------------
def fingerprint(lab):
    """What a failed or check-mode run must not change: files, devices, namespaces, daemons."""
    script = ('find /etc/virtnet -printf "%p %m %u %s\\n" 2>/dev/null | sort; '
              'find /etc/virtnet -type f -exec sha256sum {} + 2>/dev/null | sort; '
              'ip -o link show | sed "s/^[0-9]*: //; s/ state .*//; s/ qdisc .*//"; ls /run/netns 2>/dev/null; '
              'pgrep -x openvpn | sort; true')
    return dict((h, lab.out(h, script)) for h in HOSTS)


def openvpn_pids(lab):
    """{'HOST:INSTANCE': PID} of every OpenVPN process, by the tun/tap device it holds (/proc's fdinfo)."""
    script = ('for p in $(pgrep -x openvpn); do for f in /proc/$p/fdinfo/*; do '
              'sed -n "s/^iff:[[:space:]]*/$p /p" "$f"; done; done; true')
    out = {}
    for h in HOSTS:
        for line in lab.out(h, script).splitlines():
            pid, dev = line.split()
            name = next(n for n, d in DEVICES.items() if d == dev)
            out['%s:%s' % (h, name)] = pid
    return out


def acted(run):
    """{'HOST:DAEMON': action} of what virtnet.linux.daemon reported it did."""
    return dict(('%s:%s' % k, a) for k, a in daemon_actions(run).items())


def converge(runs, lab, name, v=None, **kw):
    extravars = dict(v or {}, vpn_endpoint_export_dir=EXPORT_DIR)
    return runs.play(os.path.join(MOL, 'converge.yml'), lab.inventory, name=name, extravars=extravars, **kw)


def exports():
    """The profiles on the controller: {path under EXPORT_DIR: (mode, content)}."""
    return files(EXPORT_DIR)


def wait(lab, host, script, seconds=40):
    """Whether SCRIPT succeeds on HOST within SECONDS (polled once a second; bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        if lab.ok(host, script):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)


def log_lines(lab, host, path):
    return int(lab.out(host, 'wc -l < %s 2>/dev/null || echo 0' % path))


def refused_in_log(cn, since):
    """A script: the server's log has, after line SINCE, a verify failure of CN's revoked certificate."""
    return "tail -n +%d %s | grep -F 'CN=%s' | grep -q 'certificate revoked'" % (since + 1, SITE_LOG, cn)


def start_profile(lab, text):
    """Plain `openvpn --config` with the exported profile on the host outside the inventory, as root (it makes
    its own tun0); daemonised with a pid file. Returns the PID."""
    lab.run(OUTSIDE, 'umask 077; cat > /run/laptop1.ovpn; rm -f /run/laptop1.log', stdin=text)
    lab.run(OUTSIDE, 'openvpn --config /run/laptop1.ovpn --daemon laptop1 --writepid /run/laptop1.pid '
                     '--log /run/laptop1.log')
    assert wait(lab, OUTSIDE, 'test -s /run/laptop1.pid', 10)
    return lab.out(OUTSIDE, 'cat /run/laptop1.pid')


def stop_profile(lab, pid):
    """Stop that openvpn by its PID (bounded wait for it to go)."""
    lab.run(OUTSIDE, 'kill %s 2>/dev/null; true' % pid)
    assert wait(lab, OUTSIDE, '! grep -qx openvpn /proc/%s/comm 2>/dev/null' % pid, 15)


def verify(runs, lab, name, v=None):
    return runs.play(os.path.join(MOL, 'verify.yml'), lab.inventory, name=name, extravars=v or {})


# ---- 1. check mode on fresh hosts, apply, again, traffic -------------------------------------------------
@pytest.fixture(scope='module')
def checked_fresh(lab, runs):
    shutil.rmtree(EXPORT_DIR, ignore_errors=True)     # profiles of an earlier session

    def check():
        return runs.play(os.path.join(MOL, 'role.yml'), lab.inventory, name='check-fresh', check=True, diff=True,
                         extravars=variant(without_lan))
    return checked(lambda: fingerprint(lab), check)


def test_check_mode_on_fresh_hosts_reports_changes(checked_fresh):
    assert_run(checked_fresh[0], hosts=HOSTS, changed=True)


def test_check_mode_on_fresh_hosts_changes_nothing(checked_fresh):
    assert checked_fresh[2] == checked_fresh[1]


@pytest.fixture(scope='module')
def converged(lab, runs, checked_fresh):
    return converge(runs, lab, 'converge', verbosity=3, diff=True)


def test_first_converge_changes(converged):
    assert_run(converged, hosts=HOSTS, changed=True)


def test_no_key_material_in_verbose_diff_output(lab, converged):
    keys = set()
    for h in HOSTS:
        text = lab.out(h, 'cat /etc/virtnet/vpn/instances/*/*.key; cat /etc/virtnet/vpn/pki/*/private/*.key 2>/dev/null; true')
        keys.update(x for x in text.splitlines() if len(x) >= 16 and not x.startswith('-----'))
    assert len(keys) > 10, 'no key material found on the hosts: the search is broken'
    with open(converged.stdout_path) as f:
        out = f.read()
    assert [k[:10] for k in keys if k in out] == []


@pytest.fixture(scope='module')
def reconverged(lab, runs, converged):
    return converge(runs, lab, 'converge-again')


def test_second_converge_changes_nothing(reconverged):
    assert_run(reconverged, hosts=HOSTS, changed=False)


@pytest.fixture(scope='module')
def verified(lab, runs, reconverged):
    return verify(runs, lab, 'verify')


def test_traffic_both_ways_through_every_tunnel_with_pushed_routes(verified):
    assert_run(verified)
    assert {r.host for r in verified.results(path='traffic.yml')} == set(HOSTS)


def test_daemons_run_as_openvpn_with_cap_net_admin_only(verified):
    assert {r.host for r in verified.results(path='hygiene_daemons.yml', status='ok', action='assert')} == set(HOSTS)
    assert verified.failures() == []


def test_keys_and_certificates_are_0600_and_owned_right(verified):
    assert {r.host for r in verified.results(path='hygiene_vpn_keys.yml', status='ok', action='assert')} == set(HOSTS)
    assert verified.failures() == []


def test_clients_take_the_servers_address_from_the_inventory_unless_remote_is_given(lab, verified):
    confs = '/etc/virtnet/vpn/instances/site/site.conf /etc/virtnet/vpn/instances/lan/lan.conf'
    assert lab.out('vpn2', 'grep -h "^remote " %s' % confs).splitlines() == \
        ['remote %s 1194' % lab.address('vpn1'), 'remote vpn1 1196']


def test_one_certificate_per_client_host_and_instance(lab, verified):
    assert lab.out('vpn1', 'ls /etc/virtnet/vpn/pki/site/issued').split() == ['client-vpn2.crt', 'client-vpn3.crt', 'server.crt']


def test_client_in_a_namespace_runs_inside_it(lab, verified):
    pid = openvpn_pids(lab)['vpn3:site']
    assert lab.out('vpn3', 'readlink /proc/%s/ns/net' % pid) == lab.out('vpn3', 'ip netns exec vpnns readlink /proc/self/ns/net')


def test_clients_reach_the_networks_behind_the_server_and_behind_another_client(verified):
    pinged = dict(((r.host, r.item[1]), r.status) for r in verified.results(task=LAN_PING, items=True))
    # vpn2 (site, with 10.30.0.0/24 behind it) reaches vpn1's LAN; vpn3 (site, in vpnns) reaches both
    assert pinged == {('vpn2', '10.20.0.2'): 'ok', ('vpn3', '10.20.0.2'): 'ok', ('vpn3', '10.30.0.2'): 'ok'}
    assert [r.status for r in verified.results(task=LAN_TO_LAN)] == ['ok']


def test_a_client_with_networks_forwards_only_on_its_tunnel(lab, verified):
    fwd = ('for d in all vpn-site lan0; do printf "%s=%s " $d $(cat /proc/sys/net/ipv4/conf/$d/forwarding); done; '
           'cat /proc/sys/net/ipv4/ip_forward')
    assert lab.out('vpn2', fwd) == 'all=0 vpn-site=1 lan0=1 0'
    assert lab.out('vpn3', 'ip netns exec vpnns cat /proc/sys/net/ipv4/conf/vpn-site/forwarding') == '0'
    assert lab.out('vpn1', 'cat /proc/sys/net/ipv4/conf/vpn-site/forwarding /proc/sys/net/ipv4/conf/br-vpn/forwarding '
                           '/proc/sys/net/ipv4/ip_forward').split() == ['1', '1', '0']


def test_tap_server_is_a_port_of_its_bridge_which_carries_the_tunnel_address(lab, verified):
    assert lab.out('vpn1', 'basename "$(readlink /sys/class/net/vpn-lan/master)"; ip -o -4 addr show dev br-vpn | grep -c 10.10.0.1/24') \
        == 'br-vpn\n1'


# a client's fixed tunnel address, waited for (30 s at most)
FIXED = ('for i in $(seq 1 30); do ip -4 -o addr show dev vpn-site | grep -q " 10.8.0.50/" && break; sleep 1; done; '
         'ip -4 -o addr show dev vpn-site | grep -o "inet [0-9./]*"')


# ---- 2. a pushed route: check mode, then alt reloaded (same PID), nothing else touched -------------------
@pytest.fixture(scope='module')
def checked_reload(lab, runs, verified):
    return checked(lambda: fingerprint(lab), lambda: converge(runs, lab, 'check-reload', variant(more_routes), check=True, diff=True))


def test_check_mode_reports_a_new_pushed_route(checked_reload):
    assert_run(checked_reload[0], hosts=HOSTS, changed=True)


def test_check_mode_with_a_new_pushed_route_changes_nothing(checked_reload):
    assert checked_reload[2] == checked_reload[1]


@pytest.fixture(scope='module')
def reloaded(lab, runs, checked_reload):
    before = openvpn_pids(lab)
    run = converge(runs, lab, 'reload', variant(more_routes))
    return run, before, openvpn_pids(lab)


def test_new_pushed_route_reloads_only_alts_server(reloaded):
    assert_run(reloaded[0], hosts=HOSTS, changed=True)
    assert acted(reloaded[0]) == {'vpn1:vpn-alt': 'reloaded'}


def test_reload_keeps_every_process(reloaded):
    assert reloaded[2] == reloaded[1]


@pytest.fixture(scope='module')
def reload_verified(lab, runs, reloaded):
    return verify(runs, lab, 'verify-reload', variant(more_routes))


def test_after_the_reload_traffic_flows_and_the_new_route_is_pushed(reload_verified):
    assert_run(reload_verified)


# ---- 3. a killed server (and a killed client with a fixed address) and a restart-class change: site
# revived, alt restarted, their clients too --------------------------------------------------------------
@pytest.fixture(scope='module')
def restarted(lab, runs, reload_verified):
    before = openvpn_pids(lab)
    index = lab.out('vpn1', 'cat /etc/virtnet/vpn/pki/*/index.txt | sha256sum')
    fixed = lab.out('vpn2', FIXED)
    lab.run('vpn1', 'kill -KILL %s' % before['vpn1:site'])
    lab.run('vpn2', 'kill -KILL %s' % before['vpn2:site'])     # a client with a fixed address (issue 25)
    run = converge(runs, lab, 'restart', variant(bound))
    return run, before, openvpn_pids(lab), index, fixed


def test_killed_server_and_restart_change_restart_those_servers_and_their_clients_only(restarted):
    """A client of a server that is a new process is restarted too (else it sends into a session the new
    server does not know until its ping-restart runs out); lan's server and client stay as they are."""
    assert_run(restarted[0], hosts=HOSTS, changed=True)
    assert sorted(acted(restarted[0])) == ['vpn1:vpn-alt', 'vpn1:vpn-site', 'vpn2:vpn-alt', 'vpn2:vpn-site', 'vpn3:vpn-site']


def test_only_those_servers_and_clients_are_new_processes(restarted):
    before, after = restarted[1:3]
    assert sorted(k for k in after if after[k] != before.get(k)) == ['vpn1:alt', 'vpn1:site', 'vpn2:alt', 'vpn2:site', 'vpn3:site']
    assert sorted(after) == sorted(before)


@pytest.fixture(scope='module')
def restart_verified(lab, runs, restarted):
    return verify(runs, lab, 'verify-restart', variant(bound))


def test_after_revival_and_restart_traffic_flows(restart_verified):
    assert_run(restart_verified)


def test_a_killed_client_comes_back_with_its_fixed_address(lab, restarted, restart_verified):
    before, after, fixed = restarted[1], restarted[2], restarted[4]
    assert after['vpn2:site'] != before['vpn2:site']
    assert fixed == lab.out('vpn2', FIXED) == 'inet 10.8.0.50/24'


def test_no_certificate_is_issued_again(lab, restarted, restart_verified):
    assert lab.out('vpn1', 'cat /etc/virtnet/vpn/pki/*/index.txt | sha256sum') == restarted[3]


# ---- 3b. the certificate life cycle (issue 24) ------------------------------------------------------------
@pytest.fixture(scope='module')
def exported(lab, runs, restart_verified):
    """vpn3 leaves the inventory (its client keeps running, unmanaged) and site exports laptop1."""
    shutil.rmtree(EXPORT_DIR, ignore_errors=True)
    before = openvpn_pids(lab)
    run = converge(runs, lab, 'exported', variant(both(bound, without_vpn3, export('laptop1'))))
    return run, before, openvpn_pids(lab)


def test_revocation_and_export_restart_and_reload_nothing(exported):
    assert_run(exported[0], hosts=HOSTS, changed=True)
    assert acted(exported[0]) == {}
    assert exported[2] == exported[1]


def test_a_client_gone_from_the_inventory_is_revoked_in_the_servers_crl(lab, exported):
    cert = lab.out('vpn3', 'cat /etc/virtnet/vpn/instances/site/cert.crt')
    check = ('cd /etc/virtnet/vpn/instances/site && openssl verify -crl_check -CRLfile crl.pem -CAfile ca.crt /dev/stdin 2>&1; '
             'grep -c "^R.*/CN=client-vpn3$" /etc/virtnet/vpn/pki/site/index.txt')
    out = lab.run('vpn1', check, check=False, stdin=cert).stdout
    assert 'certificate revoked' in out and out.strip().endswith('1')


def test_the_exported_profile_is_0600_single_file_and_its_key_never_in_the_output(exported):
    mode, text = exports()[PROFILE]
    assert mode == '0o600'
    for tag in ('ca', 'cert', 'key', 'tls-crypt'):
        assert text.count('<%s>' % tag) == 1 and text.count('</%s>' % tag) == 1
    key = [x for x in text.split('<key>')[1].split('</key>')[0].splitlines() if len(x) >= 16 and '-----' not in x]
    assert key
    with open(exported[0].stdout_path) as f:
        assert [k[:10] for k in key if k in f.read()] == []


@pytest.fixture(scope='module')
def vpn3_refused(lab, exported):
    """vpn3's client reconnects (SIGUSR1) with its revoked certificate."""
    since = log_lines(lab, 'vpn1', SITE_LOG)
    server = openvpn_pids(lab)['vpn1:site']
    lab.run('vpn3', 'kill -USR1 %s' % exported[2]['vpn3:site'])
    seen = wait(lab, 'vpn1', refused_in_log('client-vpn3', since))
    return seen, server


def test_a_revoked_client_is_refused_at_the_tls_level(lab, vpn3_refused):
    assert vpn3_refused[0], lab.out('vpn1', 'tail -n 30 %s' % SITE_LOG)
    assert not lab.ok('vpn3', 'ip netns exec vpnns ping -c 1 -W 2 -I vpn-site 10.8.0.1')


def test_the_other_clients_keep_their_tunnels_and_the_server_its_pid(lab, vpn3_refused):
    assert lab.ok('vpn2', 'ping -c 2 -W 2 -I vpn-site 10.8.0.1 && ping -c 2 -W 2 -I tun-alt 10.9.0.1 && '
                          'ping -c 2 -W 2 -I vpn-lan 10.10.0.1')
    assert openvpn_pids(lab)['vpn1:site'] == vpn3_refused[1]


@pytest.fixture(scope='module')
def laptop_connected(lab, exported, vpn3_refused):
    """The exported profile with plain openvpn on a host outside the role's inventory group."""
    pid = start_profile(lab, exports()[PROFILE][1])
    try:
        up = wait(lab, OUTSIDE, 'grep -q "Initialization Sequence Completed" /run/laptop1.log')
        pinged = up and lab.ok(OUTSIDE, 'ping -c 2 -W 2 10.8.0.1')
        return up, pinged, lab.out(OUTSIDE, 'tail -n 20 /run/laptop1.log')
    finally:
        stop_profile(lab, pid)


def test_an_exported_profile_connects_with_plain_openvpn_from_outside_the_inventory(laptop_connected):
    assert laptop_connected[0], laptop_connected[2]
    assert laptop_connected[1], laptop_connected[2]


# the certificates issued by the next converge are valid for two days (renewed by the one after)
SHORT = {'vpn_endpoint_cert_days': 2, 'vpn_endpoint_renew_days': 1}


@pytest.fixture(scope='module')
def checked_drop(lab, runs, laptop_connected):
    before = (fingerprint(lab), exports())
    run = converge(runs, lab, 'check-drop', dict(variant(bound), **SHORT), check=True, diff=True)
    return run, before, (fingerprint(lab), exports())


def test_check_mode_reports_dropping_an_export_and_a_client_back_and_changes_nothing(checked_drop):
    assert_run(checked_drop[0], hosts=HOSTS, changed=True)
    assert checked_drop[2] == checked_drop[1]


@pytest.fixture(scope='module')
def dropped(lab, runs, checked_drop):
    """laptop1 dropped from export; vpn3 back in the inventory: its certificate (revoked) is issued anew -
    for two days."""
    text = exports()[PROFILE][1]
    before = openvpn_pids(lab)
    run = converge(runs, lab, 'dropped', dict(variant(bound), **SHORT))
    return run, text, before, openvpn_pids(lab)


def test_a_dropped_export_name_is_revoked_and_its_profile_removed(lab, dropped):
    assert_run(dropped[0], hosts=HOSTS, changed=True)
    assert exports() == {}
    assert lab.out('vpn1', 'grep -c "^R.*/CN=client-laptop1$" /etc/virtnet/vpn/pki/site/index.txt') == '1'


def test_a_client_back_in_the_inventory_gets_a_new_certificate_and_only_it_restarts(lab, dropped):
    assert acted(dropped[0]) == {'vpn3:vpn-site': 'restarted'}
    before, after = dropped[2:4]
    assert sorted(k for k in after if after[k] != before.get(k)) == ['vpn3:site']
    assert not lab.ok('vpn3', 'openssl x509 -noout -checkend %d -in /etc/virtnet/vpn/instances/site/cert.crt' % (3 * 86400))
    assert wait(lab, 'vpn3', 'ip netns exec vpnns ping -c 1 -W 2 -I vpn-site 10.8.0.1')


@pytest.fixture(scope='module')
def laptop_refused(lab, dropped):
    since = log_lines(lab, 'vpn1', SITE_LOG)
    pid = start_profile(lab, dropped[1])
    try:
        seen = wait(lab, 'vpn1', refused_in_log('client-laptop1', since))
        return seen, lab.out(OUTSIDE, 'cat /run/laptop1.log'), lab.out('vpn1', 'tail -n 30 %s' % SITE_LOG)
    finally:
        stop_profile(lab, pid)


def test_a_dropped_profile_no_longer_connects(laptop_refused):
    assert laptop_refused[0], laptop_refused[2]
    assert 'Initialization Sequence Completed' not in laptop_refused[1]


@pytest.fixture(scope='module')
def renewed(lab, runs, laptop_refused):
    before = openvpn_pids(lab)
    run = converge(runs, lab, 'renewed', variant(bound))
    return run, before, openvpn_pids(lab)


def test_renewal_restarts_only_the_daemon_whose_certificate_ended_soon(lab, renewed):
    assert_run(renewed[0], hosts=HOSTS, changed=True)
    assert acted(renewed[0]) == {'vpn3:vpn-site': 'restarted'}
    before, after = renewed[1:3]
    assert sorted(k for k in after if after[k] != before.get(k)) == ['vpn3:site']
    assert lab.ok('vpn3', 'openssl x509 -noout -checkend %d -in /etc/virtnet/vpn/instances/site/cert.crt' % (800 * 86400))
    assert wait(lab, 'vpn3', 'ip netns exec vpnns ping -c 1 -W 2 -I vpn-site 10.8.0.1')


@pytest.fixture(scope='module')
def renewed_again(lab, runs, renewed):
    return converge(runs, lab, 'renewed-again', variant(bound))


@pytest.mark.deep       # a long trial (--deep): the module's rhythm has its again-steps without it
def test_after_a_renewal_a_converge_changes_nothing(renewed_again):
    assert_run(renewed_again, hosts=HOSTS, changed=False)


# ---- 4. bad inputs fail naming the instance and change nothing -------------------------------------------
@pytest.fixture(scope='module')
def refused(lab, runs, renewed):
    before = fingerprint(lab)
    out = dict((name, converge(runs, lab, name, dict(variant(BAD[name][0]), **(BAD[name][2] if len(BAD[name]) > 2 else {}))))
               for name in sorted(BAD))
    return out, before, fingerprint(lab)


@pytest.mark.parametrize('name', sorted(BAD))
def test_bad_input_fails_naming_the_instance_and_the_problem(refused, name):
    run = refused[0][name]
    assert not run.ok
    text = '\n'.join(run.messages())
    assert [m for m in BAD[name][1] if m not in text] == [], run.report()


def test_bad_inputs_change_nothing(refused):
    assert refused[2] == refused[1]


# ---- 5. absent, and absent again ------------------------------------------------------------------------
@pytest.fixture(scope='module')
def removed(lab, runs, refused):
    return converge(runs, lab, 'absent', variant(all_absent))


def test_absent_changes(removed):
    assert_run(removed, hosts=HOSTS, changed=True)


def test_absent_leaves_no_daemon_device_or_instance_file(lab, removed):
    script = ('pgrep -a -x openvpn; ip -o link show type tun; ip netns exec vpnns ip -o link show type tun 2>/dev/null; '
              'ls /etc/virtnet/vpn/instances 2>/dev/null; true')
    assert dict((h, lab.out(h, script)) for h in HOSTS) == dict((h, '') for h in HOSTS)


def test_absent_keeps_the_certificate_authorities(lab, removed):
    assert lab.out('vpn1', 'ls /etc/virtnet/vpn/pki/*/ca.crt | wc -l') == '3'


def test_absent_takes_the_tunnel_address_off_the_bridge(lab, removed):
    assert lab.out('vpn1', 'ip -o -4 addr show dev br-vpn') == ''


@pytest.fixture(scope='module')
def removed_again(lab, runs, removed):
    return converge(runs, lab, 'absent-again', variant(all_absent))


def test_absent_again_changes_nothing(removed_again):
    assert_run(removed_again, hosts=HOSTS, changed=False)


# ---- 6. servers and clients in one play: from PKIs that do not exist yet, and a killed server -----------
@pytest.fixture(scope='module')
def one_play(lab, runs, removed_again):
    """The instances back in one play (molecule/vpn_endpoint/oneplay.yml) after the CAs were deleted: the
    servers' PKIs are made in the same run as the clients ask them for certificates; then once more."""
    lab.run('vpn1', 'rm -rf /etc/virtnet/vpn/pki')
    first = runs.play(os.path.join(MOL, 'oneplay.yml'), lab.inventory, name='one-play')
    again = runs.play(os.path.join(MOL, 'oneplay.yml'), lab.inventory, name='one-play-again')
    return first, again


@pytest.fixture(scope='module')
def one_play_killed(lab, runs, one_play):
    """Then site's server is killed and the play run again (a long trial: --deep; in every run a killed
    server's clients follow it through converge.yml: the restarted step)."""
    lab.run('vpn1', 'kill -KILL %s' % openvpn_pids(lab)['vpn1:site'])
    return runs.play(os.path.join(MOL, 'oneplay.yml'), lab.inventory, name='one-play-killed')


def test_one_play_makes_the_servers_pkis_before_the_clients_ask_for_certificates(one_play):
    assert_run(one_play[0], hosts=HOSTS, changed=True)
    every = ['vpn1:vpn-alt', 'vpn1:vpn-lan', 'vpn1:vpn-site', 'vpn2:vpn-alt', 'vpn2:vpn-lan', 'vpn2:vpn-site',
             'vpn3:vpn-site']
    assert sorted(acted(one_play[0])) == every


def test_one_play_again_changes_nothing(one_play):
    assert_run(one_play[1], hosts=HOSTS, changed=False)


@pytest.mark.deep
def test_one_play_restarts_the_clients_of_a_server_it_revives(one_play_killed):
    assert_run(one_play_killed, hosts=HOSTS, changed=True)
    assert acted(one_play_killed) == {'vpn1:vpn-site': 'started', 'vpn2:vpn-site': 'restarted', 'vpn3:vpn-site': 'restarted'}
