#!/bin/sh
# shellcheck disable=SC2154  # the variables are set by udhcpc
# busybox udhcpc hook of virtnet.linux's guests (site.yml, the role tests, molecule, the qemu guest of
# the DHCP role test): the leased address on the interface and nothing else (no resolv.conf, no routes),
# and what the server sent in /run/virtnet-dhcp/NETNS.lease (NETNS: the network namespace the client
# runs in, "host" outside any named one): ip, mask, router, dns, domain, server - KEY=VALUE lines. The file
# is there exactly while the client holds a lease (deconfig - a start, a lost lease - removes it).
d=/run/virtnet-dhcp
n=$(ip netns identify 2>/dev/null)
case "$1" in
  deconfig)
    rm -f "$d/${n:-host}.lease"
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    mkdir -p "$d"
    printf 'ip=%s\nmask=%s\nrouter=%s\ndns=%s\ndomain=%s\nserver=%s\n' \
      "$ip" "$mask" "$router" "$dns" "$domain" "$serverid" > "$d/${n:-host}.lease.tmp"
    mv "$d/${n:-host}.lease.tmp" "$d/${n:-host}.lease" ;;
esac
exit 0
