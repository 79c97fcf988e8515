# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""Addresses of a link: every behaviour of the module virtnet.linux.address."""

from __future__ import annotations

import errno

from ansible_collections.virtnet.linux.plugins.module_utils._common import (
    error_code, kernel_error, ns_label, validate_ifname, validate_netns_name,
)
from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    ObjectResult, Spec, task_errors,
)
from ansible_collections.virtnet.linux.plugins.module_utils._link import read_link
from ansible_collections.virtnet.linux.plugins.module_utils._ip import (
    AF_INET, address_list, cidr, parse_address_list, plan_addresses,
    predict_addresses, prepare_socket, read_addresses, unusable_address,
)

KEYS = ['dev', 'address', 'state', 'purge', 'netns']


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
        self.ipr = ctx.ipr(netns)
        self.netns = netns
        self.dev = dev
        self.index = index

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
        errors = task_errors(items, _key, 'links listed more than once in batch',
                             lambda i: [(i.get('netns'), 'needed for the addresses of %s' % i['dev'])])
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

    def resolve_all(self, ctx, items):
        return resolve_links(ctx, items)

    def ensure(self, ctx, item):
        return ensure(ctx, item)
