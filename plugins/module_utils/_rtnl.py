# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""THE netlink layer of the collection: plain rtnetlink sockets (no pyroute2), one set per namespace.

Everything that talks to the kernel goes through one :class:`Rtnl` per module run (the engine's
``ctx.rt``, link_info's reader): one plain socket per namespace for what is hand-built here, and, on
first use only, one pyroute2 IPRoute per namespace for what stays with pyroute2 (`_pyroute2`: changes of
bridge IFLA_BR_* attributes, addresses, routes, port dumps). Both are opened the same way, by
:func:`in_netns`: enter /run/netns/NAME with setns(2), create the socket (it stays bound to that
namespace), come back. No fork; a namespace is never created by opening it.

Hand-built, because it is measured to matter (BENCHMARKS.md): pyroute2 spends about 0.3 ms decoding
one link message into its objects and about 0.5 ms encoding one request, and ~65 ms to import; a
`struct`-built request and parse take about 0.015 ms, and a dump of 5000 links in 50 namespaces that
skips statistics (RTEXT_FILTER_SKIP_STATS) is read in well under 0.2 s. So this module carries: link
get/add (veth, and any kind from its IFLA_INFO_DATA: vxlan, macvlan, macvtap)/set/delete (by index, name or
group), changes of a kind's attributes, namespace ids, the link and address dumps of link_info, and a
vxlan's forwarding entries (the bridge family's RTM_GETNEIGH dump, RTM_NEWNEIGH append, RTM_DELNEIGH: 64
appends take ~1 ms here against ~25 ms through pyroute2, BENCHMARKS.md issue 23) - one function per kernel
operation; dumps are read again when the kernel flags them NLM_F_DUMP_INTR.

