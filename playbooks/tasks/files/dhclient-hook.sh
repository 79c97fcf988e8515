#!/bin/sh
# shellcheck disable=SC2154  # the variables are set by dhclient
# ISC dhclient script (dhclient -sf) of virtnet.linux's test guests: the leased address on the interface
# and nothing else (never resolv.conf or the hostname), and what the server sent in
# /run/virtnet-dhcp/NETNS.lease, the same KEY=VALUE lines as udhcpc-hook.sh writes.
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT)
    ip -4 addr flush dev "$interface"
    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"
    d=/run/virtnet-dhcp
    n=$(ip netns identify 2>/dev/null)
    mkdir -p "$d"
    printf 'ip=%s\nmask=%s\nrouter=%s\ndns=%s\ndomain=%s\nserver=%s\n' "$new_ip_address" "$new_subnet_mask" \
      "$new_routers" "$new_domain_name_servers" "$new_domain_name" "$new_dhcp_server_identifier" > "$d/${n:-host}.lease.tmp"
    mv "$d/${n:-host}.lease.tmp" "$d/${n:-host}.lease" ;;
esac
exit 0
