# bench/_preamble.sh — sourced by the bench scripts after they set $top (the checkout):
#   top=$(cd "$(dirname "$0")/.." && pwd); . "$top/bench/_preamble.sh"
# strict mode, $top as the working directory, bench/results made, and the venv tools/setup.sh makes checked.
# shellcheck shell=bash disable=SC2154
set -euo pipefail
cd "$top"
mkdir -p bench/results
[[ -x .venv/bin/ansible-playbook ]] || { echo "bench: .venv missing: run tools/setup.sh first" >&2; exit 2; }
