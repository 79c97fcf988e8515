# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Addresses of a link: every behaviour of the module virtnet.linux.address."""

from __future__ import annotations

import errno
import ipaddress

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    error_code, kernel_error, ns_label, validate_ifname, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    ObjectResult, Spec, link_key, netns_key, task_errors,
)
from ansible_collections.virtnet.linux.plugins.module_utils._link import read_link
from ansible_collections.virtnet.linux.plugins.module_utils._ip import (
    AF_INET, AF_INET6, IPError, cidr, is_ipv6_link_local, parse_cidr, sort_addresses,
)
from ansible_collections.virtnet.linux.plugins.module_utils._pyroute2 import prepare_socket, read_addresses

KEYS = ['dev', 'address', 'state', 'purge', 'netns']
#: the options of the addresses of one link, with the task's defaults: the module's argument spec (and
#: its batch elements') and the element of virtnet.linux.plumbing's `addresses`
ARGUMENT_SPEC = dict(
    dev=dict(type='str'),
    address=dict(type='list', elements='str'),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    purge=dict(type='bool', default=False),
    netns=dict(type='str', default=''),
)


# --------------------------------------------------------------------------- checks and lists

def unusable_address(addr, dev=None):
    """Why the kernel would never keep `addr` (an Addr) on link `dev`, or None.

    IPv6 refuses multicast, the unspecified address and ::1 outside lo (but only after it has set up
    the link for IPv6, e.g. its ff00::/8 route); IPv4 takes multicast addresses, and drops 0.0.0.0
    without an error: neither can be a link's address.
    """
    ip = ipaddress.ip_address(addr.address)
    if ip.is_multicast:
        return 'a multicast address cannot be assigned to a link'
    if ip.is_unspecified:
        return 'the unspecified address cannot be assigned to a link'
    if addr.family == AF_INET6 and ip.is_loopback and dev != 'lo':
        return 'the loopback address ::1 can be assigned to lo only'
    return None


def address_list(entries):
    """The public list of CIDR strings of address entries, sorted (IPv4 first)."""
    return [cidr(e['address'], e['prefixlen']) if isinstance(e, dict) else e.cidr for e in sort_addresses(entries)]


def parse_address_list(values, what='address'):
    """Parse a list of CIDR strings -> (list of Addr, list of error messages)."""
    parsed, errors = [], []
    seen = {}
    for value in values or []:
        try:
            a = parse_cidr(value, what)
        except IPError as exc:
            errors.append(str(exc))
            continue
        if a.key in seen:
            errors.append('%s %s is listed twice' % (what, a.cidr))
            continue
        if a.family == AF_INET6:
            other = [b for b in parsed if b.family == AF_INET6 and b.address == a.address]
            if other:
                errors.append('%s %s conflicts with %s: an IPv6 address can have only one prefix length on a link'
                              % (what, a.cidr, other[0].cidr))
                continue
        seen[a.key] = a
        parsed.append(a)
    return parsed, errors


# --------------------------------------------------------------------------- plans

def plan_addresses(current, wanted, state, purge=False):
    """What to remove and what to add so that a link's addresses match the task.

    current: dicts with family, address, prefixlen (as the kernel reports them)
    wanted:  Addr objects from the task
    Returns (remove, add): remove is a list of `current` entries, add a list of Addr.

    present: every wanted address with its prefix length; the same address with another prefix
             length is replaced. With purge, every other address of a family that is listed goes,
             except IPv6 link-local (fe80::/10) addresses that are not listed.
    absent:  each listed address goes; one written without a prefix goes whatever its prefix length.
    """
    current = list(current)
    have = set((c['family'], c['address'], c['prefixlen']) for c in current)
    remove, add = [], []
    if state == 'absent':
        for c in current:
            for w in wanted:
                if c['family'] != w.family or c['address'] != w.address:
                    continue
                if w.host_only or c['prefixlen'] == w.prefixlen:
                    remove.append(c)
                    break
        return remove, add

    want_keys = set(w.key for w in wanted)
    want_addrs = set((w.family, w.address) for w in wanted)
    families = set(w.family for w in wanted)
    for c in current:
        key = (c['family'], c['address'], c['prefixlen'])
        if key in want_keys:
            continue
        if (c['family'], c['address']) in want_addrs:
            remove.append(c)            # the same address with another prefix length: replaced
        elif purge and c['family'] in families:
            if c['family'] == AF_INET6 and is_ipv6_link_local(c['address']):
                continue
            remove.append(c)
    for w in wanted:
        if w.key not in have:
            add.append(w)
    return remove, add


