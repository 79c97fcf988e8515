#!/usr/bin/env bash
# main.sh — the main job (the README's first command). Sets up everything (tools/setup.sh), then inside
# a throwaway sandbox (tools/sandbox.sh --pid: own network, mount and PID namespaces; the machine's own
# network is never touched):
#   1. brings up a lab of simulated SSH hosts (tools/lab.sh), plain and systemd ones, with the inventory
#      playbooks/inventory/lab.yml (groups vpn_servers, vpn_clients, dhcp_nodes);
#   2. runs playbooks/site.yml across it over SSH (its last play draws every host's topology);
#   3. proves what it built: playbooks/verify.yml reads it back from each host and asserts it;
#   4. runs site.yml a second time: every host must report changed=0 (checked from the play recap);
#   5. takes the lab down (also on failure) and checks that nothing of it is left;
# and prints a short summary. Logs and pictures: build/main/.
# Arguments are passed on to both runs of site.yml (e.g. -v, or -e to try other settings).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
now() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ "${1:-}" != --in-sandbox ]; then
  t0=$(now)
  echo "== [1/6] set-up: system packages and .venv (tools/setup.sh)"
  bash tools/setup.sh
  MAIN_T0=$t0 MAIN_SETUP_S=$(dt "$t0" "$(now)") exec tools/sandbox.sh --pid bash "$0" --in-sandbox "$@"
fi
shift

out=$top/build/main
lab=$top/build/main/lab
inv=$top/playbooks/inventory/lab.yml
# a lab left by a run that was killed: its sandbox took every process, mount and link with it; down
# removes what is left (files, empty cgroup directories)
[ ! -d "$lab" ] || tools/lab.sh --dir "$lab" down
rm -rf "$out"; mkdir -p "$out"
export ANSIBLE_COLLECTIONS_PATH="$top/build/collections" ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_NOCOLOR=1 \
  ANSIBLE_FORCE_COLOR=0 ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ANSIBLE_FORKS=10 \
  ANSIBLE_RETRY_FILES_ENABLED=0 PYTHONUNBUFFERED=1
declare -A took
lab_is_up=0 result=FAILED
hosts=(vpn1:systemd:vpn_servers vpn2:plain:vpn_clients dhcp1:plain:dhcp_nodes "dhcp2:systemd:dhcp_nodes,vpn_clients")

phase() { echo; echo "== [$1/6] $2"; }
lab_down() {
  local t; t=$(now)
  tools/lab.sh --dir "$lab" down
  lab_is_up=0
  took[down]=$(dt "$t" "$(now)")
}
on_exit() {
  local rc=$?
  if [ $lab_is_up = 1 ]; then echo; echo "== taking the lab down (after a failure)"; lab_down || true; fi
  [ $rc = 0 ] || echo "main job FAILED (rc $rc); logs in $out/"
  exit $rc
}
trap on_exit EXIT

progress() {  # a line per play and task (seconds since the start), errors in full
  local line t0=$SECONDS
  while IFS= read -r line; do
    case $line in
      "PLAY ["*) line=${line#PLAY \[}; printf '   %3ds  play: %s\n' $((SECONDS - t0)) "${line%%\] \**}" ;;
      "TASK ["*) line=${line#TASK \[}; printf '   %3ds    %s\n' $((SECONDS - t0)) "${line%%\] \**}" ;;
      fatal:*|failed:*|ERROR*|"[ERROR]"*) printf '          %s\n' "$line" ;;
    esac
  done
}
# ansible-playbook with its output in LOG and a line per play and task on the terminal (progress)
run_play() {  # LOG PLAYBOOK ARGS...
  local log=$1; shift
  local rc=0
  set +e
  .venv/bin/ansible-playbook "$@" 2>&1 | tee "$log" | progress
  rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}
# the play recap as "HOST OK CHANGED UNREACHABLE FAILED" lines
recap() { awk '/^PLAY RECAP/ { r = 1; next } r && / : ok=/ {
  match($0, /changed=[0-9]+/); c = substr($0, RSTART + 8, RLENGTH - 8)
  match($0, /unreachable=[0-9]+/); u = substr($0, RSTART + 12, RLENGTH - 12)
  match($0, /failed=[0-9]+/); f = substr($0, RSTART + 7, RLENGTH - 7)
  print $1, c, u, f }' "$1"; }

