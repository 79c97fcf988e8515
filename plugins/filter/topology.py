# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters that draw the result of virtnet.linux.link_info (documented in topology_dot.yml)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

# Looks, by kind: (shape, fill colour, border colour). Anything else gets DEFAULT_STYLE.
KIND_STYLES = {
    'bridge': ('box', '#cfe2ff', '#1f4e9c'),
    'veth': ('box', '#d8f3dc', '#2d6a4f'),
    'tap': ('hexagon', '#ffd8a8', '#c2410c'),
    'tun': ('octagon', '#fff3b0', '#a16207'),
    'vxlan': ('cds', '#c3fae8', '#087f5b'),
    'macvlan': ('box', '#e5dbff', '#5f3dc4'),
    'macvtap': ('hexagon', '#e5dbff', '#5f3dc4'),
}
DEFAULT_STYLE = ('box', '#f1f3f5', '#495057')
PLACEHOLDER_STYLE = ('box', '#ffffff', '#adb5bd')
PORT_EDGE_COLOR = '#1f4e9c'
VETH_EDGE_COLOR = '#2d6a4f'
TUNNEL_EDGE_COLOR = '#087f5b'
MACVLAN_EDGE_COLOR = '#5f3dc4'
TUNNEL_END_STYLE = ('ellipse', '#ffffff', '#087f5b')
DEFAULT_VXLAN_PORT = 4789
FONT = 'Helvetica'


def _quote(value):
    """A DOT double-quoted ID."""
    return '"%s"' % str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


class _Html(str):
    """An HTML-like label (written between < and > instead of quotes)."""


def _html(value):
    """Text for an HTML-like label."""
    return (str(value).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
            .replace('"', '&quot;'))


def node_id(netns, name):
    """The DOT ID of a link: NETNS/NAME ('/NAME' in the module's own namespace).

    Neither a namespace name nor an interface name can contain '/', so IDs never collide.
    """
    return '%s/%s' % (netns or '', name)


def cluster_id(netns):
    return 'cluster:%s' % (netns or '')


def _links_of(data):
    """The list of link dicts in whatever form link_info's result was passed."""
    if isinstance(data, Mapping):
        if isinstance(data.get('links'), Sequence) and not isinstance(data.get('links'), (str, bytes)):
            return list(data['links'])
        raise AnsibleFilterError('topology_dot: expected the result of virtnet.linux.link_info '
                                 '(a dict with "links") or its list of links')
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return list(data)
    raise AnsibleFilterError('topology_dot: expected the result of virtnet.linux.link_info, got %s'
                             % type(data).__name__)


def _is_link_local(cidr):
    addr = str(cidr).lower()
    return addr.startswith('fe8') or addr.startswith('fe9') or addr.startswith('fea') or addr.startswith('feb')


def _kind_lines(link):
    """(kind and state, details or '') of a link's label."""
    kind = link.get('kind') or ('loopback' if link.get('name') == 'lo' else 'device')
    head = kind + (', DOWN' if link.get('link_state') == 'down' else '')
    details = []
    tun = link.get('tun') or {}
    if tun:
        owner = tun.get('owner_name') or tun.get('owner')
        group = tun.get('group_name') or tun.get('group')
        if owner is not None or group is not None:
            details.append('owner %s%s' % ('' if owner is None else owner, '' if group is None else ':%s' % group))
        details.extend(f for f in ('vnet_hdr', 'multi_queue', 'pi') if tun.get(f))
    bridge = link.get('bridge') or {}
    if bridge:
        details.append('STP on' if bridge.get('stp') else 'STP off')
        if bridge.get('vlan_filtering'):
            details.append('vlan filtering')
    vxlan = link.get('vxlan') or {}
    if vxlan:
        details.append('VNI %s' % vxlan.get('vni'))
        if vxlan.get('port') not in (None, DEFAULT_VXLAN_PORT):
            details.append('port %s' % vxlan['port'])
        if vxlan.get('dev'):
            details.append('dev %s' % vxlan['dev'])
        if vxlan.get('local'):
            details.append('local %s' % vxlan['local'])
    macvlan = link.get('macvlan') or {}
    if macvlan:
        if macvlan.get('mode'):
            details.append('mode %s' % macvlan['mode'])
        tap = macvlan.get('tap') or {}
        if tap:
            owner = tap.get('owner_name') or tap.get('owner')
            group = tap.get('group_name') or tap.get('group')
            details.append('%s %s:%s' % (tap.get('device'), owner, group))
    if link.get('mtu') not in (None, 1500, 65536):
        details.append('mtu %s' % link['mtu'])
    return head, ', '.join(str(d) for d in details)


