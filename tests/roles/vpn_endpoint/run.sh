#!/usr/bin/env bash
# tests/roles/vpn_endpoint/run.sh — the vpn_endpoint role by traffic, on three lab hosts (plain: pid
# files) inside a throwaway sandbox: vpn1 serves site + alt (tun, udp) and lan (tap on a bridge, tcp),
# vpn2 is a client of all three, vpn3 a client of site from the namespace vpnns (instances.yml).
# Checks: apply -> changed, again -> changed=0, check mode reports and changes nothing, traffic both
# ways through every tunnel with rising counters and pushed routes, a route change reloads only alt
# (same PIDs), a restart-class change restarts only alt (and its clients), a killed daemon is restarted
# (and the clients of that server), bad inputs fail
# naming the instance and change nothing, keys 0600 and owned right, never re-issued, no key material in
# -vvv --diff output, daemons run as openvpn with CAP_NET_ADMIN only, absent -> changed, again -> not.
# Exit 0 only if every check passes. Logs in $VPN_TEST_LOGS (default a temp dir, kept on failure).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)

if [ "${VPN_TEST_IN_SANDBOX:-}" != 1 ]; then
  [ -x "$top/.venv/bin/ansible-playbook" ] || bash "$top/tools/setup.sh"
  exec env VPN_TEST_IN_SANDBOX=1 "$top/tools/sandbox.sh" --pid bash "$0" "$@"
fi

