# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab of simulated SSH hosts (tools/lab.sh) as Python objects for the tests.

Lab       one lab directory: up, stop/start/reboot, down, commands on a host over SSH, its inventory.
LabPool   the labs of one test session, keyed by topology name: each is brought up the first time a
          test asks for it and shared by every later test that asks for the same one. The lab's
          network (bridge vnlab0, 10.88.0.0/24, namespaces lab-HOST) is the sandbox's, so one lab is up
          at a time: asking for another takes the current one down first (conftest.py orders the tests
          so that each lab comes up once). Every down is followed by the "nothing left" check.
leftovers what a lab left in the sandbox (tools/lab/leftovers.py, also tools/main.sh's check).
in_sandbox whether this process runs inside tools/sandbox.sh --pid (the guard of every lab test).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_SH = os.path.join(TOP, 'tools', 'lab.sh')
sys.path.insert(0, os.path.join(TOP, 'tools', 'lab'))

import topology as site_topology  # noqa: E402  pylint: disable=wrong-import-position
from leftovers import leftovers  # noqa: E402  pylint: disable=wrong-import-position

# The labs the tests use, as lab.sh host specs (NAME:KIND[:GROUPS]). The main job's four hosts ('site')
# are defined once, as molecule/site/molecule.yml's platforms (molecule cannot include a file): see
# tools/lab/topology.py.
TOPOLOGIES = {
    # the lab's own test: one host of each kind, in groups
    'lab': ['p1:plain:grp_a', 's1:systemd:grp_a,grp_b'],
    # the role tests: vpn_endpoint on three plain hosts (pid files), dhcp_namespace on one host of each
    # kind (pid file and systemd unit) with the qemu guest on the systemd one; segments span dhcp1, dhcp2
    # and the compute host cmp1 (guests there get their leases across hosts, from one or two DHCP nodes)
    'roles': ['vpn1:plain:vpn_test', 'vpn2:plain:vpn_test', 'vpn3:plain:vpn_test',
              'dhcp1:plain:dhcp_test,segment_test', 'dhcp2:systemd:dhcp_test,segment_test',
              'cmp1:plain:segment_test,compute_test'],
    # the daemon module's two back ends: a systemd unit and a pid file, the same tasks on both
    'daemon': ['d1:systemd:daemon_hosts', 'd2:plain:daemon_hosts'],
}


def topology(name):
    return site_topology.specs() if name == 'site' else list(TOPOLOGIES[name])


def sandbox_id():
    return '%s/%s' % (os.readlink('/proc/self/ns/net'), os.readlink('/proc/self/ns/pid'))


def in_sandbox():
    """Inside tools/sandbox.sh --pid: it exports VIRTNET_SANDBOX=<netns>/<pidns>, which must be ours."""
    return bool(os.environ.get('VIRTNET_SANDBOX')) and os.environ['VIRTNET_SANDBOX'] == sandbox_id()


def sh(cmd, check=True, timeout=120, **kw):
    """A local command (list) -> CompletedProcess with text output."""
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout, **kw)


class LabError(AssertionError):
    pass


