#!/usr/bin/env bash
# test.sh — sets up everything (tools/setup.sh) and runs every test of the collection:
# unit tests, ansible-test sanity (empty ignore files) and the integration targets on the real kernel
# inside a throwaway network/mount namespace sandbox. Exit code 0 only if all pass.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tools/setup.sh
# every module's documentation renders, with examples
export ANSIBLE_COLLECTIONS_PATH="$top/build/collections" ANSIBLE_NOCOLOR=1
for m in plugins/modules/*.py; do
  name=virtnet.linux.$(basename "$m" .py)
  .venv/bin/ansible-doc "$name" > /tmp/virtnet-doc.$$ || { echo "ansible-doc $name failed"; exit 1; }
  grep -q 'EXAMPLES:' /tmp/virtnet-doc.$$ || { echo "ansible-doc $name shows no examples"; exit 1; }
  echo "ansible-doc $name: ok ($(wc -l < /tmp/virtnet-doc.$$) lines)"
done
rm -f /tmp/virtnet-doc.$$
bash tools/ansible-test.sh units sanity integration
# interrupted runs: modules SIGKILLed mid-batch, then run again (each trial in its own sandbox)
tools/sandbox.sh .venv/bin/python -m pytest tests/system -q -p no:cacheprovider
echo "all tests passed"
