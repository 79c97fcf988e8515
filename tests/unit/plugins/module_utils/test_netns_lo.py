# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the raw rtnetlink requests the netns module uses for lo (no kernel: a fake socket)."""

from __future__ import annotations

import errno
import struct

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils import _netns
from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError
from ansible_collections.virtnet.linux.plugins.module_utils._rtnl import RtnlSocket
from ansible_collections.virtnet.linux.tests.unit.plugins.module_utils.test_rtnl import FakeSocket

HDR = struct.Struct('=IHHII')
IFI = struct.Struct('=BxHiII')


def newlink(index, flags, seq=1):
    body = IFI.pack(0, 772, index, flags, 0) + struct.pack('=HH', 7, 3) + b'lo\0\0'
    return HDR.pack(HDR.size + len(body), 16, 0, seq, 0) + body


def error(code, seq=1):
    body = struct.pack('=i', -code) + HDR.pack(16, 18, 1, seq, 0)
    return HDR.pack(HDR.size + len(body), 2, 0, seq, 0) + body


# The request layout of the get (lo by name, without statistics) and its ENODEV / error answers are
# the engine socket's, tested in test_rtnl.py; here: what the netns module makes of them.

def _patched(monkeypatch, sock):
    monkeypatch.setattr(_netns, '_rtnl_socket', lambda name: RtnlSocket(sock))


@pytest.mark.parametrize('flags, state', [(0x1, 'up'), (0x0, 'down'), (0x1002, 'down')])
def test_loopback_state(monkeypatch, flags, state):
    sock = FakeSocket(newlink(1, flags))
    _patched(monkeypatch, sock)
    assert _netns.loopback_state('x') == state
    assert sock.closed


def test_set_loopback_sends_flags_and_change_mask(monkeypatch):
    sock = FakeSocket(newlink(7, 0), error(0, seq=2))
    _patched(monkeypatch, sock)
    _netns.set_loopback('x', True)
    _family, _type, index, flags, change = IFI.unpack_from(sock.sent[1], HDR.size)
    assert (index, flags, change) == (7, 0x1, 0x1)
    assert HDR.unpack_from(sock.sent[1], 0)[1:3] == (16, 0x1 | 0x4)
    sock = FakeSocket(newlink(7, 1), error(0, seq=2))
    _patched(monkeypatch, sock)
    _netns.set_loopback('x', False)
    assert IFI.unpack_from(sock.sent[1], HDR.size)[2:] == (7, 0, 0x1)


def test_set_loopback_errors_name_the_namespace(monkeypatch):
    _patched(monkeypatch, FakeSocket(newlink(1, 0), error(errno.EPERM, seq=2)))
    with pytest.raises(VirtnetError, match='setting lo up in netns x: operation not permitted'):
        _netns.set_loopback('x', True)
    _patched(monkeypatch, FakeSocket(error(errno.ENODEV)))
    with pytest.raises(VirtnetError, match='has no lo'):
        _netns.set_loopback('x', True)
