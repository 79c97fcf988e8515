# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the vpn_endpoint role's tasks hand to the collection's modules, built from its plan in one call each
(documented in vpn_endpoint_host.yml, vpn_endpoint_pki.yml, vpn_endpoint_plumbing.yml,
vpn_endpoint_daemons.yml and vpn_endpoint_server_starts.yml):

  vpn_endpoint_host         the paths the role looks at on the host (one stat), and what they tell: missing
                            programs, the tun node the daemons open, private nodes to make, namespaces of
                            absent instances that are gone
  vpn_endpoint_pki          one virtnet.linux.pki batch per host that holds a PKI this host needs
  vpn_endpoint_plumbing     the virtnet.linux.plumbing document of the present (or the absent) instances
  vpn_endpoint_daemons      the virtnet.linux.daemon batch: every present instance, servers first, with its
                            files, its restart key and whether its device was made anew
  vpn_endpoint_server_starts  the start counts of the clients' server daemons, as their hosts' runs reported them
  vpn_endpoint_profiles     the single-file client profiles of the server instances' export names (on the
                            controller) and the directories they live in
  vpn_endpoint_wireguard_exports  the key pairs of the WireGuard servers' export names, from the task that makes
                            and reads them on the server's host

The plan (virtnet.linux.vpn_endpoint_plan) has checked everything; these functions only reshape it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

#: the instance keys whose change restarts a daemon (OpenVPN reads them only at start); the rest of its
#: configuration file (push_routes, keepalive, data_ciphers, verb, options) is re-read on SIGHUP, and the
#: certificates and keys are files of their own (restart class)
RESTART_KEYS = ('name', 'role', 'dev', 'dev_type', 'proto', 'port', 'subnet', 'server', 'remote', 'local', 'netns',
                'bridge', 'conf')
#: a client's keys that its server reads per connection (its ccd file): a change restarts the client
CLIENT_RESTART_KEYS = ('fixed_address', 'networks')
#: lines OpenVPN logs when it did not take what it was given (it exits after them)
LOG_ERRORS = ['Exiting due to fatal error', 'Options error']
NODE = 'character special file'
NODE_RDEV = 'a:c8'         # 10:200, /dev/net/tun's numbers (stat's %t:%T, hexadecimal)
HOST_SETTINGS = {'host': '', 'tun_node': 'auto', 'install_packages': True, 'openvpn': '/usr/sbin/openvpn',
                 'easyrsa': '/usr/share/easy-rsa/easyrsa', 'user': 'openvpn', 'group': 'openvpn',
                 'wireguard_go': '/usr/bin/wireguard-go', 'wg': '/usr/bin/wg'}
DAEMON_SETTINGS = {'user': 'openvpn', 'group': 'openvpn', 'openvpn': '/usr/sbin/openvpn', 'private_node': False,
                   'check_mode': False, 'user_missing': False, 'secret': True, 'log_errors': LOG_ERRORS,
                   'wireguard_script': '', 'wireguard_keys': {}, 'wireguard_exports': {}, 'host': '', 'boot': False}
#: what the WireGuard wrapper (the role's templates/wireguard-go.sh) logs when wg did not take the configuration
WIREGUARD_LOG_ERRORS = ['wg syncconf failed', 'did not open its UAPI socket']
#: a WireGuard instance's private key (made on its host, never read by Ansible: only its public key travels)
WIREGUARD_KEY = 'private.key'
WIREGUARD_SCRIPT = 'wireguard-go.sh'
WIREGUARD_UAPI_DIR = '/run/wireguard'     # /var/run/wireguard
#: the key pairs of a WireGuard server's export names, on its host: INSTANCE_DIR/export/NAME.key (0600 root)
WIREGUARD_EXPORT_DIR = 'export'


def _settings(settings, defaults, what):
    settings = settings or {}
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('%s: settings must be a mapping, not %s' % (what, type(settings).__name__))
    unknown = sorted(str(k) for k in set(settings) - set(defaults))
    if unknown:
        raise AnsibleFilterError('%s: unknown setting(s) %s (known: %s)'
                                 % (what, ', '.join(unknown), ', '.join(sorted(defaults))))
    return dict(defaults, **settings)


def _plan(plan, what):
    if not isinstance(plan, Mapping) or not all(k in plan for k in ('present', 'absent', 'servers', 'clients')):
        raise AnsibleFilterError('%s: the input must be the plan of virtnet.linux.vpn_endpoint_plan' % what)
    return plan


def _unique(values):
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _link(inst):
    """The name virtnet.linux.plumbing gives an instance's device in its results (NETNS/DEV or DEV)."""
    return '%s/%s' % (inst['netns'], inst['dev']) if inst['netns'] else inst['dev']


def _cidr(inst):
    return '%s/%s' % (inst['address'], inst['prefix'])


def _node(inst):
    return inst['conf_dir'] + '/tun'


# --------------------------------------------------------------------------- the host

# The look at the host: the daemons' user and group as the account database has them, then one stat of the paths
# and the public keys of its WireGuard instances (arguments wg=NAME=PRIVATE-KEY-PATH before the paths; wg pubkey
# reads the private key on the host, only the public key is printed)
PROBE = ('u=$1 g=$2; shift 2; getent passwd "$u" | sed "s/^/passwd|/"; getent group "$g" | sed "s/^/group|/"; '
         'while [ $# -gt 0 ]; do case $1 in wg=*) a=${1#wg=}; p=$(wg pubkey < "${a#*=}" 2>/dev/null) && '
         'printf "wgpub|%s|%s\\n" "${a%%=*}" "$p"; shift;; *) break;; esac; done; '
         '[ $# -eq 0 ] || exec stat --dereference --format="%n|%F|%a|%U|%G|%t:%T" -- "$@"')
