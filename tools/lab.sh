#!/usr/bin/env bash
# lab.sh — a lab of simulated SSH hosts on this machine, inside the sandbox (tools/sandbox.sh --pid).
#
#   lab.sh [--dir DIR] [--inventory FILE] up SPEC...   start hosts (idempotent: running ones are kept)
#   lab.sh [--dir DIR] down                            stop everything, remove everything (idempotent)
#   lab.sh [--dir DIR] stop HOST...                    "power off": runtime gone, files kept
#   lab.sh [--dir DIR] start HOST...                   "power on" again (a reboot = stop + start)
#   lab.sh [--dir DIR] status [--json]                 hosts, kinds, addresses, states
#
# SPEC:  KIND:COUNT          COUNT hosts named KIND1.. (plain1, plain2; systemd1, ...)
#        NAME:KIND[:GROUPS]  one host; GROUPS is a comma-separated list of inventory groups
# KIND:  plain    sshd is PID 1, no service manager (what containers and minimal hosts look like)
#        systemd  systemd-nspawn boots systemd as PID 1; sshd runs as ssh.service
# e.g.   lab.sh up plain:3 systemd:2
#        lab.sh up vpn1:systemd:vpn_servers vpn2:plain:vpn_clients dhcp1:plain:dhcp_nodes
#
# Each host: its own network namespace (lab-NAME) with eth0 on the lab bridge vnlab0 (10.88.0.0/24,
# hosts from .11), its own mount, UTS and PID namespaces, its own root: an overlay of / whose upper dir
# DIR/hosts/NAME/upper keeps the host's files across stop/start; /run, the network namespace (so every
# link and namespace made on the host), processes and mounts are gone after a stop. No default route,
# resolv.conf says 127.0.0.1, /etc/hosts lists every lab host, root's .bashrc/.profile are empty.
# The network is built by the collection's own modules (tools/lab/plumbing.yml, run on localhost).
#
# DIR (default build/lab of this checkout; must be on the root filesystem: hosts see an overlay of /)
# holds: id_ed25519 (root's key on every host), known_hosts, inventory.yml (YAML inventory: ansible_host,
# ansible_user=root, the key, ansible_python_interpreter=/usr/bin/python3, lab_kind, ssh args with the
# lab's own control sockets in DIR/cp), hosts/NAME/ (upper dir, log, pid files), lab.env (the lab's id).
# --inventory FILE  also writes the inventory there (it is removed again by down).
# Machine-wide things (cgroup directories of systemd hosts) carry the lab's id vnlab-<sandbox netns>,
# so labs in different sandboxes never collide; down removes them, and up removes those of labs whose
# down never ran (their directory deleted with a killed run): trees of another lab's id, older than ten
# minutes, with no process anywhere in them.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
here=$top/tools/lab
LAB_DIR=${LAB_DIR:-$top/build/lab}
LAB_VENV=${LAB_VENV:-$top/.venv}
NET=10.88.0 BR=vnlab0
cmd='' inv_copy='' json=0 args=()
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "lab.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case $1 in
    --dir) LAB_DIR=$2; shift 2 ;;
    --dir=*) LAB_DIR=${1#--dir=}; shift ;;
    --inventory) inv_copy=$2; shift 2 ;;
    --inventory=*) inv_copy=${1#--inventory=}; shift ;;
    --json) json=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) if [ -z "$cmd" ]; then cmd=$1; else args+=("$1"); fi; shift ;;
  esac
done
[ -n "$cmd" ] || { usage >&2; exit 2; }
LAB_DIR=$(realpath -m "$LAB_DIR")
[ -n "$inv_copy" ] && inv_copy=$(realpath -m "$inv_copy")
H=$LAB_DIR/hosts

sandbox_id() { echo "$(readlink /proc/self/ns/net)/$(readlink /proc/self/ns/pid)"; }
# inside tools/sandbox.sh --pid: it exports VIRTNET_SANDBOX=<its netns>/<its pidns>, which must be ours
in_sandbox() { [ -n "${VIRTNET_SANDBOX:-}" ] && [ "$VIRTNET_SANDBOX" = "$(sandbox_id)" ]; }
need_sandbox() {
  in_sandbox || die "run me inside the lab's sandbox: tools/sandbox.sh --pid $0 ... (the machine's own network is never touched)"
}

