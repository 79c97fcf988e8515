#!/usr/bin/env bash
# test.sh — sets up everything (tools/setup.sh) and runs every test of the collection:
# unit tests, ansible-test sanity (empty ignore files) and the integration targets on the real kernel
# inside a throwaway network/mount namespace sandbox. Exit code 0 only if all pass.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tools/setup.sh
bash tools/ansible-test.sh units sanity integration
echo "all tests passed"
