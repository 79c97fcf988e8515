#!/usr/bin/env bash
# tests/site/run.sh — playbooks/site.yml the way operators meet it, on a lab of plain and systemd hosts:
#   packaging  the collection is built (ansible-galaxy collection build), installed into a clean path,
#              and every run below uses that installed copy (site.yml as virtnet.linux.site);
#   engine     the first converge runs through ansible-runner (the engine behind AWX), artifacts checked;
#   secrets    the second converge runs with -vvv: changed=0, and no private key, tls-crypt key or
#              password of any host appears in its output;
#   faults     daemons SIGKILLed (the OpenVPN server on a systemd host - its clients must follow -, dnsmasq
#              and DHCP clients on a plain one) and qdhcp namespaces deleted behind the role while their
#              dnsmasq still runs, mended by one converge; one host of each kind "rebooted" (files kept,
#              runtime gone), restored by one converge; two
#              converges of the same hosts at once -> declared state (the next one changes nothing);
#              SIGKILL trials: the controller killed at a random moment of a converge that has to
#              rebuild a rebooted host -> the next converge succeeds, the one after is changed=0, no
#              daemon or namespace duplicated or orphaned (SITE_TRIAL_SCOPE, below);
#   after each fault, playbooks/verify.yml reads everything back (daemons, leases, tunnels).
# Runs inside its own sandbox (tools/sandbox.sh --pid); the lab is taken down at the end, also on failure.
# SITE_TRIALS (default 10) sets the number of SIGKILL trials, SITE_TRIAL_SCOPE (host or all) their scope.
# Logs: build/site-test/.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
if [ "${1:-}" != --in-sandbox ]; then
  exec tools/sandbox.sh --pid bash "$0" --in-sandbox "$@"
fi
shift

out=$top/build/site-test
lab=$out/lab
inst=$out/installed
inv=$inst/ansible_collections/virtnet/linux/playbooks/inventory/lab.yml   # beside the site's group_vars
trials=${SITE_TRIALS:-10}
rm -rf "$out"; mkdir -p "$out"
export ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_FORKS=16 \
  ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ANSIBLE_LOCALHOST_WARNING=0 PYTHONUNBUFFERED=1
