#!/usr/bin/env bash
# bench/segment.sh [PEERS...]  — the segment role on one host of an N+1-host segment (default N = 64).
# In a sandbox (tools/sandbox.sh): an underlay veth with the host's address, an inventory of localhost (the
# play's one host, its segment_networks a play variable) and N peer hosts that declare the same network in
# the inventory (group variables; the role reads them through hostvars and makes one flood entry each).
# Per N, medians of 3 where repeated:
#   - first converge: brq64 and vxlan-6464 with the N flood entries (time, task results, changed);
#   - converged run (must be changed=0): seconds and task results per host (issue 21's measure), the
#     converged/first ratio, and the floor (one `ansible.builtin.command: "true"` task through tools/play.py);
#   - flood-entry sync in one task: the N entries deleted behind the role (not timed), then a converge puts
#     them back - the plumbing task's own duration (from its job event) and the whole run's;
#   - `bridge fdb append 00:00:00:00:00:00 dev D dst PEER` once per entry as plain processes (a shell loop)
#     onto a second vxlan device, in the same run: the ratio sync task / per-entry processes.
# The converged run's task results with their own durations (job events) are printed too.
# Every sync is checked: the device has exactly the N entries (`bridge -j fdb show`). Figures on stdout and in
# bench/results/segment.json (BENCH_OUT names another file). No timing is asserted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
cd "$top"
[[ -x .venv/bin/ansible-playbook ]] || { echo "bench: .venv missing: run tools/setup.sh first" >&2; exit 2; }
mkdir -p build/collections/ansible_collections/virtnet bench/results
ln -sfn "$top" build/collections/ansible_collections/virtnet/linux
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(64)

if [ "${VIRTNET_BENCH_INSIDE:-}" != 1 ]; then
  exec env VIRTNET_BENCH_INSIDE=1 "$top/tools/sandbox.sh" bash "$0" "${sizes[@]}"
fi

