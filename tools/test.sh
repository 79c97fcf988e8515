#!/usr/bin/env bash
# test.sh [--deep] [--serial] — sets up everything (tools/setup.sh, tools/setup-legs.sh), then runs every
# test of the collection in three lanes side by side (a stage's output goes to build/ci/STAGE.log):
#   roles lane  roles      tests/roles/*: dhcp_namespace (with DHCP HA), segment and vpn_endpoint on one shared lab
#   lab lane    (each on a lab of simulated SSH hosts, in a sandbox of its own; tests/README.md)
#               lab        tests/lab: the lab itself (tools/lab.sh)
#               daemon     tests/daemon: the daemon module's two back ends (systemd unit, pid file) over SSH
#               site       tests/site: site.yml built, installed and faulted (SIGKILL trials: one round)
#   plain lane  (no lab)
#               docs       every module's documentation renders, with examples
#               package    the built collection carries the content only (galaxy.yml build_ignore)
#               ee         an execution environment: ansible-builder introspect and create (no container)
#               leg1-integration  ansible-core 2.19, pyroute2 0.9 (PyPI): the integration targets on the real kernel
#   then each lane takes stages from the queue (any lane; the longest first, each stage once):
#               leg1       ansible-core 2.19: unit tests and ansible-test sanity (ignore files stay empty)
#               leg2       Debian's python3-pyroute2 0.7: the integration targets of what only this leg runs
#                          with 0.7 (LEG2_TARGETS below: routes, bridge attributes, the engine)
#               molecule-* every molecule scenario (molecule/*/molecule.yml), each in a lab sandbox of its own
#               system     tests/system: modules SIGKILLed mid-batch, then run again
#               leg3       ansible-core 2.21 on Python 3.13: units and the sanity tests whose verdict depends
#                          on the core or the Python version (LEG3_SANITY below; where Python 3.13 exists)
#               lint       ansible-lint --profile production roles/ playbooks/
#   The lab-based stages wait much of their time (pings, leases, daemons, boots): three lanes fill those waits
#   with the work of the others. Every lab and every ansible-test run has a sandbox of its own.
#   --deep     also the long trials: 10 SIGKILL trials of single hosts and 2 of the whole site, and the
#              role tests marked deep (tests/README.md names them)
#   --serial   the lanes one after the other (to compare with the lanes side by side)
# Every stage runs even when one fails. Prints a line when a stage starts and ends, and at the end a table
# of every stage (start, duration, CPU time of its processes, result; also build/ci/stages.md). The CPU
# column is the budget's measure when the machine runs other work too. Exit code 0 only if all pass.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deep=() serial=0
for a in "$@"; do
  case $a in
    --deep) deep=(--deep) ;;
    --serial) serial=1 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
t0=$(date +%s)
ci=$top/build/ci
rm -rf "$ci"; mkdir -p "$ci"
clock() { local s=$(($(date +%s) - t0)); printf '%3dm%02ds' $((s / 60)) $((s % 60)); }

# stage LANE NAME COMMAND...: runs COMMAND, its output in build/ci/NAME.log; records start, duration, result
# and the CPU time (user + system) of its processes - what the stage costs whatever else the machine runs
stage() {
  local lane=$1 name=$2 s rc=0 cpu; shift 2
  s=$(date +%s)
  echo "=== [$(clock)] $lane/$name: start"
  ( "$@" > "$ci/$name.log" 2>&1; rc=$?; times > "$ci/$name.times"; exit $rc ) || rc=$?
  cpu=$(awk '{ for (i = 1; i <= NF; i++) { split($i, t, /[ms]/); c += 60 * t[1] + t[2] } } END { printf "%d", c }' "$ci/$name.times" 2>/dev/null || echo 0)
  local d=$(($(date +%s) - s)) result=ok
  [ $rc = 0 ] || result="FAILED (rc $rc)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$lane" "$name" $((s - t0)) "$d" "$result" "$cpu" >> "$ci/stages.tsv"
  echo "=== [$(clock)] $lane/$name: $result after ${d}s"
  if [ $rc != 0 ]; then tail -40 "$ci/$name.log" | sed "s|^|    $name: |"; fi
  return 0
}

