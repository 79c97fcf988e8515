#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: daemon
short_description: Supervise a long-running process, optionally inside a network namespace
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
  - What the running process was started with is kept in C(/run/virtnet/daemon/NAME.json), written only
    after it is up.
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
    type: str
    required: true
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
seealso:
  - module: virtnet.linux.netns
  - module: ansible.builtin.systemd_service
notes:
  - Works on Linux targets only.
  - The unit is not enabled - the namespaces and devices a namespaced daemon needs do not survive a reboot
    either; the next converge of the play starts it again.
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

- name: Gone, with its unit or pid file
  virtnet.linux.daemon:
    name: dnsmasq-42
    argv: [/usr/sbin/dnsmasq, --keep-in-foreground, --conf-file=/var/lib/virtnet/dhcp/42/dnsmasq.conf]
    state: absent
'''

RETURN = r'''
action:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
  sample: started
  choices: [none, started, restarted, reloaded, stopped, removed]
reasons:
  description: Why a running process is restarted under O(state=started).
  returned: always
  type: list
  elements: str
  sample: [command line, restart_key]
pid:
  description: PID of the running daemon (in the host's PID namespace); null when it does not run, and in
    check mode the current one.
  returned: always
  type: int
  sample: 4242
service_manager:
  description: The back end used.
  returned: always
  type: str
  sample: pidfile
unit:
  description: The systemd unit.
  returned: with systemd
  type: str
  sample: virtnet-dnsmasq-42.service
pidfile:
  description: The pid file.
  returned: with the pidfile back end
  type: str
  sample: /run/virtnet/daemon/dnsmasq-42.pid
log_file:
  description: The log file.
  returned: with the pidfile back end
  type: str
  sample: /run/virtnet/daemon/dnsmasq-42.log
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError
from ansible_collections.virtnet.linux.plugins.module_utils._daemon import core
from ansible_collections.virtnet.linux.plugins.module_utils import _netns


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            argv=dict(type='list', elements='str'),
            netns=dict(type='str', default=''),
            user=dict(type='str'),
            group=dict(type='str'),
            ambient_capabilities=dict(type='list', elements='str'),
            environment=dict(type='dict'),
            restart_key=dict(type='str', no_log=False),
            reload_key=dict(type='str', no_log=False),
            reload_signal=dict(type='str', default='HUP'),
            state=dict(type='str', default='started',
                       choices=['started', 'stopped', 'restarted', 'reloaded', 'absent']),
            service_manager=dict(type='str', default='auto', choices=['auto', 'systemd', 'pidfile']),
            pidfile=dict(type='path'),
            log_file=dict(type='path'),
            start_wait=dict(type='float', default=0.5),
            stop_timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, action='none', reasons=[], pid=None)

    def run(argv):
        return module.run_command(argv, environ_update={'SYSTEMD_PAGER': '', 'LC_ALL': 'C'})

    try:
        spec = core.normalise(p)
        result['service_manager'] = spec['service_manager']
        daemons = core.ensure([spec], module.check_mode, run, _netns.prepare_switch)
    except VirtnetError as exc:
        module.fail_json(msg=exc.msg, **result)
    except OSError as exc:
        module.fail_json(msg='daemon %s: %s' % (p['name'], exc), **result)
    d = daemons[0]
    result = d.result()
    del result['name']
    if module._diff:
        result['diff'] = dict(before=d.before, after=d.after)
    if d.error is not None:
        del result['failed']
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
