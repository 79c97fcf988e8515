#!/usr/bin/env bash
# Builds the virtual environments of the extra test legs (run after tools/setup.sh):
#   .venv-deb  Debian's Python and Debian's python3-pyroute2 (0.7.x, what `apt install` gives a user),
#              ansible-core 2.19 from PyPI;
#   .venv-new  the newest ansible-core (2.21) on Python 3.13 with PyPI's pyroute2 0.9 - built only
#              where a Python 3.13 interpreter exists (these machines carry one under pyenv).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if ! dpkg-query -W -f='${Status}' python3-pyroute2 2>/dev/null | grep -q 'install ok installed'; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends python3-pyroute2 >/dev/null
fi

build() {   # build VENV PYTHON VENV-OPTIONS -- PACKAGES...
  local venv=$1 py=$2 opts=$3; shift 4
  local want
  want=$(printf '%s %s %s\n' "$py" "$opts" "$*" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$venv/.requirements.sha" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    # shellcheck disable=SC2086
    "$py" -m venv $opts "$venv"
    "$venv/bin/python" -m pip install -q "$@"
    echo "$want" > "$venv/.requirements.sha"
  fi
}

build .venv-deb /usr/bin/python3 --system-site-packages -- 'ansible-core>=2.19,<2.20'
.venv-deb/bin/python -c 'import pyroute2, sys; v = pyroute2.__file__; sys.exit(0 if v.startswith("/usr/lib/python3/dist-packages") else 1)' \
  || { echo ".venv-deb does not use Debian's python3-pyroute2" >&2; exit 1; }

py313=
for c in /root/.pyenv/versions/3.13*/bin/python3.13 /usr/bin/python3.13 /usr/local/bin/python3.13; do
  if [ -x "$c" ] && "$c" -c 'import venv' 2>/dev/null; then py313=$c; break; fi
done
if [ -n "$py313" ]; then
  build .venv-new "$py313" '' -- 'ansible-core>=2.21,<2.22' 'pyroute2>=0.9.7,<0.10'
else
  rm -rf .venv-new
fi
