# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of virtnet.linux.plumbing: the section table, element validation and its messages, the task
checked against itself, the order sections run in, and check mode's plan (no kernel involved: the specs
are fakes where a kernel would be read)."""

from __future__ import annotations

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils import _plumbing
from ansible_collections.virtnet.linux.plugins.module_utils._plumbing import (
    SECTIONS, Driver, Runs, Section, argument_spec, element_options, validate,
)
from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError
from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    UNPLANNED, ObjectResult, Plan, Spec, link_key, netns_key,
)
from ansible_collections.virtnet.linux.plugins.module_utils._link import _plan, read_link
from ansible_collections.virtnet.linux.plugins.module_utils._spec import (
    address as _address, bridge as _bridge, macvlan as _macvlan, netns as _netns, route as _route, tuntap as _tuntap,
    veth as _veth, vxlan as _vxlan,
)


def params(**sections):
    out = dict((s.name, []) for s in SECTIONS)
    out['netns'] = ''
    out.update(sections)
    return out


def errors_of(**sections):
    return validate(params(**sections))[1]


# --------------------------------------------------------------------------- the table

def test_sections_in_dependency_order_with_their_modules_option_dicts():
    assert [s.name for s in SECTIONS] == ['namespaces', 'bridges', 'tuntaps', 'veths', 'macvlans', 'vxlans',
                                          'addresses', 'routes']
    assert [s.rank for s in SECTIONS] == sorted(s.rank for s in SECTIONS)
    assert len(set(s.rank for s in SECTIONS)) == len(SECTIONS)
    # one source of truth: the very dicts the device modules are built from
    modules = (_netns, _bridge, _tuntap, _veth, _macvlan, _vxlan, _address, _route)
    assert all(s.options is m.ARGUMENT_SPEC for s, m in zip(SECTIONS, modules))


def test_module_options_are_netns_boot_and_one_list_of_dicts_per_section():
    spec = argument_spec()
    assert list(spec) == ['netns', 'boot', 'boot_name'] + [s.name for s in SECTIONS]
    assert spec['boot'] == {'type': 'bool', 'default': False} and spec['boot_name'] == {'type': 'str'}
    assert spec['netns'] == {'type': 'str', 'default': ''}
    assert all(spec[s.name] == {'type': 'list', 'elements': 'dict', 'default': []} for s in SECTIONS)


def test_element_options_keep_the_modules_defaults_require_names_and_take_the_tasks_netns():
    bridges = SECTIONS[1]
    options = element_options(bridges, 'lab')
    assert options['name']['required'] is True
    assert options['netns']['default'] == 'lab'
    assert options['purge_ports']['default'] is False and options['state']['default'] == 'present'
    # the module's own dict is left alone
    assert 'required' not in _bridge.ARGUMENT_SPEC['name'] and _bridge.ARGUMENT_SPEC['netns']['default'] == ''
    assert 'netns' not in element_options(SECTIONS[0], 'lab')


# --------------------------------------------------------------------------- elements

def test_an_element_gets_its_modules_defaults_and_the_tasks_netns():
    runs, errors = validate(params(netns='', tuntaps=[{'name': 't0', 'mode': 'tap'}],
                                   veths=[{'name': 'v0', 'peer': 'v1', 'state': 'absent'}]))
    assert errors == []
    _s, _spec, items, labels = runs.entry('tuntaps')
    assert items[0]['recreate'] is True and items[0]['pi'] is False and items[0]['state'] == 'present'
    assert labels == ['tuntaps[0] (t0)']
    _s, _spec, items, _l = runs.entry('veths')
    assert items[0]['recreate'] is False        # each module's own default, not one for all


@pytest.mark.parametrize('sections, message', [
    ({'bridges': [{'name': 'b0'}, {'name': 'b1', 'colour': 'red'}]},
     'bridges[1] (b1): unsupported parameters: colour. Supported parameters include: address'),
    ({'tuntaps': [{'name': 't0', 'mode': 'tap', 'mtu': 'big'}]}, "tuntaps[0] (t0): argument 'mtu' is of type"),
    ({'namespaces': [{'name': 'x', 'state': 'gone'}]},
     'namespaces[0] (x): value of state must be one of: present, absent, got: gone'),
    ({'veths': [{'peer': 'p0'}]}, 'veths[0]: missing required arguments: name'),
    ({'namespaces': [{'name': ['x']}]}, "namespaces[0]: name must be a string, not a list (['x'])"),
    ({'veths': [{'name': 'v0', 'peer': 'p0', 'master': True}]}, 'veths[0] (v0): master must be a string, not a boolean'),
    # the module's own checks of one object, without the object's name twice
    ({'addresses': [{'dev': 'eth0', 'address': ['10.1.2.3/33']}]}, "addresses[0] (eth0): invalid address"),
    ({'bridges': [{'name': 'b0', 'priority': 70000}]},
     'bridges[0] (b0): priority 70000 of bridge b0 in the default netns out of range'),
    ({'veths': [{'name': 'v0'}]}, 'veths[0] (v0): peer is required with state=present'),
    ({'routes': [{'dst': '10.5.0.0/16'}]}, 'routes[0] (10.5.0.0/16): route 10.5.0.0/16 needs a gateway or a dev'),
    ({'namespaces': [{'name': 'a/b'}]}, "namespaces[0] (a/b): invalid netns name 'a/b'"),
    # a section as its module's batch
    ({'bridges': [{'name': 'b0'}, {'name': 'b0', 'stp': True}]}, 'bridges: duplicate devices in batch: b0'),
    ({'veths': [{'name': 'v0', 'peer': 'p0'}, {'name': 'v1', 'peer': 'p0'}]},
     'veths: p0 in the default netns is named by more than one element of the batch'),
])
def test_bad_elements_are_named_by_section_position_and_name(sections, message):
    errors = errors_of(**sections)
    assert [e for e in errors if e.startswith(message)], errors


def test_every_sections_errors_at_once():
    errors = errors_of(bridges=[{'name': 'b0', 'priority': 70000}], veths=[{'name': 'v0'}],
                       routes=[{'dst': '10.5.0.0/16'}])
    assert [e.split(':')[0] for e in errors] == ['bridges[0] (b0)', 'veths[0] (v0)', 'routes[0] (10.5.0.0/16)']


def test_the_address_message_does_not_name_the_link_twice():
    errors = errors_of(addresses=[{'dev': 'eth0', 'address': []}])
    assert errors == ['addresses[0] (eth0): address must list at least one address']


# --------------------------------------------------------------------------- the task against itself

@pytest.mark.parametrize('sections, message', [
    ({'bridges': [{'name': 'x0'}], 'tuntaps': [{'name': 'x0', 'mode': 'tap'}]},
     'x0 in the default netns is made by bridges[0] (x0) and by tuntaps[0] (x0)'),
    ({'namespaces': [{'name': 'n'}], 'tuntaps': [{'name': 'p', 'mode': 'tap', 'netns': 'n'}],
      'veths': [{'name': 'v', 'peer': 'p', 'peer_netns': 'n'}]},
     'p in netns n is made by tuntaps[0] (p) and by veths[0] (v)'),
    ({'namespaces': [{'name': 'n', 'state': 'absent'}], 'bridges': [{'name': 'b', 'netns': 'n'}]},
     'bridges[0] (b): netns n (needed by b) is deleted by namespaces[0] (n)'),
    ({'namespaces': [{'name': 'n', 'state': 'absent'}], 'veths': [{'name': 'v', 'peer': 'p', 'peer_netns': 'n'}]},
     'veths[0] (v): netns n (needed by v) is deleted by namespaces[0] (n)'),
    ({'bridges': [{'name': 'b', 'state': 'absent'}], 'tuntaps': [{'name': 't', 'mode': 'tap', 'master': 'b'}]},
     'tuntaps[0] (t): b in the default netns (master of t) is deleted by bridges[0] (b)'),
    ({'tuntaps': [{'name': 't', 'state': 'absent'}], 'routes': [{'dst': '10.0.0.0/8', 'dev': 't'}]},
     'routes[0] (10.0.0.0/8): t in the default netns (dev of route 10.0.0.0/8) is deleted by tuntaps[0] (t)'),
    ({'tuntaps': [{'name': 't', 'mode': 'tap'}], 'veths': [{'name': 'v', 'peer': 'p', 'peer_master': 't'}]},
     'veths[0] (v): t in the default netns (peer_master of p) is made by tuntaps[0] (t) as a tuntap, not a bridge'),
    ({'bridges': [{'name': 'b0', 'ports': ['b1']}, {'name': 'b1'}]},
     'bridges[0] (b0): b1 in the default netns (port of bridge b0) is made by bridges[1] (b1) as a bridge'),
    ({'bridges': [{'name': 'b', 'ports': ['t']}], 'tuntaps': [{'name': 't', 'mode': 'tap', 'master': 'c'}]},
     'bridges[0] (b): port t is made by tuntaps[0] (t) with master c'),
    ({'bridges': [{'name': 'b', 'ports': ['t']}], 'tuntaps': [{'name': 't', 'mode': 'tun'}]},
     'tuntaps[0] (t) (a port of bridges[0] (b)): cannot make tun device t a port of bridge b'),
])
def test_the_task_is_checked_against_itself(sections, message):
    errors = errors_of(**sections)
    assert [e for e in errors if e.startswith(message)], errors


def test_an_object_may_replace_one_of_another_kind_that_the_task_deletes():
    assert errors_of(bridges=[{'name': 'x0', 'state': 'absent'}], tuntaps=[{'name': 'x0', 'mode': 'tap'}]) == []


def test_a_namespace_neither_there_nor_made_is_named_once_with_the_first_that_needs_it():
    errors = errors_of(bridges=[{'name': 'b', 'netns': 'vp-no-such-ns'}],
                       routes=[{'netns': 'vp-no-such-ns', 'dst': 'default', 'gateway': '10.0.0.1'}])
    assert errors == ['bridges[0] (b): netns vp-no-such-ns not found (needed by b)']
    # made or deleted by the task: nothing to look up (absent objects in it are simply gone)
    assert errors_of(namespaces=[{'name': 'vp-no-such-ns'}], bridges=[{'name': 'b', 'netns': 'vp-no-such-ns'}]) == []
    assert errors_of(namespaces=[{'name': 'vp-no-such-ns', 'state': 'absent'}],
                     bridges=[{'name': 'b', 'netns': 'vp-no-such-ns', 'state': 'absent'}]) == []


def test_ports_the_task_makes_are_left_to_their_devices():
    runs, errors = validate(params(
        namespaces=[{'name': 'n'}],
        bridges=[{'name': 'b', 'ports': ['t', 'v', 'eth1']}, {'name': 'bn', 'netns': 'n', 'ports': ['p']}],
        tuntaps=[{'name': 't', 'mode': 'tap', 'master': 'b'}],
        veths=[{'name': 'v', 'peer': 'p', 'peer_netns': 'n'}]))
    assert errors == []
    tuntap = runs.entry('tuntaps')[2][0]
    veth = runs.entry('veths')[2][0]
    assert tuntap['master'] == 'b'
    assert veth['master'] == 'b' and veth['peer_master'] == 'bn'
    # eth1 is no device of the task: the bridge adds it itself
    assert runs.made_ports == {0: ['t', 'v'], 1: ['p']}


# --------------------------------------------------------------------------- the run

class Failed(Exception):
    pass


class Module(object):
    def __init__(self, check_mode=False, diff=True):
        self.check_mode = check_mode
        self._diff = diff
        self.failed = None

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise Failed(kwargs['msg'])


class Recorder(Spec):
    """A spec whose objects are plain names: records what the driver asks of it."""

    calls = []

    def __init__(self, section, needs=None, fail_on=None):
        self.section = section
        self._needs = needs or {}
        self.fail_on = fail_on

    def key(self, item):
        return item['name']

    def provides(self, item):
        if self.section == 'namespaces':
            return [(netns_key(item['name']), 'netns')]
        return [(link_key(item.get('netns') or '', item['name']), self.section)]

    def needs(self, item):
        out = [(netns_key(item.get('netns') or ''), 'needed by %s' % item['name'], None)]
        return out + [(key, 'what %s needs' % item['name'], None) for key in self._needs.get(item['name'], [])]

    def resolve_all(self, ctx, items):
        self.calls.append(('resolve', self.section, [i['name'] for i in items]))
        return []

    def prepare(self, ctx, items):
        self.calls.append(('prepare', self.section, [i['name'] for i in items]))

    def ensure(self, ctx, item):
        self.calls.append(('ensure', self.section, item['name'], item['state']))
        if item['name'] == self.fail_on:
            raise VirtnetError('the kernel said no')
        ctx.tx.run('make %s' % item['name'], lambda: None, lambda: self.calls.append(('undo', item['name'])))
        if item['state'] == 'absent':
            return ObjectResult(item['name'], {'name': item['name']}, None, True, ['delete %s' % item['name']])
        return ObjectResult(item['name'], None, {'name': item['name']}, True, ['make %s' % item['name']])

    def finish(self, ctx):
        self.calls.append(('finish', self.section))


def fake_runs(tmp_path, elements, needs=None, fail_on=None):
    """Runs of Recorder specs over `elements` ({section: [(name, state)]}), sections in the table's order."""
    runs = Runs()
    Recorder.calls = []
    for section in SECTIONS:
        spec = Recorder(section.name, needs, fail_on)
        items = [{'name': name, 'state': state} for name, state in elements.get(section.name, [])]
        runs.add(Section(section.name, Recorder, {}, (), section.rank), spec, items,
                 ['%s[%d] (%s)' % (section.name, n, i['name']) for n, i in enumerate(items)])
    return runs


