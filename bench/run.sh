#!/usr/bin/env bash
# bench/run.sh [--setup-cg] [bench.py options]   — the module-layer speed benchmark of virtnet.linux.
#
# Everything that touches the kernel runs inside tools/sandbox.sh (a throwaway network + mount
# namespace with private /run/netns and /etc/netns); the machine's own interfaces are never touched.
#   bench/run.sh                                   everything (about 6-9 min on 2 cores)
#   bench/run.sh --sections overhead,netns         some sections (import overhead netns veth link_info profile plumbing daemon vxlan)
#   bench/run.sh --pairs 100 --netns-sizes 50 --links 1000 --repeat 1   smaller and quicker
#   bench/run.sh --setup-cg                        (re)create bench/.venv-cg with the `ansible` package
#                                                  (community.general, for the ip_netns comparison), then run
#   bench/run.sh --help                            every option
# Figures: stdout, and bench/results/latest.json (+ a time-stamped copy, + cProfile .prof files).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$root"

if [[ "${1:-}" == "--setup-cg" ]]; then
  shift
  rm -rf bench/.venv-cg
  python3 -m venv bench/.venv-cg
  bench/.venv-cg/bin/pip install -q 'ansible>=12,<13' 'ansible-core>=2.19,<2.20'
fi

[[ -x .venv/bin/ansible-playbook ]] || { echo "bench: .venv missing: run tools/setup.sh first" >&2; exit 2; }
[[ -e build/collections/ansible_collections/virtnet/linux ]] || {
  mkdir -p build/collections/ansible_collections/virtnet
  ln -sfn "$root" build/collections/ansible_collections/virtnet/linux
}
if [[ ! -x bench/.venv-cg/bin/ansible-playbook ]]; then
  echo "bench: bench/.venv-cg missing: the community.general comparison is skipped (bench/run.sh --setup-cg)" >&2
fi

exec env VIRTNET_BENCH_IN_SANDBOX=1 \
  "$root/tools/sandbox.sh" "$root/.venv/bin/python" "$here/bench.py" "$@"
