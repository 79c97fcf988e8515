# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine's raw link reader (_rawlink) against pyroute2 on the real kernel: the same dicts.

Runs inside tools/sandbox.sh (tools/test.sh does that): it creates namespaces and links with `ip`.
"""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'build', 'collections'))

from ansible_collections.virtnet.linux.plugins.module_utils import _netlink  # noqa: E402
from ansible_collections.virtnet.linux.plugins.module_utils._rawlink import FALLBACK, RawSockets  # noqa: E402

NS = 'rp-a'
SETUP = [
    'ip netns add %s' % NS,
    'ip link add rp-v0 mtu 1400 address 02:00:00:00:0a:01 type veth peer name rp-v1 netns %s' % NS,
    'ip link set rp-v0 alias "raw vs pyroute2" group 7 txqueuelen 321 up',
    'ip link add rp-v2 type veth peer name rp-v3',
    'ip link add rp-br type bridge',
    'ip link set rp-v2 master rp-br',
    'ip tuntap add dev rp-tun mode tun user 4242 group 4343',
    'ip tuntap add dev rp-tap mode tap vnet_hdr multi_queue',
    'ip link set rp-tap master rp-br',
    'ip -n %s tuntap add dev rp-tap2 mode tap' % NS,
]


def sandboxed():
    """In tools/sandbox.sh: not PID 1's network namespace, and /run/netns is a private tmpfs."""
    try:
        if os.stat('/proc/self/ns/net').st_ino == os.stat('/proc/1/ns/net').st_ino:
            return False
    except OSError:
        pass                    # PID 1's namespace cannot be read here: the mount tells
    with open('/proc/self/mountinfo') as f:
        return any(' /run/netns ' in line and 'tmpfs' in line for line in f)


def names(netns):
    cmd = ['ip'] + (['-n', netns] if netns else []) + ['-o', 'link', 'show']
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [line.split(':')[1].strip().split('@')[0] for line in out.splitlines()]


def test_raw_reader_gives_pyroute2s_dicts():
    assert sandboxed(), 'run this inside tools/sandbox.sh: it creates links and namespaces'
    for cmd in SETUP:
        subprocess.run(cmd, shell=True, check=True)
    raw, nl = RawSockets(), _netlink.Netlink()
    full = partial = 0
    try:
        for netns in ('', NS):
            ipr = nl.ipr(netns)
            for name in names(netns):
                want = _netlink.link_to_dict(ipr.link('get', ifname=name)[0])
                got = raw.get_link(netns, ifname=name, need_data=True)
                if got is FALLBACK:
                    # kind data decoded only by pyroute2 (a bridge, a bridge port): the rest must match
                    assert want['kind'] == 'bridge' or want['slave_kind'] == 'bridge', name
                    for need in ('info', False):
                        got = raw.get_link(netns, ifname=name, need_data=need)
                        if got is FALLBACK:
                            continue
                        for key in want:
                            if key in ('info_data', 'slave_data') and got[key] is None:
                                continue
                            assert got[key] == want[key], (name, need, key, got[key], want[key])
                        partial += 1
                    continue
                assert got == want, (name, got, want)
                assert raw.get_link(netns, index=want['index']) == want, name
                full += 1
    finally:
        nl.close()
        raw.close()
    # lo ×2, the veth ends, rp-tun, rp-tap2 (and rp-tap with 'info') are compared
    assert full >= 6 and partial >= 3, (full, partial)
    tun = RawSockets().get_link('', ifname='rp-tun')
    assert tun['info_data']['IFLA_TUN_OWNER'] == 4242 and tun['info_data']['IFLA_TUN_TYPE'] == 1
