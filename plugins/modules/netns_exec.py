#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: netns_exec
short_description: Run a command inside a named network namespace
version_added: 0.1.0
description:
  - Runs a command inside a named network namespace with the semantics of C(ip netns exec) - a private
    mount namespace, C(/sys) remounted so that it shows the namespace's links, and every file of
    C(/etc/netns/NAME/) bind-mounted over its counterpart in C(/etc).
  - The command is not processed through a shell, like M(ansible.builtin.command); to use a shell, run
    one (O(argv=[sh, -c, "..."])).
  - Returns what M(ansible.builtin.command) returns and fails on a non-zero return code.
  - A namespace that does not exist is an error naming it; it is never created.
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
  - virtnet.linux._attributes.ACTIONGROUP_NETLINK
attributes:
  check_mode:
    support: partial
    details:
      - The command is not run in check mode. As with M(ansible.builtin.command), the task is reported as
        skipped, unless O(creates) or O(removes) decide that it would not run.
  diff_mode:
    support: none
requirements:
  - root, or CAP_SYS_ADMIN (setns, unshare and mount), on the target
options:
  netns:
    description:
      - Name of the network namespace to run in (a file in C(/run/netns)).
      - Can be set once for several tasks with C(module_defaults) and C(group/virtnet.linux.netlink).
    type: str
    required: true
  argv:
    description:
      - The command as a list of arguments. Nothing is split or expanded.
      - Exactly one of O(argv) and O(cmd) is required.
    type: list
    elements: str
  cmd:
    description:
      - The command as a string, split into arguments like M(ansible.builtin.command) does (shell-style
        quoting, no shell). A string that cannot be split (an unbalanced quote) is an error.
      - No argument, environment variable or path may contain a NUL byte.
    type: str
  chdir:
    description: Change into this directory before running the command.
    type: path
  environment:
    description:
      - Variables added to (or overriding) the module's environment for the command.
    type: dict
  stdin:
    description: Data passed to the command's standard input.
    type: str
  secret_environment:
    description:
      - Like O(environment), for values that must not be shown - the option is C(no_log), so its values are
        masked as C(********) in the task's result and in C(-vvv) output (also where the command prints them).
      - Merged over O(environment).
      - A value of several lines is masked as a whole and line by line (each non-empty line, without its
        leading and trailing blanks), so a command that prints one line of it does not show that line.
        A short line is masked wherever it appears in the output.
    type: dict
  secret_stdin:
    description:
      - Like O(stdin), for data that must not be shown (the option is C(no_log)).
      - Masked like the values of O(secret_environment) - as a whole and line by line - in the task's
        result and in C(-vvv) output, also where the command echoes it.
      - Mutually exclusive with O(stdin).
    type: str
  stdin_add_newline:
    description: Append a newline to O(stdin) or O(secret_stdin), as M(ansible.builtin.command) does.
    type: bool
    default: true
  strip_empty_ends:
    description: Strip empty lines from the end of stdout and stderr.
    type: bool
    default: true
  creates:
    description:
      - A path; when it exists the command is not run.
      - Paths are seen as the command would see them (with C(/etc/netns/NAME/) files over C(/etc)).
    type: path
  removes:
    description:
      - A path; when it does not exist the command is not run.
    type: path
  timeout:
    description:
      - Seconds after which the command (and every process of its session) is killed and the task
        fails. V(0) means no limit; at most V(2147483647).
    type: int
    default: 0
seealso:
  - module: virtnet.linux.netns
  - module: ansible.builtin.command
'''

EXAMPLES = r'''
- name: Show the links of a namespace (as ip netns exec qdhcp-42 ip -br link would)
  virtnet.linux.netns_exec:
    netns: qdhcp-42
    argv: [ip, -br, link]
  register: links
  changed_when: false

- name: Start dnsmasq in its namespace unless it already runs
  virtnet.linux.netns_exec:
    netns: qdhcp-42
    cmd: >-
      dnsmasq --conf-file=/dev/null --no-hosts --no-resolv --port=0
      --interface=ns-42 --bind-interfaces --dhcp-range=10.42.0.10,10.42.0.100,12h
      --pid-file=/run/dnsmasq-42.pid
    creates: /run/dnsmasq-42.pid

- name: Log in to a service from inside the VPN namespace without showing the token, even with -vvv
  virtnet.linux.netns_exec:
    netns: vpn
    argv: [sh, -c, 'curl -sf -H "Authorization: Bearer $TOKEN" http://10.8.0.1/status']
    secret_environment:
      TOKEN: "{{ vault_vpn_token }}"