def drive(tmp_path, runs, module):
    driver = Driver(module, runs)
    driver.ctx.lock_path = str(tmp_path / 'lock')
    return driver.run()


def test_deletions_first_in_reverse_rank_then_the_rest_in_rank(tmp_path):
    elements = {'namespaces': [('n1', 'present'), ('n0', 'absent')], 'bridges': [('b0', 'absent'), ('b1', 'present')],
                'veths': [('v1', 'present'), ('v0', 'absent')], 'routes': [('r0', 'absent'), ('r1', 'present')]}
    out = drive(tmp_path, fake_runs(tmp_path, elements), Module())
    ensured = [c[1:3] for c in Recorder.calls if c[0] == 'ensure']
    assert ensured == [('routes', 'r0'), ('veths', 'v0'), ('bridges', 'b0'), ('namespaces', 'n0'),
                       ('namespaces', 'n1'), ('bridges', 'b1'), ('veths', 'v1'), ('routes', 'r1')]
    # each section as the engine runs a module: resolve, prepare, ensure, finish - when its turn comes
    assert Recorder.calls[:4] == [('resolve', 'routes', ['r0']), ('prepare', 'routes', ['r0']),
                                  ('ensure', 'routes', 'r0', 'absent'), ('finish', 'routes')]
    # results in the task's order, grouped by section; the diff too
    assert [r['name'] for r in out['namespaces']] == ['n1', 'n0']
    assert out['changed'] is True and out['tuntaps'] == [] and out['addresses'] == []
    assert out['diff']['before']['bridges'] == {'b0': {'name': 'b0'}, 'b1': None}
    assert out['diff']['after']['bridges'] == {'b0': None, 'b1': {'name': 'b1'}}
    assert 'tuntaps' not in out['diff']['before']


