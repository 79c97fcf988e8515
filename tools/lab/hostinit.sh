#!/usr/bin/env bash
# hostinit.sh ROOT NAME — PID 1 of a plain lab host (started by tools/lab.sh in the host's own network,
# mount, UTS and PID namespaces). ROOT is the host's root, already an overlay of / mounted by lab.sh.
# Gives the host its own /proc, /sys, /dev, an empty /run (runtime state does not survive a "reboot"),
# its hostname, then pivot_root (not chroot: nsenter and copies must not land in the machine's /) and
# becomes sshd. sshd as PID 1 reaps orphaned processes (its SIGCHLD handler waits for any child), so
# daemons Ansible starts on the host are reaped when they end: no extra init needed.
set -euo pipefail
R=$1 name=$2
# Guard: everything below mounts under ROOT, which must be the host's overlay (never the machine's /).
{ mountpoint -q "$R" && [ "$(stat -fc %T "$R")" = overlayfs ]; } || { echo "not an overlay: $R" >&2; exit 1; }
hostname "$name"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"          # this network namespace's /sys/class/net
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
mkdir -p "$R/run/sshd" "$R/run/netns" "$R/run/lock"
mkdir -p "$R/.oldroot"
cd "$R"
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot 2>/dev/null || true
exec /usr/sbin/sshd -D -e
