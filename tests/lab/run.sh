#!/usr/bin/env bash
# tests/lab/run.sh — the lab itself (tools/lab.sh), in its own sandbox: one plain and one systemd host;
# what a host looks like (own hostname, no default route, resolv.conf, /etc/hosts, empty .bashrc, PID 1
# reaps orphans, service manager), the inventory over SSH with Ansible, `up` again changes nothing, a
# reboot (stop + start) keeps files and loses runtime, `down` leaves nothing and may run twice.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
if [ "${1:-}" != --in-sandbox ]; then exec tools/sandbox.sh --pid bash "$0" --in-sandbox; fi

D=$top/build/test-lab
fail() { echo "FAIL: $*" >&2; tools/lab.sh --dir "$D" down || true; exit 1; }
ok() { echo "ok: $*"; }
[ ! -d "$D" ] || tools/lab.sh --dir "$D" down
tools/lab.sh --dir "$D" up p1:plain:grp_a s1:systemd:grp_a,grp_b >/dev/null || fail "up"
lab_id=$(sed -n 's/^LAB_ID=//p' "$D/lab.env")
S() { local h=$1; shift; ssh -q -i "$D/id_ed25519" -o BatchMode=yes -o UserKnownHostsFile="$D/known_hosts" \
  -o StrictHostKeyChecking=yes -o ControlPath=none "root@$h" "$@"; }
ip_of() { awk -v h="$1" '$1 == h":" { gsub(/[{},]/, ""); print $3 }' "$D/inventory.yml"; }
p1=$(ip_of p1); s1=$(ip_of s1)
{ [ "$p1" = 10.88.0.11 ] && [ "$s1" = 10.88.0.12 ]; } || fail "addresses in the inventory: $p1 $s1"

for h in "$p1" "$s1"; do
  out=$(S "$h" 'hostname; ip route | grep -c default || true; cat /etc/resolv.conf; grep -c " p1$\| s1$" /etc/hosts; wc -c < /root/.bashrc; wc -c < /root/.profile')
  [ "$out" = "$( [ "$h" = "$p1" ] && echo p1 || echo s1)
0
nameserver 127.0.0.1
2
0
0" ] || fail "host $h: $out"
done
ok "hostname, no default route, resolv.conf, /etc/hosts, empty .bashrc/.profile"
[ "$(S "$p1" 'cat /proc/1/comm')" = sshd ] || fail "PID 1 of the plain host"
[ "$(S "$s1" 'cat /proc/1/comm')" = systemd ] || fail "PID 1 of the systemd host"
# an orphan whose parent died gets PID 1 as its parent; once it ends it must not stay a zombie
S "$p1" 'setsid sh -c "sleep 1 & exit 0"; sleep 2; ps -eo stat= | grep -c "^Z" || true' | grep -qx 0 || fail "zombies on the plain host"
ok "PID 1: sshd (reaps orphans) and systemd"

export ANSIBLE_COLLECTIONS_PATH=$top/build/collections ANSIBLE_NOCOLOR=1
out=$(.venv/bin/ansible -i "$D/inventory.yml" grp_a -m ansible.builtin.setup -a 'gather_subset=!all' 2>&1) || fail "ansible over the inventory: $out"
echo "$out" | grep -q '"ansible_service_mgr": "systemd"' || fail "no systemd service manager seen: $out"
[ "$(.venv/bin/ansible-inventory -i "$D/inventory.yml" --host s1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["lab_kind"])')" = systemd ] || fail "lab_kind"
[ "$(.venv/bin/ansible-inventory -i "$D/inventory.yml" --graph grp_b | grep -c -- '--s1$')" = 1 ] || fail "groups"
ls "$D"/cp/root@* >/dev/null 2>&1 || fail "no control socket in the lab's own directory"
ok "Ansible over SSH with the inventory (lab_kind, groups, control sockets in $D/cp)"

pids=$(cat "$D"/hosts/*/pid1)
tools/lab.sh --dir "$D" up p1:plain:grp_a s1:systemd:grp_a,grp_b >/dev/null || fail "up again"
[ "$(cat "$D"/hosts/*/pid1)" = "$pids" ] || fail "up again restarted a host"
ok "up again: nothing restarted"

for h in "$p1" "$s1"; do S "$h" 'echo kept > /root/file; touch /run/marker; ip netns add inner; ip tuntap add mode tun dev tx'; done
tools/lab.sh --dir "$D" stop p1 s1 >/dev/null || fail "stop"
tools/lab.sh --dir "$D" status | grep -c stopped | grep -qx 2 || fail "stopped state"
tools/lab.sh --dir "$D" start p1 s1 >/dev/null || fail "start"
for h in "$p1" "$s1"; do
  out=$(S "$h" 'cat /root/file; ls /run/marker /run/netns/inner 2>/dev/null | wc -l; ip -o link | wc -l')
  [ "$out" = "kept
0
2" ] || fail "after the reboot of $h: $out"
done
ok "reboot: files kept; /run, namespaces and links made on the host gone"

tools/lab.sh --dir "$D" down || fail "down"
ps -e -o pid=,ppid=,comm= > "$D.ps"     # the sandbox's PID 1, this script and ps: nothing else
left=$(ip netns list; ip -o link | grep -v ': lo:' || true; grep "$lab_id" /proc/self/mountinfo || true;
       ls -d /sys/fs/cgroup/*/"$lab_id" /sys/fs/cgroup/"$lab_id" 2>/dev/null || true; ls "$D/cp" 2>/dev/null || true;
       awk -v me=$$ '$1 != 1 && $1 != me && $2 != me' "$D.ps")
rm -f "$D.ps"
[ -z "$left" ] || fail "left after down: $left"
tools/lab.sh --dir "$D" down || fail "down when nothing is up"
ok "down leaves nothing (namespaces, links, mounts, cgroup directories, control sockets, processes); down again ok"
