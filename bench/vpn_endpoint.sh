#!/usr/bin/env bash
# bench/vpn_endpoint.sh [SIZES...] — the vpn_endpoint role with N instances per host (default: 1 3 10):
# for each N, in a sandbox with its own PID namespace and a fresh lab of two plain hosts (vpn1 serves N
# instances, vpn2 is a client of each; molecule/vpn_endpoint/role.yml: a servers' play, then a clients'
# play), a first converge and a second one (must be changed=0: tools/play.py --idempotent), their wall
# times, their ratio (converged/first) and each host's task results (issue 21's measure: every ok/changed
# result, loop items and delegated results included). With VPN_BENCH_BEFORE=REV the role as it was at git
# revision REV runs the same in the same sandbox (its own copy of the collection: the modules of this
# tree, the role of REV), for an A/B on the same machine and load. Figures on stdout and in
# bench/results/vpn_endpoint.json.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[[ -x .venv/bin/ansible-playbook ]] || { echo "bench: .venv missing: run tools/setup.sh first" >&2; exit 2; }
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1 3 10)
mkdir -p bench/results
W=$top/build/bench-vpn; rm -rf "$W"; mkdir -p "$W"
variants=(after)
if [ -n "${VPN_BENCH_BEFORE:-}" ]; then      # a collection tree with the role of that revision
  variants+=(before)
  mkdir -p "$W/before/ansible_collections/virtnet"
  git archive --format=tar HEAD | (mkdir -p "$W/before/tree" && tar -x -C "$W/before/tree")
  rm -rf "$W/before/tree/roles/vpn_endpoint"
  git archive --format=tar "$VPN_BENCH_BEFORE" roles/vpn_endpoint | tar -x -C "$W/before/tree"
  ln -sfn "$W/before/tree" "$W/before/ansible_collections/virtnet/linux"
fi
for n in "${sizes[@]}"; do
  for v in "${variants[@]}"; do
    cols=$top/build/collections; [ "$v" = before ] && cols=$W/before
    # shellcheck disable=SC2016  # expanded by the inner bash
    tools/sandbox.sh --pid bash -c '
      set -euo pipefail
      n=$1 v=$2 top=$3 W=$4 dir=$4/$2-$1
      mkdir -p "$dir"
      bash "$top/tools/lab.sh" --dir "$dir/lab" up vpn1:plain vpn2:plain > "$dir/up.log" 2>&1
      trap "bash $top/tools/lab.sh --dir $dir/lab down >/dev/null 2>&1" EXIT
      python3 - "$n" > "$dir/vars.yml" <<PY
import sys
n = int(sys.argv[1])
print("vpn_test_instances:")
print("  vpn1:")
for i in range(n):
    print("    - {name: b%d, role: server, port: %d, subnet: 10.%d.0.0/24, push_routes: [10.%d.0.0/24]}" % (i, 1194 + i, 60 + i, 160 + i))
print("  vpn2:")
for i in range(n):
    print("    - {name: b%d, role: client, server: vpn1}" % i)
PY
      for pass in 1 2; do
        idem=(); [ "$pass" = 2 ] && idem=(--idempotent)
        t0=$(date +%s.%N)
        env ANSIBLE_COLLECTIONS_PATH="$5" "$top/.venv/bin/python" "$top/tools/play.py" --dir "$dir/runs" --name "pass-$pass" \
          --summary "$dir/pass-$pass.json" "${idem[@]}" -i "$dir/lab/inventory.yml" "$top/molecule/vpn_endpoint/role.yml" \
          -e @"$dir/vars.yml" > "$dir/pass-$pass.log" 2>&1 || { tail -30 "$dir/pass-$pass.log"; exit 1; }
        echo "$(date +%s.%N) - $t0" | bc > "$dir/pass-$pass.s"
      done
    ' bench "$n" "$v" "$top" "$W" "$cols"
  done
done
python3 - "$W" "$top/bench/results/vpn_endpoint.json" "${sizes[@]}" <<'PY'
import json, os, sys
W, out, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
rows = []
print('%-7s %9s %9s %9s %9s  %s' % ('role', 'instances', 'first_s', 'second_s', 'ratio', 'task results, 1st / 2nd pass'))
for n in sizes:
    for v in ('before', 'after'):
        d = os.path.join(W, '%s-%d' % (v, n))
        if not os.path.isdir(d):
            continue
        t = [float(open(os.path.join(d, 'pass-%d.s' % p)).read()) for p in (1, 2)]
        s = [json.load(open(os.path.join(d, 'pass-%d.json' % p)))['hosts'] for p in (1, 2)]
        lines = dict((h, [s[0][h]['task_results'], s[1][h]['task_results']]) for h in sorted(s[1]))
        rows.append({'role': v, 'instances': n, 'first_s': t[0], 'second_s': t[1], 'ratio': t[1] / t[0],
                     'task_results': lines, 'second_changed': sum(x['changed'] for x in s[1].values())})
        print('%-7s %9d %9.1f %9.1f %9.2f  %s' % (v, n, t[0], t[1], t[1] / t[0],
                                                 ', '.join('%s %d / %d' % (h, a, b) for h, (a, b) in lines.items())))
load = open('/proc/loadavg').read().split()[:3]
print('load average at the end: %s' % ' '.join(load))
json.dump({'load': load, 'runs': rows}, open(out, 'w'), indent=1)
PY
