#!/usr/bin/env bash
# tests/roles/dhcp_namespace/run.sh — the dhcp_namespace role on the real kernel with real DHCP clients.
# Outside the sandbox: the qemu guest's kernel and initramfs (cached under build/qemu-guest). Then the
# test body (inside.sh) runs in a throwaway sandbox with its own PID namespace (tools/sandbox.sh --pid), so
# every dnsmasq, DHCP client and qemu it starts ends with it. Playbooks run against localhost with the
# worktree's venv python. Exit code 0 only if every check passes.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
here=$top/tests/roles/dhcp_namespace
cd "$top"
[ -x .venv/bin/python ] || bash tools/setup.sh
mkdir -p build/collections/ansible_collections/virtnet
ln -sfn "$top" build/collections/ansible_collections/virtnet/linux
bash "$here/guest-assets.sh" "$top/build/qemu-guest"
exec "$top/tools/sandbox.sh" --pid bash "$here/inside.sh" "$top"
