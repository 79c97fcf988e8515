# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the topology_dot filter on a hand-written link_info result."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.virtnet.linux.plugins.filter.topology import FilterModule, topology_dot


def _link(name, netns='', kind='veth', **kw):
    link = {'name': name, 'netns': netns, 'ifindex': kw.pop('ifindex', 2), 'kind': kind, 'link_state': 'up',
            'operstate': 'UP', 'mtu': 1500, 'address': '02:00:00:00:00:01', 'master': '', 'alias': '',
            'txqueuelen': 1000, 'group': 0, 'addresses': [], 'peer': None, 'tun': None, 'bridge': None}
    link.update(kw)
    return link


def _peer(name, netns, ifindex=2, netnsid=0):
    return {'name': name, 'netns': netns, 'ifindex': ifindex, 'netnsid': netnsid}


def _tun(mode, owner=None, owner_name=None, group=None, group_name=None, **kw):
    tun = {'mode': mode, 'owner': owner, 'owner_name': owner_name, 'group': group, 'group_name': group_name,
           'pi': False, 'vnet_hdr': False, 'multi_queue': False, 'persist': True, 'num_queues': None}
    tun.update(kw)
    return tun


BRIDGE = {'stp': False, 'forward_delay': 15.0, 'hello_time': 2.0, 'max_age': 20.0, 'ageing_time': 300.0,
          'priority': 32768, 'mcast_snooping': True, 'vlan_filtering': False, 'ports': []}


def sample():
    """Host: br0 with tap0 (owned by qemu) and tap42 (veth to qdhcp-42); tun0; lo.
    qdhcp-42: ns-42 (peer tap42), a veth pair inside (in0/in1), veth x0 to qdhcp-43.
    qdhcp-43: x1 (peer x0), a bridge br43 with port x1. Plus a veth whose peer is in an unnamed netns."""
    host = [
        _link('lo', kind=None, ifindex=1, addresses=['127.0.0.1/8', '::1/128'], operstate='UNKNOWN', mtu=65536),
        _link('br0', kind='bridge', ifindex=3, addresses=['10.42.0.1/24', 'fe80::1/64'],
              bridge=dict(BRIDGE, ports=['tap0', 'tap42'])),
        _link('tap0', kind='tap', ifindex=4, master='br0',
              tun=_tun('tap', owner=1000, owner_name='qemu', vnet_hdr=True)),
        _link('tap42', ifindex=5, master='br0', peer=_peer('ns-42', 'qdhcp-42', 2, 0)),
        _link('tun0', kind='tun', ifindex=6, address=None, addresses=['10.8.0.1/32'],
              tun=_tun('tun', owner=65534, owner_name='nobody', group=65534, group_name='nogroup')),
        _link('ct0', ifindex=7, peer=_peer(None, None, 9, 5), link_state='down'),
    ]
    q42 = [
        _link('lo', 'qdhcp-42', kind=None, ifindex=1),
        _link('ns-42', 'qdhcp-42', ifindex=2, addresses=['10.42.0.2/24'], peer=_peer('tap42', '', 5, 0)),
        _link('in0', 'qdhcp-42', ifindex=3, peer=_peer('in1', 'qdhcp-42', 4, None)),
        _link('in1', 'qdhcp-42', ifindex=4, peer=_peer('in0', 'qdhcp-42', 3, None)),
        _link('x0', 'qdhcp-42', ifindex=5, peer=_peer('x1', 'qdhcp-43', 2, 1)),
    ]
    q43 = [
        _link('x1', 'qdhcp-43', ifindex=2, master='br43', peer=_peer('x0', 'qdhcp-42', 5, 0)),
        _link('br43', 'qdhcp-43', kind='bridge', ifindex=3, bridge=dict(BRIDGE, stp=True, ports=['x1'])),
    ]
    namespaces = dict((ns, {'name': ns, 'links': [l['name'] for l in links]})
                      for ns, links in (('', host), ('qdhcp-42', q42), ('qdhcp-43', q43)))
    return {'changed': False, 'namespaces': namespaces, 'links': host + q42 + q43}


EDGE_RE = re.compile(r'^\s*("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*") \[(.*)\];$')
NODE_RE = re.compile(r'^\s*("(?:[^"\\]|\\.)*") \[label=')


def _unquote(text):
    return text[1:-1].replace('\\"', '"').replace('\\\\', '\\')