- name: Several commands in one namespace, set once
  module_defaults:
    group/virtnet.linux.netlink:
      netns: vpn
  block:
    - name: The namespace's resolver (bound from /etc/netns/vpn/resolv.conf)
      virtnet.linux.netns_exec:
        argv: [cat, /etc/resolv.conf]
    - name: A shell pipeline, written as one
      virtnet.linux.netns_exec:
        argv: [sh, -c, "ip -o addr | wc -l"]
      timeout: 10
'''

RETURN = r'''
cmd:
  description: The command as run (a list of arguments).
  returned: always
  type: list
  elements: str
  sample: [ip, -br, link]
rc:
  description: The command's return code (V(0) when skipped).
  returned: always
  type: int
  sample: 0
stdout:
  description: Standard output of the command.
  returned: always
  type: str
  sample: "lo UNKNOWN 00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP>"
stderr:
  description: Standard error of the command.
  returned: always
  type: str
  sample: ''
stdout_lines:
  description: RV(stdout) split into lines.
  returned: always
  type: list
  elements: str
  sample: ["lo UNKNOWN 00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP>"]
stderr_lines:
  description: RV(stderr) split into lines.
  returned: always
  type: list
  elements: str
  sample: []
start:
  description: When the command started.
  returned: when the command ran
  type: str
  sample: '2026-11-24 20:00:00.000001'
end:
  description: When the command ended.
  returned: when the command ran
  type: str
  sample: '2026-11-24 20:00:00.002000'
delta:
  description: How long the command ran.
  returned: when the command ran
  type: str
  sample: '0:00:00.001999'
netns:
  description: The namespace the command ran in.
  returned: always
  type: str
  sample: qdhcp-42
msg:
  description: Why the command did not run, or that it failed.
  returned: when skipped or failed
  type: str
  sample: Command would have run if not in check mode