PATH=$top/.venv/bin:$PATH
# shellcheck disable=SC2054  # NAME:KIND:GROUP,GROUP is one word
hosts=(vpn1:systemd:vpn_servers vpn2:plain:vpn_clients dhcp1:plain:dhcp_nodes dhcp2:systemd:dhcp_nodes,vpn_clients)
nhosts=${#hosts[@]}
lab_up=0
fail() { echo "FAILED: $*" >&2; exit 1; }
step() { printf '\n== %s  (%ds)\n' "$*" "$SECONDS"; }
cleanup() {
  local rc=$?
  if [ $lab_up = 1 ]; then tools/lab.sh --dir "$lab" down >/dev/null 2>&1 || true; fi
  if [ $rc = 0 ]; then echo "site tests: all passed"; else echo "site tests FAILED (rc $rc); logs in $out/"; fi
  exit $rc
}
trap cleanup EXIT

# "HOST CHANGED UNREACHABLE FAILED" per host from a play recap
recap() { awk '/^PLAY RECAP/ { r = 1; next } r && / : ok=/ {
  match($0, /changed=[0-9]+/); c = substr($0, RSTART + 8, RLENGTH - 8)
  match($0, /unreachable=[0-9]+/); u = substr($0, RSTART + 12, RLENGTH - 12)
  match($0, /failed=[0-9]+/); f = substr($0, RSTART + 7, RLENGTH - 7)
  print $1, c, u, f }' "$1"; }
check_recap() {  # LOG [changed0]: every host (want_hosts of them) listed, none failed or unreachable (and none changed)
  local r want=${want_hosts:-$nhosts}; r=$(recap "$1")
  [ "$(printf '%s\n' "$r" | grep -c .)" = "$want" ] || fail "$1: the recap lists $(printf '%s\n' "$r" | grep -c .) hosts, not $want"
  printf '%s\n' "$r" | awk '$3 != 0 || $4 != 0 { bad = 1 } END { exit bad }' || fail "$1: failed or unreachable hosts: $r"
  if [ "${2:-}" = changed0 ]; then
    printf '%s\n' "$r" | awk '$2 != 0 { bad = 1 } END { exit bad }' \
      || { grep -B3 '^changed:' "$1" | grep -E '^(TASK|changed)' | head -20; fail "$1: not changed=0: $r"; }
  fi
  echo "   recap: $(printf '%s\n' "$r" | awk '{ printf "%s changed=%s  ", $1, $2 }')"
}
site() {  # LOG [ansible-playbook args]: site.yml of the installed collection
  local log=$1; shift
  ansible-playbook -i "$inv" virtnet.linux.site -e site_topology_dir="$out/topology" "$@" > "$log" 2>&1
}
verify() {  # LOG
  ansible-playbook -i "$inv" virtnet.linux.verify -e verify_dir="$out/verify" > "$1" 2>&1 \
    || { tail -30 "$1"; fail "verify: $1"; }
  check_recap "$1"
}
adhoc() {  # PATTERN SHELL-COMMAND (the minimal callback: "HOST | CHANGED | rc=0 >>", then the output as it is)
  ansible -i "$inv" "$1" -m ansible.builtin.shell -a "$2" 2>&1
}

# per host, the site's daemons by process name and count, and the namespaces: nothing duplicated or orphaned
# when it equals what the first converge made
# shellcheck disable=SC2016  # expanded on the host
inventory_line() {
  adhoc all 'echo "@inventory {{ inventory_hostname }} daemons: $(ps -eo comm= | grep -xE "openvpn|dnsmasq|busybox" | sort | uniq -c | awk "{ printf \"%s=%s \", \$2, \$1 }")namespaces: $(ip netns list | cut -d" " -f1 | sort | tr "\n" " ")"' \
    | sed -n 's/^@inventory //p' | sort
}

step "packaging: ansible-galaxy collection build, install into a clean path"
ansible-galaxy collection build --output-path "$out" . > "$out/build.log" 2>&1 || { cat "$out/build.log"; fail "build"; }
tarball=$(find "$out" -maxdepth 1 -name 'virtnet-linux-*.tar.gz' | head -1)
ansible-galaxy collection install --offline --force -p "$inst" "$tarball" > "$out/install.log" 2>&1 || { cat "$out/install.log"; fail "install"; }
export ANSIBLE_COLLECTIONS_PATH=$inst
[ -f "$inst/ansible_collections/virtnet/linux/playbooks/site.yml" ] || fail "the installed collection has no playbooks/site.yml"
[ ! -e "$inst/ansible_collections/virtnet/linux/.venv" ] || fail "the tarball carries .venv"
echo "   $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB) installed in $inst"

step "lab: ${hosts[*]}"
lab_up=1
tools/lab.sh --dir "$lab" --inventory "$inv" up "${hosts[@]}" > "$out/lab-up.log" 2>&1 || { cat "$out/lab-up.log"; fail "lab up"; }

step "converge 1 through ansible-runner (installed collection)"
rdir=$out/runner
mkdir -p "$rdir/env"
printf -- '---\nANSIBLE_COLLECTIONS_PATH: %s\nANSIBLE_FORKS: "16"\nANSIBLE_NOCOLOR: "1"\n' "$inst" > "$rdir/env/envvars"
t=$SECONDS
rc=0
ansible-runner run "$rdir" --project-dir "$inst/ansible_collections/virtnet/linux/playbooks" -p site.yml \
  --inventory "$inv" --ident converge1 --cmdline "-e site_topology_dir=$out/topology" > "$out/runner.log" 2>&1 || rc=$?
[ $rc = 0 ] || { tail -40 "$out/runner.log"; fail "ansible-runner: rc $rc"; }
full=$((SECONDS - t))
art=$rdir/artifacts/converge1
[ "$(cat "$art/rc")" = 0 ] || fail "runner artifacts: rc $(cat "$art/rc")"
[ "$(cat "$art/status")" = successful ] || fail "runner artifacts: status $(cat "$art/status")"
[ "$(find "$art/job_events" -type f | wc -l)" -gt 10 ] || fail "runner artifacts: too few job events"
python3 - "$art/job_events" "$nhosts" <<'PY' || fail "runner artifacts: playbook_on_stats"
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
stats = [json.load(open(os.path.join(d, f))) for f in os.listdir(d)]
stats = [e for e in stats if e.get('event') == 'playbook_on_stats']
assert len(stats) == 1, stats
s = stats[0]['event_data']
assert not s.get('failures') and not s.get('dark'), s
assert len(s['ok']) == n, s['ok']
print('   runner: status successful, %d events, %d hosts ok, changed on %s' % (len(os.listdir(d)), len(s['ok']), sorted(s.get('changed', {}))))
PY
echo "   first converge took ${full}s"
verify "$out/verify-1.log"
baseline=$(inventory_line)
printf '%s\n' "$baseline" | sed 's/^/   /'
[ "$(printf '%s\n' "$baseline" | grep -c 'dnsmasq=3 ')" = 2 ] || fail "expected 3 dnsmasq on each DHCP node: $baseline"

step "converge 2 with -vvv: changed=0, and no secret in the output"
site "$out/site-vvv.log" -vvv || { tail -30 "$out/site-vvv.log"; fail "converge 2"; }
check_recap "$out/site-vvv.log" changed0
# every private key, tls-crypt key and password file the site put on any host
ansible -i "$inv" all -m ansible.builtin.shell -a \
  "find /etc/virtnet /var/lib/virtnet /etc/openvpn -type f \( -name '*.key' -o -name '*.pem' -o -name 'ta*' -o -name '*pass*' \) 2>/dev/null | xargs -r grep -l -E 'PRIVATE KEY|OpenVPN Static key' 2>/dev/null | xargs -r cat" \
  > "$out/secrets.txt" 2>&1 || true
python3 - "$out/secrets.txt" "$out/site-vvv.log" <<'PY' || fail "secret material in the -vvv output"
import re, sys
secrets = open(sys.argv[1]).read()
log = open(sys.argv[2]).read()
bodies = set()
for line in secrets.splitlines():
    line = line.strip()
    if re.fullmatch(r'[A-Za-z0-9+/=]{32,}', line):
        bodies.add(line)
leaks = [b[:12] + '...' for b in bodies if b in log]
for pat, what in ((r'-----BEGIN [A-Z ]*PRIVATE KEY-----', 'a PEM private key block'),
                  (r'-----BEGIN OpenVPN Static key', 'an OpenVPN static key block')):
    if re.search(pat, log):
        leaks.append(what)
print('   %d lines of key material on the hosts, searched in %d KiB of -vvv output: %d found'
      % (len(bodies), len(log) // 1024, len(leaks)))
if leaks:
    print('   found: %s' % ', '.join(leaks))
sys.exit(1 if leaks else 0)
PY

step "faults: vpn1 (systemd) every daemon SIGKILLed - systemd restarts the server, the converge its clients; dhcp1 (plain) dnsmasq-42 and the guests' clients SIGKILLed, qdhcp-43 and qdhcp-44 deleted behind the role (their dnsmasq still inside)"
# the PID that runs now: systemd's MainPID (systemd may have restarted the process since the record was
# written), else the record's
# shellcheck disable=SC2016  # expanded on the host
killer='for f in /run/virtnet/daemon/*.json; do [ -f "$f" ] || continue; n=$(basename "$f" .json)
  echo "$n" | grep -Eqx "$PATTERN" || continue
  p=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"pid\"])" "$f")
  if systemctl cat "virtnet-$n.service" >/dev/null 2>&1; then p=$(systemctl show -p MainPID --value "virtnet-$n.service"); fi
  kill -KILL "$p" && echo "killed $n $p"; done; true'
{ adhoc vpn1 "PATTERN='.*'; $killer"; adhoc dhcp1 "PATTERN='dnsmasq-42|guest-.*'; $killer"; } > "$out/kill.txt"
grep -o 'killed [^ ]* [0-9]*' "$out/kill.txt" | sed 's/^/   /'
[ "$(grep -o 'killed [^ ]* [0-9]*' "$out/kill.txt" | wc -l)" = 5 ] || fail "expected 5 daemons killed (vpn1: vpn-site; dhcp1: dnsmasq-42 and 3 guests): $(cat "$out/kill.txt")"
# shellcheck disable=SC2016  # expanded on the host
adhoc dhcp1 'for n in qdhcp-43 qdhcp-44; do ip netns del "$n" && echo "deleted $n"; done' > "$out/netns-del.txt"
[ "$(grep -o 'deleted qdhcp-4[34]' "$out/netns-del.txt" | wc -l)" = 2 ] || fail "namespaces not deleted: $(cat "$out/netns-del.txt")"
echo "   deleted qdhcp-43 and qdhcp-44 on dhcp1"
site "$out/site-faults.log" || { tail -30 "$out/site-faults.log"; fail "converge after the faults"; }
check_recap "$out/site-faults.log"
verify "$out/verify-faults.log"

step "fault: a reboot of one host of each kind, vpn2 (plain) and dhcp2 (systemd): files kept; namespaces, devices, daemons gone"
{ tools/lab.sh --dir "$lab" stop vpn2 dhcp2 > "$out/reboot.log" 2>&1 && tools/lab.sh --dir "$lab" start vpn2 dhcp2 >> "$out/reboot.log" 2>&1; } \
  || { cat "$out/reboot.log"; fail "reboot"; }
site "$out/site-reboot.log" || { tail -30 "$out/site-reboot.log"; fail "converge after the reboot"; }
check_recap "$out/site-reboot.log"
verify "$out/verify-reboot.log"
site "$out/site-reboot-2.log" || { tail -30 "$out/site-reboot-2.log"; fail "converge 2 after the reboot"; }
check_recap "$out/site-reboot-2.log" changed0
[ "$(inventory_line)" = "$baseline" ] || fail "after the faults: daemons or namespaces differ from the first converge's: $(inventory_line)"

step "two converges of the same hosts at once (after a reboot of all hosts)"
all=$(printf '%s\n' "${hosts[@]}" | cut -d: -f1 | tr '\n' ' ')
# shellcheck disable=SC2086
{ tools/lab.sh --dir "$lab" stop $all > "$out/reboot-all.log" 2>&1 && tools/lab.sh --dir "$lab" start $all >> "$out/reboot-all.log" 2>&1; } || fail "reboot all"
site "$out/site-conc-a.log" & a=$!
site "$out/site-conc-b.log" & b=$!
ra=0; rb=0; wait $a || ra=$?; wait $b || rb=$?
echo "   concurrent runs: rc $ra and $rb"
[ "$ra$rb" = 00 ] || { tail -20 "$out/site-conc-a.log" "$out/site-conc-b.log"; fail "a concurrent converge failed"; }
# both ran to their end: the hosts are in the declared state - a converge changes nothing
site "$out/site-conc-after.log" || { tail -30 "$out/site-conc-after.log"; fail "converge after the concurrent runs"; }
check_recap "$out/site-conc-after.log" changed0
verify "$out/verify-conc.log"
[ "$(inventory_line)" = "$baseline" ] || fail "after the concurrent converges: daemons or namespaces differ from the first converge's: $(inventory_line)"

# Scope of a trial: SITE_TRIAL_SCOPE=host (default, what CI runs): the trials go round the hosts (both kinds,
# every group); each reboots its host and kills `site.yml --limit HOST` (what an operator runs after a
# host's reboot), then the next and the one after are limited to it too - a fraction of the cost of a
# whole-site converge on this 2-core machine. Two hosts that do not depend on each other are tried at once
# (pairs, below): a converge limited to one host keeps about one core busy (the controller and the host
# take turns), so a pair uses both. SITE_TRIAL_SCOPE=all reboots every host and kills the whole site's
# converge (about 2.5 whole-site converges per trial), one trial at a time.
#
# The kill moment is a task, not a time: a random task number of the run (counted in its own output, so
# the moment does not move with the machine's load), then up to 0.4 s into that task. A host's number of
# tasks is what its own last converge printed; before that, the tasks the first converge ran for it.
scope=${SITE_TRIAL_SCOPE:-host}
# the hosts of a pair do not depend on each other: dhcp1 has no VPN; vpn2 and dhcp2 are both clients of
# vpn1, which runs throughout their trial (their certificates are issued under a lock in vpn1's PKI)
pairs=("vpn1 dhcp1" "vpn2 dhcp2")
tasks_for() {  # HOST: the number of tasks a converge of HOST runs (of the whole site for "all")
  if [ "$1" = all ]; then grep -c '^TASK \[' "$out/runner.log"; return; fi
  if [ -s "$out/tasks-$1" ]; then cat "$out/tasks-$1"; return; fi
  awk -v h="[$1]" '/^TASK \[/ { t = 1; next } t && index($0, h) { n++; t = 0 } END { print n + 0 }' "$out/runner.log"
}
one_trial() {  # I TARGET: the converge killed in a random task, the next one, the one after (changed=0)
  local i=$1 target=$2 limit=() want=1 n k ms pid t landed t_killed t_next
  if [ "$target" = all ]; then want=$nhosts; else limit=(--limit "$target"); fi
  n=$(tasks_for "$target")
  k=$(python3 -c "import random; print(random.randint(1, max(1, int($n * 0.95))))")
  ms=$(python3 -c "import random; print(random.randint(0, 400))")
  t=$SECONDS
  setsid bash -c 'exec "$@"' _ ansible-playbook -i "$inv" virtnet.linux.site -e site_topology_dir="$out/topology" "${limit[@]}" > "$out/trial-$i-killed.log" 2>&1 &
  pid=$!
  # until the run prints its k-th task (or ends; 15 min at most)
  while kill -0 "$pid" 2>/dev/null && [ "$(grep -c '^TASK \[' "$out/trial-$i-killed.log")" -lt "$k" ] && [ $((SECONDS - t)) -lt 900 ]; do
    sleep 0.05
  done
  sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    landed="killed in task $k of $n, ${ms} ms after it began ($(grep '^TASK \[' "$out/trial-$i-killed.log" | sed -n "${k}p" | sed 's/^TASK \[\(.*\)\].*/\1/'))"
  else
    landed="finished before task $k of $n"
  fi
  wait "$pid" 2>/dev/null || true
  t_killed=$((SECONDS - t)); t=$SECONDS
  site "$out/trial-$i-next.log" "${limit[@]}" || { tail -30 "$out/trial-$i-next.log"; fail "trial $i ($target, $landed): the next converge failed"; }
  t_next=$((SECONDS - t))
  [ "$target" = all ] || grep -c '^TASK \[' "$out/trial-$i-next.log" > "$out/tasks-$target" || true
  want_hosts=$want check_recap "$out/trial-$i-next.log" > /dev/null
  t=$SECONDS
  site "$out/trial-$i-after.log" "${limit[@]}" || fail "trial $i ($target): the converge after failed"
  want_hosts=$want check_recap "$out/trial-$i-after.log" changed0 > /dev/null
  echo "$landed" > "$out/trial-$i.landed"
  echo "killed run ${t_killed}s, next ${t_next}s, after $((SECONDS - t))s" > "$out/trial-$i.times"
}
if [ "$scope" = all ]; then
  rounds=(); for i in $(seq 1 "$trials"); do rounds+=(all); done
else
  rounds=(); left=$trials
  for r in $(seq 1 "$trials"); do
    [ "$left" -gt 0 ] || break
    # shellcheck disable=SC2206  # a pair is two words
    pair=(${pairs[$(( (r - 1) % ${#pairs[@]} ))]})
    [ "$left" -ge 2 ] || pair=("${pair[0]}")
    rounds+=("${pair[*]}"); left=$((left - ${#pair[@]}))
  done
fi
step "SIGKILL trials: $trials x (reboot, converge killed in a random task, converge, converge changed=0), scope $scope, ${#rounds[@]} rounds"
rm -f "$out/trials.txt"
i=0
for round in "${rounds[@]}"; do
  hosts_now=$round; [ "$round" = all ] && hosts_now=$all
  t=$SECONDS
  # shellcheck disable=SC2086
  { tools/lab.sh --dir "$lab" stop $hosts_now >> "$out/reboot-trials.log" 2>&1 && tools/lab.sh --dir "$lab" start $hosts_now >> "$out/reboot-trials.log" 2>&1; } || fail "reboot of $hosts_now"
  t_reboot=$((SECONDS - t)); t=$SECONDS
  first=$((i + 1)); pids=()
  for target in $round; do
    i=$((i + 1))
    one_trial "$i" "$target" & pids+=($!)
  done
  rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
  [ $rc = 0 ] || fail "trials $first-$i ($round): see above and $out/trial-*.log"
  t_trials=$((SECONDS - t)); t=$SECONDS
  now=$(inventory_line)
  [ "$now" = "$baseline" ] || fail "trials $first-$i ($round): daemons or namespaces differ from the first converge's: $now"
  read -ra targets <<< "$round"
  for j in $(seq "$first" "$i"); do
    echo "   trial $j (${targets[$((j - first))]}): $(cat "$out/trial-$j.landed") -> next converge ok -> the one after changed=0, no daemon or namespace duplicated or orphaned"
    echo "      ($(cat "$out/trial-$j.times"))"
    cat "$out/trial-$j.landed" >> "$out/trials.txt"
  done
  echo "   round of $round: ${t_reboot}s reboot, ${t_trials}s trials, $((SECONDS - t))s read-back"
done
touch "$out/trials.txt"     # SITE_TRIALS=0: no trial, nothing to count
[ "$(grep -c '^killed' "$out/trials.txt")" -ge $(( (trials * 8 + 9) / 10 )) ] \
  || fail "fewer than 80% of the trials killed a running converge: $(grep -c '^killed' "$out/trials.txt") of $trials"
# the whole site after the trials: a server host rebooted in a trial limited to it has a new server process,
# so this converge restarts the clients of it on hosts outside that trial (by design); then declared
# everywhere (changed=0), traffic and leases
site "$out/site-after-trials.log" || { tail -30 "$out/site-after-trials.log"; fail "the converge after the trials"; }
check_recap "$out/site-after-trials.log"
site "$out/site-after-trials-2.log" || { tail -30 "$out/site-after-trials-2.log"; fail "the second converge after the trials"; }
check_recap "$out/site-after-trials-2.log" changed0
verify "$out/verify-trials.log"
[ "$(inventory_line)" = "$baseline" ] || fail "after the trials: daemons or namespaces differ from the first converge's: $(inventory_line)"

step "lab down"
tools/lab.sh --dir "$lab" down > "$out/lab-down.log" 2>&1 || { cat "$out/lab-down.log"; fail "lab down"; }
lab_up=0
[ -z "$(ip netns list)" ] || fail "namespaces left: $(ip netns list | tr '\n' ' ')"
