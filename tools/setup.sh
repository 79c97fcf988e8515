#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine (as root): system packages and a
# Python virtual environment at .venv with ansible-core and pyroute2. Safe to run again.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

pkgs=(iproute2 util-linux procps python3 python3-venv python3-pip git graphviz dnsmasq-base busybox openssh-client
      # the lab (tools/lab.sh): sshd on every host, systemd-nspawn for systemd hosts, the hosts' Python
      # with pyroute2 (Debian's, what lab hosts run modules with)
      openssh-server systemd-container python3-pyroute2
      # the roles' daemons and the clients their tests use (lab hosts see the machine's packages), the
      # qemu guest of the DHCP role's test, python3-apt for the roles' package tasks, shellcheck for sanity
      # (openvpn, wireguard-go and wireguard-tools: the VPN role's two types)
      openvpn easy-rsa wireguard-go wireguard-tools isc-dhcp-client iputils-ping qemu-system-x86 python3-apt shellcheck)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Never let a package start a daemon in the machine's own namespace.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  fi
  export DEBIAN_FRONTEND=noninteractive
  # wait for the dpkg lock (another apt running) instead of failing at once
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

py=/usr/bin/python3     # Debian's Python: what a fresh machine has
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0)' 2>/dev/null; then
  rm -rf .venv
  "$py" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(sha256sum tools/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r tools/requirements.txt
  echo "$want" > "$stamp"
fi

# The collection, where ansible-playbook finds it (a symlink to this checkout).
mkdir -p build/collections/ansible_collections/virtnet
ln -sfn "$top" build/collections/ansible_collections/virtnet/linux
