#!/usr/bin/env bash
# main.sh — the main job (the README's first command). Sets up everything (tools/setup.sh), then inside
# a throwaway sandbox (tools/sandbox.sh --pid: own network, mount and PID namespaces; the machine's own
# network is never touched):
#   1. brings up a lab of simulated SSH hosts (tools/lab.sh), plain and systemd ones - the hosts of
#      molecule/site/molecule.yml (tools/lab/topology.py) - with the inventory playbooks/inventory/lab.yml
#      (groups vpn_servers, vpn_clients, dhcp_nodes);
#   2. runs playbooks/site.yml across it over SSH (its last play draws every host's topology), through
#      ansible-runner (tools/play.py: results from its events and stats, never from the text);
#   3. proves what it built: playbooks/verify.yml reads it back from each host and asserts it;
#   4. runs site.yml a second time: every host must report changed=0, and prints per host its task results
#      (every ok/changed result: issue 21's measure of what a converged run costs);
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
# the main job's hosts: molecule/site/molecule.yml's platforms (the one definition; tools/lab/topology.py)
mapfile -t hosts < <(.venv/bin/python tools/lab/topology.py)
nhosts=${#hosts[@]}

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

# a playbook through ansible-runner (tools/play.py): a line per play, task and failure; then per host its
# changed count and task results (every ok/changed result: one module or action run each); the run's
# output in $out/NAME.log, its summary in $out/NAME.json. Fails if the run or a host failed, or fewer
# than all hosts ran; --idempotent also if anything changed.
run_play() {  # NAME [play.py options] PLAYBOOK [ansible-playbook options]
  local name=$1; shift
  local rc=0
  .venv/bin/python tools/play.py --dir "$out/runs" --name "$name" --progress --hosts "$nhosts" \
    --summary "$out/$name.json" -i "$inv" "$@" || rc=$?
  cp "$out/runs/$name/artifacts/$name/stdout" "$out/$name.log" 2>/dev/null || true
  return "$rc"
}
total() { .venv/bin/python -c 'import json, sys; print(sum(h[sys.argv[2]] for h in json.load(open(sys.argv[1]))["hosts"].values()))' "$@"; }

phase 2 "lab: $nhosts hosts, plain and systemd (tools/lab.sh up ${hosts[*]})"
t=$(now)
lab_is_up=1
tools/lab.sh --dir "$lab" --inventory "$inv" up "${hosts[@]}"
took[up]=$(dt "$t" "$(now)")
tools/lab.sh --dir "$lab" status | sed 's/^/   /'

phase 3 "site.yml across the lab over SSH (first pass)"
t=$(now)
run_play site-1 playbooks/site.yml -e site_topology_dir="$out/topology" "$@" || { echo "site.yml failed (pass 1): $out/site-1.log"; exit 1; }
took[site1]=$(dt "$t" "$(now)")

phase 4 "proof: what each host has, read back from it (playbooks/verify.yml)"
t=$(now)
run_play verify playbooks/verify.yml -e verify_dir="$out/verify" || { echo "verify.yml failed: $out/verify.log"; exit 1; }
took[verify]=$(dt "$t" "$(now)")

phase 5 "site.yml again: nothing may change (the task results per host are issue 21's measure)"
t=$(now)
run_play site-2 --idempotent playbooks/site.yml -e site_topology_dir="$out/topology" "$@" \
  || { echo "site.yml's second pass failed or changed something: $out/site-2.log"; exit 1; }
took[site2]=$(dt "$t" "$(now)")
changed=("" "$(total "$out/site-1.json" changed)" "$(total "$out/site-2.json" changed)")
results2=$(.venv/bin/python -c 'import json, sys; print(" ".join("%s=%s" % (h, v["task_results"]) for h, v in json.load(open(sys.argv[1]))["hosts"].items()))' "$out/site-2.json")

phase 6 "lab down, and nothing of it left"
lab_id=$(sed -n 's/^LAB_ID=//p' "$lab/lab.env")
lab_down
.venv/bin/python tools/lab/leftovers.py "$lab" "$lab_id" || exit 1
echo "   nothing left: no namespace, no link but lo, no mount, cgroup directory, process or control socket of $lab_id"

total=$(dt "$MAIN_T0" "$(now)")
result=green
cat <<EOF

================ virtnet.linux main job: $result ================
site.yml over SSH on $nhosts lab hosts: 1st pass changed=${changed[1]}, 2nd pass changed=${changed[2]} (idempotent)
task results of the 2nd pass per host: $results2
$(sed 's/^/  /' "$out"/verify/*.txt)
pictures:  $out/topology/{$(find "$out/topology" -maxdepth 1 -name '*.svg' -printf '%f\n' | sed 's/\.svg$//' | sort | paste -sd,)}.svg (and .png, .dot)
timings:   set-up ${MAIN_SETUP_S}s, lab up ${took[up]}s, site.yml ${took[site1]}s + ${took[site2]}s, verify ${took[verify]}s, down ${took[down]}s; total ${total}s
logs:      $out/*.log
EOF