ACCOUNT = {'home': '/nonexistent', 'shell': '/usr/sbin/nologin'}     # setup.yml's user task makes it so


def _lines(output):
    if output is None:
        return []
    return output.splitlines() if isinstance(output, str) else [str(x) for x in output]


def _stat(output):
    """{path: {type, mode, user, group, rdev}} of stat -c '%n|%F|%a|%U|%G|%t:%T' output (a text or lines)."""
    out = {}
    for line in _lines(output):
        if line.startswith(('passwd|', 'group|', 'wgpub|')):
            continue
        parts = str(line).rsplit('|', 5)
        if len(parts) == 6:
            out[parts[0]] = dict(zip(('type', 'mode', 'user', 'group', 'rdev'), parts[1:]))
    return out


def _accounts(output, user, group):
    """(group missing, user missing or not as setup.yml makes it) from the probe's getent lines; both True
    when the probe did not run."""
    passwd = grp = None
    for line in _lines(output):
        kind, _sep, entry = line.partition('|')
        fields = entry.split(':')
        if kind == 'passwd' and len(fields) == 7 and fields[0] == user:
            passwd = fields
        elif kind == 'group' and len(fields) >= 3 and fields[0] == group:
            grp = fields
    user_fix = passwd is None or grp is None or passwd[3] != grp[2] or passwd[5] != ACCOUNT['home'] \
        or passwd[6] != ACCOUNT['shell']
    return grp is None, user_fix


def vpn_endpoint_host(plan, settings=None, stat=None):
    """The paths the role looks at (RV paths, for one stat) and, from their stat output, what they tell.
    (The bridges tap instances join are looked for with virtnet.linux.link_info: /sys/class/net shows the
    namespace sysfs was mounted in, which on a systemd-nspawn host is not the host's own.)"""
    plan = _plan(plan, 'vpn_endpoint_host')
    s = _settings(settings, HOST_SETTINGS, 'vpn_endpoint_host')
    present, absent = plan['present'], plan['absent']
    openvpn = [i for i in present if i.get('type', 'openvpn') == 'openvpn']
    wireguard = [i for i in present if i.get('type') == 'wireguard']
    programs = (([s['openvpn']] if openvpn else []) + ([s['easyrsa']] if [i for i in openvpn if i['role'] == 'server']
                                                       else []) + ([s['wireguard_go'], s['wg']] if wireguard else [])) \
        if present and s['install_packages'] else []
    keys = [_wg_key(i) for i in wireguard]
    exporting = [i for i in wireguard if i['role'] == 'server']
    tun = ['/dev/net/tun'] if present and s['tun_node'] == 'auto' else []
    nodes = [_node(i) for i in present] if s['tun_node'] != 'shared' else []
    netns = _unique('/run/netns/' + i['netns'] for i in absent if i['netns'])
    gone_dirs = _unique(i['conf_dir'] for i in absent)
    found = _stat(stat)
    out = {
        'paths': _unique(programs + tun + nodes + keys + [_wg_export_dir(i) for i in exporting] + netns + gone_dirs),
        'programs_missing': [p for p in programs if p not in found],
        'netns_missing': [p[len('/run/netns/'):] for p in netns if p not in found],
        # an absent instance's directory costs a task only while it is there: a converged run does not
        # grow with the absent instances left in the list
        'dirs_left': [i for i in absent if i['conf_dir'] in found],
    }
    # the daemons' group and user: their tasks run only when one is missing or not as they make it
    out['probe'] = ['sh', '-c', PROBE, 'sh', s['user'], s['group']] + ['wg=%s=%s' % (i['name'], _wg_key(i))
                                                                       for i in wireguard] \
        + out['paths'] if present or out['paths'] else []
    # WireGuard: the public keys the probe read; the instances whose private key is to be made (check: made
    # would be) and those whose key file has another owner or mode than the daemons' user and 0600
    public = _wg_public(stat)
    out['wg_public'] = dict((i['name'], public[i['name']]) for i in wireguard if i['name'] in public)
    out['wg_keys_missing'] = [i['name'] for i in wireguard if i['name'] not in public]
    out['wg_keys_fix'] = []
    for inst in wireguard:
        st = found.get(_wg_key(inst))
        if inst['name'] in public and st is not None and (st['mode'], st['user'], st['group']) != ('600', s['user'], s['group']):
            out['wg_keys_fix'].append({'name': inst['name'], 'conf_dir': inst['conf_dir'], 'path': _wg_key(inst),
                                       'make': False, 'replace': False})
    # the WireGuard servers whose export names' key pairs the export task makes and reads (those with names), or
    # removes (a directory left by names all dropped)
    out['wg_export'] = [{'name': i['name'], 'dir': _wg_export_dir(i), 'names': list(i.get('export') or [])}
                        for i in exporting if i.get('export') or _wg_export_dir(i) in found]
    out['group_missing'], out['user_fix'] = _accounts(stat, s['user'], s['group'])
    # Debian's udev makes /dev/net/tun 0666; where it is not (no udev, some containers) each instance gets
    # its own node 10:200 in its directory, 0600 for the daemons' user (OpenVPN's dev-node)
    dev_tun = found.get('/dev/net/tun')
    shared_ok = dev_tun is not None and int(dev_tun['mode'] or '0', 8) & 0o006 == 0o006
    out['private_node'] = bool(present) and (s['tun_node'] == 'private' or (s['tun_node'] == 'auto' and not shared_ok))
    out['nodes'], out['node_dirs'] = [], []
    if out['private_node']:
        for inst in present:
            st = found.get(_node(inst))
            if st is None or st['type'] != NODE or st['rdev'] != NODE_RDEV:
                out['nodes'].append({'name': inst['name'], 'conf_dir': inst['conf_dir'], 'path': _node(inst),
                                     'make': True, 'replace': st is not None})
            elif (st['mode'], st['user'], st['group']) != ('600', s['user'], s['group']):
                out['nodes'].append({'name': inst['name'], 'conf_dir': inst['conf_dir'], 'path': _node(inst),
                                     'make': False, 'replace': False})
    # the directories of the nodes to make, their parent first (0755 root, as are the directories above it)
    made = [n['conf_dir'] for n in out['nodes'] if n['make']]
    out['node_dirs'] = [{'path': p, 'group': 'root', 'mode': '0755'} for p in _unique(posixpath.dirname(d) for d in made)] \
        + [{'path': d, 'group': s['group'], 'mode': '0750'} for d in made]
    return out