# --- state -------------------------------------------------------------------------------------------
load_env() { LAB_ID='' LAB_SANDBOX='' LAB_RUNSD=0 LAB_INV_COPY=''; [ -f "$LAB_DIR/lab.env" ] && . "$LAB_DIR/lab.env"; return 0; }
save_env() {
  printf 'LAB_ID=%q\nLAB_SANDBOX=%q\nLAB_RUNSD=%q\nLAB_INV_COPY=%q\n' "$LAB_ID" "$LAB_SANDBOX" "$LAB_RUNSD" "$LAB_INV_COPY" > "$LAB_DIR/lab.env.tmp"
  mv "$LAB_DIR/lab.env.tmp" "$LAB_DIR/lab.env"
}
hosts_known() { [ -d "$H" ] || return 0; find "$H" -mindepth 2 -maxdepth 2 -name index -printf '%h\n' | while read -r d; do echo "$(cat "$d/index") ${d##*/}"; done | sort -n | awk '{print $2}'; }
kind_of() { cat "$H/$1/kind"; }
ip_of() { echo "$NET.$((10 + $(cat "$H/$1/index")))"; }
# a process recorded as "PID STARTTIME" is alive only if that PID still has that start time (no reuse)
proc_start() { awk '{sub(/^.*\) /, ""); print $20}' "/proc/$1/stat" 2>/dev/null; }
rec_pid() { local f=$1 p s; [ -s "$f" ] || return 1; read -r p s < "$f"; [ -n "$p" ] && [ "$(proc_start "$p")" = "$s" ] && grep -qv '^State:.*Z' <(grep '^State:' "/proc/$p/status" 2>/dev/null) && echo "$p"; }
record() { echo "$2 $(proc_start "$2")" > "$1"; }
running() { rec_pid "$H/$1/pid1" >/dev/null; }

cgroup_roots() {  # cgroup hierarchies nspawn uses: hybrid (v1 name=systemd + unified/) or pure cgroup2
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then echo /sys/fs/cgroup
  else echo /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; fi
}
cg2() { if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then echo /sys/fs/cgroup; else echo /sys/fs/cgroup/unified; fi; }
rm_cgroups() {  # $1: sub path under the lab's id ('' = the whole lab); only empty directories go
  [ -n "$LAB_ID" ] || return 0
  local r d t
  for r in $(cgroup_roots); do
    d=$r/$LAB_ID${1:+/$1}
    for t in $(seq 1 50); do
      [ -d "$d" ] || break
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [ -d "$d" ] || break
      sleep 0.1
    done
    [ ! -d "$d" ] || echo "lab.sh: cgroup $d is still in use" >&2
  done
}
sweep_orphan_cgroups() {  # cgroup trees of labs that were never taken down: no process in them, >10 min old
  # Whether a tree holds a process is read in the cgroup2 hierarchy, which lists a process of another PID
  # namespace as 0 (cgroup v1 leaves it out: a live lab of another sandbox would look empty there).
  local d id r f busy
  for d in "$(cg2)"/vnlab-*; do
    id=$(basename "$d")
    { [ -d "$d" ] && [ "$id" != "$LAB_ID" ] && [ -n "$(find "$d" -maxdepth 0 -mmin +10)" ]; } || continue
    busy=0
    while IFS= read -r f; do [ -z "$(head -c1 "$f" 2>/dev/null)" ] || { busy=1; break; }; done < <(find "$d" -name cgroup.procs)
    [ $busy = 0 ] || continue        # (cgroupfs files show size 0: they are read, not tested with -s)
    for r in $(cgroup_roots); do
      [ ! -d "$r/$id" ] || find "$r/$id" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    [ -d "$d" ] || echo "lab.sh: removed the cgroup directories of $id (a lab that was never taken down)" >&2
  done
}

