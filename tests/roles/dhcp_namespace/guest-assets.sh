#!/usr/bin/env bash
# guest-assets.sh DIR — the qemu guest's kernel and initramfs, cached in DIR (outside the sandbox: it
# downloads). A Debian cloud kernel package and busybox-static are fetched with `apt-get download` and
# unpacked with `dpkg -x` (never installed). The initramfs loads virtio-net, asks for a lease with
# udhcpc, prints "LEASE <ip>/<mask> server=<id> router=<r> dns=<d> domain=<n>" on the console, looks up
# a name through the server, and powers off.
set -euo pipefail
D=$1; mkdir -p "$D"; cd "$D"
stamp=$(sha256sum "$0" | cut -d' ' -f1)
if [ -s vmlinuz ] && [ -s initrd.gz ] && [ "$(cat stamp 2>/dev/null)" = "$stamp" ]; then echo "guest assets cached in $D"; exit 0; fi
KPKG=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-6/{print $2; exit}')
[ -n "$KPKG" ] || { echo "no linux-image-cloud-amd64 candidate (apt-get update?)" >&2; exit 1; }
KVER=${KPKG#linux-image-}
ls "$KPKG"_*.deb >/dev/null 2>&1 || apt-get download "$KPKG" 2>/dev/null
ls busybox-static_*.deb >/dev/null 2>&1 || apt-get download busybox-static 2>/dev/null
rm -rf k bb && dpkg -x "$KPKG"_*.deb k && dpkg -x busybox-static_*.deb bb
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/{bin,proc,sys,dev,tmp,etc,lib/modules}
cp bb/bin/busybox "$W/bin/busybox"
for a in $("$W/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$W/bin/$a"; done
# virtio_net/virtio_pci are modules in Debian's kernels and the .deb has no modules.dep: resolve
# "depends=" from each .ko's .modinfo and copy them in load order.
python3 - "k/lib/modules/$KVER/kernel" virtio_net virtio_pci > "$W/lib/modules/order" <<'PY'
import os, re, sys
idx = {f[:-3].replace('-', '_'): os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith('.ko')}
out, seen = [], set()
def visit(n):
    if n in seen:
        return
    seen.add(n)
    m = re.search(rb'\x00depends=([^\x00]*)\x00', open(idx[n], 'rb').read())
    for d in (m.group(1).decode().split(',') if m else []):
        if d:
            visit(d.replace('-', '_'))
    out.append(idx[n])
for n in sys.argv[2:]:
    visit(n)
print('\n'.join(out))
PY
while read -r ko; do cp "$ko" "$W/lib/modules/"; done < "$W/lib/modules/order"
sed -i 's|.*/||' "$W/lib/modules/order"
cat > "$W/udhcpc.sh" <<'HOOK'
#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    echo "$serverid" > /tmp/server
    echo "LEASE $ip/$mask server=$serverid router=$router dns=$dns domain=$domain" ;;
  leasefail|nak) echo "DHCPFAIL $1" ;;
esac
exit 0
HOOK
cat > "$W/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m; done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up; ip link set eth0 up
if udhcpc -i eth0 -n -q -t 10 -T 2 -s /udhcpc.sh; then
  nslookup web1 "$(cat /tmp/server)" 2>&1 | sed -n 's/^Address: *\([0-9.]*\)$/NAME web1 \1/p' | tail -1
else echo "DHCPFAIL udhcpc"; fi
poweroff -f
INIT
chmod +x "$W/init" "$W/udhcpc.sh"
(cd "$W" && find . | "$W/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) > initrd.gz.new
cp "k/boot/vmlinuz-$KVER" vmlinuz.new
mv initrd.gz.new initrd.gz; mv vmlinuz.new vmlinuz
rm -rf k bb
echo "$stamp" > stamp
ls -l vmlinuz initrd.gz