def _wg_key(inst):
    return '%s/%s' % (inst['conf_dir'], WIREGUARD_KEY)


def _wg_export_dir(inst):
    return '%s/%s' % (inst['conf_dir'], WIREGUARD_EXPORT_DIR)


def vpn_endpoint_wireguard_exports(result, private=False):
    """{instance: {name: {public}}} of the registered export task (its lines key|INSTANCE|NAME|PRIVATE|PUBLIC; in
    check mode a key that would be made is not there): what the server's configuration is made of; with `private`
    the private key too ({private, public}: what the profiles on the controller are made of - never a module's
    argument)."""
    out = {}
    results = (result or {}).get('results') if isinstance(result, Mapping) else None
    for r in results or []:
        if not isinstance(r, Mapping) or r.get('failed') or r.get('skipped'):
            continue
        for line in _lines(r.get('stdout')):
            parts = line.split('|')
            if len(parts) == 5 and parts[0] == 'key':
                pair = {'private': parts[3], 'public': parts[4]} if private else {'public': parts[4]}
                out.setdefault(parts[1], {})[parts[2]] = pair
    return out


def _wg_public(output):
    """{instance: public key} of the probe's (or the key task's) wgpub lines."""
    out = {}
    for line in _lines(output):
        parts = line.split('|')
        if len(parts) == 3 and parts[0] in ('wgpub', 'made'):
            out[parts[1]] = parts[2]
    return out


def vpn_endpoint_wireguard_keys(hostvars, host=None):
    """{host: {instance: public key}} of every WireGuard instance whose public key a run of the role in this
    playbook run has seen: each host's look at itself (its registered probe) and every key task's results (a
    host's own keys and those it made or read on peer hosts by delegation, by the item's host). With `host`,
    only that host's."""
    out = {}
    if hostvars is None:
        return out
    hosts = [host] if host is not None else list(hostvars)
    for h in list(hostvars):
        try:
            hv = hostvars[h]
            probe = hv.get('__vpn_endpoint_probe')
            made = hv.get('__vpn_endpoint_wg_made')
        except Exception:  # pylint: disable=broad-exception-caught
            continue
        if isinstance(probe, Mapping) and h in hosts:
            out.setdefault(str(h), {}).update(_wg_public(probe.get('stdout')))
        for r in (made.get('results') or []) if isinstance(made, Mapping) else []:
            if isinstance(r, Mapping) and not r.get('failed') and not r.get('skipped'):
                target = str((r.get('item') or {}).get('host'))
                if target in hosts:
                    out.setdefault(target, {}).update(_wg_public(r.get('stdout')))
    return out


def vpn_endpoint_wireguard_todo(plan, host, host_result, keys, play_hosts):
    """[{host, paths: [NAME=PATH]}]: the WireGuard keys to make (where missing) and read, per host - this host's own
    that its look did not find, and those of the peers of its instances (a server's clients, a client's server)
    whose hosts are not in this play and whose keys no run of the role has seen in this playbook run (a server
    play before the clients' play makes and reads the clients' keys on their hosts; only public keys come back)."""
    plan = _plan(plan, 'vpn_endpoint_wireguard_todo')
    keys = keys or {}
    play = set(str(h) for h in play_hosts or [])
    todo = {}
    missing = set((host_result or {}).get('wg_keys_missing') or [])
    for inst in plan['present']:
        if inst.get('type') != 'wireguard':
            continue
        if inst['name'] in missing:
            todo.setdefault(str(host), []).append('%s=%s' % (inst['name'], _wg_key(inst)))
        peers = [c['host'] for c in inst.get('clients') or []] if inst['role'] == 'server' else [inst['server']]
        for peer in peers:
            if peer not in play and inst['name'] not in keys.get(peer, {}):
                entry = '%s=%s' % (inst['name'], _wg_key(inst))
                if entry not in todo.get(peer, []):
                    todo.setdefault(peer, []).append(entry)
    return [{'host': h, 'paths': k} for h, k in todo.items()]


# --------------------------------------------------------------------------- the PKIs

def _ca_cn(name):
    return 'vpn %s CA' % name