def parse(dot):
    """(nodes, port edges, veth edges, clusters) read from the filter's own output format."""
    nodes, ports, veths, clusters = [], [], [], []
    for line in dot.splitlines():
        m = EDGE_RE.match(line)
        if m:
            pair = (_unquote(m.group(1)), _unquote(m.group(2)))
            (veths if 'dir="none"' in m.group(3) else ports).append(pair)
            continue
        m = NODE_RE.match(line)
        if m:
            nodes.append(_unquote(m.group(1)))
            continue
        m = re.match(r'^\s*subgraph ("(?:[^"\\]|\\.)*") \{$', line)
        if m:
            clusters.append(_unquote(m.group(1)))
    return nodes, ports, veths, clusters


def test_registered_filter():
    assert FilterModule().filters()['topology_dot'] is topology_dot


def test_clusters_nodes_and_edges():
    dot = topology_dot(sample())
    nodes, ports, veths, clusters = parse(dot)
    assert dot.startswith('digraph topology {') and dot.rstrip().endswith('}')
    # namespaces, and inside them each master with its ports
    assert clusters == ['cluster:', 'cluster:/br0', 'cluster:qdhcp-42', 'cluster:qdhcp-43', 'cluster:qdhcp-43/br43']
    assert '/lo' not in nodes and 'qdhcp-42/lo' not in nodes        # loopback hidden by default
    assert set(['/br0', '/tap0', '/tap42', '/tun0', '/ct0', 'qdhcp-42/ns-42', 'qdhcp-43/br43']) <= set(nodes)
    assert sorted(ports) == [('/tap0', '/br0'), ('/tap42', '/br0'), ('qdhcp-43/x1', 'qdhcp-43/br43')]
    # each pair exactly once, whichever end came first
    pairs = sorted(tuple(sorted(v)) for v in veths)
    assert len(pairs) == len(set(pairs)) == 4
    assert ('/tap42', 'qdhcp-42/ns-42') in pairs
    assert ('qdhcp-42/in0', 'qdhcp-42/in1') in pairs
    assert ('qdhcp-42/x0', 'qdhcp-43/x1') in pairs
    unnamed = [p for p in pairs if '/ct0' in p]
    assert len(unnamed) == 1 and unnamed[0][1] == '?/unnamed-1'


def test_masters_grouped_with_their_ports():
    dot = topology_dot(sample())
    group = dot[dot.index('subgraph "cluster:/br0" {'):]
    group = group[:group.index('}')]
    assert '"/br0" [' in group and '"/tap0" [' in group and '"/tap42" [' in group and '"/tun0" [' not in group
    assert 'peripheries="0"' in group


def test_default_cluster_label_and_custom_label():
    assert '<b>default</b>' in topology_dot(sample())
    dot = topology_dot(sample(), 'host')
    assert '<b>host</b>' in dot and '<b>default</b>' not in dot


def test_labels_show_kind_owner_addresses():
    dot = topology_dot(sample())
    line = [ln for ln in dot.splitlines() if ln.strip().startswith('"/tap0" [')][0]
    assert '>tap<' in line and 'owner qemu, vnet_hdr' in line and 'shape="hexagon"' in line
    line = [ln for ln in dot.splitlines() if ln.strip().startswith('"/tun0" [')][0]
    assert '>tun<' in line and 'owner nobody:nogroup' in line and '10.8.0.1/32' in line and 'shape="octagon"' in line
    line = [ln for ln in dot.splitlines() if ln.strip().startswith('"/br0" [')][0]
    assert '10.42.0.1/24' in line and 'fe80::1/64' not in line and '>bridge<' in line and 'STP off' in line
    line = [ln for ln in dot.splitlines() if ln.strip().startswith('"/ct0" [')][0]
    assert 'dashed' in line and 'veth, DOWN' in line
    assert '\\n' in line and '\n' not in line.rstrip('\n')          # tooltip lines escaped, one DOT line per node
    assert 'STP on' in dot
    assert 'fe80::1/64' in topology_dot(sample(), link_local=True)
    assert '10.42.0.1/24' not in topology_dot(sample(), addresses=False)
    assert '02:00:00:00:00:01' in topology_dot(sample(), mac=True)


def test_loopback_option():
    nodes = parse(topology_dot(sample(), loopback=True))[0]
    assert '/lo' in nodes and 'qdhcp-42/lo' in nodes


