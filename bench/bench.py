# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module-layer speed benchmark of virtnet.linux. Start it with bench/run.sh (enters the sandbox).

Every figure is printed next to the figure it is compared with, both measured in this run; nothing
here asserts a time. Sections (pick with --sections): import, overhead, netns, veth, link_info, profile,
plumbing, daemon, vxlan.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402  pylint: disable=wrong-import-position

ALL_SECTIONS = ['import', 'overhead', 'netns', 'veth', 'link_info', 'profile', 'plumbing', 'daemon', 'vxlan']
RESULTS = {'goals': []}


def fmt(value, unit='s'):
    if value is None:
        return 'n/a'
    if unit == 's':
        return '%.3f s' % value if value >= 0.1 else '%.1f ms' % (value * 1000)
    if unit == 'x':
        return '%.2f×' % value
    return '%s %s' % (value, unit)


def heading(text):
    print('\n== %s   [load average %.1f]' % (text, os.getloadavg()[0]), flush=True)


def row(label, *cells):
    print('  %-58s %s' % (label, '  '.join(str(c) for c in cells)), flush=True)


def goal(name, value, limit, kind='<=', unit='x', note=''):
    """Record a goal: value compared with limit (kind '<=' or '>=')."""
    if value is None:
        met = None
    else:
        met = value <= limit if kind == '<=' else value >= limit
    RESULTS['goals'].append({'goal': name, 'value': value, 'limit': limit, 'kind': kind, 'unit': unit,
                             'met': met, 'note': note})
    status = 'n/a' if met is None else ('MET' if met else 'NOT MET')
    shown = 'n/a' if value is None else ('%.2f%s' % (value, 'x' if unit == 'x' else ' ' + unit))
    print('  GOAL %-52s %-12s (goal %s %s%s) %s%s' % (name, shown, kind, limit, 'x' if unit == 'x' else ' ' + unit,
                                                      status, ('  ' + note) if note else ''), flush=True)


def have(module):
    return module in C.available_modules()


def missing(section, module):
    print('  %s: module not available (plugins/modules/%s.py missing)' % (section, module), flush=True)
    RESULTS.setdefault('missing', []).append(module)


# =========================================================================== import

