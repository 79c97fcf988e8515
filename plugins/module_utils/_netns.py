# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Named network namespaces exactly as iproute2 makes them, and `ip netns exec` semantics.

create_netns() ports iproute2's netns_add() (ip/ipnetns.c) in-process, as `ip -batch` does:
make /run/netns a shared mount point, create the file with O_EXCL, unshare(CLONE_NEWNET),
bind-mount the new namespace onto the file, and setns() back home. No fork.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from ansible_collections.virtnet.linux.plugins.module_utils._nlbase import (
    CLONE_NEWNET, CLONE_NEWNS, IFF_UP, NETNS_ETC_DIR, NETNS_RUN_DIR, VirtnetError, errno_text, mount,
    netns_exists, netns_path, open_netns_fd, setns, umount2, unshare, validate_netns_name,
)

MS_RDONLY = 0x1
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 0x2


def _make_run_dir_shared():
    if not os.path.isdir(NETNS_RUN_DIR):
        os.makedirs(NETNS_RUN_DIR, 0o755)
    try:
        mount('', NETNS_RUN_DIR, 'none', MS_SHARED | MS_REC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        # not a mount point yet: upgrade it to one, as iproute2 does
        mount(NETNS_RUN_DIR, NETNS_RUN_DIR, 'none', MS_BIND | MS_REC)
        mount('', NETNS_RUN_DIR, 'none', MS_SHARED | MS_REC)


def create_netns(name, inside=None):
    """Create the named namespace. `inside()` runs while this thread is in the new namespace
    (sockets opened there stay bound to it). Raises VirtnetError; leaves nothing behind on error."""
    err = validate_netns_name(name)
    if err:
        raise VirtnetError(err)
    path = netns_path(name)
    try:
        _make_run_dir_shared()
        if os.path.exists(path) and not netns_exists(name):
            os.unlink(path)     # a stale file of an interrupted add: not a namespace
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except OSError as exc:
        raise VirtnetError('creating netns %s: %s' % (name, exc.strerror or exc))
    home = os.open('/proc/thread-self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
    result = None
    try:
        try:
            unshare(CLONE_NEWNET)
            try:
                mount('/proc/thread-self/ns/net', path, 'none', MS_BIND)
                if inside is not None:
                    result = inside()
            finally:
                setns(home)
        except Exception:
            umount2(path, MNT_DETACH)
            try:
                os.unlink(path)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise VirtnetError('creating netns %s: %s' % (name, exc.strerror or exc))
    finally:
        os.close(home)
    return result


# --------------------------------------------------------------------------- the namespace's lo
#
# The netns module only ever reads and sets the flags of `lo`. One RTM_GETLINK / RTM_NEWLINK on a plain
# rtnetlink socket does that at kernel speed: no pyroute2 IPRoute per namespace (each one builds an
# asyncio loop and decodes every attribute of the reply into objects: ~3-5 ms per namespace, where
# this takes ~0.1 ms).

_NLMSGHDR = struct.Struct('=IHHII')      # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct('=BxHiII')    # family, type, index, flags, change
_NLA = struct.Struct('=HH')
_RTM_NEWLINK, _RTM_GETLINK, _NLMSG_ERROR = 16, 18, 2
_NLM_F_REQUEST, _NLM_F_ACK = 0x1, 0x4
_IFLA_IFNAME, _IFLA_EXT_MASK, _RTEXT_FILTER_SKIP_STATS = 3, 29, 1 << 3


def _nla(kind, payload):
    length = _NLA.size + len(payload)
    return _NLA.pack(length, kind) + payload + b'\0' * ((4 - length % 4) % 4)


def _rtnl_socket(name):
    """A NETLINK_ROUTE socket bound to netns `name` (None: the thread's current namespace)."""
    if name is None:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    fd = open_netns_fd(name)
    home = os.open('/proc/thread-self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd)
        try:
            return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        finally:
            setns(home)
    finally:
        os.close(fd)
        os.close(home)


def _lo_transact(sock, msg_type, flags, body):
    """Send one request about lo; the RTM_NEWLINK reply (bytes), None for an ack, OSError for an error."""
    sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, flags, 1, 0) + body)
    data = sock.recv(1 << 16)
    mtype = _NLMSGHDR.unpack_from(data, 0)[1]
    if mtype == _NLMSG_ERROR:
        err = struct.unpack_from('=i', data, _NLMSGHDR.size)[0]
        if err:
            raise OSError(-err, os.strerror(-err))
        return None
    return data


def _lo_get(sock):
    """(ifindex, ifi_flags) of lo, or None when there is no lo."""
    body = (_IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _nla(_IFLA_IFNAME, b'lo\0')
            + _nla(_IFLA_EXT_MASK, struct.pack('=I', _RTEXT_FILTER_SKIP_STATS)))
    try:
        data = _lo_transact(sock, _RTM_GETLINK, _NLM_F_REQUEST, body)
    except OSError as exc:
        if exc.errno == errno.ENODEV:
            return None
        raise
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(data, _NLMSGHDR.size)
    return index, flags


def loopback_state(name):
    """'up' or 'down' for lo in netns `name` (None: the current namespace); None when it has no lo."""
    try:
        sock = _rtnl_socket(name)
        try:
            got = _lo_get(sock)
        finally:
            sock.close()
    except OSError as exc:
        raise VirtnetError('reading lo in netns %s: %s' % (name, errno_text(exc.errno) if exc.errno else exc))
    if got is None:
        return None
    return 'up' if got[1] & IFF_UP else 'down'


def set_loopback(name, up=True):
    """Bring lo of netns `name` (None: the current namespace) up or down."""
    what = 'setting lo %s in netns %s' % ('up' if up else 'down', name)
    try:
        sock = _rtnl_socket(name)
        try:
            got = _lo_get(sock)
            if got is None:
                raise VirtnetError('%s: the namespace has no lo' % what)
            body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, got[0], IFF_UP if up else 0, IFF_UP)
            _lo_transact(sock, _RTM_NEWLINK, _NLM_F_REQUEST | _NLM_F_ACK, body)
        finally:
            sock.close()
    except OSError as exc:
        raise VirtnetError('%s: %s' % (what, errno_text(exc.errno) if exc.errno else exc))


