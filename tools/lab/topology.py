# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A molecule scenario's platforms as tools/lab.sh host specs (NAME:KIND[:GROUPS]), one a line.

    python tools/lab/topology.py [molecule/site/molecule.yml]

The main job's four hosts are defined once, as molecule/site/molecule.yml's platforms (molecule cannot
include another file): tools/main.sh, tests/site (through tests/harness) and bench take them from there.
"""

from __future__ import annotations

import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = os.path.join(TOP, 'molecule', 'site', 'molecule.yml')


def specs(path=SITE):
    import yaml  # pylint: disable=import-outside-toplevel

    with open(path) as f:
        platforms = yaml.safe_load(f)['platforms']
    return ['%s:%s%s' % (p['name'], p.get('lab_kind', 'plain'), (':' + ','.join(p['groups'])) if p.get('groups') else '')
            for p in platforms]


if __name__ == '__main__':
    print('\n'.join(specs(*sys.argv[1:2])))