# ---- inside the sandbox (own network, mount and PID namespaces) -------------------------------------
logs=${VPN_TEST_LOGS:-$(mktemp -d /tmp/vpn-test-logs.XXXXXX)}
mkdir -p "$logs"
labdir=$top/build/vpn-test-lab
lab() { bash "$top/tools/lab.sh" --dir "$labdir" "$@"; }
fails=0
ok()   { echo "ok   - $*"; }
bad()  { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

trap 'lab down >/dev/null 2>&1 || true' EXIT
lab down >/dev/null 2>&1 || true
lab up vpn1:plain vpn2:plain vpn3:plain >"$logs/lab.log" 2>&1
inv=$labdir/inventory.yml
export ANSIBLE_COLLECTIONS_PATH=$top/build/collections ANSIBLE_PIPELINING=True
export ANSIBLE_NOCOLOR=1 ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_RETRY_FILES_ENABLED=False
cd "$here"

n=0
play() {   # play NAME PLAYBOOK [ansible-playbook args...]: log in $logs/NN-NAME.log, sets $log and $rc
  local name=$1 book=$2; shift 2
  n=$((n + 1)); log=$logs/$(printf %02d $n)-$name.log
  set +e; "$top/.venv/bin/ansible-playbook" -i "$inv" "$book" "$@" >"$log" 2>&1; rc=$?; set -e
}
# the instances whose daemon task changed, as HOST:NAME
daemons_changed() { awk '/^TASK \[.*OpenVPN daemons( - (servers|clients))?\]/{t=1; next} /^(TASK|PLAY)/{t=0}
  t && /^changed:/{h=$2; gsub(/[][]/, "", h); i=$0; sub(/.*item=/, "", i); sub(/\).*/, "", i); print h ":" i}' "$log" | sort | tr '\n' ' '; }
changed() { awk '/PLAY RECAP/{r=1} r && /changed=/{for(i=1;i<=NF;i++) if($i ~ /^changed=/){split($i,a,"="); s+=a[2]}} END{print s+0}' "$log"; }
on() { local h=$1; shift; ssh -i "$labdir/id_ed25519" -o UserKnownHostsFile="$labdir/known_hosts" \
         -o LogLevel=ERROR -o ControlPath=none "root@10.88.0.1$h" "$@"; }
pid() { on "$1" cat "/run/virtnet/daemon/vpn-$2.pid" 2>/dev/null || echo none; }
pids() { echo "site=$(pid 1 site) alt=$(pid 1 alt) lan=$(pid 1 lan) c-site=$(pid 2 site) c-alt=$(pid 2 alt) c-lan=$(pid 2 lan) ns-site=$(pid 3 site)"; }
# what a failed or check-mode run must not change: files, devices, daemons on every host
fingerprint() {
  for h in 1 2 3; do
    on $h 'find /etc/virtnet -printf "%p %m %u %s\n" 2>/dev/null | sort; find /etc/virtnet -type f -exec sha256sum {} + 2>/dev/null | sort;
           ip -o link show | sed "s/^[0-9]*: //; s/ state .*//" ; ls /run/netns 2>/dev/null; cat /run/virtnet/daemon/*.pid 2>/dev/null; true' | sed "s/^/vpn$h /"
  done
}

# ---- 1. check mode on fresh hosts, apply, again, traffic --------------------------------------------
before=$(fingerprint)
play check-fresh role.yml --check --diff -e @variants/fresh.yml
check "check mode on fresh hosts reports changes (rc=$rc, changed=$(changed))" test "$rc" = 0 -a "$(changed)" -gt 0
check "check mode on fresh hosts changed nothing (files, devices, daemons)" test "$(fingerprint)" = "$before"
play converge converge.yml
check "first converge succeeds and changes (rc=$rc, changed=$(changed))" test "$rc" = 0 -a "$(changed)" -gt 0
play converge-again converge.yml
check "second converge: changed=0 (rc=$rc, changed=$(changed))" test "$rc" = 0 -a "$(changed)" = 0
play verify verify.yml
check "traffic: clients ping servers, servers ping clients, counters rise, pushed routes present (rc=$rc)" test "$rc" = 0

check "clients learn the server's address from the inventory (site: 10.88.0.11), remote overrides it (lan: vpn1)" \
  test "$(on 2 'grep -h "^remote " /etc/virtnet/vpn/instances/site/site.conf /etc/virtnet/vpn/instances/lan/lan.conf')" = "$(printf 'remote 10.88.0.11 1194\nremote vpn1 1196')"
# keys: 0600 and owned by the daemons' user; CA and PKI keys 0600 root
check "client keys 0600 openvpn" test "$(on 2 "stat -c '%a %U' /etc/virtnet/vpn/instances/*/key.key /etc/virtnet/vpn/instances/*/tc.key" | sort -u)" = "600 openvpn"
check "server keys 0600 openvpn" test "$(on 1 "stat -c '%a %U' /etc/virtnet/vpn/instances/*/key.key /etc/virtnet/vpn/instances/*/tc.key" | sort -u)" = "600 openvpn"
check "PKI private keys 0600 root" test "$(on 1 'stat -c "%a %U" /etc/virtnet/vpn/pki/site/private/*.key /etc/virtnet/vpn/pki/site/tc.key' | sort -u)" = "600 root"
check "one certificate per client host and instance (site: server, vpn2, vpn3)" \
  test "$(on 1 'ls /etc/virtnet/vpn/pki/site/issued' | tr '\n' ' ')" = "client-vpn2.crt client-vpn3.crt server.crt "
# daemons: as openvpn, CAP_NET_ADMIN (bit 12) as the only capability, in vpnns on vpn3
p=$(pid 1 site)
check "server site runs as openvpn with CapEff=CAP_NET_ADMIN only" \
  test "$(on 1 "awk '/^Uid:/{print \$2} /^CapEff:/{print \$2}' /proc/$p/status | tr '\n' ' '")" = "$(on 1 id -u openvpn) 0000000000001000 "
p=$(pid 3 site)
check "client site on vpn3 runs inside vpnns" test "$(on 3 "readlink /proc/$p/ns/net")" = "$(on 3 'ip netns exec vpnns readlink /proc/self/ns/net')"
check "tap lan is a port of br-vpn, which carries 10.10.0.1" \
  test "$(on 1 'cat /sys/class/net/vpn-lan/master/uevent | grep INTERFACE=; ip -o -4 addr show dev br-vpn | grep -c 10.10.0.1/24')" = "$(printf 'INTERFACE=br-vpn\n1')"
index_before=$(on 1 'cat /etc/virtnet/vpn/pki/*/index.txt | sha256sum')

# ---- 2. check mode: reports the change, changes nothing ---------------------------------------------
before=$(fingerprint); pids_before=$(pids)
play check-change converge.yml --check --diff -e @variants/reload.yml
check "check mode with a new pushed route reports changes (rc=$rc, changed=$(changed))" test "$rc" = 0 -a "$(changed)" -gt 0
check "check mode changed nothing (files, devices, daemons)" test "$(fingerprint)" = "$before"

# ---- 3. a pushed route: alt reloaded (same PID), nothing else touched -------------------------------
play reload converge.yml -e @variants/reload.yml
after=$(pids)
check "route change applied (rc=$rc, changed=$(changed))" test "$rc" = 0 -a "$(changed)" -gt 0
check "route change: the daemon task touched alt's server and nothing else ($(daemons_changed))" test "$(daemons_changed)" = "vpn1:alt "
check "route change: every PID unchanged, alt was reloaded by SIGHUP [$pids_before] [$after]" test "$after" = "$pids_before"
play verify-reload verify.yml -e @variants/reload.yml
check "after the reload: traffic, and the new route 10.22.0.0/24 pushed to vpn2 (rc=$rc)" test "$rc" = 0

# ---- 4. a killed daemon and a restart-class change: site revived, alt restarted, their clients too ----
pids_before=$(pids)
p=$(pid 1 site)
on 1 "kill -KILL $p"
play restart converge.yml -e @variants/restart.yml
after=$(pids)
check "converge after kill -9 of site's server and a new local address of alt's (rc=$rc)" test "$rc" = 0
# a client of a server that is a new process is restarted too (else it sends into a session the new
# server does not know until its ping-restart runs out); lan's server and client stay as they are
check "the daemon tasks touched site's and alt's servers and their clients, nothing else ($(daemons_changed))" \
  test "$(daemons_changed)" = "vpn1:alt vpn1:site vpn2:alt vpn2:site vpn3:site "
check "only site's and alt's servers and clients have new PIDs [$pids_before] [$after]" \
  test "$(diff <(tr ' ' '\n' <<<"$pids_before") <(tr ' ' '\n' <<<"$after") | grep '^>' | cut -d= -f1 | tr '\n' ' ')" = "> site > alt > c-site > c-alt > ns-site "
check "site's server runs again ($p -> $(pid 1 site))" test "$(pid 1 site)" != "$p" -a "$(pid 1 site)" != none
play verify-restart verify.yml -e @variants/restart.yml
check "after revival and restart: traffic (rc=$rc)" test "$rc" = 0
check "no certificate was issued again (index.txt unchanged)" test "$(on 1 'cat /etc/virtnet/vpn/pki/*/index.txt | sha256sum')" = "$index_before"

# ---- 5. bad inputs fail naming the instance and change nothing --------------------------------------
before=$(fingerprint)
expect_fail() {  # variant, texts the message must contain
  local v=$1; shift
  play "$v" converge.yml -e @"variants/$v.yml"
  if [ "$rc" != 0 ]; then ok "$v fails (rc=$rc)"; else bad "$v should fail (rc=$rc, see $log)"; fi
  for t in "$@"; do
    if grep -qF -- "$t" "$log"; then ok "$v names: $t"; else bad "$v should name '$t' (see $log)"; fi
  done
}
expect_fail bad-many \
  'vpn_endpoint_instances[alt] (server on vpn1): device name "tun-alt-too-long" must be 1 to 15 characters' \
  'vpn_endpoint_instances[alt] (server on vpn1): udp port 1194 is also used by instance site' \
  'vpn_endpoint_instances[lan] (server on vpn1): subnet 10.10.0.1/24 is not a network address'
expect_fail bad-clients \
  'vpn_endpoint_instances[lan] (client on vpn2): server "vpn9" is not a host of the inventory' \
  'vpn_endpoint_instances[lab] (client on vpn3): server "vpn1" has no server instance named "lab"'
expect_fail bad-overlap 'vpn_endpoint_instances[alt] (server on vpn1): subnet 10.8.0.128/25 overlaps subnet 10.8.0.0/24 of instance site'
expect_fail bad-spec 'vpn_endpoint_instances[lan] (peer on vpn2): role must be server or client, not "peer"' \
  "argument 'port' is of type str found in 'vpn_endpoint_instances'"
expect_fail bad-bridge 'vpn_endpoint_instances[lan] (server on vpn1): bridge br-nope does not exist'
check "the failed runs changed nothing (files, devices, daemons)" test "$(fingerprint)" = "$before"

# ---- 6. absent, absent again, then back with -vvv: no key material in the output --------------------
play absent converge.yml -e @variants/absent.yml
check "absent: changed (rc=$rc, changed=$(changed))" test "$rc" = 0 -a "$(changed)" -gt 0
play absent-again converge.yml -e @variants/absent.yml
check "absent again: changed=0 (rc=$rc, changed=$(changed))" test "$rc" = 0 -a "$(changed)" = 0
# (the daemon module's lock files, /run/virtnet/daemon/NAME.lock, are its own business and not counted)
leftover=$(for h in 1 2 3; do on $h 'ls /run/virtnet/daemon/ 2>/dev/null | grep vpn- | grep -v "\.lock$"; ip -o link show type tun; ip netns exec vpnns ip -o link show type tun 2>/dev/null; ls /etc/virtnet/vpn/instances 2>/dev/null; true' | sed "s/^/vpn$h: /"; done)
check "absent: no daemons, devices or instance files left [$leftover]" test -z "$leftover"
check "absent: the CAs stay" test "$(on 1 'ls /etc/virtnet/vpn/pki/*/ca.crt | wc -l')" = 3
check "absent: the tunnel address left br-vpn" test "$(on 1 'ip -o -4 addr show dev br-vpn | wc -l')" = 0
play vvv converge.yml -vvv --diff -e @variants/restart.yml
check "converge -vvv --diff after absent: changed (rc=$rc)" test "$rc" = 0 -a "$(changed)" -gt 0
leaks=0
while read -r line; do
  [ ${#line} -ge 16 ] || continue
  case "$line" in -----*) continue ;; esac
  if grep -qF -- "$line" "$log"; then leaks=$((leaks + 1)); fi
done < <(on 1 'cat /etc/virtnet/vpn/pki/*/private/*.key /etc/virtnet/vpn/pki/*/tc.key')
for f in /etc/virtnet/vpn/pki/site/private/client-vpn2.key /etc/virtnet/vpn/pki/site/tc.key; do
  b64=$(on 1 "base64 -w0 $f")
  grep -qF -- "${b64:0:40}" "$log" && leaks=$((leaks + 1))
done
check "no line of any private or tls-crypt key (nor their base64) in the -vvv --diff output" test "$leaks" = 0
check "the -vvv run did handle the keys (their censored tasks are in the log)" grep -q "censored" "$log"
play verify-vvv verify.yml -e @variants/restart.yml
check "after absent and back: traffic (rc=$rc)" test "$rc" = 0

echo "logs: $logs"
if [ "$fails" != 0 ]; then echo "$fails check(s) failed"; exit 1; fi
[ -n "${VPN_TEST_LOGS:-}" ] || rm -rf "$logs"
echo "all vpn_endpoint checks passed"
