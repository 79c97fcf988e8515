# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""What every module needs and that does not need pyroute2: the error classes, names and MAC addresses
and their validation, namespaces by name (never created by a lookup), setns/unshare/mount, and the one
translation of the kernel's refusals (errno and extended ack) into messages: kernel_error; and the one lock
loop (hold_lock) of the host lock and the daemon locks.

Modules that do not talk to the kernel through pyroute2 (netns, netns_exec, link_info) import only
this, so they do not pay pyroute2's import (about 0.1 s a task, BENCHMARKS.md). _pyroute2 (imported on first use) holds the rest.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import time

NETNS_RUN_DIR = '/run/netns'
NETNS_ETC_DIR = '/etc/netns'
IFNAMSIZ = 16
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
IFF_UP = 0x1

_LIBC = None


class VirtnetError(Exception):
    """An error with a message meant for the user (goes straight into fail_json)."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class NetnsNotFound(VirtnetError):
    pass


class LinkNotFound(VirtnetError):
    pass


class ObjectExists(VirtnetError):
    pass


def libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, '%s: %s' % (what, os.strerror(err)))


def setns(fd, nstype=CLONE_NEWNET):
    _check(libc().setns(fd, nstype), 'setns')


def unshare(flags):
    _check(libc().unshare(flags), 'unshare')


def call_in_netns(name, func, home_fd):
    """func() run inside namespace `name` ('' = where this thread is), then back to `home_fd`.

    For opening sockets: a socket stays bound to the namespace it was created in. Nothing is created
    by entering: a missing namespace is NetnsNotFound.
    """
    if not name:
        return func()
    fd = open_netns_fd(name)
    try:
        setns(fd)
        try:
            return func()
        finally:
            setns(home_fd)
    finally:
        os.close(fd)


def mount(source, target, fstype, flags, data=None):
    _check(libc().mount(_b(source), _b(target), _b(fstype), flags, _b(data) if data else None),
           'mount %s' % target)


def umount2(target, flags):
    return libc().umount2(_b(target), flags)


def _b(value):
    return value.encode() if isinstance(value, str) else value


# --------------------------------------------------------------------------- names

def ns_label(netns):
    """How a namespace is named in messages."""
    return 'netns %s' % netns if netns else 'the default netns'


def _bad_char(name):
    """A description of the first character no name may hold (NUL, control characters), or None."""
    for ch in name:
        if ch == '\0':
            return 'must not contain a NUL byte'
        if ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 or ch in '\u2028\u2029':
            return 'must not contain control characters (found %r)' % ch
    return None


def validate_netns_name(name, what='netns name', template_ok=False):
    """Return an error message for a name that is not a plain file name in /run/netns, else None.

    Control characters (a newline makes `ip netns list` show two names) and, unless `template_ok`,
    '%' are refused as well: a name is a name, never a template.
    """
    if not isinstance(name, str) or name == '':
        return '%s must not be empty' % what
    bad = _bad_char(name)
    if bad:
        return 'invalid %s %r: %s' % (what, name, bad)
    if name in ('.', '..'):
        return 'invalid %s %r: "." and ".." are not namespace names' % (what, name)
    if '/' in name:
        return 'invalid %s %r: must be a plain file name (no "/")' % (what, name)
    if '%' in name and not template_ok:
        return 'invalid %s %r: must not contain "%%"' % (what, name)
    if len(name.encode()) > 255:
        return 'invalid %s %r: longer than 255 bytes' % (what, name)
    return None


def validate_ifname(name, what='interface name'):
    """Mirror the kernel's dev_valid_name(): 1..15 bytes, not . or .., no '/', ':' or whitespace.

    Stricter than the kernel: '%' is refused (the kernel reads a name with '%d' as a template and
    picks a free number, so the device made would not have the name asked for), and so is every
    control character.
    """
    if not isinstance(name, str) or name == '':
        return '%s must not be empty' % what
    bad = _bad_char(name)
    if bad:
        return 'invalid %s %r: %s' % (what, name, bad)
    if len(name.encode()) >= IFNAMSIZ:
        return 'invalid %s %r: longer than %d characters' % (what, name, IFNAMSIZ - 1)
    if name in ('.', '..'):
        return 'invalid %s %r' % (what, name)
    for ch in name:
        if ch in '/:' or ch.isspace():
            return 'invalid %s %r: must not contain "/", ":" or whitespace' % (what, name)
        if ch == '%':
            return ('invalid %s %r: must not contain "%%" (the kernel would take it as a name template '
                    'and pick a number)' % (what, name))
    return None


def netns_path(name):
    return os.path.join(NETNS_RUN_DIR, name)


def netns_exists(name):
    """Exact-name existence test of a named namespace (a bind-mounted nsfs file)."""
    path = netns_path(name)
    if not os.path.isfile(path):
        return False
    # A stale file whose bind mount is gone is not a namespace (ip netns add left halfway).
    try:
        return os.stat(path).st_dev != os.stat(NETNS_RUN_DIR).st_dev
    except OSError:
        return False


def list_netns():
    try:
        names = os.listdir(NETNS_RUN_DIR)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in names if netns_exists(n))


def open_netns_fd(name):
    """An O_RDONLY fd of /run/netns/NAME; NetnsNotFound if it does not exist. Never creates."""
    if not name:
        return os.open('/proc/thread-self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
    err = validate_netns_name(name)
    if err:
        raise VirtnetError(err)
    if not netns_exists(name):
        raise NetnsNotFound('netns %s not found (no %s)' % (name, netns_path(name)), netns=name)
    return os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)


# --------------------------------------------------------------------------- errors

_ERRNO_TEXT = {
    errno.ENODEV: 'not found',
    errno.EEXIST: 'already exists',
    errno.EPERM: 'operation not permitted (needs root or CAP_NET_ADMIN)',
    errno.EACCES: 'permission denied (needs root or CAP_NET_ADMIN)',
    errno.EOPNOTSUPP: 'not supported by this kernel',
    errno.EBUSY: 'device or resource busy (a process holds it open)',
    errno.ELOOP: 'would create a loop (a bridge cannot be a port of itself or of its own port)',
    errno.ENETUNREACH: 'network unreachable (gateway not on a connected subnet)',
    errno.EINVAL: 'invalid argument (rejected by the kernel)',
    errno.ERANGE: 'value out of range',
    errno.EADDRNOTAVAIL: 'address not available',
    errno.ESRCH: 'no such object',
    errno.ENOENT: 'no such object',
    errno.ENOSPC: 'no space left (limit reached)',
    errno.EMLINK: 'too many links',
}


def errno_text(code):
    return _ERRNO_TEXT.get(code) or os.strerror(code)


def error_code(exc):
    """The errno of a refusal: pyroute2's NetlinkError and the raw layer's RtnlError carry it as `code`,
    an OSError as `errno`; 0 when there is none."""
    return getattr(exc, 'code', None) or getattr(exc, 'errno', None) or 0


def kernel_message(exc):
    """The extended-ack text pyroute2 put into a NetlinkError, when it says more than strerror."""
    args = getattr(exc, 'args', ())
    code = getattr(exc, 'code', None)
    if len(args) > 1 and isinstance(args[1], str):
        text = args[1].strip()
        if text and (code is None or text != os.strerror(code)):
            return text
    return None


def kernel_reason(exc, hint=None, kernel_first=False):
    """Why the kernel refused a request, in words for the user.

    The errno's text (errno_text), followed by the kernel's extended-ack message when it sent one:
    'already exists (kernel: ...)'. The raw layer's RtnlError carries the message as `extack`.

    `kernel_first` (address and route, through pyroute2, whose NetlinkError carries the message as
    its second argument): the kernel's message is the reason and the errno's name follows it, as in
    'IPv6 is disabled on this device (EACCES)'; it is more precise than the errno.

    `hint` (what the module knows the errno means here) replaces the errno's text.
    """
    code = error_code(exc)
    extack = kernel_message(exc) if kernel_first else getattr(exc, 'extack', None)
    if hint:
        return hint + (' (kernel: %s)' % extack if extack else '')
    if extack and kernel_first:
        return '%s (%s)' % (extack, errno.errorcode.get(code, code)) if code else extack
    if extack:
        return '%s (kernel: %s)' % (errno_text(code), extack)
    return errno_text(code) if code else str(exc)


def kernel_error(exc, what, netns=None, hint=None, kernel_first=False):
    """The one translation of a kernel's refusal (errno and extended ack) raised while doing `what` in
    `netns` into a VirtnetError: 'WHAT in NETNS: REASON' (see kernel_reason). LinkNotFound for ENODEV,
    ObjectExists for EEXIST; the errno is in its details."""
    code = error_code(exc)
    msg = '%s in %s: %s' % (what, ns_label(netns), kernel_reason(exc, hint, kernel_first))
    cls = VirtnetError
    if code == errno.ENODEV:
        cls = LinkNotFound
    elif code == errno.EEXIST:
        cls = ObjectExists
    return cls(msg, errno=code)


# --------------------------------------------------------------------------- MAC addresses

_MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')


def normalise_mac(value):
    if value is None:
        return None
    mac = str(value).strip().lower().replace('-', ':')
    return mac


def mac_error(value, what='address'):
    if value is None:
        return None
    if not _MAC_RE.match(normalise_mac(value)):
        return 'invalid %s %r: expected a MAC address like 02:00:00:00:00:01' % (what, value)
    if int(normalise_mac(value)[:2], 16) & 1:
        return 'invalid %s %r: a multicast MAC cannot be a device address' % (what, value)
    return None


# --------------------------------------------------------------------------- locks

def lock_holders(fd, path, proc='/proc'):
    """'pid N (cmdline)' of the processes holding a lock on the open file `fd`, from /proc/locks;
    else what the holder wrote into the file."""
    st = os.fstat(fd)
    ident = '%02x:%02x:%d' % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    pids = []
    try:
        with open(os.path.join(proc, 'locks')) as f:
            for line in f:
                fields = line.split()
                # 1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF   (blocked waiters have a '->' field)
                if '->' in fields or len(fields) < 6 or fields[1] != 'FLOCK':
                    continue
                if fields[5] == ident and fields[4].isdigit():
                    pids.append(int(fields[4]))
    except OSError:
        pass
    if not pids:
        try:
            with open(path) as f:
                text = f.read(200).split()
            if text and text[0].isdigit():
                pids.append(int(text[0]))
        except OSError:
            pass
    return ', '.join('pid %d (%s)' % (pid, _cmdline(pid, proc)) for pid in sorted(set(pids))) or 'an unknown process'


def hold_lock(fd, path, timeout, poll=0.02):
    """Take an exclusive flock on `fd` (the open lock file `path`), waiting `timeout` seconds at most,
    and write this process's pid into the file (for the message of a task that times out waiting).

    The one lock loop of the collection (the host lock of the engine, the lock of each daemon).
    Returns None once the lock is held; after the timeout, who holds it (lock_holders), the lock not
    taken and `fd` left open.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return lock_holders(fd, path)
            time.sleep(poll)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, ('%d\n' % os.getpid()).encode(), 0)
    except OSError:
        pass
    return None


