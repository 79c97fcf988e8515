# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DHCP across hosts and in pairs (issue 23): the dhcp_namespace role's dhcp_nodes, server_address as a
list and mtu, on the roles lab's dhcp1 (plain: dnsmasq by pid file), dhcp2 (systemd: a unit) and the
compute host cmp1, whose guests get their leases across hosts.

Networks 61 (served by dhcp1 alone) and 62 (served by dhcp1 and dhcp2: the range split into two shares,
the reservation web62 served by both) span the three hosts: brq<id> with a vxlan port and flood entries to
the other two hosts (segment.yml, made with virtnet.linux.plumbing; both with the MTU 1450 that the segment
role derives from the lab's underlay, which the DHCP servers announce). Every host declares the networks (ha.yml: each host its own
declaration); a host not in a network's dhcp_nodes makes nothing of it.

Steps (module-scoped fixtures, each on the state the one before left):
  segment -> refused (bad inputs; DHCP nodes that disagree) -> checked_fresh -> applied -> applied_again -> guests
  -> ha (dhcp1's dnsmasq of 62 killed; the guests renew or rebind from dhcp2) -> revived -> removed
61 announces its bridge's MTU, 62 the mtu it sets (1400). The segment fixture takes down everything it and
the steps made (guests, clients, bridges, vxlans, and the networks if a step failed before removed).
"""

from __future__ import annotations

import os
import time

import pytest

from harness.runs import assert_run, checked, daemon_actions  # pylint: disable=import-error

LAB = 'roles'
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HERE = os.path.dirname(os.path.abspath(__file__))
HOSTS = ['dhcp1', 'dhcp2', 'cmp1']
NODES = ['dhcp1', 'dhcp2']
COMPUTE = 'cmp1'
IDS = ['61', '62']
STATE = '/var/lib/virtnet/dhcp'
HOOKS = '/usr/local/lib/virtnet-dhcp'
HOOK = HOOKS + '/udhcpc-ha-hook.sh'
RUN = '/run/virtnet-dhcp'

NET61 = {'id': '61', 'subnet': '10.61.0.0/24', 'range_start': '10.61.0.100', 'range_end': '10.61.0.199',
         'router': '10.61.0.1', 'domain': 'net61.example', 'lease_time': '10m', 'dhcp_nodes': ['dhcp1']}
RESERVED = {'mac': '52:54:00:00:62:10', 'ip': '10.62.0.10', 'name': 'web62'}
NET62 = {'id': '62', 'subnet': '10.62.0.0/24', 'range_start': '10.62.0.100', 'range_end': '10.62.0.199',
         'router': '10.62.0.1', 'lease_time': '10m', 'dhcp_nodes': NODES, 'hosts': [RESERVED], 'mtu': 1400}
REMOVED = []        # the removed step ran: the segment fixture's end need not remove the networks
SHARES = {'10.62.0.2': ('10.62.0.100', '10.62.0.149'), '10.62.0.3': ('10.62.0.150', '10.62.0.199')}


def nets(*changes, **per_host):
    """ha.yml's ha_networks: every host's declaration (61 and 62, changed by CHANGES), or a host's own."""
    n61, n62 = dict(NET61), dict(NET62)
    for change in changes:
        change(n61, n62)
    out = {'all': [n61, n62]}
    out.update(per_host)
    return {'ha_networks': out}


def absent(n61, n62):
    n61['state'] = n62['state'] = 'absent'


def converge(runs, lab, name, v, **kw):
    return runs.play(os.path.join(HERE, 'ha.yml'), lab.inventory, name=name, limit=','.join(HOSTS), extravars=v, **kw)


# ---- the hosts -----------------------------------------------------------------------------------------
def on_all(lab, script):
    return dict((h, lab.out(h, script)) for h in HOSTS)


def snapshot(lab):
    """Links, namespaces, the role's files and the dnsmasq processes of every host."""
    return on_all(lab, 'ip -br link | cut -d" " -f1 | cut -d@ -f1; ip netns list; ls -R %s 2>/dev/null; '
                       'cat %s/*/*.conf %s/*/opts 2>/dev/null; pgrep -x dnsmasq; true' % (STATE, STATE, STATE))


def dnsmasq(lab, host, net):
    """The PID of the dnsmasq that runs inside qdhcp-NET on HOST ('' if none)."""
    return lab.out(host, 'for p in $(ip netns pids qdhcp-%s 2>/dev/null); do [ "$(cat /proc/$p/comm)" = dnsmasq ] '
                         '&& echo $p; done; true' % net)


def pids(lab):
    return dict(((h, n), dnsmasq(lab, h, n)) for h in NODES for n in IDS)


def ip_key(address):
    return [int(x) for x in address.split('.')]


def in_share(ip, share):
    return ip_key(share[0]) <= ip_key(ip) <= ip_key(share[1])


def record(lab, ns):
    """What the hook wrote for guest NS on the compute host: the lease record (with mtu) and the events."""
    text = lab.run(COMPUTE, 'cat %s/%s.lease 2>/dev/null' % (RUN, ns), check=False).stdout
    got = dict(line.split('=', 1) for line in text.splitlines() if '=' in line)
    got['events'] = lab.run(COMPUTE, 'cat %s/%s.events 2>/dev/null' % (RUN, ns), check=False).stdout.splitlines()
    return got


def add_guest(lab, net, ns, mac):
    """A guest on the compute host: namespace NS whose eth0 (MAC) is a veth whose other end is a port of brqNET."""
    lab.run(COMPUTE, 'ip netns add {ns} && ip link add g-{ns} type veth peer name eth0 netns {ns} && '
                     'ip link set g-{ns} master brq{net} up && ip -n {ns} link set eth0 address {mac} up'
                     .format(ns=ns, net=net, mac=mac))


def lease(lab, ns):
    """One lease in guest NS (busybox udhcpc, bounded), asking for the MTU; the hook's record."""
    lab.run(COMPUTE, 'rm -f {r}/{ns}.lease {r}/{ns}.events; ip netns exec {ns} timeout 30 busybox udhcpc -i eth0 -n -q '
                     '-t 5 -T 1 -O mtu -s {hook}'.format(r=RUN, ns=ns, hook=HOOK), check=False, timeout=60)
    return record(lab, ns)


def serve_only(lab, node, net, fn):
    """FN() while only NODE's server of NET is reachable (the other node's tap<net> down, then up again)."""
    others = [h for h in NODES if h != node]
    for h in others:
        lab.run(h, 'ip link set tap%s down' % net)
    try:
        return fn()
    finally:
        for h in others:
            lab.run(h, 'ip link set tap%s up' % net)


def wait(fn, tries=60, pause=0.5):
    """FN() until it is true: at most TRIES times, PAUSE seconds apart; the last value otherwise."""
    value = None
    for _try in range(tries):
        value = fn()
        if value:
            return value
        time.sleep(pause)
    return value


# ---- 0. the segments, the hooks; at the end everything taken down -------------------------------------------
@pytest.fixture(scope='module')
def segment(lab, runs):
    address = dict((h, lab.address(h)) for h in HOSTS)
    segments = dict((h, {
        'bridges': [{'name': 'brq' + i, 'stp': False, 'forward_delay': 0, 'link_state': 'up', 'mtu': 1450} for i in IDS],
        'vxlans': [{'name': 'vxlan-' + i, 'vni': int(i), 'local': address[h], 'port': 4789, 'master': 'brq' + i, 'mtu': 1450,
                    'link_state': 'up', 'peers': [address[o] for o in HOSTS if o != h]} for i in IDS]}) for h in HOSTS)
    run = runs.play(os.path.join(HERE, 'segment.yml'), lab.inventory, name='segment', limit=','.join(HOSTS),
                    extravars={'segments': segments})
    for name, path in (('udhcpc-hook.sh', os.path.join(TOP, 'playbooks', 'tasks', 'files', 'udhcpc-hook.sh')),
                       ('udhcpc-ha-hook.sh', os.path.join(HERE, 'udhcpc-ha-hook.sh'))):
        with open(path) as f:
            lab.run(COMPUTE, 'mkdir -p %s && cat > %s/%s && chmod 755 %s/%s' % (HOOKS, HOOKS, name, HOOKS, name), stdin=f.read())
    yield run
    # the guests' clients by their PIDs, the guests, the segments (and what a failed step left of the networks)
    lab.run(COMPUTE, 'for f in %s/*.udhcpc.pid; do [ -f "$f" ] && kill "$(cat "$f")"; done; '
                     'for n in $(ip netns list | cut -d" " -f1 | grep "^g6"); do ip netns delete $n; done; true' % RUN, check=False)
    if not REMOVED:
        converge(runs, lab, 'cleanup', nets(absent))
    for h in HOSTS:
        lab.run(h, 'for l in vxlan-61 vxlan-62 brq61 brq62; do ip link delete $l 2>/dev/null; done; true', check=False)


def test_segments_span_the_three_hosts(lab, segment):
    assert_run(segment, hosts=HOSTS, changed=True)
    for h in HOSTS:
        assert lab.out(h, 'ip -br link show master brq62 | cut -d" " -f1 | cut -d@ -f1') == 'vxlan-62'


# ---- 1. bad inputs: refused naming the network (and the host), nothing changed on any host -----------------
def bad(net_id, **kw):
    base = {'id': net_id, 'subnet': '10.%s.0.0/24' % net_id, 'range_start': '10.%s.0.100' % net_id,
            'range_end': '10.%s.0.199' % net_id, 'router': '10.%s.0.1' % net_id, 'dhcp_nodes': NODES}
    base.update(kw)
    return base


BAD = [  # (network, its definition, what the message says)
    ('81', bad('81', dhcp_nodes=['dhcp1', 'nohost']), 'network 81: dhcp_nodes: host nohost is not in the inventory'),
    ('82', bad('82', server_address='10.82.0.2'), 'network 82: server_address has 1 address(es) for 2 dhcp_nodes'),
    ('83', bad('83', server_address=['10.83.0.2', '10.84.0.3']),
     'network 83: server_address 10.84.0.3 is not a host address of subnet 10.83.0.0/24'),
    ('84', bad('84', server_address=['10.84.0.1', '10.84.0.3']), "network 84: server_address 10.84.0.1 is the router's address"),
    ('85', bad('85', server_address=['10.85.0.5', '10.85.0.5']), 'network 85: server_address 10.85.0.5 is given twice'),
    ('86', bad('86', range_end='10.86.0.100'), 'network 86: the range 10.86.0.100 - 10.86.0.100 has 1 address(es) for 2 dhcp_nodes'),
    ('87', bad('87', mtu=40), 'network 87: mtu 40 must be a number from 68 to 65535'),
]
RESERVED93 = [{'mac': '52:54:00:00:93:10', 'ip': '10.93.0.10'}]
DISAGREE = {  # each host's own declaration: dhcp2 declares 91 with another range, 93 without its reservation
    'dhcp1': [bad('91'), bad('92', dhcp_nodes=['dhcp1', 'cmp1']), bad('93', hosts=RESERVED93)],
    'dhcp2': [bad('91', range_end='10.91.0.189'), bad('92', dhcp_nodes=['dhcp1', 'cmp1']), bad('93')],
    'cmp1': [],
}
DISAGREEING = [  # (case, what the message says)
    ('range', 'network 91: host dhcp2 (in dhcp_nodes) declares it differently: range_end 10.91.0.189 there, 10.91.0.199 here'),
    ('undeclared', 'network 92: host cmp1 is in dhcp_nodes but does not declare network 92'),
    ('reservations', 'network 93: host dhcp2 (in dhcp_nodes) declares it differently: hosts [] there, [52:54:00:00:93:10 10.93.0.10] here'),
]


REFUSED = [(net_id, 'bad', message) for net_id, _definition, message in BAD] + \
    [(case, 'disagree', message) for case, message in DISAGREEING]


@pytest.fixture(scope='module')
def refused(lab, runs, segment):
    """Two runs: the bad inputs (refused by the plan), then the DHCP nodes that disagree (refused by the
    agreement check); each with the hosts' state before and after."""
    return {'bad': checked(lambda: snapshot(lab), lambda: converge(runs, lab, 'bad', {'ha_networks': {'all': [b[1] for b in BAD]}})),
            'disagree': checked(lambda: snapshot(lab), lambda: converge(runs, lab, 'disagree', {'ha_networks': DISAGREE}))}


@pytest.mark.parametrize('kind,message', [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_bad_input_is_refused_naming_the_network_and_host(refused, kind, message):
    assert not refused[kind][0].ok
    assert message in '\n'.join(refused[kind][0].messages())


@pytest.mark.parametrize('kind', ['bad', 'disagree'])
def test_refused_runs_change_nothing_on_any_host(refused, kind):
    run, before, after = refused[kind]
    assert run.changed == 0 and after == before


# ---- 2. the rhythm: check mode first, apply, again, check mode again ------------------------------------------
@pytest.fixture(scope='module')
def checked_fresh(lab, runs, refused):
    return checked(lambda: snapshot(lab), lambda: converge(runs, lab, 'check-fresh', nets(), check=True, diff=True))


def test_check_mode_reports_the_networks_and_makes_nothing(checked_fresh):
    assert_run(checked_fresh[0], hosts=HOSTS, changed=True)
    assert checked_fresh[2] == checked_fresh[1]


@pytest.fixture(scope='module')
def applied(lab, runs, checked_fresh):
    return converge(runs, lab, 'apply', nets())


def test_apply_changes_the_dhcp_nodes_only(applied):
    assert_run(applied, hosts=HOSTS, changed=True)
    assert [h for h in HOSTS if applied.stats[h]['changed']] == NODES


@pytest.fixture(scope='module')
def applied_again(lab, runs, applied):
    return converge(runs, lab, 'apply-again', nets())


def test_apply_again_changes_nothing(applied_again):
    assert_run(applied_again, hosts=HOSTS, changed=False)


def test_each_network_runs_only_on_its_dhcp_nodes(lab, applied):
    running = dict((h, sorted(n for n in IDS if dnsmasq(lab, h, n))) for h in HOSTS)
    assert running == {'dhcp1': ['61', '62'], 'dhcp2': ['62'], 'cmp1': []}


def test_each_networks_veth_pair_has_the_mtu_of_its_segments_bridge(lab, applied):
    """tap<id> joins brq<id>, which the segment set to the VXLAN MTU: no port of it is larger, in or out of qdhcp."""
    mtus = dict(((h, n), [lab.out(h, 'ip %s -o link show dev %s | sed -n "s/.* mtu \\([0-9]*\\) .*/\\1/p"' % (where, dev))
                          for where, dev in (('', 'brq' + n), ('', 'tap' + n), ('-n qdhcp-' + n, 'ns-' + n))])
                for h, n in (('dhcp1', '61'), ('dhcp1', '62'), ('dhcp2', '62')))
    assert mtus == dict((k, ['1450'] * 3) for k in mtus)


def test_each_node_serves_its_share_of_the_range_with_its_server_address(lab, applied):
    got = dict((h, (lab.out(h, 'grep ^dhcp-range= %s/62/dnsmasq.conf' % STATE),
                    lab.out(h, 'ip -n qdhcp-62 -br -4 addr show ns-62').split()[2])) for h in NODES)
    assert got == {'dhcp1': ('dhcp-range=set:net-62,10.62.0.100,10.62.0.149,255.255.255.0,10m', '10.62.0.2/24'),
                   'dhcp2': ('dhcp-range=set:net-62,10.62.0.150,10.62.0.199,255.255.255.0,10m', '10.62.0.3/24')}


def test_a_single_nodes_network_keeps_the_whole_range(lab, applied):
    assert lab.out('dhcp1', 'grep ^dhcp-range= %s/61/dnsmasq.conf' % STATE) == \
        'dhcp-range=set:net-61,10.61.0.100,10.61.0.199,255.255.255.0,10m'


# ---- 3. guests on the compute host get their leases across hosts ------------------------------------------------
@pytest.fixture(scope='module')
def guests(lab, applied_again):
    """g61 on 61; on 62 two guests while only dhcp1 answers, two while only dhcp2 does, one dhclient guest
    whose lease is then asked for again (INIT-REBOOT) with both answering."""
    out = {}
    for net, ns, mac in (('61', 'g61', '52:54:00:bb:61:01'), ('62', 'g62a', '52:54:00:bb:62:01'),
                         ('62', 'g62b', '52:54:00:bb:62:02'), ('62', 'g62c', '52:54:00:bb:62:03'),
                         ('62', 'g62d', '52:54:00:bb:62:04'), ('62', 'g62r', '52:54:00:bb:62:05')):
        add_guest(lab, net, ns, mac)
    out['g61'] = lease(lab, 'g61')
    out.update(serve_only(lab, 'dhcp1', '62', lambda: dict((ns, lease(lab, ns)) for ns in ('g62a', 'g62b'))))
    out.update(serve_only(lab, 'dhcp2', '62', lambda: dict((ns, lease(lab, ns)) for ns in ('g62c', 'g62d'))))
    dhclient = ('ip netns exec g62r timeout 40 dhclient -4 -1 -v -sf /bin/true -lf %s/g62r.leases -pf %s/g62r.pid eth0 2>&1; '
                'kill "$(cat %s/g62r.pid)"; true' % (RUN, RUN, RUN))
    out['dhclient-first'] = lab.out(COMPUTE, 'mkdir -p %s; ' % RUN + dhclient, timeout=60)
    out['dhclient-again'] = lab.out(COMPUTE, dhclient, timeout=60)
    out['leases'] = dict((h, lab.out(h, 'cat %s/62/leases' % STATE)) for h in NODES)
    return out


def test_guest_gets_a_lease_across_hosts_with_router_dns_and_the_bridges_mtu(guests):
    got = guests['g61']
    assert in_share(got.get('ip', '0.0.0.0'), ('10.61.0.100', '10.61.0.199')), got
    assert (got['server'], got['router'], got['dns'], got['domain'], got['mtu']) == \
        ('10.61.0.2', '10.61.0.1', '10.61.0.2', 'net61.example', '1450')


@pytest.mark.parametrize('ns', ['g62a', 'g62b', 'g62c', 'g62d'])
def test_leases_come_from_the_answering_nodes_share_only(guests, ns):
    got = guests[ns]
    assert got.get('server') == ('10.62.0.2' if ns in ('g62a', 'g62b') else '10.62.0.3'), got
    assert in_share(got['ip'], SHARES[got['server']]), got
    assert got['dns'] == '10.62.0.2 10.62.0.3' and got['mtu'] == '1400'


def test_no_address_is_handed_out_twice_across_nodes(guests):
    owners = {}
    for h in NODES:
        for line in guests['leases'][h].splitlines():
            mac, ip = line.split()[1:3]
            owners.setdefault(ip, set()).add(mac)
    assert len(owners) >= 5 and all(len(macs) == 1 for macs in owners.values()), owners


def test_a_clients_init_reboot_is_acked_by_its_node_and_never_naked_by_the_other(guests):
    first = [line for line in guests['dhclient-first'].splitlines() if line.startswith('DHCPACK of ')]
    again = guests['dhclient-again']
    assert first and first[-1] in again, again
    assert 'DHCPNAK' not in again and 'DHCPDISCOVER' not in again, again


# ---- 4. HA: dhcp1's dnsmasq of 62 killed; the guests renew or rebind from dhcp2 -----------------------------------
def start_client(lab, ns):
    """A udhcpc that stays (bounded: 300 s), its PID in RUN/NS.udhcpc.pid; three tries per request."""
    lab.run(COMPUTE, 'rm -f {r}/{ns}.lease {r}/{ns}.events; ip netns exec {ns} timeout 300 busybox udhcpc -f -i eth0 -t 3 -T 1 '
                     '-O mtu -s {hook} -p {r}/{ns}.udhcpc.pid </dev/null >/dev/null 2>&1 &'.format(r=RUN, ns=ns, hook=HOOK))
    return wait(lambda: record(lab, ns).get('server'))


@pytest.fixture(scope='module')
def ha(lab, guests):
    """Two clients that stay - one with web62's MAC, one without a reservation - bound while only dhcp1
    answers; then dhcp1's dnsmasq of 62 killed (by PID), both clients told to renew (SIGUSR1)."""
    add_guest(lab, '62', 'g62s', RESERVED['mac'])
    add_guest(lab, '62', 'g62y', '52:54:00:bb:62:06')
    first = serve_only(lab, 'dhcp1', '62', lambda: dict((ns, (start_client(lab, ns), record(lab, ns))) for ns in ('g62s', 'g62y')))
    killed = dnsmasq(lab, 'dhcp1', '62')
    lab.run('dhcp1', 'kill -KILL %s' % killed)
    survivor = dnsmasq(lab, 'dhcp2', '62')
    lab.run(COMPUTE, 'for ns in g62s g62y; do kill -USR1 "$(cat %s/$ns.udhcpc.pid)"; done' % RUN)
    for ns in ('g62s', 'g62y'):
        wait(lambda ns=ns: record(lab, ns).get('server') == '10.62.0.3')
    time.sleep(2)       # anything more the clients or the servers would send
    after = dict((ns, record(lab, ns)) for ns in ('g62s', 'g62y'))
    return {'first': first, 'killed': killed, 'survivor': survivor, 'after': after,
            'leases2': lab.out('dhcp2', 'cat %s/62/leases' % STATE),
            'dead': not lab.ok('dhcp1', '[ -d /proc/%s ] && ! grep -q "^State:.*Z" /proc/%s/status' % (killed, killed))}


def test_both_clients_were_bound_by_dhcp1_before_the_kill(ha):
    assert dict((ns, got[1].get('server')) for ns, got in ha['first'].items()) == {'g62s': '10.62.0.2', 'g62y': '10.62.0.2'}
    assert ha['killed'] and ha['dead']


def test_reserved_guest_renews_from_the_survivor_keeping_its_address(ha):
    got = ha['after']['g62s']
    assert (got.get('ip'), got.get('server')) == ('10.62.0.10', '10.62.0.3'), got
    assert 'renew ip=10.62.0.10 server=10.62.0.3' in got['events'] and not any(e.startswith('nak') for e in got['events'])


def test_dynamic_guest_gets_an_address_of_the_survivors_share(ha):
    got = ha['after']['g62y']
    assert got.get('server') == '10.62.0.3' and in_share(got['ip'], SHARES['10.62.0.3']), got


def test_no_nak_storm_at_most_one_nak_per_try_of_the_client(ha):
    naks = [e for e in ha['after']['g62y']['events'] if e.startswith('nak')]
    assert len(naks) <= 3, ha['after']['g62y']['events']


def test_the_survivor_hands_out_only_its_share_and_the_reservation(ha):
    for line in ha['leases2'].splitlines():
        ip = line.split()[2]
        assert ip == '10.62.0.10' or in_share(ip, SHARES['10.62.0.3']), ha['leases2']


@pytest.fixture(scope='module')
def revived(lab, runs, ha):
    run = converge(runs, lab, 'revive', nets())
    return run, dnsmasq(lab, 'dhcp1', '62'), dnsmasq(lab, 'dhcp2', '62')


def test_the_nodes_next_converge_brings_it_back_changed_only_there(revived, ha):
    run = revived[0]
    assert_run(run, hosts=HOSTS, changed=True)
    assert [h for h in HOSTS if run.stats[h]['changed']] == ['dhcp1']
    assert dict(('%s:%s' % k, a) for k, a in daemon_actions(run).items()) == {'dhcp1:dnsmasq-62': 'started'} or \
        dict(('%s:%s' % k, a) for k, a in daemon_actions(run).items()) == {'dhcp1:dnsmasq-62': 'restarted'}
    assert revived[1] not in ('', ha['killed']) and revived[2] == ha['survivor']


# ---- 5. remove, again ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def removed(lab, runs, revived):
    run = converge(runs, lab, 'absent', nets(absent))
    REMOVED.append(run.ok)
    left = on_all(lab, 'ip netns list | grep qdhcp-6; ip -br link | grep -E "^tap6"; ls -d %s/6? 2>/dev/null; true' % STATE)
    return run, left, pids(lab), converge(runs, lab, 'absent-again', nets(absent))


def test_remove_changes_the_dhcp_nodes_and_leaves_nothing_of_the_networks(removed):
    assert_run(removed[0], hosts=HOSTS, changed=True)
    assert removed[1] == dict((h, '') for h in HOSTS)
    assert not any(removed[2].values())


def test_remove_again_changes_nothing(removed):
    assert_run(removed[3], hosts=HOSTS, changed=False)
