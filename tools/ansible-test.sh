#!/usr/bin/env bash
# ansible-test.sh [sanity|units|integration ...] [-- extra ansible-test args]
# Runs ansible-test on this collection offline and without Docker:
#  - ansible-test needs the tree at a real .../ansible_collections/virtnet/linux path: copy it;
#  - every ansible-test venv wants to download a get-pip bootstrap: give it an offline stand-in;
#  - integration touches the kernel: run it inside the sandbox (tools/sandbox.sh), with the
#    project's venv (the sandbox has no route to any package registry).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
steps=() extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  steps+=("$1"); shift
done
[ ${#steps[@]} -gt 0 ] || steps=(sanity units integration)
venv=${VIRTNET_VENV:-$top/.venv}     # another venv for a second test leg (other pyroute2 / ansible-core)
export PATH="$venv/bin:$PATH"
py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

req=$(python -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))')
pipver=$(sed -n "s/.*pip='\([0-9.]*\)'.*/\1/p" "$req" | head -1)
mkdir -p ~/.ansible/test/cache
getpip=~/.ansible/test/cache/get_pip_"${pipver//./_}".py
# written to a file of its own, then renamed: a run beside this one (tools/test.sh's lanes) never reads half a file
cat > "$getpip.$$" <<'PY'
"""Offline stand-in for ansible-test's get-pip bootstrap."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q'] + args)
PY
mv -f "$getpip.$$" "$getpip"

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/virtnet/linux
mkdir -p "$dest"
cd "$top"
# every tracked or new file that exists (a tracked file deleted in the worktree is left out); a copy that
# fails stops the run, so a test file can never be missing silently
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  cp --parents -a -- "$f" "$dest"/
done
(cd "$dest" && git init -q && git add -A >/dev/null && git -c user.email=ci@localhost -c user.name=ci commit -qm tree)

cd "$dest"
for step in "${steps[@]}"; do
  echo "=== ansible-test $step"
  case $step in
    sanity) ansible-test sanity --python "$py" "${extra[@]}" ;;
    units) ansible-test units --venv --python "$py" "${extra[@]}" ;;
    integration)
      "$top/tools/sandbox.sh" --pid ansible-test integration --python "$py" --allow-destructive "${extra[@]}" ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
