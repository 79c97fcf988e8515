#!/usr/bin/env bash
# bench/site.sh [COUNTS...] — playbooks/site.yml at fleet scale (BENCHMARKS.md, "The site at scale"): for
# each host count (default 1 4 16), in a fresh sandbox with a fresh lab (half plain, half systemd hosts;
# one VPN server, then VPN clients (also compute hosts: guests) and DHCP nodes in turn), the wall time of the first converge, of the
# second (changed=0, checked by tools/play.py from the run's events) and where the time goes per play/role (the second converge), with forks 16.
# Prints wall(N)/wall(1). Writes bench/results/site.md. Run after tools/setup.sh; timings depend on the
# machine's load (noted with the figures).
#   Each converge also reports the CPU seconds the whole sandbox used (bench/sandbox_cpu.py: controller, ssh, every
# lab host) - a 2-core machine is saturated when CPU/wall nears 2.
#   bench/site.sh --mitogen [COUNTS...]   also Mitogen for Ansible (strategy mitogen_linear, PyPI mitogen,
#     installed into bench/.mitogen - never a dependency of the collection): after the two converges, the
#     converged run alternately with and without it (4 runs each, all changed=0), medians and their ratio.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mitogen=0
if [ "${1:-}" = --mitogen ]; then
  mitogen=1; shift
  if [ ! -d bench/.mitogen/ansible_mitogen ]; then
    rm -rf bench/.mitogen
    .venv/bin/pip install -q --target bench/.mitogen 'mitogen>=0.3.20,<0.4'
  fi
fi
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1 4 16)
mkdir -p bench/results
out=bench/results/site.md
: > bench/results/site-raw.txt
for n in "${counts[@]}"; do
  # shellcheck disable=SC2016  # the script is expanded by the inner bash
  tools/sandbox.sh --pid bash -c '
    set -euo pipefail
    n=$1 top=$2 dir=$2/build/bench-site
    rm -rf "$dir"; mkdir -p "$dir"
    inv=$top/playbooks/inventory/bench.yml
    specs=()
    for i in $(seq 1 "$n"); do
      kind=plain; [ $((i % 2)) = 0 ] && kind=systemd
      if [ "$i" = 1 ]; then g=vpn_servers; [ "$n" = 1 ] && g=vpn_servers,dhcp_nodes
      elif [ $((i % 2)) = 0 ]; then g=vpn_clients,compute; else g=dhcp_nodes; fi
      specs+=("h$i:$kind:$g")
    done
    tools/lab.sh --dir "$dir/lab" --inventory "$inv" up "${specs[@]}" > "$dir/up.log" 2>&1
    trap "tools/lab.sh --dir $dir/lab down >/dev/null 2>&1; rm -f $inv" EXIT
    export ANSIBLE_COLLECTIONS_PATH=$top/build/collections ANSIBLE_FORKS=16 ANSIBLE_NOCOLOR=1 \
      ANSIBLE_CALLBACK_PLUGINS=$top/bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=bench_timer
    for pass in 1 2; do
      idem=(); [ "$pass" = 2 ] && idem=(--idempotent)     # the second converge must change nothing
      c0=$(python3 "$top/bench/sandbox_cpu.py"); t0=$(date +%s.%N)
      BENCH_TIMER_OUT=$dir/timer-$pass.json "$top/.venv/bin/python" "$top/tools/play.py" --dir "$dir/runs" \
        --name "site-$pass" "${idem[@]}" -i "$inv" playbooks/site.yml -e site_topology_dir="$dir/topology" \
        > "$dir/site-$pass.log" 2>&1 || { tail -30 "$dir/site-$pass.log"; exit 1; }
      t1=$(date +%s.%N); c1=$(python3 "$top/bench/sandbox_cpu.py")
      echo "$n $pass $(awk -v a=$t0 -v b=$t1 "BEGIN { printf \"%.1f\", b - a }") $(awk -v a=$c0 -v b=$c1 "BEGIN { printf \"%.1f\", b - a }")"
    done
    if [ "$3" = 1 ]; then     # converged runs, alternately without (plain) and with Mitogen
      for k in 1 2 3 4; do
        for how in plain mitogen; do
          env=(); [ $how = mitogen ] && env=(PYTHONPATH="$top/bench/.mitogen" ANSIBLE_STRATEGY=mitogen_linear
            ANSIBLE_STRATEGY_PLUGINS="$top/bench/.mitogen/ansible_mitogen/plugins/strategy")
          c0=$(python3 "$top/bench/sandbox_cpu.py"); t0=$(date +%s.%N)
          env "${env[@]}" "$top/.venv/bin/python" "$top/tools/play.py" --dir "$dir/runs" --name "$how-$k" --idempotent \
            -i "$inv" playbooks/site.yml -e site_topology_dir="$dir/topology" > "$dir/$how-$k.log" 2>&1 \
            || { tail -30 "$dir/$how-$k.log"; exit 1; }
          t1=$(date +%s.%N); c1=$(python3 "$top/bench/sandbox_cpu.py")
          echo "strategy $n $how $(awk -v a=$t0 -v b=$t1 "BEGIN { printf \"%.2f\", b - a }") $(awk -v a=$c0 -v b=$c1 "BEGIN { printf \"%.1f\", b - a }")"
        done
      done
    fi
    python3 - "$dir/timer-2.json" "$n" <<PY
