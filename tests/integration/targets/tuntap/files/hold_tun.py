# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hold a tun/tap device open like a VPN daemon or qemu does, until killed.

    python hold_tun.py NAME FLAGS PIDFILE      (FLAGS: comma-separated, e.g. tap,vnet_hdr or tun,pi)

The flags must match the device's own (TUNSETIFF rewrites pi/vnet_hdr of the device it attaches to).
The pid file is written once the device is attached.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import sys

FLAGS = {'tun': 0x0001, 'tap': 0x0002, 'multi_queue': 0x0100, 'vnet_hdr': 0x4000}
NO_PI = 0x1000
TUNSETIFF = 0x400454ca


def main():
    name, spec, pidfile = sys.argv[1:4]
    words = spec.split(',')
    flags = 0 if 'pi' in words else NO_PI
    for word in words:
        flags |= FLAGS.get(word, 0)
    fd = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH22x', name.encode(), flags))
    with open(pidfile + '.tmp', 'w') as f:
        f.write('%d\n' % os.getpid())
    os.rename(pidfile + '.tmp', pidfile)
    signal.alarm(600)   # never outlive a failed test run by long
    while True:
        signal.pause()


if __name__ == '__main__':
    main()
