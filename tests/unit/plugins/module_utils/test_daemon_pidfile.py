# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The daemon module's pidfile back end: the setpriv prefix and reading its log (no process involved)."""

from __future__ import annotations

from ansible_collections.virtnet.linux.plugins.module_utils._daemon.core import normalise
from ansible_collections.virtnet.linux.plugins.module_utils._daemon.pidfile import PidfileBackend, setpriv_prefix
from ansible_collections.virtnet.linux.tests.unit.plugins.module_utils.test_daemon_core import params


def test_setpriv_prefix():
    spec = normalise(params(user='nobody', ambient_capabilities=['net_admin', 'cap_net_raw']))
    pre = setpriv_prefix(spec)
    assert pre[0] == 'setpriv' and pre[-1] == '--'
    assert '--ambient-caps=+net_admin,+net_raw' in pre and '--inh-caps=+net_admin,+net_raw' in pre
    assert '--reuid=65534' in pre


def test_no_setpriv_for_root():
    assert setpriv_prefix(normalise(params())) == []


def test_what_was_logged_since_the_mark(tmp_path):
    log = str(tmp_path / 'd1.log')
    be = PidfileBackend(None, None)
    spec = normalise(params(log_file=log))
    (mark,) = be.log_marks([spec])
    assert mark == 0
    with open(log, 'w') as f:
        f.write('old line\n')
    (mark,) = be.log_marks([spec])
    with open(log, 'a') as f:
        f.write('dnsmasq[7]: cannot read /x/hosts: Permission denied\nread /x/opts\n')
    assert be.logged([(spec, mark)]) == [['dnsmasq[7]: cannot read /x/hosts: Permission denied', 'read /x/opts']]
    with open(log, 'w') as f:       # truncated since the mark: everything is new
        f.write('new\n')
    assert be.logged([(spec, mark)]) == [['new']]