def _cmdline(pid, proc='/proc'):
    try:
        with open(os.path.join(proc, str(pid), 'cmdline'), 'rb') as f:
            raw = f.read(400)
    except OSError:
        return 'gone'
    return raw.replace(b'\0', b' ').decode('utf-8', 'replace').strip() or '?'


# --------------------------------------------------------------------------- option types

#: options (at the top and in a batch's elements) that hold a name, or a list of names
NAME_OPTIONS = frozenset(('name', 'names', 'netns', 'master', 'peer', 'peer_netns', 'peer_master', 'dev',
                          'link', 'link_netns', 'ports', 'links', 'kinds'))


def coercion_error(value):
    """Why `value`, given for a name, is no name (it is a list, dict, bool or float), else None.

    Ansible's ``type='str'`` turns a list into the text "['x']" (``name: [x]`` where ``names: [x]``
    was meant would make a device or namespace literally called ['x']), a bool into "True".
    An integer is taken as its digits.
    """
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    kind = ('a list' if isinstance(value, (list, tuple, set)) else 'a dict' if isinstance(value, dict)
            else 'a boolean' if isinstance(value, bool) else 'a %s' % type(value).__name__)
    return 'must be a string, not %s (%r); quote it if it is meant literally' % (kind, value)


def coerced_names(spec, raw, where=''):
    """Messages for the name options of `raw` (the task's arguments as sent) that are no strings."""
    errors = []
    if not isinstance(raw, dict):
        return errors
    for key, opts in spec.items():
        value = raw.get(key)
        if value is None:
            continue
        if key in NAME_OPTIONS:
            if opts.get('type') == 'list':
                values = value if isinstance(value, list) else [value]
                for pos, element in enumerate(values):
                    err = coercion_error(element)
                    if err:
                        errors.append('%s%s[%d] %s' % (where, key, pos, err))
            else:
                err = coercion_error(value)
                if err:
                    errors.append('%s%s %s' % (where, key, err))
        elif opts.get('options') and isinstance(value, list):
            for pos, element in enumerate(value):
                errors.extend(coerced_names(opts['options'], element, '%s%s[%d].' % (where, key, pos)))
    return errors


def refuse_coerced_names(module):
    """Fail the module when a name option was given as a list, dict, bool or float (see coercion_error).

    AnsibleModule has already turned such a value into text by then: the arguments as sent are read
    again to tell.
    """
    from ansible.module_utils.basic import _load_params
    try:
        raw = _load_params()
    except Exception:  # pylint: disable=broad-except
        return
    errors = coerced_names(module.argument_spec, raw)
    if errors:
        module.fail_json(msg='; '.join(errors))