def test_an_empty_task_changes_nothing_and_takes_no_lock(tmp_path):
    out = drive(tmp_path, fake_runs(tmp_path, {}), Module())
    assert out == dict([('changed', False)] + [(s.name, []) for s in SECTIONS] +
                       [('diff', {'before': {}, 'after': {}})])
    assert not (tmp_path / 'lock').exists() and Recorder.calls == []


def test_a_failure_in_a_late_section_rolls_back_every_section_and_names_the_element(tmp_path):
    elements = {'namespaces': [('n1', 'present')], 'bridges': [('b1', 'present')], 'routes': [('r1', 'present')]}
    module = Module()
    with pytest.raises(Failed):
        drive(tmp_path, fake_runs(tmp_path, elements, fail_on='r1'), module)
    assert module.failed['msg'].startswith('routes[0] (r1): the kernel said no (rolled back: make b1; make n1)')
    assert module.failed['rolled_back'] == ['make b1', 'make n1']
    assert module.failed['changed'] is False
    assert [c for c in Recorder.calls if c[0] == 'undo'] == [('undo', 'b1'), ('undo', 'n1')]


def test_absent_objects_in_a_namespace_the_task_manages_and_that_is_not_there_are_gone_unread(tmp_path):
    runs = fake_runs(tmp_path, {'namespaces': [('vp-no-such-ns', 'present')]})
    _s, spec, items, labels = runs.entry('bridges')
    items.append({'name': 'b0', 'state': 'absent', 'netns': 'vp-no-such-ns'})
    labels.append('bridges[0] (b0)')
    out = drive(tmp_path, runs, Module())
    assert out['bridges'] == [{'name': 'b0', 'changed': False, 'actions': []}]
    assert ('ensure', 'bridges', 'b0', 'absent') not in Recorder.calls


