# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/site.yml the way operators meet it, on the main job's four hosts (plain and systemd):
built and installed as a collection, run from there (virtnet.linux.site) through ansible-runner, and
faulted - killed controllers, killed daemons, deleted namespaces, rebooted hosts, two converges at once.

molecule/site proves converge -> idempotence -> verify on fresh hosts; this module proves what happens
after that. The steps are module-scoped fixtures, each building on the state the earlier ones left:
  installed -> converged (-vvv) -> trials (SIGKILLed converges) -> faulted -> repaired -> repaired_again
  -> concurrent (after a reboot of all hosts) -> concurrent_after -> boot_switched -> rebooted -> after_boot
`-k NAME` runs a test with the steps it needs. Trials: one round (a pair of hosts of both kinds) by
default; --deep: 10 trials of single hosts and 2 of the whole site; --site-trials/--site-trial-scope.
"""

from __future__ import annotations

import ast
import collections
import glob
import math
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time

import jinja2
import pytest
import yaml

from harness.runs import assert_run  # pylint: disable=import-error

LAB = 'site'
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(TOP, 'build', 'tests', 'site')
BIN = os.path.dirname(sys.executable)
# the hosts of a pair do not depend on each other: dhcp1 has no VPN; vpn2 and dhcp2 are both clients of
# vpn1, which runs throughout their trial (their certificates are issued under a lock in vpn1's PKI)
PAIRS = [('vpn1', 'dhcp1'), ('vpn2', 'dhcp2')]
DAEMONS = ('openvpn', 'dnsmasq', 'busybox')     # the site's daemons by process name (busybox: udhcpc)


# ---- the installed collection and its runs -------------------------------------------------------------
@pytest.fixture(scope='module')
def installed(lab):
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', OUT, TOP],
                   check=True, capture_output=True, text=True)
    tarball = glob.glob(os.path.join(OUT, 'virtnet-linux-*.tar.gz'))[0]
    inst = os.path.join(OUT, 'installed')
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', '--force', '-p', inst, tarball],
                   check=True, capture_output=True, text=True)
    root = os.path.join(inst, 'ansible_collections', 'virtnet', 'linux')
    # the lab's inventory beside the site's group_vars and host_vars (playbooks/inventory/)
    inventory = os.path.join(root, 'playbooks', 'inventory', 'lab.yml')
    shutil.copy(lab.inventory, inventory)
    return {'tarball': tarball, 'path': inst, 'root': root, 'inventory': inventory}


def site(runs, installed, name, playbook='virtnet.linux.site', extra=None, **kw):
    """A run of the installed collection's playbook (FQCN) with the lab's inventory (and `extra` variables)."""
    extravars = {'site_topology_dir': os.path.join(OUT, 'topology'), 'verify_dir': os.path.join(OUT, 'verify')}
    extravars.update(extra or {})
    return runs.play(playbook, installed['inventory'], name=name, envvars={'ANSIBLE_COLLECTIONS_PATH': installed['path']},
                     extravars=extravars, **kw)


def test_collection_tarball_carries_no_virtualenv_or_build_output(installed):
    assert not [p for p in ('.venv', '.venv-deb', 'build', 'tests/output') if os.path.exists(os.path.join(installed['root'], p))]


def test_installed_collection_ships_the_site_and_verify_playbooks(installed):
    assert all(os.path.isfile(os.path.join(installed['root'], 'playbooks', p)) for p in ('site.yml', 'verify.yml'))


@pytest.fixture(scope='module')
def converged(lab, installed, runs):
    """The first converge of fresh hosts, with -vvv (searched for key material below)."""
    return site(runs, installed, 'converge-1', verbosity=3)


def test_first_converge_succeeds_on_every_host(lab, converged):
    assert_run(converged, hosts=lab.hosts, changed=True)


def test_runner_artifacts_record_the_run(converged):
    art = converged.artifact_dir
    with open(os.path.join(art, 'rc')) as f, open(os.path.join(art, 'status')) as g:
        assert (f.read().strip(), g.read().strip()) == ('0', 'successful')
    assert len(os.listdir(os.path.join(art, 'job_events'))) > 10 and converged.stats_events == 1


def test_topology_of_every_host_is_drawn(lab, converged):
    assert sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(OUT, 'topology', '*.svg'))) == sorted(lab.hosts)


def key_material(lab):
    """Every line of key material the site put on any host: private keys, tls-crypt keys, passwords."""
    script = ("find /etc/virtnet /var/lib/virtnet /etc/openvpn -type f \\( -name '*.key' -o -name '*.pem' -o -name 'ta*' "
              "-o -name '*pass*' \\) 2>/dev/null | xargs -r grep -l -E 'PRIVATE KEY|OpenVPN Static key' | xargs -r cat")
    lines = set()
    for h in lab.hosts:
        lines.update(x.strip() for x in lab.out(h, script).splitlines() if re.fullmatch(r'[A-Za-z0-9+/=]{32,}', x.strip()))
    return lines


def test_verbose_output_and_events_carry_no_key_material(lab, converged):
    secrets = key_material(lab)
    assert len(secrets) > 10, 'no key material found on the hosts: the search is broken'
    texts = [open(converged.stdout_path).read()]
    for p in glob.glob(os.path.join(converged.artifact_dir, 'job_events', '*.json')):
        with open(p) as f:
            texts.append(f.read())
    text = '\n'.join(texts)
    leaks = [s[:12] + '...' for s in secrets if s in text]
    leaks += [w for w in ('PRIVATE KEY-----', 'BEGIN OpenVPN Static key') if w in text]
    assert leaks == []


def inventory_of(lab):
    """Per host: the site's daemons by process name and count, and the namespaces."""
    out = {}
    for h in lab.hosts:
        names = lab.out(h, 'ps -eo comm=').split()
        ns = lab.out(h, 'ip netns list | cut -d" " -f1').split()
        out[h] = (sorted(collections.Counter(n for n in names if n in DAEMONS).items()), sorted(ns))
    return out


