# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ip and bridge report in the host namespace and every named one, as JSON on stdout:

    {"NETNS": {"links": {IFNAME: entry of `ip -d -j link show`},
               "flood": {IFNAME: ["DST", "DST port P vni V via DEV", ...]}}}      ("" = the host)

"flood" holds the flood entries (all-zero MAC) of every device, from `bridge -j fdb show`: what the vxlan
module keeps exact, read without the module's own reader. With --print, one line of text of all of it minus
what the kernel changes by itself (operstate, qdisc, carrier flags, bridge timers, the offload sizes a bridge
takes from its ports), so two prints differ only when something was changed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

ZERO = '00:00:00:00:00:00'


def run(*argv):
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout or '[]')


def namespace(ns):
    prefix = ['-n', ns] if ns else []
    links = dict((link['ifname'], link) for link in run('ip', *prefix, '-d', '-j', 'link', 'show'))
    flood = {}
    for entry in run('bridge', *prefix, '-j', 'fdb', 'show'):
        if entry.get('mac') != ZERO or 'dst' not in entry:
            continue
        text = entry['dst']
        for key, word in (('port', 'port'), ('vni', 'vni'), ('viaIf', 'via')):
            if key in entry:
                text += ' %s %s' % (word, entry[key])
        flood.setdefault(entry['ifname'], []).append(text)
    return {'links': links, 'flood': dict((k, sorted(v)) for k, v in flood.items())}


def main():
    names = sorted(line.split()[0] for line in subprocess.run(['ip', 'netns', 'list'], check=True, capture_output=True,
                                                              text=True).stdout.splitlines() if line.strip())
    state = dict((ns, namespace(ns)) for ns in [''] + names)
    text = json.dumps(state, sort_keys=True)
    if '--print' in sys.argv:
        text = re.sub(r'"(operstate|qdisc)": "[^"]*",? ?|"(NO-CARRIER|LOWER_UP|M-DOWN)",? ?|"[gt][rs]o_[a-z0-9_]+": \d+,? ?'
                      r'|"[a-z_]+_timer": [0-9.]+,? ?', '', text)
    print(text)


if __name__ == '__main__':
    main()