def predict_addresses(current, remove, add):
    """The address entries after removing `remove` and adding `add` (check mode)."""
    gone = set((r['family'], r['address'], r['prefixlen']) for r in remove)
    out = [dict(c) for c in current if (c['family'], c['address'], c['prefixlen']) not in gone]
    for a in add:
        out.append({'family': a.family, 'address': a.address, 'prefixlen': a.prefixlen})
    return sort_addresses(out)


# --------------------------------------------------------------------------- the spec

def _key(item):
    netns = item.get('netns') or ''
    return '%s/%s' % (netns, item['dev']) if netns else item['dev']


def _extra(item, entries, added, removed):
    return {
        'dev': item['dev'],
        'netns': item.get('netns') or '',
        'addresses': address_list(entries),
        'added': [a.cidr for a in added],
        'removed': [cidr(r['address'], r['prefixlen']) for r in removed],
    }


def _add_args(index, family, address, prefixlen, entry=None):
    args = {'index': index, 'family': family, 'address': address, 'prefixlen': prefixlen}
    if entry is not None:
        # put back exactly what was read (peer, broadcast, label)
        if entry.get('peer'):
            args['address'] = entry['peer']
            args['local'] = address
        if entry.get('broadcast'):
            args['broadcast'] = entry['broadcast']
        if entry.get('label'):
            args['label'] = entry['label']
    elif family == AF_INET and prefixlen <= 30:
        args['broadcast'] = True        # pyroute2 computes the subnet's broadcast address
    return args


def _del_args(index, entry):
    args = {'index': index, 'family': entry['family'], 'address': entry['address'], 'prefixlen': entry['prefixlen']}
    if entry.get('peer'):
        args['address'] = entry['peer']
        args['local'] = entry['address']
    return args


class AddressOps(object):
    """The netlink requests of one link, each a callable for the transaction."""

    def __init__(self, ctx, netns, dev, index):
        self.ctx = ctx
        self.netns = netns
        self.dev = dev
        self.index = index

    @property
    def ipr(self):
        """pyroute2's socket of the namespace, opened when a request needs it (not for a planned link)."""
        return self.ctx.ipr(self.netns)

    def read(self):
        return read_addresses(self.ipr, self.index, self.netns)

    def add(self, args):
        text = cidr(args.get('local') or args['address'], args['prefixlen'])

        def act():
            try:
                self.ipr.addr('add', **args)
            except Exception as exc:  # pylint: disable=broad-except
                raise kernel_error(exc, 'adding %s to %s' % (text, self.dev), self.netns, kernel_first=True)
        return act

    def delete(self, args):
        text = cidr(args.get('local') or args['address'], args['prefixlen'])

        def act():
            try:
                self.ipr.addr('del', **args)
            except Exception as exc:  # pylint: disable=broad-except
                if error_code(exc) == errno.EADDRNOTAVAIL:     # already gone
                    return
                raise kernel_error(exc, 'removing %s from %s' % (text, self.dev), self.netns, kernel_first=True)
        return act

    def restore(self, before):
        """Undo: put back every address of `before` that is missing now."""
        def act():
            have = set((e['family'], e['address'], e['prefixlen']) for e in self.read())
            for e in before:
                if (e['family'], e['address'], e['prefixlen']) not in have:
                    self.add(_add_args(self.index, e['family'], e['address'], e['prefixlen'], e))()
        return act


