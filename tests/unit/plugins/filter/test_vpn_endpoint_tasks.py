# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of what the vpn_endpoint role hands to the modules (plugins/filter/vpn_endpoint_tasks.py), built
from real plans of virtnet.linux.vpn_endpoint_plan."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.virtnet.linux.plugins.filter.vpn_endpoint import vpn_endpoint_plan, vpn_endpoint_servers
from ansible_collections.virtnet.linux.plugins.filter.vpn_endpoint_tasks import (
    FilterModule,
    restart_key,
    vpn_endpoint_daemons,
    vpn_endpoint_profiles,
    vpn_endpoint_host,
    vpn_endpoint_pki,
    vpn_endpoint_plumbing,
    vpn_endpoint_server_starts,
)

SITE = {'name': 'site', 'role': 'server', 'subnet': '10.8.0.0/24', 'push_routes': ['10.20.0.0/24']}
ALT = {'name': 'alt', 'role': 'server', 'port': 1195, 'subnet': '10.9.0.0/24', 'dev': 'tun-alt'}
LAN = {'name': 'lan', 'role': 'server', 'dev_type': 'tap', 'proto': 'tcp', 'port': 1196, 'subnet': '10.10.0.0/24',
       'bridge': 'br-vpn'}
LOW = {'name': 'low', 'role': 'server', 'port': 443, 'proto': 'tcp', 'subnet': '10.11.0.0/24', 'netns': 'edge'}
HOSTVARS = {'vpn1': {'ansible_host': '10.88.0.11', 'vpn_endpoint_servers': vpn_endpoint_servers([SITE, ALT, LAN], 'vpn1')},
            'vpn2': {}, 'vpn3': {}}
CLIENTS = [{'name': 'site', 'role': 'client', 'server': 'vpn1'}, {'name': 'lan', 'role': 'client', 'server': 'vpn1'},
           {'name': 'alt', 'role': 'client', 'server': 'vpn1', 'netns': 'vpnns'}]
DIR = '/etc/virtnet/vpn/instances'


def plan(instances, host='vpn1', hostvars=None):
    return vpn_endpoint_plan(instances, host, HOSTVARS if hostvars is None else hostvars)


def stat_line(path, kind='regular file', mode='755', user='root', group='root', rdev='0:0'):
    return '|'.join((path, kind, mode, user, group, rdev))


NODE_OK = dict(kind='character special file', mode='600', user='openvpn', group='openvpn', rdev='a:c8')


# ---- vpn_endpoint_host ---------------------------------------------------------------------------------
def test_host_paths_of_a_server_host():
    out = vpn_endpoint_host(plan([SITE, LAN, dict(ALT, state='absent', netns='old')]), {'host': 'vpn1'})
    assert out['paths'] == ['/usr/sbin/openvpn', '/usr/share/easy-rsa/easyrsa', '/dev/net/tun', DIR + '/site/tun',
                            DIR + '/lan/tun', '/run/netns/old', DIR + '/alt']


def test_host_paths_follow_the_settings():
    p = plan(CLIENTS, 'vpn2')
    assert vpn_endpoint_host(p, {'tun_node': 'shared', 'install_packages': False})['paths'] == []
    assert vpn_endpoint_host(p, {'tun_node': 'private'})['paths'] == [
        '/usr/sbin/openvpn', DIR + '/site/tun', DIR + '/lan/tun', DIR + '/alt/tun']
    assert vpn_endpoint_host(plan([]), {})['paths'] == []


def test_host_without_stat_output_knows_nothing_exists():
    out = vpn_endpoint_host(plan([SITE]), {'host': 'vpn1'})
    assert out['programs_missing'] == ['/usr/sbin/openvpn', '/usr/share/easy-rsa/easyrsa']
    assert out['private_node'] is True
    assert out['nodes'] == [{'name': 'site', 'conf_dir': DIR + '/site', 'path': DIR + '/site/tun', 'make': True,
                             'replace': False}]
    assert out['node_dirs'] == [{'path': DIR, 'group': 'root', 'mode': '0755'},
                                {'path': DIR + '/site', 'group': 'openvpn', 'mode': '0750'}]


