#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: daemon
short_description: Supervise long-running processes and the files they read, optionally inside network namespaces
version_added: 0.1.0
description:
  - Keeps one long-running process (a DHCP server, a VPN endpoint, ...) in the declared state, with the same
    options on hosts that run systemd and on hosts that do not (containers, minimal hosts).
  - With systemd the process is the main process of a unit C(virtnet-NAME.service) (C(Type=simple),
    C(NetworkNamespacePath=), C(User=), C(AmbientCapabilities=)). Without it the module starts the
    process detached (new session, C(ip netns exec) semantics, C(setpriv) for the user and capabilities)
    and keeps its PID in a pid file; the process counts as running only while it is alive (not a zombie),
    its command line is O(argv), it sits in O(netns) and runs as O(user) - as Neutron's process manager
    checks its dnsmasq.
  - O(state=started) starts a process that is not running, and restarts one that runs with another command
    line, user, capabilities or environment, in another namespace (also the old one of a namespace that was
    deleted and made again), or with another O(restart_key); when only O(reload_key) differs it sends
    O(reload_signal). Put a checksum of everything the daemon reads only at start into O(restart_key), and one
    of what it re-reads on the signal into O(reload_key). A run that is killed between writing a file and
    (re)loading the daemon is then mended by the next run, which a handler cannot do.
  - What the running process was started with is kept in C(/run/virtnet/daemon/NAME.json) (root's only),
    written only after it is up.
  - The daemon can own the files it reads (O(files), O(directories)). The module writes them before it
    decides what to do, atomically and only when their content, mode, owner or group differ, and keeps the
    digest of each file's content in the record. A running process is restarted when a file of class
    V(restart) has a content it has not seen (written by this run, or different from the record's digest),
    sent O(reload_signal) when only files of class V(reload) have, and left alone for files of class
    V(none) and for mode or owner changes. A run killed between writing a file and acting on it is mended
    by the next run - the file is already written, its digest still differs from the record's.
  - O(restart_key) and O(reload_key) keep working beside O(files), for values that are not in a file.
  - Many daemons are one task with O(batch) - a converged host's daemons of a role are one module run.
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
  - virtnet.linux._attributes.ACTIONGROUP_NETLINK
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
requirements:
  - root on the target; C(setpriv) (util-linux) where O(user) is set on a host without systemd
options:
  name:
    description:
      - Name of the daemon; the unit is C(virtnet-NAME.service), the record C(/run/virtnet/daemon/NAME.json).
      - Required unless O(batch) is given.
    type: str
  argv:
    description:
      - The command, as a list of arguments, that runs the daemon in the B(foreground) (for example
        C(dnsmasq --keep-in-foreground), C(openvpn --config FILE) without C(--daemon)).
      - Required with O(state=started), O(state=restarted) and O(state=reloaded). Give it with O(state=stopped)
        and O(state=absent) too, so that the process is recognised even when its record is gone.
    type: list
    elements: str
  netns:
    description:
      - Named network namespace to run the daemon in. It must exist.
      - The empty string (the default) means the namespace the module runs in.
    type: str
    default: ''
  user:
    description:
      - Run the daemon as this user (name or uid) instead of root.
    type: str
  group:
    description:
      - Run the daemon with this group (name or gid); default the primary group of O(user).
    type: str
  ambient_capabilities:
    description:
      - Capabilities the daemon keeps although it runs as O(user), for example V(CAP_NET_ADMIN) for a VPN
        daemon that sets addresses and routes on its own device. Only with O(user).
    type: list
    elements: str
  environment:
    description: Environment variables of the daemon.
    type: dict
  bind_paths:
    description:
      - C(SOURCE:DESTINATION) pairs of absolute paths - SOURCE is bind-mounted over DESTINATION in a mount
        namespace of the daemon's own, before it starts (systemd's C(BindPaths=); with the V(pidfile) back end
        the module makes the mount namespace and the bind mounts). The rest of the host does not see them.
      - For example a private tun node, owned by O(user), over C(/dev/net/tun) for a daemon that always opens
        C(/dev/net/tun) (wireguard-go) where that node is root's only.
      - A change restarts the daemon.
    type: list
    elements: str
  restart_key:
    description:
      - Any string; when it differs from the one the running process was started with, the process is
        restarted.
    type: str
  reload_key:
    description:
      - Any string; when it differs from the one recorded at the last start or reload (and no restart is
        due), O(reload_signal) is sent to the running process.
    type: str
  reload_signal:
    description: The signal that makes the daemon re-read its configuration.
    type: str
    default: HUP
  state:
    description:
      - V(started) - running as declared (see the description); V(stopped) - not running (the unit file stays);
        V(restarted) - started anew, always; V(reloaded) - sent O(reload_signal), always (started when not
        running); V(absent) - stopped, and its unit, pid file, log and record removed.
    type: str
    choices: [started, stopped, restarted, reloaded, absent]
    default: started
  service_manager:
    description:
      - V(auto) uses systemd where the host's PID 1 is systemd, else V(pidfile).
      - When it changes between runs, the instance of the other one is removed first.
    type: str
    choices: [auto, systemd, pidfile]
    default: auto
  pidfile:
    description:
      - V(pidfile) back end - where the PID is kept. Default C(/run/virtnet/daemon/NAME.pid).
    type: path
  log_file:
    description:
      - V(pidfile) back end - the file that receives the daemon's standard output and error (appended).
        Default C(/run/virtnet/daemon/NAME.log). With systemd the journal has them.
    type: path
  start_wait:
    description:
      - Seconds the process must stay alive after it was started for the start to count; a process that
        exits sooner fails the task with the last lines of its log.
    type: float
    default: 0.5
  stop_timeout:
    description: Seconds to wait after SIGTERM before SIGKILL.
    type: int
    default: 10
  files:
    description:
      - Files the daemon reads, written by the module before it decides to start, restart, reload or do
        nothing. Each file is written atomically (a temporary file in the same directory, owner and mode set,
        then renamed over the path) and only when its content, mode, owner or group differ.
      - A file's directory must exist or be one of O(directories) (of any daemon of the task).
      - With O(state=absent) the files are removed. A file no longer listed is left where it is.
      - Check mode reports for each file what would be done and writes nothing.
    type: list
    elements: dict
    suboptions:
      path:
        description: Absolute path of the file, in its plain form (no C(..), no trailing C(/)).
        type: path
        required: true
      content:
        description: The file's content (text, written as UTF-8).
        type: str
        required: true
      mode:
        description:
          - The file's permissions, as an octal string. Quote it (V("0640")); an unquoted YAML C(0640) works
            too, an unquoted C(640) does not mean what it looks like.
        type: raw
        default: '0644'
      owner:
        description: The file's owner (name or uid).
        type: str
        default: root
      group:
        description: The file's group (name or gid).
        type: str
        default: root
      on_change:
        description:
          - What a change of the file's content does to a running daemon - V(restart) for what it reads only
            at start, V(reload) for what it re-reads on O(reload_signal), V(none) for nothing.
          - A change of only its mode, owner or group is reported as a change but does not act on the daemon.
        type: str
        choices: [restart, reload, none]
        default: restart
      secret:
        description:
          - The content never shows - not in the diff, not in the result, not in the module's log line; only
            that the file changed. Its digest is kept in the record, which only root can read.
        type: bool
        default: false
  directories:
    description:
      - Directories the daemon's files live in, made (with missing parents, C(0755) root) or fixed before the
        files are written.
      - With O(state=absent) a directory is removed only if it is empty then (after the files were removed).
    type: list
    elements: dict
    suboptions:
      path:
        description: Absolute path of the directory, in its plain form.
        type: path
        required: true
      mode:
        description: The directory's permissions, as an octal string.
        type: raw
        default: '0755'
      owner:
        description: The directory's owner (name or uid).
        type: str
        default: root
      group:
        description: The directory's group (name or gid).
        type: str
        default: root
  read_as:
    description:
      - The user the daemon reads its files as once it runs (default O(user) when set). Some daemons start as
        root and read some files after dropping privileges - dnsmasq re-reads C(dhcp-hostsfile) and
        C(dhcp-optsfile) as C(nobody), for example.
      - Before anything is changed, every file of O(files) must be readable by this user and every directory on
        its path searchable, judged by the mode bits the files and directories will have after the task (owner,
        group with the user's primary and supplementary groups, other; ACLs are not looked at). Otherwise the
        task fails naming the daemon, the file and what blocks it, and changes nothing.
      - V(root) (or no O(user) and no O(read_as)) means no check.
    type: str
  log_errors:
    description:
      - Regular expressions (Python's C(re), searched in each line) for what the daemon logs when it did not
        take what it was given. For dnsmasq V(cannot read) catches the line it logs when it cannot read its
        hosts file (C(Permission denied)), after which it runs without its reservations.
      - After a start, restart or reload the module reads what the daemon logged since that moment, for
        O(start_wait) seconds - with the V(pidfile) back end the lines appended to O(log_file) (the daemon's
        standard output and error - a daemon that logs only to syslog is not seen there), with systemd the
        unit's journal after a cursor taken before the action. A matching line fails the task with
        the message C(daemon NAME - logged an error after its reload) and the line.
      - The daemon keeps running, but its record is not updated for that action, so the next run acts again
        and fails again - never an ok, never C(changed=false) over a daemon that did not take its files.
      - A reload waits O(start_wait) seconds only when O(log_errors) is set.
    type: list
    elements: str
  boot:
    description:
      - With systemd - whether the daemon starts at boot, without a converge. Its unit then has
        C([Install] WantedBy=multi-user.target), is enabled, and starts C(After=virtnet-boot.service) (the
        boot restore of M(virtnet.linux.plumbing) with O(virtnet.linux.plumbing#module:boot) - its namespace and
        devices are back first). Only with O(state=started), O(state=restarted) or O(state=reloaded).
      - What the unit starts it with at boot is kept as its record in C(/var/lib/virtnet/daemon/NAME.json), so
        that the next converge after a reboot finds the daemon as declared and does nothing.
      - Switching it on or off changes the unit file and its enablement, and restarts nothing.
      - Without systemd (the V(pidfile) back end) a daemon does not start at boot; the next converge starts it.
    type: bool
    default: false
  batch:
    description:
      - Several daemons in one task. Each element takes the options below; options an element leaves out come
        from the task's top level (for example O(service_manager), O(read_as) or O(start_wait) for every daemon).
      - Every element is validated before anything is changed - names listed twice, a file declared by two
        daemons, a namespace that does not exist for a daemon to be started, users and groups that do not
        exist, files that are not regular files, files their O(read_as) user could not read.
      - Then every daemon is handled; one that fails does not stop the others. The task fails afterwards
        naming each daemon that failed and its problem, with RV(results) for all.
      - With systemd, the units of all daemons are read with one C(systemctl show) and systemd is reloaded
        once after their unit files are written. The starts of all daemons are confirmed in one wait of
        O(start_wait).
    type: list
    elements: dict
    suboptions:
      name:
        description: As O(name).
        type: str
        required: true
      argv:
        description: As O(argv).
        type: list
        elements: str
      netns:
        description: As O(netns).
        type: str
      user:
        description: As O(user).
        type: str
      group:
        description: As O(group).
        type: str
      ambient_capabilities:
        description: As O(ambient_capabilities).
        type: list
        elements: str
      environment:
        description: As O(environment).
        type: dict
      bind_paths:
        description: As O(bind_paths).
        type: list
        elements: str
      restart_key:
        description: As O(restart_key).
        type: str
      reload_key:
        description: As O(reload_key).
        type: str
      reload_signal:
        description: As O(reload_signal).
        type: str
      state:
        description: As O(state).
        type: str
        choices: [started, stopped, restarted, reloaded, absent]
      service_manager:
        description: As O(service_manager).
        type: str
        choices: [auto, systemd, pidfile]
      pidfile:
        description: As O(pidfile).
        type: path
      log_file:
        description: As O(log_file).
        type: path
      start_wait:
        description: As O(start_wait).
        type: float
      stop_timeout:
        description: As O(stop_timeout).
        type: int
      files:
        description: As O(files).
        type: list
        elements: dict
        suboptions:
          path:
            description: As O(files[].path).
            type: path
            required: true
          content:
            description: As O(files[].content).
            type: str
            required: true
          mode:
            description: As O(files[].mode).
            type: raw
            default: '0644'
          owner:
            description: As O(files[].owner).
            type: str
            default: root
          group:
            description: As O(files[].group).
            type: str
            default: root
          on_change:
            description: As O(files[].on_change).
            type: str
            choices: [restart, reload, none]
            default: restart
          secret:
            description: As O(files[].secret).
            type: bool
            default: false
      directories:
        description: As O(directories).
        type: list
        elements: dict
        suboptions:
          path:
            description: As O(directories[].path).
            type: path
            required: true
          mode:
            description: As O(directories[].mode).
            type: raw
            default: '0755'
          owner:
            description: As O(directories[].owner).
            type: str
            default: root
          group:
            description: As O(directories[].group).
            type: str
            default: root
      read_as:
        description: As O(read_as).
        type: str
      log_errors:
        description: As O(log_errors).
        type: list
        elements: str
      boot:
        description: As O(boot).
        type: bool
seealso:
  - module: virtnet.linux.netns
  - module: ansible.builtin.systemd_service
notes:
  - Works on Linux targets only.
  - The unit is enabled only with O(boot) - together with M(virtnet.linux.plumbing)'s O(virtnet.linux.plumbing#module:boot)
    for the namespaces and devices a daemon needs, which do not survive a reboot either; otherwise the next
    converge of the play starts it again.
  - The module counts the starts it makes of a daemon (RV(starts)); a start by systemd
    itself (at boot, or after the process died) does not count. A value that should follow another daemon's
    process - a client that restarts when its server was started anew - takes that counter, never a PID.
'''

EXAMPLES = r'''
- name: dnsmasq for network 42 in its namespace; restarted when its command line or conf changes, sent
    SIGHUP when only its hosts file changes
  virtnet.linux.daemon:
    name: dnsmasq-42
    netns: qdhcp-42
    argv: [/usr/sbin/dnsmasq, --keep-in-foreground, --conf-file=/var/lib/virtnet/dhcp/42/dnsmasq.conf]
    restart_key: "{{ conf.checksum }}"
    reload_key: "{{ hosts.checksum }}"

- name: An OpenVPN server as an unprivileged user that keeps only CAP_NET_ADMIN
  virtnet.linux.daemon:
    name: openvpn-site
    argv: [/usr/sbin/openvpn, --config, /etc/virtnet/vpn/site/server.conf]
    user: openvpn
    ambient_capabilities: [CAP_NET_ADMIN]

- name: dnsmasq that owns its files - a new conf restarts it, new hosts or opts send it SIGHUP; it reads
    the hosts and opts files as nobody, so they must be readable by nobody; a file it could not load fails
    the task (its conf says log-facility=-, so its log is in the log file or the journal)
  virtnet.linux.daemon:
    name: dnsmasq-42
    netns: qdhcp-42
    argv: [/usr/sbin/dnsmasq, --keep-in-foreground, --conf-file=/var/lib/virtnet/dhcp/42/dnsmasq.conf]
    read_as: nobody
    log_errors: ['cannot read', 'failed to', 'bad ']
    directories:
      - path: /var/lib/virtnet/dhcp/42
    files:
      - path: /var/lib/virtnet/dhcp/42/dnsmasq.conf
        content: "{{ lookup('ansible.builtin.template', 'dnsmasq.conf.j2') }}"
      - path: /var/lib/virtnet/dhcp/42/hosts
        content: "52:54:00:00:42:10,10.42.0.10,web1\n"
        on_change: reload
      - path: /var/lib/virtnet/dhcp/42/opts
        content: "option:router,10.42.0.1\n"
        on_change: reload

- name: An OpenVPN server with its key - the key never shows in the diff or the result
  virtnet.linux.daemon:
    name: openvpn-site
    argv: [/usr/sbin/openvpn, --config, /etc/virtnet/vpn/site/server.conf]
    user: openvpn
    ambient_capabilities: [CAP_NET_ADMIN]
    directories:
      - {path: /etc/virtnet/vpn/site, mode: "0750", group: openvpn}
    files:
      - {path: /etc/virtnet/vpn/site/server.conf, content: "{{ server_conf }}", mode: "0640", group: openvpn,
         on_change: reload}
      - {path: /etc/virtnet/vpn/site/server.key, content: "{{ server_key }}", mode: "0600", owner: openvpn,
         group: openvpn, secret: true}

- name: Two daemons in one task, written out
  virtnet.linux.daemon:
    service_manager: auto
    batch:
      - name: dnsmasq-41
        netns: qdhcp-41
        argv: [/usr/sbin/dnsmasq, --keep-in-foreground, --conf-file=/var/lib/virtnet/dhcp/41/dnsmasq.conf]
        read_as: nobody
        directories: [{path: /var/lib/virtnet/dhcp/41}]
        files:
          - {path: /var/lib/virtnet/dhcp/41/dnsmasq.conf, content: "interface=ns-41\ndhcp-range=10.41.0.100,10.41.0.199\n"}
          - {path: /var/lib/virtnet/dhcp/41/hosts, content: "", on_change: reload}
      - name: guest-41-dhcp
        netns: guest-41
        argv: [busybox, udhcpc, -f, -i, eth0]
  register: daemons

- name: Gone, with its unit or pid file
  virtnet.linux.daemon:
    name: dnsmasq-42
    argv: [/usr/sbin/dnsmasq, --keep-in-foreground, --conf-file=/var/lib/virtnet/dhcp/42/dnsmasq.conf]
    state: absent
'''

RETURN = r'''
action:
  description: What was done (or would be done in check mode).
  returned: always, unless O(batch) is used
  type: str
  sample: started
  choices: [none, started, restarted, reloaded, stopped, removed]
starts:
  description:
    - How many times this module started or restarted the daemon since it was made; starts by systemd itself
      (at boot, after the process died) do not count. In check mode, what it would be.
    - With systemd it is kept across reboots (in C(/var/lib/virtnet/daemon/NAME.json)); without systemd it is
      kept with the record in C(/run) and counts from zero again after a reboot.
  returned: always, unless O(batch) is used
  type: int
  sample: 3
boot:
  description: Whether the daemon starts at boot (O(boot), with systemd).
  returned: always, unless O(batch) is used
  type: bool
  sample: true
reasons:
  description: Why a running process is restarted (or reloaded) under O(state=started); a file is named
    C(file PATH).
  returned: always, unless O(batch) is used
  type: list
  elements: str
  sample: [command line, restart_key, file /var/lib/virtnet/dhcp/42/dnsmasq.conf]
pid:
  description: PID of the running daemon (in the host's PID namespace); null when it does not run, and in
    check mode the current one.
  returned: always, unless O(batch) is used
  type: int
  sample: 4242
service_manager:
  description: The back end used.
  returned: always, unless O(batch) is used
  type: str
  sample: pidfile
unit:
  description: The systemd unit.
  returned: with systemd, unless O(batch) is used
  type: str
  sample: virtnet-dnsmasq-42.service
pidfile:
  description: The pid file.
  returned: with the pidfile back end, unless O(batch) is used
  type: str
  sample: /run/virtnet/daemon/dnsmasq-42.pid
log_file:
  description: The log file.
  returned: with the pidfile back end, unless O(batch) is used
  type: str
  sample: /run/virtnet/daemon/dnsmasq-42.log
results:
  description: One entry per element of O(batch), in its order - RV(action), RV(reasons), RV(pid), RV(service_manager),
    RV(unit) or RV(pidfile) and RV(log_file), RV(starts), RV(boot), RV(files), RV(directories) of that daemon, with its C(name) and C(changed);
    C(failed) and C(msg) for a daemon that failed.
  returned: when O(batch) is used
  type: list
  elements: dict
  sample:
    - name: dnsmasq-41
      action: reloaded
      reasons: [file /var/lib/virtnet/dhcp/41/hosts]
      pid: 4242
      service_manager: pidfile
      pidfile: /run/virtnet/daemon/dnsmasq-41.pid
      log_file: /run/virtnet/daemon/dnsmasq-41.log
      changed: true
      files:
        - {path: /var/lib/virtnet/dhcp/41/dnsmasq.conf, action: none, changes: [], on_change: restart, secret: false}
        - {path: /var/lib/virtnet/dhcp/41/hosts, action: updated, changes: [content], on_change: reload, secret: false}
      directories:
        - {path: /var/lib/virtnet/dhcp/41, action: none, changes: []}
files:
  description: What happened (or would happen, in check mode) to each file of O(files), in their order.
  returned: always, unless O(batch) is used
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
      sample: /var/lib/virtnet/dhcp/42/hosts
    action:
      description: V(created), V(updated), V(removed) or V(none).
      type: str
      sample: updated
    changes:
      description: What differed - V(content), V(mode), V(owner), V(group).
      type: list
      elements: str
      sample: [content]
    on_change:
      description: The file's class.
      type: str
      sample: reload
    secret:
      description: Whether the file is secret (its content is never shown).
      type: bool
      sample: false
directories:
  description: What happened to each directory of O(directories); V(kept) is a directory of an absent daemon
    that was not empty.
  returned: always, unless O(batch) is used
  type: list
  elements: dict
  contains:
    path:
      description: The directory.
      type: str
      sample: /var/lib/virtnet/dhcp/42
    action:
      description: V(created), V(updated), V(removed), V(kept) or V(none).
      type: str
      sample: created
    changes:
      description: What differed - V(created), V(mode), V(owner), V(group).
      type: list
      elements: str
      sample: [mode]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError
from ansible_collections.virtnet.linux.plugins.module_utils._daemon import core
from ansible_collections.virtnet.linux.plugins.module_utils._engine import batch_argument_spec, expand_batch
from ansible_collections.virtnet.linux.plugins.module_utils import _netns

FILE_OPTIONS = dict(
    path=dict(type='path', required=True),
    content=dict(type='str', required=True),
    mode=dict(type='raw', default='0644'),
    owner=dict(type='str', default='root'),
    group=dict(type='str', default='root'),
    on_change=dict(type='str', default='restart', choices=['restart', 'reload', 'none']),
    secret=dict(type='bool', default=False),
)
DIRECTORY_OPTIONS = dict(
    path=dict(type='path', required=True),
    mode=dict(type='raw', default='0755'),
    owner=dict(type='str', default='root'),
    group=dict(type='str', default='root'),
)
OPTIONS = dict(
    name=dict(type='str'),
    argv=dict(type='list', elements='str'),
    netns=dict(type='str', default=''),
    user=dict(type='str'),
    group=dict(type='str'),
    ambient_capabilities=dict(type='list', elements='str'),
    environment=dict(type='dict'),
    bind_paths=dict(type='list', elements='str'),
    restart_key=dict(type='str', no_log=False),
    reload_key=dict(type='str', no_log=False),
    reload_signal=dict(type='str', default='HUP'),
    state=dict(type='str', default='started', choices=['started', 'stopped', 'restarted', 'reloaded', 'absent']),
    service_manager=dict(type='str', default='auto', choices=['auto', 'systemd', 'pidfile']),
    pidfile=dict(type='path'),
    log_file=dict(type='path'),
    start_wait=dict(type='float', default=0.5),
    stop_timeout=dict(type='int', default=10),
    files=dict(type='list', elements='dict', options=FILE_OPTIONS),
    directories=dict(type='list', elements='dict', options=DIRECTORY_OPTIONS),
    read_as=dict(type='str'),
    log_errors=dict(type='list', elements='str'),
    boot=dict(type='bool', default=False),
)


def secrets(params):
    """The contents of the files marked secret, of the task and of its batch's elements."""
    lists = [params.get('files') or []] + [item.get('files') or [] for item in params.get('batch') or []]
    return [f['content'] for files in lists for f in files if f.get('secret') and f.get('content')]


def _hide(files):
    return [dict(f, content='NOT_LOGGING_PARAMETER') if f.get('secret') else f for f in files or []]


class DaemonModule(AnsibleModule):
    """AnsibleModule that never lets a secret file's content out: not into the log line of the module's
    invocation (the journal, syslog), which AnsibleModule writes before the module runs, nor into the
    result (its invocation, any message)."""

    def _log_invocation(self):
        hidden = secrets(self.params)
        self.no_log_values.update(hidden)
        if not hidden:
            return super(DaemonModule, self)._log_invocation()
        params = self.params
        self.params = dict(params, files=_hide(params.get('files')))
        if params.get('batch'):
            self.params['batch'] = [dict(item, files=_hide(item.get('files'))) for item in params['batch']]
        try:
            return super(DaemonModule, self)._log_invocation()
        finally:
            self.params = params


def main():
    module = DaemonModule(argument_spec=batch_argument_spec(OPTIONS, required=('name',)),
                          required_one_of=[('name', 'batch')], mutually_exclusive=[('name', 'batch')],
                          supports_check_mode=True)
    p = module.params
    module.no_log_values.update(secrets(p))
    items, batch = expand_batch(p, list(OPTIONS))

    def run(argv):
        return module.run_command(argv, environ_update={'SYSTEMD_PAGER': '', 'LC_ALL': 'C'})

    specs, errors = [], []
    for item in items:
        try:
            specs.append(core.normalise(item))
        except VirtnetError as exc:
            errors.append(exc.msg)
    result = dict(changed=False)
    if not batch:
        result.update(action='none', reasons=[], pid=None)
        if specs:
            result['service_manager'] = specs[0]['service_manager']
    if not errors:
        try:
            daemons = core.ensure(specs, module.check_mode, run, _netns.prepare_switch)
        except VirtnetError as exc:
            errors.append(exc.msg)
        except OSError as exc:
            errors.append('daemon%s %s: %s' % ('s' if batch else '', ', '.join(s['name'] for s in specs), exc))
    if errors:
        module.fail_json(msg='; '.join(errors), **result)
    if batch:
        finish_batch(module, daemons)
    finish_one(module, daemons[0])


def finish_one(module, d):
    result = d.result()
    del result['name']
    if module._diff:
        entries = d.diffs()
        if not entries or (len(entries) == 1 and entries[0]['before_header'] == 'daemon %s' % d.name):
            # a daemon without file changes: one before/after, as before files were declared
            result['diff'] = dict(before=d.before, after=d.after)
        else:
            result['diff'] = entries
    if d.error is not None:
        del result['failed']
        module.fail_json(**result)
    module.exit_json(**result)


def finish_batch(module, daemons):
    result = dict(changed=any(d.changed for d in daemons), results=[d.result() for d in daemons])
    if module._diff:
        result['diff'] = [entry for d in daemons for entry in d.diffs()]
    failed = [d for d in daemons if d.error is not None]
    if failed:
        module.fail_json(msg='; '.join(d.error for d in failed), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
