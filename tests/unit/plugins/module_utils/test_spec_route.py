# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Route behaviour (_spec.route): parsing, normalising, keys, conflicts, differences, views and plans."""

from __future__ import annotations

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._ip import AF_INET, AF_INET6, IPError
from ansible_collections.virtnet.linux.plugins.module_utils._spec.route import (
    parse_proto, parse_route_dst, parse_rt_tables, parse_scope, parse_table, predict_route, public_route,
    route_conflicts, route_differences, route_key, route_label, route_spec, route_target, route_view,
)


@pytest.mark.parametrize('value, hint, expected', [
    ('default', None, (AF_INET, '0.0.0.0', 0)),
    ('default', AF_INET6, (AF_INET6, '::', 0)),
    ('::/0', None, (AF_INET6, '::', 0)),
    ('0.0.0.0/0', None, (AF_INET, '0.0.0.0', 0)),
    ('10.43.0.0/24', None, (AF_INET, '10.43.0.0', 24)),
    ('10.43.0.5', None, (AF_INET, '10.43.0.5', 32)),
    ('FD00:43:0::/64', None, (AF_INET6, 'fd00:43::', 64)),
    ('fd00:43::5', None, (AF_INET6, 'fd00:43::5', 128)),
])
def test_parse_route_dst(value, hint, expected):
    assert parse_route_dst(value, hint) == expected


def test_parse_route_dst_host_bits():
    with pytest.raises(IPError) as err:
        parse_route_dst('10.43.0.5/24')
    assert 'did you mean 10.43.0.0/24' in str(err.value)
    with pytest.raises(IPError):
        parse_route_dst('10.43.0.0/33')
    with pytest.raises(IPError):
        parse_route_dst('nonsense')


def test_parse_table_scope_proto():
    assert parse_table(None) == 254
    assert parse_table('main') == 254 and parse_table('local') == 255 and parse_table('default') == 253
    assert parse_table('100') == 100 and parse_table(100) == 100
    assert parse_table('vpn', {'vpn': 42}) == 42
    for bad in ('0', 'nosuch', '-1', str(2 ** 32)):
        with pytest.raises(IPError):
            parse_table(bad)
    assert parse_scope('link') == 253 and parse_scope('host') == 254 and parse_scope('0') == 0
    assert parse_scope(None) is None
    with pytest.raises(IPError):
        parse_scope('galaxy')
    assert parse_proto('static') == 4 and parse_proto('dhcp') == 16 and parse_proto('200') == 200
    with pytest.raises(IPError):
        parse_proto('256')


def test_parse_rt_tables():
    text = '# comment\n255\tlocal\n100 vpn # trailing\n\nbad line\n0x10 hex\n'
    assert parse_rt_tables(text) == {'local': 255, 'vpn': 100, 'hex': 16}


def item(**kw):
    base = dict(dst=None, gateway=None, dev=None, metric=None, table=None, scope=None, proto=None, src=None,
                type='unicast', state='present', netns='')
    base.update(kw)
    return base


def test_route_spec_defaults():
    spec, errors = route_spec(item(dst='default', gateway='10.42.0.1'))
    assert errors == []
    assert (spec['family'], spec['dst'], spec['dst_len'], spec['table'], spec['metric']) == (AF_INET, '0.0.0.0', 0, 254, 0)
    assert not spec['metric_given']
    spec, errors = route_spec(item(dst='default', gateway='fd00::1'))
    assert errors == [] and spec['family'] == AF_INET6 and spec['metric'] == 1024
    spec, errors = route_spec(item(dst='10.0.0.0/8', dev='eth0', table='100', metric=5))
    assert errors == [] and spec['table'] == 100 and spec['metric'] == 5 and spec['metric_given']


@pytest.mark.parametrize('kw, text', [
    (dict(dst='10.0.0.0/8'), 'needs a gateway or a dev'),
    (dict(dst='10.0.0.0/8', gateway='fd00::1'), 'gateway fd00::1 is ipv6 but dst 10.0.0.0/8 is ipv4'),
    (dict(dst='fd00::/64', src='10.0.0.1', dev='x'), 'src 10.0.0.1 is ipv4'),
    (dict(dst='fd00::/64', dev='x', scope='link'), 'scope applies to IPv4 routes only'),
    (dict(dst='fd00::/64', gateway='fe80::1'), 'link-local: dev is required'),
    (dict(dst='10.0.0.0/8', gateway='10.1.1.1', type='blackhole'), 'takes neither gateway nor dev'),
    (dict(dst='10.0.0.5/8', dev='x'), 'did you mean 10.0.0.0/8'),
    (dict(dst='10.0.0.0/8', dev='x', table='nosuch'), "invalid table 'nosuch'"),
    (dict(dst='10.0.0.0/8', dev='x', metric=-1), 'metric -1 out of range'),
    (dict(dst=None, dev='x'), 'dst is required'),
    (dict(dst='10.0.0.0/8', gateway='10.0.0.1/24'), 'expected a plain address'),
])
def test_route_spec_errors(kw, text):
    _spec, errors = route_spec(item(**kw))
    assert any(text in e for e in errors), errors


def test_route_spec_absent_needs_no_next_hop():
    spec, errors = route_spec(item(dst='10.0.0.0/8', state='absent'))
    assert errors == [] and not spec['metric_given']


def specs(*items):
    return [route_spec(item(**kw))[0] for kw in items]


