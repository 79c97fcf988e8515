# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""What stays with pyroute2: changes of bridge IFLA_BR_* attributes, addresses, routes, port dumps.

The hand-built layer (`_rtnl`) reads links (bridges with their IFLA_BR_* attributes too) and changes plain
links; this module holds the rest of the
collection's netlink work that pyroute2 does for it, behind plain-dict readers:

* its sockets are `_rtnl.Rtnl`'s: one IPRoute per namespace, opened on first use by entering an
  existing /run/netns/NAME with setns(2) (no fork, no O_CREAT) through `Rtnl.ipr(netns)`; this module
  is imported only then, so the modules that need no pyroute2 never import it;
* every kernel error leaves as a :class:`VirtnetError` (`_common.kernel_error`, through nl_call) whose
  message names the object, the namespace and the problem;
* readers return plain JSON-safe dicts, never pyroute2 message objects;
* the differences between pyroute2 0.7 (Debian) and 0.9 (PyPI) are bridged here, and only here.
"""

from __future__ import annotations

import errno
import ipaddress
import traceback

from ansible_collections.virtnet.linux.plugins.module_utils._common import IFF_UP, VirtnetError, kernel_error
from ansible_collections.virtnet.linux.plugins.module_utils._ip import AF_INET, AF_INET6, sort_addresses

try:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
except ImportError:  # pragma: no cover - exercised by the missing-pyroute2 test
    IPRoute = None
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

    class NetlinkError(Exception):  # type: ignore[no-redef]
        """Placeholder so that ``except NetlinkError`` stays valid without pyroute2."""

        code = 0
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None


def open_ipr():
    """A synchronous IPRoute in the calling thread's namespace (`_rtnl.Rtnl.ipr` enters it first)."""
    if not HAS_PYROUTE2:
        raise VirtnetError('pyroute2 is required')
    return IPRoute()


# --------------------------------------------------------------------------- pyroute2 0.7 / 0.9
# Every difference between Debian's python3-pyroute2 (0.7.2) and PyPI's pyroute2 (0.9.x) that this
# collection meets is bridged here, and only here:
#
# * msg.get('name'): 0.9 takes a plain string; 0.7 iterates over a string as a path of one-letter
#   keys (so msg.get('ifname') is None there). A one-element tuple is a path in both: msg_get().
# * msg.get_attr('ifname') resolves short names only on 0.9; full NLA names (IFLA_IFNAME) work in
#   both: _attr().
# * ipr.link('dump', master=N): 0.9 (dump_filter=None) sends the filter to the kernel, 0.7 filters
#   a full dump in Python. A hand-built request is filtered by the kernel in both: dump_request().
# * ipr.nlm_request() of the synchronous IPRoute: 0.9.x reads status['nlm_generator'], which the
#   IPRoute constructor does not set (KeyError); 0.7 returns a tuple: dump_request().

def msg_get(msg, name, default=None):
    """One field or attribute of a pyroute2 message by name ('index', 'carrier', 'IFA_LOCAL')."""
    if msg is None:
        return default
    try:
        value = msg.get((name,))
    except Exception:  # pylint: disable=broad-except
        return default
    return default if value is None else value


def dump_request(ipr, msg, msg_type):
    """The answer (a list of messages) to one hand-built NLM_F_DUMP request."""
    from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST
    status = getattr(ipr, 'status', None)
    if isinstance(status, dict):
        status.setdefault('nlm_generator', False)
    return list(ipr.nlm_request(msg, msg_type=msg_type, msg_flags=NLM_F_REQUEST | NLM_F_DUMP))


def dump_ports(ipr, master, netns=None):
    """The links whose master is ifindex `master` (plain dicts), filtered by the kernel."""
    from pyroute2.netlink.rtnl import RTM_GETLINK
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    msg = ifinfmsg()
    msg['family'] = 0
    msg['attrs'] = [('IFLA_MASTER', master)]
    try:
        msgs = dump_request(ipr, msg, RTM_GETLINK)
    except NetlinkError as exc:
        raise kernel_error(exc, 'listing the ports of link #%d' % master, netns)
    return [link_to_dict(m) for m in msgs if _attr(m, 'IFLA_MASTER') == master]


# --------------------------------------------------------------------------- readers

def _attr(msg, name):
    """get_attr by full NLA name (IFLA_IFNAME), which works on pyroute2 0.7 and 0.9 alike."""
    try:
        return msg.get_attr(name)
    except Exception:  # pylint: disable=broad-except
        return None


def _nested(msg, *names):
    cur = msg
    for name in names:
        if cur is None:
            return None
        cur = _attr(cur, name)
    return cur


