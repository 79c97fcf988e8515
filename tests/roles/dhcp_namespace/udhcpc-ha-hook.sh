#!/bin/sh
# shellcheck disable=SC2154  # the variables are set by udhcpc
# The guests' udhcpc hook of tests/roles/dhcp_namespace/test_dhcp_ha.py: the shared hook
# (playbooks/tasks/files/udhcpc-hook.sh, installed beside it) does the work and writes the lease record
# /run/virtnet-dhcp/NETNS.lease; this adds the MTU the server sent to it, and every event (bound, renew, nak,
# deconfig, with address and server) to /run/virtnet-dhcp/NETNS.events.
here=$(dirname "$0")
"$here/udhcpc-hook.sh" "$@"
d=/run/virtnet-dhcp
n=$(ip netns identify 2>/dev/null)
mkdir -p "$d"
case "$1" in
  bound|renew) printf 'mtu=%s\n' "$mtu" >> "$d/${n:-host}.lease" ;;
esac
printf '%s ip=%s server=%s\n' "$1" "$ip" "$serverid" >> "$d/${n:-host}.events"
exit 0
