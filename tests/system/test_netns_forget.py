# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A namespace deleted by the netns spec is gone when its task ends, even after the same run read in it.

An open netlink socket keeps its namespace alive: the netns spec closes the run's sockets in a namespace
(`_engine.Context.forget` -> `_rtnl.Rtnl.forget`) before it deletes it. Seen from outside: the namespace is
destroyed, so the veth pair that crossed into it goes with it, while the run still holds its other sockets.

Runs inside tools/sandbox.sh (tools/test.sh does that): it creates a namespace and a veth pair with `ip`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'build', 'collections'))

from ansible_collections.virtnet.linux.plugins.module_utils._engine import Context  # noqa: E402
from ansible_collections.virtnet.linux.plugins.module_utils._spec import netns as netns_spec  # noqa: E402
from test_raw_matches_pyroute2 import sandboxed  # noqa: E402

NS = 'fg-a'
GONE_WITHIN = 20          # seconds the kernel may take to clean up a namespace nothing holds any more


class Module(object):
    check_mode = False


def host_link_exists(name):
    return subprocess.run(['ip', 'link', 'show', 'dev', name], capture_output=True, check=False).returncode == 0


def test_deleted_netns_is_gone_before_the_run_ends():
    assert sandboxed(), 'run this inside tools/sandbox.sh: it creates a namespace and links'
    subprocess.run(['ip', 'netns', 'add', NS], check=True)
    subprocess.run(['ip', 'link', 'add', 'fg-h', 'type', 'veth', 'peer', 'name', 'fg-n', 'netns', NS], check=True)
    ctx = Context(Module())
    try:
        # the run reads in the namespace: a raw socket and pyroute2's IPRoute are open in it
        assert ctx.rt.get_link(NS, ifname='fg-n', need_data=False)['ifname'] == 'fg-n'
        assert ctx.ipr(NS).link('get', ifname='fg-n')
        assert ctx.rt.get_link('', ifname='fg-h', need_data=False) is not None     # and one at home
        result = netns_spec.ensure(ctx, {'name': NS, 'state': 'absent', 'loopback_up': True, 'etc': None})
        assert result.changed and not os.path.exists('/run/netns/%s' % NS)
        # the namespace itself is destroyed while the run goes on: its veth end, and so the pair, is gone
        deadline = time.monotonic() + GONE_WITHIN
        while host_link_exists('fg-h') and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not host_link_exists('fg-h'), 'netns %s outlived its deletion: a socket of the run holds it' % NS
        assert ctx.rt.get_link('', ifname='fg-h', need_data=False) is None       # the run's other sockets work
    finally:
        ctx.close()