class Lab(object):
    """One lab directory of tools/lab.sh."""

    def __init__(self, name, directory, specs):
        self.name = name
        self.dir = directory
        self.specs = list(specs)
        self.inventory = os.path.join(directory, 'inventory.yml')
        self.key = os.path.join(directory, 'id_ed25519')
        self.is_up = False
        self.lab_id = None

    def lab_sh(self, *args, timeout=600):
        p = sh([LAB_SH, '--dir', self.dir] + list(args), check=False, timeout=timeout)
        if p.returncode != 0:
            raise LabError('lab.sh %s failed (rc %d):\n%s%s' % (' '.join(args), p.returncode, p.stdout[-2000:], p.stderr[-3000:]))
        return p.stdout

    # --- the lab as a whole --------------------------------------------------------------------------
    def up(self):
        self.is_up = True       # from here on, down() must run (also when up fails half-way)
        self.lab_sh('up', *self.specs)
        with open(os.path.join(self.dir, 'lab.env')) as f:
            env = dict(line.strip().split('=', 1) for line in f if '=' in line)
        self.lab_id = env.get('LAB_ID')
        return self

    def down(self):
        """lab.sh down, then the nothing-left check (raises LabError naming what is left)."""
        self.lab_sh('down')
        self.is_up = False
        left = leftovers(self.dir, self.lab_id)
        if left:
            raise LabError('lab %s left behind: %s' % (self.name, '; '.join(left)))

    def status(self):
        return json.loads(self.lab_sh('status', '--json'))

    @property
    def hosts(self):
        return [h['name'] for h in self.status()['hosts']]

    def host(self, name):
        return next(h for h in self.status()['hosts'] if h['name'] == name)

    def address(self, name):
        return self.host(name)['address']

    def kind(self, name):
        return self.host(name)['kind']

    def group(self, group):
        return [h['name'] for h in self.status()['hosts'] if group in h['groups'].split(',')]

    def stop(self, *hosts):
        self.lab_sh('stop', *hosts)

    def start(self, *hosts):
        self.lab_sh('start', *hosts)

    def reboot(self, *hosts):
        """Power off and on: files kept; /run, links, namespaces, processes gone."""
        self.stop(*hosts)
        self.start(*hosts)

    def pid1s(self):
        """Each host's recorded PID 1 (lab.sh's record: 'PID STARTTIME')."""
        out = {}
        for d in sorted(glob.glob(os.path.join(self.dir, 'hosts', '*', 'pid1'))):
            with open(d) as f:
                out[d.split(os.sep)[-2]] = f.read().strip()
        return out

    # --- commands on a host ------------------------------------------------------------------------
    def ssh_argv(self, host):
        return ['ssh', '-q', '-i', self.key, '-o', 'BatchMode=yes', '-o', 'UserKnownHostsFile=%s/known_hosts' % self.dir,
                '-o', 'StrictHostKeyChecking=yes', '-o', 'ControlMaster=no', '-o', 'ControlPath=none',
                '-o', 'ConnectTimeout=10', 'root@%s' % self.address(host)]

    def run(self, host, script, check=True, timeout=120, stdin=None):
        """SCRIPT (a shell script) on HOST as root -> CompletedProcess; check: raise on rc != 0."""
        p = subprocess.run(self.ssh_argv(host) + [script], capture_output=True, text=True, timeout=timeout,
                           check=False, input=stdin)
        if check and p.returncode != 0:
            raise LabError('on %s (rc %d): %s\nstdout: %s\nstderr: %s' % (host, p.returncode, script[:500], p.stdout[-1500:], p.stderr[-1500:]))
        return p

    def out(self, host, script, timeout=120):
        """The stripped stdout of SCRIPT on HOST (which must succeed)."""
        return self.run(host, script, timeout=timeout).stdout.strip()

    def ok(self, host, script, timeout=120):
        """Whether SCRIPT succeeds on HOST."""
        return self.run(host, script, check=False, timeout=timeout).returncode == 0

    def wait(self, host, script, seconds=30):
        """Whether SCRIPT succeeds on HOST within SECONDS (tried once a second: bounded in count and time)."""
        for dummy in range(int(seconds) + 1):
            if self.ok(host, script):
                return True
            time.sleep(1)
        return False


class LabPool(object):
    """The labs of a test session (see the module's docstring)."""

    def __init__(self, root):
        self.root = root
        self.labs = {}
        self.current = None
        self.errors = []

    def get(self, name):
        lab = self.labs.get(name)
        if lab is not None and lab.is_up:
            return lab
        if self.current is not None and self.current.is_up:
            self.current.down()
        lab = Lab(name, os.path.join(self.root, name), topology(name))
        if os.path.isdir(lab.dir):
            lab.lab_sh('down')      # what a killed session left: files and empty cgroup directories
        self.labs[name] = self.current = lab
        return lab.up()

    def close(self):
        """Takes every lab that is up down (with the nothing-left check); returns the problems."""
        problems = []
        for lab in self.labs.values():
            if lab.is_up:
                try:
                    lab.down()
                except (LabError, subprocess.SubprocessError, OSError) as e:
                    problems.append(str(e))
        return problems