def test_host_a_world_writable_dev_net_tun_is_shared():
    stat = '\n'.join([stat_line('/usr/sbin/openvpn'), stat_line('/usr/share/easy-rsa/easyrsa'),
                      stat_line('/dev/net/tun', 'character special file', '666', rdev='a:c8')])
    out = vpn_endpoint_host(plan([SITE]), {'host': 'vpn1'}, stat)
    assert (out['programs_missing'], out['private_node'], out['nodes']) == ([], False, [])
    stat = stat.replace('|666|', '|660|')
    assert vpn_endpoint_host(plan([SITE]), {'host': 'vpn1'}, stat)['private_node'] is True
    assert vpn_endpoint_host(plan([SITE]), {'host': 'vpn1', 'tun_node': 'private'}, stat.replace('|660|', '|666|'))[
        'private_node'] is True


def test_host_private_nodes_made_fixed_or_replaced():
    p = plan([SITE, ALT, LAN])
    lines = [stat_line('/dev/net/tun', 'character special file', '600', rdev='a:c8'),
             stat_line(DIR + '/site/tun', **NODE_OK),                      # as it should be
             stat_line(DIR + '/alt/tun', 'character special file', '600', 'root', 'openvpn', 'a:c8'),  # owner
             stat_line(DIR + '/lan/tun', 'regular empty file', '644')]     # not a node
    out = vpn_endpoint_host(p, {'host': 'vpn1'}, lines)
    assert [(n['name'], n['make'], n['replace']) for n in out['nodes']] == [('alt', False, False), ('lan', True, True)]
    assert [d['path'] for d in out['node_dirs']] == [DIR, DIR + '/lan']
    out = vpn_endpoint_host(p, {'host': 'vpn1', 'user': 'vpn', 'group': 'vpn'}, lines)
    assert [n['name'] for n in out['nodes']] == ['site', 'alt', 'lan']


def test_host_gone_namespaces():
    p = plan([LAN, dict(SITE, state='absent', netns='old'), dict(ALT, state='absent', netns='here')])
    out = vpn_endpoint_host(p, {'host': 'vpn1'}, [stat_line('/run/netns/here', 'regular empty file', '444')])
    assert out['netns_missing'] == ['old']


def test_host_probe_looks_at_the_daemons_accounts_then_the_paths():
    out = vpn_endpoint_host(plan([SITE]), {'host': 'vpn1', 'user': 'vpn', 'group': 'vpng'})
    assert out['probe'][:2] == ['sh', '-c'] and out['probe'][3:6] == ['sh', 'vpn', 'vpng']
    assert out['probe'][6:] == out['paths']
    assert vpn_endpoint_host(plan([]), {})['probe'] == []


@pytest.mark.parametrize('lines, group_missing, user_fix', [
    (['passwd|openvpn:x:995:995::/nonexistent:/usr/sbin/nologin', 'group|openvpn:x:995:'], False, False),
    (['group|openvpn:x:995:'], False, True),                                                   # no user
    (['passwd|openvpn:x:995:995::/nonexistent:/usr/sbin/nologin'], True, True),                # no group
    (['passwd|openvpn:x:995:100::/nonexistent:/usr/sbin/nologin', 'group|openvpn:x:995:'], False, True),  # gid
    (['passwd|openvpn:x:995:995::/home/openvpn:/usr/sbin/nologin', 'group|openvpn:x:995:'], False, True),  # home
    (['passwd|openvpn:x:995:995::/nonexistent:/bin/sh', 'group|openvpn:x:995:'], False, True),            # shell
    (None, True, True),                                                                        # not looked
])
def test_host_accounts_tasks_run_only_when_the_user_or_group_is_missing_or_differs(lines, group_missing, user_fix):
    stat = None if lines is None else lines + [stat_line('/usr/sbin/openvpn')]
    out = vpn_endpoint_host(plan([SITE]), {'host': 'vpn1'}, stat)
    assert (out['group_missing'], out['user_fix']) == (group_missing, user_fix)
    if stat:
        assert '/usr/sbin/openvpn' not in out['programs_missing']


