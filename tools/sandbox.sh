#!/usr/bin/env bash
# sandbox.sh COMMAND... — runs COMMAND in a throwaway network + mount namespace with private
# /run/netns, /etc/netns, /run/virtnet (the daemon module's records) and /run/virtnet.linux (the
# modules' host lock). Links, namespaces and /etc/netns files made inside vanish when it ends;
# the machine's own interfaces, routes and namespaces are never touched.
exec unshare --net --mount bash -c '
  mount --make-rprivate / && mkdir -p /run/netns /etc/netns &&
  mount -t tmpfs tmpfs /run/netns && mount -t tmpfs tmpfs /etc/netns &&
  mkdir -p /run/virtnet && mount -t tmpfs tmpfs /run/virtnet &&
  mkdir -m 0700 -p /run/virtnet.linux && mount -t tmpfs -o mode=0700 tmpfs /run/virtnet.linux &&
  ip link set lo up && exec "$@"' sandbox "$@"