ONE parser of RTM_NEWLINK (:func:`parse_link`) gives plain dicts with pyroute2's key names, the same
dict as `_pyroute2.link_to_dict` (tests/system/test_raw_matches_pyroute2.py holds them equal on the real
kernel). Kind-specific data (IFLA_INFO_DATA) is decoded by one table per kind (KIND_TABLES: tun
complete, bridge for the attributes the collection reads, so a bridge is read with one get); what a caller
needs and the tables do not decode (a bridge port's IFLA_INFO_SLAVE_DATA, a kind without a table) is
FALLBACK: read that link through pyroute2 instead. The vxlan, macvlan and macvtap tables decode what their
modules and link_info read (need_data='table'), as pyroute2 names and shows it (addresses as text, a
macvlan's mode by name).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    IFF_UP, VirtnetError, call_in_netns, kernel_error, list_netns, ns_label, open_netns_fd,
)

# --------------------------------------------------------------------------- the wire format

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI = 0x1, 0x2
NLM_F_ACK, NLM_F_DUMP_INTR = 0x4, 0x10
NLM_F_DUMP = 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200      # flags of an NLMSG_ERROR answer
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
NLM_F_APPEND = 0x800
RTM_NEWNSID, RTM_GETNSID = 88, 90
IFLA_EXT_MASK = 29
RTEXT_FILTER_SKIP_STATS = 1 << 3
NETNSA_NSID, NETNSA_FD = 1, 3
NLA_TYPE_MASK = 0x3FFF               # strip NLA_F_NESTED and NLA_F_NET_BYTEORDER
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_TXQLEN, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_GROUP, IFLA_NET_NS_FD = 13, 16, 18, 20, 27, 28
IFLA_CARRIER = 33
IFLA_AF_SPEC, IFLA_INET_CONF, IPV4_DEVCONF_FORWARDING = 26, 1, 1   # a device's IPv4 configuration (devinet)
IFLA_LINK_NETNSID = 37
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFA_ADDRESS, IFA_LOCAL = 1, 2
VETH_INFO_PEER = 1
AF_BRIDGE = 7
# vxlan (IFLA_VXLAN_*) and macvlan/macvtap (IFLA_MACVLAN_*) attributes the collection sends
IFLA_VXLAN_ID, IFLA_VXLAN_LINK, IFLA_VXLAN_LOCAL, IFLA_VXLAN_TTL, IFLA_VXLAN_TOS = 1, 3, 4, 5, 6
IFLA_VXLAN_LEARNING, IFLA_VXLAN_PORT, IFLA_VXLAN_LOCAL6 = 7, 15, 17
IFLA_MACVLAN_MODE = 1
#: macvlan modes by number, as pyroute2 names them (its value_map)
MACVLAN_MODES = {0: 'none', 1: 'private', 2: 'vepa', 4: 'bridge', 8: 'passthru', 16: 'source'}
MACVLAN_FLAGS = {0: 'none', 1: 'nopromisc'}
# neighbour (FDB) messages of the bridge family: a vxlan's forwarding entries
NDA_DST, NDA_LLADDR, NDA_PORT, NDA_VNI, NDA_IFINDEX, NDA_MASTER, NDA_SRC_VNI = 1, 2, 6, 7, 8, 9, 11
NTF_SELF, NTF_MASTER = 0x02, 0x04
NUD_NOARP, NUD_PERMANENT = 0x40, 0x80
NLMSGERR_ATTR_MSG = 1
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11
NSID_NONE = -1              # IFLA_LINK_NETNSID / NETNSA_NSID: no id assigned
OPERSTATES = ('UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP')

_NLMSGHDR = struct.Struct('=IHHII')  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct('=BxHiII')  # family, type, index, flags, change
_IFADDRMSG = struct.Struct('=BBBBI')  # family, prefixlen, flags, scope, index
_RTA = struct.Struct('=HH')
_U8 = struct.Struct('=B')
_U16 = struct.Struct('=H')
_BE16 = struct.Struct('>H')                     # network byte order (pyroute2's be16)
_U32 = struct.Struct('=I')
_S32 = struct.Struct('=i')
_RTGEN = struct.Struct('=Bxxx')                 # struct rtgenmsg, padded to 4 bytes
_NDMSG = struct.Struct('=BxxxiHBB')  # family, ifindex, state, flags, type


class _Addr(object):
    """An IPv4 or IPv6 address attribute decoded as text, as pyroute2's ip4addr / ip6addr (the interface of a
    struct.Struct: size and unpack_from, for the kind tables)."""

    def __init__(self, family):
        self.family = family
        self.size = 4 if family == socket.AF_INET else 16

    def unpack_from(self, data, pos):
        return (socket.inet_ntop(self.family, bytes(data[pos:pos + self.size])),)


class _Named(object):
    """An integer attribute decoded to its name where pyroute2 has one (its value_map), else the number."""

    def __init__(self, fmt, names):
        self.fmt = fmt
        self.size = fmt.size
        self.names = names

    def unpack_from(self, data, pos):
        value = self.fmt.unpack_from(data, pos)[0]
        return (self.names.get(value, value),)


_IP4 = _Addr(socket.AF_INET)
_IP6 = _Addr(socket.AF_INET6)

RECV_SIZE = 65536                  # an answer to one request
DUMP_RECV_SIZE = 1 << 18           # one datagram of a dump
RCVBUF = 1 << 20                   # the socket's receive buffer (dumps of thousands of links)
TIMEOUT = 30                       # seconds without an answer from the kernel before giving up
DUMP_ATTEMPTS = 5                  # reads of a dump the kernel keeps flagging NLM_F_DUMP_INTR

# an answer that is not a plain link: read the link through pyroute2 instead
FALLBACK = object()

# IFLA_INFO_DATA decoded here, per kind: (complete, {type: (pyroute2's name, struct)}). A complete table
# decodes every attribute pyroute2 knows of the kind; the others only what the collection reads (the bridge
# module reads its bridges with need_data='table': every attribute it looks at is in the bridge table).
KIND_TABLES = {
    'tun': (True, {
        1: ('IFLA_TUN_OWNER', _U32), 2: ('IFLA_TUN_GROUP', _U32), 3: ('IFLA_TUN_TYPE', _U8),
        4: ('IFLA_TUN_PI', _U8), 5: ('IFLA_TUN_VNET_HDR', _U8), 6: ('IFLA_TUN_PERSIST', _U8),
        7: ('IFLA_TUN_MULTI_QUEUE', _U8), 8: ('IFLA_TUN_NUM_QUEUES', _U32),
        9: ('IFLA_TUN_NUM_DISABLED_QUEUES', _U32),
    }),
    'bridge': (False, {
        1: ('IFLA_BR_FORWARD_DELAY', _U32), 2: ('IFLA_BR_HELLO_TIME', _U32), 3: ('IFLA_BR_MAX_AGE', _U32),
        4: ('IFLA_BR_AGEING_TIME', _U32), 5: ('IFLA_BR_STP_STATE', _U32), 6: ('IFLA_BR_PRIORITY', _U16),
        7: ('IFLA_BR_VLAN_FILTERING', _U8), 8: ('IFLA_BR_VLAN_PROTOCOL', _BE16), 9: ('IFLA_BR_GROUP_FWD_MASK', _U16),
        23: ('IFLA_BR_MCAST_SNOOPING', _U8), 25: ('IFLA_BR_MCAST_QUERIER', _U8),
        39: ('IFLA_BR_VLAN_DEFAULT_PVID', _U16),
    }),
    # what the vxlan module and link_info read (GROUP holds the remote of a unicast device too)
    'vxlan': (False, {
        1: ('IFLA_VXLAN_ID', _U32), 2: ('IFLA_VXLAN_GROUP', _IP4), 3: ('IFLA_VXLAN_LINK', _U32),
        4: ('IFLA_VXLAN_LOCAL', _IP4), 5: ('IFLA_VXLAN_TTL', _U8), 6: ('IFLA_VXLAN_TOS', _U8),
        7: ('IFLA_VXLAN_LEARNING', _U8), 8: ('IFLA_VXLAN_AGEING', _U32), 15: ('IFLA_VXLAN_PORT', _BE16),
        16: ('IFLA_VXLAN_GROUP6', _IP6), 17: ('IFLA_VXLAN_LOCAL6', _IP6), 25: ('IFLA_VXLAN_COLLECT_METADATA', _U8),
    }),
}
# macvlan and macvtap: the same attributes under two names (pyroute2's macvlan_data and macvtap_data)
for _kind in ('macvlan', 'macvtap'):
    KIND_TABLES[_kind] = (False, dict((n, ('IFLA_%s_%s' % (_kind.upper(), name), fmt)) for n, (name, fmt) in {
        1: ('MODE', _Named(_U32, MACVLAN_MODES)), 2: ('FLAGS', _Named(_U16, MACVLAN_FLAGS)),
        6: ('MACADDR_COUNT', _U32),
    }.items()))
del _kind


class RtnlError(OSError):
    """The kernel refused a request: `code` is the errno, `extack` its extended-ack text (or None)."""

    def __init__(self, code, extack=None):
        super(RtnlError, self).__init__(code, os.strerror(code))
        self.code = code
        self.extack = extack


class DumpInterrupted(Exception):
    """The kernel flagged a dump as inconsistent (NLM_F_DUMP_INTR): read it again."""


# --------------------------------------------------------------------------- parsing

def _attrs(data, pos, end, wanted=None):
    """{attribute type: (start, end)} of data[pos:end] (only the types in `wanted`, if given); the first
    of a type wins."""
    out = {}
    unpack = _RTA.unpack_from
    while pos + 4 <= end:
        length, kind = unpack(data, pos)
        if length < 4 or pos + length > end:
            break
        kind &= NLA_TYPE_MASK
        if (wanted is None or kind in wanted) and kind not in out:
            out[kind] = (pos + 4, pos + length)
        pos += (length + 3) & ~3
    return out


def _str(data, span):
    raw = bytes(data[span[0]:span[1]])
    nul = raw.find(b'\0')
    return (raw if nul < 0 else raw[:nul]).decode('utf-8', 'replace')


def _u32(data, span):
    return _U32.unpack_from(data, span[0])[0] if span[1] - span[0] >= 4 else None


def _table(data, span, table):
    """{pyroute2 name: value} of the attributes in span that `table` knows (the others are left out)."""
    out = {}
    for kind, (start, stop) in _attrs(data, span[0], span[1]).items():
        entry = table.get(kind)
        if entry is not None and stop - start >= entry[1].size:
            out[entry[0]] = entry[1].unpack_from(data, start)[0]
    return out


# the top-level attributes parse_link reads (a link answer carries about 40)
_LINK_ATTRS = frozenset((IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_TXQLEN, IFLA_OPERSTATE,
                         IFLA_LINKINFO, IFLA_IFALIAS, IFLA_GROUP, IFLA_CARRIER, IFLA_LINK_NETNSID))


def parse_link(data, pos, end, need_data=True):
    """The plain dict of one RTM_NEWLINK payload (data[pos:end]), as `_pyroute2.link_to_dict` makes it.

    `need_data` says which kind-specific data the caller reads: True, all of it (FALLBACK unless the
    kind's table is complete and there is no IFLA_INFO_SLAVE_DATA); 'info', IFLA_INFO_DATA only (FALLBACK
    unless the table is complete; slave_data is None, not read); 'table', the IFLA_INFO_DATA attributes
    the kind's table decodes (FALLBACK when the kind has IFLA_INFO_DATA and no table; slave_data None);
    False, none that the tables do not decode (info_data is what the kind's table decodes, or None when
    it has none; slave_data None).
    A link without kind data has {} for both, never None. FALLBACK also for an answer without a name.
    """
    if end - pos < _IFINFOMSG.size:
        return FALLBACK
    _family, ifi_type, index, flags, _change = _IFINFOMSG.unpack_from(data, pos)
    attrs = _attrs(data, pos + _IFINFOMSG.size, end, _LINK_ATTRS)
    if IFLA_IFNAME not in attrs:
        return FALLBACK
    kind = slave_kind = None
    info_data, slave_data = {}, {}
    span = attrs.get(IFLA_LINKINFO)
    if span is not None:
        info = _attrs(data, span[0], span[1])
        if IFLA_INFO_KIND in info:
            kind = _str(data, info[IFLA_INFO_KIND])
        if IFLA_INFO_SLAVE_KIND in info:
            slave_kind = _str(data, info[IFLA_INFO_SLAVE_KIND])
        if IFLA_INFO_DATA in info:
            complete, table = KIND_TABLES.get(kind, (False, None))
            if need_data and not complete and (need_data != 'table' or table is None):
                return FALLBACK
            info_data = _table(data, info[IFLA_INFO_DATA], table) if table is not None else None
        if IFLA_INFO_SLAVE_DATA in info:
            if need_data is True:
                return FALLBACK
            slave_data = None
    span = attrs.get(IFLA_ADDRESS)
    address = None if span is None else bytes(data[span[0]:span[1]]).hex(':')
    span = attrs.get(IFLA_OPERSTATE)
    operstate = None
    if span is not None and span[1] > span[0]:
        value = data[span[0]]
        operstate = OPERSTATES[value] if value < len(OPERSTATES) else str(value)
    span = attrs.get(IFLA_LINK_NETNSID)
    netnsid = _S32.unpack_from(data, span[0])[0] if span is not None and span[1] - span[0] >= 4 else None
    span = attrs.get(IFLA_IFALIAS)
    carrier = attrs.get(IFLA_CARRIER)
    return {
        'ifname': _str(data, attrs[IFLA_IFNAME]),
        'index': index,
        'kind': kind,
        'flags': flags,
        'link_state': 'up' if flags & IFF_UP else 'down',
        'operstate': operstate,
        'mtu': _u32(data, attrs[IFLA_MTU]) if IFLA_MTU in attrs else None,
        'address': address,
        'master_index': _u32(data, attrs[IFLA_MASTER]) if IFLA_MASTER in attrs else None,
        'txqueuelen': _u32(data, attrs[IFLA_TXQLEN]) if IFLA_TXQLEN in attrs else None,
        'alias': _str(data, span) if span is not None else None,
        'group': _u32(data, attrs[IFLA_GROUP]) if IFLA_GROUP in attrs else None,
        'link_index': _u32(data, attrs[IFLA_LINK]) if IFLA_LINK in attrs else None,
        'link_netnsid': netnsid,
        'ifi_type': ifi_type,
        'slave_kind': slave_kind,
        'carrier': data[carrier[0]] if carrier is not None and carrier[1] > carrier[0] else None,
        'info_data': info_data,
        'slave_data': slave_data,
    }


def parse_inventory_link(data, pos, end):
    """A link of a dump for link_info: every kind's table decoded, nothing else (None when unnamed)."""
    link = parse_link(data, pos, end, need_data=False)
    return None if link is FALLBACK else link


def parse_addr(data, pos, end):
    """(ifindex, 'address/prefixlen') of one RTM_NEWADDR payload (IFA_LOCAL wins, as in `ip addr`)."""
    family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(data, pos)
    attrs = _attrs(data, pos + _IFADDRMSG.size, end)
    span = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if span is None or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return index, '%s/%d' % (socket.inet_ntop(family, bytes(data[span[0]:span[1]])), prefixlen)


def parse_fdb(data, pos, end):
    """One RTM_NEWNEIGH payload of the bridge family (a forwarding entry) as a plain dict: ifindex, mac, dst
    (text, None when absent), port (None: the device's), vni (None: the device's), via (ifindex, None: none),
    state, flags, master (ifindex of the bridge of a NTF_MASTER entry, else None); None for another family."""
    if end - pos < _NDMSG.size:
        return None
    family, index, state, flags, _type = _NDMSG.unpack_from(data, pos)
    if family != AF_BRIDGE:
        return None
    attrs = _attrs(data, pos + _NDMSG.size, end)
    span = attrs.get(NDA_LLADDR)
    mac = None if span is None else bytes(data[span[0]:span[1]]).hex(':')
    dst = None
    span = attrs.get(NDA_DST)
    if span is not None and span[1] - span[0] in (4, 16):
        family = socket.AF_INET if span[1] - span[0] == 4 else socket.AF_INET6
        dst = socket.inet_ntop(family, bytes(data[span[0]:span[1]]))
    span = attrs.get(NDA_PORT)
    port = _BE16.unpack_from(data, span[0])[0] if span is not None and span[1] - span[0] >= 2 else None
    return {
        'ifindex': index,
        'mac': mac,
        'dst': dst,
        'port': port,
        'vni': _u32(data, attrs[NDA_VNI]) if NDA_VNI in attrs else None,
        'via': _u32(data, attrs[NDA_IFINDEX]) if NDA_IFINDEX in attrs else None,
        'state': state,
        'flags': flags,
        'master': _u32(data, attrs[NDA_MASTER]) if NDA_MASTER in attrs else None,
    }


def parse_error(data, start, end, flags):
    """(errno, extended-ack text or None) of an NLMSG_ERROR payload; errno 0 is an acknowledgement."""
    code = -_S32.unpack_from(data, start)[0] if end - start >= 4 else 0
    extack = None
    if code and flags & NLM_F_ACK_TLVS and end - start >= 4 + _NLMSGHDR.size:
        echoed = _NLMSGHDR.unpack_from(data, start + 4)[0]
        pos = start + 4 + (_NLMSGHDR.size if flags & NLM_F_CAPPED else (echoed + 3) & ~3)
        span = _attrs(data, pos, end).get(NLMSGERR_ATTR_MSG)
        if span is not None:
            extack = _str(data, span) or None
    return code, extack


def messages(data, seq):
    """Split one datagram: yields (type, flags, payload start, payload end) of the messages of `seq`.

    Raises RtnlError(EBADMSG) for a message that does not fit the datagram.
    """
    pos, size = 0, len(data)
    while pos + _NLMSGHDR.size <= size:
        length, mtype, flags, mseq, _pid = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > size:
            raise RtnlError(errno.EBADMSG)
        if mseq == seq:
            yield mtype, flags, pos + _NLMSGHDR.size, pos + length
        pos += (length + 3) & ~3


# --------------------------------------------------------------------------- building

def _attr(kind, payload):
    return _RTA.pack(4 + len(payload), kind) + payload + b'\0' * ((4 - len(payload) % 4) % 4)


def _mac(value):
    return bytes(int(part, 16) for part in value.replace('-', ':').split(':'))


def link_attrs(ifname=None, mtu=None, address=None, txqlen=None, ifalias=None, master=None, group=None,
               net_ns_fd=None, link=None):
    """The attributes of a link request, from pyroute2's argument names (None = not sent)."""
    out = b''
    if ifname is not None:
        out += _attr(IFLA_IFNAME, ifname.encode() + b'\0')
    if mtu is not None:
        out += _attr(IFLA_MTU, _U32.pack(mtu))
    if address is not None:
        out += _attr(IFLA_ADDRESS, _mac(address))
    if txqlen is not None:
        out += _attr(IFLA_TXQLEN, _U32.pack(txqlen))
    if ifalias is not None:       # no NUL, as iproute2 sends it: '' clears the alias
        out += _attr(IFLA_IFALIAS, ifalias.encode())
    if master is not None:
        out += _attr(IFLA_MASTER, _U32.pack(master))
    if group is not None:
        out += _attr(IFLA_GROUP, _U32.pack(group))
    if net_ns_fd is not None:
        out += _attr(IFLA_NET_NS_FD, _U32.pack(net_ns_fd))
    if link is not None:
        out += _attr(IFLA_LINK, _U32.pack(link))
    return out


def _ifinfo(index=0, state=None):
    flags = change = 0
    if state is not None:
        change = IFF_UP
        flags = IFF_UP if state == 'up' else 0
    return _IFINFOMSG.pack(0, 0, index, flags, change)


def veth_body(name, peer, peer_ns_fd=None, local=None, remote=None):
    """The RTM_NEWLINK body that creates veth `name` with peer `peer` (in the namespace of peer_ns_fd).

    `local` and `remote`: link_attrs() keyword arguments (mtu, address, txqlen) of each end.
    """
    peer_msg = _ifinfo() + link_attrs(ifname=peer, net_ns_fd=peer_ns_fd, **(remote or {}))
    info = _attr(IFLA_INFO_KIND, b'veth') + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_msg))
    return _ifinfo() + link_attrs(ifname=name, **(local or {})) + _attr(IFLA_LINKINFO, info)