def vpn_endpoint_pki(plan, check_mode=False, role=None):
    """[{host, batch}]: per host that holds a PKI this host's present instances need (this host for its
    servers), the virtnet.linux.pki batch that issues what is missing and reads it all; role server or
    client: only those instances' PKIs. A server instance's PKI is made on its own host (CA, server
    certificate, tls-crypt key, CRL) with the certificates of its export names; every other client
    certificate that its inventory clients (the plan's `claimed`) do not hold is revoked (purge). A client's
    certificate is issued in its server instance's PKI, which the client never makes (no ca_cn) - except
    in check mode, where a server's PKI that its host's run would make is predicted rather than refused."""
    plan = _plan(plan, 'vpn_endpoint_pki')
    claimed = plan.get('claimed')
    if role not in (None, 'server', 'client'):
        raise AnsibleFilterError('vpn_endpoint_pki: role must be server or client, not %s' % role)
    hosts = {}
    for inst in plan['present']:
        if (role is not None and inst['role'] != role) or inst.get('type') == 'wireguard':
            continue
        element = {'path': inst['pki'], 'read': [inst['cn']]}
        if inst['role'] == 'server':
            if not isinstance(claimed, Mapping) or inst['name'] not in claimed:
                # never purge without knowing what the inventory claims
                raise AnsibleFilterError('vpn_endpoint_pki: the plan has no claimed certificates of server instance %s'
                                         % inst['name'])
            exported = [_export_cn(name) for name in inst.get('export') or []]
            element.update(ca_cn=_ca_cn(inst['name']), servers=[inst['cn']], tls_crypt=True, crl=True, purge=True,
                           clients=exported, keep=list(claimed[inst['name']]), read=[inst['cn']] + exported)
        else:
            element['clients'] = [inst['cn']]
            if check_mode:
                element['ca_cn'] = _ca_cn(inst['name'])
        hosts.setdefault(inst['keyhost'], []).append(element)
    return [{'host': host, 'batch': batch} for host, batch in hosts.items()]


def _export_cn(name):
    """The certificate name of an export name (client-NAME, as a client host's is client-HOST)."""
    return 'client-' + re.sub(r'[^A-Za-z0-9_.-]', '_', str(name))


def _material(pki):
    """{(host, normalised PKI path): material} of the registered loops of the role's pki tasks (one, or a list;
    a batch returns its material by path, apart from its results)."""
    out = {}
    loops = pki if isinstance(pki, Sequence) and not isinstance(pki, (str, bytes)) else [pki]
    item_results = [r for loop in loops if isinstance(loop, Mapping) for r in loop.get('results') or []]
    for item_result in item_results:
        if not isinstance(item_result, Mapping) or item_result.get('failed') or item_result.get('skipped'):
            continue
        host = (item_result.get('item') or {}).get('host')
        material = item_result.get('material')
        for path, got in (material.items() if isinstance(material, Mapping) else ()):
            out[(host, posixpath.normpath(path))] = got or {}
    return out


# --------------------------------------------------------------------------- the plumbing

def vpn_endpoint_plumbing(plan, host=None, settings=None, state='present'):
    """The virtnet.linux.plumbing document: with state present, the instances' namespaces, their devices
    (owned by the daemons' user, a tap joined to its bridge) and the tap servers' tunnel addresses on their
    bridges; with state absent, the devices and bridge addresses of the absent instances to delete - not in
    a namespace that is gone (host: vpn_endpoint_host's result), not what a present instance uses."""
    plan = _plan(plan, 'vpn_endpoint_plumbing')
    s = _settings(settings, {'user': 'openvpn', 'group': 'openvpn', 'user_missing': False}, 'vpn_endpoint_plumbing')
    present = plan['present']
    used_links = set((i['netns'], i['dev']) for i in present)
    used_addresses = set((i['netns'], i['bridge'], _cidr(i)) for i in plan['servers'] if i['bridge'] and 'address' in i)
    addresses = {}
    if state == 'present':
        doc = {'namespaces': [{'name': ns} for ns in _unique(i['netns'] for i in present if i['netns'])],
               'tuntaps': [], 'addresses': [], 'routes': []}
        for inst in present:
            tuntap = {'name': inst['dev'], 'mode': inst['dev_type'], 'link_state': 'up'}
            # in check mode a user that the run would make does not exist yet: the device is predicted without
            if not s['user_missing']:
                tuntap.update(user=s['user'], group=s['group'])
            if inst['netns']:
                tuntap['netns'] = inst['netns']
            if inst.get('type') == 'wireguard':
                # wireguard-go opens its tun without IFF_NO_PI (and rewrites the flags): pi, or every converge
                # would see a flags change on a device a process holds
                tuntap['pi'] = True
                _wireguard_plumbing(doc, inst)
            if inst['bridge']:
                tuntap['master'] = inst['bridge']
            elif inst['role'] == 'server' or inst.get('forward'):
                # a tun forwards what comes in on it: a server's (forward), a client's with networks behind it
                tuntap['forwarding'] = bool(inst.get('forward'))
            doc['tuntaps'].append(tuntap)
        for inst in plan['servers']:
            if inst['bridge'] and 'address' in inst:
                addresses.setdefault((inst['netns'], inst['bridge']), []).append(_cidr(inst))
        # a tap server's packets come in on its bridge (the tap is a port): the bridge forwards (and keeps
        # forwarding when the instance goes: the bridge is not the role's, it may route for more)
        doc['bridges'] = [{'name': b, 'netns': ns, 'forwarding': True} for ns, b in
                          _unique((i['netns'], i['bridge']) for i in plan['servers'] if i['bridge'] and i.get('forward'))]
    elif state == 'absent':
        gone = set((host or {}).get('netns_missing') or [])
        doc = {'tuntaps': [], 'addresses': [], 'routes': []}
        for inst in plan['absent']:
            if inst['netns'] in gone:
                continue
            if (inst['netns'], inst['dev']) not in used_links:
                doc['tuntaps'].append(dict({'name': inst['dev'], 'state': 'absent'},
                                           **({'netns': inst['netns']} if inst['netns'] else {})))
            if inst['role'] == 'server' and inst['bridge'] and 'address' in inst \
                    and (inst['netns'], inst['bridge'], _cidr(inst)) not in used_addresses:
                addresses.setdefault((inst['netns'], inst['bridge']), []).append(_cidr(inst))
    else:
        raise AnsibleFilterError('vpn_endpoint_plumbing: state must be present or absent, not %s' % state)
    if not doc['routes']:
        del doc['routes']       # (only WireGuard instances have routes set by the role: the device task defaults it)
    for (netns, dev), cidrs in addresses.items():
        element = {'dev': dev, 'address': _unique(cidrs)}
        if netns:
            element['netns'] = netns
        if state == 'absent':
            element['state'] = 'absent'
        doc['addresses'].append(element)
    return doc