def test_host_absent_instances_cost_a_removal_only_while_their_directory_is_there():
    p = plan([LAN, dict(SITE, state='absent'), dict(ALT, state='absent')])
    out = vpn_endpoint_host(p, {'host': 'vpn1'}, [stat_line(DIR + '/alt', 'directory', '750')])
    assert [i['name'] for i in out['dirs_left']] == ['alt']
    assert vpn_endpoint_host(p, {'host': 'vpn1'}, '')['dirs_left'] == []


def test_host_refuses_what_is_not_a_plan_or_a_setting():
    with pytest.raises(AnsibleFilterError, match='must be the plan'):
        vpn_endpoint_host([SITE], {})
    with pytest.raises(AnsibleFilterError, match=r'unknown setting\(s\) tun'):
        vpn_endpoint_host(plan([SITE]), {'tun': 'auto'})


# ---- vpn_endpoint_pki -----------------------------------------------------------------------------------
def test_pki_one_batch_per_host_that_holds_pkis():
    p = plan([SITE, LAN] + [dict(CLIENTS[1], name='x', server='vpn3')], 'vpn1', dict(HOSTVARS, vpn3={
        'vpn_endpoint_servers': vpn_endpoint_servers([dict(SITE, name='x', subnet='10.30.0.0/24', push_routes=['10.31.0.0/24'])], 'vpn3')}))
    assert vpn_endpoint_pki(p) == [
        {'host': 'vpn1', 'batch': [
            {'path': '/etc/virtnet/vpn/pki/site', 'read': ['server'], 'ca_cn': 'vpn site CA', 'servers': ['server'],
             'tls_crypt': True, 'crl': True, 'purge': True, 'clients': [], 'keep': []},
            {'path': '/etc/virtnet/vpn/pki/lan', 'read': ['server'], 'ca_cn': 'vpn lan CA', 'servers': ['server'],
             'tls_crypt': True, 'crl': True, 'purge': True, 'clients': [], 'keep': []}]},
        {'host': 'vpn3', 'batch': [{'path': '/etc/virtnet/vpn/pki/x', 'read': ['client-vpn1'], 'clients': ['client-vpn1']}]}]


def test_pki_a_client_never_makes_its_servers_ca_except_in_check_mode():
    p = plan(CLIENTS, 'vpn2')
    batch = vpn_endpoint_pki(p)[0]['batch']
    assert [sorted(e) for e in batch] == [['clients', 'path', 'read']] * 3
    assert [e['ca_cn'] for e in vpn_endpoint_pki(p, True)[0]['batch']] == ['vpn site CA', 'vpn lan CA', 'vpn alt CA']
    assert vpn_endpoint_pki(plan([dict(SITE, state='absent')])) == []


def test_pki_of_servers_or_of_clients():
    p = plan([SITE, dict(CLIENTS[1], name='x', server='vpn3')], 'vpn1', dict(HOSTVARS, vpn3={
        'vpn_endpoint_servers': vpn_endpoint_servers([dict(SITE, name='x', subnet='10.30.0.0/24', push_routes=['10.31.0.0/24'])], 'vpn3')}))
    assert [(h['host'], len(h['batch'])) for h in vpn_endpoint_pki(p, role='server')] == [('vpn1', 1)]
    assert [(h['host'], len(h['batch'])) for h in vpn_endpoint_pki(p, role='client')] == [('vpn3', 1)]
    with pytest.raises(AnsibleFilterError, match='role must be server or client'):
        vpn_endpoint_pki(p, role='peer')