def kind_info(kind, data=b''):
    """The IFLA_LINKINFO attribute of kind `kind` with IFLA_INFO_DATA `data` (attributes, if any)."""
    info = _attr(IFLA_INFO_KIND, kind.encode())
    if data:
        info += _attr(IFLA_INFO_DATA, data)
    return _attr(IFLA_LINKINFO, info)


def link_body(name, kind, data=b'', **attrs):
    """The RTM_NEWLINK body that creates link `name` of `kind` with IFLA_INFO_DATA `data`; `attrs`: link_attrs()
    keywords (mtu, address, txqlen, link, net_ns_fd...)."""
    return _ifinfo() + link_attrs(ifname=name, **attrs) + kind_info(kind, data)


def _ip(value):
    """(family, packed bytes) of an IPv4 or IPv6 address in text."""
    family = socket.AF_INET6 if ':' in value else socket.AF_INET
    return family, socket.inet_pton(family, value)


def vxlan_data(vni=None, local=None, dev=None, port=None, learning=None, ttl=None, tos=None):
    """The IFLA_INFO_DATA attributes of a vxlan (None = not sent): `local` an address in text, `dev` the
    underlay's ifindex, `port` the UDP port, `learning` a bool."""
    out = b''
    if vni is not None:
        out += _attr(IFLA_VXLAN_ID, _U32.pack(vni))
    if local is not None:
        family, packed = _ip(local)
        out += _attr(IFLA_VXLAN_LOCAL6 if family == socket.AF_INET6 else IFLA_VXLAN_LOCAL, packed)
    if dev is not None:
        out += _attr(IFLA_VXLAN_LINK, _U32.pack(dev))
    for kind, value in ((IFLA_VXLAN_TTL, ttl), (IFLA_VXLAN_TOS, tos), (IFLA_VXLAN_LEARNING, learning)):
        if value is not None:
            out += _attr(kind, _U8.pack(int(value)))
    if port is not None:
        out += _attr(IFLA_VXLAN_PORT, _BE16.pack(port))
    return out


