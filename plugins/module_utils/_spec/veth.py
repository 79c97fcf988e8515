# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""The veth device: every behaviour of the module virtnet.linux.veth (both ends of a pair)."""

from __future__ import annotations

import errno
import os

from ansible_collections.virtnet.linux.plugins.module_utils._link import (
    LinkKind, apply_common, check_master, common_view, compare_common, link_options, read_link,
    validate_common,
)
# the keys of an item are COMMON_KEYS + KEYS (the unit tests build items from them)
from ansible_collections.virtnet.linux.plugins.module_utils._link import COMMON_KEYS  # pylint: disable=unused-import
# where the peer is, as the kernel says it: the veth's view, shared with link_info (`_spec.views`)
from ansible_collections.virtnet.linux.plugins.module_utils._spec.views import veth_peer as peer_of
from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    NetnsNotFound, ObjectExists, kernel_error, normalise_mac, ns_label, open_netns_fd,
)

PEER_KEYS = ['peer', 'peer_netns', 'peer_link_state', 'peer_mtu', 'peer_address', 'peer_master',
             'peer_txqueuelen', 'peer_alias']
KEYS = PEER_KEYS + ['recreate']
#: the options of one pair, with the task's defaults: the module's argument spec (and its batch
#: elements') and the element of virtnet.linux.plumbing's `veths`
ARGUMENT_SPEC = link_options(dict(
    peer=dict(type='str'),
    peer_netns=dict(type='str'),
    peer_link_state=dict(type='str', choices=['up', 'down']),
    peer_mtu=dict(type='int'),
    peer_address=dict(type='str'),
    peer_master=dict(type='str'),
    peer_txqueuelen=dict(type='int'),
    peer_alias=dict(type='str'),
    recreate=dict(type='bool', default=False),
))

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

    # everything veth reads and sends goes over the hand-built socket (_rtnl): it needs no pyroute2
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

    def masters(self, item):
        return [(item.get('netns') or '', item['name'], 'master'),
                (peer_netns_of(item), item.get('peer'), 'peer_master')]

    def ends(self, item, view=None):
        """Both ends: the peer as the kernel has it (`view`), else as the item declares it (state=present)."""
        out = [(item.get('netns') or '', item['name'])]
        if view is not None:
            if view.get('peer') is not None and view.get('peer_netns') is not None:
                out.append((view['peer_netns'], view['peer']))
        elif item.get('state') != 'absent' and item.get('peer'):
            out.append((peer_netns_of(item), item['peer']))
        return out

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
        out = {'peer': None, 'peer_netns': None, 'peer_link': {}}
        where_peer = peer_of(link)
        if where_peer is None:
            out['peer_nsid'] = link.get('link_netnsid')
            out['peer_ifindex'] = link.get('link_index')
            return out
        index, nsid = where_peer
        peer_ns = netns if nsid is None else self._peer_netns(ctx, item, netns, nsid)
        peer = None if peer_ns is None else read_link(ctx, peer_ns, index=index, need_data=False)
        if peer is None:
            out['peer_nsid'] = nsid
            out['peer_ifindex'] = index
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
