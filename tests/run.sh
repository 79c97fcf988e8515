#!/usr/bin/env bash
# tests/run.sh [PYTEST ARGS...] — the lab-based tests with pytest, inside one lab sandbox
# (tools/sandbox.sh --pid: own network, mount and PID namespaces; the machine's network is never touched).
# Without arguments: tests/lab. Example: tests/run.sh tests/lab -k reboot  (one behaviour and the steps
# it builds on).
# Runs' artifacts: build/tests/runs/MODULE/; labs: build/tests/labs/. See tests/README.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x .venv/bin/python ] || bash tools/setup.sh
[ $# -gt 0 ] || set -- tests/lab
exec tools/sandbox.sh --pid env PATH="$top/.venv/bin:$PATH" .venv/bin/python -m pytest -c tests/pytest.ini "$@"