def macvlan_data(mode=None):
    """The IFLA_INFO_DATA attributes of a macvlan or macvtap: its mode by name (bridge, private, ...)."""
    if mode is None:
        return b''
    number = dict((name, n) for n, name in MACVLAN_MODES.items())[mode]
    return _attr(IFLA_MACVLAN_MODE, _U32.pack(number))


def fdb_body(ifindex, mac, dst, port=None, vni=None, via=None, state=NUD_NOARP | NUD_PERMANENT):
    """The body of a RTM_NEWNEIGH / RTM_DELNEIGH request for the forwarding entry `mac` -> `dst` of device
    #ifindex (a vxlan's own table, NTF_SELF), as `bridge fdb append/del MAC dev X dst DST` sends it."""
    body = _NDMSG.pack(AF_BRIDGE, ifindex, state, NTF_SELF, 0)
    body += _attr(NDA_LLADDR, _mac(mac)) + _attr(NDA_DST, _ip(dst)[1])
    for kind, fmt, value in ((NDA_PORT, _BE16, port), (NDA_VNI, _U32, vni), (NDA_IFINDEX, _U32, via)):
        if value is not None:
            body += _attr(kind, fmt.pack(value))
    return body


_SKIP_STATS = _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))


def get_request(seq, ifname=None, index=None):
    """The bytes of one RTM_GETLINK request for `index` (if given) or `ifname`, without statistics."""
    body = _IFINFOMSG.pack(0, 0, index or 0, 0, 0)
    if index is None:
        body += _attr(IFLA_IFNAME, ifname.encode() + b'\0')
    body += _SKIP_STATS
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, seq, 0) + body


