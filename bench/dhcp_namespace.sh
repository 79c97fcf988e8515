#!/usr/bin/env bash
# bench/dhcp_namespace.sh [SIZES...]  — the dhcp_namespace role on N networks (default: 3 20).
# For each N, in a sandbox with its own PID namespace (tools/sandbox.sh --pid, so every dnsmasq ends with
# it): a first converge (builds N bridges, namespaces, veth pairs, addresses, files and dnsmasq), a
# second converge (must be changed=0), the task results of each (issue 21's measure: every ok/changed
# result, loop items included - one module or action run each; dhcp_namespace_install_packages is false
# here, so the dnsmasq program check is skipped), the converged/first ratio, and the converged run's cost
# per network. The floor is a run of one `ansible.builtin.command: "true"` task (through tools/play.py,
# as every run here) in the same sandbox: what any converge pays before the role does anything. Figures
# on stdout and in bench/results/dhcp_namespace.json (BENCH_OUT names another file).
# BENCH_COLLECTIONS=DIR runs another copy of the collection (DIR/ansible_collections/virtnet/linux), for
# example an older one from `git archive`, for a before/after in the same session.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
cd "$top"
[[ -x .venv/bin/ansible-playbook ]] || { echo "bench: .venv missing: run tools/setup.sh first" >&2; exit 2; }
mkdir -p build/collections/ansible_collections/virtnet bench/results
ln -sfn "$top" build/collections/ansible_collections/virtnet/linux
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(3 20)

if [ "${VIRTNET_BENCH_INSIDE:-}" != 1 ]; then
  exec env VIRTNET_BENCH_INSIDE=1 "$top/tools/sandbox.sh" --pid bash "$0" "${sizes[@]}"
fi

W=$(mktemp -d /tmp/dhcp-bench.XXXXXX); trap 'rm -rf "$W"' EXIT
chmod 755 "$W"    # dnsmasq reads its files as nobody: the role refuses a state directory nobody cannot enter
export ANSIBLE_COLLECTIONS_PATH=${BENCH_COLLECTIONS:-$top/build/collections} ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=false
export ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_PYTHON_INTERPRETER=$top/.venv/bin/python
now() { date +%s.%N; }
runs=0
play() {  # VARS STATE_DIR -> sets T (seconds), C (changed) and R (task results), from tools/play.py's summary
  local t0; t0=$(now)
  runs=$((runs + 1))
  # the playbook before the -e options: tools/play.py takes its first non-option argument as the playbook
  "$top/.venv/bin/python" "$top/tools/play.py" --dir "$W/runs" --name "run$runs" --summary "$W/summary.json" -i "$W/inventory" \
    "$top/molecule/dhcp_namespace/converge.yml" \
    -e dhcp_namespace_state_dir="$2" -e dhcp_namespace_install_packages=false -e @"$1" > "$W/log" 2>&1 || {
      tail -30 "$W/log"; tail -40 "$W/runs/run$runs/artifacts/run$runs/stdout"; exit 1; }
  T=$(echo "$(now) - $t0" | bc)
  read -r C R < <("$top/.venv/bin/python" -c 'import json, sys; h = json.load(open(sys.argv[1]))["hosts"]["localhost"]
print(h["changed"], h["task_results"])' "$W/summary.json")
}
printf 'localhost ansible_connection=local\n' > "$W/inventory"
cat > "$W/floor.yml" <<'EOF'
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.command: "true"
      changed_when: false
EOF
t0=$(now); "$top/.venv/bin/python" "$top/tools/play.py" --dir "$W/runs" --name floor -i "$W/inventory" "$W/floor.yml" > /dev/null; floor=$(echo "$(now) - $t0" | bc)
printf 'floor (one command task through tools/play.py): %.2f s   load average: %s\n' "$floor" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%9s %8s %8s %8s %9s %9s %9s %15s %16s\n' networks first_s results changed second_s results changed converged/first converged_s/net
json="{\"floor_s\": $floor, \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"runs\": ["
sep=
for n in "${sizes[@]}"; do
  sd=$W/state-$n; v=$W/nets-$n.yml
  {
    echo "dhcp_namespace_networks:"
    for i in $(seq 1 "$n"); do
      echo "  - {id: \"b$i\", subnet: 10.$((100 + i)).0.0/24, range_start: 10.$((100 + i)).0.100, range_end: 10.$((100 + i)).0.199, router: 10.$((100 + i)).0.1, domain: b$i.example, hosts: [{mac: \"52:54:00:00:$(printf %02x "$i"):10\", ip: 10.$((100 + i)).0.10, name: h$i}]}"
    done
  } > "$v"
  play "$v" "$sd"; t1=$T c1=$C r1=$R
  play "$v" "$sd"; t2=$T c2=$C r2=$R
  [ "$c2" = 0 ] || { echo "second converge of $n networks changed $c2" >&2; exit 1; }
  per=$(echo "($t2 - $floor) / $n" | bc -l)
  printf '%9s %8.2f %8s %8s %9.2f %9s %9s %15.2f %16.3f\n' "$n" "$t1" "$r1" "$c1" "$t2" "$r2" "$c2" "$(echo "$t2 / $t1" | bc -l)" "$per"
  json="$json$sep{\"networks\": $n, \"first_s\": $t1, \"first_results\": $r1, \"first_changed\": $c1, \"second_s\": $t2, \"second_results\": $r2, \"second_changed\": $c2}"
  sep=", "
  # tear down: purge (also measured), then the sandbox takes the rest
  printf 'dhcp_namespace_networks: []\ndhcp_namespace_purge: true\n' > "$W/purge.yml"
  play "$W/purge.yml" "$sd"; printf '%9s purge: %.2f s (changed=%s)\n' "$n" "$T" "$C"
done
echo "$json]}" > "$top/bench/results/${BENCH_OUT:-dhcp_namespace.json}"
