# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The common link work of every device module on a plain rtnetlink socket (no pyroute2).

pyroute2 spends about 0.3 ms decoding one link message into its message objects and about 0.5 ms
encoding one request; a `struct`-built request and parse take about 0.015 ms, which leaves the kernel's
own work. This module carries everything that the shared device path (`_link`) and `veth` send and
read: link gets, creating a veth pair, setting the common attributes (mtu, address, queue length,
alias, master, group, up/down), deleting by index, name or link group, and namespace ids.

`parse_link` builds the same plain dict as `_netlink.link_to_dict`. For a link whose answer carries
kind-specific data (IFLA_INFO_DATA, IFLA_INFO_SLAVE_DATA: bridges, bridge ports, tun devices) it says
FALLBACK unless the caller asked for no kind data (`need_data=False`); then `info_data` and
`slave_data` are None (not read), never a silently empty dict. Kind-specific attributes stay with
pyroute2 (`_netlink`), which the modules that need them import.

Sockets are opened per namespace by entering it with setns(2) (no fork, never O_CREAT), like
`_netlink.Netlink`, which shares these sockets for its own raw reads.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    IFF_UP, VirtnetError, call_in_netns, kernel_error, list_netns, open_netns_fd,
)

# --------------------------------------------------------------------------- the wire format
# (link_info's reader, _info, shares these)

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x4, 0x200, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200      # flags of an NLMSG_ERROR answer
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWNSID, RTM_GETNSID = 88, 90
IFLA_EXT_MASK = 29
RTEXT_FILTER_SKIP_STATS = 1 << 3
NETNSA_NSID, NETNSA_FD = 1, 3
NLA_TYPE_MASK = 0x3FFF               # strip NLA_F_NESTED and NLA_F_NET_BYTEORDER
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_TXQLEN, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_GROUP, IFLA_NET_NS_FD = 13, 16, 18, 20, 27, 28
IFLA_CARRIER = 33
IFLA_LINK_NETNSID = 37
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
VETH_INFO_PEER = 1
NLMSGERR_ATTR_MSG = 1
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11
NSID_NONE = -1              # IFLA_LINK_NETNSID / NETNSA_NSID: no id assigned
OPERSTATES = ('UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP')

_NLMSGHDR = struct.Struct('=IHHII')  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct('=BxHiII')  # family, type, index, flags, change
_RTA = struct.Struct('=HH')
_U8 = struct.Struct('=B')
_U32 = struct.Struct('=I')
_S32 = struct.Struct('=i')
_ERR = _S32
_RTGEN = struct.Struct('=Bxxx')                 # struct rtgenmsg, padded to 4 bytes

RECV_SIZE = 65536
TIMEOUT = 30                       # seconds without an answer from the kernel before giving up

# an answer that is not a plain link: read the link through pyroute2 instead
FALLBACK = object()

# IFLA_INFO_DATA read here, with pyroute2's names and values, per kind (the rest falls back to pyroute2)
INFO_DATA_TABLES = {
    'tun': {
        1: ('IFLA_TUN_OWNER', _U32), 2: ('IFLA_TUN_GROUP', _U32), 3: ('IFLA_TUN_TYPE', _U8),
        4: ('IFLA_TUN_PI', _U8), 5: ('IFLA_TUN_VNET_HDR', _U8), 6: ('IFLA_TUN_PERSIST', _U8),
        7: ('IFLA_TUN_MULTI_QUEUE', _U8), 8: ('IFLA_TUN_NUM_QUEUES', _U32),
        9: ('IFLA_TUN_NUM_DISABLED_QUEUES', _U32),
    },
}


class RtnlError(OSError):
    """The kernel refused a request: `code` is the errno, `extack` its extended-ack text (or None)."""

    def __init__(self, code, extack=None):
        super(RtnlError, self).__init__(code, os.strerror(code))
        self.code = code
        self.extack = extack


# --------------------------------------------------------------------------- parsing

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


