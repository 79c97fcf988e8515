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

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    CLONE_NEWNET, CLONE_NEWNS, NETNS_ETC_DIR, NETNS_RUN_DIR, VirtnetError, kernel_reason, mount,
    netns_exists, netns_path, ns_label, open_netns_fd, setns, umount2, unshare, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._rtnl import (
    FALLBACK, IPV4_DEVCONF_FORWARDING, RtnlSocket, in_netns,
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
# The netns module only ever reads and sets the flags of `lo`. One RTM_GETLINK / RTM_NEWLINK on the
# collection's plain rtnetlink socket (_rtnl.RtnlSocket) does that at kernel speed: no pyroute2 IPRoute per
# namespace (each one builds an asyncio loop and decodes every attribute of the reply into objects:
# ~3-5 ms per namespace, where this takes ~0.1 ms). The socket is opened by _rtnl's one opener, also
# inside a namespace this thread has just created and entered (name None).

def _rtnl_socket(name):
    """An RtnlSocket bound to netns `name` (None: the thread's current namespace)."""
    return RtnlSocket.open(name)


def _lo(name, what, func):
    """func(socket, lo) on a socket in netns `name`; lo is the link dict, or None when there is no lo."""
    try:
        sock = _rtnl_socket(name)
        try:
            lo = sock.get_link(ifname='lo', need_data=False)
            if lo is FALLBACK:
                raise VirtnetError('%s: unexpected answer from the kernel' % what)
            return func(sock, lo)
        finally:
            sock.close()
    except OSError as exc:
        raise VirtnetError('%s: %s' % (what, kernel_reason(exc)))


def loopback_state(name):
    """'up' or 'down' for lo in netns `name` (None: the current namespace); None when it has no lo."""
    return _lo(name, 'reading lo in netns %s' % name, lambda sock, lo: lo and lo['link_state'])


def set_loopback(name, up=True):
    """Bring lo of netns `name` (None: the current namespace) up or down."""
    what = 'setting lo %s in netns %s' % ('up' if up else 'down', name)

    def change(sock, lo):
        if lo is None:
            raise VirtnetError('%s: the namespace has no lo' % what)
        sock.set_link(lo['index'], state='up' if up else 'down')

    _lo(name, what, change)


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


# --------------------------------------------------------------------------- a device's IPv4 forwarding
#
# net.ipv4.conf.DEV.forwarding of a device in a namespace. /proc/sys/net shows the network namespace of
# the thread that looks it up (not the one /proc was mounted in), so the thread enters the namespace for
# the open and comes back: no process, no `ip netns exec`. Written through the sysctl, not netlink
# (IFLA_INET_CONF), so the kernel does what `sysctl -w` does (route cache flush, netconf notification).
# The kernel checks the device a packet ARRIVES on: only what comes in on a forwarding device is forwarded.
# Where /proc/sys is mounted read-only (systemd-nspawn containers, some others) the value is written over
# rtnetlink instead (IFLA_INET_CONF, CAP_NET_ADMIN only): the same switch, without the sysctl's side work -
# switching forwarding OFF there leaves routes the kernel cached for forwarding until its next route flush.

def _forwarding_path(dev):
    return '/proc/sys/net/ipv4/conf/%s/forwarding' % dev


def _forwarding_io(netns, dev, value, what):
    def act():
        with open(_forwarding_path(dev), 'r+' if value is not None else 'r') as f:
            if value is not None:
                f.write('1\n' if value else '0\n')
                return value
            return f.read().strip() == '1'
    try:
        return in_netns(netns, act)
    except FileNotFoundError:
        raise VirtnetError('%s: %s has no IPv4 configuration in %s' % (what, dev, ns_label(netns)))
    except OSError as exc:
        if exc.errno == errno.EROFS and value is not None:
            return _forwarding_netlink(netns, dev, value, what)
        raise VirtnetError('%s: %s' % (what, exc.strerror or exc))


def _forwarding_netlink(netns, dev, value, what):
    """The device's forwarding written over rtnetlink (IFLA_INET_CONF), where /proc/sys is read-only."""
    try:
        sock = RtnlSocket.open(netns)
        try:
            link = sock.get_link(ifname=dev, need_data=False)
            if link is None or link is FALLBACK:
                raise VirtnetError('%s: %s not found in %s' % (what, dev, ns_label(netns)))
            sock.set_inet_conf(link['index'], {IPV4_DEVCONF_FORWARDING: 1 if value else 0})
        finally:
            sock.close()
    except OSError as exc:
        raise VirtnetError('%s: %s' % (what, kernel_reason(exc)))
    if _forwarding_io(netns, dev, None, what) != bool(value):
        raise VirtnetError('%s: the kernel did not take it (read back)' % what)
    return value


def forwarding(netns, dev):
    """Whether device `dev` of netns `netns` ('' the current one) forwards IPv4 (its conf forwarding)."""
    return _forwarding_io(netns, dev, None, 'reading IPv4 forwarding of %s in %s' % (dev, ns_label(netns)))


def set_forwarding(netns, dev, value):
    """Switch IPv4 forwarding of device `dev` of netns `netns` on or off."""
    return _forwarding_io(netns, dev, bool(value), 'setting IPv4 forwarding of %s in %s to %s'
                          % (dev, ns_label(netns), 'on' if value else 'off'))