# --- inventory ----------------------------------------------------------------------------------------
write_inventory() {
  local f=$LAB_DIR/inventory.yml n g groups=()
  {
    echo "# Written by tools/lab.sh for the lab in $LAB_DIR (id $LAB_ID); rewritten by up/start/stop."
    echo "all:"
    echo "  vars:"
    echo "    ansible_user: root"
    echo "    ansible_ssh_private_key_file: $LAB_DIR/id_ed25519"
    echo "    ansible_python_interpreter: /usr/bin/python3"
    echo "    ansible_ssh_pipelining: true"
    echo "    ansible_ssh_args: \"-o ControlMaster=auto -o ControlPersist=60s -o ControlPath=$LAB_DIR/cp/%r@%h:%p\""
    echo "    ansible_ssh_common_args: \"-o UserKnownHostsFile=$LAB_DIR/known_hosts -o StrictHostKeyChecking=yes -o ConnectTimeout=10\""
    echo "    lab_dir: $LAB_DIR"
    echo "  hosts:"
    for n in $(hosts_known); do
      echo "    $n: {ansible_host: $(ip_of "$n"), lab_kind: $(kind_of "$n")}"
    done
    echo "  children:"
    for g in plain systemd; do
      echo "    lab_$g:"
      echo "      hosts:"
      for n in $(hosts_known); do [ "$(kind_of "$n")" = $g ] && echo "        $n:"; done
    done
    mapfile -t groups < <(for n in $(hosts_known); do tr ',' '\n' < "$H/$n/groups"; done | sed '/^$/d' | sort -u)
    for g in "${groups[@]}"; do
      echo "    $g:"
      echo "      hosts:"
      for n in $(hosts_known); do tr ',' '\n' < "$H/$n/groups" | grep -qx "$g" && echo "        $n:"; done
    done
  } > "$f.tmp"
  mv "$f.tmp" "$f"
  if [ -n "$LAB_INV_COPY" ]; then mkdir -p "$(dirname "$LAB_INV_COPY")"; cp "$f" "$LAB_INV_COPY"; fi
}

# --- hosts --------------------------------------------------------------------------------------------
etc_hosts() {
  local n
  echo "127.0.0.1 localhost"
  echo "::1 localhost ip6-localhost ip6-loopback"
  for n in $(hosts_known); do echo "$(ip_of "$n") $n"; done
}

mkroot() {  # the host's root: an overlay of / (lower) with its own upper dir, configured as host $1
  local n=$1 D=$H/$1 R=$H/$1/root kind ip
  kind=$(kind_of "$n"); ip=$(ip_of "$n")
  mkdir -p "$D/upper" "$D/work" "$R"
  mountpoint -q "$R" || mount -t overlay "$LAB_ID-$n" -o "lowerdir=/,upperdir=$D/upper,workdir=$D/work" "$R"
  # Guard: everything below writes into $R, which must be our overlay mount (never the machine's /).
  { mountpoint -q "$R" && [ "$(stat -fc %T "$R")" = overlayfs ]; } || die "not an overlay: $R"
  echo "$n" > "$R/etc/hostname"
  etc_hosts > "$R/etc/hosts"
  rm -f "$R/etc/resolv.conf"; echo "nameserver 127.0.0.1" > "$R/etc/resolv.conf"   # nothing outside
  rm -f "$R"/etc/ssh/ssh_host_*
  cp "$D/ssh_host_ed25519_key" "$D/ssh_host_ed25519_key.pub" "$R/etc/ssh/"
  chmod 600 "$R/etc/ssh/ssh_host_ed25519_key"
  mkdir -p "$R/root/.ssh"; chmod 700 "$R/root/.ssh"
  cp "$LAB_DIR/id_ed25519.pub" "$R/root/.ssh/authorized_keys"
  : > "$R/root/.bashrc"; : > "$R/root/.profile"   # this machine's root runs pyenv init: 2-3x slower tasks
  cat > "$R/etc/ssh/sshd_config" <<CFG
# lab host $n (tools/lab.sh)
ListenAddress $ip
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PidFile /run/sshd.pid
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp /usr/lib/openssh/sftp-server
CFG
  if [ "$kind" = systemd ]; then
    [ -s "$D/upper/etc/machine-id" ] || { rm -f "$R/etc/machine-id"; systemd-id128 new > "$R/etc/machine-id"; }
    # boot only what a lab host needs: every unit the machine enabled is dropped (in the upper dir only);
    # what the host enabled itself (not a link of the machine's own /) stays: a reboot keeps it
    find "$R/etc/systemd/system" -path '*.wants/*' ! -name ssh.service -type l -printf '%P\n' |
      while IFS= read -r l; do if [ -L "/etc/systemd/system/$l" ]; then rm -f "$R/etc/systemd/system/$l"; fi; done
    mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
    ln -sfn /lib/systemd/system/ssh.service "$R/etc/systemd/system/multi-user.target.wants/ssh.service"
    mkdir -p "$R/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\n' > "$R/etc/systemd/journald.conf.d/lab.conf"
  fi
}

