#!/usr/bin/env bash
# test.sh — sets up everything (tools/setup.sh, tools/setup-legs.sh) and runs every test of the collection:
#   leg 1 (ansible-core 2.19, Debian's Python 3.11, pyroute2 0.9 from PyPI): documentation check, the built
#         collection's content, the execution environment (ansible-builder introspect and create), unit
#         tests, ansible-test sanity (empty ignore files), the integration targets on the real kernel inside
#         a throwaway network/mount namespace sandbox, the interrupted-run (SIGKILL) trials, the lab's own
#         test (tests/lab, pytest on a lab fixture: tests/run.sh tests/lab), the daemon module's back ends on
#         lab hosts (tests/daemon/run.sh), every molecule
#         scenario (molecule/*/molecule.yml, each on a lab of SSH hosts in its own sandbox, one at a time)
#         and every role test script tests/roles/*/run.sh (each starts its own sandbox), and the site test
#         tests/site/run.sh (packaging, ansible-runner, -vvv secrets, faults, SIGKILL trials);
#   leg 2 (Debian's python3-pyroute2 0.7, ansible-core 2.19): the integration targets of the modules that use
#         pyroute2 (address, bridge, route, engine);
#   leg 3 (ansible-core 2.21 on Python 3.13, pyroute2 0.9): sanity and units (the integration targets run
#         in legs 1 and 2 only: slow scenarios run once, not once per leg).
# Exit code 0 only if all pass.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tools/setup.sh
bash tools/setup-legs.sh

echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] leg 1: ansible-core $(.venv/bin/python -c 'import ansible; print(ansible.__version__)'), pyroute2 $(.venv/bin/python -c 'import pyroute2; print(pyroute2.__version__)')"
# every module's documentation renders, with examples
export ANSIBLE_COLLECTIONS_PATH="$top/build/collections" ANSIBLE_NOCOLOR=1
for m in plugins/modules/*.py; do
  name=virtnet.linux.$(basename "$m" .py)
  .venv/bin/ansible-doc "$name" > /tmp/virtnet-doc.$$ || { echo "ansible-doc $name failed"; exit 1; }
  grep -q 'EXAMPLES:' /tmp/virtnet-doc.$$ || { echo "ansible-doc $name shows no examples"; exit 1; }
  echo "ansible-doc $name: ok ($(wc -l < /tmp/virtnet-doc.$$) lines)"
done
rm -f /tmp/virtnet-doc.$$
# the built collection carries the content only (galaxy.yml build_ignore; README.md "The built collection")
t=$SECONDS pack=$(mktemp -d)
.venv/bin/ansible-galaxy collection build --output-path "$pack" . > /dev/null
files=$(tar tzf "$pack"/virtnet-linux-*.tar.gz); rm -rf "$pack"
extra=$(grep -vE '^((plugins|roles|playbooks|meta|docs|changelogs|tests/(unit|integration|sanity))/|tests/(config\.yml)?$|(README|BENCHMARKS)\.md$|LICENSE$|(MANIFEST|FILES)\.json$)' <<<"$files"
        grep -E '^playbooks/inventory/(lab|bench)\.yml$' <<<"$files"; true)
[ -z "$extra" ] || { printf 'the built collection carries what it should not:\n%s\n' "$extra"; exit 1; }
echo "collection build: the content only ($((SECONDS - t))s)"
# an execution environment: ansible-builder sees the collection's requirements (meta/execution-environment.yml)
# and writes the build context of docs/execution-environment.yml (no container runtime needed)
t=$SECONDS
.venv/bin/ansible-builder introspect --sanitize build/collections > build/ee-introspect.txt
if ! grep -q '^- .pyroute2.*from collection virtnet.linux' build/ee-introspect.txt \
   || ! grep -q '^- .graphviz.*from collection virtnet.linux' build/ee-introspect.txt; then
  cat build/ee-introspect.txt; echo "ansible-builder does not see the collection's requirements"; exit 1
fi
rm -rf build/ee && .venv/bin/ansible-builder create -f docs/execution-environment.yml --context build/ee > /dev/null
echo "ansible-builder introspect and create: ok ($((SECONDS - t))s)"
bash tools/ansible-test.sh units sanity integration
# interrupted runs: modules SIGKILLed mid-batch, then run again (each trial in its own sandbox)
tools/sandbox.sh .venv/bin/python -m pytest -c tests/pytest.ini tests/system -q
# the lab of simulated SSH hosts itself (tools/lab.sh: hosts, inventory, reboot, nothing left after down;
# pytest on a lab fixture, tests/conftest.py)
bash tests/run.sh tests/lab
# the daemon module's two back ends over SSH (a systemd and a plain lab host): batch, files, log_errors
bash tests/daemon/run.sh
# the roles and playbooks as ansible-lint's production profile wants them (offline, .ansible-lint)
echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] ansible-lint --profile production roles/ playbooks/"
PATH="$top/.venv/bin:$PATH" ansible-lint --profile production roles/ playbooks/
# molecule: every scenario, one at a time, each in its own lab sandbox (judged by molecule's exit code);
# then every role's own test script. A role adds tests by adding files, never by editing this script.
failed=()
for d in molecule/*/; do
  s=$(basename "$d")
  { [ "$s" != shared ] && [ -f "$d/molecule.yml" ]; } || continue
  echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] molecule test -s $s"
  tools/sandbox.sh --pid env PATH="$top/.venv/bin:$PATH" molecule test -s "$s" || failed+=("molecule scenario $s")
done
for t in tests/roles/*/run.sh; do
  [ -f "$t" ] || continue
  echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] $t"
  bash "$t" || failed+=("$t")
done
# the site as operators meet it: built and installed, through ansible-runner, -vvv, faults, SIGKILL trials
echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] tests/site/run.sh"
bash tests/site/run.sh || failed+=("tests/site/run.sh")
[ ${#failed[@]} = 0 ] || { printf 'FAILED: %s\n' "${failed[@]}"; exit 1; }

# leg 2: the targets whose modules use pyroute2 (bridge, address, route; engine mixes them with the others).
# The modules that speak rtnetlink themselves do not depend on its version, and every lab-based test above
# already runs every module on the lab hosts' Python with Debian's pyroute2 0.7.
echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] leg 2: Debian's python3-pyroute2 $(dpkg-query -W -f='${Version}' python3-pyroute2), ansible-core 2.19"
VIRTNET_VENV="$top/.venv-deb" bash tools/ansible-test.sh integration -- address bridge route engine

if [ -x .venv-new/bin/python ]; then
  echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] leg 3: ansible-core $(.venv-new/bin/python -c 'import ansible; print(ansible.__version__)') on Python 3.13"
  VIRTNET_VENV="$top/.venv-new" bash tools/ansible-test.sh units sanity
else
  echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] leg 3 NOT RUN: this machine has no Python 3.13 interpreter for ansible-core 2.21"
fi
echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] all tests passed"
