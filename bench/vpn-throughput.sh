#!/usr/bin/env bash
# bench/vpn-throughput.sh [MIB] — WireGuard (wireguard-go) against OpenVPN, and the plain lab network as the
# floor, between two lab hosts in one run: in a sandbox with its own PID namespace, a fresh lab of two plain
# hosts (vpn1, vpn2), one converge of the vpn_endpoint role (tests/roles/vpn_endpoint/wireguard.yml, one play)
# with an OpenVPN server `site` (udp, 10.8.0.0/24) and a WireGuard hub `wg` (10.77.0.0/24) on vpn1, vpn2 a
# client of each; then, for each path, a bounded TCP transfer of MIB MiB (default 64) from vpn2 to vpn1
# (bench/vpn_transfer.py, each side in its lab host's network namespace, 120 s at most): the plain address,
# OpenVPN's tunnel address, WireGuard's. Prints seconds and MiB/s per path and the ratios (WireGuard/OpenVPN,
# each/plain); figures in bench/results/vpn-throughput.md. No assert: timings depend on the machine's load
# (noted with `uptime`).
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/_preamble.sh disable=SC1091
. "$top/bench/_preamble.sh"
mib=${1:-64}
W=$top/build/bench-vpn-throughput; rm -rf "$W"; mkdir -p "$W"
cat > "$W/vars.yml" <<'YML'
wg_lan: false
wg_instances:
  vpn1:
    - {name: site, role: server, subnet: 10.8.0.0/24}
    - {name: wg, role: server, type: wireguard, subnet: 10.77.0.0/24}
  vpn2:
    - {name: site, role: client, server: vpn1}
    - {name: wg, role: client, server: vpn1}
YML
# shellcheck disable=SC2016  # expanded by the inner bash
tools/sandbox.sh --pid bash -c '
  set -euo pipefail
  top=$1 W=$2 mib=$3
  bash "$top/tools/lab.sh" --dir "$W/lab" up vpn1:plain vpn2:plain > "$W/up.log" 2>&1
  trap "bash $top/tools/lab.sh --dir $W/lab down >/dev/null 2>&1" EXIT
  env ANSIBLE_COLLECTIONS_PATH="$top/build/collections" "$top/.venv/bin/python" "$top/tools/play.py" --dir "$W/runs" \
    --name converge -i "$W/lab/inventory.yml" "$top/tests/roles/vpn_endpoint/wireguard.yml" -e @"$W/vars.yml" \
    > "$W/converge.log" 2>&1 || { tail -30 "$W/converge.log"; exit 1; }
  plain=$(ip netns exec lab-vpn1 ip -4 -o addr show dev eth0 | grep -o "inet [0-9.]*" | cut -d" " -f2)
  # both tunnels up (a bounded wait: 30 pings of 1 s at most each)
  for a in 10.8.0.1 10.77.0.1; do
    ip netns exec lab-vpn2 ping -c 1 -W 1 -w 30 "$a" > /dev/null || { echo "bench: no tunnel to $a" >&2; exit 1; }
  done
  uptime > "$W/uptime"
  port=5201
  for path in plain:$plain openvpn:10.8.0.1 wireguard:10.77.0.1; do
    name=${path%%:*} addr=${path#*:} port=$((port + 1))
    ip netns exec lab-vpn1 timeout 150 python3 "$top/bench/vpn_transfer.py" recv "$addr" "$port" &
    rpid=$!
    for i in $(seq 1 50); do ip netns exec lab-vpn1 ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
    ip netns exec lab-vpn2 timeout 150 python3 "$top/bench/vpn_transfer.py" send "$addr" "$port" "$mib" > "$W/$name.txt"
    wait "$rpid"
  done
' bench "$top" "$W" "$mib"
python3 - "$W" bench/results/vpn-throughput.md <<'PY'
import sys
w, out = sys.argv[1], sys.argv[2]
rows = {}
for name in ('plain', 'openvpn', 'wireguard'):
    with open('%s/%s.txt' % (w, name)) as f:
        seconds, mib, rate = f.read().split()
    rows[name] = (float(seconds), int(mib), float(rate))
with open('%s/uptime' % w) as f:
    load = f.read().strip()
lines = ['| path | MiB | seconds | MiB/s | of plain |', '|---|---|---|---|---|']
for name, (s, m, r) in rows.items():
    lines.append('| %s | %d | %.2f | %.1f | %.2f |' % (name, m, s, r, r / rows['plain'][2]))
lines.append('')
lines.append('WireGuard / OpenVPN throughput: %.2f (one run; load: %s)' % (rows['wireguard'][2] / rows['openvpn'][2], load))
text = '\n'.join(lines) + '\n'
with open(out, 'w') as f:
    f.write(text)
print(text, end='')
PY
