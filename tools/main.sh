#!/usr/bin/env bash
# main.sh — sets up everything (tools/setup.sh) and runs the main job: the demo playbook
# playbooks/demo.yml against localhost, inside a throwaway network/mount namespace sandbox, so the
# machine's own interfaces, routes and namespaces are never touched.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tools/setup.sh
export ANSIBLE_COLLECTIONS_PATH="$top/build/collections"
export ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0
exec tools/sandbox.sh "$top/.venv/bin/ansible-playbook" -i localhost, -c local \
  -e ansible_python_interpreter="$top/.venv/bin/python" playbooks/demo.yml "$@"
