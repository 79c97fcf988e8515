# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Boot restore: what virtnet.linux.plumbing made comes back at boot on a systemd host, by the engine itself.

A plumbing task with `boot_name` (and `boot: true`) saves its validated declaration - the elements it
keeps present, in its sections - to /etc/virtnet/boot/NAME.json, and keeps on the host what applies the
saved declarations at boot:

    /var/lib/virtnet/boot/engine.pyz        a copy of the engine: the module_utils this very module run was
                                            built from (its AnsiballZ payload), as a Python zip application
                                            whose __main__ calls main() below
    /etc/systemd/system/virtnet-boot.service   a oneshot unit: python3 engine.pyz, before network-pre.target
    .../multi-user.target.wants/virtnet-boot.service   its enablement (what `systemctl enable` makes)

At boot main() applies every saved declaration as one virtnet.linux.plumbing task each (validate, then
`_plumbing.Driver` - the module's own code, its own transaction), in dependency order: a declaration
that needs what another one provides (a namespace, a bridge, a link) comes after it; one that fails is
tried again after the others as long as another one succeeded in between. The daemon module's units of
boot-enabled daemons are ordered After=virtnet-boot.service.

A declaration the task no longer makes (its elements absent, or `boot: false`) is removed from the saved
file (the file goes when nothing is left); with the last file go the unit, its enablement and the engine.
Without systemd (PID 1 is not systemd) nothing is saved: such a host is restored by the next converge.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import zipfile

from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError

BOOT_DIR = '/etc/virtnet/boot'
ENGINE_DIR = '/var/lib/virtnet/boot'
ENGINE_NAME = 'engine.pyz'
UNIT_DIR = '/etc/systemd/system'
UNIT = 'virtnet-boot.service'
TARGET = 'multi-user.target'
NAME_RE = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')
#: the zip entries of a payload that belong in the engine
ENGINE_PREFIXES = ('ansible/', 'ansible_collections/')
ENGINE_MAIN = (
    '# virtnet.linux boot restore (written by virtnet.linux.plumbing): applies /etc/virtnet/boot/*.json\n'
    'import sys\n'
    'from ansible_collections.virtnet.linux.plugins.module_utils._boot import main\n'
    'sys.exit(main(sys.argv[1:]))\n'
)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def systemd_running():
    """Whether PID 1 is systemd and up (as sd_booted() decides); the daemon module decides the same way."""
    if not os.path.isdir('/run/systemd/system'):
        return False
    try:
        with open('/proc/1/comm') as f:
            return f.read().strip() == 'systemd'
    except OSError:
        return False


def validate_name(name):
    """An error message for a bad boot_name, else None."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        return 'invalid boot_name %r: 1 to 64 of A-Z a-z 0-9 _ . -' % (name,)
    return None


# --------------------------------------------------------------------------- files

def read_bytes(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_bytes(path, data, mode=0o644):
    """Atomically (the daemon module's way: a temporary file beside it, then renamed over it), owned by the
    module's user (root)."""
    from ansible_collections.virtnet.linux.plugins.module_utils._daemon.files import write_file
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    write_file({'path': path, 'data': data, 'mode': mode, 'uid': os.geteuid(), 'gid': os.getegid()})


def put(path, data, mode=0o644):
    """Write `data` to `path`, or remove it when data is None."""
    if data is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    else:
        write_bytes(path, data, mode)


def wants_path(unit, target=TARGET, unit_dir=UNIT_DIR):
    return os.path.join(unit_dir, target + '.wants', unit)


def enabled(unit, target=TARGET, unit_dir=UNIT_DIR):
    """Whether the unit is wanted by `target` (the symlink `systemctl enable` makes for WantedBy=)."""
    return os.path.islink(wants_path(unit, target, unit_dir))


def set_enabled(unit, on, target=TARGET, unit_dir=UNIT_DIR):
    """Make or remove the target's symlink to the unit (as `systemctl enable/disable` would for a unit with
    WantedBy=target); True when something changed."""
    link = wants_path(unit, target, unit_dir)
    if on:
        want = os.path.join(unit_dir, unit)
        if os.path.islink(link) and os.readlink(link) == want:
            return False
        if not os.path.isdir(os.path.dirname(link)):
            os.makedirs(os.path.dirname(link), 0o755)
        tmp = link + '.tmp%d' % os.getpid()
        os.symlink(want, tmp)
        os.rename(tmp, link)
        return True
    if os.path.islink(link) or os.path.exists(link):
        os.unlink(link)
        return True
    return False


# --------------------------------------------------------------------------- the saved declaration

def declaration(sections, netns=''):
    """The document saved for boot from the sections [(section name, elements as their options validated
    them)]: the present elements of each section (each complete: its own netns and the options' defaults)."""
    out = {}
    for name, items in sections:
        present = [item for item in items if item.get('state') != 'absent']
        if present:
            out[name] = present
    return {'netns': netns or '', 'sections': out} if out else None


def declaration_text(decl):
    return None if decl is None else (json.dumps(decl, sort_keys=True, indent=1) + '\n').encode('utf-8')


def objects(decl, ranks):
    """What a declaration restores, one 'section/[netns/]object' text each, sections in dependency order
    (`ranks`: section name -> rank): the diff's view."""
    if not decl:
        return []
    out = []
    sections = decl.get('sections') or {}
    for name in sorted(sections, key=lambda n: (ranks.get(n, 99), n)):
        for item in sections[name]:
            what = item.get('name') or item.get('dst') or item.get('dev') or '?'
            out.append('%s/%s%s' % (name, (item['netns'] + '/') if item.get('netns') else '', what))
    return out


def saved_names(boot_dir=BOOT_DIR):
    try:
        names = os.listdir(boot_dir)
    except FileNotFoundError:
        return []
    return sorted(n[:-5] for n in names if n.endswith('.json') and NAME_RE.match(n[:-5]))


def unit_text(python, engine):
    return '\n'.join([
        '# Managed by Ansible (virtnet.linux.plumbing): changes here are overwritten.',
        '[Unit]',
        'Description=virtnet.linux boot restore of the saved network declarations (%s)' % BOOT_DIR,
        'DefaultDependencies=no',
        'After=local-fs.target systemd-modules-load.service systemd-sysctl.service',
        'Before=network-pre.target shutdown.target',
        'Wants=network-pre.target',
        'Conflicts=shutdown.target',
        'ConditionDirectoryNotEmpty=%s' % BOOT_DIR,
        '',
        '[Service]',
        'Type=oneshot',
        'RemainAfterExit=yes',
        'ExecStart=%s %s' % (python, engine),
        '',
        '[Install]',
        'WantedBy=%s' % TARGET,
        '',
    ]).encode('utf-8')


# --------------------------------------------------------------------------- the engine's copy

def _payload_entries(module):
    """{zip name: bytes} of the collection's and ansible's Python files this module run has: the entries of
    its AnsiballZ payload, else (run from files) the two packages' trees on disk."""
    loader = getattr(module, '__loader__', None)
    archive = getattr(loader, 'archive', None)
    entries = {}
    if archive and os.path.isfile(archive):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if name.startswith(ENGINE_PREFIXES) and name.endswith('.py'):
                    entries[name] = z.read(name)
        return entries
    path = getattr(module, '__file__', None)
    if not path or not os.path.isfile(path):
        raise VirtnetError('cannot copy the engine for boot: this module run has neither an AnsiballZ payload nor '
                           'files on disk (%s)' % (path or module.__name__))
    import ansible.module_utils
    # .../ansible_collections/virtnet/linux/plugins/module_utils/_boot.py -> the directory holding ansible_collections
    collections_root = os.path.dirname(os.path.abspath(path))
    for _i in range(5):
        collections_root = os.path.dirname(collections_root)
    trees = [(os.path.join(collections_root, 'ansible_collections', 'virtnet', 'linux', 'plugins', 'module_utils'),
              collections_root),
             (os.path.dirname(os.path.abspath(ansible.module_utils.__file__)),
              os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(ansible.module_utils.__file__)))))]
    for tree, base in trees:
        for directory, _dirs, files in os.walk(tree):
            for f in files:
                if f.endswith('.py'):
                    full = os.path.join(directory, f)
                    with open(full, 'rb') as fh:
                        entries[os.path.relpath(full, base).replace(os.sep, '/')] = fh.read()
    for pkg in ('ansible', 'ansible_collections', 'ansible_collections/virtnet', 'ansible_collections/virtnet/linux',
                'ansible_collections/virtnet/linux/plugins'):
        entries.setdefault(pkg + '/__init__.py', b'')
    return entries