docs() {  # every module's documentation renders, with examples
  local m name
  for m in plugins/modules/*.py; do
    name=virtnet.linux.$(basename "$m" .py)
    ANSIBLE_COLLECTIONS_PATH="$top/build/collections" .venv/bin/ansible-doc "$name" > "$ci/doc.txt" || { echo "ansible-doc $name failed"; return 1; }
    grep -q 'EXAMPLES:' "$ci/doc.txt" || { echo "ansible-doc $name shows no examples"; return 1; }
    echo "ansible-doc $name: ok ($(wc -l < "$ci/doc.txt") lines)"
  done
}
package() {  # the built collection carries the content only (galaxy.yml build_ignore; README.md "The built collection")
  local pack files extra
  pack=$(mktemp -d)
  .venv/bin/ansible-galaxy collection build --output-path "$pack" . > /dev/null
  files=$(tar tzf "$pack"/virtnet-linux-*.tar.gz); rm -rf "$pack"
  extra=$(grep -vE '^((plugins|roles|playbooks|meta|docs|changelogs|tests/(unit|integration|sanity))/|tests/(config\.yml)?$|(README|BENCHMARKS)\.md$|LICENSE$|(MANIFEST|FILES)\.json$)' <<<"$files"
          grep -E '^playbooks/inventory/(lab|bench)\.yml$' <<<"$files"; true)
  [ -z "$extra" ] || { printf 'the built collection carries what it should not:\n%s\n' "$extra"; return 1; }
  echo "collection build: the content only"
}
ee() {  # ansible-builder sees the collection's requirements (meta/execution-environment.yml) and writes the
  # build context of docs/execution-environment.yml (no container runtime needed)
  ANSIBLE_COLLECTIONS_PATH="$top/build/collections" .venv/bin/ansible-builder introspect --sanitize build/collections > "$ci/ee-introspect.txt"
  if ! grep -q '^- .pyroute2.*from collection virtnet.linux' "$ci/ee-introspect.txt" \
     || ! grep -q '^- .graphviz.*from collection virtnet.linux' "$ci/ee-introspect.txt"; then
    cat "$ci/ee-introspect.txt"; echo "ansible-builder does not see the collection's requirements"; return 1
  fi
  rm -rf build/ee && .venv/bin/ansible-builder create -f docs/execution-environment.yml --context build/ee > /dev/null
  echo "ansible-builder introspect and create: ok"
}
# leg 2's targets: the lab hosts run every module with Debian's pyroute2 0.7 (it is their python3's), so the
# addresses, links, ports and namespaces that the roles make are made and read with 0.7 in every lab-based
# test; what no role does is left to these targets: routes (no role declares one), a bridge's IFLA_BR_*
# attributes, the engine's batches and lock. (The address target runs in leg1.)
LEG2_TARGETS=(bridge route engine)
# leg 3's sanity tests: those whose verdict depends on ansible-core 2.21 or Python 3.13 - the code compiles and
# imports there (with 2.21's module_utils), the documentation and argument specs meet 2.21's schema
# (validate-modules, ansible-doc, action-plugin-docs), meta/runtime.yml meets it. The tool checks (pylint, pep8,
# yamllint, shellcheck, line endings, ...) judge the code itself, with the tool versions each core pins: leg1
# runs them (every sanity test, with 2.19's pins); pylint alone is 70 s of CPU.
LEG3_SANITY=(compile import validate-modules ansible-doc action-plugin-docs runtime-metadata)
leg3() {
  local rc=0 t tests=()
  for t in "${LEG3_SANITY[@]}"; do tests+=(--test "$t"); done
  if [ -x .venv-new/bin/python ]; then
    VIRTNET_VENV="$top/.venv-new" bash tools/ansible-test.sh units || rc=1
    VIRTNET_VENV="$top/.venv-new" bash tools/ansible-test.sh sanity -- "${tests[@]}" || rc=1
  else echo "leg 3 NOT RUN: this machine has no Python 3.13 interpreter for ansible-core 2.21"; fi
  return $rc
}
# The stages any lane may run: when a lane is done with its own stages, it takes the next of these that no lane
# has taken yet (claimed by mkdir, which is atomic), the longest first; so the lanes end at about the same time.
queue() {
  local s
  echo leg1 leg2
  for s in site vpn_endpoint; do [ -f "molecule/$s/molecule.yml" ] && echo "molecule-$s"; done
  echo system leg3
  for s in $(cd molecule && ls); do     # every other molecule scenario
    case $s in shared|site|vpn_endpoint) continue ;; esac
    [ -f "molecule/$s/molecule.yml" ] && echo "molecule-$s"
  done
  echo lint
}
queued() {  # LANE NAME: one stage of the queue
  local lane=$1 name=$2
  case $name in
    leg1) stage "$lane" leg1 bash tools/ansible-test.sh units sanity ;;
    leg2) stage "$lane" leg2 env VIRTNET_VENV="$top/.venv-deb" bash tools/ansible-test.sh integration -- "${LEG2_TARGETS[@]}" ;;
    leg3) stage "$lane" leg3 leg3 ;;
    system) stage "$lane" system tools/sandbox.sh .venv/bin/python -m pytest -c tests/pytest.ini tests/system -q ;;
    lint) stage "$lane" lint env PATH="$top/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$top/build/collections" ansible-lint --profile production roles/ playbooks/ ;;
    # each scenario in its own lab sandbox, judged by molecule's exit code
    molecule-*) stage "$lane" "$name" tools/sandbox.sh --pid env PATH="$top/.venv/bin:$PATH" molecule test -s "${name#molecule-}" ;;
  esac
}
from_queue() {  # LANE
  local name
  for name in $(queue); do
    mkdir "$ci/claimed-$name" 2>/dev/null || continue
    queued "$1" "$name"
  done
}
lab_lane() {
  stage lab lab bash tests/run.sh tests/lab
  stage lab daemon bash tests/run.sh tests/daemon
  stage lab site bash tests/run.sh tests/site "${deep[@]}"
  from_queue lab
}
roles_lane() {
  stage roles roles bash tests/run.sh tests/roles "${deep[@]}"
  from_queue roles
}
plain_lane() {
  stage plain docs docs
  stage plain package package
  stage plain ee ee
  stage plain leg1-integration bash tools/ansible-test.sh integration
  from_queue plain
}

stage setup setup bash tools/setup.sh
stage setup legs bash tools/setup-legs.sh
if grep -q FAILED "$ci/stages.tsv"; then echo "set-up failed: see $ci/setup.log, $ci/legs.log"; exit 1; fi
# the qemu guest of the DHCP role test: fetched before the sandboxes (apt-get download)
stage setup guest .venv/bin/python tests/harness/guest.py build/qemu-guest
export ANSIBLE_NOCOLOR=1
echo "=== [$(clock)] ansible-core $(.venv/bin/python -c 'import ansible; print(ansible.__version__)'), pyroute2 $(.venv/bin/python -c 'import pyroute2; print(pyroute2.__version__)'), Debian's pyroute2 $(dpkg-query -W -f='${Version}' python3-pyroute2); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
cpu0=$(head -1 /proc/stat)
if [ $serial = 1 ]; then
  roles_lane; lab_lane; plain_lane
else
  roles_lane & roles=$!
  lab_lane & lab=$!
  plain_lane & plain=$!
  wait $roles || true; wait $lab || true; wait $plain || true
fi
cpu1=$(head -1 /proc/stat)

{
  echo "| lane | stage | start | duration | cpu | result |"
  echo "|---|---|---|---|---|---|"
  sort -t$'\t' -k3,3n "$ci/stages.tsv" | while IFS=$'\t' read -r lane name start d result cpu; do
    printf '| %s | %s | %dm%02ds | %dm%02ds | %dm%02ds | %s |\n' "$lane" "$name" $((start / 60)) $((start % 60)) $((d / 60)) $((d % 60)) $((cpu / 60)) $((cpu % 60)) "$result"
  done
  for lane in setup roles lab plain; do   # a lane's stages one after the other: the sum of their durations
    awk -F'\t' -v l="$lane" '$1 == l { s += $4; c += $6 } END { printf "| %s | (the lane, its stages added up) | | %dm%02ds | %dm%02ds | |\n", l, s / 60, s % 60, c / 60, c % 60 }' "$ci/stages.tsv"
  done
  s=$(($(date +%s) - t0)) cpu=$(awk -F'\t' '{ c += $6 } END { printf "%d", c }' "$ci/stages.tsv")
  printf '| all | (wall clock; cpu: every stage added up) | | %dm%02ds | %dm%02ds | %s |\n' $((s / 60)) $((s % 60)) $((cpu / 60)) $((cpu % 60)) "$(grep -q FAILED "$ci/stages.tsv" && echo FAILED || echo ok)"
  echo
  # the machine's CPU time from the start of the lanes to their end (every process of the machine, not only ours)
  busy=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 2; i <= n; i++) { d = y[i] - x[i]; t += d; if (i == 5 || i == 6) idle += d }
                                              printf "%d%%", t ? 100 * (t - idle) / t : 0 }')
  echo "$(nproc) cores, busy $busy of the time the lanes ran (the whole machine's CPU), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$ci/stages.md"
echo; cat "$ci/stages.md"
if grep -q FAILED "$ci/stages.tsv"; then
  echo "FAILED: $(awk -F'\t' '$5 ~ /FAILED/ { printf "%s ", $2 }' "$ci/stages.tsv")(logs in $ci/)"
  exit 1
fi
echo "=== [$(clock)] all tests passed"