def _in_netns(element, inst):
    if inst['netns']:
        element['netns'] = inst['netns']
    return element


def _wireguard_routed(inst):
    """The networks a WireGuard instance routes into its tun (beside the subnet, the address's prefix route): a
    server its clients' networks; a client what its server pushes (push_routes) and the other clients' networks."""
    if inst['role'] == 'server':
        return [n for c in inst.get('clients') or [] for n in c['networks']]
    return list(inst.get('push_routes') or []) + list(inst.get('peer_networks') or [])


def _wireguard_address(inst):
    return inst['address'] if inst['role'] == 'server' else inst.get('tunnel_address') or ''


def _wireguard_plumbing(doc, inst):
    """A WireGuard instance's tunnel address (exactly that one: purge) and its routes, set by the collection -
    wireguard-go sets none - so that a converge repairs them."""
    doc['addresses'].append(_in_netns({'dev': inst['dev'], 'address': ['%s/%s' % (_wireguard_address(inst),
                                                                                  inst['prefix'])], 'purge': True}, inst))
    for net in _wireguard_routed(inst):
        doc['routes'].append(_in_netns({'dst': net['cidr'], 'dev': inst['dev']}, inst))


def wireguard_conf(inst, keys, exports=None):
    """The wg(8) configuration of a WireGuard instance (for wg syncconf) without its private key (which never
    leaves its host: the wrapper adds it there): the listen port, one peer per client of a server (AllowedIPs its
    tunnel address and its networks), the server for a client (AllowedIPs the subnet - the server's address
    alone without client_to_client -, push_routes and the other clients' networks; Endpoint, PersistentKeepalive).
    keys: {host: {instance: public key}}; exports: {export name: {public}} of the instance's export names (a peer
    each, AllowedIPs its tunnel address); a peer whose key is not known yet (check mode) is left out."""
    lines = ['# WireGuard %s of instance %s, made by virtnet.linux.vpn_endpoint; changes are overwritten.'
             % (inst['role'], inst['name']), '[Interface]']
    if inst['role'] == 'server':
        lines.append('ListenPort = %s' % inst['port'])
        for c in inst.get('clients') or []:
            key = (keys.get(c['host']) or {}).get(inst['name'])
            if not key:
                continue
            allowed = ['%s/32' % c['tunnel_address']] + [n['cidr'] for n in c['networks']]
            lines += ['', '# client on %s' % c['host'], '[Peer]', 'PublicKey = %s' % key,
                      'AllowedIPs = %s' % ', '.join(allowed)]
        for peer in inst.get('export_peers') or []:
            key = ((exports or {}).get(peer['name']) or {}).get('public')
            if key:
                lines += ['', '# export name %s' % peer['name'], '[Peer]', 'PublicKey = %s' % key,
                          'AllowedIPs = %s/32' % peer['tunnel_address']]
    else:
        key = (keys.get(inst['server']) or {}).get(inst['name'])
        if key:
            allowed = _wireguard_allowed(inst, _wireguard_routed(inst))
            lines += ['', '# server on %s' % inst['server'], '[Peer]', 'PublicKey = %s' % key,
                      'AllowedIPs = %s' % ', '.join(allowed), 'Endpoint = %s:%s' % (inst['remote'], inst['port']),
                      'PersistentKeepalive = %s' % inst['keepalive'][0]]
    return '\n'.join(lines) + '\n'


def _wireguard_allowed(inst, routed):
    """What a client sends into its tunnel to the server: the subnet with client_to_client (the server's address
    alone without), and the networks `routed`."""
    first = '%s/%s' % (inst['network'], inst['prefix']) if inst.get('client_to_client') else '%s/32' % inst['address']
    return [first] + [n['cidr'] for n in routed]


# --------------------------------------------------------------------------- the daemons

def _made(plumbing):
    """{plumbing's device name: (made by this run, a process has it open)} of the registered plumbing task.
    A tun/tap has carrier - operstate not DOWN - exactly while a process has it attached."""
    out = {}
    if not isinstance(plumbing, Mapping):
        return out
    for entry in plumbing.get('tuntaps') or []:
        if isinstance(entry, Mapping) and entry.get('name'):
            made = any(str(a).startswith('create ') for a in entry.get('actions') or [])
            link = entry.get('link') or {}
            out[entry['name']] = (made, link.get('operstate') != 'DOWN')
    return out


def _pending_namespaces(plumbing):
    """The namespaces the registered plumbing task would make (check mode) or made."""
    if not isinstance(plumbing, Mapping):
        return set()
    return set(e.get('name') for e in plumbing.get('namespaces') or [] if isinstance(e, Mapping) and e.get('changed'))


