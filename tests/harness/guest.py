# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The qemu guest of the DHCP role test: a Debian cloud kernel and a busybox initramfs, cached in DIR.

    python tests/harness/guest.py DIR        (tests/run.sh runs it outside the sandbox: it downloads)

The kernel package and busybox-static are fetched with `apt-get download` and unpacked with `dpkg -x`
(never installed). The initramfs loads virtio-net, asks for a lease with busybox udhcpc and the project's
udhcpc hook (playbooks/tasks/files/udhcpc-hook.sh), prints what the server sent as "LEASE KEY=VALUE" lines on
the console, looks up the name web1 through the server ("NAME web1 ADDRESS"), and powers off.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOOK = os.path.join(TOP, 'playbooks', 'tasks', 'files', 'udhcpc-hook.sh')
MODULES = ('virtio_net', 'virtio_pci')
INIT = r'''#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m; done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up; ip link set eth0 up
if udhcpc -i eth0 -n -q -t 10 -T 2 -s /udhcpc-hook.sh; then
  sed 's/^/LEASE /' /run/virtnet-dhcp/host.lease
  nslookup web1 "$(sed -n 's/^server=//p' /run/virtnet-dhcp/host.lease)" 2>&1 | sed -n 's/^Address: *\([0-9.]*\)$/NAME web1 \1/p' | tail -1
else echo "DHCPFAIL udhcpc"; fi
poweroff -f
'''


def stamp():
    h = hashlib.sha256()
    for p in (os.path.abspath(__file__), HOOK):
        with open(p, 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


def module_order(kernel_dir, names):
    """The .ko files of NAMES and what they depend on (from each .ko's modinfo), in load order."""
    idx = {}
    for d, _dirs, files in os.walk(kernel_dir):
        for f in files:
            if f.endswith('.ko'):
                idx[f[:-3].replace('-', '_')] = os.path.join(d, f)
    out, seen = [], set()

    def visit(n):
        if n in seen:
            return
        seen.add(n)
        with open(idx[n], 'rb') as f:
            m = re.search(rb'\x00depends=([^\x00]*)\x00', f.read())
        for dep in (m.group(1).decode().split(',') if m else []):
            if dep:
                visit(dep.replace('-', '_'))
        out.append(idx[n])
    for n in names:
        visit(n)
    return out


def build(d):
    os.makedirs(d, exist_ok=True)
    want = stamp()
    have = open(os.path.join(d, 'stamp')).read().strip() if os.path.exists(os.path.join(d, 'stamp')) else ''
    if have == want and all(os.path.exists(os.path.join(d, f)) and os.path.getsize(os.path.join(d, f)) for f in ('vmlinuz', 'initrd.gz')):
        print('guest assets cached in %s' % d)
        return
    deps = subprocess.run(['apt-cache', 'depends', 'linux-image-cloud-amd64'], capture_output=True, text=True, check=True).stdout
    m = re.search(r'Depends: (linux-image-6\S*)', deps)
    if not m:
        sys.exit('no linux-image-cloud-amd64 candidate (apt-get update?)')
    kpkg = m.group(1)
    kver = kpkg[len('linux-image-'):]
    for pkg in (kpkg, 'busybox-static'):
        if not glob.glob(os.path.join(d, pkg + '_*.deb')):
            subprocess.run(['apt-get', 'download', pkg], cwd=d, check=True, capture_output=True)
    work = tempfile.mkdtemp()
    try:
        k, bb, root = os.path.join(work, 'k'), os.path.join(work, 'bb'), os.path.join(work, 'root')
        subprocess.run(['dpkg', '-x', glob.glob(os.path.join(d, kpkg + '_*.deb'))[0], k], check=True)
        subprocess.run(['dpkg', '-x', glob.glob(os.path.join(d, 'busybox-static_*.deb'))[0], bb], check=True)
        for sub in ('bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'run', 'lib/modules'):
            os.makedirs(os.path.join(root, sub))
        busybox = os.path.join(root, 'bin', 'busybox')
        shutil.copy(os.path.join(bb, 'bin', 'busybox'), busybox)
        for applet in subprocess.run([busybox, '--list'], capture_output=True, text=True, check=True).stdout.split():
            if applet != 'busybox':
                os.symlink('busybox', os.path.join(root, 'bin', applet))
        kos = module_order(os.path.join(k, 'lib', 'modules', kver, 'kernel'), MODULES)
        for ko in kos:
            shutil.copy(ko, os.path.join(root, 'lib', 'modules'))
        with open(os.path.join(root, 'lib', 'modules', 'order'), 'w') as f:
            f.write(''.join(os.path.basename(ko) + '\n' for ko in kos))
        with open(os.path.join(root, 'init'), 'w') as f:
            f.write(INIT)
        shutil.copy(HOOK, os.path.join(root, 'udhcpc-hook.sh'))
        for f in ('init', 'udhcpc-hook.sh'):
            os.chmod(os.path.join(root, f), 0o755)
        files = subprocess.run(['find', '.'], cwd=root, capture_output=True, check=True).stdout
        cpio = subprocess.run([busybox, 'cpio', '-o', '-H', 'newc'], cwd=root, input=files, capture_output=True, check=True).stdout
        with open(os.path.join(d, 'initrd.gz.new'), 'wb') as f:
            f.write(subprocess.run(['gzip', '-1'], input=cpio, capture_output=True, check=True).stdout)
        shutil.copy(os.path.join(k, 'boot', 'vmlinuz-' + kver), os.path.join(d, 'vmlinuz.new'))
        os.rename(os.path.join(d, 'initrd.gz.new'), os.path.join(d, 'initrd.gz'))
        os.rename(os.path.join(d, 'vmlinuz.new'), os.path.join(d, 'vmlinuz'))
    finally:
        shutil.rmtree(work)
    with open(os.path.join(d, 'stamp'), 'w') as f:
        f.write(want + '\n')
    print('guest assets built in %s (%s)' % (d, kpkg))


if __name__ == '__main__':
    build(sys.argv[1])