def engine_bytes(module=None):
    """The engine's copy as a Python zip application: the same bytes for the same collection and ansible-core
    (entries sorted, one fixed time), so that a converged host rewrites nothing."""
    if module is None:
        module = sys.modules[__name__]
    entries = _payload_entries(module)
    entries['__main__.py'] = ENGINE_MAIN.encode('utf-8')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, entries[name])
    return buf.getvalue()


# --------------------------------------------------------------------------- one plumbing task's part

class BootFiles(object):
    """What one plumbing task with boot_name does to the boot files: its saved declaration, and the unit,
    its enablement and the engine that apply the saved declarations (kept while any is saved)."""

    def __init__(self, name, wanted, boot_dir=BOOT_DIR, engine_dir=ENGINE_DIR, unit_dir=UNIT_DIR, python=None,
                 systemd=None):
        self.name = name
        self.wanted = wanted            # the declaration to save, or None (nothing: remove it)
        self.boot_dir = boot_dir
        self.engine = os.path.join(engine_dir, ENGINE_NAME)
        self.unit_dir = unit_dir
        self.unit = os.path.join(unit_dir, UNIT)
        self.python = python or sys.executable
        self.systemd = systemd_running() if systemd is None else systemd
        self.path = os.path.join(boot_dir, name + '.json')
        self.actions = []
        self.before = None
        self.after = None

    def plan(self):
        """[(description, path or None, bytes or None (remove) or True (enable)/False (disable))]: the changes."""
        steps = []
        have = read_bytes(self.path)
        try:
            self.before = json.loads(have.decode('utf-8')) if have is not None else None
        except ValueError:
            self.before = {'unreadable': True}
        if not self.systemd:
            # no systemd: nothing is saved (the next converge restores this host); a file of earlier days goes
            # when the task no longer declares anything
            self.after = self.before if self.wanted is not None else None
            if self.wanted is None and have is not None:
                steps.append(('remove the boot declaration %s' % self.path, self.path, None))
            return steps
        want = declaration_text(self.wanted)
        self.after = self.wanted
        if want != have:
            verb = 'remove' if want is None else ('save' if have is None else 'update')
            steps.append(('%s the boot declaration %s' % (verb, self.path), self.path, want))
        others = [n for n in saved_names(self.boot_dir) if n != self.name]
        keep = bool(others) or want is not None
        engine = engine_bytes() if keep else None
        unit = unit_text(self.python, self.engine) if keep else None
        for what, path, data in (('the boot engine', self.engine, engine), ('the unit', self.unit, unit)):
            if read_bytes(path) != data:
                steps.append(('%s %s %s' % ('remove' if data is None else 'write', what, path), path, data))
        if enabled(UNIT, unit_dir=self.unit_dir) != keep:
            steps.append(('%s %s' % ('enable' if keep else 'disable', UNIT), None, keep))
        return steps

    def apply(self, tx, steps, reload_systemd):
        """Carry the steps out through the task's transaction (each undone on a later failure)."""
        for description, path, data in steps:
            self.actions.append(description)
            if path is None:
                tx.run(description, lambda on=data: set_enabled(UNIT, on, unit_dir=self.unit_dir),
                       lambda on=data: set_enabled(UNIT, not on, unit_dir=self.unit_dir))
            else:
                old = read_bytes(path)
                mode = 0o600 if path == self.path else 0o644
                tx.run(description, lambda p=path, d=data, m=mode: put(p, d, m),
                       lambda p=path, d=old, m=mode: put(p, d, m))
        if any(path == self.unit for _d, path, _x in steps) and self.systemd:
            tx.run('systemctl daemon-reload', reload_systemd)

    def result(self, specs):
        return {'name': self.name, 'path': self.path, 'changed': bool(self.actions), 'actions': list(self.actions),
                'systemd': self.systemd, 'objects': objects(self.after, specs)}

    def diff(self, specs):
        return self._view(self.before, specs), self._view(self.after, specs)

    def _view(self, decl, specs):
        return {'path': self.path, 'objects': objects(decl, specs)} if decl else {}


