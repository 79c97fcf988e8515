# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pki module SIGKILLed while it issues a batch of client certificates, then run again.

Each trial (sigkill_trial.py, scenario pki_issue) runs in its own sandbox: the next run must issue the
rest, each name exactly once, with nothing left of the interrupted issuance (the easy-rsa the killed
module started keeps the PKI's lock until it ends), and the run after must report changed=false.
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
FRACTIONS = [round(RNG.uniform(0.05, 0.85), 3) for dummy in range(3)]


@pytest.mark.parametrize('fraction', FRACTIONS)
def test_pki_sigkill_then_converge(fraction):
    proc = subprocess.run([os.path.join(TOP, 'tools', 'sandbox.sh'), sys.executable,
                           os.path.join(HERE, 'sigkill_trial.py'), 'pki_issue', str(fraction)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print('seed %d: %s' % (SEED, result))
    assert result['ok'], result
    assert result['mid_batch'], result
