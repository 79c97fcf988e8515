# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hand-built netlink layer (_rtnl) against pyroute2 on the real kernel: the same dicts.

Every kind the collection reads is made with `ip` and read both ways, by get (each `need_data` level
the modules use: True, 'info', 'table', False) and by dump (what link_info reads): veth ends in one namespace and across two (peer
index and link-netnsid), tun and tap with owner, group and flags, a bridge with its attributes set,
bridge ports, vxlan devices (unicast over an underlay, IPv6, with a remote, with a multicast group) and their
forwarding entries, macvlan and macvtap devices in every mode (one moved into another namespace), and kinds
without a table of their own (dummy: where the kernel has it). pyroute2's decode (`_pyroute2.link_to_dict`,
its RTM_NEWNEIGH messages for the forwarding entries) is the oracle.

Runs inside tools/sandbox.sh (tools/test.sh does that): it creates namespaces and links with `ip`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'build', 'collections'))

from ansible_collections.virtnet.linux.plugins.module_utils import _pyroute2  # noqa: E402
from ansible_collections.virtnet.linux.plugins.module_utils._rtnl import FALLBACK, KIND_TABLES, Rtnl  # noqa: E402

NS = 'rp-a'
SETUP = [
    'ip netns add %s' % NS,
    'ip link add rp-v0 mtu 1400 address 02:00:00:00:0a:01 type veth peer name rp-v1 netns %s' % NS,
    'ip link set rp-v0 alias "raw vs pyroute2" group 7 txqueuelen 321 up',
    'ip -n %s link set rp-v1 up' % NS,
    'ip address add 10.91.0.1/24 dev rp-v0',
    'ip address add 10.92.0.1 peer 10.92.0.2/32 dev rp-v0',
    'ip address add fd00:91::1/64 dev rp-v0 nodad',
    'ip link add rp-v2 type veth peer name rp-v3',
    'ip link add rp-br type bridge stp_state 1 forward_delay 500 hello_time 300 max_age 1000 ageing_time 20000'
    ' priority 4096 mcast_snooping 0 mcast_querier 1 group_fwd_mask 8',
    'ip link set rp-v2 master rp-br',
    'ip tuntap add dev rp-tun mode tun user 4242 group 4343 pi',
    'ip tuntap add dev rp-tap mode tap vnet_hdr multi_queue',
    'ip link set rp-tap master rp-br',
    'ip -n %s tuntap add dev rp-tap2 mode tap user 4242' % NS,
    'ip -n %s link add rp-br2 type bridge' % NS,
    'ip -n %s link set rp-tap2 master rp-br2' % NS,
    # vxlan: unicast with an underlay (a bridge port), IPv6, a remote, a multicast group; flood entries
    'ip link add rp-vx type vxlan id 42 dstport 4789 local 10.91.0.1 dev rp-v0 nolearning ttl 9 tos 1',
    'ip link set rp-vx master rp-br',
    'ip link add rp-vx6 type vxlan id 43 dstport 8472 local fd00:91::1',
    'ip link add rp-vxr type vxlan id 44 dstport 4789 remote 10.91.0.7',
    'ip link add rp-vxg type vxlan id 45 dstport 4789 group 239.1.1.1 dev rp-v0',
    'bridge fdb append 00:00:00:00:00:00 dev rp-vx dst 10.91.0.2',
    'bridge fdb append 00:00:00:00:00:00 dev rp-vx dst 10.91.0.3 port 4790 vni 7 via rp-v2',
    'bridge fdb append 00:00:00:00:00:00 dev rp-vx6 dst fd00:91::2',
    'bridge fdb add 52:54:00:00:91:01 dev rp-vx dst 10.91.0.2',
    # macvlan and macvtap: each mode, in the parent's namespace and moved into another
    'ip link add rp-mv0 link rp-v3 type macvlan mode bridge',
    'ip link add rp-mv1 link rp-v3 type macvlan mode private',
    'ip link add rp-mt0 link rp-v3 type macvtap mode vepa',
    'ip link add rp-mv2 link rp-v3 netns %s type macvlan mode bridge' % NS,
    'ip link add rp-p0 type veth peer name rp-p1',
    'ip link add rp-mt1 link rp-p0 type macvtap mode passthru',
]
# kinds that this kernel may lack (not every build has dummy)
OPTIONAL = [
    'ip link add rp-dummy type dummy',
]


