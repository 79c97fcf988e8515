# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared helpers of the benchmark (bench/run.sh -> bench/bench.py). Runs only inside tools/sandbox.sh.

Timings are wall-clock, measured in the same run as the figure they are compared with. A task's time
comes from bench/callback_plugins/bench_timer.py (task start -> result on the controller), so it includes
everything Ansible does per task (templating, AnsiballZ, fork/exec of the module, JSON back) but not the
controller's start-up.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(ROOT, '.venv')
PY = os.path.join(VENV, 'bin', 'python')
PLAYBOOK = os.path.join(VENV, 'bin', 'ansible-playbook')
CG_VENV = os.environ.get('BENCH_CG_VENV', os.path.join(HERE, '.venv-cg'))
CG_PLAYBOOK = os.path.join(CG_VENV, 'bin', 'ansible-playbook')
COLLECTIONS = os.path.join(ROOT, 'build', 'collections')
MODULES_DIR = os.path.join(ROOT, 'plugins', 'modules')
RESULTS = os.path.join(HERE, 'results')

WORK = tempfile.mkdtemp(prefix='virtnet-bench-')
VERBOSE = False


# --------------------------------------------------------------------------- safety

def ns_inode(path):
    return os.stat(path).st_ino


def assert_sandboxed():
    """Refuse to run in the machine's own network namespace (run.sh re-executes inside tools/sandbox.sh)."""
    if os.environ.get('VIRTNET_BENCH_IN_SANDBOX') != '1':
        sys.exit('bench: run me through bench/run.sh (it enters tools/sandbox.sh)')
    try:
        if ns_inode('/proc/1/ns/net') == ns_inode('/proc/self/ns/net'):
            sys.exit('bench: refusing to run in the machine\'s own network namespace')
    except OSError:
        pass  # no access to PID 1's namespace: a PID namespace of our own, also fine
    with open('/proc/self/mountinfo') as f:
        if not any(' /run/netns ' in line and 'tmpfs' in line for line in f):
            sys.exit('bench: /run/netns is not the sandbox\'s private tmpfs')


# --------------------------------------------------------------------------- small utilities

def log(*args):
    print(*args, file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else None


def sh(cmd, check=True, capture=True, input_text=None):
    """Run a command (list or shell string); returns CompletedProcess."""
    shell = isinstance(cmd, str)
    res = subprocess.run(cmd, shell=shell, text=True, input=input_text, check=False,
                         stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.PIPE if capture else None)
    if check and res.returncode != 0:
        raise RuntimeError('command failed (%d): %s\n%s' % (res.returncode, cmd, (res.stderr or '')[-3000:]))
    return res


def timed(func, *args, **kwargs):
    t = time.perf_counter()
    out = func(*args, **kwargs)
    return time.perf_counter() - t, out


def ip_batch(lines, force=False):
    """Run `ip -batch` on the lines; returns seconds (whole process, as a user would pay it)."""
    path = os.path.join(WORK, 'ip.batch')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    cmd = ['ip'] + (['-force'] if force else []) + ['-batch', path]
    t = time.perf_counter()
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    dt = time.perf_counter() - t
    if res.returncode != 0 and not force:
        raise RuntimeError('ip -batch failed: %s' % res.stderr[-2000:])
    return dt


def ip_json(args, netns=None):
    cmd = ['ip'] + (['-n', netns] if netns else []) + ['-j'] + args
    out = sh(cmd).stdout
    return json.loads(out) if out.strip() else []


def list_netns():
    try:
        return sorted(os.listdir('/run/netns'))
    except FileNotFoundError:
        return []


def host_links():
    """Names of the links in the sandbox's own namespace (lo excluded)."""
    return [link['ifname'] for link in ip_json(['link', 'show']) if link['ifname'] != 'lo']


def count_links_prefix(prefix, netns=None):
    return sum(1 for link in ip_json(['link', 'show'], netns) if link['ifname'].startswith(prefix))


def wait_until(pred, timeout=60.0, step=0.005):
    """Seconds until pred() holds (polls); raises on timeout."""
    t = time.perf_counter()
    while not pred():
        if time.perf_counter() - t > timeout:
            raise RuntimeError('timeout waiting for %s' % getattr(pred, '__name__', pred))
        time.sleep(step)
    return time.perf_counter() - t


_NLHDR = struct.Struct('=IHHII')
_RTA = struct.Struct('=HH')


def _dump_names(sock):
    """Names of every link, from one RTM_GETLINK dump (statistics skipped) on a raw rtnetlink socket."""
    body = struct.pack('=BxHiII', 0, 0, 0, 0, 0) + struct.pack('=HHI', 8, 29, 1 << 3)  # IFLA_EXT_MASK
    sock.send(_NLHDR.pack(_NLHDR.size + len(body), 18, 0x1 | 0x300, 1, 0) + body)
    names = []
    while True:
        data = sock.recv(1 << 20)
        pos = 0
        while pos + _NLHDR.size <= len(data):
            length, mtype = _NLHDR.unpack_from(data, pos)[:2]
            if mtype == 3:            # NLMSG_DONE
                return names
            if mtype == 2:            # NLMSG_ERROR
                raise OSError(-struct.unpack_from('=i', data, pos + 16)[0], 'link dump failed')
            apos, end = pos + _NLHDR.size + 16, pos + length
            while apos + 4 <= end:
                alen, atype = _RTA.unpack_from(data, apos)
                if alen < 4:
                    break
                if atype & 0x3FFF == 3:   # IFLA_IFNAME
                    names.append(data[apos + 4:apos + alen].split(b'\0', 1)[0].decode())
                    break
                apos += (alen + 3) & ~3
            pos += (length + 3) & ~3


def link_names(netns=None):
    """Link names of the sandbox's namespace (or of `netns`), read over rtnetlink (never from /sys:
    the sandbox does not remount sysfs, so /sys/class/net shows the machine's namespace)."""
    if netns:
        out = sh(['ip', '-n', netns, '-o', 'link', 'show']).stdout
        return [line.split(': ', 2)[1].split('@', 1)[0] for line in out.splitlines() if ': ' in line]
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0) as sock:
        return _dump_names(sock)