# ---- vpn_endpoint_plumbing ------------------------------------------------------------------------------
def test_plumbing_of_the_present_instances():
    p = plan([SITE, LAN, dict(LAN, name='lan2', port=1197, subnet='10.12.0.0/24', dev='tap2'), dict(LOW, forward=False),
              dict(ALT, state='absent')])
    assert vpn_endpoint_plumbing(p, {}, {'user': 'vpn', 'group': 'vpn'}) == {
        'namespaces': [{'name': 'edge'}],
        'tuntaps': [
            {'name': 'vpn-site', 'mode': 'tun', 'link_state': 'up', 'forwarding': True, 'user': 'vpn', 'group': 'vpn'},
            {'name': 'vpn-lan', 'mode': 'tap', 'link_state': 'up', 'user': 'vpn', 'group': 'vpn', 'master': 'br-vpn'},
            {'name': 'tap2', 'mode': 'tap', 'link_state': 'up', 'user': 'vpn', 'group': 'vpn', 'master': 'br-vpn'},
            {'name': 'vpn-low', 'mode': 'tun', 'link_state': 'up', 'forwarding': False, 'user': 'vpn', 'group': 'vpn',
             'netns': 'edge'}],
        # the tap servers' packets come in on their bridge: it forwards, once
        'bridges': [{'name': 'br-vpn', 'netns': '', 'forwarding': True}],
        # two tap servers on one bridge: one element for the bridge (plumbing takes a link once)
        'addresses': [{'dev': 'br-vpn', 'address': ['10.10.0.1/24', '10.12.0.1/24']}]}


def test_plumbing_in_check_mode_with_a_user_that_would_be_made():
    doc = vpn_endpoint_plumbing(plan([SITE]), {}, {'user_missing': True})
    assert doc['tuntaps'] == [{'name': 'vpn-site', 'mode': 'tun', 'link_state': 'up', 'forwarding': True}]


def test_plumbing_of_the_absent_instances():
    p = plan([dict(SITE, state='absent'), dict(LAN, state='absent', netns='gone', bridge='br-x'),
              dict(LAN, name='lan3', state='absent', dev='tap3', subnet='10.13.0.0/24'),
              dict(LAN, name='lan4', state='absent', dev='tap4', subnet='10.10.0.0/24'),
              dict(ALT, state='absent', dev='vpn-new'),
              dict(LAN, name='lan5', state='absent', dev='tap5', subnet='10.15.0.0/24', netns='here'),
              {'name': 'new', 'role': 'server', 'subnet': '10.10.0.0/24', 'dev_type': 'tap', 'bridge': 'br-vpn',
               'port': 1300}])
    doc = vpn_endpoint_plumbing(p, {'netns_missing': ['gone']}, state='absent')
    assert doc == {
        # not in a namespace that is gone; not vpn-new, which the present instance uses
        'tuntaps': [{'name': 'vpn-site', 'state': 'absent'}, {'name': 'tap3', 'state': 'absent'},
                    {'name': 'tap4', 'state': 'absent'}, {'name': 'tap5', 'state': 'absent', 'netns': 'here'}],
        # not 10.10.0.1/24 on br-vpn, which the present instance puts there
        'addresses': [{'dev': 'br-vpn', 'address': ['10.13.0.1/24'], 'state': 'absent'},
                      {'dev': 'br-vpn', 'address': ['10.15.0.1/24'], 'netns': 'here', 'state': 'absent'}]}
    with pytest.raises(AnsibleFilterError, match='state must be present or absent'):
        vpn_endpoint_plumbing(p, {}, state='gone')


# ---- vpn_endpoint_daemons -------------------------------------------------------------------------------
def material(cn, tag='1'):
    return {'ca': 'CA %s\n' % tag, 'tls_crypt': 'TC %s\n' % tag,
            'certs': {cn: {'cert': 'CERT %s %s\n' % (cn, tag), 'key': 'KEY %s %s\n' % (cn, tag)}}}


def pki_result(p, tag='1'):
    """A registered loop of the pki task that read everything the plan asks."""
    out = []
    for item in vpn_endpoint_pki(p):
        out.append({'item': item, 'results': [{'name': e['path']} for e in item['batch']],
                    'material': dict((e['path'], material(e['read'][0], tag)) for e in item['batch'])})
    return {'results': out}