@pytest.fixture(scope='module')
def baseline(lab, converged):
    assert_run(converged)
    return inventory_of(lab)


def dhcp_networks():
    with open(os.path.join(TOP, 'playbooks', 'inventory', 'group_vars', 'dhcp_nodes.yml')) as f:
        return yaml.safe_load(f)['dhcp_namespace_networks']


def served(lab):
    """{DHCP node: [network ids it serves]}, as the inventory says: each network's dhcp_nodes (a template of
    the groups) rendered with the lab's groups."""
    groups = {'dhcp_nodes': lab.group('dhcp_nodes')}
    out = dict((h, []) for h in groups['dhcp_nodes'])
    for net in dhcp_networks():
        nodes = net.get('dhcp_nodes')
        nodes = ast.literal_eval(jinja2.Template(nodes).render(groups=groups)) if isinstance(nodes, str) else nodes
        for h in nodes:
            out[h].append(net['id'])
    return out


def guests(host):
    """The site's guests on HOST (its host_vars: compute hosts)."""
    path = os.path.join(TOP, 'playbooks', 'inventory', 'host_vars', '%s.yml' % host)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return (yaml.safe_load(f) or {}).get('site_dhcp_guests', [])


def test_each_dhcp_node_runs_one_dnsmasq_per_network_it_serves(lab, baseline):
    assert dict((h, dict(baseline[h][0]).get('dnsmasq')) for h in lab.group('dhcp_nodes')) == \
        dict((h, len(ids)) for h, ids in served(lab).items())


def test_a_network_is_served_by_two_nodes_and_each_other_by_one(lab):
    assert sorted(len([h for h, ids in served(lab).items() if i in ids]) for i in ('42', '43', '44')) == [1, 1, 2]


# ---- SIGKILL trials ------------------------------------------------------------------------------------
def trial_plan(config):
    """[(scope, [targets of a round]), ...]: host rounds try a pair of hosts at once."""
    n, scope = config.getoption('--site-trials'), config.getoption('--site-trial-scope')
    if n is None and scope is None and config.getoption('--deep'):
        return trial_rounds(10, 'host') + trial_rounds(2, 'all')
    return trial_rounds(2 if n is None else n, scope or 'host')


def trial_rounds(n, scope):
    if scope == 'all':
        return [('all', ['all'])] * n
    rounds, left, r = [], n, 0
    while left > 0:
        pair = list(PAIRS[r % len(PAIRS)])[:left]
        rounds.append(('host', pair))
        left -= len(pair)
        r += 1
    return rounds