def test_check_mode_says_what_an_object_waits_for(tmp_path):
    class Netns(Recorder):
        def ensure(self, ctx, item):
            self.calls.append(('ensure', self.section, item['name'], item['state']))
            return ObjectResult(item['name'], None, {'name': item['name']}, True, ['create netns %s' % item['name']])

    runs = fake_runs(tmp_path, {'bridges': [('b0', 'present')]},
                     needs={'b0': [link_key('', 'eth9')]})
    _s, _spec, items, labels = runs.entry('bridges')
    items[0]['netns'] = 'n0'
    runs.sections[0] = (runs.sections[0][0], Netns('namespaces'), [{'name': 'n0', 'state': 'present'}],
                        ['namespaces[0] (n0)'])
    runs.providers = {}
    for section, spec, items, labels in runs.sections:
        for n, item in enumerate(items):
            for key, kind in spec.provides(item):
                runs.providers.setdefault(key, []).append((labels[n], kind, item['state'], section.name, n))
    out = drive(tmp_path, runs, Module(check_mode=True))
    assert out['bridges'][0]['pending'] == ['netns n0 (needed by b0) would be made first by namespaces[0] (n0)']
    assert 'pending' not in out['namespaces'][0]


# --------------------------------------------------------------------------- check mode's plan

def test_the_plan_knows_what_it_made_and_what_it_deleted():
    plan = Plan()
    assert plan.link('', 'eth0') is UNPLANNED and plan.link('', index=3) is UNPLANNED
    plan.add_netns('n')
    assert plan.link('n', 'anything') is None and plan.link('n', index=1) is None
    assert plan.link('n', 'lo')['planned'] is True      # a new namespace has its loopback device
    assert plan.made(netns_key('n')) and plan.made(link_key('n', 'x')) and not plan.made(netns_key('m'))
    plan.add_link('', 'br0', 'bridge')
    br0 = plan.link('', 'br0')
    assert br0['kind'] == 'bridge' and br0['planned'] and br0['index'] < 0 and br0['master_index'] == 0
    assert plan.link('', index=br0['index']) == br0
    assert plan.made(link_key('', 'br0')) and not plan.made(link_key('', 'br1'))
    plan.remove_link('', 'eth0', index=7)
    assert plan.link('', 'eth0') is None and plan.link('', index=7) is None
    plan.remove_link('', 'br0')
    assert plan.link('', 'br0') is None and plan.link('', index=br0['index']) is None
    assert not plan.made(link_key('', 'br0'))


