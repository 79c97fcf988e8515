# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""A host's whole plumbing in one module run (virtnet.linux.plumbing): the device specs, one task.

SECTIONS is the one table: section -> spec class, the options of one element (the device module's own
dict, ``_spec/<device>.ARGUMENT_SPEC``, with the module's defaults), the options an element must have, and
the section's dependency rank. A new kind of device is one more row.

    validate   every element of every section against its options (ArgumentSpecValidator, messages naming
               "section[n] (object)"), each element as its module validates one object, each section as
               its module validates a batch, then the task against itself (a link made by two sections, an
               object that needs what the task deletes, a bridge port the task makes) and the namespaces
               the objects need; all of it before anything is read or changed
    lock       the host lock, once
    absent     the objects with state=absent, sections in reverse rank (routes ... namespaces)
    present    the objects with state=present, sections in rank (namespaces ... routes)
               each section as the engine runs its module: resolve_all, order, prepare, ensure each,
               finish; its hooks read the kernel when the section's turn comes
    --> one transaction: a failure anywhere rolls back everything the task did

Check mode: what the task would have made by a section's turn is not in the kernel. The context then
carries an `_engine.Plan` that reads consult first, so an object whose namespace, master bridge or link
the task would make is predicted (made, changed), with the reason in its result's `pending`, instead of
failing "netns X not found"; everything else is read and compared as its module does.
"""

from __future__ import annotations

import copy
import traceback

from ansible_collections.virtnet.linux.plugins.module_utils import _boot
from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    VirtnetError, coerced_names, netns_exists, ns_label, refuse_coerced_names,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    Context, Plan, fail, link_key, netns_key, require_pyroute2,
)
from ansible_collections.virtnet.linux.plugins.module_utils._link import read_link
from ansible_collections.virtnet.linux.plugins.module_utils._spec import (
    address as _address, bridge as _bridge, macvlan as _macvlan, netns as _netns, route as _route, tuntap as _tuntap,
    veth as _veth, vxlan as _vxlan,
)


class Section(object):
    """One row of the table: a list option of the plumbing module and the spec that ensures its elements."""

    __slots__ = ('name', 'spec', 'options', 'required', 'rank')

    def __init__(self, name, spec, options, required, rank):
        self.name = name
        self.spec = spec            # the _engine.Spec class (one instance per run)
        self.options = options      # the options of one element, with the module's defaults
        self.required = required    # options every element must set
        self.rank = rank            # dependency rank: lower ranks are made first and deleted last


#: the sections, by dependency rank: a macvlan's parent may be a bridge, a tap or a veth end, a vxlan's underlay
#: any of these or a macvlan; a vxlan or macvlan may be a port of a bridge; addresses and routes may be on any
SECTIONS = (
    Section('namespaces', _netns.Netns, _netns.ARGUMENT_SPEC, ('name',), 10),
    Section('bridges', _bridge.BridgeKind, _bridge.ARGUMENT_SPEC, ('name',), 20),
    Section('tuntaps', _tuntap.TuntapKind, _tuntap.ARGUMENT_SPEC, ('name',), 30),
    Section('veths', _veth.Veth, _veth.ARGUMENT_SPEC, ('name',), 40),
    Section('macvlans', _macvlan.MacvlanKind, _macvlan.ARGUMENT_SPEC, ('name',), 44),
    Section('vxlans', _vxlan.VxlanKind, _vxlan.ARGUMENT_SPEC, ('name',), 46),
    Section('addresses', _address.Address, _address.ARGUMENT_SPEC, (), 50),
    Section('routes', _route.Route, _route.ARGUMENT_SPEC, (), 60),
)


def argument_spec():
    """The module's argument spec: `netns` (the namespace of every element that names none) and one list of
    dicts per section (each element validated here, with its device module's options)."""
    spec = dict(netns=dict(type='str', default=''), boot=dict(type='bool', default=False),
                boot_name=dict(type='str'))
    for section in SECTIONS:
        spec[section.name] = dict(type='list', elements='dict', default=[])
    return spec


def element_options(section, netns=''):
    """The argument spec of one element of `section`: its module's options with their defaults (`netns`
    defaulting to the task's), the required ones required."""
    options = copy.deepcopy(section.options)
    for key in section.required:
        options[key]['required'] = True
    if 'netns' in options:
        options['netns']['default'] = netns
    return options


def element_label(section, position, raw):
    """'bridges[2] (brq42)': how messages name an element (its name, dst or dev as written)."""
    label = '%s[%d]' % (section.name, position)
    if isinstance(raw, dict):
        for key in ('name', 'dst', 'dev'):
            if isinstance(raw.get(key), str) and raw[key]:
                return '%s (%s)' % (label, raw[key])
    return label


def _own(message, raw):
    """A spec's message for one object without the object's name in front (the label names it)."""
    for key in ('name', 'dev'):
        value = raw.get(key) if isinstance(raw, dict) else None
        if isinstance(value, str) and value and message.startswith(value + ': '):
            return message[len(value) + 2:]
    return message


def validate_elements(section, spec, elements, netns='', declared=None):
    """(items, labels, errors) of one section's elements: options, then each object as its module validates
    one, then the whole list as its module validates a batch. `declared` (a list) gets a copy of each element
    as its options validated it (complete, before the spec normalises it): what boot saves."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible.module_utils.errors import UnsupportedError
    options = element_options(section, netns)
    validator = ArgumentSpecValidator(options)
    items, labels, errors = [], [], []
    for position, raw in enumerate(elements):
        label = element_label(section, position, raw)
        labels.append(label)
        own = coerced_names(options, raw)
        result = validator.validate(raw)
        if declared is not None:
            declared.append(copy.deepcopy(result.validated_parameters))
        own.extend(('unsupported parameters: %s' % err.msg) if isinstance(err, UnsupportedError) else err.msg
                   for err in result.errors)
        if not own:
            _valid, own = spec.validate_all([result.validated_parameters], False)
            own = [_own(err, raw) for err in own]
        errors.extend('%s: %s' % (label, err) for err in own)
        items.append(result.validated_parameters)
    if not errors and items:
        items, batch_errors = spec.validate_all(items, True)
        errors.extend('%s: %s' % (section.name, err) for err in batch_errors)
    return items, labels, errors


class Runs(object):
    """The validated task: per section its spec instance, items and labels, in rank order."""

    def __init__(self):
        self.sections = []      # (section, spec, items, labels)
        self.providers = {}     # key -> [(label, kind, state, section name, position)]
        self.made_ports = {}    # position of a bridge -> the ports of it that the task makes (adopt_ports)
        self.declared = {}      # section name -> its elements as their options validated them (for boot)
        self.declaration = None  # what boot restores (_boot.declaration)

    def add(self, section, spec, items, labels):
        self.sections.append((section, spec, items, labels))
        for position, item in enumerate(items):
            for key, kind in spec.provides(item):
                self.providers.setdefault(key, []).append(
                    (labels[position], kind, item.get('state'), section.name, position))

    def entry(self, name):
        for entry in self.sections:
            if entry[0].name == name:
                return entry
        return None

    def present_providers(self, key):
        return [p for p in self.providers.get(key, ()) if p[2] != 'absent']


def describe(key):
    """'netns X' / 'X in netns Y' for messages about a Spec.needs key."""
    if key[0] == 'netns':
        return 'netns %s' % key[1]
    return '%s in %s' % (key[2], ns_label(key[1]))


def task_errors(runs):
    """Errors of the task taken together, once every section is valid on its own: a link made by two
    sections, an object that needs what the task deletes or something of the wrong kind, a bridge port made
    by a device that has another master. Adopts the bridge ports the task makes (see adopt_ports)."""
    errors = []
    for key, providers in runs.providers.items():
        present = [p for p in providers if p[2] != 'absent']
        if len(present) > 1:
            errors.append('%s is made by %s' % (describe(key), ' and by '.join(p[0] for p in present)))
    for section, spec, items, labels in runs.sections:
        for position, item in enumerate(items):
            if item.get('state') == 'absent':
                continue
            for key, why, kind in spec.needs(item):
                for label, has, state, _s, _p in runs.providers.get(key, ()):
                    if state == 'absent':
                        errors.append('%s: %s (%s) is deleted by %s' % (labels[position], describe(key), why, label))
                    elif kind == 'bridge' and has != 'bridge':
                        errors.append('%s: %s (%s) is made by %s as a %s, not a bridge'
                                      % (labels[position], describe(key), why, label, has))
                    elif kind == 'port' and has == 'bridge':
                        errors.append('%s: %s (%s) is made by %s as a bridge, and a bridge cannot be a port '
                                      'of another bridge' % (labels[position], describe(key), why, label))
    if not errors:
        errors = adopt_ports(runs)
    return errors


def adopt_ports(runs):
    """A bridge's port that the task makes (a tuntap or a veth end in the bridge's namespace) is not there
    yet when the bridges' turn comes: the device takes the bridge as its master (its `master` or
    `peer_master`, unless it names another bridge: an error), and the bridge leaves the port to it while the
    port is not yet its port (bridge_ports). Returns errors."""
    errors = []
    bridges = runs.entry('bridges')
    if bridges is None:
        return errors
    _section, _spec, items, labels = bridges
    for position, item in enumerate(items):
        if item['state'] == 'absent' or not item.get('ports'):
            continue
        netns = item.get('netns') or ''
        for port in item['ports']:
            for label, _kind, _state, name, where in runs.present_providers(link_key(netns, port)):
                device_section, device_spec, device_items, device_labels = runs.entry(name)
                device = device_items[where]
                for ns, end, option in device_spec.masters(device):
                    if (ns, end) != (netns, port):
                        continue
                    if device.get(option) and device[option] != item['name']:
                        errors.append('%s: port %s is made by %s with %s %s' % (
                            labels[position], port, label, option, device[option]))
                        continue
                    device[option] = item['name']
                    _valid, own = device_spec.validate_all([device], False)
                    errors.extend('%s (a port of %s): %s' % (label, labels[position], _own(err, device))
                                  for err in own)
                    runs.made_ports.setdefault(position, []).append(port)
    return errors


def validate(params):
    """(Runs, errors): every element of every section and the task against itself, before anything is read;
    then the namespaces the objects need that neither exist nor are made by the task."""
    runs = Runs()
    errors = []
    for section in sorted(SECTIONS, key=lambda s: s.rank):
        spec = section.spec()
        declared = []
        items, labels, own = validate_elements(section, spec, params.get(section.name) or [], params.get('netns') or '',
                                               declared)
        errors.extend(own)
        runs.add(section, spec, items, labels)
        runs.declared[section.name] = declared
    if errors:
        return runs, errors
    errors = task_errors(runs)
    if errors:
        return runs, errors
    runs.declaration = _boot.declaration([(s.name, runs.declared[s.name]) for s, _spec, _i, _l in runs.sections],
                                         params.get('netns') or '')
    seen = set()
    for _section, spec, items, labels in runs.sections:
        for position, item in enumerate(items):
            for key, why, _kind in spec.needs(item):
                if key[0] != 'netns' or not key[1] or key in seen or key in runs.providers:
                    continue
                seen.add(key)
                if not netns_exists(key[1]):
                    errors.append('%s: netns %s not found (%s)' % (labels[position], key[1], why))
    return runs, errors


class Driver(object):
    """One run of the validated task: the sections' objects in one transaction."""

    def __init__(self, module, runs):
        self.module = module
        self.runs = runs
        self.ctx = Context(module)
        if module.check_mode:
            self.ctx.plan = Plan()
        self.results = dict((s.name, [None] * len(items)) for s, _spec, items, _l in runs.sections)
        self.where = None       # what failed: the label of an object, else the section
        self.boot = None        # _boot.BootFiles of a task with boot_name
        params = getattr(module, 'params', None) or {}
        if params.get('boot_name'):
            self.boot = _boot.BootFiles(params['boot_name'], runs.declaration if params.get('boot') else None)

    def run(self):
        ctx = self.ctx
        try:
            if any(items for _s, _spec, items, _l in self.runs.sections) or self.boot is not None:
                ctx.lock()
            for section, spec, items, labels in reversed(self.runs.sections):
                self.section(section, spec, items, labels, 'absent')
            for section, spec, items, labels in self.runs.sections:
                self.section(section, spec, items, labels, 'present')
            if self.boot is not None:
                self.where = 'boot (%s)' % self.boot.name
                self.boot.apply(ctx.tx, self.boot.plan(), self.reload_systemd)
            self.where = None
            ctx.tx.commit()
        except VirtnetError as exc:
            fail(self.module, ctx, self.message(exc.msg), self.rendered(), exc.details)
        except Exception as exc:  # pylint: disable=broad-except
            fail(self.module, ctx, self.message('unexpected error: %s' % exc), self.rendered(),
                 {'exception': traceback.format_exc()})
        finally:
            ctx.close()
        return self.output()

    def message(self, msg):
        return '%s: %s' % (self.where, msg) if self.where else msg

    def reload_systemd(self):
        rc, out, err = self.module.run_command(['systemctl', 'daemon-reload'])
        if rc != 0:
            raise VirtnetError('systemctl daemon-reload failed (rc %d): %s' % (rc, (err or out).strip()))

    def ranks(self):
        return dict((s.name, s.rank) for s, _spec, _items, _l in self.runs.sections)

    def section(self, section, spec, items, labels, state):
        """The objects of one section with state `state`, as the engine runs a module on them."""
        positions = [n for n, item in enumerate(items) if (item['state'] == 'absent') == (state == 'absent')]
        if state == 'absent':
            positions = [n for n in positions if not self.gone(section, spec, items, n)]
        if not positions:
            return
        ctx = self.ctx
        self.where = section.name
        if section.name == 'bridges' and state == 'present':
            for n in positions:
                self.bridge_ports(items[n], self.runs.made_ports.get(n, ()))
        todo = [items[n] for n in positions]
        errors = spec.resolve_all(ctx, todo)
        if errors:
            raise VirtnetError('; '.join(errors))
        order = spec.order(todo)
        if order is None:
            order = list(range(len(todo)))
        spec.prepare(ctx, [todo[i] for i in order])
        for i in order:
            n = positions[i]
            item = items[n]
            self.where = labels[n]
            pending = self.pending(spec, item) if ctx.plan is not None and state == 'present' else []
            result = spec.ensure(ctx, item)
            if pending:
                result.extra['pending'] = pending
            if ctx.plan is not None and section.name == 'namespaces' and result.changed and result.before is None:
                ctx.plan.add_netns(item['name'])
            self.results[section.name][n] = result
        self.where = section.name
        spec.finish(ctx)

    def gone(self, section, spec, items, n):
        """An object to delete whose namespace does not exist, one the task makes or deletes: nothing to read
        or delete (its namespace is made after the deletions, or went before). Records its result."""
        item = items[n]
        for key, _why, _kind in spec.needs(item):
            if key[0] == 'netns' and key[1] and key in self.runs.providers and not netns_exists(key[1]):
                self.results[section.name][n] = spec.gone(item)
                return True
        return False

    def bridge_ports(self, item, made):
        """Leave to the devices the ports the task makes that are not yet ports of the bridge (adopt_ports)."""
        if not made:
            return
        netns = item.get('netns') or ''
        bridge = read_link(self.ctx, netns, ifname=item['name'], need_data=False)
        for port in made:
            link = read_link(self.ctx, netns, ifname=port, need_data=False)
            if link is None or bridge is None or link.get('master_index') != bridge['index']:
                item['ports'] = [p for p in item['ports'] if p != port]

    def pending(self, spec, item):
        """Check mode: what the object needs that the task would make first (not in the kernel yet)."""
        plan = self.ctx.plan
        out = []
        for key, why, _kind in spec.needs(item):
            if not plan.made(key):
                continue
            makers = [p[0] for p in self.runs.present_providers(key)]
            if not makers and key[0] == 'link':
                makers = [p[0] for p in self.runs.present_providers(netns_key(key[1]))]
            out.append('%s (%s) would be made first by %s' % (describe(key), why, ', '.join(makers) or 'this task'))
        return out

    def rendered(self):
        """The results so far, as the module returns them (None where an object was not reached)."""
        return dict((name, [r.as_dict() if r is not None else None for r in results])
                    for name, results in self.results.items())

    def output(self):
        out = {'changed': False}
        before, after = {}, {}
        for name, results in self.results.items():
            out[name] = [r.as_dict() for r in results]
            changed = [r for r in results if r.changed]
            if changed:
                out['changed'] = True
                before[name] = dict((r.key, r.before) for r in changed)
                after[name] = dict((r.key, r.after) for r in changed)
        if self.boot is not None:
            out['boot'] = self.boot.result(self.ranks())
            if out['boot']['changed']:
                out['changed'] = True
                before['boot'], after['boot'] = self.boot.diff(self.ranks())
        if self.module._diff:
            out['diff'] = {'before': copy.deepcopy(before), 'after': copy.deepcopy(after)}
        return out


def run_plumbing(module):
    """The whole run of virtnet.linux.plumbing."""
    refuse_coerced_names(module)
    name = module.params.get('boot_name')
    if name is not None and _boot.validate_name(name):
        module.fail_json(msg=_boot.validate_name(name))
    if module.params.get('boot') and not name:
        module.fail_json(msg='boot: true needs boot_name, the name of the saved declaration (%s/NAME.json)'
                         % _boot.BOOT_DIR)
    runs, errors = validate(module.params)
    if errors:
        module.fail_json(msg='; '.join(errors))
    if any(items and spec.needs_pyroute2 for _s, spec, items, _l in runs.sections):
        require_pyroute2(module)
    module.exit_json(**Driver(module, runs).run())