def _table(data, span, table):
    """{pyroute2 name: value} of the attributes in span that `table` knows (the others are left out)."""
    out = {}
    for kind, (start, stop) in _attrs(data, span[0], span[1]).items():
        entry = table.get(kind)
        if entry is not None and stop - start >= entry[1].size:
            out[entry[0]] = entry[1].unpack_from(data, start)[0]
    return out


def parse_link(data, pos, end, need_data=True):
    """The plain dict of one RTM_NEWLINK payload (data[pos:end]), as link_to_dict makes it.

    Kind-specific data: IFLA_INFO_DATA of the kinds in INFO_DATA_TABLES is decoded here. `need_data`
    says what else the caller reads: True, every kind's data (FALLBACK for data not decoded here and for
    IFLA_INFO_SLAVE_DATA); 'info', IFLA_INFO_DATA only (slave_data is None, not read); False, neither
    (info_data and slave_data not decoded here are None). FALLBACK also for anything unexpected.
    """
    if end - pos < _IFINFOMSG.size:
        return FALLBACK
    _family, ifi_type, index, flags, _change = _IFINFOMSG.unpack_from(data, pos)
    attrs = _attrs(data, pos + _IFINFOMSG.size, end)
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
            table = INFO_DATA_TABLES.get(kind)
            if table is not None:
                info_data = _table(data, info[IFLA_INFO_DATA], table)
            elif need_data:
                return FALLBACK
            else:
                info_data = None
        if IFLA_INFO_SLAVE_DATA in info:
            if need_data is True:
                return FALLBACK
            slave_data = None
    if IFLA_IFNAME not in attrs:
        return FALLBACK
    span = attrs.get(IFLA_ADDRESS)
    address = None
    if span is not None:
        address = ':'.join('%02x' % b for b in bytes(data[span[0]:span[1]]))
    span = attrs.get(IFLA_OPERSTATE)
    operstate = None
    if span is not None and span[1] > span[0]:
        value = data[span[0]]
        if value >= len(OPERSTATES):
            return FALLBACK
        operstate = OPERSTATES[value]
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


def parse_error(data, start, end, flags):
    """(errno, extended-ack text or None) of an NLMSG_ERROR payload; errno 0 is an acknowledgement."""
    code = -_ERR.unpack_from(data, start)[0] if end - start >= 4 else 0
    extack = None
    if code and flags & NLM_F_ACK_TLVS and end - start >= 4 + _NLMSGHDR.size:
        echoed = _NLMSGHDR.unpack_from(data, start + 4)[0]
        pos = start + 4 + (_NLMSGHDR.size if flags & NLM_F_CAPPED else (echoed + 3) & ~3)
        span = _attrs(data, pos, end).get(NLMSGERR_ATTR_MSG)
        if span is not None:
            extack = _str(data, span) or None
    return code, extack


# --------------------------------------------------------------------------- building

def _attr(kind, payload):
    return _RTA.pack(4 + len(payload), kind) + payload + b'\0' * ((4 - len(payload) % 4) % 4)


def _mac(value):
    return bytes(int(part, 16) for part in value.replace('-', ':').split(':'))


def link_attrs(ifname=None, mtu=None, address=None, txqlen=None, ifalias=None, master=None, group=None,
               net_ns_fd=None):
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


def get_request(seq, ifname=None, index=None):
    """The bytes of one RTM_GETLINK request for `index` (if given) or `ifname`, without statistics."""
    body = _IFINFOMSG.pack(0, 0, index or 0, 0, 0)
    if index is None:
        body += _attr(IFLA_IFNAME, ifname.encode() + b'\0')
    body += _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, seq, 0) + body


# --------------------------------------------------------------------------- one socket