def _importtime(modname):
    env = dict(os.environ, PYTHONPATH=C.COLLECTIONS)
    res = subprocess.run([C.PY, '-X', 'importtime', '-c', 'import %s' % modname], env=env, check=False,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        return None
    entries = []   # (depth, name, self_us, cumulative_us)
    for line in res.stderr.splitlines():
        if not line.startswith('import time:') or 'self [us]' in line:
            continue
        self_us, cum, name = line.split(':', 1)[1].split('|')
        depth = (len(name) - len(name.lstrip(' ')) - 1) // 2
        entries.append((depth, name.strip(), int(self_us), int(cum)))
    return entries


def _wall(stmts, runs=7, pythonpath=C.COLLECTIONS):
    """Median wall time of `python -c STMT` for each statement, runs interleaved."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    samples = dict((s, []) for s in stmts)
    for dummy in range(runs):
        for stmt in stmts:
            t = time.perf_counter()
            subprocess.run([C.PY, '-c', stmt], env=env, check=True)
            samples[stmt].append(time.perf_counter() - t)
    return dict((s, C.median(v)) for s, v in samples.items())


# imports only the pyroute2 modules the collection uses, skipping the package __init__ (which imports
# NDB, IPDB, conntrack, ethtool, nftables, ... and everything they need)
_PR2_NEEDED_ONLY = (
    "import importlib.util, sys, types\n"
    "spec = importlib.util.find_spec('pyroute2')\n"
    "pkg = types.ModuleType('pyroute2'); pkg.__path__ = list(spec.submodule_search_locations); pkg.__spec__ = spec\n"
    "sys.modules['pyroute2'] = pkg\n"
    "from pyroute2.iproute.linux import IPRoute\n"
    "from pyroute2.netlink.exceptions import NetlinkError\n")


def _own_sources(modname):
    """Source files of the collection that importing the module loads (AnsiballZ ships them without .pyc)."""
    env = dict(os.environ, PYTHONPATH=C.COLLECTIONS)
    code = ('import sys, %s\n'
            'print("\\n".join(m.__file__ for n, m in list(sys.modules.items())'
            ' if n.startswith("ansible_collections.virtnet") and getattr(m, "__file__", None)))' % modname)
    res = subprocess.run([C.PY, '-c', code], env=env, stdout=subprocess.PIPE, text=True, check=True)
    return [f for f in res.stdout.split() if f.endswith('.py')]


def _compile_time(files, runs=5):
    samples = []
    for dummy in range(runs):
        t = time.perf_counter()
        for path in files:
            with open(path) as f:
                compile(f.read(), path, 'exec', dont_inherit=True)
        samples.append(time.perf_counter() - t)
    return C.median(samples)


def section_import(args):
    heading('import time of each module (wall = python -c "import M" minus python -c pass, median of 7; '
            'importtime medians of 5)')
    out = {}
    walls = _wall(['pass', 'from pyroute2 import IPRoute', _PR2_NEEDED_ONLY,
                   'import ansible.module_utils.basic'])
    py0 = walls['pass']
    pr2_full = walls['from pyroute2 import IPRoute'] - py0
    pr2_needed = walls[_PR2_NEEDED_ONLY] - py0
    basic = walls['import ansible.module_utils.basic'] - py0
    row('python -c pass (interpreter start)', fmt(py0))
    row('from pyroute2 import IPRoute', fmt(pr2_full))
    row('only pyroute2.iproute.linux + exceptions (package __init__ skipped)', fmt(pr2_needed),
        '-> %s of the pyroute2 import is for modules the collection never uses' % fmt(pr2_full - pr2_needed))
    row('import ansible.module_utils.basic', fmt(basic))
    out['_pyroute2'] = {'full': pr2_full, 'needed_only': pr2_needed, 'python_start': py0, 'basic': basic}
    mods = C.available_modules()
    mod_walls = _wall(['pass'] + ['import ansible_collections.virtnet.linux.plugins.modules.%s' % m for m in mods])
    for module in mods:
        modname = 'ansible_collections.virtnet.linux.plugins.modules.%s' % module
        runs = [e for e in (_importtime(modname) for dummy in range(5)) if e]
        if not runs:
            row(module, 'import failed')
            continue
        totals, pr2s, basics, owns = [], [], [], []
        for entries in runs:
            totals.append(sum(e[3] for e in entries if e[0] == 0) / 1e6)
            pr2s.append(sum(e[3] for e in entries if e[1] == 'pyroute2') / 1e6)
            basics.append(sum(e[3] for e in entries if e[1] == 'ansible.module_utils.basic') / 1e6)
            owns.append(sum(e[2] for e in entries if e[1].startswith('ansible_collections.virtnet')) / 1e6)
        npr2 = len([e for e in runs[0] if e[1].startswith('pyroute2')])
        files = _own_sources(modname)
        comp = _compile_time(files)
        wall = mod_walls['import %s' % modname] - mod_walls['pass']
        out[module] = dict(wall=wall, importtime=C.median(totals), pyroute2=C.median(pr2s),
                           basic=C.median(basics), own_exec=C.median(owns), pyroute2_modules=npr2,
                           own_files=len(files), own_compile=comp)
        row(module, 'wall %s' % fmt(wall), 'importtime %s' % fmt(C.median(totals)),
            'pyroute2 %s (%d modules)' % (fmt(C.median(pr2s)), npr2), 'basic %s' % fmt(C.median(basics)),
            'own code exec %s' % fmt(C.median(owns)),
            'compile of its %d collection files %s' % (len(files), fmt(comp)))
    RESULTS['import'] = out


# =========================================================================== per-task overhead

def overhead_tasks():
    """(label, converged task) for each available module, plus the set-up tasks that converge them."""
    setup, cases = [], []
    ns = 'bo-ns'
    setup.append({'virtnet.linux.netns': {'name': ns}})
    cases.append(('virtnet.linux.netns', {'virtnet.linux.netns': {'name': ns}}))
    if have('netns_exec'):
        cases.append(('virtnet.linux.netns_exec (runs true)', {'virtnet.linux.netns_exec': {'netns': ns, 'argv': ['true']}}))
    if have('veth'):
        t = {'virtnet.linux.veth': {'name': 'bo-v0', 'peer': 'bo-p0', 'peer_netns': ns}}
        setup.append(t)
        cases.append(('virtnet.linux.veth', t))
    if have('tuntap'):
        t = {'virtnet.linux.tuntap': {'name': 'bo-tap0', 'mode': 'tap'}}
        setup.append(t)
        cases.append(('virtnet.linux.tuntap', t))
    if have('bridge'):
        t = {'virtnet.linux.bridge': {'name': 'bo-br0'}}
        setup.append(t)
        cases.append(('virtnet.linux.bridge', t))
    if have('address'):
        t = {'virtnet.linux.address': {'netns': ns, 'dev': 'lo', 'address': ['10.255.0.1/32']}}
        setup.append(t)
        cases.append(('virtnet.linux.address', t))
    if have('route'):
        t = {'virtnet.linux.route': {'netns': ns, 'dst': '10.254.0.0/24', 'dev': 'lo'}}
        setup.append(t)
        cases.append(('virtnet.linux.route', t))
    if have('link_info'):
        cases.append(('virtnet.linux.link_info', {'virtnet.linux.link_info': {}}))
    return setup, cases


def section_overhead(args):
    n = args.tasks
    heading('per-task overhead: %d identical converged tasks per module vs ansible.builtin.command "true"' % n)
    C.cleanup()
    setup, cases = overhead_tasks()
    for missing_mod in ('veth', 'tuntap', 'bridge', 'address', 'route', 'link_info'):
        if not have(missing_mod):
            missing('overhead', missing_mod)
    baseline = ('ansible.builtin.command true', {'ansible.builtin.command': 'true'})
    # finely interleaved: round r runs command, module A, command, module B, ... so that a change of load on
    # the machine (other jobs) hits the command baseline and every module alike. A task's time runs from
    # its start to the next task's start (everything Ansible spends on it); per-task = sum / n.
    order = []
    for case in cases:
        order += [baseline, case]
    tasks = list(setup)
    for r in range(n):
        tasks.extend([dict(task, name='%s #%d' % (label, r)) for label, task in order])
    tasks.append({'ansible.builtin.debug': {'msg': 'end'}})
    samples = dict((label, []) for label, dummy in [baseline] + cases)
    changed = dict((label, False) for label in samples)
    for rep in range(args.overhead_repeat):
        run = C.run_playbook(tasks, label='overhead-%d' % rep)
        ts = run['tasks'][len(setup):]
        for i, (label, dummy) in enumerate(order * n):
            samples[label].append(ts[i + 1]['start'] - ts[i]['start'])
            changed[label] = changed[label] or ts[i]['changed']
    out = {}
    base = sum(samples[baseline[0]]) / len(samples[baseline[0]])
    base_median = C.median(samples[baseline[0]])
    row('ansible.builtin.command "true" (%d tasks)' % len(samples[baseline[0]]), 'per task %s' % fmt(base),
        'median %s' % fmt(base_median))
    for label, dummy in cases:
        xs = samples[label]
        per = sum(xs) / len(xs)
        out[label] = {'per_task': per, 'per_task_median': C.median(xs), 'ratio': per / base,
                      'ratio_median': C.median(xs) / base_median, 'extra': per - base, 'changed': changed[label]}
        row(label, 'per task %s' % fmt(per), fmt(out[label]['ratio'], 'x'), '+%s' % fmt(out[label]['extra']),
            '(medians: %s, %s)' % (fmt(C.median(xs)), fmt(out[label]['ratio_median'], 'x')),
            'changed=%s' % changed[label])
    for label, dummy in cases:
        if 'netns_exec' in label:
            continue   # runs a command: not a converged task, shown for reference only
        goal('per-task %s vs command' % label.replace('virtnet.linux.', ''), out[label]['ratio'], 2)
    base_all = samples[baseline[0]]
    RESULTS['overhead'] = {'n': n, 'baseline_per_task': base, 'baseline_samples': base_all, 'modules': out}
    RESULTS['overhead_module_process'] = _ansiballz_costs([baseline] + cases, 5)


def _kept_ansiballz(tasks, label):
    """Run the tasks once with ANSIBLE_KEEP_REMOTE_FILES; {module short name: its AnsiballZ file}."""
    remote = os.path.join(C.WORK, 'keep-remote-%s' % label)
    shutil.rmtree(remote, ignore_errors=True)
    C.run_playbook(tasks, label=label, extra_env={'ANSIBLE_KEEP_REMOTE_FILES': '1', 'ANSIBLE_REMOTE_TMP': remote})
    files = {}
    for d in os.listdir(remote):
        for f in os.listdir(os.path.join(remote, d)):
            if f.startswith('AnsiballZ_'):
                files[f[len('AnsiballZ_'):-3]] = os.path.join(remote, d, f)
    return files


def _run_ansiballz(path, runs):
    """Wall, CPU (user+sys) medians and peak RSS of the module process as Ansible starts it."""
    walls, cpus, rss = [], [], []
    for dummy in range(runs):
        t = time.perf_counter()
        proc = subprocess.Popen([C.PY, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dummy, dummy_status, ru = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t)
        cpus.append(ru.ru_utime + ru.ru_stime)
        rss.append(ru.ru_maxrss / 1024.0)
    return {'wall': C.median(walls), 'cpu': C.median(cpus), 'maxrss_mb': max(rss)}


def _ansiballz_costs(cases, runs):
    """The module process alone: run each task's AnsiballZ file (kept with ANSIBLE_KEEP_REMOTE_FILES) again.

    CPU time (user+sys of the process, from wait4) is much less sensitive to other load on the machine
    than wall time, so it shows what a module costs over ansible.builtin.command on the target side.
    """
    print('  -- the module process alone (its AnsiballZ file run %d times; wall and CPU medians):' % runs)
    files = _kept_ansiballz([task for _label, task in cases], 'overhead-keep')
    out = {}
    for label, task in cases:
        mod = [k for k in task if '.' in k][0].rsplit('.', 1)[1]
        path = files.get(mod)
        if path is None:
            continue
        out[label] = _run_ansiballz(path, runs)
    base = out.get(cases[0][0])
    for label, value in out.items():
        value['cpu_ratio'] = value['cpu'] / base['cpu'] if base else None
        row('  ' + label, 'wall %s' % fmt(value['wall']), 'CPU %s' % fmt(value['cpu']),
            '%s command' % fmt(value['cpu_ratio'], 'x'), 'peak RSS %.0f MB' % value['maxrss_mb'])
    return out


# =========================================================================== netns

def _wait_gone_thread(pred):
    """Start polling pred() in a thread; returns a dict whose 't' is the monotonic time it first held."""
    box = {'t': None}

    def poll():
        while not pred():
            time.sleep(0.01)
        box['t'] = time.monotonic()
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    box['thread'] = thread
    return box


def section_netns(args):
    for size in args.netns_sizes:
        heading('%d namespaces: one virtnet.linux.netns task vs a loop of community.general.ip_netns vs ip -batch'
                % size)
        names = ['bn%03d' % i for i in range(size)]
        res = {}
        C.cleanup()
        floor, floor_del = [], []
        for dummy in range(args.repeat):
            floor.append(C.ip_batch(['netns add %s' % n for n in names]))
            floor_del.append(C.ip_batch(['netns del %s' % n for n in names]))
        C.cleanup()
        res['ip_batch_add'], res['ip_batch_del'] = C.median(floor), C.median(floor_del)
        row('ip -batch: netns add ×%d (lo stays down)' % size, fmt(res['ip_batch_add']))

        for lo_up in (False, True):
            tag = 'lo_up' if lo_up else 'lo_down'
            create, rerun, remove = [], [], []
            changed = {}
            for dummy in range(args.repeat):
                task = {'virtnet.linux.netns': {'names': names, 'loopback_up': lo_up}, 'register': 'r'}
                run = C.run_playbook([task], label='netns-batch')
                create.append(C.task_time(run))
                changed['create'] = run['tasks'][0]['changed']
                assert len(C.list_netns()) == size, 'netns batch did not create %d namespaces' % size
                run = C.run_playbook([task], label='netns-batch-rerun')
                rerun.append(C.task_time(run))
                changed['rerun'] = run['tasks'][0]['changed']
                rm = {'virtnet.linux.netns': {'names': names, 'state': 'absent'}}
                run = C.run_playbook([rm], label='netns-batch-absent')
                remove.append(C.task_time(run))
                changed['remove'] = run['tasks'][0]['changed']
                assert not C.list_netns(), 'netns batch absent left namespaces'
                C.cleanup()
            res[tag] = {'create': C.median(create), 'rerun': C.median(rerun), 'remove': C.median(remove),
                        'changed': changed}
            row('virtnet.linux.netns names=×%d loopback_up=%s: create' % (size, lo_up),
                fmt(res[tag]['create']), 'changed=%s' % changed['create'],
                '%s ip -batch' % fmt(res[tag]['create'] / res['ip_batch_add'], 'x'))
            row('  converged re-run', fmt(res[tag]['rerun']), 'changed=%s' % changed['rerun'])
            row('  state=absent', fmt(res[tag]['remove']), 'changed=%s' % changed['remove'],
                '(ip -batch netns del: %s)' % fmt(res['ip_batch_del']))
            goal('netns ×%d converged re-run changed=false (%s)' % (size, tag), 0 if not changed['rerun'] else 1, 0,
                 unit='changed')

        # a loop of community.general.ip_netns
        cg_n = min(size, args.cg_max)
        if os.path.exists(C.CG_PLAYBOOK):
            task = {'community.general.ip_netns': {'name': '{{ item }}'}, 'loop': names[:cg_n]}
            run = C.run_playbook([task], cg=True, label='netns-cg-loop')
            t = C.task_time(run)
            assert len(C.list_netns()) == cg_n
            C.cleanup()
            per = t / cg_n
            res['cg_loop'] = {'n': cg_n, 'time': t, 'per_item': per, 'extrapolated': per * size}
            row('community.general.ip_netns loop ×%d%s' % (cg_n, '' if cg_n == size else
                                                           ' (×%d extrapolated linearly)' % size),
                fmt(per * size), 'per item %s' % fmt(per),
                'batch is %s faster' % fmt(per * size / res['lo_up']['create'], 'x'))
        else:
            row('community.general.ip_netns loop', 'skipped: %s missing (run.sh --setup-cg)' % C.CG_PLAYBOOK)

        # a loop of our own single form, for the same picture (once: the per-item cost does not depend on size)
        if size != args.netns_sizes[0]:
            own = RESULTS['netns'][str(args.netns_sizes[0])]['own_loop']
            res['own_loop'] = dict(own, extrapolated=own['per_item'] * size)
            row('virtnet.linux.netns loop (per item from the first size, ×%d extrapolated)' % size,
                fmt(res['own_loop']['extrapolated']),
                'batch is %s faster' % fmt(res['own_loop']['extrapolated'] / res['lo_up']['create'], 'x'))
            _netns_goals(size, res)
            RESULTS.setdefault('netns', {})[str(size)] = res
            continue
        own_n = min(size, args.loop_max)
        task = {'virtnet.linux.netns': {'name': '{{ item }}'}, 'loop': names[:own_n]}
        run = C.run_playbook([task], label='netns-own-loop')
        t = C.task_time(run)
        C.cleanup()
        res['own_loop'] = {'n': own_n, 'time': t, 'per_item': t / own_n, 'extrapolated': t / own_n * size}
        row('virtnet.linux.netns loop ×%d%s' % (own_n, '' if own_n == size else
                                                ' (×%d extrapolated linearly)' % size),
            fmt(t / own_n * size), 'per item %s' % fmt(t / own_n),
            'batch is %s faster' % fmt(t / own_n * size / res['lo_up']['create'], 'x'))
        _netns_goals(size, res)
        RESULTS.setdefault('netns', {})[str(size)] = res


def _netns_goals(size, res):
    goal('netns ×%d batch (lo down) vs ip -batch' % size, res['lo_down']['create'] / res['ip_batch_add'], 3,
         note='no explicit goal; the veth goal applied by analogy')
    if 'cg_loop' in res:
        goal('netns ×%d batch vs community.general loop (speed-up)' % size,
             res['cg_loop']['extrapolated'] / res['lo_up']['create'], 20, kind='>=',
             note='no explicit goal; the veth loop goal applied by analogy')


# =========================================================================== veth

def _veth_items(pairs, nns, prefix='bv', peer_prefix='bp', ns_prefix='bn'):
    return [{'name': '%s%d' % (prefix, i), 'peer': '%s%d' % (peer_prefix, i),
             'peer_netns': '%s%03d' % (ns_prefix, i % nns)} for i in range(pairs)]


def _make_ns(names):
    C.ip_batch(['netns add %s' % n for n in names])


def _del_host_links_fast(prefix):
    """Bulk delete of the host ends by ifgroup (setup/teardown only, not a measured figure)."""
    links = [n for n in C.link_names() if n.startswith(prefix)]
    if links:
        C.ip_batch(['link set dev %s group 4242' % n for n in links])
        C.sh(['ip', 'link', 'del', 'group', '4242'])
    C.wait_until(C.no_host_links_prefix(prefix), timeout=120)


def _count_veth(prefix):
    return sum(1 for n in C.link_names() if n.startswith(prefix))


def section_veth(args):
    pairs, nns = args.pairs, args.veth_netns
    heading('%d veth pairs, peers spread over %d namespaces' % (pairs, nns))
    if not have('veth'):
        missing('veth', 'veth')
        RESULTS['veth'] = 'module not available'
        return
    res = {}
    C.cleanup()
    nsnames = ['bn%03d' % i for i in range(nns)]
    items = _veth_items(pairs, nns)
    _make_ns(nsnames)
    ip_lines = ['link add %s type veth peer name %s netns %s' % (i['name'], i['peer'], i['peer_netns']) for i in items]

    floor = []
    for dummy in range(args.repeat):
        floor.append(C.ip_batch(ip_lines))
        assert _count_veth('bv') == pairs
        _del_host_links_fast('bv')
    res['ip_batch'] = C.median(floor)
    row('ip -batch: link add … type veth peer name … netns … ×%d' % pairs, fmt(res['ip_batch']))

    # Two ways to meet the task in a run of ansible-playbook, both measured:
    # - "in a play": the play ran the module before (here a `batch: []` task first), so Ansible has the
    #   module's payload (AnsiballZ) built already, as for every use but the first in a real playbook;
    # - "first use": the task is the run's first use of the module and so also pays Ansible's one-off
    #   build of that payload (the same for any module: see the `command` rows of the overhead section).
    task = {'virtnet.linux.veth': {'batch': items}}
    warm_up = {'name': 'veth module used once before (empty batch)', 'virtnet.linux.veth': {'batch': []}}
    create, rerun, cold, cold_rerun, changed = [], [], [], [], {}
    for rep in range(args.repeat):
        for tasks, at, into, into_rerun in (([task], 0, cold, cold_rerun), ([warm_up, task], 1, create, rerun)):
            run = C.run_playbook(tasks, label='veth-batch')
            into.append(C.task_time(run, at))
            changed['create'] = run['tasks'][at]['changed']
            assert changed['create'], 'veth batch reported no change'
            assert _count_veth('bv') == pairs, 'veth batch made %d host ends' % _count_veth('bv')
            assert C.count_links_prefix('bp', nsnames[0]) == len([i for i in items if i['peer_netns'] == nsnames[0]])
            run = C.run_playbook(tasks, label='veth-batch-rerun')
            into_rerun.append(C.task_time(run, at))
            changed['rerun'] = run['tasks'][at]['changed']
            assert not changed['rerun'], 'converged veth batch reported a change'
            if rep < args.repeat - 1 or at == 0:
                _del_host_links_fast('bv')
    res['batch'] = C.median(create)
    res['rerun'] = C.median(rerun)
    res['batch_first_use'] = C.median(cold)
    res['rerun_first_use'] = C.median(cold_rerun)
    res['changed'] = changed
    row('virtnet.linux.veth, one task, batch of %d, in a play' % pairs, fmt(res['batch']),
        'changed=%s' % changed['create'], '%s ip -batch' % fmt(res['batch'] / res['ip_batch'], 'x'))
    row('  converged re-run (nothing to change)', fmt(res['rerun']), 'changed=%s' % changed['rerun'])
    row('the same task as the first use of the module in the run', fmt(res['batch_first_use']),
        '%s ip -batch' % fmt(res['batch_first_use'] / res['ip_batch'], 'x'))
    row('  converged re-run, first use', fmt(res['rerun_first_use']))

    # Ansible's share: a module that validates the same batch and returns the same result, doing nothing
    # else. What the veth task costs beyond it is the collection's work and the kernel's.
    direct = C.run_module_direct('veth', {'batch': items})      # converged: the pairs are there
    result_file = os.path.join(C.WORK, 'veth-result.json')
    with open(result_file, 'w') as f:
        json.dump(direct['result'], f)
    null_task = {'bench_null_batch': {'batch': items, 'result_file': result_file}}
    null_warm = {'bench_null_batch': {'batch': []}}
    null = [C.task_time(C.run_playbook([null_warm, null_task], label='veth-null'), 1) for dummy in range(args.repeat)]
    res['ansible_share'] = C.median(null)
    row("Ansible's share: a do-nothing module, same batch and same result, in a play", fmt(res['ansible_share']),
        '%s ip -batch' % fmt(res['ansible_share'] / res['ip_batch'], 'x'))
    row('  veth task beyond that share (collection + kernel)', fmt(res['batch'] - res['ansible_share']),
        '%s ip -batch' % fmt((res['batch'] - res['ansible_share']) / res['ip_batch'], 'x'))

    # the module process alone (no Ansible around it): what the module's own work costs
    direct = C.run_module_direct('veth', {'batch': items})
    res['rerun_module_process'] = direct['wall']
    row('  converged re-run, module process alone (direct run)', fmt(direct['wall']),
        'changed=%s' % direct['result'].get('changed'), 'peak RSS %.0f MB' % direct['maxrss_mb'])
    _del_host_links_fast('bv')
    direct = C.run_module_direct('veth', {'batch': items})
    assert direct['rc'] == 0 and _count_veth('bv') == pairs, 'direct veth batch failed: %s' % direct['result']
    empty = [C.run_module_direct('veth', {'batch': []})['wall'] for dummy in range(3)]
    res['create_module_process'] = direct['wall']
    res['module_start'] = C.median(empty)
    res['create_module_work'] = direct['wall'] - res['module_start']
    row('  create, module process alone (direct run)', fmt(direct['wall']),
        'of which start-up (batch: []) %s' % fmt(res['module_start']),
        'work %s = %s ip -batch' % (fmt(res['create_module_work']), fmt(res['create_module_work'] / res['ip_batch'], 'x')))

    # removal: the 500 pairs are present now
    removal = {}
    # (1) link by link, the floor of per-link deletion: ip -batch of `link del`
    t = C.ip_batch(['link del %s' % i['name'] for i in items])
    assert _count_veth('bv') == 0
    removal['ip_batch_link_del'] = t
    row('removal: ip -batch link del ×%d (one link at a time)' % pairs, fmt(t))
    # (2) through the netns module: the peers' namespaces go, the kernel removes the pairs with them
    C.ip_batch(ip_lines)
    box = _wait_gone_thread(C.no_host_links_prefix('bv'))
    run = C.run_playbook([{'virtnet.linux.netns': {'names': nsnames, 'state': 'absent'}}], label='veth-rm-netns')
    box['thread'].join(120)
    task_rec = run['tasks'][0]
    removal['netns_module_task'] = task_rec['dur']
    removal['netns_module_until_gone'] = (box['t'] - task_rec['start_abs']) if box['t'] else None
    row('removal: virtnet.linux.netns state=absent of the %d peer namespaces' % nns, fmt(task_rec['dur']),
        'all %d host ends gone %s after the task started' % (pairs, fmt(removal['netns_module_until_gone'])))
    # (3) through the veth module: batch state=absent
    _make_ns(nsnames)
    C.ip_batch(ip_lines)
    rm = {'virtnet.linux.veth': {'batch': [{'name': i['name']} for i in items], 'state': 'absent'}}
    run = C.run_playbook([rm], label='veth-rm-batch')
    removal['veth_batch_absent'] = C.task_time(run)
    removal['veth_batch_absent_changed'] = run['tasks'][0]['changed']
    assert _count_veth('bv') == 0
    row('removal: virtnet.linux.veth batch state=absent ×%d' % pairs, fmt(removal['veth_batch_absent']),
        'changed=%s' % run['tasks'][0]['changed'])
    run = C.run_playbook([rm], label='veth-rm-batch-rerun')
    removal['veth_batch_absent_rerun'] = C.task_time(run)
    removal['veth_batch_absent_rerun_changed'] = run['tasks'][0]['changed']
    row('  converged re-run of state=absent', fmt(removal['veth_batch_absent_rerun']),
        'changed=%s' % run['tasks'][0]['changed'])
    # (4) for reference: the ifgroup bulk delete floor
    C.ip_batch(ip_lines)
    t1 = C.ip_batch(['link set dev %s group 4242' % i['name'] for i in items])
    t2 = C.timed(C.sh, ['ip', 'link', 'del', 'group', '4242'])[0]
    gone = C.wait_until(C.no_host_links_prefix('bv'))
    removal['ip_group_del'] = t1 + t2 + gone
    row('removal floor: ip -batch link set group + ip link del group', fmt(removal['ip_group_del']))
    res['removal'] = removal
    base = removal['ip_batch_link_del']
    goal('veth ×%d removal via netns module / link-by-link' % pairs,
         max(removal['netns_module_task'], removal['netns_module_until_gone'] or 0) / base, 0.1)
    goal('veth ×%d removal via veth batch absent / link-by-link' % pairs, removal['veth_batch_absent'] / base, 0.1)

    # a loop of the single form, extrapolated linearly
    C.cleanup()
    _make_ns(nsnames)
    loop_n = min(pairs, args.loop_max)
    loop = {'virtnet.linux.veth': {'name': '{{ item.name }}', 'peer': '{{ item.peer }}',
                                   'peer_netns': '{{ item.peer_netns }}'}, 'loop': items[:loop_n]}
    run = C.run_playbook([loop], label='veth-loop')
    t = C.task_time(run)
    assert _count_veth('bv') == loop_n
    res['loop'] = {'n': loop_n, 'time': t, 'per_item': t / loop_n, 'extrapolated': t / loop_n * pairs}
    extra = '' if loop_n == pairs else ' (×%d extrapolated linearly)' % pairs
    row('loop of virtnet.linux.veth ×%d%s' % (loop_n, extra), fmt(res['loop']['extrapolated']),
        'per item %s' % fmt(t / loop_n))
    C.cleanup()
    goal('veth ×%d batch vs ip -batch' % pairs, res['batch'] / res['ip_batch'], 3,
         note='the task in a play that used the module before')
    goal('veth ×%d batch vs ip -batch, first use of the module' % pairs, res['batch_first_use'] / res['ip_batch'], 3,
         note="includes Ansible's one-off build of the module payload")
    goal('veth ×%d batch, module work only, vs ip -batch' % pairs, res['create_module_work'] / res['ip_batch'], 3,
         note='informative: module process minus its start-up')
    goal('veth ×%d batch speed-up over a loop' % pairs, res['loop']['extrapolated'] / res['batch'], 20, kind='>=',
         note='loop of %d extrapolated' % loop_n if loop_n != pairs else '')
    goal('veth ×%d converged re-run changed=false' % pairs, 0 if not changed['rerun'] else 1, 0, unit='changed')
    RESULTS['veth'] = res


# =========================================================================== link_info

def _make_link_info_fixture(nlinks, nns):
    nsnames = ['bn%03d' % i for i in range(nns)]
    _make_ns(nsnames)
    lines = []
    for j in range(nlinks // 2):
        # every pair crosses two namespaces, so each link has a peer to resolve
        lines.append('link add li%da netns %s type veth peer name li%db netns %s'
                     % (j, nsnames[j % nns], j, nsnames[(j + 1) % nns]))
    t = C.ip_batch(lines)
    return nsnames, t


def section_link_info(args):
    nlinks, nns = args.links, args.info_netns
    heading('virtnet.linux.link_info over %d links in %d namespaces' % (nlinks, nns))
    if not have('link_info'):
        missing('link_info', 'link_info')
        RESULTS['link_info'] = 'module not available'
        return
    C.cleanup()
    nsnames, t_fix = _make_link_info_fixture(nlinks, nns)
    row('fixture: ip -batch of %d veth pairs (not part of the figure)' % (nlinks // 2), fmt(t_fix))
    res = {}
    walls, rss, counts = [], [], None
    for dummy in range(args.repeat):
        direct = C.run_module_direct('link_info', {})
        if direct['rc'] != 0:
            raise RuntimeError('link_info failed: %s' % json.dumps(direct['result'])[:3000])
        walls.append(direct['wall'])
        rss.append(direct['maxrss_mb'])
        counts = _count_info_links(direct['result'])
    res['module_process'] = C.median(walls)
    res['peak_rss_mb'] = max(rss)
    res['links_reported'] = counts
    row('module process (direct run, wall)', fmt(res['module_process']), 'links reported: %s' % counts)
    row('module process peak RSS (wait4 ru_maxrss)', '%.1f MB' % res['peak_rss_mb'])
    task_times = []
    for dummy in range(args.repeat):
        run = C.run_playbook([{'virtnet.linux.link_info': {}}], label='link-info')
        task_times.append(C.task_time(run))
    res['task'] = C.median(task_times)
    row('as an Ansible task (incl. AnsiballZ, JSON to the controller)', fmt(res['task']))
    kept = _kept_ansiballz([{'virtnet.linux.link_info': {}}], 'link-info-keep')
    az = _run_ansiballz(kept['link_info'], args.repeat)
    res['ansiballz_wall'], res['ansiballz_cpu'], res['ansiballz_peak_rss_mb'] = az['wall'], az['cpu'], az['maxrss_mb']
    row('its AnsiballZ file run alone (the module process Ansible starts)', fmt(az['wall']),
        'CPU %s' % fmt(az['cpu']), 'peak RSS %.1f MB' % az['maxrss_mb'])
    res['result_json_bytes'] = len(json.dumps(direct['result']))
    from ansible.module_utils.common.parameters import remove_values
    scrub = []
    for dummy in range(3):
        t = time.perf_counter()
        remove_values(direct['result'], set())
        scrub.append(time.perf_counter() - t)
    res['remove_values'] = C.median(scrub)
    row("  result size; exit_json's remove_values() pass over it",
        '%.2f MB' % (res['result_json_bytes'] / 1e6), fmt(res['remove_values']))
    empty = C.run_module_direct('link_info', {'netns': ['no-such-*']})
    res['module_process_empty'] = empty['wall']
    res['peak_rss_empty_mb'] = empty['maxrss_mb']
    row('  same module with nothing to report (start-up + imports)', fmt(empty['wall']),
        'peak RSS %.1f MB' % empty['maxrss_mb'])
    goal('link_info ×%d module process time' % nlinks, res['module_process'], 2, unit='s')
    goal('link_info ×%d as a task' % nlinks, res['task'], 2, unit='s', note='informative: includes Ansible')
    goal('link_info ×%d peak RSS of the module process' % nlinks, max(res['peak_rss_mb'], res['ansiballz_peak_rss_mb']),
         200, unit='MB')
    RESULTS['link_info'] = res
    C.cleanup()


def _count_info_links(result):
    for key in ('links', 'interfaces'):
        if isinstance(result.get(key), list):
            return len(result[key])
    if isinstance(result.get('namespaces'), dict):
        return sum(len(v.get('links', [])) for v in result['namespaces'].values())
    return None


# =========================================================================== profile

def _top(path, limit):
    stats = pstats.Stats(path)
    rows = []
    total = stats.total_tt
    for func, (dummy_cc, nc, tt, ct, dummy_callers) in stats.stats.items():
        where = os.path.relpath(func[0], C.ROOT) if func[0].startswith(C.ROOT) else _short(func[0])
        rows.append((tt, ct, nc, '%s:%d(%s)' % (where, func[1], func[2])))
    by_tt = sorted(rows, reverse=True)[:limit]
    by_ct = sorted(rows, key=lambda r: r[1], reverse=True)[:limit * 2]
    return total, by_tt, by_ct


def _short(path):
    for marker in ('site-packages/', 'python3.11/'):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _profile_case(label, module, margs, limit):
    prof = os.path.join(C.RESULTS, 'profile-%s.prof' % label)
    os.makedirs(C.RESULTS, exist_ok=True)
    run = C.run_module_direct(module, margs, profile_out=prof)
    total, by_tt, by_ct = _top(prof, limit)
    print('\n  -- %s: module process %s under cProfile (profiled CPU %.3f s), rc=%d, changed=%s'
          % (label, fmt(run['wall']), total, run['rc'], run['result'].get('changed')), flush=True)
    print('     %-9s %-9s %-8s %s' % ('tottime', 'cumtime', 'calls', 'function (by own time)'))
    for tt, ct, nc, name in by_tt:
        print('     %-9.3f %-9.3f %-8d %s' % (tt, ct, nc, name))
    print('     by cumulative time (inside the collection and pyroute2 calls):')
    shown = 0
    for tt, ct, nc, name in by_ct:
        if ('plugins/' in name or 'pyroute2/iproute' in name or 'pyroute2/netlink/core' in name) and shown < limit:
            print('     %-9.3f %-9.3f %-8d %s' % (tt, ct, nc, name))
            shown += 1
    return {'wall': run['wall'], 'profiled_cpu': total, 'file': os.path.relpath(prof, C.ROOT),
            'top_tottime': [(round(tt, 4), round(ct, 4), nc, name) for tt, ct, nc, name in by_tt]}


def section_profile(args):
    heading('cProfile of the module process (direct run) for the batch cases; .prof files in bench/results/')
    out = {}
    C.cleanup()
    nsnames = ['bn%03d' % i for i in range(args.veth_netns)]
    out['netns_create'] = _profile_case('netns-create-%d' % len(nsnames), 'netns', {'names': nsnames}, args.top)
    out['netns_rerun'] = _profile_case('netns-rerun-%d' % len(nsnames), 'netns', {'names': nsnames}, args.top)
    if have('veth'):
        items = _veth_items(args.pairs, args.veth_netns)
        out['veth_create'] = _profile_case('veth-create-%d' % args.pairs, 'veth', {'batch': items}, args.top)
        out['veth_rerun'] = _profile_case('veth-rerun-%d' % args.pairs, 'veth', {'batch': items}, args.top)
        out['veth_absent'] = _profile_case('veth-absent-%d' % args.pairs, 'veth',
                                           {'batch': [{'name': i['name']} for i in items], 'state': 'absent'},
                                           args.top)
    else:
        missing('profile', 'veth')
    out['netns_absent'] = _profile_case('netns-absent-%d' % len(nsnames), 'netns',
                                        {'names': nsnames, 'state': 'absent'}, args.top)
    C.cleanup()
    if have('link_info'):
        _make_link_info_fixture(args.links, args.info_netns)
        out['link_info'] = _profile_case('link_info-%d' % args.links, 'link_info', {}, args.top)
        C.cleanup()
    else:
        missing('profile', 'link_info')
    RESULTS['profile'] = out


# =========================================================================== daemon

def _daemon_defs(n, nfiles, base, generation):
    """n daemon definitions (pidfile back end: `sleep` processes), each owning nfiles files in its own
    directory, as a role would declare a network's dnsmasq: a conf (restart), reload-class files, a
    none-class one."""
    classes = ['restart'] + ['reload'] * max(0, nfiles - 2) + ['none'] * (1 if nfiles > 1 else 0)
    defs = []
    for i in range(n):
        d = os.path.join(base, 'bd%03d' % i)
        defs.append({
            'name': 'bd%03d' % i, 'argv': ['sleep', '%d' % (360000 + i)],
            'pidfile': os.path.join(base, 'bd%03d.pid' % i), 'log_file': os.path.join(base, 'bd%03d.log' % i),
            'directories': [{'path': d}],
            'files': [{'path': os.path.join(d, 'f%d' % k), 'on_change': classes[k],
                       'content': 'daemon %d file %d generation %d\n%s' % (i, k, generation, 'x' * 200)}
                      for k in range(nfiles)]})
    return defs


def section_daemon(args):
    n, nfiles = args.daemons, args.daemon_files
    heading('%d daemons with %d files each: one virtnet.linux.daemon batch task vs %d single-daemon tasks '
            '(pidfile back end)' % (n, nfiles, n))
    if not have('daemon'):
        missing('daemon', 'daemon')
        RESULTS['daemon'] = 'module not available'
        return
    base = os.path.join(C.WORK, 'daemons')
    os.makedirs(base)
    os.chmod(C.WORK, 0o755)
    defs = _daemon_defs(n, nfiles, base, 1)
    common = {'start_wait': 0.5}
    batch_task = {'virtnet.linux.daemon': dict(common, batch=defs)}
    single_tasks = [{'virtnet.linux.daemon': dict(common, **d)} for d in defs]
    absent = {'virtnet.linux.daemon': {'state': 'absent', 'batch': defs}}
    # the way the roles did it before: one copy per file, the contents hashed into restart_key/reload_key
    copy_tasks = []
    for d in defs:
        copy_tasks.append({'ansible.builtin.file': {'path': d['directories'][0]['path'], 'state': 'directory',
                                                    'mode': '0755'}})
        for f in d['files']:
            copy_tasks.append({'ansible.builtin.copy': {'dest': f['path'], 'content': f['content'], 'mode': '0644'}})
        keyed = dict((k, v) for k, v in d.items() if k not in ('files', 'directories'))
        keyed['restart_key'] = '{{ %r | hash("sha256") }}' % d['files'][0]['content']
        keyed['reload_key'] = '{{ %r | hash("sha256") }}' % ''.join(f['content'] for f in d['files'][1:-1])
        copy_tasks.append({'virtnet.linux.daemon': dict(common, **keyed)})
    res = {'daemons': n, 'files_per_daemon': nfiles}
    first_batch, conv_batch, first_single, conv_single, conv_copy = [], [], [], [], []
    changed = {}
    for rep in range(args.repeat):
        # batch: first run (starts all, files written), converged run, removal
        run = C.run_playbook([batch_task, batch_task, absent], label='daemon-batch-%d' % rep)
        first_batch.append(run['tasks'][0]['dur'])
        conv_batch.append(run['tasks'][1]['dur'])
        changed['batch_converged'] = changed.get('batch_converged', False) or run['tasks'][1]['changed']
        # n single tasks: first pass, converged pass, removal
        run = C.run_playbook(single_tasks + single_tasks + [absent], label='daemon-single-%d' % rep)
        ts = run['tasks']
        first_single.append(ts[n]['start'] - ts[0]['start'])
        conv_single.append(ts[2 * n]['start'] - ts[n]['start'])
        changed['single_converged'] = changed.get('single_converged', False) or any(t['changed'] for t in ts[n:2 * n])
        # the roles' former pattern, converged: file + copy per file + a daemon task per daemon (slow: 6n
        # tasks, a copy is two module runs; measured in the first repeat only)
        if rep:
            continue
        run = C.run_playbook(copy_tasks + copy_tasks + [absent], label='daemon-copy-%d' % rep)
        ts = run['tasks']
        per = len(copy_tasks)
        conv_copy.append(ts[2 * per]['start'] - ts[per]['start'])
        changed['copy_converged'] = changed.get('copy_converged', False) or any(t['changed'] for t in ts[per:2 * per])
    res.update(first_batch=C.median(first_batch), converged_batch=C.median(conv_batch),
               first_single=C.median(first_single), converged_single=C.median(conv_single),
               converged_copy=C.median(conv_copy), changed=changed,
               module_runs={'batch': 1, 'single': n, 'copy': len(copy_tasks)})
    res['ratio_converged_single_to_batch'] = res['converged_single'] / res['converged_batch']
    res['ratio_converged_copy_to_batch'] = res['converged_copy'] / res['converged_batch']
    res['ratio_first_single_to_batch'] = res['first_single'] / res['first_batch']
    row('converged: one batch task (1 module run)', fmt(res['converged_batch']), 'changed=%s' % changed['batch_converged'])
    row('converged: %d single-daemon tasks (%d module runs)' % (n, n), fmt(res['converged_single']),
        fmt(res['ratio_converged_single_to_batch'], 'x') + ' the batch', 'changed=%s' % changed['single_converged'])
    row('converged: file + copy per file + daemon with keys (%d module runs)' % len(copy_tasks),
        fmt(res['converged_copy']), fmt(res['ratio_converged_copy_to_batch'], 'x') + ' the batch',
        'changed=%s' % changed['copy_converged'])
    row('first run: one batch task (starts confirmed in one wait of start_wait)', fmt(res['first_batch']))
    row('first run: %d single-daemon tasks (one start_wait each)' % n, fmt(res['first_single']),
        fmt(res['ratio_first_single_to_batch'], 'x') + ' the batch')
    if any(changed.values()):
        print('  WARNING: a converged pass reported changed: %s' % changed, flush=True)
    RESULTS['daemon'] = res
    shutil.rmtree(base, ignore_errors=True)


# =========================================================================== main

# =========================================================================== plumbing

def _plumbing_doc(n, prefix='bq'):
    """N DHCP networks as the dhcp_namespace role makes them: namespace, bridge, veth pair into the namespace,
    the server's address on the namespace's end."""
    doc = {'namespaces': [], 'bridges': [], 'veths': [], 'addresses': []}
    for i in range(n):
        ns = '%s-ns%d' % (prefix, i)
        doc['namespaces'].append({'name': ns})
        doc['bridges'].append({'name': '%sbr%d' % (prefix, i), 'link_state': 'up'})
        doc['veths'].append({'name': '%st%d' % (prefix, i), 'master': '%sbr%d' % (prefix, i), 'link_state': 'up',
                             'peer': '%sn%d' % (prefix, i), 'peer_netns': ns, 'peer_link_state': 'up'})
        doc['addresses'].append({'netns': ns, 'dev': '%sn%d' % (prefix, i),
                                 'address': ['10.%d.%d.2/24' % (100 + i // 256, i % 256)]})
    return doc


def _device_tasks(doc):
    """The same document as four device-module tasks (netns, bridge, veth, address), as the roles run them."""
    return [{'virtnet.linux.netns': {'batch': doc['namespaces']}},
            {'virtnet.linux.bridge': {'batch': doc['bridges']}},
            {'virtnet.linux.veth': {'batch': doc['veths']}},
            {'virtnet.linux.address': {'batch': doc['addresses']}}]


def _spans(run, groups):
    """Seconds from the start of each group's first task to the start of the task after its last (everything
    Ansible spends on the group); `groups` are task counts in playbook order (a final marker task follows)."""
    ts, out, at = run['tasks'], [], 0
    for count in groups:
        out.append(ts[at + count]['start'] - ts[at]['start'])
        at += count
    return out


def section_plumbing(args):
    """One virtnet.linux.plumbing task against the four device-module tasks, for N DHCP networks."""
    if not have('plumbing'):
        missing('plumbing', 'plumbing')
        return
    out = {}
    for n in args.plumbing_sizes:
        heading('%d DHCP networks (netns + bridge + veth + address each): one plumbing task vs four device '
                'tasks' % n)
        C.cleanup()
        doc = _plumbing_doc(n)
        one = [{'virtnet.linux.plumbing': doc}]
        four = _device_tasks(doc)
        gone = [{'virtnet.linux.plumbing': dict((k, [dict(e, state='absent') for e in v]) for k, v in doc.items())}]
        end = [{'ansible.builtin.debug': {'msg': 'end'}}]
        # first runs, each from an empty sandbox; then converged runs interleaved (one, four, one, four...)
        tasks = one + gone + four + (one + four) * args.repeat + end
        run = C.run_playbook(tasks, label='plumbing-%d' % n)
        changed = [t['changed'] for t in run['tasks']]
        spans = _spans(run, [1, 1, 4] + [1, 4] * args.repeat)
        first_one, first_four = spans[0], spans[2]
        conv_one = C.median(spans[3::2])
        conv_four = C.median(spans[4::2])
        converged = changed[6:-1]
        res = {'first_one': first_one, 'first_four': first_four, 'converged_one': conv_one,
               'converged_four': conv_four, 'first_ratio': first_one / first_four,
               'converged_ratio': conv_one / conv_four, 'converged_changed': any(converged),
               'first_changed': [changed[0], any(changed[2:6])]}
        out[n] = res
        row('first run: plumbing, 1 task', fmt(first_one))
        row('first run: netns + bridge + veth + address, 4 tasks', fmt(first_four),
            'plumbing/four %s' % fmt(res['first_ratio'], 'x'))
        row('converged (median of %d): plumbing, 1 task' % args.repeat, fmt(conv_one))
        row('converged (median of %d): 4 tasks' % args.repeat, fmt(conv_four),
            'plumbing/four %s' % fmt(res['converged_ratio'], 'x'),
            'changed on a converged run: %s' % res['converged_changed'])
        C.run_playbook(gone, label='plumbing-%d-gone' % n)
    RESULTS['plumbing'] = out


# =========================================================================== vxlan

ZERO_MAC = '00:00:00:00:00:00'


def _flood_peers(n):
    """n underlay addresses of other hosts (10.90.X.Y)."""
    return ['10.90.%d.%d' % (i // 250, 1 + i % 250) for i in range(n)]


def _fresh_vxlan(name='bx-vx0'):
    """A vxlan device without flood entries over the veth bx-u0 (made again: nothing left of a previous run)."""
    C.sh(['ip', 'link', 'del', name], check=False)
    C.sh(['ip', 'link', 'add', name, 'type', 'vxlan', 'id', '64', 'dstport', '4789', 'dev', 'bx-u0',
          'local', '10.90.255.1'])


def _flood_count(name='bx-vx0'):
    out = C.sh(['bridge', '-j', 'fdb', 'show', 'dev', name]).stdout
    return len([e for e in json.loads(out or '[]') if e.get('mac') == ZERO_MAC and 'dst' in e])


def _in_process_sync(peers):
    """Seconds to append `peers` in this process: over _rtnl's socket, and over pyroute2's IPRoute."""
    sys.path.insert(0, C.COLLECTIONS)
    from ansible_collections.virtnet.linux.plugins.module_utils import _rtnl   # noqa: E402
    out = {}
    rt = _rtnl.Rtnl()
    try:
        _fresh_vxlan()
        index = rt.get_link('', ifname='bx-vx0', need_data=False)['index']
        sock = rt.sock('')
        t = time.perf_counter()
        for peer in peers:
            sock.add_fdb(index, ZERO_MAC, peer)
        out['raw'] = time.perf_counter() - t
        assert _flood_count() == len(peers)
        _fresh_vxlan()
        index = rt.get_link('', ifname='bx-vx0', need_data=False)['index']
        ipr = rt.ipr('')
        t = time.perf_counter()
        for peer in peers:
            ipr.fdb('append', ifindex=index, lladdr=ZERO_MAC, dst=peer)
        out['pyroute2'] = time.perf_counter() - t
        assert _flood_count() == len(peers)
    finally:
        rt.close()
    return out


def section_vxlan(args):
    """Flood-entry sync of an N-host segment in one virtnet.linux.vxlan task against `bridge fdb append` once per
    entry - as an Ansible loop of command tasks (what a playbook without the module does) and as plain processes
    (a shell loop) -, `bridge -batch` (the floor of a shell), and in-process _rtnl against pyroute2 (why the
    module speaks netlink itself)."""
    if not have('vxlan'):
        missing('vxlan', 'vxlan')
        return
    n = args.vxlan_peers
    peers = _flood_peers(n)
    heading('flood entries of a %d-host segment: one vxlan task vs `bridge fdb append` per entry' % (n + 1))
    C.cleanup()
    C.sh(['ip', 'link', 'add', 'bx-u0', 'type', 'veth', 'peer', 'name', 'bx-u1'])
    C.sh(['ip', 'address', 'add', '10.90.255.1/16', 'dev', 'bx-u0'])
    out = {'peers': n}

    # one play: the module's device first (no flood entries), then per repeat: all n in one task, the same task
    # converged, back to none; then an Ansible loop of `bridge fdb append` commands, one item per entry
    device = {'name': 'bx-vx1', 'vni': 65, 'dev': 'bx-u0', 'local': '10.90.255.1'}
    tasks = [{'virtnet.linux.vxlan': dict(device, peers=[])}]
    for _r in range(args.repeat):
        tasks += [{'virtnet.linux.vxlan': dict(device, peers=peers)}, {'virtnet.linux.vxlan': dict(device, peers=peers)},
                  {'virtnet.linux.vxlan': dict(device, peers=[])}]
    tasks += [{'ansible.builtin.command': {'argv': ['bridge', 'fdb', 'append', ZERO_MAC, 'dev', 'bx-vx1', 'dst',
                                                    '{{ item }}']}, 'loop': peers},
              {'ansible.builtin.debug': {'msg': 'end'}}]
    run = C.run_playbook(tasks, label='vxlan-%d' % n)
    spans = _spans(run, [1] + [1, 1, 1] * args.repeat + [1])
    changed = [t['changed'] for t in run['tasks']]
    out['task_sync'] = C.median(spans[1:-1:3])
    out['task_converged'] = C.median(spans[2:-1:3])
    out['task_clear'] = C.median(spans[3:-1:3])
    out['ansible_loop'] = spans[-1]
    out['changed_pattern_ok'] = changed[1:-2] == [True, False, True] * args.repeat
    assert _flood_count('bx-vx1') == n

    # the module's own process (no Ansible): n added, and the same n converged (its fixed cost)
    added, converged = [], []
    for _r in range(args.repeat):
        C.run_module_direct('vxlan', dict(device, peers=[]))
        added.append(C.run_module_direct('vxlan', dict(device, peers=peers))['wall'])
        converged.append(C.run_module_direct('vxlan', dict(device, peers=peers))['wall'])
    out['module_sync'] = C.median(added)
    out['module_converged'] = C.median(converged)

    # bridge fdb append, one process per entry (a shell loop)
    per_entry = []
    for _r in range(args.repeat):
        _fresh_vxlan()
        t = time.perf_counter()
        for peer in peers:
            C.sh(['bridge', 'fdb', 'append', ZERO_MAC, 'dev', 'bx-vx0', 'dst', peer])
        per_entry.append(time.perf_counter() - t)
        assert _flood_count() == n
    out['bridge_per_entry'] = C.median(per_entry)

    # bridge -batch: one process for all of them
    batch = []
    path = os.path.join(C.WORK, 'fdb.batch')
    with open(path, 'w') as f:
        f.write(''.join('fdb append %s dev bx-vx0 dst %s\n' % (ZERO_MAC, p) for p in peers))
    for _r in range(args.repeat):
        _fresh_vxlan()
        t = time.perf_counter()
        C.sh(['bridge', '-batch', path])
        batch.append(time.perf_counter() - t)
        assert _flood_count() == n
    out['bridge_batch'] = C.median(batch)

    inproc = [_in_process_sync(peers) for _r in range(args.repeat)]
    for key in ('raw', 'pyroute2'):
        out['in_process_%s' % key] = C.median([x[key] for x in inproc])
    walls = _wall(['pass', _PR2_NEEDED_ONLY], runs=5)
    out['pyroute2_import'] = walls[_PR2_NEEDED_ONLY] - walls['pass']

    row('one vxlan task, %d flood entries added (median of %d)' % (n, args.repeat), fmt(out['task_sync']))
    row('the same task converged (nothing to do)', fmt(out['task_converged']))
    row('an Ansible loop of `bridge fdb append`, %d items' % n, fmt(out['ansible_loop']),
        'task/loop %s' % fmt(out['task_sync'] / out['ansible_loop'], 'x'))
    row('the module alone (its process, no Ansible), %d added' % n, fmt(out['module_sync']))
    row('the module alone, the same %d converged (its fixed cost)' % n, fmt(out['module_converged']),
        '%d entries: +%s' % (n, fmt(out['module_sync'] - out['module_converged'])))
    row('`bridge fdb append` per entry, %d processes (a shell loop)' % n, fmt(out['bridge_per_entry']),
        'module/per-entry %s' % fmt(out['module_sync'] / out['bridge_per_entry'], 'x'))
    row('`bridge -batch`, one process', fmt(out['bridge_batch']))
    row('in process: %d appends over _rtnl\'s socket' % n, fmt(out['in_process_raw']),
        'per-entry processes/raw %s' % fmt(out['bridge_per_entry'] / out['in_process_raw'], 'x'))
    row('in process: %d appends over pyroute2\'s IPRoute' % n, fmt(out['in_process_pyroute2']),
        'pyroute2/raw %s' % fmt(out['in_process_pyroute2'] / out['in_process_raw'], 'x'))
    row('importing what the collection uses of pyroute2 (fresh interpreters)', fmt(out['pyroute2_import']))
    row('changed exactly on the runs that change something', out['changed_pattern_ok'])
    RESULTS['vxlan'] = out
    C.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--sections', default=','.join(ALL_SECTIONS),
                        help='comma-separated subset of: %s' % ', '.join(ALL_SECTIONS))
    parser.add_argument('--repeat', type=int, default=3, help='runs per figure (median)')
    parser.add_argument('--tasks', type=int, default=20, help='identical tasks per module (overhead)')
    parser.add_argument('--overhead-repeat', type=int, default=1, help='runs of the overhead playbook (median)')
    parser.add_argument('--pairs', type=int, default=500, help='veth pairs')
    parser.add_argument('--veth-netns', type=int, default=50, help='namespaces the veth peers spread over')
    parser.add_argument('--netns-sizes', default='50,200', help='namespace counts for the netns section')
    parser.add_argument('--loop-max', type=int, default=50, help='longest loop actually run (rest extrapolated)')
    parser.add_argument('--cg-max', type=int, default=200, help='longest community.general loop actually run')
    parser.add_argument('--links', type=int, default=5000, help='links for link_info')
    parser.add_argument('--info-netns', type=int, default=50, help='namespaces for link_info')
    parser.add_argument('--top', type=int, default=12, help='rows per profile')
    parser.add_argument('--plumbing-sizes', default='3,20,100', help='DHCP networks for the plumbing section')
    parser.add_argument('--daemons', type=int, default=20, help='daemons for the daemon section')
    parser.add_argument('--daemon-files', type=int, default=4, help='files per daemon in the daemon section')
    parser.add_argument('--vxlan-peers', type=int, default=64, help='flood entries for the vxlan section')
    parser.add_argument('--skip-modules', default='', help='treat these modules as missing (comma-separated)')
    parser.add_argument('--verbose', action='store_true')
    parser.add_argument('--out', help='results file name in bench/results/')
    args = parser.parse_args()
    args.netns_sizes = [int(x) for x in args.netns_sizes.split(',') if x]
    args.plumbing_sizes = [int(x) for x in args.plumbing_sizes.split(',') if x]
    C.VERBOSE = args.verbose
    if args.skip_modules:
        os.environ['BENCH_SKIP_MODULES'] = args.skip_modules
    C.assert_sandboxed()
    sections = [s.strip() for s in args.sections.split(',') if s.strip()]
    for s in sections:
        if s not in ALL_SECTIONS:
            parser.error('unknown section %s' % s)

    info = C.machine_info()
    info['load_average_at_start'] = os.getloadavg()[0]
    RESULTS['machine'] = info
    RESULTS['args'] = vars(args)
    RESULTS['modules'] = C.available_modules()
    heading('machine')
    for key, value in info.items():
        row(key, value)
    row('modules present', ', '.join(RESULTS['modules']))
    t0 = time.perf_counter()
    funcs = {'import': section_import, 'overhead': section_overhead, 'netns': section_netns,
             'veth': section_veth, 'link_info': section_link_info, 'profile': section_profile,
             'plumbing': section_plumbing, 'daemon': section_daemon,
             'vxlan': section_vxlan}
    failures = []
    for s in sections:
        ts = time.perf_counter()
        try:
            funcs[s](args)
        except Exception as exc:  # pylint: disable=broad-except
            import traceback
            traceback.print_exc()
            failures.append('%s: %s' % (s, exc))
            RESULTS.setdefault('errors', {})[s] = str(exc)
            try:
                C.cleanup()
            except Exception:  # pylint: disable=broad-except
                pass
        RESULTS.setdefault('section_seconds', {})[s] = time.perf_counter() - ts
        RESULTS.setdefault('load_average_after', {})[s] = os.getloadavg()[0]
    RESULTS['total_seconds'] = time.perf_counter() - t0

    heading('goals')
    for g in RESULTS['goals']:
        status = 'n/a' if g['met'] is None else ('MET' if g['met'] else 'NOT MET')
        shown = 'n/a' if g['value'] is None else '%.3g%s' % (g['value'], 'x' if g['unit'] == 'x' else ' ' + g['unit'])
        unit = 'x' if g['unit'] == 'x' else ' ' + g['unit']
        print('  %-8s %-62s %-12s goal %s %s%s' % (status, g['goal'], shown, g['kind'], g['limit'], unit))
    if RESULTS.get('missing'):
        print('  modules not available: %s' % ', '.join(sorted(set(RESULTS['missing']))))
    path = C.write_results(RESULTS, args.out)
    print('\nresults: %s (total %.0f s)' % (os.path.relpath(path, C.ROOT), RESULTS['total_seconds']))
    if failures:
        print('section errors: %s' % '; '.join(failures))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
