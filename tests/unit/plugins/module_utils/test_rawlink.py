# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the raw link read behind get_link (no kernel: hand-built messages, a fake socket)."""

from __future__ import annotations

import errno
import struct

from ansible_collections.virtnet.linux.plugins.module_utils import _rawlink
from ansible_collections.virtnet.linux.plugins.module_utils._rawlink import FALLBACK, RawLinkReader, get_request, parse_link

HDR = struct.Struct('=IHHII')
IFI = struct.Struct('=BxHiII')


def attr(kind, payload):
    return struct.pack('=HH', 4 + len(payload), kind) + payload + b'\0' * ((4 - len(payload) % 4) % 4)


def u32(kind, value):
    return attr(kind, struct.pack('=I', value))


def link_payload(index=7, flags=0x1003, info=None, extra=b''):
    body = IFI.pack(0, 1, index, flags, 0)
    body += attr(3, b'v1\0') + u32(4, 1400) + u32(13, 1000) + attr(16, b'\x06')
    body += attr(1, bytes([2, 0, 0, 0, 0, 9])) + u32(27, 0) + u32(5, 12) + attr(37, struct.pack('=i', 3))
    if info is not None:
        body += attr(18, info)
    return body + extra


def message(seq, mtype, payload):
    return HDR.pack(HDR.size + len(payload), mtype, 0, seq, 0) + payload


class FakeSocket(object):
    def __init__(self, *replies):
        self.sent = []
        self.replies = list(replies)
        self.closed = False

    def send(self, data):
        self.sent.append(data)
        return len(data)

    def recv(self, size):
        return self.replies.pop(0)

    def close(self):
        self.closed = True


def test_get_request_by_name_asks_without_statistics():
    data = get_request(5, ifname='v1')
    length, mtype, flags, seq, _pid = HDR.unpack_from(data, 0)
    assert (length, mtype, flags, seq) == (len(data), _rawlink.RTM_GETLINK, _rawlink.NLM_F_REQUEST, 5)
    assert IFI.unpack_from(data, HDR.size)[2] == 0
    rest = data[HDR.size + IFI.size:]
    assert rest == attr(3, b'v1\0') + u32(29, 1 << 3)


def test_get_request_by_index_has_no_name():
    data = get_request(1, index=42)
    assert IFI.unpack_from(data, HDR.size)[2] == 42
    assert data[HDR.size + IFI.size:] == u32(29, 1 << 3)


def test_parse_plain_veth_end():
    info = attr(1, b'veth\0')
    payload = link_payload(info=info, extra=attr(20, b'my alias\0') + u32(10, 4))
    link = parse_link(payload, 0, len(payload))
    assert link == {
        'ifname': 'v1', 'index': 7, 'kind': 'veth', 'flags': 0x1003, 'link_state': 'up', 'operstate': 'UP',
        'mtu': 1400, 'address': '02:00:00:00:00:09', 'master_index': 4, 'txqueuelen': 1000, 'alias': 'my alias',
        'group': 0, 'link_index': 12, 'link_netnsid': 3, 'ifi_type': 1, 'slave_kind': None,
        'info_data': {}, 'slave_data': {},
    }


def test_parse_missing_attributes_are_none():
    payload = IFI.pack(0, 772, 1, 0, 0) + attr(3, b'lo\0')
    link = parse_link(payload, 0, len(payload))
    assert link['kind'] is None and link['mtu'] is None and link['address'] is None
    assert link['link_state'] == 'down' and link['alias'] is None and link['link_netnsid'] is None


def test_kind_specific_data_falls_back_to_pyroute2():
    data = attr(1, b'bridge\0') + attr(2 | 0x8000, u32(5, 1))
    payload = link_payload(info=data)
    assert parse_link(payload, 0, len(payload)) is FALLBACK
    slave = attr(1, b'veth\0') + attr(4, b'bridge\0') + attr(5 | 0x8000, u32(1, 1))
    payload = link_payload(info=slave)
    assert parse_link(payload, 0, len(payload)) is FALLBACK


def test_reader_answers_and_skips_other_sequence_numbers():
    payload = link_payload(info=attr(1, b'veth\0'))
    sock = FakeSocket(message(99, _rawlink.RTM_NEWLINK, payload) + message(1, _rawlink.RTM_NEWLINK, payload))
    link = RawLinkReader(sock).get_link(ifname='v1')
    assert link['ifname'] == 'v1' and link['kind'] == 'veth'
    assert len(sock.sent) == 1


def test_reader_enodev_is_none_other_errors_fall_back():
    err = struct.pack('=i', -errno.ENODEV) + b'\0' * 16
    assert RawLinkReader(FakeSocket(message(1, _rawlink.NLMSG_ERROR, err))).get_link(index=3) is None
    err = struct.pack('=i', -errno.EPERM) + b'\0' * 16
    assert RawLinkReader(FakeSocket(message(1, _rawlink.NLMSG_ERROR, err))).get_link(index=3) is FALLBACK


def test_reader_without_name_or_index_falls_back():
    sock = FakeSocket()
    assert RawLinkReader(sock).get_link() is FALLBACK
    assert not sock.sent
