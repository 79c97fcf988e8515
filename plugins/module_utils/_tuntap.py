# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""TUN/TAP devices: the kernel's ioctl interface, reading IFLA_TUN_* back, and comparing.

The kernel creates tun/tap devices only through ``open(/dev/net/tun)`` + ``TUNSETIFF``; the device
is born in the network namespace the *opening* process was in. pyroute2 emulates an RTM_NEWLINK
for them, but does the ioctl in the namespace the Python process is in, which is not the namespace
of a socket made by entering one (see _rtnl.in_netns): a device would land in the wrong netns.
So this file does the ioctls itself: enter the namespace only to open the file, come back, then
``TUNSETIFF`` / ``TUNSETOWNER`` / ``TUNSETGROUP`` / ``TUNSETPERSIST``.

Kernel facts this relies on (verified on 6.18):

* ``TUNSETIFF`` on an existing device attaches to it and rewrites its PI / VNET_HDR flags
  (silently, unless it is multi_queue and already attached: then nothing is rewritten);
  a different type or multi_queue flag gives EINVAL, a non-multi_queue device held by a
  process gives EBUSY, a name used by a device of another kind gives EINVAL;
* ``TUNSETOWNER`` / ``TUNSETGROUP`` cannot unset an owner (-1 gives EINVAL): only a new device
  has none;
* a tun/tap has carrier exactly while a process has it attached (IFLA_CARRIER), so "held" is
  read from the kernel; ``/proc/PID/fdinfo/FD`` has a line ``iff:\\tNAME`` per attached fd,
  which names the holders.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import struct

TUNDEV = '/dev/net/tun'

IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_MULTI_QUEUE = 0x0100
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000

MODES = {'tun': IFF_TUN, 'tap': IFF_TAP}
TUN_TYPES = {1: 'tun', 2: 'tap'}

#: the per-device settings this file reads back and compares, in display order
TUN_KEYS = ('mode', 'user', 'group', 'pi', 'vnet_hdr', 'multi_queue', 'persist')
#: settings that only a new device can change
RECREATE_KEYS = ('mode', 'multi_queue')

MAX_ID = 4294967294   # (uid_t)-1 is "no id"


def _iow(nr, size=4, machine=None):
    """_IOW('T', nr, int) for this machine's ioctl encoding."""
    machine = machine or os.uname().machine
    if machine.startswith(('ppc', 'powerpc', 'mips', 'sparc', 'alpha')):
        write, dirshift = 4, 29
    else:
        write, dirshift = 1, 30
    return (write << dirshift) | (size << 16) | (ord('T') << 8) | nr


TUNSETIFF = _iow(202)
TUNSETPERSIST = _iow(203)
TUNSETOWNER = _iow(204)
TUNSETGROUP = _iow(206)


# --------------------------------------------------------------------------- inputs

