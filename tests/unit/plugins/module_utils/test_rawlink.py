# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the raw rtnetlink socket (no kernel: hand-built messages, a fake socket).

The same requests are sent to the real kernel by the veth, tuntap and bridge integration targets."""

from __future__ import annotations

import errno
import struct

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils import _rawlink
from ansible_collections.virtnet.linux.plugins.module_utils._common import kernel_reason
from ansible_collections.virtnet.linux.plugins.module_utils._rawlink import (
    FALLBACK, RawRtnl, RawSockets, RtnlError, get_request, parse_link, veth_body,
)

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
        'group': 0, 'link_index': 12, 'link_netnsid': 3, 'ifi_type': 1, 'slave_kind': None, 'carrier': None,
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


def test_kind_specific_data_not_needed_is_none_not_empty():
    slave = attr(1, b'veth\0') + attr(4, b'bridge\0') + attr(5 | 0x8000, u32(1, 1))
    payload = link_payload(info=slave, extra=u32(10, 4))
    link = parse_link(payload, 0, len(payload), need_data=False)
    assert link['kind'] == 'veth' and link['slave_kind'] == 'bridge' and link['master_index'] == 4
    assert link['info_data'] == {} and link['slave_data'] is None     # no IFLA_INFO_DATA; slave data not read
    plain = link_payload(info=attr(1, b'veth\0'))
    assert parse_link(plain, 0, len(plain), need_data=False)['info_data'] == {}
    bridge = link_payload(info=attr(1, b'bridge\0') + attr(2 | 0x8000, u32(5, 1)))
    assert parse_link(bridge, 0, len(bridge), need_data=False)['info_data'] is None
    assert parse_link(bridge, 0, len(bridge), need_data='info') is FALLBACK


def u8(kind, value):
    return attr(kind, struct.pack('=B', value))


def test_tun_data_is_decoded_with_pyroute2_names():
    data = u32(1, 1000) + u8(3, 2) + u8(4, 0) + u8(5, 1) + u8(6, 1) + u8(7, 0) + u32(8, 1) + u32(9, 0)
    tap_port = attr(1, b'tun\0') + attr(2 | 0x8000, data) + attr(4, b'bridge\0') + attr(5 | 0x8000, u32(1, 1))
    payload = link_payload(info=tap_port, extra=attr(33, b'\x01'))
    link = parse_link(payload, 0, len(payload), need_data='info')
    assert link['info_data'] == {
        'IFLA_TUN_OWNER': 1000, 'IFLA_TUN_TYPE': 2, 'IFLA_TUN_PI': 0, 'IFLA_TUN_VNET_HDR': 1,
        'IFLA_TUN_PERSIST': 1, 'IFLA_TUN_MULTI_QUEUE': 0, 'IFLA_TUN_NUM_QUEUES': 1,
        'IFLA_TUN_NUM_DISABLED_QUEUES': 0,
    }
    assert 'IFLA_TUN_GROUP' not in link['info_data']          # absent (no group): not made up
    assert link['slave_data'] is None and link['carrier'] == 1
    assert parse_link(payload, 0, len(payload), need_data=True) is FALLBACK    # the port's data is pyroute2's


def test_reader_answers_and_skips_other_sequence_numbers():
    payload = link_payload(info=attr(1, b'veth\0'))
    sock = FakeSocket(message(99, _rawlink.RTM_NEWLINK, payload) + message(1, _rawlink.RTM_NEWLINK, payload))
    link = RawRtnl(sock).get_link(ifname='v1')
    assert link['ifname'] == 'v1' and link['kind'] == 'veth'
    assert len(sock.sent) == 1


def test_reader_enodev_is_none_other_errors_raise():
    err = struct.pack('=i', -errno.ENODEV) + b'\0' * 16
    assert RawRtnl(FakeSocket(message(1, _rawlink.NLMSG_ERROR, err))).get_link(index=3) is None
    err = struct.pack('=i', -errno.EPERM) + b'\0' * 16
    with pytest.raises(RtnlError) as info:
        RawRtnl(FakeSocket(message(1, _rawlink.NLMSG_ERROR, err))).get_link(index=3)
    assert info.value.code == errno.EPERM and info.value.extack is None


def test_reader_without_name_or_index_falls_back():
    sock = FakeSocket()
    assert RawRtnl(sock).get_link() is FALLBACK
    assert not sock.sent


# ------------------------------------------------------------------ requests that change things

def nested(data):
    """{type: payload} of the attributes in data (the first of each type)."""
    out, pos = {}, 0
    while pos + 4 <= len(data):
        length, kind = struct.unpack_from('=HH', data, pos)
        out.setdefault(kind & 0x3fff, data[pos + 4:pos + length])
        pos += (length + 3) & ~3
    return out


def ack(seq):
    return message(seq, _rawlink.NLMSG_ERROR, struct.pack('=i', 0) + HDR.pack(16, 16, 0, seq, 0))


def test_veth_body_is_what_ip_link_add_sends():
    body = veth_body('v0', 'p0', 9, {'mtu': 1400, 'address': '02:aa:00:00:00:01'}, {'txqlen': 20})
    assert IFI.unpack_from(body, 0) == (0, 0, 0, 0, 0)
    top = nested(body[IFI.size:])
    assert top[3] == b'v0\0' and struct.unpack('=I', top[4])[0] == 1400
    assert top[1] == bytes([2, 0xaa, 0, 0, 0, 1])
    info = nested(top[18])
    assert info[1] == b'veth'
    peer = nested(info[2])[1]
    assert IFI.unpack_from(peer, 0) == (0, 0, 0, 0, 0)
    peer_attrs = nested(peer[IFI.size:])
    assert peer_attrs[3] == b'p0\0' and struct.unpack('=I', peer_attrs[28])[0] == 9
    assert struct.unpack('=I', peer_attrs[13])[0] == 20 and 4 not in peer_attrs


def test_add_veth_asks_for_create_exclusive_and_an_ack():
    sock = FakeSocket(ack(1))
    RawRtnl(sock).add_veth('v0', 'p0')
    length, mtype, flags, seq, _pid = HDR.unpack_from(sock.sent[0], 0)
    assert mtype == _rawlink.RTM_NEWLINK and seq == 1 and length == len(sock.sent[0])
    assert flags == _rawlink.NLM_F_REQUEST | _rawlink.NLM_F_ACK | _rawlink.NLM_F_CREATE | _rawlink.NLM_F_EXCL


def test_set_link_state_and_attributes():
    sock = FakeSocket(ack(1))
    RawRtnl(sock).set_link(7, state='up', mtu=1300, ifalias='', master=0)
    data = sock.sent[0]
    _len, mtype, flags, _seq, _pid = HDR.unpack_from(data, 0)
    assert mtype == _rawlink.RTM_NEWLINK and not flags & _rawlink.NLM_F_CREATE
    assert IFI.unpack_from(data, HDR.size) == (0, 0, 7, 1, 1)
    attrs = nested(data[HDR.size + IFI.size:])
    assert struct.unpack('=I', attrs[4])[0] == 1300 and attrs[20] == b'' and struct.unpack('=I', attrs[10])[0] == 0
    sock = FakeSocket(ack(1))
    RawRtnl(sock).set_link(7, state='down')
    assert IFI.unpack_from(sock.sent[0], HDR.size) == (0, 0, 7, 0, 1)


def test_del_link_by_group_sends_no_index():
    sock = FakeSocket(ack(1))
    RawRtnl(sock).del_link(group=0x40000001)
    data = sock.sent[0]
    assert HDR.unpack_from(data, 0)[1] == _rawlink.RTM_DELLINK
    assert IFI.unpack_from(data, HDR.size)[2] == 0
    assert struct.unpack('=I', nested(data[HDR.size + IFI.size:])[27])[0] == 0x40000001


def test_refusal_carries_errno_and_the_kernels_extended_ack():
    echoed = HDR.pack(40, 16, 5, 1, 0)
    payload = struct.pack('=i', -errno.EEXIST) + echoed + attr(1, b'Link already exists\0')
    reply = HDR.pack(HDR.size + len(payload), _rawlink.NLMSG_ERROR, 0x100 | 0x200, 1, 0) + payload
    with pytest.raises(RtnlError) as info:
        RawRtnl(FakeSocket(reply)).add_veth('v0', 'p0')
    assert info.value.code == errno.EEXIST and info.value.extack == 'Link already exists'
    assert kernel_reason(info.value) == 'already exists (kernel: Link already exists)'


def test_get_nsid_reads_the_answer_and_none():
    def answer(seq, nsid):
        return message(seq, _rawlink.RTM_NEWNSID, struct.pack('=Bxxx', 0) + attr(1, struct.pack('=i', nsid)))
    rt = RawRtnl(FakeSocket(answer(1, 4), answer(2, -1)))
    assert rt.get_nsid(5) == 4
    assert rt.get_nsid(5) is None
    data = rt.sock.sent[0]
    assert HDR.unpack_from(data, 0)[1] == _rawlink.RTM_GETNSID
    assert nested(data[HDR.size + 4:])[3] == struct.pack('=I', 5)


class _NsidSocket(object):
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = 0

    def get_nsid(self, fd):
        self.calls += 1
        return self.answers.pop(0)

    def close(self):
        pass


def test_nsid_cache_keeps_ids_but_not_none():
    raw = RawSockets()
    sock = _NsidSocket([None, 5])
    raw._socks['a'] = sock
    raw._home_fd = 0
    assert raw.nsid_of('a', '') is None        # no id yet: asked again next time
    assert raw.nsid_of('a', '') == 5
    assert raw.nsid_of('a', '') == 5           # from the cache
    assert sock.calls == 2
    raw.forget('a')
    assert raw._nsids == {}