# --------------------------------------------------------------------------- one socket

def in_netns(netns, func, home_fd=None):
    """func() run inside namespace `netns` (None or '': where this thread is), then back home.

    THE way a socket of this collection is opened in a namespace (a socket stays bound to the namespace
    it was created in): setns there, create, setns back to `home_fd` (opened here when not given). A
    missing namespace is NetnsNotFound; nothing is created.
    """
    if not netns:
        return func()
    if home_fd is not None:
        return call_in_netns(netns, func, home_fd)
    home = os.open('/proc/thread-self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
    try:
        return call_in_netns(netns, func, home)
    finally:
        os.close(home)


class RtnlSocket(object):
    """A plain NETLINK_ROUTE socket in one namespace (the one it was opened in)."""

    def __init__(self, sock):
        self.sock = sock
        self.seq = 0

    @classmethod
    def open(cls, netns=None, home_fd=None):
        """A socket in `netns` (None: the calling thread's namespace), asking for extended acks.

        Raises OSError when none opens, NetnsNotFound when the namespace does not exist.
        """
        return in_netns(netns, cls._open_here, home_fd)

    @classmethod
    def _open_here(cls):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        try:
            sock.bind((0, 0))
        except OSError:
            sock.close()
            raise
        for level, opt, value in ((SOL_NETLINK, NETLINK_EXT_ACK, 1), (SOL_NETLINK, NETLINK_CAP_ACK, 1),
                                  (socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)):
            try:
                sock.setsockopt(level, opt, value)
            except OSError:
                pass
        sock.settimeout(TIMEOUT)      # an answer that never comes is an error, not a hung task
        return cls(sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _next_seq(self):
        self.seq = (self.seq + 1) & 0x7fffffff or 1
        return self.seq

    def transact(self, data, seq, answer=None):
        """Send one request; return (data, start, end) of its first `answer` message, or None on an ack.

        Raises RtnlError when the kernel refuses it, OSError when the socket fails.
        """
        self.sock.send(data)
        while True:
            buf = self.sock.recv(RECV_SIZE)
            for mtype, flags, start, end in messages(buf, seq):
                if mtype == NLMSG_ERROR:
                    code, extack = parse_error(buf, start, end, flags)
                    if code:
                        raise RtnlError(code, extack)
                    return None
                if answer is not None and mtype == answer:
                    return buf, start, end

    def request(self, msg_type, body, flags=0):
        """Send a request that the kernel acknowledges (RTM_NEWLINK, RTM_DELLINK, ...)."""
        seq = self._next_seq()
        head = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0)
        self.transact(head + body, seq)

    def dump(self, msg_type, body, parse):
        """parse(data, start, end) of every message of one NLM_F_DUMP request (None results dropped).

        Raises DumpInterrupted when the kernel flags the dump NLM_F_DUMP_INTR, RtnlError when it refuses it.
        """
        seq = self._next_seq()
        self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
                       + body)
        out, interrupted = [], False
        while True:
            buf = self.sock.recv(DUMP_RECV_SIZE)
            for mtype, flags, start, end in messages(buf, seq):
                if mtype in (NLMSG_DONE, NLMSG_ERROR):
                    code = -_S32.unpack_from(buf, start)[0] if end - start >= 4 else 0
                    if code > 0:
                        raise RtnlError(code, parse_error(buf, start, end, flags)[1]
                                        if mtype == NLMSG_ERROR else None)
                    if interrupted or flags & NLM_F_DUMP_INTR:
                        raise DumpInterrupted()
                    return out
                interrupted = interrupted or bool(flags & NLM_F_DUMP_INTR)
                item = parse(buf, start, end)
                if item is not None:
                    out.append(item)

    # ----------------------------------------------------------------- one function per kernel operation
    def get_link(self, ifname=None, index=None, need_data=True):
        """The link as a plain dict, None when it does not exist (ENODEV), or FALLBACK.

        Raises RtnlError for any other refusal.
        """
        if index is None and not ifname:
            return FALLBACK
        if index is not None and not isinstance(index, int):
            return FALLBACK
        seq = self._next_seq()
        try:
            got = self.transact(get_request(seq, ifname, index), seq, RTM_NEWLINK)
        except RtnlError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise
        except struct.error:
            return FALLBACK
        if got is None:
            return FALLBACK
        return parse_link(got[0], got[1], got[2], need_data)

    def dump_links(self):
        """Every link of the namespace (parse_inventory_link's dicts), without statistics."""
        return self.dump(RTM_GETLINK, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _SKIP_STATS,
                         parse_inventory_link)

    def dump_addresses(self):
        """Every address of the namespace as (ifindex, 'address/prefixlen')."""
        return self.dump(RTM_GETADDR, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), parse_addr)

    def add_veth(self, name, peer, peer_ns_fd=None, local=None, remote=None):
        """Create a veth pair (fails with EEXIST if either name is taken)."""
        self.request(RTM_NEWLINK, veth_body(name, peer, peer_ns_fd, local, remote), NLM_F_CREATE | NLM_F_EXCL)

    def add_link(self, body):
        """Create a link from a RTM_NEWLINK body (link_body; fails with EEXIST if the name is taken)."""
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL)

    def change_kind(self, index, kind, data):
        """Change kind-specific attributes (IFLA_INFO_DATA `data`) of link #index of kind `kind`."""
        self.request(RTM_NEWLINK, _ifinfo(index) + kind_info(kind, data))

    def dump_fdb(self, ifindex=0):
        """The forwarding entries (parse_fdb's dicts) of device #ifindex (0: of every device), filtered by the
        kernel: the dump request of `bridge fdb show dev X` (an ifinfomsg of the bridge family)."""
        return self.dump(RTM_GETNEIGH, _IFINFOMSG.pack(AF_BRIDGE, 0, ifindex, 0, 0), parse_fdb)

    def add_fdb(self, ifindex, mac, dst, **attrs):
        """Append destination `dst` to the entry `mac` of device #ifindex (`bridge fdb append`): a second
        destination of the same entry is added, an existing one is left as it is."""
        self.request(RTM_NEWNEIGH, fdb_body(ifindex, mac, dst, **attrs), NLM_F_CREATE | NLM_F_APPEND)

    def del_fdb(self, ifindex, mac, dst, **attrs):
        """Remove destination `dst` (with its port, vni and via, if it has its own) from entry `mac`."""
        self.request(RTM_DELNEIGH, fdb_body(ifindex, mac, dst, **attrs))

    def set_link(self, index, state=None, **attrs):
        """Change attributes of link #index: link_attrs() keywords and state 'up'/'down'."""
        self.request(RTM_NEWLINK, _ifinfo(index, state) + link_attrs(**attrs))

    def set_inet_conf(self, index, conf):
        """Set IPv4 configuration values of link #index ({IPV4_DEVCONF_* number: value}) in one request, as
        IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF (what /proc/sys/net/ipv4/conf/DEV/ holds; no sysctl needed)."""
        inner = b''.join(_attr(k, _U32.pack(int(v))) for k, v in sorted(conf.items()))
        self.request(RTM_NEWLINK, _ifinfo(index) + _attr(IFLA_AF_SPEC, _attr(socket.AF_INET, _attr(IFLA_INET_CONF, inner))))

    def del_link(self, index=None, ifname=None, group=None):
        """Delete link #index, or the link `ifname`, or every link of `group`."""
        body = _ifinfo(index or 0)
        if index is None:
            body += link_attrs(ifname=ifname, group=group)
        self.request(RTM_DELLINK, body)

    def get_nsid(self, fd):
        """The id this namespace gives the namespace of `fd`; None when it has none."""
        seq = self._next_seq()
        body = _RTGEN.pack(0) + _attr(NETNSA_FD, _U32.pack(fd))
        head = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETNSID, NLM_F_REQUEST, seq, 0)
        got = self.transact(head + body, seq, RTM_NEWNSID)
        if got is None:
            return None
        buf, start, end = got
        span = _attrs(buf, start + _RTGEN.size, end).get(NETNSA_NSID)
        if span is None or span[1] - span[0] < 4:
            return None
        nsid = _S32.unpack_from(buf, span[0])[0]
        return None if nsid == NSID_NONE else nsid