class Trials(object):
    """The kill moment is a task, not a time: a random task number of the run (counted in its events),
    then up to 0.4 s into that task. A host's number of tasks is what its own last converge started;
    before that, the tasks in which the first converge had a result for it."""

    def __init__(self, lab, runs, installed, converged):
        self.lab, self.runs, self.installed = lab, runs, installed
        self.first = converged
        self.tasks = {}
        self.records = []
        self.rounds = []
        self.errors = []
        self.planned = 0
        self.lock = threading.Lock()
        self.seed = int(os.environ.get('VIRTNET_TRIAL_SEED', '0')) or random.SystemRandom().randrange(1, 1 << 30)
        self.rng = random.Random(self.seed)

    def tasks_for(self, target):
        if target == 'all':
            return self.first.task_starts()
        if target not in self.tasks:
            self.tasks[target] = len(set(r.uuid for r in self.first.results(host=target)))
        return self.tasks[target]

    def one(self, i, target, k, delay):
        try:
            self._one(i, target, k, delay)
        except Exception as e:  # pylint: disable=broad-except
            with self.lock:
                self.errors.append('trial %d (%s): %r' % (i, target, e))

    def _one(self, i, target, k, delay):
        limit = None if target == 'all' else target
        n = self.tasks_for(target)
        seen = {'tasks': 0, 'at': None, 'task': None}

        def on_event(event):
            if event.get('event') == 'playbook_on_task_start':
                seen['tasks'] += 1
                if seen['tasks'] == k:
                    seen['at'] = time.monotonic() + delay
                    seen['task'] = event.get('event_data', {}).get('task')

        t0 = time.monotonic()
        killed = site(self.runs, self.installed, 'trial-%d-killed' % i, limit=limit, event_handler=on_event,
                      cancel=lambda: seen['at'] is not None and time.monotonic() >= seen['at'], timeout=1800)
        t1 = time.monotonic()
        nxt = site(self.runs, self.installed, 'trial-%d-next' % i, limit=limit)
        t2 = time.monotonic()
        after = site(self.runs, self.installed, 'trial-%d-after' % i, limit=limit)
        if target != 'all' and nxt.ok:
            self.tasks[target] = nxt.task_starts()
        rec = {'i': i, 'target': target, 'k': k, 'n': n, 'delay_ms': int(delay * 1000), 'killed': killed.status == 'canceled',
               'task': seen['task'], 'next': nxt, 'after': after, 'hosts': lab_hosts(self.lab, target),
               'times': 'killed run %.0fs, next %.0fs, after %.0fs' % (t1 - t0, t2 - t1, time.monotonic() - t2)}
        with self.lock:
            self.records.append(rec)

    def run(self, plan, baseline):
        i = 0
        for scope, targets in plan:
            hosts = self.lab.hosts if scope == 'all' else targets
            t0 = time.monotonic()
            self.lab.reboot(*hosts)
            t1 = time.monotonic()
            threads = []
            for target in targets:
                i += 1
                self.planned += 1
                # the kill moment: a random task of the run (the last 5% left out), up to 0.4 s into it
                k = self.rng.randint(1, max(1, int(self.tasks_for(target) * 0.95)))
                threads.append(threading.Thread(target=self.one, args=(i, target, k, self.rng.randint(0, 400) / 1000.0)))
            for t in threads:
                t.start()
            for t in threads:
                t.join(3600)
            t2 = time.monotonic()
            now = inventory_of(self.lab)
            self.rounds.append({'targets': targets, 'same_as_first': now == baseline, 'now': now,
                                'times': '%.0fs reboot, %.0fs trials, %.0fs read-back' % (t1 - t0, t2 - t1, time.monotonic() - t2)})
        self.write_report()
        return self

    def write_report(self):
        with open(os.path.join(OUT, 'trials.txt'), 'w') as f:
            f.write('seed %d (VIRTNET_TRIAL_SEED=%d repeats the kill moments)\n' % (self.seed, self.seed))
            for r in sorted(self.records, key=lambda r: r['i']):
                f.write('trial %d (%s): %s -> next converge %s -> the one after changed=%d (%s)\n' % (
                    r['i'], r['target'], ('killed in task %d of %d, %d ms after it began (%s)' % (r['k'], r['n'], r['delay_ms'], r['task'])
                                          if r['killed'] else 'finished before task %d of %d' % (r['k'], r['n'])),
                    'ok' if r['next'].ok else 'FAILED', r['after'].changed, r['times']))
            for r in self.rounds:
                f.write('round of %s: %s; daemons and namespaces as after the first converge: %s\n'
                        % (' '.join(r['targets']), r['times'], r['same_as_first']))


