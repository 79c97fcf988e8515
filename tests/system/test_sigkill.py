# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Interrupted runs: a module SIGKILLed at a random moment of a batch, then run again.

Every trial runs in its own throwaway sandbox (tools/sandbox.sh): the next run must converge to the
declared state (checked with `ip`), and the one after must report changed=false.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
SEED = int(os.environ.get('VIRTNET_SIGKILL_SEED', '0')) or random.SystemRandom().randrange(1, 1 << 30)
RNG = random.Random(SEED)
SCENARIOS = ['netns_create', 'netns_delete', 'veth_create', 'veth_delete', 'tuntap_create']
RESULTS = []
TRIALS = [(SCENARIOS[i % len(SCENARIOS)], round(RNG.uniform(0.05, 0.95), 3)) for i in range(12)]


@pytest.mark.parametrize('scenario,fraction', TRIALS)
def test_sigkill_then_converge(scenario, fraction):
    proc = subprocess.run([os.path.join(TOP, 'tools', 'sandbox.sh'), sys.executable,
                           os.path.join(HERE, 'sigkill_trial.py'), scenario, str(fraction)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print('seed %d: %s' % (SEED, result))
    RESULTS.append(result)
    assert result['ok'], result


def test_at_least_ten_kills_landed_mid_batch():
    """A kill that landed after the work was done proves nothing: at least 10 trials must have left
    work for the next run (it reported changed=true)."""
    assert len(RESULTS) == len(TRIALS)
    mid = [r for r in RESULTS if r['mid_batch']]
    assert len(mid) >= 10, RESULTS