# --------------------------------------------------------------------------- one socket set per namespace

class Rtnl(object):
    """The netlink sockets of one module run: per namespace one RtnlSocket and, on first use, one
    pyroute2 IPRoute (`_pyroute2` is imported only then); both opened by entering the namespace."""

    def __init__(self):
        self._socks = {}
        self._iprs = {}
        self._home_fd = None
        self._nsids = {}
        self._names = NsidResolver(self, lambda: [''] + list_netns())

    def home_fd(self):
        """An fd of the module's own namespace (opened once, before ever leaving it)."""
        if self._home_fd is None:
            self._home_fd = os.open('/proc/thread-self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
        return self._home_fd

    def sock(self, netns=None):
        """The RtnlSocket of `netns` ('' or None: the module's own namespace)."""
        key = netns or ''
        sock = self._socks.get(key)
        if sock is not None:
            return sock
        try:
            sock = RtnlSocket.open(key, self.home_fd())
        except OSError:
            raise VirtnetError('cannot open a netlink socket in %s' % ns_label(key))
        self._socks[key] = sock
        return sock

    def ipr(self, netns=None):
        """pyroute2's IPRoute of `netns` ('' or None: the module's own namespace), opened on first use."""
        key = netns or ''
        ipr = self._iprs.get(key)
        if ipr is None:
            from ansible_collections.virtnet.linux.plugins.module_utils._pyroute2 import open_ipr
            ipr = self._iprs[key] = in_netns(key, open_ipr, self.home_fd())
        return ipr

    def forget(self, netns):
        """Close the sockets of a namespace that is about to be removed."""
        key = netns or ''
        sock = self._socks.pop(key, None)
        if sock is not None:
            sock.close()
        self._close_ipr(self._iprs.pop(key, None))
        self._names.forget(key)
        self._nsids = dict((k, v) for k, v in self._nsids.items() if key not in k)

    @staticmethod
    def _close_ipr(ipr):
        if ipr is not None:
            try:
                ipr.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def close(self):
        for ipr in self._iprs.values():
            self._close_ipr(ipr)
        self._iprs = {}
        for sock in self._socks.values():
            sock.close()
        self._socks = {}
        if self._home_fd is not None:
            os.close(self._home_fd)
            self._home_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------------- requests, refusals worded for the user
    def call(self, what, netns, method, *args, **kwargs):
        """Run RtnlSocket.<method> on this namespace's socket, its refusal worded for the user."""
        try:
            return getattr(self.sock(netns), method)(*args, **kwargs)
        except OSError as exc:
            raise kernel_error(exc, what, netns)

    def get_link(self, netns, ifname=None, index=None, need_data=True):
        """The link as a plain dict, None when it does not exist, or FALLBACK (read it with pyroute2)."""
        return self.call('reading link %s' % (ifname or index), netns, 'get_link', ifname=ifname, index=index,
                         need_data=need_data)

    def dump(self, netns, what, method, *args):
        """A dump read again while the kernel flags it interrupted (NLM_F_DUMP_INTR)."""
        for _attempt in range(DUMP_ATTEMPTS):
            try:
                return self.call(what, netns, method, *args)
            except DumpInterrupted:
                pass
        raise VirtnetError('%s in %s: the kernel kept changing it while it was read' % (what, ns_label(netns)))

    def links(self, netns):
        """Every link of `netns` (dicts of parse_link, the kinds' tables decoded)."""
        return self.dump(netns, 'listing links', 'dump_links')

    def addresses(self, netns):
        """Every address of `netns` as (ifindex, 'address/prefixlen')."""
        return self.dump(netns, 'listing addresses', 'dump_addresses')

    def fdb(self, netns, ifindex=0, what=None):
        """The forwarding entries of device #ifindex of `netns` (0: of every device), parse_fdb's dicts."""
        return self.dump(netns, what or 'listing forwarding entries', 'dump_fdb', ifindex)

    # ----------------------------------------------------------------- namespace ids
    def nsid_of(self, netns, other):
        """The nsid of namespace `other` as seen from `netns` (None if it has none yet).

        Ids are cached for the run, "none" never is: the kernel gives an id when the first link
        crosses between the two.
        """
        key = (netns or '', other or '')
        cached = self._nsids.get(key)
        if cached is not None:
            return cached
        fd, close = (self.home_fd(), False) if not other else (open_netns_fd(other), True)
        try:
            got = self.call('reading the nsid of %s' % ns_label(other), netns, 'get_nsid', fd)
        finally:
            if close:
                os.close(fd)
        if got is not None and got >= 0:
            self._nsids[key] = got
        return got

    def nsid_to_netns(self, netns, nsid):
        """Resolve a link-netnsid seen from `netns` to a namespace name ('' = module's own).

        Returns None when the id belongs to an unnamed namespace (a container by pid, say).
        """
        return self._names.resolve(netns or '', [nsid], rescan=True)[nsid]


class NsidResolver(object):
    """link-netnsid (as seen from one namespace) -> namespace name, with as few queries as possible.

    The one resolver of the collection (Rtnl's, and link_info's over the namespaces it lists).
    `rtnl.nsid_of(netns, other)` gives the id that `netns` gives namespace `other` (None: none yet;
    VirtnetError: `other` is gone); `candidates` is '' (the module's own) and every named namespace, or
    a function that lists them.
    """

    def __init__(self, rtnl, candidates):
        self.rtnl = rtnl
        self.candidates = candidates
        self._maps = {}                  # netns -> {nsid: name}
        self._lists = {}                 # netns -> the candidates asked about, in order
        self._scanned = {}               # netns -> index of the next candidate to ask about

    def forget(self, netns):
        """Drop what is known of the ids seen from `netns` (a namespace about to be removed)."""
        for known in (self._maps, self._lists, self._scanned):
            known.pop(netns or '', None)

    def resolve(self, netns, nsids, rescan=False):
        """{nsid: name or None} for every id of `nsids` seen from `netns`.

        With `rescan`, an id that no candidate had when it was asked about is looked for again among
        the candidates listed anew (the kernel gives an id when the first link crosses between two
        namespaces, and namespaces come and go during a run).
        """
        mapping = self._maps.setdefault(netns, {})
        todo = set(n for n in nsids if n not in mapping)
        if todo and rescan and netns in self._lists and self._scanned.get(netns, 0) >= len(self._lists[netns]):
            del self._lists[netns]
            self._scanned[netns] = 0
        if netns not in self._lists:
            self._lists[netns] = list(self.candidates() if callable(self.candidates) else self.candidates)
        candidates = self._lists[netns]
        pos = self._scanned.get(netns, 0)
        while todo and pos < len(candidates):
            other = candidates[pos]
            pos += 1
            if other == netns:
                continue
            try:
                nsid = self.rtnl.nsid_of(netns, other)
            except VirtnetError:
                continue                  # namespace removed meanwhile
            if nsid is not None and nsid not in mapping:
                mapping[nsid] = other
                todo.discard(nsid)
        self._scanned[netns] = pos
        return dict((n, mapping.get(n)) for n in nsids)
