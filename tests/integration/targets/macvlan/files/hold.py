# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hold a macvtap's character device open like qemu does, until killed (10 minutes at most).

    python hold.py /dev/tapN PIDFILE

The pid file is written once the device is open.
"""

from __future__ import annotations

import os
import signal
import sys


def main():
    path, pidfile = sys.argv[1:3]
    fd = os.open(path, os.O_RDWR)
    with open(pidfile + '.tmp', 'w') as f:
        f.write('%d\n' % os.getpid())
    os.rename(pidfile + '.tmp', pidfile)
    signal.alarm(600)   # never outlive a failed test run by long
    while True:
        signal.pause()
    os.close(fd)


if __name__ == '__main__':
    main()