def test_inputs_result_or_list():
    assert topology_dot(sample()['links']) == topology_dot(sample())


def test_peer_in_unreported_namespace_is_placeholder():
    data = sample()
    data['links'] = [l for l in data['links'] if l['netns'] != 'qdhcp-43']
    del data['namespaces']['qdhcp-43']
    nodes, _ports, veths, clusters = parse(topology_dot(data))
    assert 'cluster:qdhcp-43' in clusters                    # drawn dashed, "not reported"
    assert 'qdhcp-43/x1' in nodes
    assert ('qdhcp-42/x0', 'qdhcp-43/x1') in [tuple(sorted(v)) for v in veths]


def test_filtered_master_is_placeholder():
    links = [l for l in sample()['links'] if l['name'] != 'br0']
    nodes, ports, _veths, _clusters = parse(topology_dot(links))
    assert '/br0' in nodes and ('/tap0', '/br0') in ports


def test_empty_namespace_still_drawn():
    data = sample()
    data['namespaces']['empty'] = {'name': 'empty', 'links': ['lo']}
    data['links'].append(_link('lo', 'empty', kind=None, ifindex=1))
    nodes, _p, _v, clusters = parse(topology_dot(data))
    assert 'cluster:empty' in clusters and 'empty/' in nodes


def test_quoting_and_escaping():
    data = [_link('we"ird<x>', 'ns"1', alias='a&b')]
    dot = topology_dot(data, title='host <1> & "2"')
    assert '"ns\\"1/we\\"ird<x>"' in dot
    assert '<b>we&quot;ird&lt;x&gt;</b>' in dot
    assert '<b>host &lt;1&gt; &amp; &quot;2&quot;</b>' in dot


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match='expected the result'):
        topology_dot('nope')
    with pytest.raises(AnsibleFilterError, match='expected the result'):
        topology_dot({'changed': False})
    with pytest.raises(AnsibleFilterError, match='expected the result'):
        topology_dot({'namespaces': {}})
    with pytest.raises(AnsibleFilterError, match='with a name'):
        topology_dot([{'kind': 'veth'}])
    with pytest.raises(AnsibleFilterError, match='rankdir'):
        topology_dot(sample(), rankdir='XX')


@pytest.mark.skipif(shutil.which('dot') is None, reason='graphviz (dot) not installed')
def test_graphviz_reads_it_back():
    dot = topology_dot(sample(), title='unit')
    out = subprocess.run(['dot', '-Tjson'], input=dot.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         check=True)
    assert out.stderr == b''
    graph = json.loads(out.stdout)
    objects = graph['objects']
    names = dict((o['_gvid'], o['name']) for o in objects)
    clusters = dict((o['name'], sorted(names[n] for n in o.get('nodes', []))) for o in objects
                    if o['name'].startswith('cluster:'))
    assert clusters['cluster:qdhcp-43'] == ['qdhcp-43/br43', 'qdhcp-43/x1']
    assert '/tap0' in clusters['cluster:']
    edges = set((names[e['tail']], names[e['head']], e.get('dir', 'forward')) for e in graph['edges'])
    assert ('/tap0', '/br0', 'forward') in edges
    assert ('qdhcp-42/x0', 'qdhcp-43/x1', 'none') in edges
    assert len([e for e in edges if e[2] == 'none']) == 4


def _vxlan(vni, local=None, peers=(), dev=None, port=4789):
    return {'vni': vni, 'local': local, 'port': port, 'dev': dev, 'learning': True, 'ttl': 0, 'tos': 0,
            'group': None, 'peers': list(peers)}


def _macvlan(mode, parent, tap=None):
    return {'mode': mode, 'parent': parent, 'tap': tap}