def to_plain(value):
    """Convert pyroute2 values into JSON-safe plain Python values."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    if isinstance(value, dict):
        return dict((str(k), to_plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if hasattr(value, 'get_attrs') or hasattr(value, 'attrs'):
        return dict((str(k), to_plain(v)) for k, v in getattr(value, 'attrs', []))
    return str(value)


def _data_dict(data):
    if data is None:
        return {}
    out = {}
    attrs = getattr(data, 'attrs', None)
    if attrs is None and isinstance(data, dict):
        attrs = data.get('attrs')   # pyroute2 0.9 nla objects are dicts: the list is data['attrs']
    for item in attrs or []:
        key, val = item[0], item[1]
        out[key] = to_plain(val)
    return out


def link_to_dict(msg):
    """A plain dict of one RTM_NEWLINK message (pyroute2 0.7 and 0.9)."""
    flags = msg['flags'] if 'flags' in msg else 0
    linkinfo = _attr(msg, 'IFLA_LINKINFO')
    kind = _attr(linkinfo, 'IFLA_INFO_KIND') if linkinfo is not None else None
    slave_kind = _attr(linkinfo, 'IFLA_INFO_SLAVE_KIND') if linkinfo is not None else None
    data = _attr(linkinfo, 'IFLA_INFO_DATA') if linkinfo is not None else None
    slave_data = _attr(linkinfo, 'IFLA_INFO_SLAVE_DATA') if linkinfo is not None else None
    link = {
        'ifname': _attr(msg, 'IFLA_IFNAME'),
        'index': msg['index'],
        'kind': kind,
        'flags': flags,
        'link_state': 'up' if flags & IFF_UP else 'down',
        'operstate': _attr(msg, 'IFLA_OPERSTATE'),
        'mtu': _attr(msg, 'IFLA_MTU'),
        'address': _attr(msg, 'IFLA_ADDRESS'),
        'master_index': _attr(msg, 'IFLA_MASTER'),
        'txqueuelen': _attr(msg, 'IFLA_TXQLEN'),
        'alias': _attr(msg, 'IFLA_IFALIAS'),
        'group': _attr(msg, 'IFLA_GROUP'),
        'link_index': _attr(msg, 'IFLA_LINK'),
        'link_netnsid': _attr(msg, 'IFLA_LINK_NETNSID'),
        'ifi_type': msg['ifi_type'] if 'ifi_type' in msg else None,
        'slave_kind': slave_kind,
        'carrier': _attr(msg, 'IFLA_CARRIER'),
        'info_data': _data_dict(data),
        'slave_data': _data_dict(slave_data),
    }
    return dict((k, to_plain(v)) for k, v in link.items())


def get_link(ipr, ifname=None, index=None, netns=None):
    """The link `ifname` (or `index`) as a plain dict, or None when it does not exist, decoded by
    pyroute2: for the links that the raw layer leaves to it (`_link.read_link` reads through both)."""
    try:
        if index is not None:
            msgs = ipr.link('get', index=index)
        else:
            msgs = ipr.link('get', ifname=ifname)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise kernel_error(exc, 'reading link %s' % (ifname or index), netns)
    for msg in msgs:
        return link_to_dict(msg)
    return None


def dump_links(ipr, netns=None):
    try:
        return [link_to_dict(m) for m in ipr.get_links()]
    except NetlinkError as exc:
        raise kernel_error(exc, 'listing links', netns)


def nl_call(what, netns, func, *args, **kwargs):
    """Run one pyroute2 call, translating its errors for the user."""
    try:
        return func(*args, **kwargs)
    except (NetlinkError, OSError) as exc:
        raise kernel_error(exc, what, netns)


# --------------------------------------------------------------------------- addresses and routes
# Read over an existing socket with kernel-side filtering (NETLINK_GET_STRICT_CHK), so reading the
# addresses of one link or the routes of one table does not parse the whole namespace.

def _sockopt(ipr, option, value):
    from pyroute2.netlink import SOL_NETLINK
    try:
        ipr.setsockopt(SOL_NETLINK, option, value)
        return True
    except Exception:  # pylint: disable=broad-except
        return False


def prepare_socket(ipr):
    """Ask the kernel for extended error messages on this socket (harmless if unsupported)."""
    from pyroute2.netlink import NETLINK_EXT_ACK
    _sockopt(ipr, NETLINK_EXT_ACK, 1)


def strict_dump(ipr, msg, msg_type):
    """One dump request filtered by the kernel (NETLINK_GET_STRICT_CHK), or None if unavailable.

    The socket goes back to non-strict mode afterwards, so other requests on it are unaffected.
    """
    from pyroute2.netlink import NETLINK_GET_STRICT_CHK
    if not hasattr(ipr, 'nlm_request') or not _sockopt(ipr, NETLINK_GET_STRICT_CHK, 1):
        return None
    from pyroute2.netlink.exceptions import NetlinkError
    try:
        return dump_request(ipr, msg, msg_type)
    except NetlinkError as exc:
        if exc.code in (errno.EINVAL, errno.EOPNOTSUPP):    # a kernel that does not filter this dump
            return None
        raise
    finally:
        _sockopt(ipr, NETLINK_GET_STRICT_CHK, 0)


def _get(msg, key, default=None):
    return msg_get(msg, key, default)


def address_from_msg(msg):
    """A plain dict of one RTM_NEWADDR message."""
    family = msg['family']
    local = _get(msg, 'IFA_LOCAL')
    address = _get(msg, 'IFA_ADDRESS')
    mine = local or address
    if family == AF_INET6 and mine:
        mine = ipaddress.ip_address(mine).compressed
    entry = {
        'family': family,
        'address': mine,
        'prefixlen': msg['prefixlen'],
        'index': msg['index'],
        'flags': _get(msg, 'IFA_FLAGS', msg['flags']),
        'scope': msg['scope'],
        'peer': address if local and address and address != local else None,
        'broadcast': _get(msg, 'IFA_BROADCAST'),
        'label': _get(msg, 'IFA_LABEL'),
    }
    return entry


def read_addresses(ipr, index, netns=None):
    """The addresses of link `index` (plain dicts), read with one kernel-filtered dump."""
    from pyroute2.netlink.rtnl import RTM_GETADDR
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.exceptions import NetlinkError
    try:
        msg = ifaddrmsg()
        msg['family'] = 0
        msg['index'] = index
        msgs = strict_dump(ipr, msg, RTM_GETADDR)
        if msgs is None:
            msgs = ipr.addr('dump', index=index)
    except NetlinkError as exc:
        raise kernel_error(exc, 'reading the addresses of link %s' % index, netns, kernel_first=True)
    out = []
    for m in msgs:
        if m.get('event') not in (None, 'RTM_NEWADDR') or m['index'] != index:
            continue
        if m['family'] not in (AF_INET, AF_INET6):
            continue
        out.append(address_from_msg(m))
    return sort_addresses(out)


def route_from_msg(msg):
    """A plain dict of one RTM_NEWROUTE message (identity fields, next hop, attributes)."""
    family = msg['family']
    dst = _get(msg, 'RTA_DST') or ('0.0.0.0' if family == AF_INET else '::')
    gateway = _get(msg, 'RTA_GATEWAY')
    prefsrc = _get(msg, 'RTA_PREFSRC')
    if family == AF_INET6:
        dst = ipaddress.ip_address(dst).compressed
        gateway = ipaddress.ip_address(gateway).compressed if gateway else None
        prefsrc = ipaddress.ip_address(prefsrc).compressed if prefsrc else None
    hops = []
    for nh in _get(msg, 'RTA_MULTIPATH') or []:
        hop_gw = _get(nh, 'RTA_GATEWAY')
        if family == AF_INET6 and hop_gw:
            hop_gw = ipaddress.ip_address(hop_gw).compressed
        hops.append({'gateway': hop_gw, 'oif': _get(nh, 'oif'), 'flags': _get(nh, 'flags', 0),
                     'hops': _get(nh, 'hops', 0)})
    return {
        'family': family,
        'dst': dst,
        'dst_len': msg['dst_len'],
        'src_len': msg['src_len'],
        'tos': msg['tos'],
        'table': _get(msg, 'RTA_TABLE', msg['table']),
        'metric': _get(msg, 'RTA_PRIORITY', 0),
        'type_num': msg['type'],
        'scope_num': msg['scope'],
        'proto_num': msg['proto'],
        'flags': msg['flags'],
        'gateway': gateway,
        'oif': _get(msg, 'RTA_OIF'),
        'prefsrc': prefsrc,
        'multipath': hops,
    }


def read_routes(ipr, family, table, netns=None):
    """The routes of one table and family (plain dicts), read with one kernel-filtered dump."""
    from pyroute2.netlink.rtnl import RTM_GETROUTE
    from pyroute2.netlink.rtnl.rtmsg import rtmsg
    from pyroute2.netlink.exceptions import NetlinkError
    try:
        msg = rtmsg()
        msg['family'] = family
        msg['attrs'] = [('RTA_TABLE', table)]
        msgs = strict_dump(ipr, msg, RTM_GETROUTE)
        if msgs is None:
            msgs = ipr.route('dump', family=family, table=table)
    except NetlinkError as exc:
        if exc.code in (errno.ENOENT, errno.ESRCH):    # a table that does not exist (yet)
            return []
        raise kernel_error(exc, 'reading routing table %s' % table, netns, kernel_first=True)
    out = []
    for m in msgs:
        if m.get('event') not in (None, 'RTM_NEWROUTE') or m['family'] != family:
            continue
        r = route_from_msg(m)
        if r['table'] == table:
            out.append(r)
    return out