def plumbing_result(p, actions=None, operstate='UNKNOWN', changed_ns=()):
    entries = []
    for i in p['present']:
        name = '%s/%s' % (i['netns'], i['dev']) if i['netns'] else i['dev']
        entries.append({'name': name, 'actions': (actions or {}).get(i['name'], []),
                        'link': {'name': i['dev'], 'operstate': operstate}})
    return {'tuntaps': entries, 'namespaces': [{'name': n, 'changed': n in changed_ns} for n in changed_ns]}


def confs(p):
    return dict((i['name'], 'conf of %s\n' % i['name']) for i in p['present'])


def daemons(p, **kw):
    args = dict(confs=confs(p), pki=pki_result(p), plumbing=plumbing_result(p), starts={}, settings={})
    args.update(kw)
    return vpn_endpoint_daemons(p, **args)


def test_daemons_servers_first_with_their_files():
    p = plan([CLIENTS[0], LOW, dict(ALT, state='absent')], 'vpn2')
    low, site = daemons(p)
    assert (low['name'], site['name']) == ('vpn-low', 'vpn-site')
    assert low['netns'] == 'edge' and 'netns' not in site
    assert low['argv'] == ['/usr/sbin/openvpn', '--config', DIR + '/low/low.conf']
    assert (low['user'], low['group'], low['reload_signal'], low['state']) == ('openvpn', 'openvpn', 'HUP', 'started')
    assert low['ambient_capabilities'] == ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']    # port 443
    assert site['ambient_capabilities'] == ['CAP_NET_ADMIN']
    assert low['log_errors'] == ['Exiting due to fatal error', 'Options error']
    assert site['directories'] == [{'path': DIR + '/site', 'owner': 'root', 'group': 'openvpn', 'mode': '0750'}]
    assert [(f['path'][len(DIR):], f['content'], f['owner'], f['mode'], f['on_change'], f.get('secret', False))
            for f in site['files']] == [
        ('/site/site.conf', 'conf of site\n', 'root', '0640', 'reload', False),
        ('/site/ca.crt', 'CA 1\n', 'openvpn', '0600', 'restart', False),
        ('/site/cert.crt', 'CERT client-vpn2 1\n', 'openvpn', '0600', 'restart', False),
        ('/site/key.key', 'KEY client-vpn2 1\n', 'openvpn', '0600', 'restart', True),
        ('/site/tc.key', 'TC 1\n', 'openvpn', '0600', 'restart', True)]
    assert low['files'][2]['content'] == 'CERT server 1\n'


def test_daemons_restart_key_holds_what_is_read_only_at_start():
    p = plan([SITE])
    key = daemons(p)[0]['restart_key']
    assert key == restart_key(p['present'][0], False)
    # what a SIGHUP re-reads is not in it; what is read only at start is
    assert daemons(plan([dict(SITE, push_routes=['10.30.0.0/24'], verb=5, options=['mute 3'])]))[0]['restart_key'] == key
    for change in ({'local': '10.0.0.1'}, {'port': 1200}, {'proto': 'tcp'}, {'dev': 'tun9'}, {'netns': 'x'},
                   {'subnet': '10.50.0.0/24'}):
        assert daemons(plan([dict(SITE, **change)]))[0]['restart_key'] != key, change
    assert daemons(p, settings={'private_node': True})[0]['restart_key'] != key
    # neither the device's ifindex nor the key material (files of their own) is in it
    assert daemons(p, pki=pki_result(p, '2'))[0]['restart_key'] == key


def test_daemons_a_client_key_holds_its_servers_pid():
    p = plan(CLIENTS[:1], 'vpn2')
    assert daemons(p, starts={'vpn-site': 1})[0]['restart_key'] == daemons(p, starts={'vpn-site': 1})[0]['restart_key']
    assert daemons(p, starts={'vpn-site': 1})[0]['restart_key'] != daemons(p, starts={'vpn-site': 2})[0]['restart_key']