start_one() {  # starts host $1 (its namespace and link exist already); records its PID 1
  local n=$1 D=$H/$1 kind ns=lab-$1 sup p t cg
  kind=$(kind_of "$n")
  mkroot "$n"
  if [ "$kind" = plain ]; then
    nsenter --net="/run/netns/$ns" unshare --mount --uts --pid --fork --kill-child --propagation private \
      "$here/hostinit.sh" "$D/root" "$n" </dev/null >> "$D/log" 2>&1 9>&- &
    sup=$!
    for t in $(seq 1 100); do p=$(tr -dc 0-9 < "/proc/$sup/task/$sup/children" 2>/dev/null || true); [ -n "$p" ] && break; sleep 0.02; done
  else
    export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1     # the container sees cgroup2 only (its own cgroupns)
    for cg in $(cgroup_roots); do mkdir -p "$cg/$LAB_ID/$n"; done
    # nspawn is the host's supervisor, systemd the container's PID 1. --keep-unit outside systemd uses the
    # current cgroup: move into the lab's own first (never the machine's root cgroup).
    sh -c 'for cg in $0; do echo $$ > "$cg/cgroup.procs"; done; exec "$@"' \
      "$(for cg in $(cgroup_roots); do printf '%s ' "$cg/$LAB_ID/$n"; done)" \
      systemd-nspawn -q -D "$D/root" -b -M "$n" --register=no --keep-unit \
        --network-namespace-path="/run/netns/$ns" --console=pipe --resolv-conf=off --timezone=off \
        --link-journal=no --capability=CAP_NET_ADMIN </dev/null >> "$D/log" 2>&1 9>&- &
    sup=$!
    for t in $(seq 1 200); do p=$(head -1 "$(cg2)/$LAB_ID/$n/payload/init.scope/cgroup.procs" 2>/dev/null | tr -dc 0-9 || true); [ -n "$p" ] && break; sleep 0.05; done
  fi
  record "$D/sup" "$sup"
  [ -n "$p" ] || die "host $n did not start (see $D/log)"
  record "$D/pid1" "$p"
}

ssh_host() { local n=$1; shift; ssh -q -i "$LAB_DIR/id_ed25519" -o BatchMode=yes -o UserKnownHostsFile="$LAB_DIR/known_hosts" \
  -o StrictHostKeyChecking=yes -o ControlMaster=no -o ControlPath=none -o ConnectTimeout=2 "root@$(ip_of "$n")" "$@"; }

wait_ready() {  # every host $@ accepts SSH with the lab's key (systemd hosts: booted); 60 s at most each
  local n pids=() rc=0
  for n in "$@"; do
    (
      for t in $(seq 1 300); do
        running "$n" || { echo "lab.sh: host $n died while starting (see $H/$n/log)" >&2; exit 1; }
        ssh_host "$n" true 2>/dev/null && break
        [ "$t" = 300 ] && { echo "lab.sh: host $n: no SSH after 60 s (see $H/$n/log)" >&2; exit 1; }
        sleep 0.2
      done
      if [ "$(kind_of "$n")" = systemd ]; then ssh_host "$n" timeout 60 systemctl is-system-running --wait >/dev/null 2>&1 || true; fi
    ) & pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || rc=1; done
  return $rc
}