def lab_hosts(lab, target):
    return lab.hosts if target == 'all' else [target]


@pytest.fixture(scope='module')
def trials(request, lab, runs, installed, converged, baseline):
    return Trials(lab, runs, installed, converged).run(trial_plan(request.config), baseline)


@pytest.mark.trials
def test_converge_after_a_sigkilled_one_succeeds(trials):
    assert (trials.errors, len(trials.records)) == ([], trials.planned)
    for r in trials.records:
        assert_run(r['next'], hosts=r['hosts'])


@pytest.mark.trials
def test_converge_after_the_mending_one_changes_nothing(trials):
    for r in trials.records:
        assert_run(r['after'], hosts=r['hosts'], changed=False)


@pytest.mark.trials
def test_trials_leave_no_daemon_or_namespace_duplicated_or_orphaned(trials, baseline):
    assert [r['now'] for r in trials.rounds if not r['same_as_first']] == []


@pytest.mark.trials
def test_most_kills_land_in_a_running_converge(trials):
    """A kill after the run ended proves nothing: at least 80% of the trials must kill a running one."""
    killed = sum(1 for r in trials.records if r['killed'])
    assert killed >= math.ceil(0.8 * len(trials.records)), open(os.path.join(OUT, 'trials.txt')).read()


# ---- faults behind the roles' back, mended by one converge --------------------------------------------
def kill(lab, host, script):
    """Kills the processes SCRIPT prints (PIDs) on HOST; returns how many."""
    pids = lab.out(host, script).split()
    if pids:
        lab.run(host, 'kill -KILL %s' % ' '.join(pids))
    return len(pids)


def in_netns(netns, comm):
    return "for p in $(ip netns pids %s); do [ \"$(cat /proc/$p/comm)\" = %s ] && echo $p; done; true" % (netns, comm)


@pytest.fixture(scope='module')
def faulted(lab, baseline):
    """vpn1 (systemd, a compute host): its OpenVPN server and its guests' DHCP clients SIGKILLed (systemd
    restarts them, the converge the server's clients); dhcp1 (plain): dnsmasq of network 42 SIGKILLed and
    qdhcp-43 deleted behind the role while its dnsmasq still runs; vpn2 (plain) and dhcp2 (systemd) rebooted."""
    killed = kill(lab, 'vpn1', 'pgrep -x openvpn; true')
    for g in ('42', '43', '44'):
        killed += kill(lab, 'vpn1', in_netns('guest-%s' % g, 'busybox'))
    killed += kill(lab, 'dhcp1', in_netns('qdhcp-42', 'dnsmasq'))
    deleted = lab.out('dhcp1', 'for n in qdhcp-43; do ip netns del "$n" && echo "$n"; done').split()
    lab.reboot('vpn2', 'dhcp2')
    return {'killed': killed, 'deleted': deleted}


def test_faults_hit_five_daemons_and_a_namespace(faulted):
    assert faulted == {'killed': 5, 'deleted': ['qdhcp-43']}


@pytest.fixture(scope='module')
def repaired(runs, installed, faulted):
    return site(runs, installed, 'repair')


def test_one_converge_mends_killed_daemons_deleted_namespaces_and_rebooted_hosts(lab, repaired):
    assert_run(repaired, hosts=lab.hosts)


@pytest.fixture(scope='module')
def repaired_verified(runs, installed, repaired):
    return site(runs, installed, 'verify-repaired', playbook='virtnet.linux.verify')


def test_verify_passes_after_the_repair(lab, repaired_verified):
    assert_run(repaired_verified, hosts=lab.hosts)


@pytest.fixture(scope='module')
def repaired_again(lab, runs, installed, repaired_verified):
    return site(runs, installed, 'repair-again'), inventory_of(lab)


def test_converge_after_the_repair_changes_nothing(lab, repaired_again):
    assert_run(repaired_again[0], hosts=lab.hosts, changed=False)


def test_repair_leaves_the_daemons_and_namespaces_of_the_first_converge(repaired_again, baseline):
    assert repaired_again[1] == baseline