class RawRtnl(object):
    """A plain NETLINK_ROUTE socket in one namespace (the one it was opened in)."""

    def __init__(self, sock):
        self.sock = sock
        self.seq = 0

    @classmethod
    def open(cls):
        """A socket in the calling thread's namespace, asking for extended acks; None if none opens."""
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        except (OSError, AttributeError):
            return None
        try:
            sock.bind((0, 0))
        except OSError:
            sock.close()
            return None
        for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
            try:
                sock.setsockopt(SOL_NETLINK, opt, 1)
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
            pos, size = 0, len(buf)
            while pos + _NLMSGHDR.size <= size:
                length, mtype, flags, mseq, _pid = _NLMSGHDR.unpack_from(buf, pos)
                if length < _NLMSGHDR.size or pos + length > size:
                    raise RtnlError(errno.EBADMSG)
                if mseq == seq:
                    start, end = pos + _NLMSGHDR.size, pos + length
                    if mtype == NLMSG_ERROR:
                        code, extack = parse_error(buf, start, end, flags)
                        if code:
                            raise RtnlError(code, extack)
                        return None
                    if answer is not None and mtype == answer:
                        return buf, start, end
                pos += (length + 3) & ~3

    def request(self, msg_type, body, flags=0):
        """Send a request that the kernel acknowledges (RTM_NEWLINK, RTM_DELLINK, ...)."""
        seq = self._next_seq()
        head = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0)
        self.transact(head + body, seq)

    # ----------------------------------------------------------------- links
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

    def add_veth(self, name, peer, peer_ns_fd=None, local=None, remote=None):
        """Create a veth pair (fails with EEXIST if either name is taken)."""
        self.request(RTM_NEWLINK, veth_body(name, peer, peer_ns_fd, local, remote), NLM_F_CREATE | NLM_F_EXCL)

    def set_link(self, index, state=None, **attrs):
        """Change attributes of link #index: link_attrs() keywords and state 'up'/'down'."""
        self.request(RTM_NEWLINK, _ifinfo(index, state) + link_attrs(**attrs))

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


# --------------------------------------------------------------------------- one socket per namespace

class RawSockets(object):
    """The raw sockets of a module run, one per namespace, opened by entering the namespace."""

    def __init__(self):
        self._socks = {}
        self._home_fd = None
        self._nsids = {}
        self._names = NsidResolver(self, lambda: [''] + list_netns())

    def home_fd(self):
        """An fd of the module's own namespace (opened once, before ever leaving it)."""
        if self._home_fd is None:
            self._home_fd = os.open('/proc/thread-self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
        return self._home_fd

    def sock(self, netns=None):
        """The RawRtnl of `netns` ('' or None: the module's own namespace)."""
        key = netns or ''
        sock = self._socks.get(key)
        if sock is not None:
            return sock
        sock = call_in_netns(key, RawRtnl.open, self.home_fd())
        if sock is None:
            raise VirtnetError('cannot open a netlink socket in %s' % (('netns %s' % key) if key else 'the default netns'))
        self._socks[key] = sock
        return sock

    def forget(self, netns):
        """Close the socket of a namespace that is about to be removed."""
        sock = self._socks.pop(netns or '', None)
        if sock is not None:
            sock.close()
        self._names.forget(netns)
        gone = netns or ''
        self._nsids = dict((k, v) for k, v in self._nsids.items() if gone not in k)

    def close(self):
        for sock in self._socks.values():
            sock.close()
        self._socks = {}
        if self._home_fd is not None:
            os.close(self._home_fd)
            self._home_fd = None

    # ----------------------------------------------------------------- requests with messages
    def get_link(self, netns, ifname=None, index=None, need_data=True):
        """The link as a plain dict, None when it does not exist, or FALLBACK (read it with pyroute2)."""
        try:
            return self.sock(netns).get_link(ifname=ifname, index=index, need_data=need_data)
        except OSError as exc:
            raise kernel_error(exc, 'reading link %s' % (ifname or index), netns)

    def call(self, what, netns, method, *args, **kwargs):
        """Run RawRtnl.<method> on this namespace's socket, its refusal worded for the user."""
        try:
            return getattr(self.sock(netns), method)(*args, **kwargs)
        except OSError as exc:
            raise kernel_error(exc, what, netns)

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
            got = self.call('reading the nsid of %s' % ('netns %s' % other if other else 'the default netns'),
                            netns, 'get_nsid', fd)
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

    The one resolver of the collection (the modules' RawSockets and link_info's reader). `rtnl.nsid_of
    (netns, other)` gives the id that `netns` gives namespace `other` (None: none yet; VirtnetError:
    `other` is gone); `candidates` is '' (the module's own) and every named namespace, or a function
    that lists them.
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