def resolve_id(value, what='user'):
    """The numeric id of a user or group given by name or number; None for '' (no owner).

    Raises ValueError with a message for the user when it cannot be resolved.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('%s must be a name or a numeric id, not %r' % (what, value))
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if text == '':
            return None
        if text.isdigit():
            number = int(text)
        elif text.startswith('-') and text[1:].isdigit():
            number = int(text)
        else:
            try:
                if what == 'user':
                    return pwd.getpwnam(text).pw_uid
                return grp.getgrnam(text).gr_gid
            except KeyError:
                raise ValueError('%s %s not found on the target (no such %s in the %s database)'
                                 % (what, text, what, 'passwd' if what == 'user' else 'group'))
    if not 0 <= number <= MAX_ID:
        raise ValueError('%s id %d out of range (0..%d)' % (what, number, MAX_ID))
    return number


def flags_for(mode, pi=False, vnet_hdr=False, multi_queue=False):
    """The ifr_flags of TUNSETIFF for these settings."""
    flags = MODES[mode]
    if not pi:
        flags |= IFF_NO_PI
    if vnet_hdr:
        flags |= IFF_VNET_HDR
    if multi_queue:
        flags |= IFF_MULTI_QUEUE
    return flags


def ifreq(name, flags):
    """A struct ifreq carrying a name and ifr_flags (40 bytes, as the kernel copies in)."""
    raw = name.encode()
    if not raw or len(raw) > 15:
        raise ValueError('invalid device name %r' % name)
    return struct.pack('16sH22x', raw, flags)


# --------------------------------------------------------------------------- reading

def tun_view(info_data):
    """The public tun settings of a device from its IFLA_INFO_DATA (plain dict of IFLA_TUN_*)."""
    data = info_data or {}

    def flag(key):
        value = data.get(key)
        return None if value is None else bool(value)

    return {
        'mode': TUN_TYPES.get(data.get('IFLA_TUN_TYPE')),
        'user': data.get('IFLA_TUN_OWNER'),
        'group': data.get('IFLA_TUN_GROUP'),
        'pi': flag('IFLA_TUN_PI'),
        'vnet_hdr': flag('IFLA_TUN_VNET_HDR'),
        'multi_queue': flag('IFLA_TUN_MULTI_QUEUE'),
        'persist': flag('IFLA_TUN_PERSIST'),
    }


def tun_differences(want, have):
    """Differences between wanted tun settings and the device's, as (key, before, after, recreate).

    `want` holds only the managed settings (user/group None = the device must have none);
    `have` is a :func:`tun_view`.
    """
    out = []
    for key in TUN_KEYS:
        if key not in want:
            continue
        after, before = want[key], have.get(key)
        if after == before:
            continue
        recreate = key in RECREATE_KEYS
        if key in ('user', 'group') and after is None:
            recreate = True     # the kernel cannot unset an owner
        out.append((key, before, after, recreate))
    return out


def fdinfo_iff(text):
    """The tun/tap name in the text of /proc/PID/fdinfo/FD, or None."""
    for line in text.splitlines():
        if line.startswith('iff:'):
            return line[4:].strip() or None
    return None


def find_holders(name, proc='/proc'):
    """[(pid, command)] of processes with a tun/tap fd attached to a device called `name`.

    The file only names the device, not its namespace: a same-named device elsewhere counts too,
    so use it to explain a device the kernel reports as held, not to decide that it is.
    """
    def attached(base, fd):
        try:
            with open(os.path.join(base, 'fdinfo', fd)) as f:
                text = f.read()
        except OSError:
            return False
        return 'iff:' in text and fdinfo_iff(text) == name
    return processes_with(attached, proc, 'fdinfo')


def processes_with(match, proc='/proc', listed='fd'):
    """[(pid, command)] of the processes with an open file descriptor for which `match(/proc/PID, FD)` is
    true (a tun/tap's holders here, a macvtap character device's in _spec.macvlan); the descriptors are
    those listed in /proc/PID/`listed` (fd or fdinfo)."""
    found = []
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        base = os.path.join(proc, pid)
        try:
            fds = os.listdir(os.path.join(base, listed))
        except OSError:
            continue
        for fd in fds:
            if match(base, fd):
                found.append((int(pid), _comm(proc, pid)))
                break
    return sorted(found)


def _comm(proc, pid):
    try:
        with open(os.path.join(proc, pid, 'comm')) as f:
            return f.read().strip()
    except OSError:
        return '?'


def holders_text(holders):
    if not holders:
        return 'a process'
    return ', '.join('pid %d (%s)' % h for h in holders)


# --------------------------------------------------------------------------- writing

class TunError(Exception):
    def __init__(self, step, err):
        super().__init__('%s: %s' % (step, os.strerror(err)))
        self.step = step
        self.errno = err


def open_tun(ns_fd=None, home_fd=None, setns=None):
    """Open /dev/net/tun as if from the namespace `ns_fd` (None: the current one)."""
    if ns_fd is None:
        return os.open(TUNDEV, os.O_RDWR | os.O_CLOEXEC)
    setns(ns_fd)
    try:
        return os.open(TUNDEV, os.O_RDWR | os.O_CLOEXEC)
    finally:
        setns(home_fd)


def tun_apply(fd, name, flags, uid=None, gid=None):
    """Attach `fd` to `name` (creating it) with `flags`, set owner/group, make it persistent.

    Persistence is set last: if an earlier step fails, closing the fd removes a new device.
    """
    steps = [('TUNSETIFF', TUNSETIFF, ifreq(name, flags))]
    if uid is not None:
        steps.append(('TUNSETOWNER', TUNSETOWNER, uid))
    if gid is not None:
        steps.append(('TUNSETGROUP', TUNSETGROUP, gid))
    steps.append(('TUNSETPERSIST', TUNSETPERSIST, 1))
    for step, request, arg in steps:
        try:
            fcntl.ioctl(fd, request, arg)
        except OSError as exc:
            raise TunError(step, exc.errno or errno.EIO)


def tun_error_text(exc, existing):
    """A user-facing explanation of a TunError."""
    code = exc.errno
    if code == errno.EBUSY:
        return 'the device is held open by a process'
    if code == errno.EINVAL and exc.step == 'TUNSETIFF':
        if existing:
            return 'the kernel refused to attach to it (its mode or multi_queue differs)'
        return 'the kernel refused to create it (the name may be used by a device of another kind)'
    if code in (errno.EPERM, errno.EACCES):
        return 'operation not permitted (%s needs root or CAP_NET_ADMIN)' % exc.step
    return '%s failed: %s' % (exc.step, os.strerror(code))