# ---- two converges at once -----------------------------------------------------------------------------
@pytest.fixture(scope='module')
def concurrent(lab, runs, installed, converged):
    """Every host rebooted, then two converges of the whole site at once."""
    lab.reboot(*lab.hosts)
    env = {'ANSIBLE_COLLECTIONS_PATH': installed['path']}
    started = [runs.start('virtnet.linux.site', installed['inventory'], name='concurrent-%s' % x, envvars=env,
                          extravars={'site_topology_dir': os.path.join(OUT, 'topology')}) for x in 'ab']
    return [runs.finish(s) for s in started]


def test_two_converges_at_once_both_succeed(lab, concurrent):
    for run in concurrent:
        assert_run(run, hosts=lab.hosts)


@pytest.fixture(scope='module')
def concurrent_after(lab, runs, installed, concurrent):
    again = site(runs, installed, 'after-concurrent')
    verified = site(runs, installed, 'verify-concurrent', playbook='virtnet.linux.verify')
    return again, verified, inventory_of(lab)


def test_converge_after_two_at_once_changes_nothing(lab, concurrent_after):
    assert_run(concurrent_after[0], hosts=lab.hosts, changed=False)


def test_verify_passes_after_two_converges_at_once(lab, concurrent_after):
    assert_run(concurrent_after[1], hosts=lab.hosts)


def test_two_converges_at_once_leave_the_daemons_and_namespaces_of_the_first(concurrent_after, baseline):
    assert concurrent_after[2] == baseline


# ---- boot restore (issue 24): back after a reboot without a converge --------------------------------------
BOOT_OFF = {'dhcp_namespace_boot': False, 'vpn_endpoint_boot': False, 'site_boot': False, 'segment_boot': False}
#: the deadline for what a rebooted systemd host runs to be back (leases served, tunnels up), in seconds: a
#: bound of the wait loop, not a timed assert (the time it took is printed)
BOOT_BOUND = 120
#: dhcp2 (systemd) has all four switches: a DHCP node, a VPN client in namespace vpn, segments, the site's plumbing
SWITCHED = 'dhcp2'


def boot_files(lab, host):
    """What HOST keeps for boot: the saved plumbing declarations and the enabled virtnet units."""
    return sorted(lab.out(host, 'ls /etc/virtnet/boot 2>/dev/null; ls /etc/systemd/system/multi-user.target.wants/ '
                                '| grep ^virtnet-; true').split())


def daemon_pids(lab, host):
    return sorted(lab.out(host, 'ps -eo pid=,comm= | awk \'$2 ~ /^(%s)$/ {print $1}\'' % '|'.join(DAEMONS)).split())


@pytest.fixture(scope='module')
def boot_switched(lab, runs, installed, baseline):
    """The three boot switches on dhcp2 (site.yml limited to it): off, off again, check mode on, on - with
    what the host keeps for boot and its daemons' PIDs after each."""
    steps = {}
    pids = daemon_pids(lab, SWITCHED)
    for name, extra, check in (('off', BOOT_OFF, False), ('off-again', BOOT_OFF, False), ('check-on', None, True),
                               ('on', None, False)):
        run = site(runs, installed, 'boot-%s' % name, extra=extra, limit=SWITCHED, check=check)
        steps[name] = (run, boot_files(lab, SWITCHED), daemon_pids(lab, SWITCHED))
    steps['before'] = (None, None, pids)
    return steps


def test_boot_off_changes_and_leaves_nothing_for_boot(boot_switched):
    run, files, _pids = boot_switched['off']
    assert_run(run, hosts=[SWITCHED], changed=True)
    assert files == []


def test_boot_off_again_changes_nothing(boot_switched):
    assert_run(boot_switched['off-again'][0], hosts=[SWITCHED], changed=False)


def test_check_mode_reports_boot_on_and_writes_nothing(boot_switched):
    run, files, _pids = boot_switched['check-on']
    assert_run(run, hosts=[SWITCHED], changed=True)
    assert files == []


def test_boot_on_saves_every_declaration_and_enables_every_daemon(lab, boot_switched):
    run, files, _pids = boot_switched['on']
    assert_run(run, hosts=[SWITCHED], changed=True)
    units = ['virtnet-dnsmasq-%s.service' % i for i in served(lab)[SWITCHED]]
    units += ['virtnet-guest-%s-dhcp.service' % g['id'] for g in guests(SWITCHED)]
    assert files == sorted(['dhcp_namespace.json', 'segment.json', 'site_guests.json', 'site_vpn_uplink.json',
                            'vpn_endpoint.json', 'virtnet-boot.service', 'virtnet-vpn-site.service'] + units)