def test_daemons_restart_where_the_device_was_made_or_a_server_holds_no_device():
    p = plan([SITE, ALT])
    made = plumbing_result(p, actions={'alt': ['create tun tun-alt', 'set tun-alt up']})
    assert [d['state'] for d in daemons(p, plumbing=made)] == ['started', 'restarted']
    down = plumbing_result(p, operstate='DOWN')
    assert [d['state'] for d in daemons(p, plumbing=down)] == ['restarted', 'restarted']
    # a client holds its device only while connected: a DOWN one says nothing
    c = plan(CLIENTS[:1], 'vpn2')
    assert daemons(c, plumbing=plumbing_result(c, operstate='DOWN'))[0]['state'] == 'started'
    assert daemons(c, plumbing=plumbing_result(c, actions={'site': ['create tun vpn-site']}))[0]['state'] == 'restarted'


def test_daemons_take_the_material_of_several_pki_tasks():
    p = plan([SITE] + [dict(CLIENTS[1], name='x', server='vpn3')], 'vpn1', dict(HOSTVARS, vpn3={
        'vpn_endpoint_servers': vpn_endpoint_servers([dict(SITE, name='x', subnet='10.30.0.0/24', push_routes=['10.31.0.0/24'])], 'vpn3')}))
    both = pki_result(p)
    apart = [{'results': [both['results'][0]]}, {'results': [both['results'][1]]}, {'skipped': True}]
    assert daemons(p, pki=apart) == daemons(p, pki=both)


def test_daemons_need_the_key_material_outside_check_mode():
    p = plan(CLIENTS[:2], 'vpn2')
    partial = pki_result(p)
    del partial['results'][0]['material']['/etc/virtnet/vpn/pki/lan']['certs']['client-vpn2']
    with pytest.raises(AnsibleFilterError, match=r'vpn_endpoint_instances\[lan\] \(client\): the PKI task returned no '
                                                 r'certificate, key, CA and tls-crypt key for client-vpn2 from '
                                                 r'vpn1:/etc/virtnet/vpn/pki/lan'):
        daemons(p, pki=partial)
    checked = daemons(p, pki={'results': [{'failed': True, 'msg': 'no CA'}]}, settings={'check_mode': True})
    assert [f['content'] for f in checked[1]['files'][1:]] == ['', '', '', '']
    with pytest.raises(AnsibleFilterError, match='no configuration for instance site'):
        daemons(p, confs={})


def test_daemons_in_check_mode_wait_for_their_user_and_namespace():
    p = plan([SITE, LOW])
    assert daemons(p, settings={'check_mode': True, 'user_missing': True}) == []
    pending = plumbing_result(p, changed_ns=['edge'])
    assert [d['name'] for d in daemons(p, plumbing=pending, settings={'check_mode': True})] == ['vpn-site']
    assert [d['name'] for d in daemons(p, plumbing=pending)] == ['vpn-site', 'vpn-low']


def test_daemons_only_some_and_not_secret():
    p = plan(CLIENTS, 'vpn2')
    assert [d['name'] for d in daemons(p, only=['alt'])] == ['vpn-alt']
    assert [d['name'] for d in daemons(p, skip=['alt'])] == ['vpn-site', 'vpn-lan']
    assert not any(f.get('secret') for f in daemons(p, settings={'secret': False})[0]['files'])


# ---- vpn_endpoint_server_starts -------------------------------------------------------------------------
def test_server_starts_from_the_server_hosts_registered_daemons():
    registered = {'results': [{'name': 'vpn-site', 'action': 'restarted', 'pid': 42, 'starts': 3},
                              {'name': 'vpn-lan', 'action': 'none', 'pid': 43, 'starts': 1}]}
    hostvars = {'vpn1': {'__vpn_endpoint_daemons': registered}, 'vpn3': {'__vpn_endpoint_daemons': {'skipped': True}}}
    raw = CLIENTS + [{'name': 'x', 'role': 'client', 'server': 'vpn3'}, {'name': 'y', 'role': 'client', 'server': 'vpn9'},
                     dict(CLIENTS[0], name='old', state='absent'), SITE, 'junk']
    assert vpn_endpoint_server_starts(raw, hostvars) == {'vpn-site': 3, 'vpn-lan': 1}
    planned = plan(CLIENTS, 'vpn2')['clients']
    assert vpn_endpoint_server_starts(planned, hostvars) == {'vpn-site': 3, 'vpn-lan': 1}
    assert vpn_endpoint_server_starts(raw, hostvars, prefix='ovpn-') == {}
    assert vpn_endpoint_server_starts(None, hostvars) == {} and vpn_endpoint_server_starts(raw, None) == {}