def restart_key(inst, private_node, server_starts=None):
    """What a daemon reads only at start and that is not a file it owns: a change restarts it."""
    data = {'instance': dict((k, inst.get(k)) for k in RESTART_KEYS), 'private_node': bool(private_node)}
    for key in CLIENT_RESTART_KEYS:
        # a client's fixed address and networks are its server's ccd file, read when the client connects: a
        # change reconnects the client (held only when set, so that the keys of other daemons stay as they were)
        if inst.get(key):
            data['instance'][key] = inst[key]
    if inst['role'] == 'client':
        # a client follows its server's daemon when the daemon module started that anew (its start counter:
        # a value a reboot, a boot restore or systemd's own restart does not change - see README.md)
        data['server_starts'] = server_starts
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode('utf-8')).hexdigest()


def ccd(server, client):
    """The client-config-dir file of one client of a server instance (OpenVPN reads it when the client
    connects: a change needs no reload; the client's own restart key reconnects it): its fixed address, the
    networks behind it (iroute) and, since the server pushes them to every client, none of its own back."""
    lines = ['# client %s of instance %s (host %s), made by virtnet.linux.vpn_endpoint; changes are overwritten.'
             % (client['cn'], server['name'], client['host'])]
    if client['address']:
        lines.append('ifconfig-push %s %s' % (client['address'], server['netmask']))
    for net in client['networks']:
        lines.append('iroute %s %s' % (net['network'], net['netmask']))
    for net in client['networks']:
        lines.append('push-remove "route %s %s"' % (net['network'], net['netmask']))
    return '\n'.join(lines) + '\n'


def vpn_endpoint_daemons(plan, confs, pki=None, plumbing=None, starts=None, settings=None, only=None, skip=None):
    """The virtnet.linux.daemon batch of the present instances, servers first: each OpenVPN daemon with its
    directory and files (NAME.conf reloads it; certificate, key, CA and tls-crypt key restart it), its
    restart key, and state restarted where the plumbing task made its device anew (or, for a server, where
    no process has its device open - it runs on a device that was replaced under it)."""
    plan = _plan(plan, 'vpn_endpoint_daemons')
    s = _settings(settings, DAEMON_SETTINGS, 'vpn_endpoint_daemons')
    if s['check_mode'] and s['user_missing']:
        return []    # in check mode the daemons' user does not exist yet (its task reports it)
    confs = confs or {}
    starts = starts or {}
    material = _material(pki)
    devices = _made(plumbing)
    pending = _pending_namespaces(plumbing) if s['check_mode'] else set()
    ordered = [i for i in plan['present'] if i['role'] == 'server'] + \
        [i for i in plan['present'] if i['role'] != 'server']
    batch = []
    wg_dir = True
    for inst in ordered:
        if inst['netns'] in pending or (only is not None and inst['name'] not in only) \
                or (skip is not None and inst['name'] in skip):
            continue
        if inst.get('type') == 'wireguard':
            batch.append(_wireguard_daemon(inst, s, devices, wg_dir))
            wg_dir = False
            continue
        got = material.get((inst['keyhost'], posixpath.normpath(inst['pki'])))
        cert = ((got or {}).get('certs') or {}).get(inst['cn'])
        if not (got and got.get('ca') and got.get('tls_crypt') and cert) and not s['check_mode']:
            raise AnsibleFilterError(
                'vpn_endpoint_instances[%s] (%s): the PKI task returned no certificate, key, CA and tls-crypt key '
                'for %s from %s:%s' % (inst['name'], inst['role'], inst['cn'], inst['keyhost'], inst['pki']))
        got, cert = got or {}, cert or {}
        if inst['name'] not in confs:
            raise AnsibleFilterError('vpn_endpoint_daemons: no configuration for instance %s' % inst['name'])
        made, held = devices.get(_link(inst), (False, True))
        server = inst['role'] == 'server'
        owned = dict(owner=s['user'], group=s['group'], mode='0600', on_change='restart')
        element = {
            'name': inst['daemon'],
            'argv': [s['openvpn'], '--config', inst['conf']],
            'user': s['user'],
            'group': s['group'],
            'ambient_capabilities': ['CAP_NET_ADMIN'] + (['CAP_NET_BIND_SERVICE'] if server and inst['port'] < 1024
                                                         else []),
            'restart_key': restart_key(inst, s['private_node'], starts.get(inst['daemon'])),
            'reload_signal': 'HUP',
            'state': 'restarted' if made or (server and not held) else 'started',
            'log_errors': list(s['log_errors']),
            'directories': [{'path': inst['conf_dir'], 'owner': 'root', 'group': s['group'], 'mode': '0750'}],
            'files': [
                {'path': inst['conf'], 'content': confs[inst['name']], 'owner': 'root', 'group': s['group'],
                 'mode': '0640', 'on_change': 'reload'},
                dict(owned, path=inst['conf_dir'] + '/ca.crt', content=got.get('ca') or ''),
                dict(owned, path=inst['conf_dir'] + '/cert.crt', content=cert.get('cert') or ''),
                dict(owned, path=inst['conf_dir'] + '/key.key', content=cert.get('key') or '', secret=s['secret']),
                dict(owned, path=inst['conf_dir'] + '/tc.key', content=got.get('tls_crypt') or '',
                     secret=s['secret']),
            ],
        }
        if server:
            # crl-verify reads it at every connection: a new CRL needs no restart, the clients stay connected
            element['files'].append(dict(owned, path=inst['conf_dir'] + '/crl.pem', content=got.get('crl') or '',
                                         on_change='none'))
        if server and inst.get('ccd'):
            element['directories'].append({'path': inst['conf_dir'] + '/ccd', 'owner': 'root', 'group': s['group'],
                                           'mode': '0750'})
            element['files'].extend({'path': '%s/ccd/%s' % (inst['conf_dir'], c['cn']), 'content': ccd(inst, c),
                                     'owner': 'root', 'group': s['group'], 'mode': '0640', 'on_change': 'none'}
                                    for c in inst['clients'])
        if inst['netns']:
            element['netns'] = inst['netns']
        batch.append(element)
    return batch