def test_route_key_and_conflicts():
    a, b, c, d, e = specs(dict(dst='10.0.0.0/8', dev='x'), dict(dst='10.0.0.0/8', dev='y', metric=5),
                          dict(dst='10.0.0.0/8', dev='y', table='100'), dict(dst='10.0.0.0/8', dev='x', netns='n'),
                          dict(dst='fd00::/64', dev='x'))
    keys = [route_key(s) for s in (a, b, c, d, e)]
    assert len(set(keys)) == 5
    assert route_conflicts([a, b, c, d, e]) == []
    assert route_conflicts(specs(dict(dst='10.0.0.0/8', dev='x'), dict(dst='10.0.0.0/8', gateway='1.1.1.1', metric=0))) \
        == ['10.0.0.0/8']
    # a removal without metric stands for every metric
    assert route_conflicts(specs(dict(dst='10.0.0.0/8', dev='x', metric=5), dict(dst='10.0.0.0/8', state='absent'))) \
        == ['10.0.0.0/8']
    assert route_conflicts(specs(dict(dst='default', gateway='10.0.0.1'), dict(dst='::/0', gateway='fd00::1'))) == []


def test_route_label():
    s, = specs(dict(dst='10.0.0.0/8', dev='x', table='100', metric=5, netns='ns1'))
    assert route_label(s) == '10.0.0.0/8 table 100 metric 5 in netns ns1'
    assert route_label(s, with_netns=False) == '10.0.0.0/8 table 100 metric 5'
    s, = specs(dict(dst='::/0', gateway='fd00::1', table='local'))
    assert route_label(s) == 'default (ipv6) table local'


def raw_route(**kw):
    base = dict(family=AF_INET, dst='0.0.0.0', dst_len=0, src_len=0, tos=0, table=254, metric=0, type_num=1,
                scope_num=0, proto_num=4, flags=0, gateway='10.42.0.1', oif=7, prefsrc=None, multipath=[])
    base.update(kw)
    return base


def view(**kw):
    return route_view(raw_route(**kw), {7: 'ns-42', 8: 'ns-43'}.get, 'qdhcp-42')


def test_route_view():
    v = view()
    assert public_route(v) == {'dst': 'default', 'family': 'ipv4', 'table': 254, 'metric': 0, 'type': 'unicast',
                               'gateway': '10.42.0.1', 'dev': 'ns-42', 'src': None, 'scope': 'universe',
                               'proto': 'static', 'netns': 'qdhcp-42'}
    v = view(multipath=[{'gateway': '10.42.0.1', 'oif': 7, 'flags': 0}, {'gateway': '10.43.0.1', 'oif': 8, 'flags': 0}],
             gateway=None, oif=None)
    assert v['multipath'] == [{'gateway': '10.42.0.1', 'dev': 'ns-42'}, {'gateway': '10.43.0.1', 'dev': 'ns-43'}]


def test_route_differences():
    s, = specs(dict(dst='default', gateway='10.42.0.1'))
    assert route_differences(s, view()) == []
    s, = specs(dict(dst='default', gateway='10.42.0.254'))
    assert route_differences(s, view()) == [('gateway', '10.42.0.1', '10.42.0.254')]
    s, = specs(dict(dst='default', gateway='10.42.0.1', dev='ns-43'))
    assert route_differences(s, view()) == [('dev', 'ns-42', 'ns-43')]
    s, = specs(dict(dst='default', dev='ns-42'))     # dev only: the gateway must go
    assert route_differences(s, view()) == [('gateway', '10.42.0.1', None)]
    s, = specs(dict(dst='default', gateway='10.42.0.1', scope='link', proto='boot', src='10.42.0.2'))
    assert sorted(d[0] for d in route_differences(s, view())) == ['proto', 'scope', 'src']
    s, = specs(dict(dst='default', type='blackhole'))
    assert route_differences(s, view()) == [('type', 'unicast', 'blackhole')]
    s, = specs(dict(dst='default', gateway='10.42.0.1'))
    assert route_differences(s, view(multipath=[{'gateway': '10.42.0.1', 'oif': 7, 'flags': 0}], gateway=None)) \
        == [('gateway', 'multipath', '10.42.0.1')]


def test_route_target_defaults_and_kept_values():
    s, = specs(dict(dst='10.60.0.0/24', dev='ns-42'))
    t = route_target(s)
    assert t['scope'] == 253 and t['proto'] == 4 and t['gateway'] is None
    s, = specs(dict(dst='default', gateway='10.42.0.254'))
    t = route_target(s, view(proto_num=16, prefsrc='10.42.0.2'))
    assert t['scope'] == 0 and t['proto'] == 16 and t['src'] == '10.42.0.2'
    s, = specs(dict(dst='fd00::/64', dev='ns-42'))
    assert route_target(s)['scope'] == 0


def test_predict_route():
    s, = specs(dict(dst='default', gateway='10.42.0.254', netns='qdhcp-42'))
    have = view()
    p = predict_route(s, route_target(s, have), have)
    assert p['gateway'] == '10.42.0.254' and p['dev'] is None and p['proto'] == 'static'
    s, = specs(dict(dst='default', gateway='10.42.0.1', proto='boot', netns='qdhcp-42'))
    p = predict_route(s, route_target(s, have), have)
    assert p['dev'] == 'ns-42' and p['proto'] == 'boot'
    s, = specs(dict(dst='10.61.0.0/24', type='blackhole'))
    p = predict_route(s, route_target(s))
    assert p['type'] == 'blackhole' and p['gateway'] is None and p['dev'] is None and p['dst'] == '10.61.0.0/24'
