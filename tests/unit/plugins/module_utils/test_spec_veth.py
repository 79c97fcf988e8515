# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic of the veth module: peer namespace, validation, batch clashes, requests, predictions."""

from __future__ import annotations

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._engine import Differences
from ansible_collections.virtnet.linux.plugins.module_utils._spec import veth


def item(**kw):
    base = dict((k, None) for k in veth.COMMON_KEYS + veth.KEYS)
    base.update(name='v0', state='present', netns='', peer='v1', recreate=False)
    base.update(kw)
    return base


def peer_view(**kw):
    view = {'name': 'v1', 'netns': 'ns1', 'ifindex': 2, 'kind': 'veth', 'link_state': 'down',
            'operstate': 'DOWN', 'mtu': 1500, 'address': '02:00:00:00:00:02', 'master': '',
            'txqueuelen': 1000, 'alias': ''}
    view.update(kw)
    return view


def local_view(**kw):
    view = {'name': 'v0', 'netns': '', 'ifindex': 5, 'kind': 'veth', 'link_state': 'down',
            'operstate': 'DOWN', 'mtu': 1500, 'address': '02:00:00:00:00:01', 'master': '',
            'txqueuelen': 1000, 'alias': '', 'peer': 'v1', 'peer_netns': 'ns1', 'peer_link': peer_view()}
    view.update(kw)
    return view


# ------------------------------------------------------------------ peer namespace

@pytest.mark.parametrize('netns, peer_netns, expected', [
    ('', None, ''),            # default: the local end's namespace (the host)
    ('a', None, 'a'),          # default: the local end's namespace
    ('a', '', ''),             # '' is the module's own namespace even when netns is set
    ('', 'b', 'b'),
    ('a', 'b', 'b'),
    (None, None, ''),
])
def test_peer_netns_of(netns, peer_netns, expected):
    assert veth.peer_netns_of({'netns': netns, 'peer_netns': peer_netns}) == expected


def test_where():
    assert veth.where('x', '') == 'x in the default netns'
    assert veth.where('x', 'blue') == 'x in netns blue'


def test_describe_peer():
    assert veth.describe_peer(local_view()) == 'v1 in netns ns1'
    assert veth.describe_peer(local_view(peer_netns='')) == 'v1 in the default netns'
    unnamed = local_view(peer=None, peer_netns=None, peer_link={}, peer_nsid=3, peer_ifindex=7)
    assert veth.describe_peer(unnamed) == 'ifindex 7 in a namespace without a name in /run/netns (nsid 3)'


# ------------------------------------------------------------------ validation

def test_validate_needs_peer_only_when_present():
    kind = veth.Veth()
    assert kind.validate(item(peer=None)) == ['peer is required with state=present']
    assert kind.validate(item(peer=None, state='absent')) == []
    assert kind.validate(item()) == []


@pytest.mark.parametrize('kw, part', [
    ({'peer': 'p' * 16}, "invalid peer name 'pppppppppppppppp': longer than 15 characters"),
    ({'peer': 'a/b'}, 'must not contain'),
    ({'peer_netns': '../x'}, "invalid netns name '../x'"),
    ({'peer_mtu': 20}, 'peer_mtu 20 out of range'),
    ({'peer_address': '01:00:5e:00:00:01'}, 'invalid peer_address'),
    ({'peer_address': 'zz'}, 'invalid peer_address'),
    ({'peer_master': 'x' * 16}, 'invalid peer_master'),
    ({'peer_txqueuelen': -1}, 'peer_txqueuelen must not be negative'),
    ({'peer': 'v0'}, 'cannot have the same name as the local end in the same namespace'),
    ({'peer': 'v0', 'netns': 'a', 'peer_netns': 'a'}, 'same name as the local end'),
])
def test_validate_peer_options(kw, part):
    errors = veth.Veth().validate(item(**kw))
    assert any(part in e for e in errors), errors


def test_same_name_in_other_namespace_is_fine():
    assert veth.Veth().validate(item(peer='v0', peer_netns='b')) == []


def test_netns_needed():
    kind = veth.Veth()
    assert kind.netns_needed(item(netns='a', peer_netns='b')) == ['a', 'b']
    assert kind.netns_needed(item(netns='a')) == ['a', 'a']
    assert kind.netns_needed(item(netns='a', peer_netns='')) == ['a', '']
    assert kind.netns_needed(item(netns='a', peer_netns='nope', state='absent')) == ['a']