def overlay():
    """Two namespaces a and b joined by vx42 (each the other's peer, one more peer outside), a macvlan of a's
    underlay, a macvtap in the default namespace on b's underlay, a macvlan whose parent is in an unnamed netns."""
    links = [
        _link('ua', 'a', ifindex=2, addresses=['10.7.0.1/24'], peer=_peer('ub', 'b', 2, 0)),
        _link('vx42', 'a', kind='vxlan', ifindex=3, vxlan=_vxlan(42, '10.7.0.1', ['10.7.0.2', '10.7.0.9'], 'ua')),
        _link('mv0', 'a', kind='macvlan', ifindex=4, macvlan=_macvlan('bridge', _peer('ua', 'a', 2, None))),
        _link('ub', 'b', ifindex=2, addresses=['10.7.0.2/24', '10.7.0.3/24'], peer=_peer('ua', 'a', 2, 0)),
        _link('vx42', 'b', kind='vxlan', ifindex=3, vxlan=_vxlan(42, '10.7.0.2', ['10.7.0.1'], 'ub', port=8472)),
        _link('vx43', 'b', kind='vxlan', ifindex=4, vxlan=_vxlan(43, '10.7.0.2', ['10.7.0.1', '10.7.0.3'])),
        _link('mt0', kind='macvtap', ifindex=5, macvlan=_macvlan('vepa', _peer('ub', 'b', 2, 1), tap={
            'device': '/dev/tap5', 'owner': 64055, 'owner_name': 'libvirt-qemu', 'group': 0, 'group_name': 'root',
            'mode': '0600'})),
        _link('mv9', kind='macvlan', ifindex=6, macvlan=_macvlan('private', _peer(None, None, 7, 4))),
    ]
    return {'links': links}


def test_vxlan_tunnels_and_macvlan_parents():
    dot = topology_dot(overlay())
    nodes, ports, undirected, _clusters = parse(dot)
    # a tunnel between the two reported ends of VNI 42 (drawn once) and one to a peer outside; VNI 43's peers
    # are tunnel ends (a has no vx43), named after the reported link that has the address
    tunnels = sorted(tuple(sorted(e)) for e in undirected)
    assert ('a/vx42', 'b/vx42') in tunnels
    assert ('a/vx42', 'tunnel:10.7.0.9') in tunnels
    assert ('b/vx43', 'tunnel:10.7.0.1') in tunnels and ('b/vx43', 'tunnel:10.7.0.3') in tunnels
    assert len([t for t in tunnels if 'a/vx42' in t and 'b/vx42' in t]) == 1
    assert '"tunnel:10.7.0.3" [label=<<b>10.7.0.3</b><br/><font point-size="8">tunnel end (ub in netns b)</font>>' in dot
    assert 'label="VNI 42"' in dot and 'label="VNI 43"' in dot
    # macvlans point to their parents, across namespaces too; an unnamed namespace's parent is a placeholder
    assert ('a/mv0', 'a/ua') in ports and ('/mt0', 'b/ub') in ports
    assert [p for p in ports if p[0] == '/mv9'][0][1].startswith('?/unnamed-')
    # labels: VNI, port other than 4789, underlay, local; mode; a macvtap's character device and owner
    assert 'VNI 42, port 8472, dev ub, local 10.7.0.2' in dot and 'VNI 42, dev ua, local 10.7.0.1' in dot
    assert 'mode vepa, /dev/tap5 libvirt-qemu:root' in dot and 'mode bridge' in dot
    assert set(['a/vx42', 'b/vx42', 'a/mv0', '/mt0']) <= set(nodes)


@pytest.mark.skipif(shutil.which('dot') is None, reason='graphviz (dot) not installed')
def test_graphviz_reads_the_overlay_back():
    out = subprocess.run(['dot', '-Tjson'], input=topology_dot(overlay()).encode(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, check=True)
    assert out.stderr == b''
    graph = json.loads(out.stdout)
    names = dict((o['_gvid'], o['name']) for o in graph['objects'])
    edges = set((names[e['tail']], names[e['head']]) for e in graph['edges'])
    assert ('a/vx42', 'b/vx42') in edges and ('/mt0', 'b/ub') in edges and ('a/vx42', 'tunnel:10.7.0.9') in edges


def test_the_same_network_made_again_draws_the_same_picture():
    """After a reboot (a boot restore) ifindexes, nsids and MACs are new - also those of a peer in a namespace
    the host has no name for (a lab host's eth0): the picture must not change for that."""
    again = sample()
    for n, link in enumerate(reversed(again['links'])):
        link['ifindex'] = 100 + n
        if link.get('address'):
            link['address'] = '02:00:00:00:01:%02x' % n
        if link.get('peer'):
            link['peer'] = dict(link['peer'], ifindex=link['peer']['ifindex'] + 50,
                                netnsid=None if link['peer']['netnsid'] is None else link['peer']['netnsid'] + 3)
    assert 'unnamed netns' in topology_dot(again)
    assert topology_dot(again) == topology_dot(sample())
    assert topology_dot(again, mac=True) != topology_dot(sample(), mac=True)
