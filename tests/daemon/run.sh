#!/usr/bin/env bash
# tests/daemon/run.sh — virtnet.linux.daemon over SSH on a systemd and a plain lab host, both back ends with
# the same tasks (tests/daemon/backends.yml): a batch that owns its files (the rhythm, reload and restart
# classes, one daemon-reload per batch on systemd), log_errors with a real dnsmasq in a namespace (the
# unit's journal; the pid file back end's log), removal. In its own sandbox; the lab goes down at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
if [ "${1:-}" != --in-sandbox ]; then exec tools/sandbox.sh --pid bash "$0" --in-sandbox; fi
[ -x .venv/bin/python ] || bash tools/setup.sh
D=$top/build/test-daemon
trap 'tools/lab.sh --dir "$D" down >/dev/null 2>&1 || true' EXIT
tools/lab.sh --dir "$D" down >/dev/null 2>&1 || true
tools/lab.sh --dir "$D" up d1:systemd:daemon_hosts d2:plain:daemon_hosts >/dev/null
export ANSIBLE_COLLECTIONS_PATH=$top/build/collections ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 \
  ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ANSIBLE_LOCALHOST_WARNING=0
.venv/bin/ansible-playbook -i "$D/inventory.yml" tests/daemon/backends.yml
echo "daemon back ends: all passed"
