#!/usr/bin/env bash
# bench/site-trials.sh [N] [host|all] — the site's SIGKILL trials at any size: tools/test.sh --deep runs 10
# of scope host and 2 of scope all; CI runs one round (2 of scope host). N trials (default 10) of
#   host  a converge limited to one host, killed in a random task after that host's reboot (two hosts that
#         do not depend on each other at once), then the next converge and the one after (changed=0);
#   all   the whole site's converge, killed the same way after a reboot of every host.
# Runs tests/site's trial tests (pytest -m trials) and prints where each kill landed and each round's
# timings (build/tests/site/trials.txt). Timings depend on the machine's load (printed).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-10} scope=${2:-host}
rc=0
bash "$top/tests/run.sh" tests/site -m trials --site-trials "$n" --site-trial-scope "$scope" -q || rc=$?
cat "$top/build/tests/site/trials.txt" 2>/dev/null || true
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores), $(date -u +%Y-%m-%dT%H:%MZ)"
exit $rc