def _label(link, addresses, link_local, mac):
    head, details = _kind_lines(link)
    rows = ['<b>%s</b>' % _html(link.get('name')), '<font point-size="9">%s</font>' % _html(head)]
    if details:
        rows.append('<font point-size="9">%s</font>' % _html(details))
    if mac and link.get('address'):
        rows.append('<font point-size="8" color="#555555">%s</font>' % _html(link['address']))
    if addresses:
        for cidr in link.get('addresses') or []:
            if link_local or not _is_link_local(cidr):
                rows.append('<font point-size="9">%s</font>' % _html(cidr))
    return _Html('<br/>'.join(rows))


def _tooltip(link, mac=False):
    """What a node shows on hover: nothing the kernel numbers or makes up by itself (ifindex; the MAC only with
    mac=true), so that the same declared network - made again after a reboot - draws the same picture."""
    bits = ['%s in %s' % (link.get('name'), ('netns %s' % link['netns']) if link.get('netns') else 'the default netns')]
    for key in ('kind', 'link_state', 'operstate', 'mtu') + (('address',) if mac else ()) + ('master', 'alias'):
        if link.get(key) not in (None, ''):
            bits.append('%s: %s' % (key, link[key]))
    return '\n'.join(bits)


def _attrs(**attrs):
    out = []
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, _Html):
            out.append('%s=<%s>' % (key, value))
        else:
            out.append('%s=%s' % (key, _quote(value)))
    return '[%s]' % ', '.join(out)


def _legend():
    cells = []
    kinds = ('bridge', 'veth', 'tap', 'tun', 'vxlan', 'macvlan')
    for kind in kinds:
        cells.append('<td bgcolor="%s" color="%s">%s</td>' % (KIND_STYLES[kind][1], KIND_STYLES[kind][2], kind))
    cells.append('<td bgcolor="%s" color="%s">other</td>' % (DEFAULT_STYLE[1], DEFAULT_STYLE[2]))
    return _Html(
        '<table border="0" cellborder="1" cellspacing="3" cellpadding="3">'
        '<tr>%s</tr>'
        '<tr><td colspan="%d" border="0"><font point-size="9" color="%s">&#8594; port of a bridge</font>'
        '&#160;&#160;<font point-size="9" color="%s">&#8212; veth pair</font>'
        '&#160;&#160;<font point-size="9" color="%s">&#8594; macvlan of its parent</font>'
        '&#160;&#160;<font point-size="9" color="%s">- - VXLAN tunnel to a peer</font>'
        '&#160;&#160;<font point-size="9" color="#6c757d">dashed node: link down</font></td></tr>'
        '</table>' % (''.join(cells), len(kinds) + 1, PORT_EDGE_COLOR, VETH_EDGE_COLOR, MACVLAN_EDGE_COLOR,
                      TUNNEL_EDGE_COLOR))


def _placeholder(pid, label):
    """A node for an end that is referred to but was not reported."""
    return '%s %s;' % (_quote(pid), _attrs(label=label, shape=PLACEHOLDER_STYLE[0], style='dashed,rounded',
                                           color=PLACEHOLDER_STYLE[2], fontcolor='#868e96'))


def _group(ns, name, lines):
    """A master with its ports, in a borderless cluster of their own (cluster:NETNS/MASTER)."""
    return '\n      '.join(['subgraph %s {' % _quote(cluster_id(node_id(ns, name))),
                            'graph %s;' % _attrs(label='', peripheries='0', margin='4')] + lines) + '\n    }'


