# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Netlink access per network namespace, errno mapping and plain-dict readers.

Rules that every caller relies on:

* a namespace is never created by looking it up: sockets are opened by entering an
  existing /run/netns/NAME with setns(2) (no fork, no O_CREAT);
* every kernel error leaves this module as a :class:`VirtnetError` whose message names
  the object, the namespace and the problem;
* readers return plain JSON-safe dicts, never pyroute2 message objects.
"""

from __future__ import annotations

import errno
import traceback

from ansible_collections.virtnet.linux.plugins.module_utils._common import (  # noqa: F401 pylint: disable=unused-import
    NETNS_RUN_DIR, NETNS_ETC_DIR, IFNAMSIZ, CLONE_NEWNET, CLONE_NEWNS, IFF_UP, VirtnetError,
    NetnsNotFound, LinkNotFound, ObjectExists, libc, setns, unshare, mount, umount2, ns_label,
    validate_netns_name, validate_ifname, netns_path, netns_exists, list_netns, open_netns_fd,
    errno_text, kernel_error, call_in_netns,
)
from ansible_collections.virtnet.linux.plugins.module_utils._rawlink import RawSockets

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


# --------------------------------------------------------------------------- sockets

class Netlink(object):
    """One pyroute2 IPRoute per namespace for the whole module run.

    Sockets are opened by entering the namespace in this thread (setns), creating the socket
    (it stays bound to that namespace) and coming back: no fork, no auto-creation. The raw sockets
    (`_rawlink.RawSockets`, shared with the module's pyroute2-free path) answer get_link for plain links.
    """

    def __init__(self, raw=None):
        if not HAS_PYROUTE2:
            raise VirtnetError('pyroute2 is required')
        self._own_raw = raw is None
        self.raw = RawSockets() if raw is None else raw
        self._sockets = {}

    def home_fd(self):
        return self.raw.home_fd()

    def ipr(self, netns=None):
        """The IPRoute socket for `netns` (None or '' = the module's own namespace)."""
        key = netns or ''
        sock = self._sockets.get(key)
        if sock is not None:
            return sock
        sock = call_in_netns(key, IPRoute, self.home_fd())
        self._sockets[key] = sock
        return sock

    def forget(self, netns):
        """Close the sockets of a namespace that is about to be removed."""
        sock = self._sockets.pop(netns or '', None)
        if sock is not None:
            sock.close()
        self.raw.forget(netns)

    def close(self):
        for sock in self._sockets.values():
            try:
                sock.close()
            except Exception:  # pylint: disable=broad-except
                pass
        self._sockets = {}
        if self._own_raw:
            self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def nsid_to_netns(self, netns, nsid):
        """Resolve a link-netnsid seen from `netns` to a namespace name ('' = module's own), or None."""
        return self.raw.nsid_to_netns(netns, nsid)


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