def ensure(ctx, item):
    netns = item.get('netns') or ''
    dev = item['dev']
    key = _key(item)
    link = item['_link']
    tx = ctx.tx
    if link is None:        # only with state=absent: the link's addresses are gone with it
        return ObjectResult(key, None, None, False, [], _extra(item, [], [], []))

    ops = AddressOps(ctx, netns, dev, link['index'])
    if link.get('planned'):
        current = []        # check mode: a link the task would make (or make again) has no addresses yet
    else:
        prepare_socket(ops.ipr)
        current = ops.read()
    remove, add = plan_addresses(current, item['_wanted'], item['state'], item.get('purge'))
    before = address_list(current)
    if not remove and not add:
        return ObjectResult(key, before, before, False, [], _extra(item, current, [], []))

    start = len(tx.done)
    for i, entry in enumerate(remove):
        tx.run('remove %s from %s' % (cidr(entry['address'], entry['prefixlen']), dev),
               ops.delete(_del_args(link['index'], entry)),
               ops.restore(current) if i == 0 else None)
    if remove and not ctx.check_mode:
        # Removing an IPv4 primary address takes the secondaries of its subnet with it: put back those
        # that the task keeps (they are not in `remove`).
        gone = set((r['family'], r['address'], r['prefixlen']) for r in remove)
        now = set((e['family'], e['address'], e['prefixlen']) for e in ops.read())
        planned = set(a.key for a in add)
        for e in current:
            k = (e['family'], e['address'], e['prefixlen'])
            if k not in gone and k not in now and k not in planned:
                tx.run('re-add %s to %s (removed by the kernel with its primary address)'
                       % (cidr(e['address'], e['prefixlen']), dev),
                       ops.add(_add_args(link['index'], e['family'], e['address'], e['prefixlen'], e)),
                       ops.delete(_del_args(link['index'], e)))
    for a in add:
        tx.run('add %s to %s' % (a.cidr, dev),
               ops.add(_add_args(link['index'], a.family, a.address, a.prefixlen)),
               ops.delete(_del_args(link['index'], {'family': a.family, 'address': a.address,
                                                    'prefixlen': a.prefixlen})))
    after_entries = predict_addresses(current, remove, add) if ctx.check_mode else ops.read()
    after = address_list(after_entries)
    return ObjectResult(key, before, after, True, tx.done[start:], _extra(item, after_entries, add, remove))


def validate(items, batch):
    errors = []
    for item in items:
        label = item.get('dev') or '(no dev)'
        if batch:
            label = _key(item) if item.get('dev') else label
        own = []
        err = validate_ifname(item.get('dev'), 'dev')
        if err:
            own.append(err if item.get('dev') else 'dev is required')
        if item.get('netns'):
            err = validate_netns_name(item['netns'])
            if err:
                own.append(err)
        if not item.get('address'):
            own.append('address must list at least one address')
        wanted, errs = parse_address_list(item.get('address'))
        own.extend(errs)
        if item.get('state') != 'absent':
            for a in wanted:
                why = unusable_address(a, item.get('dev'))
                if why:
                    own.append('invalid address %s: %s' % (a.cidr, why))
        item['_wanted'] = wanted
        errors.extend('%s: %s' % (label, e) for e in own)
    if not errors:
        errors = task_errors(items, _key, 'links listed more than once in batch')
    return errors


def resolve_links(ctx, items):
    """Look every link up before changing anything: a missing one is an error (with state=present)."""
    errors = []
    for item in items:
        netns = item.get('netns') or ''
        link = read_link(ctx, netns, ifname=item['dev'])
        if link is None and item['state'] == 'present':
            errors.append('link %s not found in %s' % (item['dev'], ns_label(netns)))
        item['_link'] = link
    return errors


class Address(Spec):
    """The addresses of one link per object (the module virtnet.linux.address)."""

    keys = KEYS
    needs_pyroute2 = True

    def validate_all(self, items, batch):
        return items, validate(items, batch)

    def key(self, item):
        return _key(item)

    def needs(self, item):
        netns = item.get('netns') or ''
        out = [(netns_key(netns), 'needed for the addresses of %s' % item['dev'], None)]
        if item['state'] != 'absent':
            out.append((link_key(netns, item['dev']), 'the link of addresses', None))
        return out

    def gone(self, item):
        return ObjectResult(_key(item), None, None, False, [], _extra(item, [], [], []))

    def resolve_all(self, ctx, items):
        return resolve_links(ctx, items)

    def ensure(self, ctx, item):
        return ensure(ctx, item)
