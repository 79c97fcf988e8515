# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""One link read (RTM_GETLINK) on a plain rtnetlink socket, for `_netlink.get_link`.

pyroute2 spends about 0.3 ms decoding one link message into its message objects; the request and
a `struct` parse of the answer take about 0.015 ms. This reader builds the same plain dict as
`_netlink.link_to_dict` for the links whose answer has no kind-specific data (no IFLA_INFO_DATA,
no IFLA_INFO_SLAVE_DATA: veth ends, dummies, `lo`, ...). For the others, and for every answer it does
not expect, it says so and `get_link` reads the link through pyroute2 as before, so that
`info_data` and `slave_data` keep pyroute2's names and values.

Only reads go through here; every change is still sent through pyroute2.
"""

from __future__ import annotations

import errno
import socket
import struct

# the wire format is shared with link_info's reader
from ansible_collections.virtnet.linux.plugins.module_utils._info import (  # pylint: disable=unused-import
    NETLINK_ROUTE, NLMSG_ERROR, NLM_F_REQUEST, RTM_NEWLINK, RTM_GETLINK, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS,
    NLA_TYPE_MASK, OPERSTATES, _NLMSGHDR, _IFINFOMSG, _RTA, _U32, _S32,
)
from ansible_collections.virtnet.linux.plugins.module_utils._nlbase import IFF_UP

IFLA_IFNAME = 3
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
_ERR = struct.Struct('=i')

RECV_SIZE = 65536

# a reply that is not a plain link answer: read the link through pyroute2 instead
FALLBACK = object()


def _attrs(data, pos, end):
    """{attribute type: (start, end)} of data[pos:end]; the first of a type wins."""
    out = {}
    unpack = _RTA.unpack_from
    while pos + 4 <= end:
        length, kind = unpack(data, pos)
        if length < 4 or pos + length > end:
            break
        out.setdefault(kind & NLA_TYPE_MASK, (pos + 4, pos + length))
        pos += (length + 3) & ~3
    return out


def _str(data, span):
    raw = bytes(data[span[0]:span[1]])
    nul = raw.find(b'\0')
    return (raw if nul < 0 else raw[:nul]).decode('utf-8', 'replace')


def _u32(data, span):
    return _U32.unpack_from(data, span[0])[0] if span[1] - span[0] >= 4 else None


def parse_link(data, pos, end):
    """The plain dict of one RTM_NEWLINK payload (data[pos:end]), as link_to_dict makes it.

    FALLBACK when the message carries kind-specific data (or anything this parser does not expect).
    """
    if end - pos < _IFINFOMSG.size:
        return FALLBACK
    _family, ifi_type, index, flags, _change = _IFINFOMSG.unpack_from(data, pos)
    attrs = _attrs(data, pos + _IFINFOMSG.size, end)
    kind = slave_kind = None
    span = attrs.get(18)                        # IFLA_LINKINFO
    if span is not None:
        info = _attrs(data, span[0], span[1])
        if IFLA_INFO_DATA in info or IFLA_INFO_SLAVE_DATA in info:
            return FALLBACK
        if IFLA_INFO_KIND in info:
            kind = _str(data, info[IFLA_INFO_KIND])
        if IFLA_INFO_SLAVE_KIND in info:
            slave_kind = _str(data, info[IFLA_INFO_SLAVE_KIND])
    if 3 not in attrs:
        return FALLBACK
    span = attrs.get(1)                         # IFLA_ADDRESS
    address = None
    if span is not None:
        address = ':'.join('%02x' % b for b in bytes(data[span[0]:span[1]]))
    span = attrs.get(16)                        # IFLA_OPERSTATE
    operstate = None
    if span is not None and span[1] > span[0]:
        value = data[span[0]]
        if value >= len(OPERSTATES):
            return FALLBACK
        operstate = OPERSTATES[value]
    span = attrs.get(37)                        # IFLA_LINK_NETNSID
    netnsid = _S32.unpack_from(data, span[0])[0] if span is not None and span[1] - span[0] >= 4 else None
    span = attrs.get(20)                        # IFLA_IFALIAS
    return {
        'ifname': _str(data, attrs[3]),
        'index': index,
        'kind': kind,
        'flags': flags,
        'link_state': 'up' if flags & IFF_UP else 'down',
        'operstate': operstate,
        'mtu': _u32(data, attrs[4]) if 4 in attrs else None,
        'address': address,
        'master_index': _u32(data, attrs[10]) if 10 in attrs else None,
        'txqueuelen': _u32(data, attrs[13]) if 13 in attrs else None,
        'alias': _str(data, span) if span is not None else None,
        'group': _u32(data, attrs[27]) if 27 in attrs else None,
        'link_index': _u32(data, attrs[5]) if 5 in attrs else None,
        'link_netnsid': netnsid,
        'ifi_type': ifi_type,
        'slave_kind': slave_kind,
        'info_data': {},
        'slave_data': {},
    }


def _attr(kind, payload):
    return _RTA.pack(4 + len(payload), kind) + payload + b'\0' * ((4 - len(payload) % 4) % 4)


def get_request(seq, ifname=None, index=None):
    """The bytes of one RTM_GETLINK request for `index` (if given) or `ifname`, without statistics."""
    body = _IFINFOMSG.pack(0, 0, index or 0, 0, 0)
    if index is None:
        body += _attr(IFLA_IFNAME, ifname.encode() + b'\0')
    body += _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, seq, 0) + body


class RawLinkReader(object):
    """A plain NETLINK_ROUTE socket (opened in the namespace it reads) that answers link gets."""

    def __init__(self, sock):
        self.sock = sock
        self.seq = 0

    @classmethod
    def open(cls):
        """A reader on a new socket in the calling thread's namespace; None if none can be opened."""
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        except (OSError, AttributeError):
            return None
        try:
            sock.bind((0, 0))
        except OSError:
            sock.close()
            return None
        return cls(sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def get_link(self, ifname=None, index=None):
        """The link as a plain dict, None when it does not exist (ENODEV), or FALLBACK."""
        if index is None and not ifname:
            return FALLBACK
        if index is not None and not isinstance(index, int):
            return FALLBACK
        self.seq = (self.seq + 1) & 0x7fffffff
        seq = self.seq
        try:
            self.sock.send(get_request(seq, ifname, index))
            while True:
                data = self.sock.recv(RECV_SIZE)
                pos, size = 0, len(data)
                while pos + _NLMSGHDR.size <= size:
                    length, mtype, _flags, mseq, _pid = _NLMSGHDR.unpack_from(data, pos)
                    if length < _NLMSGHDR.size or pos + length > size:
                        return FALLBACK
                    if mseq == seq:
                        start, end = pos + _NLMSGHDR.size, pos + length
                        if mtype == NLMSG_ERROR:
                            code = -_ERR.unpack_from(data, start)[0] if end - start >= 4 else 0
                            return None if code == errno.ENODEV else FALLBACK
                        if mtype == RTM_NEWLINK:
                            return parse_link(data, start, end)
                        return FALLBACK
                    pos += (length + 3) & ~3
        except (OSError, struct.error):
            return FALLBACK
