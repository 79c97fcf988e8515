# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One interrupted-run trial, run inside its own sandbox by test_sigkill.py.

    python sigkill_trial.py SCENARIO FRACTION

Prepares the scenario, starts the module on its batch, SIGKILLs the module process once the kernel
shows FRACTION of the batch done (mid-batch, by construction), then runs it again (must succeed and
reach the declared state, checked with `ip`) and once more (must report changed=false). Prints a JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(TOP, 'build', 'collections')
NS = ['sk-ns%d' % i for i in range(20)]


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


def ip_json(args):
    out = subprocess.run(['ip', '-j'] + args, check=True, capture_output=True, text=True).stdout
    return json.loads(out or '[]')


def netns_list():
    return sorted(n for n in os.listdir('/run/netns'))


def links(ns=None):
    return sorted(x['ifname'] for x in ip_json((['-n', ns] if ns else []) + ['link', 'show']))


def start(module, args):
    """Start the module as Ansible would run it (its own process); return the Popen."""
    path = '/tmp/sk-args-%d.json' % os.getpid()
    with open(path, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    return subprocess.Popen([sys.executable, '-m', 'ansible_collections.virtnet.linux.plugins.modules.' + module, path],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    out, err = proc.communicate(timeout=300)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {'failed': True, 'msg': 'no JSON (rc %s): %s %s' % (proc.returncode, out[-500:], err[-500:])}


def run(module, args):
    return finish(start(module, args))


def _veth_batch():
    return [{'name': 'skv%d' % i, 'peer': 'skp%d' % i, 'peer_netns': NS[i % len(NS)], 'link_state': 'up',
             'peer_link_state': 'up', 'mtu': 1400} for i in range(200)]


def _count(prefix, ns_dir=False):
    if ns_dir:
        return lambda: sum(1 for n in os.listdir('/run/netns') if n.startswith(prefix))
    return lambda: sum(1 for line in subprocess.run(['ip', '-o', 'link', 'show'], capture_output=True,
                                                    text=True, check=False).stdout.splitlines()
                       if line.split(': ')[1].startswith(prefix))


def _count_remaining(prefix):
    """Links of `prefix` not yet tagged for deletion (group default) - progress of a delete."""
    return lambda: sum(1 for line in subprocess.run(['ip', '-o', 'link', 'show'], capture_output=True,
                                                    text=True, check=False).stdout.splitlines()
                       if line.split(': ')[1].startswith(prefix) and 'group default' in line)


PKI = '/run/virtnet/sk-pki'      # a tmpfs of the sandbox: gone with it
PKI_CNS = ['sk-c%d' % i for i in range(30)]


def _issued():
    try:
        return sum(1 for n in os.listdir(os.path.join(PKI, 'issued')) if n.endswith('.crt'))
    except OSError:
        return 0


def _check_pki():
    """Every client issued once (one valid entry each in easy-rsa's index), signed by the CA, its key
    matching, nothing left of an interrupted issuance."""
    issued = sorted(n[:-4] for n in os.listdir(os.path.join(PKI, 'issued')))
    if issued != sorted(PKI_CNS):
        return 'issued: %s' % issued
    with open(os.path.join(PKI, 'index.txt')) as f:
        cns = sorted(line.rsplit('/CN=', 1)[1].strip() for line in f if line.startswith('V'))
    if cns != sorted(PKI_CNS):
        return 'index.txt: %s' % cns
    keys = sorted(n[:-4] for n in os.listdir(os.path.join(PKI, 'private')))
    reqs = sorted(n[:-4] for n in os.listdir(os.path.join(PKI, 'reqs')))
    if keys != sorted(PKI_CNS + ['ca']) or reqs != sorted(PKI_CNS):
        return 'keys %s, requests %s' % (keys, reqs)
    verify = subprocess.run(['openssl', 'verify', '-CAfile', os.path.join(PKI, 'ca.crt')]
                            + [os.path.join(PKI, 'issued', cn + '.crt') for cn in PKI_CNS],
                            capture_output=True, text=True, check=False)
    if verify.returncode != 0:
        return 'openssl verify: %s' % verify.stdout[-300:]
    for cn in PKI_CNS:
        pub = [subprocess.run(cmd, capture_output=True, text=True, check=True).stdout for cmd in (
            ['openssl', 'pkey', '-pubout', '-in', os.path.join(PKI, 'private', cn + '.key')],
            ['openssl', 'x509', '-pubkey', '-noout', '-in', os.path.join(PKI, 'issued', cn + '.crt')])]
        if pub[0] != pub[1]:
            return 'the key of %s does not match its certificate' % cn
    return None


SCENARIOS = {
    # name: (prepare shell, module, args, check() -> error or None, (progress(), objects, created?))
    # a PKI made from nothing (init-pki, build-ca) and 30 clients issued: the kill lands while easy-rsa
    # issues one (it goes on, holding the PKI's lock) or between two
    'pki_issue': (
        '', 'pki', {'path': PKI, 'ca_cn': 'sk CA', 'clients': PKI_CNS, 'tls_crypt': True},
        _check_pki, (_issued, len(PKI_CNS), True)),
    'netns_create': (
        '', 'netns', {'names': ['sk-x%d' % i for i in range(150)]},
        lambda: None if netns_list() == sorted('sk-x%d' % i for i in range(150)) else 'namespaces differ',
        (_count('sk-x', True), 150, True)),
    'netns_delete': (
        'for i in $(seq 0 149); do echo netns add sk-x$i; done | ip -batch -',
        'netns', {'names': ['sk-x%d' % i for i in range(150)], 'state': 'absent'},
        lambda: None if netns_list() == [] else 'namespaces left: %s' % netns_list()[:5],
        (_count('sk-x', True), 150, False)),
    'veth_create': (
        'for n in %s; do echo netns add $n; done | ip -batch -' % ' '.join(NS),
        'veth', {'batch': _veth_batch()},
        lambda: _check_veths(present=True), (_count('skv'), 200, True)),
    # 600 pairs: the links are tagged for the group delete at ~10 us each, so the batch is part-way
    # done for a few milliseconds only; the trial keeps its kill in the first half of the tagging
    'veth_delete': (
        'for n in %s; do echo netns add $n; done | ip -batch - && '
        'for i in $(seq 0 599); do echo "link add skv$i type veth peer name skp$i netns sk-ns$((i %% 20))"; done | ip -batch -'
        % ' '.join(NS),
        'veth', {'batch': [{'name': 'skv%d' % i} for i in range(600)], 'state': 'absent'},
        lambda: _check_veths(present=False), (_count_remaining('skv'), 600, False)),
    'tuntap_create': (
        '', 'tuntap', {'batch': [{'name': 'skt%d' % i, 'mode': 'tap' if i % 2 else 'tun', 'user': 'nobody',
                                  'link_state': 'up'} for i in range(150)]},
        lambda: None if links() == sorted(['lo'] + ['skt%d' % i for i in range(150)]) else 'taps differ',
        (_count('skt'), 150, True)),
}


def _check_veths(present):
    host = [n for n in links() if n.startswith('skv')]
    want = sorted('skv%d' % i for i in range(200)) if present else []
    if host != want:
        return 'host veth ends differ: %d of %d' % (len(host), len(want))
    for i, ns in enumerate(NS):
        peers = [n for n in links(ns) if n.startswith('skp')]
        wantp = sorted('skp%d' % j for j in range(i, 200, len(NS))) if present else []
        if peers != wantp:
            return 'peers in %s differ' % ns
    if present:
        for x in ip_json(['link', 'show', 'skv7']):
            if x['mtu'] != 1400 or 'UP' not in x['flags']:
                return 'skv7 not configured: %s' % x
    return None


def _wait_stopped(proc, timeout=5.0):
    """True once the process is stopped (state T in /proc/PID/stat), False if it ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open('/proc/%d/stat' % proc.pid) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            return False
        if state in ('T', 't'):
            return True
        if state in ('Z', 'X'):
            return False
        time.sleep(0.0001)
    return False


def main():
    scenario, fraction = sys.argv[1], float(sys.argv[2])
    prepare, module, args, check, (progress, total, creates) = SCENARIOS[scenario]
    if prepare:
        sh(prepare)
    # Kill when the kernel shows that the batch is part-way done: after `target` of `total` objects.
    # The module is stepped: it runs for a short slice, is stopped (SIGSTOP) while the kernel's state is
    # read, and is killed while stopped once that state shows the target reached. A batch that takes a
    # few milliseconds (a raw-netlink group delete) is then still caught part-way, and the kill lands at
    # a state the trial saw. The end of the batch stays clear (the last 15 %, half of a group delete's
    # tagging), so one slice cannot carry the batch to its end.
    cap = 0.5 if scenario == 'veth_delete' else 0.85
    target = max(1, min(int(cap * total), int(fraction * total)))
    initial = progress()
    proc = start(module, args)
    deadline = time.monotonic() + 120
    done = 0
    killed = False
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0002)                        # the slice the module runs
        os.kill(proc.pid, signal.SIGSTOP)
        if not _wait_stopped(proc):
            break                                 # it ended during the slice
        done = progress() - initial if creates else initial - progress()
        if done >= target:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        os.kill(proc.pid, signal.SIGCONT)
    if not killed and proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)        # never leave it stopped
    proc.communicate()
    at_kill = progress()
    second = run(module, args)
    err = second.get('msg') if second.get('failed') else check()
    third = run(module, args) if not err else {}
    res = {'ok': bool(killed and not err and third.get('changed') is False and not third.get('failed')),
           'mid_batch': bool(second.get('changed')),
           'scenario': scenario, 'killed_after': done, 'of': total, 'killed': killed, 'left_at_kill': at_kill,
           'second_changed': second.get('changed'), 'third_changed': third.get('changed'), 'error': err}
    print(json.dumps(res))


if __name__ == '__main__':
    main()