def test_a_servers_new_pid_alone_does_not_change_its_clients_restart_key():
    """A reboot (a boot restore, systemd's own restart) gives the server another PID, not another count."""
    p = plan(CLIENTS, 'vpn2')
    before = {'results': [{'name': 'vpn-site', 'pid': 42, 'starts': 3}]}
    after = {'results': [{'name': 'vpn-site', 'pid': 4242, 'starts': 3}]}
    keys = [daemons(p, starts=vpn_endpoint_server_starts(CLIENTS, {'vpn1': {'__vpn_endpoint_daemons': r}}))[0]['restart_key']
            for r in (before, after)]
    assert keys[0] == keys[1]


def test_filters():
    assert set(FilterModule().filters()) == {'vpn_endpoint_host', 'vpn_endpoint_pki', 'vpn_endpoint_plumbing',
                                             'vpn_endpoint_daemons', 'vpn_endpoint_server_starts', 'vpn_endpoint_profiles',
                                             'vpn_endpoint_wireguard_keys', 'vpn_endpoint_wireguard_todo',
                                             'vpn_endpoint_wireguard_exports'}


# ---- the life cycle (issue 24) ---------------------------------------------------------------------------
def lifecycle_plan(export=(), claimed=('client-vpn2',)):

    site = {'name': 'site', 'role': 'server', 'subnet': '10.8.0.0/24', 'export': list(export)}
    hostvars = {'vpn1': {'ansible_host': '10.88.0.11'}}
    for cn in claimed:
        hostvars[cn[len('client-'):]] = {'vpn_endpoint_instances': [{'name': 'site', 'role': 'client', 'server': 'vpn1'}]}
    return vpn_endpoint_plan([site, {'name': 'old', 'role': 'server', 'state': 'absent'}], 'vpn1', hostvars)


def test_server_pki_purges_what_the_inventory_and_exports_do_not_claim():
    out = vpn_endpoint_pki(lifecycle_plan(export=['laptop1']), role='server')
    assert out == [{'host': 'vpn1', 'batch': [{
        'path': '/etc/virtnet/vpn/pki/site', 'read': ['server', 'client-laptop1'], 'ca_cn': 'vpn site CA',
        'servers': ['server'], 'tls_crypt': True, 'crl': True, 'purge': True, 'clients': ['client-laptop1'],
        'keep': ['client-vpn2']}]}]


def test_server_pki_without_claims_refuses_to_purge():
    plan = dict(lifecycle_plan())
    plan['claimed'] = {}
    with pytest.raises(AnsibleFilterError, match='no claimed certificates of server instance site'):
        vpn_endpoint_pki(plan, role='server')


MATERIAL = {'ca': 'x\n-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n', 'tls_crypt': 'TC\n', 'crl': 'CRL\n',
            'certs': {'client-laptop1': {'cert': 'Certificate:\n  text\n-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n',
                                         'key': 'K\n'}}}


def registered(material):
    return {'results': [{'item': {'host': 'vpn1'}, 'material': {'/etc/virtnet/vpn/pki/site': material}}]}


