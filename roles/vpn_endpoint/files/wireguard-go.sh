#!/bin/sh
# wireguard-go of one virtnet.linux.vpn_endpoint instance: wireguard-go.sh DEVICE PRIVATE-KEY CONFIGURATION
# Run by virtnet.linux.daemon as the daemons' user with CAP_NET_ADMIN only, in the instance's namespace.
# wireguard-go attaches to the persistent tun the role made (owned by this user); then wg syncconf gives it the
# configuration with the private key added here (the key never leaves the host, nor shows on a command line),
# and again on SIGHUP: syncconf changes only what differs, so the other peers keep their sessions.
dev=$1 key=$2 conf=$3
sync() { { printf '[Interface]\nPrivateKey = %s\n' "$(cat "$key")" && cat "$conf"; } | wg syncconf "$dev" /dev/stdin; }
trap 'sync || echo "wg syncconf failed" >&2' HUP
trap 'kill "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT
wireguard-go -f "$dev" &
pid=$!
i=0
while [ ! -S "/var/run/wireguard/$dev.sock" ]; do
  if ! kill -0 "$pid" 2>/dev/null || [ "$i" -ge 200 ]; then
    echo "wireguard-go did not open its UAPI socket /var/run/wireguard/$dev.sock" >&2
    kill "$pid" 2>/dev/null
    exit 1
  fi
  sleep 0.05
  i=$((i + 1))
done
sync || { echo "wg syncconf failed" >&2; kill "$pid"; exit 1; }
# wait returns early for a trapped signal (above 128): wait again while wireguard-go runs; then its status
rc=1
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done
exit "$rc"