def test_read_link_asks_the_plan_before_the_kernel():
    class Rt(object):
        def get_link(self, netns, ifname=None, index=None, need_data=True):
            return {'ifname': ifname, 'from': 'kernel'}

    class Ctx(object):
        plan = Plan()
        rt = Rt()

    Ctx.plan.add_netns('n')
    Ctx.plan.add_link('', 'br0', 'bridge')
    assert read_link(Ctx, 'n', 'x') is None
    assert read_link(Ctx, '', 'br0')['planned'] is True
    assert read_link(Ctx, '', 'eth0') == {'ifname': 'eth0', 'from': 'kernel'}


def test_a_veth_made_or_replaced_in_check_mode_is_planned_with_both_ends():
    class Ctx(object):
        plan = Plan()

    kind = _veth.Veth()
    item = {'name': 'v0', 'netns': '', 'peer': 'p0', 'peer_netns': 'n', 'state': 'present'}
    _plan(Ctx, kind, item)
    assert Ctx.plan.link('', 'v0')['kind'] == 'veth' and Ctx.plan.link('n', 'p0')['kind'] == 'veth'
    # replaced: the old pair (its peer as the kernel has it) goes, the new one comes
    Ctx.plan = Plan()
    _plan(Ctx, kind, dict(item, peer='p1'), gone=({'index': 12}, {'peer': 'p0', 'peer_netns': 'm'}))
    assert Ctx.plan.link('m', 'p0') is None and Ctx.plan.link('', index=12) is None
    assert Ctx.plan.link('n', 'p1')['planned'] and Ctx.plan.link('', 'v0')['planned']
    # deleted: both ends gone
    Ctx.plan = Plan()
    _plan(Ctx, kind, dict(item, state='absent'), gone=({'index': 12}, {'peer': 'p0', 'peer_netns': 'n'}))
    assert Ctx.plan.link('', 'v0') is None and Ctx.plan.link('n', 'p0') is None