W=$(mktemp -d /tmp/segment-bench.XXXXXX); trap 'rm -rf "$W"' EXIT
export ANSIBLE_COLLECTIONS_PATH=${BENCH_COLLECTIONS:-$top/build/collections} ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=false
export ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_PYTHON_INTERPRETER=$top/.venv/bin/python
PY=$top/.venv/bin/python
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
runs=0
play() {  # PLAYBOOK -> T (seconds), C (changed), R (task results), P (the plumbing task's seconds, or -)
  local t0 name; t0=$(now)
  runs=$((runs + 1)); name=run$runs
  "$PY" "$top/tools/play.py" --dir "$W/runs" --name "$name" --summary "$W/summary.json" -i "$W/inventory.yml" \
    "$1" > "$W/log" 2>&1 || { tail -30 "$W/log"; tail -40 "$W/runs/$name/artifacts/$name/stdout"; exit 1; }
  T=$(echo "$(now) - $t0" | bc)
  read -r C R < <("$PY" -c 'import json, sys; h = json.load(open(sys.argv[1]))["hosts"]["localhost"]
print(h["changed"], h["task_results"])' "$W/summary.json")
  read -r P TASKS < <("$PY" - "$W/runs/$name/artifacts/$name/job_events" <<'EOF'
import glob, json, os, sys
plumbing, tasks = '-', []
for f in sorted(glob.glob(os.path.join(sys.argv[1], '*.json')), key=lambda f: int(os.path.basename(f).split('-')[0])):
    with open(f) as fh:
        e = json.load(fh)
    d = e.get('event_data', {})
    if e.get('event') == 'runner_on_ok':
        action = d.get('resolved_action') or d.get('task_action')
        tasks.append('%s=%.2f' % (action.split('.')[-1], d['duration']))
        if action == 'virtnet.linux.plumbing':
            plumbing = '%.4f' % d['duration']
print(plumbing, ','.join(tasks))
EOF
)
}
entries() { bridge -j fdb show dev "$1" | "$PY" -c 'import json, sys
print(sum(1 for e in json.load(sys.stdin) if e.get("mac") == "00:00:00:00:00:00" and e.get("dst")))'; }

# the underlay: a veth whose one end carries the host's address (the peers' addresses need no route: the
# flood entries are written, never used)
ip link add bx-u0 type veth peer name bx-u1
ip addr add 10.99.0.1/16 dev bx-u0
ip link set bx-u0 up; ip link set bx-u1 up
cat > "$W/floor.yml" <<'EOF'
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.command: "true"
      changed_when: false
EOF
cat > "$W/segment.yml" <<'EOF'
- hosts: localhost
  gather_facts: false
  vars:
    segment_networks: [{id: "64", vni: 6464}]
  roles:
    - role: virtnet.linux.segment
EOF
printf 'all:\n  hosts:\n    localhost: {ansible_connection: local, ansible_host: 10.99.0.1}\n' > "$W/inventory.yml"
t0=$(now); "$PY" "$top/tools/play.py" --dir "$W/runs" --name floor -i "$W/inventory.yml" "$W/floor.yml" > /dev/null
floor=$(echo "$(now) - $t0" | bc)
printf 'floor (one command task through tools/play.py): %.2f s   load average: %s\n' "$floor" "$(cut -d' ' -f1-3 /proc/loadavg)"
json="{\"floor_s\": $floor, \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"runs\": ["
sep=
for n in "${sizes[@]}"; do
  {
    printf 'all:\n  hosts:\n    localhost: {ansible_connection: local, ansible_host: 10.99.0.1}\n'
    printf '  children:\n    peers:\n      vars:\n        segment_networks: [{id: "64", vni: 6464}]\n      hosts:\n'
    for i in $(seq 1 "$n"); do printf '        peer%03d: {ansible_host: 10.99.%d.%d}\n' "$i" $((i / 200 + 1)) $((i % 200 + 1)); done
  } > "$W/inventory.yml"
  peers=$(for i in $(seq 1 "$n"); do printf '10.99.%d.%d ' $((i / 200 + 1)) $((i % 200 + 1)); done)
  ip link del vxlan-6464 2>/dev/null || true; ip link del brq64 2>/dev/null || true
  play "$W/segment.yml"; first_t=$T first_r=$R first_c=$C
  if [ "$first_c" = 0 ] || [ "$(entries vxlan-6464)" != "$n" ]; then
    echo "first converge: changed=$first_c, $(entries vxlan-6464) entries" >&2; exit 1
  fi
  ct=(); cp=()
  for _ in 1 2 3; do
    play "$W/segment.yml"; [ "$C" = 0 ] || { echo "converged run changed ($C)" >&2; exit 1; }
    ct+=("$T"); cp+=("$P"); conv_r=$R conv_tasks=$TASKS
  done
  st=(); sp=(); lt=()
  for _ in 1 2 3; do
    for p in $peers; do bridge fdb del 00:00:00:00:00:00 dev vxlan-6464 dst "$p"; done
    [ "$(entries vxlan-6464)" = 0 ] || { echo "entries left behind the role" >&2; exit 1; }
    play "$W/segment.yml"
    if [ "$C" = 0 ] || [ "$(entries vxlan-6464)" != "$n" ]; then echo "sync: changed=$C" >&2; exit 1; fi
    st+=("$T"); sp+=("$P")
    ip link del bx-vx1 2>/dev/null || true
    ip link add bx-vx1 type vxlan id 6465 dstport 4789 dev bx-u0 local 10.99.0.1
    t0=$(now)
    for p in $peers; do bridge fdb append 00:00:00:00:00:00 dev bx-vx1 dst "$p"; done
    lt+=("$(echo "$(now) - $t0" | bc)")
    [ "$(entries bx-vx1)" = "$n" ] || { echo "per-entry loop: $(entries bx-vx1) entries" >&2; exit 1; }
  done
  conv_t=$(median "${ct[@]}") conv_p=$(median "${cp[@]}") sync_t=$(median "${st[@]}") sync_p=$(median "${sp[@]}") loop_t=$(median "${lt[@]}")
  echo
  printf 'segment of %d hosts (this one and %d peers declared in the inventory), medians of 3\n' $((n + 1)) "$n"
  printf '  first converge               %7.2f s  %2d task results  changed=%s\n' "$first_t" "$first_r" "$first_c"
  printf '  converged run                %7.2f s  %2d task results  changed=0   converged/first %.2f   floor %.2f s\n' \
    "$conv_t" "$conv_r" "$(echo "$conv_t / $first_t" | bc -l)" "$floor"
  printf '  its plumbing task            %7.3f s   (the last one, task by task, s: %s)\n' "$conv_p" "$conv_tasks"
  printf '  sync of %d flood entries: the run %.2f s, its plumbing task %.3f s\n' "$n" "$sync_t" "$sync_p"
  printf '  bridge fdb append x %d       %7.3f s (processes, a shell loop)\n' "$n" "$loop_t"
  printf '  sync task / per-entry processes  %.2f\n' "$(echo "$sync_p / $loop_t" | bc -l)"
  json="$json$sep{\"peers\": $n, \"first_s\": $first_t, \"first_results\": $first_r, \"converged_s\": $conv_t,"
  json="$json \"converged_results\": $conv_r, \"converged_plumbing_s\": $conv_p, \"sync_run_s\": $sync_t,"
  json="$json \"sync_plumbing_s\": $sync_p, \"fdb_append_loop_s\": $loop_t}"
  sep=", "
done
echo "$json]}" > "${BENCH_OUT:-$top/bench/results/segment.json}"
