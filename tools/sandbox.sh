#!/usr/bin/env bash
# sandbox.sh [--pid] COMMAND... — runs COMMAND in a throwaway network + mount namespace with private
# /run/netns, /etc/netns, /run/virtnet (the daemon module's records) and /run/virtnet.linux (the
# modules' host lock). Links, namespaces and /etc/netns files made inside vanish when it ends; the
# machine's own interfaces, routes and namespaces are never touched.
#   --pid  also a PID namespace of its own (with its own /proc): what the lab (tools/lab.sh) needs.
#          Every process started inside is killed when COMMAND ends (or when the sandbox is killed);
#          a bash stays PID 1 and reaps the processes that lose their parent (lab hosts, daemons).
# Inside, VIRTNET_SANDBOX names the sandbox's namespaces (tools/lab.sh refuses to run elsewhere).
if [ "${1:-}" = --pid ]; then
  shift
  # shellcheck disable=SC2016  # the script is expanded by the inner bash
  exec unshare --net --mount --pid --fork --kill-child --mount-proc bash -c '
    mount --make-rprivate / && mkdir -p /run/netns /etc/netns &&
    mount -t tmpfs tmpfs /run/netns && mount -t tmpfs tmpfs /etc/netns &&
    mkdir -p /run/virtnet && mount -t tmpfs tmpfs /run/virtnet &&
    mkdir -m 0700 -p /run/virtnet.linux && mount -t tmpfs -o mode=0700 tmpfs /run/virtnet.linux &&
    ip link set lo up || exit 1
    VIRTNET_SANDBOX=$(readlink /proc/self/ns/net)/$(readlink /proc/self/ns/pid); export VIRTNET_SANDBOX
    "$@"; rc=$?     # not exec: this bash stays PID 1 and reaps every child, adopted ones too
    exit "$rc"' sandbox "$@"
fi
# shellcheck disable=SC2016  # the script is expanded by the inner bash
exec unshare --net --mount bash -c '
  mount --make-rprivate / && mkdir -p /run/netns /etc/netns &&
  mount -t tmpfs tmpfs /run/netns && mount -t tmpfs tmpfs /etc/netns &&
  mkdir -p /run/virtnet && mount -t tmpfs tmpfs /run/virtnet &&
  mkdir -m 0700 -p /run/virtnet.linux && mount -t tmpfs -o mode=0700 tmpfs /run/virtnet.linux &&
  ip link set lo up && VIRTNET_SANDBOX=$(readlink /proc/self/ns/net) && export VIRTNET_SANDBOX && exec "$@"' sandbox "$@"