def _tunnel_ends(links):
    """(VNI, local address) -> node id of every reported vxlan device with a local address: a peer of another
    reported device that is this address, on the same VNI, is that device (both ends in one picture)."""
    ends = {}
    for link in links:
        vxlan = link.get('vxlan') or {}
        if link.get('kind') == 'vxlan' and vxlan.get('local'):
            ends[(vxlan.get('vni'), str(vxlan['local']))] = node_id(link.get('netns'), link['name'])
    return ends


def _addresses_of(links):
    """address (without prefix) -> 'NAME in NETNS' of every reported link's IP addresses."""
    out = {}
    for link in links:
        for cidr in link.get('addresses') or []:
            where = '%s%s' % (link['name'], (' in netns %s' % link['netns']) if link.get('netns') else '')
            out.setdefault(str(cidr).split('/', maxsplit=1)[0], where)
    return out


def topology_dot(data, default_label='default', loopback=False, link_local=False, addresses=True, mac=False,
                 rankdir='LR', title=None, legend=True):
    """Graphviz DOT text of link_info's result: namespaces as clusters, bridges and their ports,
    veth pairs across namespaces (each pair once), tun/tap devices marked with their owners, macvlans
    attached to their parents, VXLAN devices with a tunnel to each of their peers."""
    if rankdir not in ('LR', 'RL', 'TB', 'BT'):
        raise AnsibleFilterError('topology_dot: rankdir must be one of LR, RL, TB, BT, not %r' % (rankdir,))
    links = []
    for link in _links_of(data):
        if not isinstance(link, Mapping) or not link.get('name'):
            raise AnsibleFilterError('topology_dot: every link must be a dict with a name, got %r' % (link,))
        if not loopback and link.get('name') == 'lo':
            continue
        links.append(link)

    # namespaces in the order they come, the module's own first
    order = []
    for link in links:
        ns = link.get('netns') or ''
        if ns not in order:
            order.append(ns)
    if isinstance(data, Mapping) and isinstance(data.get('namespaces'), Mapping):
        for ns in data['namespaces']:          # namespaces without links (other than lo) too
            if (ns or '') not in order:
                order.append(ns or '')
    order.sort(key=lambda n: (n != '', n))

    known = set(node_id(link.get('netns'), link['name']) for link in links)
    members = dict((ns, []) for ns in order)
    placeholders = {}       # node id -> (cluster netns or None, label)
    edges = []

    def want_node(netns, name, why):
        nid = node_id(netns, name)
        if nid not in known and nid not in placeholders:
            placeholders[nid] = (netns, _Html('<i>%s</i><br/><font point-size="8">%s</font>' % (_html(name), _html(why))))
        return nid

    # emission order guides dot's ordering within a rank: a bridge's ports next to each other, by name (not
    # by ifindex: a network made again - after a reboot - draws the same picture)
    def order_key(pos_link):
        _pos, link = pos_link
        ns = link.get('netns') or ''
        return (order.index(ns), link.get('master') or link['name'], 0 if link.get('master') else 1, link['name'])

    # a master and its ports (and their ports) share a borderless sub-cluster, so they stay together
    master_of = dict(((l.get('netns') or '', l['name']), l.get('master')) for l in links if l.get('master'))
    has_ports = set((ns, m) for (ns, _name), m in master_of.items() if node_id(ns, m) in known)

    def group_of(ns, name):
        top, hops = None, 0
        while (ns, name) in master_of and node_id(ns, master_of[(ns, name)]) in known and hops < 8:
            name, hops = master_of[(ns, name)], hops + 1
            top = name
        if top is None and (ns, name) in has_ports:
            top = name
        return top

    unnamed = {}            # (namespace seen from, nsid, ifindex) -> placeholder id

    def far_end(ns, end, why, local):
        """The node of the other end of a link (a veth's peer, a macvlan's parent: name, netns, ifindex, netnsid),
        a placeholder when it was not reported; None when the kernel names no end."""
        if end.get('netns') is None:
            # in a namespace without a name: one placeholder per (namespace seen from, nsid, ifindex), numbered
            # in emission order (by name) and labelled by name, never by the numbers the kernel hands out anew
            # (ifindex, nsid): a network made again - after a reboot - draws the same picture
            key = (ns, end.get('netnsid'), end.get('ifindex'))
            if key not in unnamed:
                unnamed[key] = '?%s/unnamed-%d' % (ns, len(unnamed) + 1)
                what = end.get('name') or 'the other end of %s' % local
                placeholders[unnamed[key]] = (None, _Html('<i>%s</i><br/><font point-size="8">in an unnamed netns</font>'
                                                          % _html(what)))
            return unnamed[key]
        if end.get('name'):
            return want_node(end['netns'], end['name'], why)
        return None

    seen_pairs = set()
    tunnel_ends = _tunnel_ends(links)
    local_addresses = _addresses_of(links)
    peer_nodes = {}         # tunnel end node id -> label (peers that are no reported device)
    for _pos, link in sorted(enumerate(links), key=order_key):
        ns = link.get('netns') or ''
        nid = node_id(ns, link['name'])
        shape, fill, border = KIND_STYLES.get(link.get('kind'), DEFAULT_STYLE)
        style = 'filled,rounded' if shape == 'box' else 'filled'
        if link.get('link_state') == 'down':
            style += ',dashed'
        if link.get('kind') == 'bridge':
            style += ',bold'
        members[ns].append((group_of(ns, link['name']), '%s %s;' % (_quote(nid), _attrs(
            label=_label(link, addresses, link_local, mac), shape=shape, style=style, fillcolor=fill, color=border,
            fontcolor='#6c757d' if link.get('link_state') == 'down' else None, tooltip=_tooltip(link, mac)))))

        if link.get('master'):
            master = want_node(ns, link['master'], 'master, not reported')
            edges.append('%s -> %s %s;' % (_quote(nid), _quote(master), _attrs(
                color=PORT_EDGE_COLOR, penwidth='1.4', arrowsize='0.7', tooltip='%s is a port of %s' % (
                    link['name'], link['master']))))

        peer = link.get('peer')
        if link.get('kind') == 'veth' and isinstance(peer, Mapping):
            pid = far_end(ns, peer, 'netns not reported', link['name'])
            if pid is None:
                continue
            pair = tuple(sorted((nid, pid)))
            if pair in seen_pairs:
                continue
            seen_pairs.add(pair)
            # across namespaces: one rank more, so that namespaces sit beside each other, not stacked
            across = pid.split('/', 1)[0] != ns or pid.startswith('?')
            edges.append('%s -> %s %s;' % (_quote(pair[0]), _quote(pair[1]), _attrs(
                dir='none', color=VETH_EDGE_COLOR, penwidth='2.2', minlen='2' if across else None,
                tooltip='veth pair %s - %s' % pair)))

        macvlan = link.get('macvlan')
        parent = macvlan.get('parent') if isinstance(macvlan, Mapping) else None
        if isinstance(parent, Mapping):
            pid = far_end(ns, parent, 'parent, netns not reported', link['name'])
            if pid is not None:
                across = pid.split('/', 1)[0] != ns or pid.startswith('?')
                edges.append('%s -> %s %s;' % (_quote(nid), _quote(pid), _attrs(
                    color=MACVLAN_EDGE_COLOR, penwidth='1.6', arrowhead='odot', arrowsize='0.8',
                    minlen='2' if across else None,
                    tooltip='%s is a %s of %s' % (link['name'], link.get('kind') or 'macvlan', parent.get('name')))))

        vxlan = link.get('vxlan')
        if link.get('kind') == 'vxlan' and isinstance(vxlan, Mapping):
            for peer in vxlan.get('peers') or []:
                address = str(peer).split(' ', 1)[0]
                other = tunnel_ends.get((vxlan.get('vni'), address))
                if other is not None and other != nid:
                    pair = tuple(sorted((nid, other)))
                    if pair in seen_pairs:
                        continue
                    seen_pairs.add(pair)
                    target = other
                else:
                    target = 'tunnel:%s' % address
                    where = local_addresses.get(address)
                    peer_nodes[target] = _Html('<b>%s</b><br/><font point-size="8">%s</font>' % (
                        _html(peer), _html('tunnel end (%s)' % where if where else 'tunnel end')))
                edges.append('%s -> %s %s;' % (_quote(nid), _quote(target), _attrs(
                    dir='none', color=TUNNEL_EDGE_COLOR, style='dashed', penwidth='2.0', minlen='2',
                    label='VNI %s' % vxlan.get('vni'), fontcolor=TUNNEL_EDGE_COLOR,
                    tooltip='VXLAN %s, VNI %s, to %s' % (link['name'], vxlan.get('vni'), peer))))

    lines = ['digraph topology {']
    graph = dict(rankdir=rankdir, compound='true', newrank='true', fontname=FONT, nodesep='0.25',
                 ranksep='0.7', pad='0.3')
    if title:
        graph.update(label=_Html('<b>%s</b>' % _html(title)), labelloc='t', fontsize='16')
    lines.append('  graph %s;' % _attrs(**graph))
    lines.append('  node %s;' % _attrs(fontname=FONT, fontsize='11', margin='0.12,0.06'))
    lines.append('  edge %s;' % _attrs(fontname=FONT, fontsize='9'))

    extra_ns = []
    for pid, (pns, _label_text) in placeholders.items():
        if pns is not None and pns not in members and pns not in extra_ns:
            extra_ns.append(pns)
    for ns in order + sorted(extra_ns, key=lambda n: (n != '', n)):
        reported = ns in members
        if ns == '':
            label = _Html('<b>%s</b><br/><font point-size="9">own namespace</font>' % _html(default_label))
        else:
            label = _Html('<b>%s</b><br/><font point-size="9">netns%s</font>' % (
                _html(ns), '' if reported else ', not reported'))
        lines.append('  subgraph %s {' % _quote(cluster_id(ns)))
        style = dict(style='rounded,filled', fillcolor='#f8f9fa') if reported else dict(style='rounded,dashed')
        lines.append('    graph %s;' % _attrs(label=label, color='#868e96', labeljust='l', margin='12', **style))
        body, groups = [], {}
        for group, line in members.get(ns, []):
            if group is None:
                body.append(line)
            elif group in groups:
                groups[group].append(line)
            else:
                groups[group] = [line]
                body.append((group, groups[group]))
        body = [item if isinstance(item, str) else _group(ns, item[0], item[1]) for item in body]
        for pid, (pns, plabel) in sorted(placeholders.items()):
            if pns == ns:
                body.append(_placeholder(pid, plabel))
        if not body:
            body.append('%s %s;' % (_quote(node_id(ns, '')), _attrs(label='(no links)', shape='plaintext',
                                                                    fontcolor='#868e96')))
        lines.extend('    ' + line for line in body)
        lines.append('  }')
    for pid, (pns, plabel) in sorted(placeholders.items()):
        if pns is None:
            lines.append('  ' + _placeholder(pid, plabel))
    for pid, plabel in sorted(peer_nodes.items()):
        attrs = _attrs(label=plabel, shape=TUNNEL_END_STYLE[0], style='dashed', color=TUNNEL_END_STYLE[2],
                       fontcolor=TUNNEL_END_STYLE[2])
        lines.append('  %s %s;' % (_quote(pid), attrs))
    if legend:
        lines.append('  legend %s;' % _attrs(label=_legend(), shape='plaintext', fontsize='10'))
    lines.extend('  ' + edge for edge in edges)
    lines.append('}')
    return '\n'.join(lines) + '\n'


class FilterModule(object):
    """Topology filters of virtnet.linux."""

    def filters(self):
        return {'topology_dot': topology_dot}