import json, sys
t = json.load(open(sys.argv[1]))["tasks"]
by = {}
for i, task in enumerate(t):
    end = t[i + 1]["start"] if i + 1 < len(t) else task["end"] or task["start"]
    key = task["name"].split(" : ")[0] if " : " in task["name"] else "(play tasks)"
    by[key] = by.get(key, 0) + max(0, end - task["start"])
print("roles %s %s" % (sys.argv[2], " ".join("%s=%.1f" % kv for kv in sorted(by.items(), key=lambda kv: -kv[1]))))
PY
  ' bench "$n" "$top" "$mitogen" | tee -a bench/results/site-raw.txt
done
python3 - bench/results/site-raw.txt "$out" <<'PY'
import sys
import statistics
rows, roles, strategy, cpu = {}, {}, {}, {}
for line in open(sys.argv[1]):
    p = line.split()
    if p[0] == 'roles':
        roles[int(p[1])] = ' '.join(p[2:])
    elif p[0] == 'strategy':
        strategy.setdefault(int(p[1]), {}).setdefault(p[2], []).append(float(p[3]))
        cpu.setdefault(int(p[1]), {}).setdefault(p[2], []).append(float(p[4]) if len(p) > 4 else float('nan'))
    else:
        rows.setdefault(int(p[0]), {})[int(p[1])] = float(p[2])
        cpu.setdefault(int(p[0]), {})[int(p[1])] = float(p[3]) if len(p) > 3 else float('nan')
base = rows.get(1, {}).get(1)
with open(sys.argv[2], 'w') as f:
    f.write('| hosts | first converge (s) | second converge, changed=0 (s) | first: wall(N)/wall(1) | second: wall(N)/wall(1) '
            '| second converge: CPU of the sandbox (s), per host, cores busy | second converge per role (s) |\n'
            '|---|---|---|---|---|---|---|\n')
    for n in sorted(rows):
        r = rows[n]
        r1 = '%.2f' % (r[1] / rows[1][1]) if 1 in rows else '-'
        r2 = '%.2f' % (r[2] / rows[1][2]) if 1 in rows else '-'
        c = cpu[n][2]
        f.write('| %d | %.1f | %.1f | %s | %s | %.1f, %.2f, %.2f | %s |\n' % (n, r[1], r[2], r1, r2, c, c / n, c / r[2],
                roles.get(n, '')))
    if strategy:
        f.write('\n| hosts | converged run, linear (s, median of %d) | with Mitogen, mitogen_linear (s) | Mitogen / linear '
                '| CPU of the sandbox, linear / Mitogen (s, medians) |\n'
                '|---|---|---|---|---|\n' % len(next(iter(strategy.values()))['plain']))
        for n in sorted(strategy):
            a, b = statistics.median(strategy[n]['plain']), statistics.median(strategy[n]['mitogen'])
            f.write('| %d | %.2f (%s) | %.2f (%s) | %.2f | %.1f / %.1f |\n' % (n, a, ' '.join('%.1f' % x for x in strategy[n]['plain']), b,
                    ' '.join('%.1f' % x for x in strategy[n]['mitogen']), b / a, statistics.median(cpu[n]['plain']),
                    statistics.median(cpu[n]['mitogen'])))
print(open(sys.argv[2]).read())
PY
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores), $(date -u +%Y-%m-%dT%H:%MZ)" | tee -a "$out"