'''

import datetime
import os
import shlex
import signal
import threading

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError, refuse_coerced_names, validate_netns_name
from ansible_collections.virtnet.linux.plugins.module_utils import _netns


PR_SET_CHILD_SUBREAPER = 36


def _hide(module, secret):
    """Mask a secret in everything the module returns: the whole value and each of its lines.

    Ansible masks a no_log value only where it appears whole; a command that echoes one line of a
    secret of several lines would otherwise show that line.
    """
    if secret in (None, ''):
        return
    text = to_text(secret)
    module.no_log_values.add(text)
    for line in text.splitlines():
        line = line.strip()
        if line:
            module.no_log_values.add(line)


def _lines(text):
    return text.splitlines()


def _set_child_subreaper():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _descendants(pid):
    """Every process below `pid`, found through /proc/PID/task/*/children."""
    out, todo = [], [pid]
    while todo:
        cur = todo.pop()
        try:
            tasks = os.listdir('/proc/%d/task' % cur)
        except OSError:
            continue
        for tid in tasks:
            try:
                with open('/proc/%d/task/%s/children' % (cur, tid)) as f:
                    kids = [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


#: the longest timeout a timer takes (threading.Timer fails on larger ones)
MAX_TIMEOUT = 2 ** 31 - 1


class _Killer(object):
    """Kills the command and everything it started when the timeout expires."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.fired = False
        self._timer = None

    def watch(self, proc):
        if self.timeout:
            self._timer = threading.Timer(self.timeout, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self):
        self.fired = True
        for pid in _descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def cancel(self):
        if self._timer is not None:
            self._timer.cancel()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            netns=dict(type='str', required=True),
            argv=dict(type='list', elements='str'),
            cmd=dict(type='str'),
            chdir=dict(type='path'),
            environment=dict(type='dict'),
            stdin=dict(type='str'),
            secret_environment=dict(type='dict', no_log=True),
            secret_stdin=dict(type='str', no_log=True),
            stdin_add_newline=dict(type='bool', default=True),
            strip_empty_ends=dict(type='bool', default=True),
            creates=dict(type='path'),
            removes=dict(type='path'),
            timeout=dict(type='int', default=0),
        ),
        required_one_of=[('argv', 'cmd')],
        mutually_exclusive=[('argv', 'cmd'), ('stdin', 'secret_stdin')],
        supports_check_mode=True,
    )
    refuse_coerced_names(module)
    p = module.params
    name = p['netns']
    result = dict(changed=False, cmd=p['argv'] if p['argv'] is not None else p['cmd'], rc=0, stdout='',
                  stderr='', stdout_lines=[], stderr_lines=[], netns=name)
    if p['argv'] is not None:
        argv = p['argv']
    else:
        if '\0' in p['cmd']:
            module.fail_json(msg='cmd must not contain a NUL byte', **result)
        try:
            argv = shlex.split(p['cmd'])
        except ValueError as exc:
            module.fail_json(msg='cannot split cmd into arguments: %s (%r)' % (exc, p['cmd']), **result)
        result['cmd'] = argv

    err = validate_netns_name(name)
    if err:
        module.fail_json(msg=err, **result)
    if not argv or not argv[0]:
        module.fail_json(msg='no command given', **result)
    for pos, arg in enumerate(argv):
        if '\0' in arg:
            module.fail_json(msg='argv[%d] must not contain a NUL byte: %r' % (pos, arg), **result)
    if not 0 <= p['timeout'] <= MAX_TIMEOUT:
        module.fail_json(msg='timeout %d out of range (0..%d seconds)' % (p['timeout'], MAX_TIMEOUT)
                         if p['timeout'] > 0 else 'timeout must not be negative', **result)
    for opt in ('chdir', 'creates', 'removes'):
        if p[opt] is not None and '\0' in p[opt]:
            module.fail_json(msg='%s must not contain a NUL byte' % opt, **result)
    for env_opt in ('environment', 'secret_environment'):
        for key, value in (p[env_opt] or {}).items():
            if not key or '=' in key or '\0' in key:
                module.fail_json(msg='invalid %s variable name %r' % (env_opt, key), **result)
            if value is not None and '\0' in to_text(value):
                # never show a secret value, not even in an error
                shown = '' if env_opt == 'secret_environment' else ': %r' % (value,)
                module.fail_json(msg='%s value of %s must not contain a NUL byte%s' % (env_opt, key, shown),
                                 **result)

    try:
        switch = _netns.prepare_switch(name)
        switch()
    except VirtnetError as exc:
        module.fail_json(msg=exc.msg, **result)

    if p['chdir']:
        if not os.path.isdir(p['chdir']):
            module.fail_json(msg='chdir %s is not a directory in netns %s' % (p['chdir'], name), **result)

    def resolve(path):
        return path if os.path.isabs(path) or not p['chdir'] else os.path.join(p['chdir'], path)

    if p['creates'] and os.path.exists(resolve(p['creates'])):
        result.update(msg="Did not run command since '%s' exists" % p['creates'],
                      stdout='skipped, since %s exists' % p['creates'])
        result['stdout_lines'] = [result['stdout']]
        module.exit_json(**result)
    if p['removes'] and not os.path.exists(resolve(p['removes'])):
        result.update(msg="Did not run command since '%s' does not exist" % p['removes'],
                      stdout='skipped, since %s does not exist' % p['removes'])
        result['stdout_lines'] = [result['stdout']]
        module.exit_json(**result)

    if module.check_mode:
        result['msg'] = 'Command would have run if not in check mode'
        if p['creates'] is None and p['removes'] is None:
            result['skipped'] = True
        else:
            result['changed'] = True
        module.exit_json(**result)

    env = {}
    secrets = p['secret_environment'] or {}
    for value in list(secrets.values()) + [p['secret_stdin']]:
        _hide(module, value)
    for key, value in list((p['environment'] or {}).items()) + list(secrets.items()):
        env[key] = '' if value is None else to_text(value)
    data = None
    stdin = p['stdin'] if p['secret_stdin'] is None else p['secret_stdin']
    if stdin is not None:
        data = to_bytes(stdin + ('\n' if p['stdin_add_newline'] else ''), errors='surrogate_or_strict')

    # Orphans of the command are re-parented to this process, so a timeout can find and kill them all.
    _set_child_subreaper()
    killer = _Killer(p['timeout'])
    start = datetime.datetime.now()
    try:
        rc, out, errout = module.run_command(
            argv, cwd=p['chdir'] or None, environ_update=env, data=data, binary_data=True,
            expand_user_and_vars=False, before_communicate_callback=killer.watch, handle_exceptions=False)
    except OSError as exc:
        result['rc'] = exc.errno or 2
        what = 'executable %s not found' % argv[0] if isinstance(exc, FileNotFoundError) else \
            'cannot run %s: %s' % (argv[0], exc.strerror or exc)
        module.fail_json(msg='%s in netns %s' % (what, name), **result)
    finally:
        killer.cancel()
    end = datetime.datetime.now()
    timed_out = killer.fired

    stdout = to_text(out, errors='surrogate_or_replace')
    stderr = to_text(errout, errors='surrogate_or_replace')
    if p['strip_empty_ends']:
        stdout, stderr = stdout.rstrip('\r\n'), stderr.rstrip('\r\n')
    result.update(changed=True, rc=rc, stdout=stdout, stderr=stderr,
                  stdout_lines=_lines(stdout), stderr_lines=_lines(stderr),
                  start=str(start), end=str(end), delta=str(end - start))
    if timed_out:
        module.fail_json(msg='command timed out after %d seconds in netns %s and was killed'
                         % (p['timeout'], name), **result)
    if rc != 0:
        module.fail_json(msg='non-zero return code', **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