def sandboxed():
    """In tools/sandbox.sh: not PID 1's network namespace, and /run/netns is a private tmpfs."""
    try:
        if os.stat('/proc/self/ns/net').st_ino == os.stat('/proc/1/ns/net').st_ino:
            return False
    except OSError:
        pass                    # PID 1's namespace cannot be read here: the mount tells
    with open('/proc/self/mountinfo') as f:
        return any(' /run/netns ' in line and 'tmpfs' in line for line in f)


def names(netns):
    cmd = ['ip'] + (['-n', netns] if netns else []) + ['-o', 'link', 'show']
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [line.split(':')[1].strip().split('@')[0] for line in out.splitlines()]


def expected(want, need):
    """What _rtnl must give at `need` for the link pyroute2 decoded as `want` (None: FALLBACK allowed)."""
    complete, table = KIND_TABLES.get(want['kind'], (False, None))
    out = dict(want)
    if need is not True and want['slave_data']:
        out['slave_data'] = None                              # not read
    if want['info_data']:
        if need and not complete and (need != 'table' or table is None):
            return None                                       # pyroute2 reads this one
        if table is None:
            out['info_data'] = None                           # not read
        elif not complete:
            names_ = set(n for n, _s in table.values())
            out['info_data'] = dict((k, v) for k, v in want['info_data'].items() if k in names_)
    if need is True and want['slave_data']:
        return None
    return out


def addresses(ipr):
    """(ifindex, 'address/prefixlen') of every address, decoded by pyroute2 (IFA_LOCAL wins)."""
    out = []
    for msg in ipr.get_addr():
        local = msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')
        if msg['family'] in (socket.AF_INET, socket.AF_INET6) and local:
            out.append((msg['index'], '%s/%d' % (local, msg['prefixlen'])))
    return sorted(out)


