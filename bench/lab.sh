#!/usr/bin/env bash
# bench/lab.sh [COUNTS...] — the lab's figures (BENCHMARKS.md, "The lab"): for each kind (plain,
# systemd) and each count (default 1 4 16), in a fresh sandbox: the time `tools/lab.sh up KIND:COUNT`
# takes until every host accepts SSH (and its share spent in the plumbing playbook), the time `down`
# takes, and the memory per host (PSS of every process of the host - for systemd hosts nspawn, systemd,
# journald, dbus, logind, sshd; for plain hosts unshare and sshd - averaged over the hosts) plus the
# disk its upper dir takes. Writes bench/results/lab.md. Run after tools/setup.sh; timings depend on the
# machine's load (note `uptime` with the figures).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1 4 16)
mkdir -p bench/results
out=bench/results/lab.md
{
  echo "| kind | hosts | up (s) | of which plumbing (s) | down (s) | PSS per host (MiB) | upper dir per host (MiB) |"
  echo "|---|---|---|---|---|---|---|"
} > "$out"
for kind in plain systemd; do
  for n in "${counts[@]}"; do
    # shellcheck disable=SC2016  # the script is expanded by the inner bash
    tools/sandbox.sh --pid bash -c '
      set -euo pipefail
      kind=$1 n=$2 dir=$3/build/bench-lab
      now() { date +%s.%N; }
      t0=$(now); tools/lab.sh --dir "$dir" up "$kind:$n" >/dev/null; t1=$(now)
      . "$dir/plumbing.time"
      pss=0 disk=0
      for h in "$dir"/hosts/*/; do
        read -r p1 _ < "$h/pid1"; read -r sup _ < "$h/sup"; ns=$(readlink /proc/$p1/ns/pid)
        for p in /proc/[0-9]*; do
          q=${p#/proc/}
          if [ "$q" = "$sup" ] || [ "$(readlink $p/ns/pid 2>/dev/null)" = "$ns" ]; then
            k=$(awk "/^Pss:/ {print \$2}" $p/smaps_rollup 2>/dev/null || echo 0); pss=$((pss + ${k:-0}))
          fi
        done
        disk=$((disk + $(du -sk "$h/upper" | cut -f1)))
      done
      t2=$(now); tools/lab.sh --dir "$dir" down; t3=$(now)
      awk -v k="$kind" -v n="$n" -v up="$(awk -v a=$t0 -v b=$t1 "BEGIN{print b-a}")" -v pl="$plumbing_s" \
          -v dn="$(awk -v a=$t2 -v b=$t3 "BEGIN{print b-a}")" -v pss="$pss" -v disk="$disk" \
        "BEGIN { printf \"| %s | %d | %.1f | %.1f | %.1f | %.1f | %.2f |\n\", k, n, up, pl, dn, pss / n / 1024, disk / n / 1024 }"
    ' bench "$kind" "$n" "$top" | tee -a "$out"
  done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores), $(date -u +%Y-%m-%dT%H:%MZ)" | tee -a "$out"
