#!/usr/bin/env bash
# The dhcp_namespace role's test body; runs INSIDE the sandbox and a private PID namespace (see run.sh).
# shellcheck disable=SC2016  # the bash -c bodies are single-quoted on purpose (expanded by that bash)
set -uo pipefail
top=$1
here=$top/tests/roles/dhcp_namespace
W=$(mktemp -d /tmp/dhcp-ns-test.XXXXXX)
chmod 755 "$W"    # dnsmasq re-reads its files as an unprivileged user (nobody)
SD=$W/state
export ANSIBLE_COLLECTIONS_PATH=$top/build/collections ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=false
export ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_RETRY_FILES_ENABLED=false
export ANSIBLE_PYTHON_INTERPRETER=$top/.venv/bin/python
fails=0 passes=0
cleanup() { rm -rf "$W"; }
trap cleanup EXIT

ok() { passes=$((passes + 1)); echo "ok   - $*"; }
bad() { fails=$((fails + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# converge VARSFILE [ansible-playbook args...]: sets RC, CHANGED (from the recap), OUT (the log file)
run=0
converge() {
  local vars=$1; shift
  run=$((run + 1)); OUT=$W/run$run.log
  "$top/.venv/bin/ansible-playbook" -i localhost, -c local -e dhcp_namespace_state_dir="$SD" \
    -e dhcp_namespace_install_packages=false -e @"$vars" "$@" "$here/converge.yml" > "$OUT" 2>&1
  RC=$?
  CHANGED=$(sed -n 's/^localhost *:.* changed=\([0-9]*\).*/\1/p' "$OUT" | tail -1)
  CHANGED=${CHANGED:-x}
  echo "     converge #$run $(basename "$vars") $* -> rc=$RC changed=$CHANGED"
}
changed_ok() { [ "$RC" -eq 0 ] && [ "$CHANGED" != 0 ] && [ "$CHANGED" != x ]; }
unchanged_ok() { [ "$RC" -eq 0 ] && [ "$CHANGED" = 0 ]; }
dpid() { cat "$SD/$1/dnsmasq.pid" 2>/dev/null; }
alive() { [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q "dnsmasq --keep-in-foreground --conf-file=$SD/$2/dnsmasq.conf"; }
snapshot() { { ip -br link; ip netns list; ls -R "$W/state" 2>/dev/null; for n in $(ip netns list | cut -d' ' -f1); do ip -n "$n" -br addr; done; cat "$SD"/*/*.conf "$SD"/*/hosts "$SD"/*/opts 2>/dev/null; } | sort; }
in_range() { local a=${1##*.} p=${1%.*}; [ "$p" = "$2" ] && [ "$a" -ge "$3" ] && [ "$a" -le "$4" ]; }

# A guest: namespace $2 whose eth0 (MAC $3) is a veth whose other end g-$2 is a port of brq$1.
guest() {
  ip netns add "$2"
  ip link add "g-$2" type veth peer name eth0 netns "$2"
  ip link set "g-$2" master "brq$1" up
  ip -n "$2" link set eth0 address "$3" up
  mkdir -p "/etc/netns/$2" && : > "/etc/netns/$2/resolv.conf"
}
# dhclient (ISC) in guest $1, once, with a script that records what the server sent (never touches
# resolv.conf or the hostname); the client is stopped afterwards by the pids of its namespace.
dhclient_lease() {
  rm -f "$W/$1.env"
  ip netns exec "$1" unshare --uts timeout 30 dhclient -4 -1 -sf "$W/dhclient-hook.sh" -lf "$W/$1.dhclient.leases" \
    -pf "$W/$1.dhclient.pid" eth0 > "$W/$1.dhclient.log" 2>&1
  local rc=$?
  for p in $(ip netns pids "$1"); do kill "$p" 2>/dev/null; done
  return $rc
}
udhcpc_lease() {
  rm -f "$W/$1.env"
  ip netns exec "$1" timeout 30 busybox udhcpc -i eth0 -n -q -t 5 -T 1 -s "$W/udhcpc-hook.sh" > "$W/$1.udhcpc.log" 2>&1
}
envval() { sed -n "s/^$2=//p" "$W/$1.env" 2>/dev/null | tail -1; }

cat > "$W/dhclient-hook.sh" <<EOF
#!/bin/sh
case "\$reason" in BOUND|RENEW|REBOOT|REBIND)
  ip addr add "\$new_ip_address/\$new_subnet_mask" dev "\$interface" 2>/dev/null
  { echo "ip=\$new_ip_address"; echo "router=\$new_routers"; echo "dns=\$new_domain_name_servers";
    echo "domain=\$new_domain_name"; echo "server=\$new_dhcp_server_identifier"; } > "$W/\$(ip netns identify).env" ;;
esac
exit 0
EOF
cat > "$W/udhcpc-hook.sh" <<EOF
#!/bin/sh
case "\$1" in
  deconfig) ip addr flush dev "\$interface"; ip link set "\$interface" up ;;
  bound|renew) ip addr add "\$ip/\$mask" dev "\$interface"
    { echo "ip=\$ip"; echo "router=\$router"; echo "dns=\$dns"; echo "domain=\$domain"; echo "server=\$serverid"; } > "$W/\$(ip netns identify).env" ;;
esac
exit 0
EOF
chmod +x "$W/dhclient-hook.sh" "$W/udhcpc-hook.sh"

# ---------------------------------------------------------------- inputs
two=$W/two.yml
cat > "$two" <<'EOF'
dhcp_namespace_networks:
  - id: "42"
    subnet: 10.42.0.0/24
    range_start: 10.42.0.100
    range_end: 10.42.0.199
    router: 10.42.0.1
    domain: net42.example
    lease_time: 10m
    hosts:
      - {mac: "52:54:00:00:42:10", ip: 10.42.0.10, name: web1}
  - id: "43"
    subnet: 10.43.0.0/24
    range_start: 10.43.0.50
    range_end: 10.43.0.60
    server_address: 10.43.0.254
    dns: false
EOF
hosts_changed=$W/hosts.yml      # 42: one more static host (SIGHUP)
sed 's/      - {mac: "52:54:00:00:42:10", ip: 10.42.0.10, name: web1}/&\n      - {mac: "52:54:00:00:42:11", ip: 10.42.0.11, name: web2}/' "$two" > "$hosts_changed"
range_changed=$W/range.yml      # 42: another range (restart)
sed 's/range_end: 10.42.0.199/range_end: 10.42.0.189/' "$hosts_changed" > "$range_changed"
uplinked=$W/uplink.yml          # 42: an uplink NIC on its bridge
sed 's/    lease_time: 10m/&\n    uplink: upl42/' "$range_changed" > "$uplinked"
absent43=$W/absent43.yml
sed 's/    dns: false/&\n    state: absent/' "$uplinked" > "$absent43"
purge=$W/purge.yml
printf 'dhcp_namespace_networks: []\ndhcp_namespace_purge: true\n' > "$purge"

echo "== bad inputs fail naming the network, and change nothing (one converge, every problem reported)"
before=$(snapshot)
cat > "$W/bad.yml" <<'EOB'
dhcp_namespace_networks:
  - {id: abcdefghijkl, subnet: 10.1.0.0/24, range_start: 10.1.0.100, range_end: 10.1.0.199}
  - {id: Net1, subnet: 10.1.0.0/24, range_start: 10.1.0.100, range_end: 10.1.0.199}
  - {id: "7", subnet: 10.7.0.0/24, range_start: 10.7.0.100, range_end: 10.8.0.199}
  - {id: "8", subnet: 10.8.0.0/24, range_start: 10.8.0.199, range_end: 10.8.0.100}
  - {id: "9", subnet: 10.9.0.0/24, range_start: 10.9.0.100, range_end: 10.9.0.199, server_address: 10.9.0.150}
  - {id: "10", subnet: 10.10.0.0/24, range_start: 10.10.0.100, range_end: 10.10.0.199, router: 10.99.0.1}
  - {id: "11", subnet: 10.11.0.1/24, range_start: 10.11.0.100, range_end: 10.11.0.199}
  - {id: "12", subnet: 10.12.0.0/24, range_start: 10.12.0.100, range_end: 10.12.0.199}
  - {id: "12", subnet: 10.12.0.0/24, range_start: 10.12.0.100, range_end: 10.12.0.199}
  - {id: "13", subnet: 10.13.0.0/24, range_start: 10.13.0.100, range_end: 10.13.0.199, hosts: [{mac: "52:54:00:00:13:10", ip: 10.13.0.10}, {mac: "52:54:00:00:13:11", ip: 10.13.0.10}]}
  - {id: "14", subnet: 10.14.0.0/24, range_start: 10.14.0.100, range_end: 10.14.0.199, hosts: [{mac: "52:54:00:00:14", ip: 10.14.0.10}]}
  - {id: "15", subnet: 10.15.0.0/24, range_start: 10.15.0.100, range_end: 10.15.0.199, hosts: [{mac: "52:54:00:00:15:10", ip: 10.15.0.1}]}
  - {id: "16", range_start: 10.16.0.100, range_end: 10.16.0.199}
  - {id: "17", subnet: 10.17.0.0/24, range_start: 10.17.0.100, range_end: 10.17.0.199, lease_time: 12 hours}
  - {id: "18", subnet: 10.18.0.0/24, range_start: 10.18.0.100, range_end: 10.18.0.199, state: gone}
  - {id: "19", subnet: 10.19.0.0/24, range_start: 10.19.0.100, range_end: 10.19.0.199, uplink: upl42}
  - {id: "20", subnet: 10.20.0.0/24, range_start: 10.20.0.100, range_end: 10.20.0.199, uplink: upl42}
EOB
converge "$W/bad.yml"
check "bad input: the run fails" [ "$RC" -ne 0 ]
badmsg() { if grep -qF -- "$2" "$OUT"; then ok "bad input refused: $1"; else bad "bad input $1 (wanted '$2')"; fi; }
badmsg "id too long" "network abcdefghijkl: id 'abcdefghijkl' must be 1 to 11 characters"
badmsg "id with capitals" "network Net1: id 'Net1' must be 1 to 11"
badmsg "range outside subnet" "network 7: range_end 10.8.0.199 is not a host address of subnet 10.7.0.0/24"
badmsg "range reversed" "network 8: range_start 10.8.0.199 is after range_end 10.8.0.100"
badmsg "server in range" "network 9: server_address 10.9.0.150 is inside the dynamic range"
badmsg "router outside subnet" "network 10: router 10.99.0.1 is not a host address"
badmsg "host bits in subnet" "network 11: subnet 10.11.0.1/24 has host bits set"
badmsg "duplicate id" "network 12: id 12 is used twice"
badmsg "host IP twice" "network 13: host 52:54:00:00:13:11: ip 10.13.0.10 is already used by host 52:54:00:00:13:10"
badmsg "bad MAC" "network 14: hosts[0]: mac '52:54:00:00:14' is not a MAC address"
badmsg "host on the (default) server address" "network 15: host 52:54:00:00:15:10: ip 10.15.0.1 is the server's address"
badmsg "missing subnet" "network 16: subnet is required"
badmsg "bad lease time" "network 17: lease_time '12 hours' is not dnsmasq's form"
badmsg "bad state" "network 18: state must be present or absent, not 'gone'"
badmsg "one uplink for two networks" "network 20: uplink upl42 is already the uplink of network 19"
check "bad inputs changed nothing (no link, namespace or file)" [ "$before" = "$(snapshot)" ]

echo "== rhythm: check mode first, apply, apply again"
converge "$two" --check
check "check mode on a fresh host reports changes" changed_ok
check "check mode made nothing" [ "$before" = "$(snapshot)" ]
converge "$two"
check "first apply changes" changed_ok
[ "$RC" -eq 0 ] || { sed -n '/fatal/,+5p' "$OUT"; }
converge "$two"
check "second apply changes nothing" unchanged_ok
converge "$two" --check
check "check mode on a converged host reports nothing" unchanged_ok
check "bridges, namespaces, veth ends and server addresses exist" bash -c '
  ip link show brq42 >/dev/null && ip link show brq43 >/dev/null &&
  [ "$(ip -o link show tap42 | grep -o "master [^ ]*")" = "master brq42" ] &&
  ip -n qdhcp-42 -br addr show ns-42 | grep -q "10.42.0.2/24" && ip -n qdhcp-43 -br addr show ns-43 | grep -q "10.43.0.254/24"'
P42=$(dpid 42) P43=$(dpid 43)
check "one dnsmasq per network, each in its own namespace" bash -c "
  [ \"\$(stat -L -c %i /proc/$P42/ns/net)\" = \"\$(stat -L -c %i /run/netns/qdhcp-42)\" ] &&
  [ \"\$(stat -L -c %i /proc/$P43/ns/net)\" = \"\$(stat -L -c %i /run/netns/qdhcp-43)\" ]"
check "dnsmasq listens only on its ns-<id> address (DHCP 67 on ns-42, DNS 53 only on 10.42.0.2)" bash -c '
  s=$(ip netns exec qdhcp-42 ss -lnup); echo "$s" | grep -q "%ns-42:67 " || echo "$s" | grep -q "0.0.0.0%ns-42:67";
  ! echo "$s" | grep ":53 " | grep -v "10.42.0.2:53 " | grep -v "\[fe80" | grep -q . '
check "network 43 has DNS off (nothing on port 53)" bash -c '! ip netns exec qdhcp-43 ss -lnu | grep -q ":53 "'
check "the host namespace has no DHCP or DNS socket" bash -c '! ss -lnu | grep -Eq ":(67|53) "'

echo "== real clients"
guest 42 g42a 52:54:00:aa:42:01; guest 42 g42b 52:54:00:aa:42:02; guest 42 g42s 52:54:00:00:42:10
guest 43 g43a 52:54:00:aa:43:01
check "dhclient on brq42 gets a lease" dhclient_lease g42a
check "dhclient's lease is in 42's range" in_range "$(envval g42a ip)" 10.42.0 100 199
check "dhclient got router 10.42.0.1, DNS 10.42.0.2, domain net42.example" bash -c \
  "[ '$(envval g42a router)' = 10.42.0.1 ] && [ '$(envval g42a dns)' = 10.42.0.2 ] && [ '$(envval g42a domain)' = net42.example ]"
check "busybox udhcpc on brq42 gets a lease" udhcpc_lease g42b
check "udhcpc's lease is in 42's range" in_range "$(envval g42b ip)" 10.42.0 100 199
check "udhcpc got router, DNS server and domain" bash -c \
  "[ '$(envval g42b router)' = 10.42.0.1 ] && [ '$(envval g42b dns)' = 10.42.0.2 ] && [ '$(envval g42b domain)' = net42.example ]"
check "the static host's MAC gets its reserved address 10.42.0.10" bash -c "$(declare -f udhcpc_lease envval); W=$W; udhcpc_lease g42s && [ \"\$(envval g42s ip)\" = 10.42.0.10 ]"
check "udhcpc on brq43 gets a lease from 43's server only" bash -c "$(declare -f udhcpc_lease envval in_range); W=$W; udhcpc_lease g43a &&
  in_range \"\$(envval g43a ip)\" 10.43.0 50 60 && [ \"\$(envval g43a server)\" = 10.43.0.254 ]"
check "network 43 announces no router and no DNS server" bash -c "[ -z '$(envval g43a router)' ] && [ -z '$(envval g43a dns)' ]"
check "isolation: 42's leases hold only 42's guests, 43's only 43's" bash -c "
  grep -q 52:54:00:aa:42:01 $SD/42/leases && grep -q 52:54:00:aa:42:02 $SD/42/leases && ! grep -q 52:54:00:aa:43 $SD/42/leases &&
  grep -q 52:54:00:aa:43:01 $SD/43/leases && ! grep -q 52:54:00:aa:42 $SD/43/leases && ! grep -q 52:54:00:00:42:10 $SD/43/leases"
check "isolation: a guest of 43 cannot reach 42's server" bash -c '! ip netns exec g43a ping -c1 -W1 10.42.0.2 >/dev/null 2>&1'
check "web1 resolves through the server's address (short name)" bash -c \
  'ip netns exec g42b busybox nslookup web1 10.42.0.2 2>&1 | grep -q "10.42.0.10"'
check "web1.net42.example resolves through the server's address" bash -c \
  'ip netns exec g42b busybox nslookup web1.net42.example 10.42.0.2 2>&1 | grep -q "10.42.0.10"'
check "not an open resolver: an outside name gets no answer" bash -c \
  '! ip netns exec g42b timeout 10 busybox nslookup example.com 10.42.0.2 2>&1 | grep -Eq "^Address: *[0-9.]+$" '
leases42=$(grep -c . "$SD/42/leases")

echo "== changes: SIGHUP for hosts, restart for the range; only the changed network is touched"
converge "$hosts_changed" --check
check "check mode reports a hosts change" changed_ok
check "check mode left the hosts file and the PID alone" bash -c "! grep -q web2 $SD/42/hosts && [ '$(dpid 42)' = '$P42' ]"
converge "$hosts_changed"
check "a hosts change is applied" changed_ok
check "hosts change: same dnsmasq PID in 42 (SIGHUP), 43 untouched" bash -c "[ '$(dpid 42)' = '$P42' ] && [ '$(dpid 43)' = '$P43' ]"
check "hosts change: leases kept" [ "$(grep -c . "$SD/42/leases")" = "$leases42" ]
check "hosts change: the new host's name resolves (hosts re-read on SIGHUP)" bash -c \
  'for i in 1 2 3 4 5 6 7 8 9 10; do ip netns exec g42b busybox nslookup web2.net42.example 10.42.0.2 2>&1 | grep -q 10.42.0.11 && exit 0; sleep 0.3; done; exit 1'
converge "$hosts_changed"
check "hosts change: again changes nothing" unchanged_ok
converge "$range_changed"
check "a range change is applied" changed_ok
P42b=$(dpid 42)
restarted42() { [ -n "$P42b" ] && [ "$P42b" != "$P42" ] && ! alive "$P42" 42 && alive "$P42b" 42 && [ "$(dpid 43)" = "$P43" ]; }
check "range change: dnsmasq 42 restarted (new PID, old one gone), 43 keeps its PID" restarted42
check "range change: leases file kept" [ "$(grep -c . "$SD/42/leases")" -ge 1 ]
check "range change: dnsmasq runs with the new range" grep -q 'dhcp-range=set:net-42,10.42.0.100,10.42.0.189' "$SD/42/dnsmasq.conf"
converge "$range_changed"
check "range change: again changes nothing" unchanged_ok

echo "== repairs: a killed dnsmasq, a deleted namespace"
kill "$P42b"; for _ in $(seq 50); do alive "$P42b" 42 || break; sleep 0.1; done
converge "$range_changed"
P42c=$(dpid 42)
check "a killed dnsmasq is restarted (changed)" bash -c "[ '$RC' = 0 ] && [ '$CHANGED' != 0 ] && [ '$P42c' != '$P42b' ]"
check "the restarted dnsmasq is alive" alive "$P42c" 42
check "other networks keep their PIDs" [ "$(dpid 43)" = "$P43" ]
ip netns delete qdhcp-42
converge "$range_changed"
P42d=$(dpid 42)
check "a deleted qdhcp namespace is rebuilt (changed)" bash -c "[ '$RC' = 0 ] && [ '$CHANGED' != 0 ]"
check "the rebuilt namespace has ns-42 with 10.42.0.2 and dnsmasq runs inside it" bash -c "
  ip -n qdhcp-42 -br addr show ns-42 | grep -q 10.42.0.2/24 && [ \"\$(stat -L -c %i /proc/$P42d/ns/net)\" = \"\$(stat -L -c %i /run/netns/qdhcp-42)\" ]"
check "after the rebuild a guest gets a lease again" bash -c "$(declare -f udhcpc_lease envval in_range); W=$W; udhcpc_lease g42b && in_range \"\$(envval g42b ip)\" 10.42.0 100 189"
converge "$range_changed"
check "after the repairs: again changes nothing" unchanged_ok
ip link del tap42     # the veth pair goes, the namespace stays: ns-42 comes back with another ifindex
converge "$range_changed"
P42e=$(dpid 42)
check "a deleted veth pair is rebuilt and dnsmasq restarted on the new ns-42 (it stays bound to the old one)" bash -c "
  [ '$RC' = 0 ] && [ '$CHANGED' != 0 ] && [ -n '$P42e' ] && [ '$P42e' != '$P42d' ] && ip -o link show tap42 | grep -q 'master brq42'"
check "after the veth rebuild a guest gets a lease again" bash -c "$(declare -f udhcpc_lease envval in_range); W=$W; udhcpc_lease g42b && in_range \"\$(envval g42b ip)\" 10.42.0 100 189"
converge "$range_changed"
check "after the veth rebuild: again changes nothing" unchanged_ok

echo "== uplink"
ip link add upl42 type veth peer name upl42p
converge "$uplinked"
check "the uplink is made a port of brq42" bash -c '[ "$(ip -o link show upl42 | grep -o "master [^ ]*")" = "master brq42" ]'
converge "$uplinked"
check "uplink: again changes nothing" unchanged_ok
converge "$range_changed"
check "an uplink dropped from the network is released, not deleted; guests stay ports" bash -c \
  'ip link show upl42 >/dev/null && ! ip -o link show upl42 | grep -q master && ip -o link show g-g42a | grep -q "master brq42"'
converge "$uplinked"

echo "== state: absent (rhythm) and purge"
ip link add brq99 type bridge    # made by hand, not by the role: purge must leave it
converge "$absent43" --check
check "check mode reports the removal of 43 and removes nothing" bash -c "[ '$CHANGED' != 0 ] && ip link show brq43 >/dev/null && [ '$(dpid 43)' = '$P43' ]"
converge "$absent43"
check "absent: changed" bash -c "[ '$RC' = 0 ] && [ '$CHANGED' != 0 ]"
gone43() { ! alive "$P43" 43 && ! ip link show brq43 2>/dev/null && ! ip link show tap43 2>/dev/null &&
  ! ip netns list | grep -q qdhcp-43 && [ ! -e "$SD/43" ]; }
check "absent: 43's dnsmasq, bridge, veth, namespace and files are gone" gone43
check "absent: 42 untouched (same PID)" [ "$(dpid 42)" = "$P42e" ]
converge "$absent43"
check "absent again: not changed" unchanged_ok

echo "== a qemu guest on a tap made by tuntap"
cat > "$W/tap.yml" <<'EOF'
- name: The guest's NIC
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A persistent tap, port of brq42
      virtnet.linux.tuntap:
        name: vm42
        mode: tap
        master: brq42
        link_state: up
EOF
"$top/.venv/bin/ansible-playbook" -i localhost, -c local "$W/tap.yml" > "$W/tap.log" 2>&1 || { cat "$W/tap.log"; }
check "the tap vm42 is a port of brq42" bash -c '[ "$(ip -o link show vm42 | grep -o "master [^ ]*")" = "master brq42" ]'
timeout 180 qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot \
  -kernel "$top/build/qemu-guest/vmlinuz" -initrd "$top/build/qemu-guest/initrd.gz" \
  -append 'console=ttyS0 quiet panic=-1' \
  -netdev tap,id=n0,ifname=vm42,script=no,downscript=no \
  -device virtio-net-pci,netdev=n0,mac=52:54:00:12:42:99 < /dev/null > "$W/console.log" 2>&1
echo "     qemu rc=$? console: $(grep -a -E '^(LEASE|NAME|DHCPFAIL)' "$W/console.log" | tr '\n' ' ')"
lease=$(grep -a '^LEASE' "$W/console.log" | head -1 | cut -d' ' -f2 | cut -d/ -f1)
check "the qemu guest got a lease in range from network 42" in_range "${lease:-none}" 10.42.0 100 189
check "the qemu guest's lease is in dnsmasq's lease file with its MAC" grep -q "52:54:00:12:42:99 ${lease:-none} " "$SD/42/leases"
check "the qemu guest got router 10.42.0.1, DNS 10.42.0.2, domain net42.example" \
  grep -aq "server=10.42.0.2 router=10.42.0.1 dns=10.42.0.2 domain=net42.example" "$W/console.log"
check "the qemu guest resolved web1 through the server" grep -aq '^NAME web1 10.42.0.10' "$W/console.log"

converge "$purge" --check
check "purge in check mode reports changes and removes nothing" bash -c "[ '$CHANGED' != 0 ] && ip link show brq42 >/dev/null"
converge "$purge"
check "purge: changed" bash -c "[ '$RC' = 0 ] && [ '$CHANGED' != 0 ]"
check "purge: nothing of the role left (no brq4x/tap4x, no qdhcp-, no dnsmasq, no network dirs)" bash -c "
  ! ip -br link | grep -Eq '^(brq4|tap4)' && ! ip netns list | grep -q qdhcp- && ! pgrep -x dnsmasq >/dev/null &&
  [ \"\$(ls $SD)\" = networks.json ]"
check "purge: the record is empty" bash -c "tr -d ' \n' < $SD/networks.json | grep -qx '{\"networks\":{}}'"
check "purge: the uplink NIC and the hand-made bridge brq99 are left alone" bash -c 'ip link show upl42 >/dev/null && ip link show brq99 >/dev/null'
converge "$purge"
check "purge again: not changed" unchanged_ok

echo "== files dnsmasq's user cannot read: refused before dnsmasq starts; a dnsmasq that logs it could not load one fails"
one44=$W/one44.yml
cat > "$one44" <<'EOF'
dhcp_namespace_networks:
  - {id: "44", subnet: 10.44.0.0/24, range_start: 10.44.0.100, range_end: 10.44.0.199, domain: net44.example,
     hosts: [{mac: "52:54:00:00:44:10", ip: 10.44.0.10, name: db1}]}
EOF
more44=$W/more44.yml
sed 's/name: db1}]/name: db1}, {mac: "52:54:00:00:44:11", ip: 10.44.0.11, name: db2}]/' "$one44" > "$more44"
mkdir -m 0700 "$W/locked"
converge "$one44" -e dhcp_namespace_state_dir="$W/locked/state"
check "a state directory below a 0700 directory fails the run" [ "$RC" -ne 0 ]
check "the failure names the daemon, the user, the file and what blocks it" \
  grep -qF "daemon dnsmasq-44: nobody cannot read $W/locked/state/44/dnsmasq.conf: $W/locked is mode 0700 owned by root:root" "$OUT"
check "no dnsmasq was started for it" bash -c "[ ! -e $W/locked/state/44/dnsmasq.pid ] && ! ip netns pids qdhcp-44 | grep -q ."
converge "$purge" -e dhcp_namespace_state_dir="$W/locked/state"
check "what the failed run made is recorded: purge removes it (namespace, bridge, veth, directory)" bash -c "
  [ '$RC' = 0 ] && ! ip netns list | grep -q qdhcp-44 && ! ip link show brq44 2>/dev/null && ! ip link show tap44 2>/dev/null &&
  [ \"\$(ls $W/locked/state)\" = networks.json ]"
# an ACL that keeps nobody out while the mode bits let it in: read_as (mode bits) cannot see it, dnsmasq can
acl() {  # acl set|clear DIR
  "$top/.venv/bin/python" - "$@" <<'PY'
import os, struct, sys
if sys.argv[1] == 'set':   # user::rwx user:nobody:--- group::r-x mask::r-x other::r-x
    entries = [(1, 7, 0xffffffff), (2, 0, 65534), (4, 5, 0xffffffff), (0x10, 5, 0xffffffff), (0x20, 5, 0xffffffff)]
    os.setxattr(sys.argv[2], 'system.posix_acl_access', struct.pack('<I', 2) + b''.join(struct.pack('<HHI', *e) for e in entries))
else:
    os.removexattr(sys.argv[2], 'system.posix_acl_access')
PY
}
mkdir -m 0755 "$W/acl"; acl set "$W/acl"
converge "$one44" -e dhcp_namespace_state_dir="$W/acl/state"
check "a dnsmasq that cannot read its files after its start fails the run" [ "$RC" -ne 0 ]
check "the failure is the line dnsmasq logged" grep -qE "daemon dnsmasq-44: logged an error after its start: .*(cannot read|failed to load names from) $W/acl/state/44/[a-z_]+: Permission denied" "$OUT"
converge "$one44" -e dhcp_namespace_state_dir="$W/acl/state"
check "the next run fails again (never an ok over a dnsmasq without its files)" [ "$RC" -ne 0 ]
acl clear "$W/acl"
converge "$one44" -e dhcp_namespace_state_dir="$W/acl/state"
check "once dnsmasq can read its files the run converges (changed)" changed_ok
P44=$(cat "$W/acl/state/44/dnsmasq.pid" 2>/dev/null)
converge "$one44" -e dhcp_namespace_state_dir="$W/acl/state"
check "and then changes nothing" unchanged_ok
acl set "$W/acl"
converge "$more44" -e dhcp_namespace_state_dir="$W/acl/state"
check "a dnsmasq that cannot re-read its hosts after a SIGHUP fails the run" bash -c "[ '$RC' -ne 0 ] &&
  grep -qE 'daemon dnsmasq-44: logged an error after its reload: .*(cannot read|failed to load names from) $W/acl/state/44/' '$OUT'"
acl clear "$W/acl"
converge "$more44" -e dhcp_namespace_state_dir="$W/acl/state"
check "once it can, the next run sends SIGHUP again (changed, same PID)" bash -c "
  [ '$RC' = 0 ] && [ '$CHANGED' != 0 ] && [ \"\$(cat $W/acl/state/44/dnsmasq.pid)\" = '$P44' ]"
converge "$purge" -e dhcp_namespace_state_dir="$W/acl/state"
check "purge of the ACL state directory leaves nothing" bash -c "
  [ '$RC' = 0 ] && ! ip netns list | grep -q qdhcp-44 && [ \"\$(ls $W/acl/state)\" = networks.json ]"

echo "dhcp_namespace: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