plumbing() {  # the lab's network for hosts $@ (the bridge always), by the collection's modules
  local n first=1 j=$LAB_DIR/plumbing.json
  {
    printf '{"lab_bridge": "%s", "lab_netns": [' "$BR"
    for n in "$@"; do [ $first = 1 ] || printf ', '; first=0; printf '"lab-%s"' "$n"; done
    printf '], "lab_veths": ['; first=1
    for n in "$@"; do [ $first = 1 ] || printf ', '; first=0
      printf '{"name": "vlh%s", "master": "%s", "link_state": "up", "peer": "eth0", "peer_netns": "lab-%s", "peer_link_state": "up"}' \
        "$(cat "$H/$n/index")" "$BR" "$n"; done
    printf '], "lab_addresses": [{"dev": "%s", "address": ["%s.1/24"]}' "$BR" "$NET"
    for n in "$@"; do printf ', {"netns": "lab-%s", "dev": "eth0", "address": ["%s/24"]}' "$n" "$(ip_of "$n")"; done
    printf ']}\n'
  } > "$j"
  local t0; t0=$(date +%s.%N)
  ANSIBLE_COLLECTIONS_PATH=$top/build/collections ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=0 \
  ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_DISPLAY_OK_HOSTS=0 ANSIBLE_DISPLAY_SKIPPED_HOSTS=0 \
    "$LAB_VENV/bin/ansible-playbook" -i localhost, -c local -e ansible_python_interpreter="$LAB_VENV/bin/python" \
      -e "@$j" "$here/plumbing.yml" > "$LAB_DIR/plumbing.log" 2>&1 \
    || { cat "$LAB_DIR/plumbing.log" >&2; die "the lab's plumbing failed (log: $LAB_DIR/plumbing.log)"; }
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "plumbing_s=%.2f\n", b - a }' > "$LAB_DIR/plumbing.time"
}

close_masters() {  # Ansible's ControlPersist masters of the lab (all, or those of host $1)
  local s pat='*'
  [ -n "${1:-}" ] && pat="*@$(ip_of "$1"):*"
  for s in "$LAB_DIR"/cp/$pat; do
    [ -S "$s" ] && timeout 5 ssh -o ControlPath="$s" -O exit x >/dev/null 2>&1
    rm -f "$s"
  done
  return 0
}

signal_stop() {  # first half of a stop: ask host $1 to end (systemd: clean halt; plain: kill its PID 1)
  local D=$H/$1 p
  if [ "$(kind_of "$1")" = systemd ]; then
    p=$(rec_pid "$D/sup") && kill -TERM "$p" 2>/dev/null
  else
    p=$(rec_pid "$D/pid1") && kill -KILL "$p" 2>/dev/null    # the kernel then ends every process of the host
  fi
  return 0
}

finish_stop() {  # second half: wait for it (SIGKILL its PID 1 after 15 s), then its runtime goes
  local n=$1 D=$H/$1 p t
  for t in $(seq 1 150); do rec_pid "$D/sup" >/dev/null || break; sleep 0.1; done
  if rec_pid "$D/sup" >/dev/null; then
    p=$(rec_pid "$D/pid1") && kill -KILL "$p" 2>/dev/null
    for t in $(seq 1 50); do rec_pid "$D/sup" >/dev/null || break; sleep 0.1; done
  fi
  rec_pid "$D/sup" >/dev/null && { p=$(rec_pid "$D/sup") && kill -KILL "$p" 2>/dev/null; sleep 0.2; }
  rm -f "$D/pid1" "$D/sup"
  if mountpoint -q "$D/root"; then umount "$D/root" 2>/dev/null || umount -l "$D/root"; fi
  [ "$(kind_of "$n")" = systemd ] && rm_cgroups "$n"
  ip netns del "lab-$n" 2>/dev/null || true       # every link and namespace made on the host goes with it
  # ... once the kernel has freed the namespace, which it does in the background and later when the host
  # made namespaces of its own (a macvlan of eth0 in one holds eth0): wait for the host's veth end to go
  # with it (5 s at most), then delete the pair ourselves
  local veth
  veth=vlh$(cat "$D/index")
  for t in $(seq 1 50); do ip link show "$veth" >/dev/null 2>&1 || break; sleep 0.1; done
  ip link del "$veth" 2>/dev/null || true
  return 0
}