def delete_netns(name):
    """Delete the named namespace as `ip netns delete` does; already gone is not an error."""
    path = netns_path(name)
    umount2(path, MNT_DETACH)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise VirtnetError('deleting netns %s: %s' % (name, exc.strerror or exc))


def etc_dir(name):
    return os.path.join(NETNS_ETC_DIR, name)


def read_etc(name, files):
    """Current content of the given /etc/netns/NAME files (None where missing)."""
    out = {}
    for fname in files:
        try:
            with open(os.path.join(etc_dir(name), fname), 'r') as f:
                out[fname] = f.read()
        except (FileNotFoundError, NotADirectoryError):
            out[fname] = None
    return out


def write_etc_file(name, fname, content):
    d = etc_dir(name)
    path = os.path.join(d, fname)
    try:
        if content is None:
            if os.path.lexists(path):
                os.unlink(path)
            return
        if os.path.lexists(d) and not os.path.isdir(d):
            raise VirtnetError('writing %s: %s is not a directory' % (path, d))
        if not os.path.isdir(d):
            os.makedirs(d, 0o755)
        tmp = path + '.virtnet-tmp'
        with open(tmp, 'w') as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except OSError as exc:
        raise VirtnetError('writing %s: %s' % (path, exc.strerror or exc))


def remove_etc_dir(name):
    d = etc_dir(name)
    if not os.path.isdir(d):
        return
    for fname in os.listdir(d):
        p = os.path.join(d, fname)
        if os.path.isdir(p) and not os.path.islink(p):
            raise VirtnetError('not removing %s: it holds a directory (%s)' % (d, fname))
    for fname in os.listdir(d):
        os.unlink(os.path.join(d, fname))
    os.rmdir(d)


def list_etc(name):
    d = etc_dir(name)
    try:
        return sorted(os.listdir(d))
    except (FileNotFoundError, NotADirectoryError):
        return []


# --------------------------------------------------------------------------- ip netns exec

def prepare_switch(name):
    """Everything that can fail, done before switching: returns switch() or raises VirtnetError."""
    fd = open_netns_fd(name)
    d = etc_dir(name)
    binds = []
    if os.path.isdir(d):
        for entry in sorted(os.listdir(d)):
            binds.append((os.path.join(d, entry), os.path.join('/etc', entry)))
    sys_ro = bool(os.statvfs('/sys').f_flag & os.ST_RDONLY)

    def switch():
        """Enter the namespace the way `ip netns exec` does (iproute2 lib/namespace.c:netns_switch)."""
        try:
            setns(fd, CLONE_NEWNET)
            unshare(CLONE_NEWNS)
            mount('', '/', 'none', MS_SLAVE | MS_REC)
            flags = 0
            if umount2('/sys', MNT_DETACH) != 0 and sys_ro:
                flags = MS_RDONLY
            mount(name, '/sys', 'sysfs', flags)
        except OSError as exc:
            raise VirtnetError('entering netns %s: %s' % (name, exc))
        finally:
            os.close(fd)
        for src, dst in binds:
            try:
                mount(src, dst, 'none', MS_BIND)
            except OSError:
                pass  # best effort, like iproute2 (the target may not exist in /etc)
    return switch