def test_no_plan_outside_check_mode_of_plumbing():
    class Ctx(object):
        plan = None

    _plan(Ctx, _veth.Veth(), {'name': 'v0', 'peer': 'p0', 'state': 'present'})       # nothing to record


# --------------------------------------------------------------------------- what the specs need and make

def test_what_each_device_needs_and_makes():
    veth = _veth.Veth()
    item = {'name': 'v0', 'netns': 'a', 'peer': 'p0', 'peer_netns': 'b', 'master': 'br0', 'peer_master': 'br1',
            'state': 'present'}
    assert veth.needs(item) == [(('netns', 'a'), 'needed by v0', None), (('netns', 'b'), 'needed by v0', None),
                                (('link', 'a', 'br0'), 'master of v0', 'bridge'),
                                (('link', 'b', 'br1'), 'peer_master of p0', 'bridge')]
    assert veth.provides(item) == [(('link', 'a', 'v0'), 'veth'), (('link', 'b', 'p0'), 'veth')]
    assert veth.provides(dict(item, state='absent')) == [(('link', 'a', 'v0'), 'veth')]
    assert veth.needs(dict(item, state='absent')) == [(('netns', 'a'), 'needed by v0', None)]
    bridge = _bridge.BridgeKind()
    assert bridge.needs({'name': 'b', 'netns': '', 'ports': ['t0'], 'state': 'present'}) == [
        (('netns', ''), 'needed by b', None), (('link', '', 't0'), 'port of bridge b', 'port')]
    assert _netns.Netns().provides({'name': 'n', 'state': 'absent'}) == [(('netns', 'n'), 'netns')]
    address = _address.Address()
    assert address.needs({'dev': 'eth0', 'netns': 'n', 'state': 'present'}) == [
        (('netns', 'n'), 'needed for the addresses of eth0', None), (('link', 'n', 'eth0'), 'the link of addresses', None)]
    assert address.gone({'dev': 'eth0', 'netns': 'n', 'state': 'absent'}).as_dict() == {
        'name': 'n/eth0', 'changed': False, 'actions': [], 'dev': 'eth0', 'netns': 'n', 'addresses': [], 'added': [],
        'removed': []}
    route = _route.Route()
    specs, errors = route.validate_all([{'dst': '10.0.0.0/8', 'dev': 't0', 'netns': 'n', 'state': 'present'}], True)
    assert errors == []
    assert route.needs(specs[0]) == [(('netns', 'n'), 'needed by route 10.0.0.0/8', None),
                                     (('link', 'n', 't0'), 'dev of route 10.0.0.0/8', None)]
    assert route.gone(specs[0]).as_dict() == {'name': '10.0.0.0/8 in netns n', 'changed': False, 'actions': [],
                                              'route': None}


def test_the_device_modules_still_check_the_namespaces_their_objects_need(monkeypatch):
    """The check moved from validate_all into the engine's run: the same message, after the other errors."""
    from ansible_collections.virtnet.linux.plugins.module_utils import _engine

    class Module(object):
        params = {'name': 'x0', 'netns': 'vp-no-such-ns', 'state': 'present', 'link_state': None, 'mtu': None,
                  'address': None, 'master': None, 'txqueuelen': None, 'alias': None, 'mode': 'tap', 'user': None,
                  'group': None, 'pi': False, 'vnet_hdr': False, 'multi_queue': False, 'recreate': True,
                  'batch': None}
        check_mode = False

        def fail_json(self, **kwargs):
            raise Failed(kwargs['msg'])

    monkeypatch.setattr(_engine, 'refuse_coerced_names', lambda module: None)
    with pytest.raises(Failed, match=r'^netns vp-no-such-ns not found \(needed by x0\)$'):
        _engine.run(Module(), _tuntap.TuntapKind())


def test_the_module_runs_the_table(monkeypatch):
    """run_plumbing: refuses bad input with every message, before anything else."""
    class Module(object):
        params = params(bridges=[{'name': 'b0', 'colour': 'red'}], veths=[{'name': 'v0'}])
        argument_spec = argument_spec()

        def fail_json(self, **kwargs):
            raise Failed(kwargs['msg'])

    monkeypatch.setattr(_plumbing, 'refuse_coerced_names', lambda module: None)
    with pytest.raises(Failed) as exc:
        _plumbing.run_plumbing(Module())
    assert str(exc.value).startswith('bridges[0] (b0): unsupported parameters: colour.')
    assert 'veths[0] (v0): peer is required with state=present' in str(exc.value)