def test_switching_boot_restarts_no_daemon(boot_switched):
    assert [boot_switched[s][2] for s in ('off', 'off-again', 'check-on', 'on')] == [boot_switched['before'][2]] * 4


def boot_missing(lab, baseline, hosts):
    """What is not back yet on the rebooted systemd hosts: daemons and namespaces as after the first converge,
    a lease for every guest (the hook's record in /run, written since the boot), the VPN client's tunnel."""
    missing = []
    now = inventory_of(lab)
    for h in hosts:
        if now[h] != baseline[h]:
            missing.append('%s: daemons and namespaces %s, not %s' % (h, now[h], baseline[h]))
        # a guest whose network a rebooted systemd host serves has its lease again (a network served only by a
        # plain host waits for that host's converge)
        back = set(i for node, ids in served(lab).items() if node in hosts for i in ids)
        leases = lab.out(h, 'ls /run/virtnet-dhcp 2>/dev/null; true').split()
        missing.extend('%s: no lease for guest-%s' % (h, g['id']) for g in guests(h)
                       if g['id'] in back and 'guest-%s.lease' % g['id'] not in leases)
        if h in lab.group('vpn_clients'):
            ns = 'vpn' if h == SWITCHED else ''
            ping = '%sping -c 1 -W 1 10.8.0.1 >/dev/null 2>&1' % ('ip netns exec %s ' % ns if ns else '')
            if not lab.ok(h, ping):
                missing.append('%s: no answer from the VPN server through the tunnel' % h)
    return missing


@pytest.fixture(scope='module')
def rebooted(lab, baseline, boot_switched):
    """Both systemd hosts (vpn1: the VPN server; dhcp2: DHCP node, VPN client, guests) and the plain dhcp1
    rebooted at once, no converge: the systemd hosts are waited for (BOOT_BOUND at most); dhcp1 is read
    right after its start."""
    hosts = [h for h in lab.hosts if lab.kind(h) == 'systemd']
    lab.reboot(*(hosts + ['dhcp1']))
    plain = inventory_of(lab)['dhcp1']
    t0 = time.monotonic()
    while True:
        missing = boot_missing(lab, baseline, hosts)
        if not missing or time.monotonic() - t0 > BOOT_BOUND:
            break
        time.sleep(1)
    seconds = time.monotonic() - t0
    with open(os.path.join(OUT, 'boot.txt'), 'w') as f:
        f.write('rebooted %s; back without a converge %.0f s after the hosts accepted SSH (bound %d s); missing: %s\n'
                % (' '.join(hosts), seconds, BOOT_BOUND, missing or 'nothing'))
    return {'hosts': hosts, 'missing': missing, 'plain': plain}


def test_systemd_hosts_serve_leases_and_tunnels_after_a_reboot_without_a_converge(rebooted):
    assert rebooted['missing'] == []


def test_a_plain_host_has_nothing_back_until_a_converge(rebooted):
    assert rebooted['plain'] == ([], [])


@pytest.fixture(scope='module')
def after_boot(lab, runs, installed, rebooted):
    run = site(runs, installed, 'after-boot')
    return run, inventory_of(lab)


def changed_on_the_hosts(run):
    """Per host, the changed task results of the run - the site's plays and the topology picture the controller
    draws at the end (playbooks/topology.yml): a reboot makes nothing the picture shows anew (fixed client
    addresses; no ifindex or nsid in it)."""
    out = collections.defaultdict(list)
    for r in run.results(status='changed'):
        out[r.host].append(r.task)
    return dict(out)


def test_converge_after_a_reboot_changes_nothing_where_boot_restored_it_and_mends_the_plain_host(lab, after_boot, rebooted):
    changed = changed_on_the_hosts(assert_run(after_boot[0], hosts=lab.hosts))
    assert sorted(changed) == ['dhcp1'], changed


def test_after_the_reboot_and_a_converge_the_daemons_and_namespaces_are_those_of_the_first(after_boot, baseline):
    assert after_boot[1] == baseline