def _wireguard_daemon(inst, s, devices, uapi_dir):
    """The daemon element of a WireGuard instance: the role's wrapper (templates/wireguard-go.sh) runs
    wireguard-go on the instance's tun as the daemons' user with CAP_NET_ADMIN only, then gives it its
    configuration with wg syncconf (the private key added on the host), and again on SIGHUP - a change of peers is
    a reload that keeps the process and the other peers' sessions. The configuration file reloads; the wrapper, the
    public key (a new private key), the device, port and namespace restart. With a private tun node it is
    bind-mounted over /dev/net/tun for the daemon alone (wireguard-go always opens /dev/net/tun)."""
    keys = s['wireguard_keys'] or {}
    own = (keys.get(s['host']) or {}).get(inst['name'])
    made, dummy = devices.get(_link(inst), (False, True))
    script = inst['conf_dir'] + '/' + WIREGUARD_SCRIPT
    data = {'restart': restart_key(inst, s['private_node']), 'public_key': own}
    element = {
        'name': inst['daemon'],
        'argv': ['/bin/sh', script, inst['dev'], _wg_key(inst), inst['conf']],
        'user': s['user'],
        'group': s['group'],
        'ambient_capabilities': ['CAP_NET_ADMIN'],
        'restart_key': hashlib.sha256(json.dumps(data, sort_keys=True).encode('utf-8')).hexdigest(),
        'reload_signal': 'HUP',
        'state': 'restarted' if made else 'started',
        'log_errors': list(WIREGUARD_LOG_ERRORS),
        'directories': [{'path': inst['conf_dir'], 'owner': 'root', 'group': s['group'], 'mode': '0750'}],
        'files': [
            {'path': inst['conf'], 'content': wireguard_conf(inst, keys, (s['wireguard_exports'] or {}).get(inst['name'])),
             'owner': 'root', 'group': s['group'],
             'mode': '0640', 'on_change': 'reload'},
            {'path': script, 'content': s['wireguard_script'], 'owner': 'root', 'group': s['group'], 'mode': '0640',
             'on_change': 'restart'},
        ],
    }
    if uapi_dir:
        # wireguard-go makes its UAPI socket there: the daemons' user must be able to (one element declares it);
        # /run is empty after a reboot, so for the boot start systemd-tmpfiles makes it first (no restart either way)
        element['directories'].insert(0, {'path': WIREGUARD_UAPI_DIR, 'owner': s['user'], 'group': s['group'],
                                          'mode': '0750'})
        if s['boot']:
            element['directories'].append({'path': '/etc/tmpfiles.d', 'owner': 'root', 'group': 'root', 'mode': '0755'})
            element['files'].append({'path': '/etc/tmpfiles.d/virtnet-wireguard.conf', 'owner': 'root', 'group': 'root',
                                     'mode': '0644', 'on_change': 'none', 'content': 'd %s 0750 %s %s -\n'
                                     % (WIREGUARD_UAPI_DIR, s['user'], s['group'])})
    if s['private_node']:
        element['bind_paths'] = ['%s:/dev/net/tun' % _node(inst)]
    return _in_netns(element, inst)


def vpn_endpoint_server_starts(instances, hostvars, prefix='vpn-'):
    """{daemon name: starts} of the server daemons of the present client instances whose server host's run of
    the role registered its daemons' results (earlier in this playbook run): how many times virtnet.linux.daemon
    started each (in check mode, counting a start it would make)."""
    out = {}
    if not isinstance(instances, Sequence) or isinstance(instances, (str, bytes)) or hostvars is None:
        return out
    for inst in instances:
        if not isinstance(inst, Mapping) or inst.get('role') != 'client' or (inst.get('state') or 'present') != 'present':
            continue
        daemon = inst.get('daemon') or '%s%s' % (prefix, inst.get('name'))
        server = str(inst.get('server') or '')
        if not server or server not in hostvars:
            continue
        registered = hostvars[server].get('__vpn_endpoint_daemons')
        if not isinstance(registered, Mapping):
            continue
        for r in registered.get('results') or []:
            if isinstance(r, Mapping) and r.get('name') == daemon:
                out[daemon] = r.get('starts')
    return out


# --------------------------------------------------------------------------- the exported profiles

PEM_CERT_RE = re.compile(r'-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?', re.S)


def _pem(text):
    """The PEM blocks of a certificate file (easy-rsa writes a text dump before them)."""
    blocks = PEM_CERT_RE.findall(text or '')
    return ''.join(b if b.endswith('\n') else b + '\n' for b in blocks)


def _block(tag, text):
    text = text or ''
    return '<%s>\n%s%s</%s>\n' % (tag, text, '' if text.endswith('\n') else '\n', tag)


