#!/usr/bin/env bash
# tests/run.sh [PYTEST ARGS...] — the lab-based tests with pytest, inside one lab sandbox
# (tools/sandbox.sh --pid: own network, mount and PID namespaces; the machine's network is never touched).
# Without arguments: tests/lab, tests/roles and tests/site. Examples:
#   tests/run.sh tests/roles/vpn_endpoint                 one module
#   tests/run.sh tests/site -k concurrent                 one behaviour (and the steps it builds on)
#   tests/run.sh tests/site --deep                        with the long trials (tools/test.sh --deep)
# Runs' artifacts: build/tests/runs/MODULE/; labs: build/tests/labs/. See tests/README.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x .venv/bin/python ] || bash tools/setup.sh
# the qemu guest of the DHCP role test (cached in build/qemu-guest): built here, outside the sandbox
.venv/bin/python tests/harness/guest.py build/qemu-guest
[ $# -gt 0 ] || set -- tests/lab tests/roles tests/site
exec tools/sandbox.sh --pid env PATH="$top/.venv/bin:$PATH" .venv/bin/python -m pytest -c tests/pytest.ini "$@"
