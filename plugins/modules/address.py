#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: address
short_description: Manage the IPv4 and IPv6 addresses of a link, in any network namespace
version_added: 0.1.0
description:
  - Adds and removes IP addresses on a link (C(ip address add/del)), in the module's own network
    namespace or in a named one.
  - Addresses are compared by address and prefix length, so C(10.0.0.1/24) and C(10.0.0.1/16) are different
    addresses; listing an address that the link has with another prefix length replaces it.
  - With O(purge), the link ends up with exactly the listed addresses of each family that is listed.
  - Many links can be handled by one task with O(batch); every element is validated before anything is
    changed, and a failure undoes what the task had already done.
requirements:
  - pyroute2 (0.7 or later) on the target
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
  - virtnet.linux._attributes.ACTIONGROUP_NETLINK
  - virtnet.linux._netns
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the link's addresses before and after, as a list of CIDR strings.
options:
  dev:
    description:
      - Name of the link whose addresses are managed.
      - A link that does not exist is an error with O(state=present); with O(state=absent) its addresses
        count as already gone.
      - Required unless O(batch) is given.
    type: str
  address:
    description:
      - The addresses, in CIDR form (V(10.42.0.2/24), V(fd00:42::2/64)); a single string is accepted.
        IPv6 addresses are compared in their canonical (compressed) form.
      - An address written without a prefix length gets the host prefix (V(/32) or V(/128)), as
        C(ip address add) gives it. With O(state=absent), such an address is removed whatever its
        prefix length on the link.
      - The same address with another prefix length on the link is replaced (removed, then added).
      - IPv4 addresses with a prefix length of up to 30 get the subnet's broadcast address, like
        C(ip address add ... brd +).
      - With O(state=present), multicast addresses, the unspecified address (V(0.0.0.0), V(::)) and V(::1)
        on a link other than C(lo) are refused before anything is sent (the kernel never keeps them).
      - Required unless O(batch) is given; must not be empty.
    type: list
    elements: str
  state:
    description:
      - V(present) adds the listed addresses that the link lacks.
      - V(absent) removes the listed addresses that the link has; addresses that are already gone are
        not an error.
      - Removing an IPv4 primary address makes the kernel remove the secondary addresses of its subnet
        too (unless C(promote_secondaries) is set); the module adds back those it was not asked to remove.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove every other address of the link that belongs to a family
        (IPv4, IPv6) of which O(address) lists at least one address. Families not listed are left alone.
      - IPv6 link-local addresses (V(fe80::/10)) are never removed by purging unless they are listed in
        O(address); the kernel creates them for every link that is up.
      - Ignored with O(state=absent).
    type: bool
    default: false
  batch:
    description:
      - Several links in one task. Each element takes the options O(dev), O(address), O(state),
        O(purge) and O(netns); options an element leaves out come from the task's top level.
      - A link (O(dev) in O(netns)) must not appear twice.
    type: list
    elements: dict
    suboptions:
      dev:
        description: As O(dev).
        type: str
      address:
        description: As O(address).
        type: list
        elements: str
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
      purge:
        description: As O(purge).
        type: bool
      netns:
        description: As O(netns).
        type: str
notes:
  - IPv6 addresses added to a link that is up go through duplicate address detection and are marked
    C(tentative) for a moment; they count as present.
  - The module does not manage address lifetimes, labels, peer addresses or flags; addresses it reads
    with a peer (point-to-point) are identified by their local address.
seealso:
  - module: virtnet.linux.route
  - module: virtnet.linux.veth
  - name: ip-address(8)
    description: The iproute2 manual page for protocol addresses.
    link: https://man7.org/linux/man-pages/man8/ip-address.8.html
'''

EXAMPLES = r'''
- name: The DHCP server's address on ns-42, inside its namespace
  virtnet.linux.address:
    netns: qdhcp-42
    dev: ns-42
    address: 10.42.0.2/24

