# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel's plumbing as iproute2 shows it, as JSON, without what the kernel changes by itself.

Every namespace (the sandbox's own as ''): its links (kind, admin state, master, MTU, MAC, queue length,
alias, veth peer, tun and bridge settings, macvlan mode and parent, vxlan settings and flood entries), its
addresses but link-local ones, its routes but the kernel's own, and the files under /etc/netns. Left out: ifindexes, operstate and carrier, address flags and
lifetimes, timers (what changes without anyone asking, or between two builds of the same state).
With --no-mac the MAC addresses are left out too (a new link gets a random one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

TUN_KEYS = ('type', 'pi', 'vnet_hdr', 'multi_queue', 'persist', 'user', 'group')
BRIDGE_KEYS = ('forward_delay', 'hello_time', 'max_age', 'ageing_time', 'stp_state', 'priority',
               'mcast_snooping', 'mcast_querier', 'group_fwd_mask', 'vlan_filtering')


def ip(netns, *args):
    cmd = ['ip'] + (['-n', netns] if netns else []) + ['-j'] + list(args)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def bridge(netns, *args):
    cmd = ['bridge'] + (['-n', netns] if netns else []) + ['-j'] + list(args)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def link_view(link, netns, ids, by_index, with_mac):
    info = link.get('linkinfo') or {}
    kind = info.get('info_kind')
    data = info.get('info_data') or {}
    out = {
        'kind': kind,
        'up': 'UP' in link.get('flags', []),
        'master': link.get('master'),
        'mtu': link.get('mtu'),
        'txqlen': link.get('txqlen'),
        'alias': link.get('ifalias'),
    }
    if with_mac:
        out['address'] = link.get('address')
    if kind == 'veth':
        nsid = link.get('link_netnsid')
        peer_ns = netns if nsid is None else ids.get(nsid, '?%s' % nsid)
        peer = by_index.get(peer_ns, {}).get(link.get('link_index')) if nsid is not None else link.get('link')
        out['peer'] = '%s in %s' % (peer, peer_ns or "the sandbox's netns")
    if kind in ('macvlan', 'macvtap'):
        nsid = link.get('link_netnsid')
        parent_ns = netns if nsid is None else ids.get(nsid, '?%s' % nsid)
        parent = by_index.get(parent_ns, {}).get(link.get('link_index')) if nsid is not None else link.get('link')
        out['macvlan'] = {'mode': data.get('mode'), 'parent': '%s in %s' % (parent, parent_ns or "the sandbox's netns")}
    if kind == 'vxlan':
        out['vxlan'] = dict((k, data.get(k)) for k in ('id', 'local', 'link', 'port'))
        out['flood'] = sorted(e['dst'] for e in bridge(netns, 'fdb', 'show', 'dev', link['ifname'])
                              if e.get('mac') == '00:00:00:00:00:00' and 'dst' in e)
    if kind == 'tun':
        out['tun'] = dict((k, data.get(k)) for k in TUN_KEYS)
    if kind == 'bridge':
        out['bridge'] = dict((k, data.get(k)) for k in BRIDGE_KEYS)
    return out


def namespace(netns, links, by_index, with_mac):
    ids = dict((e['nsid'], e.get('name', '')) for e in ip(netns, 'netns', 'list-id'))
    out = {'links': {}, 'addresses': {}, 'routes': []}
    for link in links:
        out['links'][link['ifname']] = link_view(link, netns, ids, by_index, with_mac)
    for entry in ip(netns, 'addr', 'show'):
        addrs = sorted('%s/%s' % (a['local'], a['prefixlen']) for a in entry.get('addr_info', [])
                       if a.get('scope') != 'link')
        if addrs:
            out['addresses'][entry['ifname']] = addrs
    for family in ('-4', '-6'):
        for r in ip(netns, family, 'route', 'show', 'table', 'all'):
            if r.get('protocol') == 'kernel' or r.get('dst', '').startswith(('fe80:', 'ff00:', 'multicast')):
                continue
            out['routes'].append(dict((k, r.get(k)) for k in ('dst', 'gateway', 'dev', 'table', 'metric',
                                                              'protocol', 'scope', 'type', 'prefsrc')))
    out['routes'].sort(key=json.dumps)
    return out


def main():
    with_mac = '--no-mac' not in sys.argv
    names = sorted(e['name'] for e in ip('', 'netns', 'list'))
    state = {'netns': names, 'namespaces': {}, 'etc': {}}
    links = dict((netns, ip(netns, '-d', 'link', 'show')) for netns in [''] + names)
    by_index = dict((netns, dict((l['ifindex'], l['ifname']) for l in ls)) for netns, ls in links.items())
    for netns in [''] + names:
        state['namespaces'][netns] = namespace(netns, links[netns], by_index, with_mac)
    for root, _dirs, files in os.walk('/etc/netns'):
        for name in files:
            path = os.path.join(root, name)
            with open(path) as fh:
                state['etc'][path] = fh.read()
    json.dump(state, sys.stdout, indent=1, sort_keys=True)


if __name__ == '__main__':
    main()
