#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: veth
short_description: Create, configure and delete veth pairs, across network namespaces
version_added: 0.1.0
description:
  - Manages a virtual Ethernet pair like C(ip link add NAME type veth peer name PEER netns PEER_NETNS)
    does - the local end O(name) in O(netns), the other end O(peer) in O(peer_netns).
  - The pair is created in one netlink request with its peer directly in O(peer_netns), so a pair is
    never left half-made or with its peer in the wrong namespace.
  - An existing device counts as the pair only if it is a veth whose other end really is O(peer) in
    O(peer_netns) (the kernel's peer index and link netnsid are checked), whether the peer was created
    there or moved there later. Any other peer is an error naming what the peer actually is, unless
    O(recreate=true) asks to replace the pair.
  - The options of both ends (state, MTU, MAC address, bridge, queue length, alias) are compared with
    what the kernel reports, and only the differences are changed, on new and existing pairs alike.
    Options that are not given are not managed.
  - Many pairs can be handled by one task with O(batch); all of them are validated before any is
    changed, and a failure undoes what the task had already done.
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
  - virtnet.linux._attributes.ACTIONGROUP_NETLINK
  - virtnet.linux._netns
  - virtnet.linux._link
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  state:
    description:
      - V(present) creates the pair if it does not exist and fixes the options given.
      - V(absent) deletes the pair (deleting one end deletes both). A device that is already gone is not
        an error; a device of another kind with this name is refused. O(peer) and the peer options are
        not needed and are ignored.
    type: str
    choices: [present, absent]
    default: present
  peer:
    description:
      - Name of the other end of the pair, in O(peer_netns). Same rules as O(name).
      - Required with O(state=present).
    type: str
  peer_netns:
    description:
      - Name of the network namespace of the other end (a file in C(/run/netns)).
      - When not given, the peer lives in the same namespace as the local end (O(netns)).
      - The empty string means the namespace the module itself runs in (the host), also when O(netns)
        is set.
      - A namespace that does not exist is an error naming it; it is never created.
    type: str
  peer_link_state:
    description: Administrative state of the peer.
    type: str
    choices: [up, down]
  peer_mtu:
    description: MTU of the peer (68 to 65535).
    type: int
  peer_address:
    description: MAC address of the peer.
    type: str
  peer_master:
    description:
      - Bridge in O(peer_netns) that the peer is a port of. The empty string releases it from its bridge.
      - A bridge that does not exist in the peer's namespace or is not a bridge is an error.
    type: str
  peer_txqueuelen:
    description: Transmit queue length of the peer.
    type: int
  peer_alias:
    description: Alias of the peer; the empty string clears it.
    type: str
  recreate:
    description:
      - When O(name) exists as a veth whose peer is not O(peer) in O(peer_netns), delete that pair and
        create the declared one instead of failing.
      - The new peer name must be free in O(peer_netns); otherwise nothing is deleted.
    type: bool
    default: false
  batch:
    description:
      - Several pairs in one task. Each element takes the options below; options an element leaves out
        come from the task's top level (for example O(netns) or O(peer_netns) for every pair).
      - Every element is validated before anything is changed. Two elements naming the same device in
        the same namespace (as a local end or as a peer) are refused.
      - A failure on any element undoes what the task had done for the earlier ones.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the local end.
        type: str
        required: true
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
      netns:
        description: As O(netns).
        type: str
      link_state:
        description: As O(link_state).
        type: str
        choices: [up, down]
      mtu:
        description: As O(mtu).
        type: int
      address:
        description: As O(address).
        type: str
      master:
        description: As O(master).
        type: str
      txqueuelen:
        description: As O(txqueuelen).
        type: int
      alias:
        description: As O(alias).
        type: str
      peer:
        description: As O(peer).
        type: str
      peer_netns:
        description: As O(peer_netns).
        type: str
      peer_link_state:
        description: As O(peer_link_state).
        type: str
        choices: [up, down]
      peer_mtu:
        description: As O(peer_mtu).
        type: int
      peer_address:
        description: As O(peer_address).
        type: str
      peer_master:
        description: As O(peer_master).
        type: str
      peer_txqueuelen:
        description: As O(peer_txqueuelen).
        type: int
      peer_alias:
        description: As O(peer_alias).
        type: str
      recreate:
        description: As O(recreate).
        type: bool
notes:
  - Moving an end to another namespace resets its bridge and brings it down (the kernel does that);
    the next run with O(peer_master) or O(peer_link_state) puts it back.
  - With O(recreate=true) the old pair is deleted before the new one is made; a failure later in the
    task removes the new pair but cannot bring the old one back.
seealso:
  - module: virtnet.linux.netns
  - name: ip-link(8)
    description: The iproute2 manual page, section C(VETH, VXCAN, NETKIT Type Support).
    link: https://man7.org/linux/man-pages/man8/ip-link.8.html
'''

EXAMPLES = r'''
- name: The namespace of the DHCP server of network 42
  virtnet.linux.netns:
    name: qdhcp-42

- name: Join bridge brq42 in the host to that namespace - tap42 on the bridge, ns-42 inside
  virtnet.linux.veth:
    name: tap42
    master: brq42
    link_state: up
    peer: ns-42
    peer_netns: qdhcp-42
    peer_link_state: up

- name: A pair between two namespaces, with its MTU on both ends
  virtnet.linux.veth:
    netns: red
    name: to-blue
    peer: to-red
    peer_netns: blue
    mtu: 1400
    peer_mtu: 1400
    link_state: up
    peer_link_state: up

- name: A pair whose peer is in the host while the local end is in a namespace
  virtnet.linux.veth:
    netns: red
    name: uplink
    peer: red-uplink
    peer_netns: ''

- name: Three networks in one task (the task's options are defaults for each element)
  virtnet.linux.veth:
    link_state: up
    peer_link_state: up
    batch:
      - {name: tap41, peer: ns-41, peer_netns: qdhcp-41, master: brq41}
      - {name: tap42, peer: ns-42, peer_netns: qdhcp-42, master: brq42}
      - {name: tap43, peer: ns-43, peer_netns: qdhcp-43, master: brq43}

- name: Replace a pair whose peer is not the declared one
  virtnet.linux.veth:
    name: tap42
    peer: ns-42
    peer_netns: qdhcp-42
    recreate: true

- name: Delete the pair (both ends; no error if it is already gone)
  virtnet.linux.veth:
    name: tap42
    state: absent
'''

RETURN = r'''
link:
  description: The local end of the pair after the task, with its peer (single form, O(state=present)).
  returned: success, when O(state=present) and O(batch) is not used
  type: dict
  contains:
    name:
      description: Name of the local end.
      type: str
      sample: tap42
    netns:
      description: Namespace of the local end (empty for the module's own).
      type: str
      sample: ''
    ifindex:
      description: Interface index of the local end in its namespace.
      type: int
      sample: 12
    kind:
      description: Kind of the device.
      type: str
      sample: veth
    link_state:
      description: Administrative state, V(up) or V(down).
      type: str
      sample: up
    operstate:
      description: Operational state as the kernel reports it.
      type: str
      sample: UP
    mtu:
      description: MTU.
      type: int
      sample: 1500
    address:
      description: MAC address.
      type: str
      sample: 02:00:00:00:10:01
    master:
      description: Bridge the local end is a port of (empty for none).
      type: str
      sample: brq42
    txqueuelen:
      description: Transmit queue length.
      type: int
      sample: 1000
    alias:
      description: Alias (empty for none).
      type: str
      sample: ''
    peer:
      description: Name of the other end (V(null) when it is in a namespace without a name).
      type: str
      sample: ns-42
    peer_netns:
      description: Namespace of the other end (empty for the module's own; V(null) when it has no name).
      type: str
      sample: qdhcp-42
    peer_ifindex:
      description: Interface index of the other end in its namespace.
      returned: when the other end is in a namespace without a name in C(/run/netns)
      type: int
      sample: 7
    peer_nsid:
      description: The id of the other end's namespace, as seen from the local end's namespace.
      returned: when the other end is in a namespace without a name in C(/run/netns)
      type: int
      sample: 3
    peer_link:
      description: The other end, with the same keys as the local end (C(name), C(netns), C(ifindex),
        C(kind), C(link_state), C(operstate), C(mtu), C(address), C(master), C(txqueuelen), C(alias)).
      type: dict
      sample: {"name": "ns-42", "netns": "qdhcp-42", "ifindex": 2, "kind": "veth", "link_state": "up",
               "operstate": "UP", "mtu": 1500, "address": "ae:41:0c:3e:1f:7b", "master": "",
               "txqueuelen": 1000, "alias": ""}
actions:
  description: What the task did (or would do, in check mode), in order (single form).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["create veth tap42 with peer ns-42 in netns qdhcp-42", "set master=brq42 on tap42", "set tap42 up"]
results:
  description: One entry per element of O(batch), with C(name) (C(NETNS/NAME) for a local end in a
    namespace), C(changed), C(actions) and, for O(state=present), C(link) as described above.
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "tap42", "changed": true, "actions": ["create veth tap42 with peer ns-42 in netns qdhcp-42"],
            "link": {"name": "tap42", "peer": "ns-42", "peer_netns": "qdhcp-42"}}]
'''

import errno
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._link import (
    LinkKind, apply_common, check_master, common_view, compare_common, link_module_args, read_link, run_link_module,
    validate_common,
)
# the keys of an item are COMMON_KEYS + KEYS (the unit tests build items from them)
from ansible_collections.virtnet.linux.plugins.module_utils._link import COMMON_KEYS  # pylint: disable=unused-import
from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    NetnsNotFound, ObjectExists, kernel_error, normalise_mac, ns_label, open_netns_fd,
)

PEER_KEYS = ['peer', 'peer_netns', 'peer_link_state', 'peer_mtu', 'peer_address', 'peer_master',
             'peer_txqueuelen', 'peer_alias']
KEYS = PEER_KEYS + ['recreate']

# options that the kernel takes in the create request itself (veth ends and the peer alike)
_CREATE_ARGS = (('mtu', 'mtu'), ('address', 'address'), ('txqueuelen', 'txqlen'))
# the common view's keys that a prediction fills from the options
_VIEW_KEYS = ('link_state', 'mtu', 'address', 'master', 'txqueuelen', 'alias')


def peer_netns_of(item):
    """The namespace the peer must live in: peer_netns, else the local end's namespace."""
    if item.get('peer_netns') is not None:
        return item['peer_netns']
    return item.get('netns') or ''


def where(name, netns):
    """'X in netns N' / 'X in the default netns' for messages."""
    return '%s in %s' % (name, ns_label(netns))


def describe_peer(view):
    """What the peer of an existing veth is, for messages."""
    if view.get('peer_netns') is None:
        link = view.get('peer_link') or {}
        if view.get('peer_nsid') is not None:
            return 'ifindex %s in a namespace without a name in /run/netns (nsid %s)' % (
                view.get('peer_ifindex'), view.get('peer_nsid'))
        return '%s in a namespace without a name' % (link.get('name') or 'an unknown device')
    return where(view.get('peer'), view.get('peer_netns'))


def batch_clashes(items):
    """Devices that two elements of a batch (or both ends of one element) would both claim.

    Returns messages like 'x0 in netns a is named by more than one element'.
    """
    seen = {}
    clashes = []
    for pos, item in enumerate(items):
        ends = [(item.get('netns') or '', item.get('name'))]
        if item.get('state', 'present') != 'absent' and item.get('peer'):
            ends.append((peer_netns_of(item), item['peer']))
        for ns, name in ends:
            owner = seen.get((ns, name))
            if owner is None:
                seen[(ns, name)] = pos
                continue
            msg = ('both ends of %s are %s' % (item.get('name'), where(name, ns)) if owner == pos
                   else '%s is named by more than one element of the batch' % where(name, ns))
            if msg not in clashes:
                clashes.append(msg)
    return clashes


def create_ends(item):
    """The attributes sent in the create request for the local end and the peer (link_attrs keywords).

    mtu, address and queue length go with the create request itself; the rest is set afterwards.
    """
    local, remote = {}, {}
    for key, arg in _CREATE_ARGS:
        if item.get(key) is not None:
            local[arg] = normalise_mac(item[key]) if key == 'address' else item[key]
        if item.get('peer_' + key) is not None:
            remote[arg] = normalise_mac(item['peer_' + key]) if key == 'address' else item['peer_' + key]
    return local, remote


def predict_end(item, prefix, name, netns):
    """The common view a new end will have, as far as the options tell."""
    out = {'name': name, 'netns': netns, 'kind': 'veth'}
    for key in _VIEW_KEYS:
        value = item.get(prefix + key)
        if value is not None:
            out[key] = normalise_mac(value) if key == 'address' else value
    return out


def describe_link(link):
    """'a bridge' / 'a veth' / 'a device without kind' for messages."""
    return 'a %s' % (link.get('kind') or 'device without kind')


class Veth(LinkKind):
    kind = 'veth'
    read_kinds = ('veth',)
    keys = KEYS

    # everything veth reads and sends goes over the raw socket (_rawlink): it needs no pyroute2
    needs_data = False
    needs_pyroute2 = False

    # ----------------------------------------------------------------- validation
    def batch_errors(self, items):
        return batch_clashes(items)

    def validate(self, item):
        if item.get('state') == 'absent':
            return []
        if not item.get('peer'):
            return ['peer is required with state=present']
        errors = validate_common(item, prefix='peer_')
        if not errors and item['peer'] == item['name'] and peer_netns_of(item) == (item.get('netns') or ''):
            errors.append('peer %s cannot have the same name as the local end in the same namespace'
                          % item['peer'])
        return errors

    def netns_needed(self, item):
        needed = [item.get('netns') or '']
        if item.get('state') != 'absent':
            needed.append(peer_netns_of(item))
        return needed

    # ----------------------------------------------------------------- reading
    def _peer_netns(self, ctx, item, netns, nsid):
        """Name of the namespace that nsid (seen from netns) stands for; None if it has no name."""
        want = peer_netns_of(item)
        # the cheap path: is it the namespace the task wants? (one request, no scan of /run/netns)
        if want != netns:
            try:
                if ctx.rt.nsid_of(netns, want) == nsid:       # cached after the first pair
                    return want
            except NetnsNotFound:
                pass
        return ctx.rt.nsid_to_netns(netns, nsid)

    def view(self, ctx, item, link):
        netns = item.get('netns') or ''
        nsid = link.get('link_netnsid')
        out = {'peer': None, 'peer_netns': None, 'peer_link': {}}
        if nsid is None:
            peer_ns = netns
        else:
            peer_ns = self._peer_netns(ctx, item, netns, nsid)
        if peer_ns is None:
            out['peer_nsid'] = nsid
            out['peer_ifindex'] = link.get('link_index')
            return out
        peer = read_link(ctx, peer_ns, index=link.get('link_index'), need_data=False)
        if peer is None:
            out['peer_nsid'] = nsid
            out['peer_ifindex'] = link.get('link_index')
            return out
        out['peer'] = peer['ifname']
        out['peer_netns'] = peer_ns
        out['peer_link'] = common_view(ctx, peer_ns, peer)
        return out

    # ----------------------------------------------------------------- comparing and fixing
    def compare(self, ctx, item, link, view, diffs):
        netns = item.get('netns') or ''
        want_ns = peer_netns_of(item)
        # a bridge that is missing or no bridge fails here, before anything is changed
        if 'master' in diffs:
            self._check_master(ctx, item, '', item['name'], netns)
        if view.get('peer') != item['peer'] or view.get('peer_netns') != want_ns:
            diffs.add('peer', view.get('peer'), item['peer'], recreate=True)
            if view.get('peer_netns') != want_ns:
                diffs.add('peer_netns', view.get('peer_netns'), want_ns, recreate=True)
            return
        compare_common(view['peer_link'], item, diffs, prefix='peer_')
        if 'peer_master' in diffs:
            self._check_master(ctx, item, 'peer_', item['peer'], want_ns)

    def update(self, ctx, item, link, view, diffs):
        if 'peer' in diffs:
            return
        peer_link = view.get('peer_link')
        if peer_link and any(k.startswith('peer_') for k in diffs.keys()):
            apply_common(ctx, view['peer_netns'], peer_link['name'], peer_link['ifindex'], peer_link, diffs,
                         prefix='peer_')

    def refuse_recreate(self, ctx, item, link, view, diffs):
        netns = item.get('netns') or ''
        want_ns = peer_netns_of(item)
        if not item.get('recreate'):
            return ('%s is a veth whose peer is %s, not %s; set recreate=true to replace the pair'
                    % (where(item['name'], netns), describe_peer(view), where(item['peer'], want_ns)))
        taken = read_link(ctx, want_ns, ifname=item['peer'], need_data=False)
        if taken is not None:
            return ('cannot recreate %s with peer %s: the peer name is taken by %s there; nothing deleted'
                    % (where(item['name'], netns), where(item['peer'], want_ns), describe_link(taken)))
        return None

    def _check_master(self, ctx, item, prefix, name, netns):
        """Fail before changing anything when (peer_)master is missing or not a bridge."""
        check_master(ctx, item, prefix, name, netns)

    def check_masters(self, ctx, item):
        self._check_master(ctx, item, '', item['name'], item.get('netns') or '')
        self._check_master(ctx, item, 'peer_', item['peer'], peer_netns_of(item))

    def may_recreate(self, item):
        return bool(item.get('recreate'))

    # ----------------------------------------------------------------- creating
    def _refuse_taken_peer(self, ctx, item):
        """Fail naming what holds the peer's name, if anything does."""
        netns, peer_ns = item.get('netns') or '', peer_netns_of(item)
        taken = read_link(ctx, peer_ns, ifname=item['peer'], need_data=False)
        if taken is not None:
            extra = ''
            if taken.get('kind') == 'veth':
                extra = ' whose peer is %s' % describe_peer(self.view(ctx, dict(item, name=item['peer'], netns=peer_ns),
                                                                      taken))
            raise ObjectExists('cannot create %s: its peer name %s is already taken by %s%s'
                               % (where(item['name'], netns), where(item['peer'], peer_ns), describe_link(taken), extra))

    def create(self, ctx, item):
        netns = item.get('netns') or ''
        name, peer = item['name'], item['peer']
        peer_ns = peer_netns_of(item)
        # The local name was read (and found free, or its old pair deleted) by ensure_link just before.
        # A taken peer name makes the kernel refuse the create (EEXIST, nothing created); act() then
        # finds out which name it was. Check mode sends nothing, so it looks first.
        if ctx.check_mode:
            self._refuse_taken_peer(ctx, item)
        self._check_master(ctx, item, '', name, netns)
        self._check_master(ctx, item, 'peer_', peer, peer_ns)

        if peer_ns == netns:
            description = 'create veth %s with peer %s' % (name, peer)
        else:
            description = 'create veth %s with peer %s' % (name, where(peer, peer_ns))
        if netns:
            description += ' (local end in netns %s)' % netns

        local, remote = create_ends(item)

        def act():
            fd, close = None, False
            if peer_ns != netns:
                if peer_ns == '':
                    fd = ctx.rt.home_fd()
                else:
                    fd, close = open_netns_fd(peer_ns), True
            try:
                ctx.rt.sock(netns).add_veth(name, peer, fd, local, remote)
            except OSError as exc:
                if getattr(exc, 'code', None) == errno.EEXIST:
                    self._refuse_taken_peer(ctx, item)
                    raise ObjectExists('creating veth %s with peer %s: one of the names already exists'
                                       % (where(name, netns), where(peer, peer_ns)))
                raise kernel_error(exc, 'creating veth %s with peer %s' % (name, where(peer, peer_ns)), netns)
            finally:
                if close:
                    os.close(fd)

        def undo():
            ctx.rt.call('deleting veth %s' % name, netns, 'del_link', ifname=name)
            if read_link(ctx, netns, ifname=name, need_data=False) is not None:
                raise ObjectExists('read back, %s is still there' % where(name, netns))

        ctx.tx.run(description, act, undo)

    # ----------------------------------------------------------------- predictions (check mode, diff)
    def predict(self, item, view):
        netns = item.get('netns') or ''
        peer_ns = peer_netns_of(item)
        out = predict_end(item, '', item['name'], netns)
        out['peer'] = item['peer']
        out['peer_netns'] = peer_ns
        out['peer_link'] = predict_end(item, 'peer_', item['peer'], peer_ns)
        return out

    def predict_update(self, item, view, diffs):
        after = dict(view)
        if 'peer' in diffs:
            # a new pair replaces this one: its ends are what the options say
            fresh = self.predict(item, view)
            for d in diffs.items:
                if not d.key.startswith('peer'):
                    fresh[d.key] = d.after
            return fresh
        peer_link = dict(view.get('peer_link') or {})
        for d in diffs.items:
            if d.key.startswith('peer_'):
                peer_link[d.key[len('peer_'):]] = d.after
            else:
                after[d.key] = d.after
        after['peer_link'] = peer_link
        return after


def main():
    module = AnsibleModule(**link_module_args(dict(
        peer=dict(type='str'),
        peer_netns=dict(type='str'),
        peer_link_state=dict(type='str', choices=['up', 'down']),
        peer_mtu=dict(type='int'),
        peer_address=dict(type='str'),
        peer_master=dict(type='str'),
        peer_txqueuelen=dict(type='int'),
        peer_alias=dict(type='str'),
        recreate=dict(type='bool', default=False),
    )))
    run_link_module(module, Veth())


if __name__ == '__main__':
    main()