def no_host_links_prefix(prefix):
    """A predicate: the sandbox's namespace has no link whose name starts with prefix."""
    def pred():
        return not any(n.startswith(prefix) for n in link_names())
    pred.__name__ = 'no host link named %s*' % prefix
    return pred


def cleanup(settle=0.5):
    """Remove every namespace and every non-lo link of the sandbox, fast (namespaces first)."""
    names = list_netns()
    if names:
        ip_batch(['netns del %s' % n for n in names], force=True)
    links = host_links()
    if links:
        # ifgroup bulk delete: one request for all of them
        ip_batch(['link set dev %s group 4242' % n for n in links], force=True)
        sh(['ip', 'link', 'del', 'group', '4242'], check=False)
    wait_until(lambda: not host_links(), timeout=120)
    time.sleep(settle)   # the kernel tears namespaces down in a workqueue: let it finish


# --------------------------------------------------------------------------- machine

def _version(cmd):
    try:
        return sh(cmd).stdout.strip()
    except Exception:  # pylint: disable=broad-except
        return None


def machine_info():
    cpu = None
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    mem = None
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal'):
                mem = '%.1f GiB' % (int(line.split()[1]) / 1024 / 1024)
    return {
        'nproc': os.cpu_count(),
        'kernel': platform.release(),
        'cpu': cpu,
        'memory': mem,
        'os': _version(['sh', '-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
        'python': _version([PY, '-c', 'import platform; print(platform.python_version())']),
        'ansible_core': _version([PY, '-c', 'import ansible.release as r; print(r.__version__)']),
        'pyroute2': _version([PY, '-c', 'import importlib.metadata as m; print(m.version("pyroute2"))']),
        'iproute2': _version(['ip', '-V']),
        'ansible_cg': _version([os.path.join(CG_VENV, 'bin', 'python'), '-c',
                                'import importlib.metadata as m; print(m.version("ansible"))'])
        if os.path.exists(CG_PLAYBOOK) else None,
    }


def available_modules():
    """Modules present in plugins/modules (minus those named in $BENCH_SKIP_MODULES, comma-separated)."""
    skip = set(os.environ.get('BENCH_SKIP_MODULES', '').split(','))
    return sorted(f[:-3] for f in os.listdir(MODULES_DIR)
                  if f.endswith('.py') and not f.startswith('_') and f[:-3] not in skip)


# --------------------------------------------------------------------------- ansible

def ansible_env(cg=False, timer_out=None):
    env = dict(os.environ)
    paths = [COLLECTIONS]
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': ':'.join(paths),
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'callback_plugins'),
        'ANSIBLE_CALLBACKS_ENABLED': 'bench_timer',
        'ANSIBLE_LIBRARY': os.path.join(HERE, 'library'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'ANSIBLE_DEPRECATION_WARNINGS': '0',
        'ANSIBLE_LOCAL_TEMP': os.path.join(WORK, 'ansible-local'),
        'ANSIBLE_REMOTE_TMP': os.path.join(WORK, 'ansible-remote'),
        'BENCH_TIMER_OUT': timer_out or os.path.join(WORK, 'timer.json'),
    })
    if cg:
        # the community.general venv carries its collections in site-packages; ours comes from COLLECTIONS
        env['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS
        env['ANSIBLE_COLLECTIONS_SCAN_SYS_PATH'] = '1'
    env.pop('VIRTUAL_ENV', None)
    return env


def run_playbook(tasks, cg=False, label='play', extra_env=None, check=True):
    """Run one play on localhost (local connection, the venv's Python as the module interpreter).

    Returns {'wall': s, 'tasks': [{'name','start','end','dur','changed','status','items'}], 'rc': rc}.
    """
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]
    pb = os.path.join(WORK, '%s.yml' % re.sub(r'[^A-Za-z0-9_.-]', '_', label))
    with open(pb, 'w') as f:
        json.dump(play, f)         # JSON is YAML: no templating of the figures by a YAML writer
    timer = os.path.join(WORK, 'timer-%s.json' % os.getpid())
    if os.path.exists(timer):
        os.unlink(timer)
    env = ansible_env(cg=cg, timer_out=timer)
    env.update(extra_env or {})
    cmd = [CG_PLAYBOOK if cg else PLAYBOOK, '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % PY, pb]
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    wall = time.perf_counter() - t
    with open(os.path.join(WORK, '%s.log' % label), 'w') as f:
        f.write(res.stdout)
    if VERBOSE:
        log(res.stdout[-4000:])
    data = {'tasks': [], 'total': None}
    if os.path.exists(timer):
        with open(timer) as f:
            data = json.load(f)
    for task in data['tasks']:
        task['dur'] = (task['end'] - task['start']) if task['end'] is not None else None
    out = {'wall': wall, 'tasks': data['tasks'], 'rc': res.returncode}
    if check and res.returncode != 0:
        raise RuntimeError('playbook %s failed (rc %d):\n%s' % (label, res.returncode, res.stdout[-6000:]))
    return out


def task_time(run, index=0):
    return run['tasks'][index]['dur']


# --------------------------------------------------------------------------- direct module runs

def module_args_file(args, check_mode=False):
    path = os.path.join(WORK, 'args-%d.json' % time.monotonic_ns())
    full = dict(args)
    full['_ansible_check_mode'] = check_mode
    with open(path, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': full}, f)
    return path


def run_module_direct(module, args, profile_out=None, check_mode=False):
    """Run plugins/modules/<module>.py as its own process (as AnsiballZ would, minus the zip).

    Returns {'wall': s, 'maxrss_mb': peak RSS of the module process, 'result': parsed JSON, 'rc': rc}.
    """
    argsfile = module_args_file(args, check_mode)
    cmd = [PY]
    if profile_out:
        cmd += ['-m', 'cProfile', '-o', profile_out]
    cmd += [os.path.join(MODULES_DIR, module + '.py'), argsfile]
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    out_path = os.path.join(WORK, 'module-out.json')
    with open(out_path, 'w') as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        status, rusage = os.wait4(proc.pid, 0)[1:]
        wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path) as f:
        text = f.read()
    try:
        result = json.loads(text[text.index('{'):])
    except ValueError:
        result = {'raw': text[-3000:]}
    return {'wall': wall, 'maxrss_mb': rusage.ru_maxrss / 1024.0, 'result': result, 'rc': proc.returncode}


def self_maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_results(data, name=None):
    os.makedirs(RESULTS, exist_ok=True)
    name = name or time.strftime('bench-%Y%m%d-%H%M%S.json')
    path = os.path.join(RESULTS, name)
    with open(path, 'w') as f:
        json.dump(data, f, indent=1, sort_keys=True)
    latest = os.path.join(RESULTS, 'latest.json')
    shutil.copyfile(path, latest)
    return path