# ------------------------------------------------------------------ batch clashes

def test_batch_clashes_none():
    # the same names in other namespaces are other devices
    items = [item(name='a0', peer='a1', peer_netns='x'), item(name='a0', peer='a1', netns='x', peer_netns='')]
    assert veth.batch_clashes(items) == []


def test_batch_clashes_found():
    items = [item(name='b0', peer='b1'), item(name='b1', peer='b2')]
    assert veth.batch_clashes(items) == ['b1 in the default netns is named by more than one element of the batch']


def test_batch_clashes_same_pair_from_both_ends():
    items = [item(name='c0', peer='c1', peer_netns='x'), item(name='c1', netns='x', peer='c0', peer_netns='')]
    assert len(veth.batch_clashes(items)) == 2


def test_batch_clashes_independent_pairs_and_absent_peers():
    items = [item(name='d0', peer='d1'), item(name='d2', peer='d3', netns='x'),
             item(name='d4', state='absent', peer='d1')]     # an absent element's peer is not claimed
    assert veth.batch_clashes(items) == []


def test_batch_clashes_both_ends_one_name():
    assert veth.batch_clashes([item(name='e0', peer='e0')]) == ['both ends of e0 are e0 in the default netns']


# ------------------------------------------------------------------ requests

def test_create_ends_minimal_sends_only_names():
    assert veth.create_ends(item()) == ({}, {})


def test_create_ends_with_options():
    local, remote = veth.create_ends(item(mtu=1400, address='02:AA:00:00:00:01', txqueuelen=10, alias='x',
                                          link_state='up', peer_mtu=1300, peer_address='02-aa-00-00-00-02',
                                          peer_txqueuelen=20, peer_master='br'))
    assert local == {'mtu': 1400, 'address': '02:aa:00:00:00:01', 'txqlen': 10}
    assert remote == {'mtu': 1300, 'address': '02:aa:00:00:00:02', 'txqlen': 20}


# ------------------------------------------------------------------ comparing (no kernel: nothing to fix)

def test_compare_matching_peer_compares_peer_options():
    diffs = Differences()
    veth.Veth().compare(None, item(peer_netns='ns1', peer_mtu=1400, peer_link_state='down', peer_alias='x'),
                        None, local_view(), diffs)
    assert diffs.keys() == ['peer_mtu', 'peer_alias']
    assert not diffs.needs_recreate
    assert diffs.get('peer_mtu').before == 1500 and diffs.get('peer_mtu').after == 1400


@pytest.mark.parametrize('kw, keys', [
    ({'peer': 'other', 'peer_netns': 'ns1'}, ['peer']),
    ({'peer_netns': 'ns2'}, ['peer', 'peer_netns']),
    ({}, ['peer', 'peer_netns']),                       # default: the local end's namespace, not ns1
])
def test_compare_other_peer_needs_recreate(kw, keys):
    diffs = Differences()
    veth.Veth().compare(None, item(peer_mtu=1400, **kw), None, local_view(), diffs)
    assert diffs.keys() == keys
    assert all(d.recreate for d in diffs.items)        # the old peer's options are not compared


def test_compare_unnamed_peer_namespace():
    diffs = Differences()
    view = local_view(peer=None, peer_netns=None, peer_link={}, peer_nsid=3, peer_ifindex=7)
    veth.Veth().compare(None, item(peer_netns='ns1'), None, view, diffs)
    assert diffs.keys() == ['peer', 'peer_netns']


def test_refuse_recreate_without_recreate_names_the_actual_peer():
    msg = veth.Veth().refuse_recreate(None, item(peer='v9', peer_netns='ns2'), None, local_view(), Differences())
    assert msg == ('v0 in the default netns is a veth whose peer is v1 in netns ns1, not v9 in netns ns2; '
                   'set recreate=true to replace the pair')


# ------------------------------------------------------------------ predictions

def test_predict_new_pair():
    out = veth.Veth().predict(item(netns='a', peer_netns='b', mtu=1400, link_state='up',
                                   peer_address='02:AA:00:00:00:02', peer_master='br'), {})
    assert out == {
        'name': 'v0', 'netns': 'a', 'kind': 'veth', 'mtu': 1400, 'link_state': 'up',
        'peer': 'v1', 'peer_netns': 'b',
        'peer_link': {'name': 'v1', 'netns': 'b', 'kind': 'veth', 'address': '02:aa:00:00:00:02', 'master': 'br'},
    }