def test_profiles_inline_the_material_and_connect_to_the_server():
    out = vpn_endpoint_profiles(lifecycle_plan(export=['laptop1']), registered(MATERIAL),
                                {'export_dir': '/out', 'remote': '10.88.0.11'})
    assert out['dirs'] == ['/out/site', '/out/old']
    (f,) = out['files']
    assert (f['path'], f['instance'], f['name']) == ('/out/site/laptop1.ovpn', 'site', 'laptop1')
    text = f['content']
    assert 'client\ndev tun\nproto udp\nremote 10.88.0.11 1194\n' in text
    assert '<ca>\n-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n</ca>\n' in text
    assert '<cert>\n-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n</cert>\n' in text   # no text dump
    assert text.endswith('<key>\nK\n</key>\n<tls-crypt>\nTC\n</tls-crypt>\n')


def test_profile_without_material_is_none_check_mode():
    out = vpn_endpoint_profiles(lifecycle_plan(export=['laptop1']), registered({'ca': None, 'certs': {}}),
                                {'export_dir': '/out', 'remote': 'vpn1'})
    assert out['files'][0]['content'] is None


def test_server_daemon_owns_its_crl_without_acting_on_a_change():
    plan = lifecycle_plan()
    pki = registered(dict(MATERIAL, certs={'server': {'cert': 'S', 'key': 'K'}}))
    (daemon,) = vpn_endpoint_daemons(plan, {'site': 'conf'}, pki)
    crl = [f for f in daemon['files'] if f['path'].endswith('/crl.pem')]
    assert crl == [{'owner': 'openvpn', 'group': 'openvpn', 'mode': '0600', 'on_change': 'none',
                    'path': '/etc/virtnet/vpn/instances/site/crl.pem', 'content': 'CRL\n'}]


# ---- routing (issue 25) ---------------------------------------------------------------------------------
ROUTED = {'vpn1': {'ansible_host': '10.88.0.11', 'vpn_endpoint_instances': [SITE]},
          'vpn2': {'vpn_endpoint_instances': [dict(CLIENTS[0], address='10.8.0.50', networks=['10.30.0.0/24'])]},
          'vpn3': {'vpn_endpoint_instances': [CLIENTS[0]]}}


def test_daemons_a_server_owns_its_clients_ccd_files():
    site, = daemons(plan([SITE], 'vpn1', ROUTED))
    assert site['directories'][1] == {'path': DIR + '/site/ccd', 'owner': 'root', 'group': 'openvpn', 'mode': '0750'}
    ccd = [f for f in site['files'] if '/ccd/' in f['path']]
    assert [(f['path'], f['on_change'], f['mode']) for f in ccd] == [
        (DIR + '/site/ccd/client-vpn2', 'none', '0640'), (DIR + '/site/ccd/client-vpn3', 'none', '0640')]
    assert ccd[0]['content'].splitlines()[1:] == [
        'ifconfig-push 10.8.0.50 255.255.255.0', 'iroute 10.30.0.0 255.255.255.0',
        'push-remove "route 10.30.0.0 255.255.255.0"']
    assert ccd[1]['content'].splitlines()[1:] == []
    # without fixed addresses or networks: no ccd at all (the configuration stays as it was)
    assert len(daemons(plan([SITE]))[0]['directories']) == 1


def test_daemons_a_clients_address_and_networks_restart_it_only_when_set():
    routed_client = plan(ROUTED['vpn2']['vpn_endpoint_instances'], 'vpn2', ROUTED)
    plain_client = plan([CLIENTS[0]], 'vpn2', ROUTED)
    before = plan([CLIENTS[0]], 'vpn2')['present'][0]     # the key of a client without them stays as it was
    assert restart_key(plain_client['present'][0], False, 1) == restart_key(before, False, 1)
    assert restart_key(routed_client['present'][0], False, 1) != restart_key(plain_client['present'][0], False, 1)


def test_plumbing_a_client_with_networks_forwards_on_its_tun():
    doc = vpn_endpoint_plumbing(plan(ROUTED['vpn2']['vpn_endpoint_instances'], 'vpn2', ROUTED), {}, {})
    assert doc['tuntaps'][0]['forwarding'] is True
    doc = vpn_endpoint_plumbing(plan([CLIENTS[0]], 'vpn3', ROUTED), {}, {})
    assert 'forwarding' not in doc['tuntaps'][0] and doc['bridges'] == []
