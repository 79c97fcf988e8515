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
import traceback

from ansible_collections.virtnet.linux.plugins.module_utils._common import IFF_UP, VirtnetError, kernel_error

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