# --- commands -----------------------------------------------------------------------------------------
cmd_up() {
  need_sandbox
  [ ${#args[@]} -gt 0 ] || die "up: which hosts? e.g. up plain:2 systemd:1 (see --help)"
  mkdir -p "$LAB_DIR" "$H" "$LAB_DIR/cp"
  load_env
  if [ -n "$LAB_SANDBOX" ] && [ "$LAB_SANDBOX" != "$VIRTNET_SANDBOX" ] && [ -n "$(hosts_known)" ]; then
    die "$LAB_DIR belongs to a lab of another sandbox ($LAB_SANDBOX): run down first"
  fi
  if [ -z "$LAB_ID" ] || [ "$LAB_SANDBOX" != "$VIRTNET_SANDBOX" ]; then
    LAB_ID=vnlab-$(readlink /proc/self/ns/net | tr -dc 0-9) LAB_SANDBOX=$VIRTNET_SANDBOX LAB_RUNSD=0
  fi
  [ -z "$inv_copy" ] || LAB_INV_COPY=$inv_copy
  save_env
  sweep_orphan_cgroups
  [ -f "$LAB_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "lab $LAB_ID" -f "$LAB_DIR/id_ed25519"
  # the hosts asked for: NAME KIND GROUPS
  local spec name kind groups count i want=() n idx new=()
  for spec in "${args[@]}"; do
    IFS=: read -r a b c <<< "$spec"
    if [[ $b =~ ^[0-9]+$ ]] && [ -z "$c" ]; then
      kind=$a; count=$b
      for i in $(seq 1 "$count"); do want+=("$kind$i $kind -"); done
    else
      name=$a kind=${b:-plain} groups=${c:--}
      want+=("$name $kind $groups")
    fi
  done
  for spec in "${want[@]}"; do
    read -r name kind groups <<< "$spec"
    [[ $kind = plain || $kind = systemd ]] || die "unknown kind '$kind' in $spec (plain or systemd)"
    [[ $name =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "bad host name '$name' (a-z, 0-9, -; at most 31; a letter first)"
    [[ $groups = - || $groups =~ ^[a-z_][a-z0-9_]*(,[a-z_][a-z0-9_]*)*$ ]] || die "bad group list '$groups' of $name"
    [ "$groups" = - ] && groups=
    if [ -f "$H/$name/kind" ]; then
      [ "$(kind_of "$name")" = "$kind" ] || die "host $name exists as a $(kind_of "$name") host, not $kind: down first"
      echo "$groups" > "$H/$name/groups"
    else
      [ "$kind" = systemd ] && ! command -v systemd-nspawn >/dev/null && die "systemd hosts need systemd-nspawn (apt-get install systemd-container)"
      idx=1; while grep -qx "$idx" "$H"/*/index 2>/dev/null || false; do idx=$((idx + 1)); done
      [ "$idx" -le 240 ] || die "at most 240 hosts"
      mkdir -p "$H/$name"; echo "$kind" > "$H/$name/kind"; echo "$groups" > "$H/$name/groups"
      ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$H/$name/ssh_host_ed25519_key"
      echo "$idx" > "$H/$name/index"
    fi
    running "$name" || new+=("$name")
  done
  # known_hosts: every host's key under its name and its address
  for n in $(hosts_known); do echo "$n,$(ip_of "$n") $(cut -d' ' -f1-2 "$H/$n/ssh_host_ed25519_key.pub")"; done > "$LAB_DIR/known_hosts"
  start_hosts "${new[@]}"
}

start_hosts() {
  local n
  if [ $# -gt 0 ]; then
    if printf '%s\n' "$@" | while read -r n; do [ "$(kind_of "$n")" = systemd ] && echo y; done | grep -q y; then
      # nspawn's scratch space (/run/systemd) must not be on disk: a tmpfs in the sandbox's mount namespace
      if ! mountpoint -q /run/systemd; then mkdir -p /run/systemd; mount -t tmpfs "$LAB_ID-run" /run/systemd; LAB_RUNSD=1; save_env; fi
    fi
    plumbing "$@"
    for n in "$@"; do start_one "$n"; done
  fi
  for n in $(hosts_known); do running "$n" && etc_hosts > "$H/$n/root/etc/hosts"; done
  write_inventory
  [ $# -eq 0 ] || wait_ready "$@"
}

cmd_down() {
  load_env
  local n same=0
  if [ -n "$LAB_SANDBOX" ] && in_sandbox && [ "$LAB_SANDBOX" = "$VIRTNET_SANDBOX" ]; then same=1; fi
  if [ $same = 1 ]; then
    close_masters
    for n in $(hosts_known); do signal_stop "$n"; done
    for n in $(hosts_known); do finish_stop "$n"; done
    ip link del "$BR" 2>/dev/null || true
    if [ "$LAB_RUNSD" = 1 ] && mountpoint -q /run/systemd; then umount /run/systemd 2>/dev/null || umount -l /run/systemd; fi
  elif [ -n "$(hosts_known)" ]; then
    # its sandbox is gone (with it every process, mount, namespace and link of the lab) or is another
    # one: touch no process or kernel object from here, only what is machine-wide (empty cgroup dirs)
    echo "lab.sh: $LAB_DIR was started in another sandbox; removing only its files and cgroup directories" >&2
  fi
  rm_cgroups ""
  for n in $(hosts_known); do mountpoint -q "$H/$n/root" && die "$H/$n/root is still mounted (its sandbox is alive: run down there)"; done
  [ -z "$LAB_INV_COPY" ] || rm -f "$LAB_INV_COPY"
  rm -rf "$H" "$LAB_DIR/cp" "$LAB_DIR/inventory.yml" "$LAB_DIR/known_hosts" "$LAB_DIR/plumbing.json" "$LAB_DIR/lab.env"
  return 0
}

cmd_stop() {
  need_sandbox; load_env
  local n
  for n in "${args[@]}"; do [ -f "$H/$n/kind" ] || die "no host $n in $LAB_DIR"; done
  for n in "${args[@]}"; do close_masters "$n"; signal_stop "$n"; done
  for n in "${args[@]}"; do finish_stop "$n"; done
  write_inventory
}

cmd_start() {
  need_sandbox; load_env
  local n new=()
  for n in "${args[@]}"; do [ -f "$H/$n/kind" ] || die "no host $n in $LAB_DIR"; running "$n" || new+=("$n"); done
  start_hosts "${new[@]}"
}

cmd_status() {
  load_env
  local n first=1 st
  if [ $json = 1 ]; then
    printf '{"dir": "%s", "id": "%s", "inventory": "%s/inventory.yml", "key": "%s/id_ed25519", "hosts": [' "$LAB_DIR" "$LAB_ID" "$LAB_DIR" "$LAB_DIR"
    for n in $(hosts_known); do
      st=stopped; running "$n" && st=running
      [ $first = 1 ] || printf ', '; first=0
      printf '{"name": "%s", "kind": "%s", "address": "%s", "state": "%s", "groups": "%s"}' "$n" "$(kind_of "$n")" "$(ip_of "$n")" "$st" "$(cat "$H/$n/groups")"
    done
    printf ']}\n'
    return 0
  fi
  echo "lab $LAB_DIR (id ${LAB_ID:--}), inventory $LAB_DIR/inventory.yml"
  printf '%-14s %-8s %-12s %-8s %s\n' HOST KIND ADDRESS STATE GROUPS
  for n in $(hosts_known); do
    st=stopped; running "$n" && st=running
    printf '%-14s %-8s %-12s %-8s %s\n' "$n" "$(kind_of "$n")" "$(ip_of "$n")" "$st" "$(cat "$H/$n/groups")"
  done
}

mkdir -p "$(dirname "$LAB_DIR")"
case $cmd in
  up|stop|start) mkdir -p "$LAB_DIR"; exec 9> "$LAB_DIR/.lock"; flock -w 300 9 || die "another lab.sh holds $LAB_DIR/.lock" ;;
  down) if [ -d "$LAB_DIR" ]; then exec 9> "$LAB_DIR/.lock"; flock -w 300 9 || die "another lab.sh holds $LAB_DIR/.lock"; fi ;;
esac
case $cmd in
  up) cmd_up ;;
  down) cmd_down ;;
  stop) cmd_stop ;;
  start) cmd_start ;;
  status) cmd_status ;;
  *) die "unknown command $cmd (see --help)" ;;
esac