def test_predict_update_puts_peer_keys_in_peer_link():
    diffs = Differences()
    diffs.add('mtu', 1500, 1400)
    diffs.add('peer_mtu', 1500, 1300)
    diffs.add('peer_link_state', 'down', 'up')
    view = local_view()
    after = veth.Veth().predict_update(item(), view, diffs)
    assert after['mtu'] == 1400
    assert after['peer_link']['mtu'] == 1300 and after['peer_link']['link_state'] == 'up'
    assert 'peer_mtu' not in after and 'peer_link_state' not in after
    assert view['peer_link']['mtu'] == 1500            # the "before" view is left alone


def test_predict_update_recreate():
    diffs = Differences()
    diffs.add('peer', 'v1', 'v9', recreate=True)
    diffs.add('peer_netns', 'ns1', 'ns2', recreate=True)
    diffs.add('mtu', 1500, 1400)
    after = veth.Veth().predict_update(item(peer='v9', peer_netns='ns2', mtu=1400, peer_mtu=1300), local_view(), diffs)
    assert after['peer'] == 'v9' and after['peer_netns'] == 'ns2'
    assert after['peer_link'] == {'name': 'v9', 'netns': 'ns2', 'kind': 'veth', 'mtu': 1300}
    assert after['mtu'] == 1400


@pytest.mark.parametrize('link, where', [
    ({'link_index': 7, 'link_netnsid': None}, (7, None)),        # the peer is in the same namespace
    ({'link_index': 2, 'link_netnsid': 4}, (2, 4)),              # in the namespace known by nsid 4
    ({'link_index': 2, 'link_netnsid': -1}, (2, -1)),            # in a namespace without an id
    ({'link_index': 0, 'link_netnsid': None}, None),             # the kernel names no peer
    ({}, None),
])
def test_peer_of(link, where):
    assert veth.peer_of(link) == where


class _PeerCtx(object):
    """ctx.rt answering nsid questions; read_link answers from `links` {(netns, index): link}."""

    def __init__(self, nsids):
        self.rt = self
        self.nsids = nsids

    def nsid_of(self, netns, other):
        return dict((v, k) for k, v in self.nsids.items()).get(other)

    def nsid_to_netns(self, netns, nsid):
        return self.nsids.get(nsid)


def _view(monkeypatch, link, links, nsids, **kw):
    monkeypatch.setattr(veth, 'read_link', lambda ctx, netns, index=None, need_data=True, **_kw: links.get((netns, index)))
    monkeypatch.setattr(veth, 'common_view', lambda ctx, netns, peer: {'name': peer['ifname'], 'netns': netns})
    return veth.Veth().view(_PeerCtx(nsids), item(**kw), link)


def test_view_follows_peer_of(monkeypatch):
    links = {('', 7): {'ifname': 'v1', 'index': 7}, ('b', 2): {'ifname': 'v9', 'index': 2}}
    view = _view(monkeypatch, {'link_index': 7, 'link_netnsid': None}, links, {})
    assert view == {'peer': 'v1', 'peer_netns': '', 'peer_link': {'name': 'v1', 'netns': ''}}
    view = _view(monkeypatch, {'link_index': 2, 'link_netnsid': 3}, links, {3: 'b'}, peer_netns='b')
    assert view['peer'] == 'v9' and view['peer_netns'] == 'b'
    # a namespace without a name, a peer that is gone, no peer at all
    view = _view(monkeypatch, {'link_index': 2, 'link_netnsid': 5}, links, {3: 'b'})
    assert view == {'peer': None, 'peer_netns': None, 'peer_link': {}, 'peer_nsid': 5, 'peer_ifindex': 2}
    view = _view(monkeypatch, {'link_index': 9, 'link_netnsid': None}, links, {})
    assert view == {'peer': None, 'peer_netns': None, 'peer_link': {}, 'peer_nsid': None, 'peer_ifindex': 9}
    view = _view(monkeypatch, {'link_index': 0, 'link_netnsid': None}, links, {})
    assert view == {'peer': None, 'peer_netns': None, 'peer_link': {}, 'peer_nsid': None, 'peer_ifindex': 0}