def test_raw_reader_gives_pyroute2s_dicts():
    assert sandboxed(), 'run this inside tools/sandbox.sh: it creates links and namespaces'
    for cmd in SETUP:
        subprocess.run(cmd, shell=True, check=True)
    optional = [cmd for cmd in OPTIONAL if subprocess.run(cmd, shell=True, check=False).returncode == 0]
    rt = Rtnl()
    seen, compared, fell_back = set(), 0, 0
    try:
        for netns in ('', NS):
            ipr = rt.ipr(netns)
            dumped = dict((link['index'], link) for link in rt.links(netns))
            oracle = dict((m['index'], _pyroute2.link_to_dict(m)) for m in ipr.get_links())
            assert sorted(dumped) == sorted(oracle), netns
            for index, want in oracle.items():
                # the dump (link_info) decodes what the tables know and never falls back
                assert dumped[index] == expected(want, False), (netns, want['ifname'], dumped[index], want)
            for name in names(netns):
                want = _pyroute2.link_to_dict(ipr.link('get', ifname=name)[0])
                seen.add((want['kind'], want['slave_kind'], bool(want['link_netnsid'] is not None)))
                for need in (True, 'info', 'table', False):
                    got = rt.get_link(netns, ifname=name, need_data=need)
                    wanted = expected(want, need)
                    if wanted is None:
                        assert got is FALLBACK, (name, need, got)
                        fell_back += 1
                        continue
                    assert got == wanted, (name, need, got, wanted)
                    assert rt.get_link(netns, index=want['index'], need_data=need) == wanted, (name, need)
                    compared += 1
            assert sorted(rt.addresses(netns)) == addresses(ipr), netns
    finally:
        rt.close()
    # every kind the collection reads was there and compared
    for kind in [('veth', None, False), ('veth', None, True), ('veth', 'bridge', False), ('tun', None, False),
                 ('tun', 'bridge', False), ('bridge', None, False), (None, None, False), ('vxlan', 'bridge', False),
                 ('vxlan', None, False), ('macvlan', None, False), ('macvlan', None, True), ('macvtap', None, False)]:
        assert kind in seen, (kind, seen)
    assert fell_back >= 7 and compared >= 25, (fell_back, compared)     # bridges and ports fall back
    rt = Rtnl()
    try:
        tun = rt.get_link('', ifname='rp-tun', need_data='info')
        assert tun['info_data']['IFLA_TUN_OWNER'] == 4242 and tun['info_data']['IFLA_TUN_GROUP'] == 4343
        assert tun['info_data']['IFLA_TUN_TYPE'] == 1 and tun['info_data']['IFLA_TUN_PI'] == 1
        br = [link for link in rt.links('') if link['ifname'] == 'rp-br'][0]
        assert br['info_data']['IFLA_BR_STP_STATE'] == 1 and br['info_data']['IFLA_BR_PRIORITY'] == 4096
        assert br['info_data']['IFLA_BR_FORWARD_DELAY'] == 500 and br['info_data']['IFLA_BR_GROUP_FWD_MASK'] == 8
        # the bridge module's read: one raw get, every attribute it looks at decoded (the VLAN protocol and
        # default PVID only where the kernel has VLAN filtering: then as pyroute2 reads them)
        got = rt.get_link('', ifname='rp-br', need_data='table')
        assert got is not FALLBACK and got['info_data'] == br['info_data']
        oracle = _pyroute2.link_to_dict(rt.ipr('').link('get', ifname='rp-br')[0])['info_data']
        for name in ('IFLA_BR_VLAN_PROTOCOL', 'IFLA_BR_VLAN_DEFAULT_PVID'):
            assert got['info_data'].get(name) == oracle.get(name), name
        peer = rt.get_link('', ifname='rp-v0', need_data=False)
        assert rt.nsid_to_netns('', peer['link_netnsid']) == NS
        assert rt.get_link(NS, index=peer['link_index'], need_data=False)['ifname'] == 'rp-v1'
        for cmd in optional:
            name = cmd.split()[3]
            assert rt.get_link('', ifname=name, need_data=False)['kind'] == cmd.split()[5], cmd
        # what the vxlan and macvlan modules read: one raw get each, every attribute they look at decoded
        vx = rt.get_link('', ifname='rp-vx', need_data='table')['info_data']
        assert (vx['IFLA_VXLAN_ID'], vx['IFLA_VXLAN_LOCAL'], vx['IFLA_VXLAN_PORT']) == (42, '10.91.0.1', 4789)
        assert (vx['IFLA_VXLAN_LEARNING'], vx['IFLA_VXLAN_TTL'], vx['IFLA_VXLAN_TOS']) == (0, 9, 1)
        assert vx['IFLA_VXLAN_LINK'] == rt.get_link('', ifname='rp-v0', need_data=False)['index']
        assert rt.get_link('', ifname='rp-vx6', need_data='table')['info_data']['IFLA_VXLAN_LOCAL6'] == 'fd00:91::1'
        assert rt.get_link('', ifname='rp-vxr', need_data='table')['info_data']['IFLA_VXLAN_GROUP'] == '10.91.0.7'
        assert rt.get_link('', ifname='rp-vxg', need_data='table')['info_data']['IFLA_VXLAN_GROUP'] == '239.1.1.1'
        modes = dict((name, rt.get_link(netns, ifname=name, need_data='table')['info_data'])
                     for netns, name in (('', 'rp-mv0'), ('', 'rp-mv1'), ('', 'rp-mt0'), (NS, 'rp-mv2'), ('', 'rp-mt1')))
        assert [d.get('IFLA_MACVLAN_MODE') or d.get('IFLA_MACVTAP_MODE') for d in modes.values()] == [
            'bridge', 'private', 'vepa', 'bridge', 'passthru']
        moved = rt.get_link(NS, ifname='rp-mv2', need_data=False)
        assert rt.nsid_to_netns(NS, moved['link_netnsid']) == ''
        assert rt.get_link('', index=moved['link_index'], need_data=False)['ifname'] == 'rp-v3'
        # the forwarding entries: the raw dump (every device, and one device) against pyroute2's
        for netns in ('', NS):
            raw = sorted(fdb_key(e) for e in rt.fdb(netns))
            oracle = sorted(fdb_key(oracle_fdb(m)) for m in rt.ipr(netns).fdb('dump'))
            assert raw == oracle, (netns, raw, oracle)
        index = rt.get_link('', ifname='rp-vx', need_data=False)['index']
        own = [e for e in rt.fdb('', index) if e['mac'] == '00:00:00:00:00:00']
        assert sorted((e['dst'], e['port'], e['vni'], e['via'] is not None) for e in own) == [
            ('10.91.0.2', None, None, False), ('10.91.0.3', 4790, 7, True)]
        assert all(e['ifindex'] == index for e in rt.fdb('', index))
    finally:
        rt.close()


def oracle_fdb(msg):
    """A forwarding entry as pyroute2 decodes it, in parse_fdb's keys."""
    return {'ifindex': msg['ifindex'], 'mac': msg.get_attr('NDA_LLADDR'), 'dst': msg.get_attr('NDA_DST'),
            'port': msg.get_attr('NDA_PORT'), 'vni': msg.get_attr('NDA_VNI'), 'via': msg.get_attr('NDA_IFINDEX'),
            'state': msg['state'], 'flags': msg['flags'], 'master': msg.get_attr('NDA_MASTER')}


def fdb_key(entry):
    return tuple(str(entry[k]) for k in ('ifindex', 'mac', 'dst', 'port', 'vni', 'via', 'state', 'flags', 'master'))