phase 2 "lab: ${#hosts[@]} hosts, plain and systemd (tools/lab.sh up ${hosts[*]})"
t=$(now)
lab_is_up=1
tools/lab.sh --dir "$lab" --inventory "$inv" up "${hosts[@]}"
took[up]=$(dt "$t" "$(now)")
tools/lab.sh --dir "$lab" status | sed 's/^/   /'
nhosts=${#hosts[@]}

for pass in 1 2; do
  if [ $pass = 1 ]; then phase 3 "site.yml across the lab over SSH (first pass)"; else phase 5 "site.yml again: nothing may change"; fi
  t=$(now)
  run_play "$out/site-$pass.log" -i "$inv" playbooks/site.yml -e site_topology_dir="$out/topology" "$@" \
    || { echo "site.yml failed (pass $pass): $out/site-$pass.log"; exit 1; }
  took[site$pass]=$(dt "$t" "$(now)")
  recap "$out/site-$pass.log" > "$out/recap-$pass.txt"
  [ "$(wc -l < "$out/recap-$pass.txt")" = "$nhosts" ] || { echo "recap of pass $pass lists $(wc -l < "$out/recap-$pass.txt") hosts, not $nhosts"; exit 1; }
  awk '$3 != 0 || $4 != 0 { bad = 1 } END { exit bad }' "$out/recap-$pass.txt" || { echo "unreachable or failed hosts in pass $pass"; cat "$out/recap-$pass.txt"; exit 1; }
  changed[pass]=$(awk '{ s += $2 } END { print s + 0 }' "$out/recap-$pass.txt")
  echo "   recap: $(awk '{ printf "%s changed=%s  ", $1, $2 }' "$out/recap-$pass.txt")"
  if [ $pass = 2 ] && [ "${changed[2]}" != 0 ]; then
    echo "the second pass changed something:"; grep -E '^(changed|TASK)' "$out/site-2.log" | grep -B1 '^changed' || true
    exit 1
  fi
  if [ $pass = 1 ]; then
    phase 4 "proof: what each host has, read back from it (playbooks/verify.yml)"
    t=$(now)
    run_play "$out/verify.log" -i "$inv" playbooks/verify.yml -e verify_dir="$out/verify" \
      || { echo "verify.yml failed: $out/verify.log"; exit 1; }
    took[verify]=$(dt "$t" "$(now)")
  fi
done

phase 6 "lab down, and nothing of it left"
lab_id=$(sed -n 's/^LAB_ID=//p' "$lab/lab.env")
lab_down
left=()
[ -z "$(ip netns list)" ] || left+=("namespaces: $(ip netns list | tr '\n' ' ')")
[ "$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')" = "lo " ] || left+=("links: $(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')")
! grep -q "$lab_id" /proc/self/mountinfo || left+=("mounts: $(grep -c "$lab_id" /proc/self/mountinfo)")
for d in /sys/fs/cgroup/*/"$lab_id" /sys/fs/cgroup/"$lab_id"; do [ -e "$d" ] && left+=("cgroup dir $d"); done
ps -e -o pid= -o ppid= -o comm= > "$out/ps.txt"    # the sandbox's PID 1, this script and ps: nothing else
awk -v me=$$ '$1 != 1 && $1 != me && $2 != me' "$out/ps.txt" > "$out/ps-left.txt"
[ ! -s "$out/ps-left.txt" ] || left+=("processes: $(tr '\n' ' ' < "$out/ps-left.txt")")
ls "$lab"/cp/* >/dev/null 2>&1 && left+=("control sockets: $(ls "$lab"/cp)")
[ ${#left[@]} = 0 ] || { printf 'left behind: %s\n' "${left[@]}"; exit 1; }
echo "   nothing left: no namespace, no link but lo, no mount, cgroup directory, process or control socket of $lab_id"

total=$(dt "$MAIN_T0" "$(now)")
result=green
cat <<EOF

================ virtnet.linux main job: $result ================
site.yml over SSH on $nhosts lab hosts: 1st pass changed=${changed[1]}, 2nd pass changed=${changed[2]} (idempotent)
$(sed 's/^/  /' "$out"/verify/*.txt)
pictures:  $out/topology/{$(find "$out/topology" -maxdepth 1 -name '*.svg' -printf '%f\n' | sed 's/\.svg$//' | sort | paste -sd,)}.svg (and .png, .dot)
timings:   set-up ${MAIN_SETUP_S}s, lab up ${took[up]}s, site.yml ${took[site1]}s + ${took[site2]}s, verify ${took[verify]}s, down ${took[down]}s; total ${total}s
logs:      $out/*.log
EOF