# --------------------------------------------------------------------------- at boot

class _Failed(Exception):
    pass


class BootModule(object):
    """What _plumbing.Driver needs of an AnsibleModule, for a run at boot (no check mode, no diff)."""

    check_mode = False
    _diff = False

    def __init__(self, params):
        self.params = params

    def fail_json(self, msg, **kw):
        raise _Failed(msg)

    def exit_json(self, **kw):
        raise _Failed('unexpected exit_json')


def load(path):
    with open(path) as f:
        decl = json.load(f)
    if not isinstance(decl, dict) or not isinstance(decl.get('sections'), dict):
        raise ValueError('not a saved plumbing declaration')
    params = dict(netns=decl.get('netns') or '')
    for name, items in decl['sections'].items():
        params[name] = items
    return params


def keys(params):
    """(provides, needs) of a declaration, as its objects' Spec.provides/needs keys (needs: of others)."""
    from ansible_collections.virtnet.linux.plugins.module_utils._plumbing import validate
    runs, _errors = validate(params)
    provides = set(runs.providers)
    needs = set()
    for _section, spec, items, _labels in runs.sections:
        for item in items:
            needs.update(key for key, _why, _kind in spec.needs(item))
    return provides, needs - provides


def order(declarations):
    """The names of `declarations` ({name: (provides, needs)}) in dependency order (stable by name; what is
    left in a cycle, by name)."""
    names = sorted(declarations)
    after = dict((n, set(m for m in names if m != n and declarations[n][1] & declarations[m][0])) for n in names)
    out = []
    while len(out) < len(names):
        ready = [n for n in names if n not in out and not (after[n] - set(out))]
        if not ready:
            ready = [n for n in names if n not in out][:1]
        out.append(ready[0])
    return out


