# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""What both back ends of the daemon module share: where their files live, the /proc readers that tell
whether a process runs and what it is, and the interface (:class:`Backend`) the core drives them through.
"""

from __future__ import annotations

import os
import time

from ansible_collections.virtnet.linux.plugins.module_utils._common import NETNS_RUN_DIR

STATE_DIR = '/run/virtnet/daemon'


def default_path(name, suffix):
    return os.path.join(STATE_DIR, '%s.%s' % (name, suffix))


def remove_file(path):
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def makedirs(path, mode=0o755):
    if not os.path.isdir(path):
        os.makedirs(path, mode)


# --------------------------------------------------------------------------- processes

def proc_alive(pid):
    """True while /proc/PID exists and is not a zombie (dead but not yet reaped)."""
    if not pid or pid <= 0:
        return False
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            stat = f.read()
    except OSError:
        return False
    # pid (comm) S ...: comm may contain spaces and parentheses, the state follows the last ')'
    rest = stat[stat.rfind(b')') + 2:]
    return not rest.startswith((b'Z', b'X'))


def proc_cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:
        return None
    return [a.decode('utf-8', 'surrogateescape') for a in raw.rstrip(b'\0').split(b'\0')]


def proc_uid(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('Uid:'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _ns_id(path):
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return None


def proc_in_netns(pid, netns):
    """Whether process `pid` sits in the named namespace (or, netns '', in the module's own one)."""
    mine = _ns_id('/proc/%d/ns/net' % pid)
    want = _ns_id(os.path.join(NETNS_RUN_DIR, netns)) if netns else _ns_id('/proc/self/ns/net')
    return mine is not None and mine == want


def read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc_alive(pid):
            return True
        time.sleep(0.02)
    return not proc_alive(pid)


def file_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def lines_since(path, offset, limit=1 << 20):
    """The lines appended to `path` since byte `offset` (all of it if the file is shorter now)."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(offset if offset <= size else 0)
            data = f.read(limit)
    except OSError:
        return []
    return data.decode('utf-8', 'replace').splitlines()


def log_tail(path, lines=15):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4096))
            text = f.read().decode('utf-8', 'replace')
    except OSError:
        return ''
    return '\n'.join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- the interface

class Backend(object):
    """One way of running daemons (a systemd unit, a pid file): what the core asks of it, for the
    daemons of one task at once where the back end can do a thing for several in one call.

    `spec` is a normalised daemon spec (core.normalise); `current` what :meth:`read` returned for it.
    Every method raises VirtnetError with a message naming the daemon when it cannot do its part.
    """

    #: 'systemd' or 'pidfile', as the module's service_manager option names it
    kind = None
    #: seconds between two polls while daemons are being confirmed
    poll_interval = 0.05
    #: whether the back end can start daemons at boot (option boot); read() then says it in current['boot']
    supports_boot = False

    def __init__(self, run, switch_factory):
        self.run = run                          # run(argv) -> (rc, out, err)
        self.switch_factory = switch_factory    # netns -> a function entering it (ip netns exec)

    def describe(self, spec):
        """The result's fields that name this back end's objects (unit, or pidfile and log_file)."""
        raise NotImplementedError

    def read(self, entries):
        """[(spec, record)] -> [current]: for each daemon a dict with running, pid, exists (something of
        it is on the host: a unit, a pid file, a record), record, and when it runs: argv (when the back end
        can tell), uid, in_netns, unit_differs."""
        raise NotImplementedError

    def install(self, spec):
        """Make what starting `spec` needs that outlives the process (a unit file); True if changed.
        :meth:`sync` makes the changes known (one daemon-reload for all daemons of the task)."""
        return False

    def sync(self):
        """After installs and removals: tell the service manager once."""

    def set_boot(self, spec, on):
        """Start the daemon at boot or not (only where supports_boot); True when that changed."""
        return False

    def launch(self, specs_currents):
        """Start each [(spec, current)] (a restart when current runs); -> a token per daemon (or a
        VirtnetError instance for one that could not be launched) for :meth:`poll`."""
        raise NotImplementedError

    def poll(self, entries):
        """[(spec, token)] -> [(state, value)]: ('up', pid) once the started process runs as declared,
        ('wait', None) while it is not there yet, ('dead', message) when it died (cleaned up: stopped,
        its pid file gone)."""
        raise NotImplementedError

    def late(self, spec, token):
        """The message of a start that never came up (after start_wait plus 10 s)."""
        raise NotImplementedError

    def stop(self, spec, current):
        """Stop the process (SIGTERM, SIGKILL after stop_timeout); what was installed stays."""
        raise NotImplementedError

    def reload(self, spec, current):
        """Send reload_signal to the running process; -> its pid."""
        raise NotImplementedError

    def remove(self, spec, current):
        """Stop the process and remove what was installed for it (unit file, pid file)."""
        raise NotImplementedError

    def log_marks(self, specs):
        """Where each daemon's log ends now (before an action): a mark per spec for :meth:`logged`."""
        raise NotImplementedError

    def logged(self, entries):
        """[(spec, mark)] -> for each daemon the lines it logged since its mark."""
        raise NotImplementedError