- name: IPv4 and IPv6, and nothing else of either family (link-local IPv6 stays)
  virtnet.linux.address:
    netns: qdhcp-42
    dev: ns-42
    address:
      - 10.42.0.2/24
      - fd00:42::2/64
    purge: true

- name: Remove an address (no error if it is already gone)
  virtnet.linux.address:
    netns: qdhcp-42
    dev: ns-42
    address: 10.42.0.3/24
    state: absent

- name: Several networks in one task
  virtnet.linux.address:
    purge: true
    batch:
      - {netns: qdhcp-42, dev: ns-42, address: [10.42.0.2/24]}
      - {netns: qdhcp-43, dev: ns-43, address: [10.43.0.2/24]}
      - {dev: brq44, address: [10.44.0.1/24]}
'''

RETURN = r'''
dev:
  description: The link (single form).
  returned: success, unless O(batch) is used
  type: str
  sample: ns-42
netns:
  description: The namespace of the link, V('') for the module's own (single form).
  returned: success, unless O(batch) is used
  type: str
  sample: qdhcp-42
addresses:
  description:
    - Every address of the link after the task (as predicted, in check mode), in CIDR form, IPv4 first.
    - Includes addresses the task does not manage, such as IPv6 link-local ones. Empty when the link does
      not exist.
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["10.42.0.2/24", "fd00:42::2/64", "fe80::5c1e:6dff:fe4a:1b02/64"]
added:
  description: The addresses the task added (or would add, in check mode).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["10.42.0.2/24"]
removed:
  description: The addresses the task removed (or would remove, in check mode).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["10.42.0.9/24"]
actions:
  description: What the task did (or would do, in check mode), in order (single form).
  returned: success, unless O(batch) is used
  type: list
  elements: str
  sample: ["remove 10.42.0.9/24 from ns-42", "add 10.42.0.2/24 to ns-42"]
results:
  description:
    - One entry per element of O(batch), in order, with C(name) (V(NETNS/DEV), or V(DEV) in the module's
      own namespace), C(changed), C(actions), C(dev), C(netns), C(addresses), C(added) and C(removed) as
      in the single form.
  returned: success, when O(batch) is used
  type: list
  elements: dict
  sample: [{"name": "qdhcp-42/ns-42", "changed": true, "actions": ["add 10.42.0.2/24 to ns-42"],
            "dev": "ns-42", "netns": "qdhcp-42", "addresses": ["10.42.0.2/24"], "added": ["10.42.0.2/24"],
            "removed": []}]
'''

import errno

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils._common import error_code, kernel_error, refuse_coerced_names
from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    Context, ObjectResult, batch_argument_spec, expand_batch, find_duplicates, require_pyroute2, run_objects,
)
from ansible_collections.virtnet.linux.plugins.module_utils._netlink import (
    VirtnetError, netns_exists, ns_label, validate_ifname, validate_netns_name,
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
        dups = find_duplicates(items, _key)
        if dups:
            errors.append('links listed more than once in batch: %s' % ', '.join(dups))
    if not errors:
        for item in items:
            ns = item.get('netns') or ''
            if ns and not netns_exists(ns):
                errors.append('netns %s not found (needed for the addresses of %s)' % (ns, item['dev']))
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


def main():
    module = AnsibleModule(
        argument_spec=batch_argument_spec(dict(
            dev=dict(type='str'),
            address=dict(type='list', elements='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            purge=dict(type='bool', default=False),
            netns=dict(type='str', default=''),
        )),
        required_one_of=[('dev', 'batch'), ('address', 'batch')],
        supports_check_mode=True,
    )
    refuse_coerced_names(module)
    require_pyroute2(module)
    items, batch = expand_batch(module.params, KEYS)
    errors = validate(items, batch)
    if errors:
        module.fail_json(msg='; '.join(errors))
    ctx = Context(module)
    try:
        errors = resolve_links(ctx, items)
    except VirtnetError as exc:
        errors = [exc.msg]
    if errors:
        ctx.close()
        module.fail_json(msg='; '.join(errors))
    run_objects(module, items, ensure, ctx, batch=batch)


if __name__ == '__main__':
    main()