def apply(params):
    """One saved declaration as one plumbing task: (changed, error or None)."""
    from ansible_collections.virtnet.linux.plugins.module_utils._plumbing import Driver, validate
    from ansible_collections.virtnet.linux.plugins.module_utils._pyroute2 import HAS_PYROUTE2
    runs, errors = validate(params)
    if errors:
        return False, '; '.join(errors)
    if not HAS_PYROUTE2 and any(items and spec.needs_pyroute2 for _s, spec, items, _l in runs.sections):
        return False, 'pyroute2 is missing for %s' % sys.executable
    try:
        out = Driver(BootModule(params), runs).run()
    except _Failed as exc:
        return False, str(exc)
    return out.get('changed', False), None


def _log(line):
    """One line to the journal (the unit's standard output)."""
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def main(argv=None, boot_dir=BOOT_DIR, log=None):
    """Apply every saved declaration (at boot): exit status 0 when all of them applied, else 1."""
    log = log or _log
    loaded = {}
    failed = {}
    for name in saved_names(boot_dir):
        try:
            loaded[name] = load(os.path.join(boot_dir, name + '.json'))
        except (OSError, ValueError) as exc:
            failed[name] = 'cannot read %s: %s' % (os.path.join(boot_dir, name + '.json'), exc)
    pending = order(dict((name, keys(params)) for name, params in loaded.items()))
    log('virtnet boot: %d saved declaration(s): %s' % (len(pending), ' '.join(pending) or '-'))
    rounds = 0
    while pending and rounds < len(loaded) + 1:
        rounds += 1
        left = []
        for name in pending:
            changed, error = apply(loaded[name])
            if error is None:
                failed.pop(name, None)
                log('virtnet boot: %s: %s' % (name, 'restored' if changed else 'already in place'))
            else:
                failed[name] = error
                left.append(name)
        if len(left) == len(pending):
            break
        pending = left
    for name in sorted(failed):
        log('virtnet boot: %s FAILED: %s' % (name, failed[name]))
    return 1 if failed else 0