def profile(inst, material, cn, remote, server_cn='server'):
    """The single-file OpenVPN client profile of export certificate `cn` of server instance `inst`: what plain
    `openvpn --config NAME.ovpn` needs (inline CA, certificate, key and tls-crypt key), None when the
    material is not there (check mode: the certificate would be issued)."""
    cert = ((material or {}).get('certs') or {}).get(cn)
    if not (material and material.get('ca') and material.get('tls_crypt') and cert):
        return None
    lines = [
        '# OpenVPN client profile %s of instance %s (server %s), made by virtnet.linux.vpn_endpoint.'
        % (cn[len('client-'):] if cn.startswith('client-') else cn, inst['name'], inst['keyhost']),
        '# It holds a private key: keep it 0600. Dropping the name from export revokes its certificate.',
        'client',
        'dev %s' % inst['dev_type'],
        'proto %s' % ('udp' if inst['proto'] == 'udp' else 'tcp-client'),
        'remote %s %s' % (remote, inst['port']),
        'nobind',
        'connect-retry 1 5',
        'remote-cert-tls server',
        'verify-x509-name %s name' % server_cn,
        'data-ciphers %s' % ':'.join(inst['data_ciphers']),
        'verb %s' % inst['verb'],
    ]
    return '\n'.join(lines) + '\n' + _block('ca', _pem(material['ca'])) + _block('cert', _pem(cert['cert'])) + \
        _block('key', cert['key']) + _block('tls-crypt', material['tls_crypt'])


def wireguard_profile(inst, name, pair, server_key, remote, host):
    """The wg-quick profile of export name `name` of WireGuard server instance `inst` (its key pair `pair`, the
    server's public key `server_key`): what `wg-quick up NAME.conf` needs (for wg setconf, drop Address); None
    when a key is not there yet (check mode: it would be made)."""
    peer = next((p for p in inst.get('export_peers') or [] if p['name'] == name), None)
    if not (pair and pair.get('private') and server_key and peer):
        return None
    routed = list(inst.get('push_routes') or []) + list(inst.get('client_networks') or [])
    lines = [
        '# WireGuard profile %s of instance %s (server %s), made by virtnet.linux.vpn_endpoint.' % (name, inst['name'], host),
        '# It holds a private key: keep it 0600. Dropping the name from export removes its peer from the server.',
        '[Interface]',
        'PrivateKey = %s' % pair['private'],
        'Address = %s/%s' % (peer['tunnel_address'], inst['prefix']),
        '',
        '[Peer]',
        'PublicKey = %s' % server_key,
        'AllowedIPs = %s' % ', '.join(_wireguard_allowed(inst, routed)),
        'Endpoint = %s:%s' % (remote, inst['port']),
        'PersistentKeepalive = %s' % inst['keepalive'][0],
    ]
    return '\n'.join(lines) + '\n'


def vpn_endpoint_profiles(plan, pki=None, settings=None):
    """{files: [{path, instance, name, content}], dirs: [...]}: per export name of this host's present server
    instances, its profile at EXPORT_DIR/INSTANCE/NAME.ovpn (NAME.conf, a wg-quick profile, for a WireGuard
    server) - content None where the material is not there yet (check mode); dirs: the directory of every
    server instance of the host, present or absent (where the profiles of dropped names are looked for).
    settings: export_dir, remote (the server's address), server_cn; for WireGuard wireguard_keys ({instance:
    this host's public key}) and wireguard_exports (vpn_endpoint_wireguard_exports)."""
    plan = _plan(plan, 'vpn_endpoint_profiles')
    s = _settings(settings, {'export_dir': '', 'remote': '', 'server_cn': 'server', 'host': '', 'wireguard_keys': {},
                             'wireguard_exports': {}}, 'vpn_endpoint_profiles')
    material = _material(pki)
    out = {'files': [], 'dirs': []}
    for inst in plan['present'] + plan['absent']:
        if inst['role'] != 'server':
            continue
        directory = posixpath.join(s['export_dir'], inst['name'])
        if directory not in out['dirs']:
            out['dirs'].append(directory)
        if inst['state'] != 'present':
            continue
        if inst.get('type') == 'wireguard':
            pairs = (s['wireguard_exports'] or {}).get(inst['name']) or {}
            own = (s['wireguard_keys'] or {}).get(inst['name'])
            for name in inst.get('export') or []:
                out['files'].append({'path': posixpath.join(directory, name + '.conf'), 'instance': inst['name'],
                                     'name': name, 'dir': directory,
                                     'content': wireguard_profile(inst, name, pairs.get(name), own, s['remote'],
                                                                  s['host'])})
            continue
        got = material.get((inst['keyhost'], posixpath.normpath(inst['pki'])))
        for name in inst.get('export') or []:
            out['files'].append({'path': posixpath.join(directory, name + '.ovpn'), 'instance': inst['name'],
                                 'name': name, 'dir': directory,
                                 'content': profile(inst, got, _export_cn(name), s['remote'], s['server_cn'])})
    return out


class FilterModule:
    """What the vpn_endpoint role's tasks hand to the modules."""

    def filters(self):
        return {
            'vpn_endpoint_host': vpn_endpoint_host,
            'vpn_endpoint_pki': vpn_endpoint_pki,
            'vpn_endpoint_plumbing': vpn_endpoint_plumbing,
            'vpn_endpoint_daemons': vpn_endpoint_daemons,
            'vpn_endpoint_server_starts': vpn_endpoint_server_starts,
            'vpn_endpoint_profiles': vpn_endpoint_profiles,
            'vpn_endpoint_wireguard_keys': vpn_endpoint_wireguard_keys,
            'vpn_endpoint_wireguard_todo': vpn_endpoint_wireguard_todo,
            'vpn_endpoint_wireguard_exports': vpn_endpoint_wireguard_exports,
        }
