# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A bounded TCP transfer for bench/vpn-throughput.sh (run as python3 FILE, inside a lab host's namespace):

  recv ADDRESS PORT        accept one connection, read until EOF, answer with the byte count, exit
  send ADDRESS PORT MIB    connect, send MIB MiB, half-close, wait for the count; print seconds, MiB and MiB/s

Both sides give up after 120 s (socket timeouts): a transfer never hangs the benchmark.
"""

from __future__ import annotations

import socket
import sys
import time

CHUNK = 1 << 16
TIMEOUT = 120


def recv(address, port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(1)
    srv.settimeout(TIMEOUT)
    conn, dummy = srv.accept()
    conn.settimeout(TIMEOUT)
    total = 0
    while True:
        data = conn.recv(CHUNK)
        if not data:
            break
        total += len(data)
    conn.sendall(b'%d\n' % total)
    conn.close()
    srv.close()


def send(address, port, mib):
    payload = b'\0' * CHUNK
    size = mib << 20
    sock = socket.create_connection((address, port), timeout=TIMEOUT)
    t0 = time.monotonic()
    sent = 0
    while sent < size:
        sock.sendall(payload)
        sent += CHUNK
    sock.shutdown(socket.SHUT_WR)
    answer = sock.recv(64)
    seconds = time.monotonic() - t0
    sock.close()
    if int(answer.strip() or 0) != size:
        sys.exit('the receiver got %s bytes, not %d' % (answer.strip().decode() or 'no answer', size))
    print('%.3f %d %.1f' % (seconds, mib, mib / seconds))


def main(argv):
    if len(argv) == 3 and argv[0] == 'recv':
        recv(argv[1], int(argv[2]))
    elif len(argv) == 4 and argv[0] == 'send':
        send(argv[1], int(argv[2]), int(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
