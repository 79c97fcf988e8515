# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a lab left in its sandbox after `tools/lab.sh down`: the "nothing left" check of the main job
(tools/main.sh) and of the lab-based tests (tests/harness).

    python tools/lab/leftovers.py LAB_DIR [LAB_ID]     prints what is left, exit 1 if anything

Namespaces, links but lo, mounts and cgroup directories that carry the lab's id, control sockets in
LAB_DIR/cp, and processes other than the sandbox's PID 1, this one and its ancestors.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time


def sh(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


def _processes():
    """PID -> (ppid, state, comm) of every process this (sandbox's) /proc shows."""
    out = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                head, tail = f.read().rsplit(')', 1)
            fields = tail.split()
            out[int(d)] = (int(fields[1]), fields[0], head.split('(', 1)[1])
        except (OSError, IndexError, ValueError):
            continue
    return out


def stray_processes():
    """Processes other than the sandbox's PID 1, this process, its ancestors and their zombies."""
    procs = _processes()
    keep = set([1])
    p = os.getpid()
    while p and p not in keep:
        keep.add(p)
        p = procs.get(p, (0,))[0]
    return ['%d %s (parent %d)' % (pid, comm, ppid) for pid, (ppid, state, comm) in sorted(procs.items())
            if pid not in keep and state != 'Z' and ppid != os.getpid()]


def leftovers(lab_dir, lab_id, wait=10.0):
    """What is left in the sandbox after a lab's down (the check tools/main.sh makes): namespaces, links
    but lo, mounts and cgroup directories of the lab's id, control sockets, processes. Processes and
    links get WAIT seconds to go (the kernel frees namespaces in the background)."""
    deadline = time.monotonic() + wait
    while True:
        left = []
        ns = [x['name'] for x in json.loads(sh(['ip', '-j', 'netns', 'list']) or '[]')]
        if ns:
            left.append('namespaces: %s' % ' '.join(ns))
        links = [x['ifname'] for x in json.loads(sh(['ip', '-j', 'link', 'show']) or '[]') if x['ifname'] != 'lo']
        if links:
            left.append('links: %s' % ' '.join(links))
        if lab_id:
            with open('/proc/self/mountinfo') as f:
                mounts = [line.split()[4] for line in f if lab_id in line]
            if mounts:
                left.append('mounts: %s' % ' '.join(mounts))
            cgroups = glob.glob('/sys/fs/cgroup/*/%s' % lab_id) + glob.glob('/sys/fs/cgroup/%s' % lab_id)
            if cgroups:
                left.append('cgroup directories: %s' % ' '.join(cgroups))
        sockets = glob.glob(os.path.join(lab_dir, 'cp', '*'))
        if sockets:
            left.append('control sockets: %s' % ' '.join(sockets))
        procs = stray_processes()
        if procs:
            left.append('processes: %s' % ', '.join(procs))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


if __name__ == '__main__':
    left = leftovers(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    for line in left:
        print('left behind: %s' % line)
    sys.exit(1 if left else 0)
