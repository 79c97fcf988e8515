# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE to the virtnet.linux collection: no compatibility promise outside it.

"""easy-rsa 3 PKIs for the pki module, in the layout easy-rsa makes (and the vpn_endpoint role made):

    validate    every input error of every PKI, before anything is read (pure)
    read_state  what a PKI directory holds: private/, ca.crt, tc.key, issued/, leftovers (read-only)
    plan        the steps that bring it to what the task asks (pure): init-pki, build-ca,
                build-server-full / build-client-full NAME nopass, openvpn --genkey tls-crypt
    lock        PATH/.virtnet-issue.lock (flock), the lock the role's issuance took: one writer per PKI
    run         each step through easy-rsa or openvpn; a PKI is put back as it was (Snapshot) when a step
                of the task fails, and a directory the task made is removed
    material    the CA certificate, the tls-crypt key and the certificates and keys asked for

The life cycle (issue 24): with purge, every certificate issued/ holds that the task's servers, clients,
keep and read do not name is revoked (easy-rsa revoke NAME cessationOfOperation); with renew_days, a
certificate of servers or clients that ends within renew_days is revoked as superseded and issued anew;
with crl, crl.pem (easy-rsa gen-crl) is made when missing, after any revocation and when its nextUpdate
is within renew_days. The end dates are read from the certificates' and the CRL's DER (certificate_not_after,
crl_next_update): a converged task runs no program. A CA that ends within renew_days is reported (a
warning), never replaced.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import os
import platform
import re
import shutil
import stat
import tempfile
import time

from ansible_collections.virtnet.linux.plugins.module_utils._common import VirtnetError, hold_lock
from ansible_collections.virtnet.linux.plugins.module_utils import _engine
from ansible_collections.virtnet.linux.plugins.module_utils._engine import (
    ObjectResult, expand_batch, find_duplicates, run_objects,
)

#: the options of one PKI (the keys of each item; easyrsa, openvpn and lock_timeout are the task's)
KEYS = ('path', 'ca_cn', 'curve', 'ca_days', 'cert_days', 'servers', 'clients', 'tls_crypt', 'read', 'keep', 'purge',
        'renew_days', 'crl', 'crl_days')
LOCK_NAME = '.virtnet-issue.lock'
TLS_CRYPT = 'tc.key'
TLS_CRYPT_NEW = '.tc.key.virtnet-new'
CRL = 'crl.pem'
LOCK_TIMEOUT = 300
MAX_LOCK_TIMEOUT = 86400
MAX_DAYS = 36500
CN_RE = re.compile(r'^[A-Za-z0-9_.@-]{1,64}$')
CA_CN_RE = re.compile(r'^[A-Za-z0-9_.@ -]{1,64}$')
CURVE_RE = re.compile(r'^[A-Za-z0-9_-]{1,64}$')
#: names a certificate may not have: private/ca.key is the CA's key
RESERVED_CNS = ('ca',)
#: the kinds of Step, in the order a plan runs them
STEP_KINDS = ('init', 'ca', 'revoke', 'server', 'client', 'tls_crypt', 'crl')
#: why a certificate is revoked (easy-rsa's reasons): no longer claimed, or renewed
UNCLAIMED = 'cessationOfOperation'
SUPERSEDED = 'superseded'
DAY = 86400


def label(path):
    return 'pki %s' % path


# --------------------------------------------------------------------------- validation (pure)

def cn_error(cn):
    """Why `cn` cannot be a certificate name of this module, else None."""
    if not isinstance(cn, str) or not CN_RE.match(cn):
        return 'use 1 to 64 letters, digits and _ . @ -'
    if cn[0] in '-.':
        return 'it may not start with - or .'
    if cn in RESERVED_CNS:
        return 'private/%s.key is the CA key' % cn
    return None


def normalise(item):
    """The item with its lists made lists and its path normalised (no trailing /, no // or /./)."""
    out = dict(item)
    for key in ('servers', 'clients', 'keep'):
        out[key] = list(out.get(key) or [])
    if out.get('read') is not None:
        out['read'] = list(out['read'])
    path = out.get('path')
    if isinstance(path, str) and path.startswith('/') and '\0' not in path:
        out['path'] = os.path.normpath(path)
    return out


def validate(item):
    """Every input error of one PKI's options, as messages naming the PKI (pure: nothing is read)."""
    path = item.get('path')
    if not path:
        return ['pki: path is required']
    if '\0' in path:
        return ['pki %r: path contains a NUL byte' % path]
    if not path.startswith('/'):
        return ['pki %s: path must be absolute' % path]
    if os.path.normpath(path) == '/':
        return ['pki /: path must not be the root directory']
    where = label(path)
    errors = []
    for key in ('ca_days', 'cert_days', 'crl_days'):
        value = item.get(key)
        if key == 'crl_days' and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
            errors.append('%s: %s must be a whole number of days from 1 to %d, not %r' % (where, key, MAX_DAYS, value))
    renew = item.get('renew_days') or 0
    if isinstance(renew, bool) or not isinstance(renew, int) or not 0 <= renew < MAX_DAYS:
        errors.append('%s: renew_days must be a whole number of days from 0 to %d, not %r' % (where, MAX_DAYS - 1, renew))
    else:
        for key in ('cert_days',) + (('crl_days',) if item.get('crl') else ()):
            days = item.get(key)
            if isinstance(renew, int) and renew and isinstance(days, int) and not isinstance(days, bool) and renew >= days:
                errors.append('%s: renew_days (%d) must be below %s (%d): every run would renew what it issued'
                              % (where, renew, key, days))
    curve = item.get('curve')
    if not isinstance(curve, str) or not CURVE_RE.match(curve):
        errors.append('%s: invalid curve %r (a name as openssl ecparam -list_curves shows it)' % (where, curve))
    ca_cn = item.get('ca_cn')
    if ca_cn is not None and (not CA_CN_RE.match(ca_cn) or ca_cn != ca_cn.strip() or ca_cn[0] in '-.'):
        errors.append('%s: invalid ca_cn %r: use 1 to 64 letters, digits, spaces and _ . @ -, not starting with '
                      '- or . or a space, not ending with a space' % (where, ca_cn))
    lists = [('servers', item.get('servers') or []), ('clients', item.get('clients') or []),
             ('keep', item.get('keep') or [])]
    if item.get('read') is not None:
        lists.append(('read', item['read']))
    for key, cns in lists:
        for cn in cns:
            why = cn_error(cn)
            if why:
                errors.append('%s: invalid CN %r in %s: %s' % (where, cn, key, why))
        dups = find_duplicates(cns, lambda cn: cn)
        if dups:
            errors.append('%s: CN listed twice in %s: %s' % (where, key, ', '.join(dups)))
    both = [cn for cn in (item.get('servers') or []) if cn in (item.get('clients') or [])]
    if both:
        errors.append('%s: CN in both servers and clients: %s' % (where, ', '.join(both)))
    return errors


def validate_all(items):
    """Every input error of the task's PKIs, and the PKIs listed twice."""
    errors = []
    for item in items:
        errors.extend(validate(item))
    if not errors:
        dups = find_duplicates(items, lambda item: item['path'])
        if dups:
            errors.append('pki listed twice in batch: %s' % ', '.join(dups))
    return errors


# --------------------------------------------------------------------------- state (read-only)

def _names(directory, suffix):
    try:
        entries = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return set(name[:-len(suffix)] for name in entries if name.endswith(suffix) and len(name) > len(suffix))


def _end(path, reader):
    """The date `reader` finds in the file at `path` (ISO 8601), None when it is missing or has none."""
    try:
        with open(path) as f:
            return reader(f.read())
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None


def read_state(path, names=()):
    """What the PKI directory `path` holds (plain data; nothing is made or changed); `not_after` has the end
    dates of the certificates of `names` that are issued, `ca_not_after` the CA's, `crl_next` the CRL's
    nextUpdate (read from their DER: no program runs)."""
    state = dict(path=path, exists=False, is_dir=False, mode=None, entries=[], private=False, ca_crt=False,
                 ca_key=False, tls_crypt=False, issued=set(), keys=set(), reqs=set(), crl=False, crl_next=None,
                 ca_not_after=None, not_after={})
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return state
    state['exists'] = True
    state['is_dir'] = stat.S_ISDIR(st.st_mode)
    state['mode'] = stat.S_IMODE(st.st_mode)
    if not state['is_dir']:
        return state
    state['entries'] = sorted(os.listdir(path))
    state['private'] = os.path.isdir(os.path.join(path, 'private'))
    state['ca_crt'] = os.path.isfile(os.path.join(path, 'ca.crt'))
    state['ca_key'] = os.path.lexists(os.path.join(path, 'private', 'ca.key'))
    state['tls_crypt'] = os.path.isfile(os.path.join(path, TLS_CRYPT))
    state['issued'] = _names(os.path.join(path, 'issued'), '.crt')
    state['keys'] = _names(os.path.join(path, 'private'), '.key') - set(RESERVED_CNS)
    state['reqs'] = _names(os.path.join(path, 'reqs'), '.req')
    state['crl'] = os.path.isfile(os.path.join(path, CRL))
    if state['crl']:
        state['crl_next'] = _end(os.path.join(path, CRL), crl_next_update)
    if state['ca_crt']:
        state['ca_not_after'] = _end(os.path.join(path, 'ca.crt'), certificate_not_after)
    for cn in names:
        if cn in state['issued']:
            state['not_after'][cn] = _end(os.path.join(path, 'issued', '%s.crt' % cn), certificate_not_after)
    return state


# --------------------------------------------------------------------------- plan (pure)

class Step(object):
    """One thing to make in a PKI. `clear`: leftovers (relative paths) removed before it runs."""

    __slots__ = ('kind', 'cn', 'clear', 'reason')

    def __init__(self, kind, cn=None, clear=(), reason=None):
        if kind not in STEP_KINDS:
            raise ValueError('unknown step kind %r' % kind)
        self.kind = kind
        self.cn = cn
        self.clear = tuple(clear)
        self.reason = reason

    def __repr__(self):
        return 'Step(%r, %r, %r, %r)' % (self.kind, self.cn, self.clear, self.reason)

    def _key(self):
        return (self.kind, self.cn, self.clear, self.reason)

    def __eq__(self, other):
        return isinstance(other, Step) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def easyrsa_args(self):
        """easy-rsa's command line after --pki-dir (None: the step is openvpn's)."""
        if self.kind == 'init':
            # soft: keeps the lock file; a plain init-pki deletes the whole directory first
            return ['init-pki', 'soft']
        if self.kind == 'ca':
            return ['build-ca', 'nopass']
        if self.kind in ('server', 'client'):
            return ['build-%s-full' % self.kind, self.cn, 'nopass']
        if self.kind == 'revoke':
            return ['revoke', self.cn, self.reason]
        if self.kind == 'crl':
            return ['gen-crl']
        return None

    def describe(self):
        if self.kind == 'tls_crypt':
            return 'openvpn --genkey tls-crypt %s' % TLS_CRYPT
        return 'easyrsa ' + ' '.join(self.easyrsa_args())

    def makes(self):
        """The files (relative to the PKI) the step must have made."""
        if self.kind == 'init':
            return ['private', 'reqs']
        if self.kind == 'ca':
            return ['ca.crt', 'private/ca.key']
        if self.kind == 'tls_crypt':
            return [TLS_CRYPT]
        if self.kind == 'crl':
            return [CRL]
        if self.kind == 'revoke':
            return []
        return ['issued/%s.crt' % self.cn, 'private/%s.key' % self.cn]

    def moves(self):
        """The files (relative to the PKI) the step moves away (revoke: to revoked/): the undo writes them back."""
        if self.kind != 'revoke':
            return []
        return ['issued/%s.crt' % self.cn, 'private/%s.key' % self.cn, 'reqs/%s.req' % self.cn]

    @property
    def generates_key(self):
        return self.kind in ('ca', 'server', 'client')


def to_epoch(iso):
    """Seconds since the epoch of an ISO 8601 UTC time as parse_time writes it (None stays None)."""
    if not iso:
        return None
    return calendar.timegm(time.strptime(iso, '%Y-%m-%dT%H:%M:%SZ'))


def ends_within(iso, days, now):
    """Whether the time `iso` is less than `days` days after `now` (or past); an unknown time is not."""
    end = to_epoch(iso)
    return end is not None and end - now < days * DAY


def claimed(item):
    """The common names the task claims: purge revokes every other issued certificate."""
    return set(item.get('servers') or []) | set(item.get('clients') or []) | set(item.get('keep') or []) | \
        set(item.get('read') or [])


def renewals(state, item, now):
    """The certificates of servers and clients that end within renew_days (sorted)."""
    days = item.get('renew_days') or 0
    if not days:
        return []
    return sorted(cn for cn in set(item.get('servers') or []) | set(item.get('clients') or [])
                  if cn in state['issued'] and ends_within(state['not_after'].get(cn), days, now))


def plan(state, item, now=None):
    """(steps, errors): what to run to bring the PKI `state` to what `item` asks, in order, or why not.

    A certificate counts as issued when issued/CN.crt exists (as the role's `creates` had it); it is
    never issued again, unless renew_days renews it (revoked as superseded, then issued anew).
    private/CN.key and reqs/CN.req without issued/CN.crt are what an issuance that was interrupted leaves
    (easy-rsa refuses to overwrite them): they are cleared before CN is issued. With purge, the issued
    certificates no name of the task claims are revoked; with crl, the CRL is made when it is missing,
    after a revocation, and when its nextUpdate is within renew_days (`now`: seconds since the epoch).
    """
    now = time.time() if now is None else now
    path = item['path']
    where = label(path)
    if state['exists'] and not state['is_dir']:
        return [], ['%s: %s is not a directory' % (where, path)]
    if state['exists'] and state['mode'] & 0o022:
        return [], ['%s: %s can be written by other users (mode %04o): refusing to use it'
                    % (where, path, state['mode'])]
    steps, errors = [], []
    fresh = not state['private']
    if fresh:
        others = [name for name in state['entries'] if name not in (LOCK_NAME, TLS_CRYPT_NEW)]
        if others:
            return [], ['%s: %s is not an easy-rsa PKI (no private/) but holds %s: refusing to init-pki over it'
                        % (where, path, ', '.join(others[:8]) + (', ...' if len(others) > 8 else ''))]
        steps.append(Step('init'))
    if fresh or not state['ca_crt']:
        if item.get('ca_cn') is None:
            errors.append('%s has no CA (ca.crt): ca_cn is needed to build one' % where)
        issued = sorted(state['issued'])
        if issued:
            errors.append('%s: ca.crt is missing but certificates were issued (%s): restore ca.crt; a new CA '
                          'would not verify them' % (where, ', '.join(issued[:8])))
        steps.append(Step('ca', clear=['private/ca.key'] if state['ca_key'] else []))
    renew = renewals(state, item, now)
    if item.get('purge'):
        for cn in sorted(state['issued'] - claimed(item)):
            steps.append(Step('revoke', cn, reason=UNCLAIMED))
    for cn in renew:
        steps.append(Step('revoke', cn, reason=SUPERSEDED))
    for kind, key in (('server', 'servers'), ('client', 'clients')):
        for cn in item.get(key) or []:
            if cn in state['issued'] and cn not in renew:
                continue
            # a renewed certificate's key and request went with it (revoked/)
            clear = [] if cn in renew else (['private/%s.key' % cn] if cn in state['keys'] else []) + \
                (['reqs/%s.req' % cn] if cn in state['reqs'] else [])
            steps.append(Step(kind, cn, clear))
    if item.get('tls_crypt') and not state['tls_crypt']:
        steps.append(Step('tls_crypt'))
    if item.get('crl') and (not state['crl'] or any(s.kind in ('ca', 'revoke') for s in steps) or
                            state['crl_next'] is None or ends_within(state['crl_next'], item.get('renew_days') or 0, now)):
        steps.append(Step('crl'))
    to_issue = set(step.cn for step in steps if step.kind in ('server', 'client'))
    for cn in item.get('read') or []:
        if cn in to_issue:
            continue
        if cn not in state['issued']:
            errors.append('%s: cannot read CN %s: issued/%s.crt does not exist and %s is not in servers or clients'
                          % (where, cn, cn, cn))
        elif cn not in state['keys']:
            errors.append('%s: cannot read CN %s: issued/%s.crt has no key private/%s.key' % (where, cn, cn, cn))
    return steps, errors


def summary(steps):
    """(made, issued, cleared) of a plan: made among pki, ca, tls_crypt, crl; CNs issued (renewed ones
    too); leftovers."""
    made = [{'init': 'pki', 'ca': 'ca', 'tls_crypt': 'tls_crypt', 'crl': 'crl'}[s.kind] for s in steps
            if s.kind in ('init', 'ca', 'tls_crypt', 'crl')]
    issued = [s.cn for s in steps if s.kind in ('server', 'client')]
    cleared = [rel for s in steps for rel in s.clear]
    return made, issued, cleared


def revocations(steps):
    """(revoked, renewed) of a plan: the CNs revoked as no longer claimed, and those renewed."""
    return ([s.cn for s in steps if s.kind == 'revoke' and s.reason != SUPERSEDED],
            [s.cn for s in steps if s.kind == 'revoke' and s.reason == SUPERSEDED])


def view(state, item, steps=()):
    """Names only, never key material: the PKI as the diff shows it, after `steps` when given."""
    made, issued, dummy = summary(steps)
    revoked, renewed = revocations(steps)
    have = (set(state['issued']) - set(revoked)) | set(issued)
    return {
        'pki': bool(state['private']) or 'pki' in made,
        'ca': bool(state['ca_crt']) or 'ca' in made,
        'tls_crypt': bool(state['tls_crypt']) or 'tls_crypt' in made,
        'crl': bool(state.get('crl')) or 'crl' in made,
        'servers': [cn for cn in item.get('servers') or [] if cn in have],
        'clients': [cn for cn in item.get('clients') or [] if cn in have],
        'certificates': sorted(have),
        'renewed': renewed,
    }


# --------------------------------------------------------------------------- easy-rsa's database (seam)

def parse_time(text):
    """An ASN.1 time of easy-rsa's index (UTCTime YYMMDDHHMMSSZ or GeneralizedTime) as ISO 8601."""
    if not text:
        return None
    digits = text.rstrip('Z')
    if len(digits) == 12 and digits.isdigit():
        year = int(digits[:2])
        digits = ('19' if year >= 50 else '20') + digits
    if len(digits) != 14 or not digits.isdigit():
        return None
    return '%s-%s-%sT%s:%s:%sZ' % (digits[:4], digits[4:6], digits[6:8], digits[8:10], digits[10:12], digits[12:14])


def parse_index(text):
    """easy-rsa's index.txt (openssl ca's database) as entries: status V/R/E, not_after, revoked,
    serial, subject and cn (the subject's last CN)."""
    entries = []
    for line in text.splitlines():
        fields = line.split('\t')
        if len(fields) < 6 or fields[0] not in ('V', 'R', 'E'):
            continue
        subject = fields[5]
        cn = None
        for part in re.split(r'[/,]', subject):
            if part.strip().startswith('CN='):
                cn = part.strip()[3:]
        entries.append(dict(status=fields[0], not_after=parse_time(fields[1]),
                            revoked=parse_time(fields[2].split(',')[0]) if fields[2] else None,
                            serial=fields[3], subject=subject, cn=cn))
    return entries


def read_index(path):
    """The entries of PATH/index.txt (none when it does not exist)."""
    try:
        with open(os.path.join(path, 'index.txt')) as f:
            return parse_index(f.read())
    except FileNotFoundError:
        return []


def valid_not_after(entries, cns):
    """{CN: notAfter} of the newest valid (V) certificate of each of `cns` in the index."""
    wanted = set(cns)
    out = {}
    for entry in entries:
        if entry['status'] == 'V' and entry['cn'] in wanted:
            out[entry['cn']] = entry['not_after']
    return out


def _der(data, pos):
    """(tag, start, end) of the DER element at `pos`: its tag and where its content starts and ends."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7f
        if not 1 <= count <= 4:
            raise ValueError('unsupported DER length')
        length = int.from_bytes(data[pos:pos + count], 'big')
        pos += count
    if pos + length > len(data):
        raise ValueError('truncated DER')
    return tag, pos, pos + length


def certificate_not_after(text):
    """The notAfter (ISO 8601) of the first certificate in `text` (PEM; easy-rsa's text dump before it
    is skipped), read from its DER without a program; None when there is none that can be read."""
    match = re.search(r'-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----', text, re.S)
    if not match:
        return None
    try:
        der = base64.b64decode(''.join(match.group(1).split()), validate=True)
        certificate, pos, dummy = _der(der, 0)
        tbs, pos, end = _der(der, pos)
        fields = []
        while pos < end and len(fields) < 4:              # serialNumber, signature, issuer, validity
            tag, start, stop = _der(der, pos)
            if tag != 0xa0:                               # [0] version
                fields.append((tag, start, stop))
            pos = stop
        validity, start, stop = fields[3]
        before, dummy, after = _der(der, start)
        tag, start, stop = _der(der, after)
        if (certificate, tbs, validity) != (0x30, 0x30, 0x30) or before not in (0x17, 0x18) or \
                tag not in (0x17, 0x18):          # SEQUENCEs; UTCTime or GeneralizedTime
            return None
        return parse_time(der[start:stop].decode('ascii'))
    except (ValueError, IndexError, UnicodeDecodeError, binascii.Error):
        return None


def crl_next_update(text):
    """The nextUpdate (ISO 8601) of the CRL in `text` (PEM), read from its DER without a program; None when
    it has none or cannot be read."""
    match = re.search(r'-----BEGIN X509 CRL-----(.*?)-----END X509 CRL-----', text, re.S)
    if not match:
        return None
    try:
        der = base64.b64decode(''.join(match.group(1).split()), validate=True)
        outer, pos, dummy = _der(der, 0)
        tbs, pos, end = _der(der, pos)
        if (outer, tbs) != (0x30, 0x30):
            return None
        tag, start, stop = _der(der, pos)
        if tag == 0x02:                                   # version
            pos = stop
        for dummy in range(2):                            # signature, issuer
            tag, start, pos = _der(der, pos)
        tag, start, pos = _der(der, pos)                  # thisUpdate
        if tag not in (0x17, 0x18) or pos >= end:
            return None
        tag, start, stop = _der(der, pos)                 # nextUpdate (optional)
        if tag not in (0x17, 0x18):
            return None
        return parse_time(der[start:stop].decode('ascii'))
    except (ValueError, IndexError, UnicodeDecodeError, binascii.Error):
        return None


# --------------------------------------------------------------------------- commands

def runner(module, locks=()):
    """run(argv, env=None, umask=None) -> (rc, stdout, stderr): a program run through the module from /,
    with `env` added to the environment (C locale).

    The program writes its output into files, not into pipes to this process, and inherits the open lock
    files in `locks` (a list the Context fills; a flock belongs to the open file): an easy-rsa whose
    module is killed does not die of SIGPIPE half-way through an issuance (easy-rsa then deletes the
    key and request of a certificate it has already signed), but ends its work with the PKI still
    locked, so the next task finds it whole and cannot write beside it."""
    def run(argv, env=None, umask=None):
        update = dict(env or {}, LC_ALL='C')
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # by path, not by number: sh (dash) takes single-digit fd numbers only, and with a lock per PKI of
            # a batch the files' numbers pass 9
            script = 'exec "$@" >/dev/fd/%d 2>/dev/fd/%d' % (out.fileno(), err.fileno())
            rc, dummy, dummy = module.run_command(
                ['/bin/sh', '-c', script, 'sh'] + list(argv), cwd='/', environ_update=update, umask=umask,
                expand_user_and_vars=False, handle_exceptions=False,
                pass_fds=tuple(locks) + (out.fileno(), err.fileno()))
            out.seek(0)
            err.seek(0)
            return rc, out.read().decode('utf-8', 'replace'), err.read().decode('utf-8', 'replace')
    return run


def clean_environment(environ=None):
    """Drop the caller's EASYRSA_* and OPENSSL_CONF from this process's environment (the programs' base):
    easy-rsa would take them over the PKI's own settings."""
    environ = os.environ if environ is None else environ
    for key in list(environ):
        if key.startswith('EASYRSA') or key == 'OPENSSL_CONF':
            del environ[key]


def error_tail(text, lines=6):
    """The last non-empty lines of a program's output, joined on one line, with any PEM block left out."""
    kept, in_pem = [], False
    for line in text.splitlines():
        if line.startswith('-----BEGIN '):
            in_pem = True
            continue
        if line.startswith('-----END '):
            in_pem = False
            continue
        if in_pem or not line.strip() or line.strip() == '-----':
            continue
        kept.append(line.strip())
    return ' | '.join(kept[-lines:])


def easyrsa_env(item, ca=False):
    """easy-rsa's settings: batch mode, EC keys on the item's curve, its validity periods; the CA's CN only
    for build-ca (as the role set them)."""
    env = dict(EASYRSA_BATCH='1', EASYRSA_ALGO='ec', EASYRSA_CURVE=item['curve'],
               EASYRSA_CA_EXPIRE=str(item['ca_days']), EASYRSA_CERT_EXPIRE=str(item['cert_days']),
               EASYRSA_CRL_DAYS=str(item.get('crl_days') or 180))
    if ca:
        env['EASYRSA_REQ_CN'] = item['ca_cn']
    return env


class Tools(object):
    """The programs a task runs, checked once and only when a step needs them."""

    def __init__(self, easyrsa, openvpn, openssl, run):
        self.easyrsa = easyrsa
        self.openvpn = openvpn
        self.openssl = openssl
        self.run = run
        self._curves = None

    def curves(self):
        if self._curves is None:
            rc, out, err = self.run([self.openssl, 'ecparam', '-list_curves'])
            if rc != 0:
                raise VirtnetError('openssl ecparam -list_curves failed: %s' % error_tail(err or out))
            self._curves = set(line.split(':')[0].strip() for line in out.splitlines() if ':' in line)
        return self._curves

    def errors(self, items, plans):
        """Messages for the programs the planned steps need that are missing, and unknown curves."""
        errors = []
        for item, steps in zip(items, plans):
            where = label(item['path'])
            kinds = set(step.kind for step in steps)
            if kinds & set(('init', 'ca', 'revoke', 'server', 'client', 'crl')) and not _executable(self.easyrsa):
                errors.append('%s: easy-rsa not found at %s: install easy-rsa (or set easyrsa)' % (where, self.easyrsa))
            if 'tls_crypt' in kinds and not _executable(self.openvpn):
                errors.append('%s: openvpn not found at %s: install openvpn (or set openvpn)' % (where, self.openvpn))
            keyed = any(step.generates_key for step in steps)
            if keyed and not self.openssl:
                errors.append('%s: openssl not found: install openssl (easy-rsa needs it)' % where)
            elif keyed and item['curve'] not in self.curves():
                errors.append('%s: unknown curve %s (openssl ecparam -list_curves lists the known ones)'
                              % (where, item['curve']))
        return errors


def _executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def run_step(path, step, item, tools):
    """Carry out one step in the PKI `path` (under its lock). Raises VirtnetError with the program's
    error output (never key material) when it fails or does not make what it must."""
    where = label(path)
    for rel in step.clear:
        _unlink(os.path.join(path, rel))
    if step.kind == 'tls_crypt':
        new = os.path.join(path, TLS_CRYPT_NEW)
        _unlink(new)
        rc, out, err = tools.run([tools.openvpn, '--genkey', 'tls-crypt', new], umask=0o077)
        if rc != 0 or not os.path.isfile(new):
            _unlink(new)
            raise VirtnetError('%s: %s failed (exit code %d): %s' % (where, step.describe(), rc, error_tail(err or out)))
        os.chmod(new, 0o600)
        os.rename(new, os.path.join(path, TLS_CRYPT))
        return
    lock = os.path.join(path, LOCK_NAME)
    before = os.stat(lock) if step.kind == 'init' else None
    argv = [tools.easyrsa, '--pki-dir=%s' % path] + step.easyrsa_args()
    rc, out, err = tools.run(argv, env=easyrsa_env(item, ca=step.kind == 'ca'))
    if rc != 0:
        raise VirtnetError('%s: %s failed (exit code %d): %s' % (where, step.describe(), rc, error_tail(err or out)))
    if before is not None and not _same_file(before, lock):
        raise VirtnetError('%s: easy-rsa deleted the PKI directory and its lock on init-pki: easy-rsa 3.0.9 or '
                           'later is needed (init-pki soft)' % where)
    missing = [rel for rel in step.makes() if not os.path.exists(os.path.join(path, rel))]
    if step.kind == 'revoke' and os.path.exists(os.path.join(path, 'issued', '%s.crt' % step.cn)):
        raise VirtnetError('%s: %s exited 0 but left issued/%s.crt: %s'
                           % (where, step.describe(), step.cn, error_tail(err or out)))
    if missing:
        raise VirtnetError('%s: %s exited 0 but did not make %s: %s'
                           % (where, step.describe(), ', '.join(missing), error_tail(err or out)))


def _files(path):
    """Every regular file under `path` (relative), but the lock file."""
    out = []
    for root, dirs, files in os.walk(path):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), path)
            if rel != LOCK_NAME and os.path.isfile(os.path.join(root, name)):
                out.append(rel)
    return out


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _same_file(st, path):
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


# --------------------------------------------------------------------------- undo

class Snapshot(object):
    """A PKI's files before a task changes them: every path, and the contents of the files a step
    rewrites (the top level: index.txt, serial, ...) or clears. restore() puts the PKI back: what is
    new goes, what was rewritten or cleared is written back. The lock file is left alone."""

    def __init__(self, path, paths, saved):
        self.path = path
        self.paths = paths
        self.saved = saved

    @classmethod
    def take(cls, path, save=()):
        paths, saved = set(), {}
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                paths.add(os.path.relpath(os.path.join(root, name), path))
        rels = [name for name in os.listdir(path) if name != LOCK_NAME] + list(save)
        for rel in rels:
            full = os.path.join(path, rel)
            st = os.lstat(full) if os.path.lexists(full) else None
            if st is not None and stat.S_ISREG(st.st_mode):
                with open(full, 'rb') as f:
                    saved[rel] = (f.read(), stat.S_IMODE(st.st_mode))
        return cls(path, paths, saved)

    def restore(self):
        for root, dirs, files in os.walk(self.path, topdown=False):
            for name in files + dirs:
                full = os.path.join(root, name)
                rel = os.path.relpath(full, self.path)
                if rel in self.paths or rel == LOCK_NAME:
                    continue
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full)
                else:
                    _unlink(full)
        for rel, (data, mode) in sorted(self.saved.items()):
            full = os.path.join(self.path, rel)
            try:
                with open(full, 'rb') as f:
                    if f.read() == data:
                        continue
            except FileNotFoundError:
                pass
            tmp = full + '.virtnet-restore'
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, data)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            os.rename(tmp, full)


def make_dirs(path):
    """Make `path` (0700, as easy-rsa's mkdir -p under umask 077 would) and its missing parents (0755: other
    things live beside a PKI - /etc/virtnet/vpn/pki's parents hold the daemons' configuration, which the
    daemons' user must reach); the directories made, outermost first."""
    missing = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    made = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700 if directory == path else 0o755)
        except FileExistsError:
            continue
        if directory != path:
            os.chmod(directory, 0o755)      # whatever the umask of the module's session
        made.append(directory)
    return made


def remove_dirs(made):
    """Undo make_dirs: the PKI directory with what is in it, then its parents while they are empty."""
    for directory in reversed(made):
        try:
            if directory == made[-1]:
                shutil.rmtree(directory)
            else:
                os.rmdir(directory)
        except FileNotFoundError:
            pass
        except OSError:
            return   # a parent someone else now uses


# --------------------------------------------------------------------------- material

def _read_text(path):
    with open(path) as f:
        return f.read()


def read_material(path, cns):
    """{ca, tls_crypt, crl, certs: {CN: {cert, key}}} of the PKI at `path`: the files' contents as they are
    (issued/CN.crt with easy-rsa's text before the PEM); None for a CA or key that does not exist, no
    entry for a CN that has no certificate (in check mode: one that would be issued)."""
    ca = os.path.join(path, 'ca.crt')
    tc = os.path.join(path, TLS_CRYPT)
    crl = os.path.join(path, CRL)
    material = {'ca': _read_text(ca) if os.path.isfile(ca) else None,
                'tls_crypt': _read_text(tc) if os.path.isfile(tc) else None,
                'crl': _read_text(crl) if os.path.isfile(crl) else None,
                'certs': {}}
    for cn in cns:
        cert = os.path.join(path, 'issued', '%s.crt' % cn)
        key = os.path.join(path, 'private', '%s.key' % cn)
        if os.path.isfile(cert) and os.path.isfile(key):
            material['certs'][cn] = {'cert': _read_text(cert), 'key': _read_text(key)}
    return material


# --------------------------------------------------------------------------- the run

class Context(_engine.Context):
    """The engine's context of a module run (its transaction, for _engine.run_objects), locking the task's
    PKIs - each PKI's own lock, taken in path order - instead of the host lock (a PKI is not the kernel:
    other tasks of the collection on the host need not wait for an issuance); and the plans made under
    those locks."""

    def __init__(self, module, items, tools, timeout=LOCK_TIMEOUT, fds=None):
        super(Context, self).__init__(module)
        self.items = items
        self.tools = tools
        self.timeout = timeout
        self.fds = [] if fds is None else fds     # the open lock files (the runner passes them on)
        self.plans = {}

    def lock(self, timeout=None):
        if timeout is not None:
            self.timeout = timeout
        for path in sorted(item['path'] for item in self.items):
            self._lock(path)

    def _lock(self, path):
        lockfile = os.path.join(path, LOCK_NAME)
        for dummy in range(20):
            if not self.check_mode:
                made = make_dirs(path)
                if made:
                    self.tx.run('%s: directory %s (made by this task)' % (label(path), made[0]), _nothing,
                                undo=lambda made=made: remove_dirs(made))
                flags = os.O_RDWR | os.O_CREAT
            elif os.path.isfile(lockfile):
                flags = os.O_RDONLY
            else:
                return   # check mode makes no lock file; no task that locks has been here
            try:
                fd = os.open(lockfile, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:
                continue   # the directory went (the undo of another task that made it): again
            holder = hold_lock(fd, lockfile, self.timeout)
            if holder:
                os.close(fd)
                raise VirtnetError('%s: timed out after %d s waiting for its lock %s, held by %s'
                                   % (label(path), self.timeout, lockfile, holder))
            if _same_file(os.fstat(fd), lockfile):
                self.fds.append(fd)
                return
            os.close(fd)   # the file was removed while this task waited for it: lock the new one
        raise VirtnetError('%s: its lock file %s was replaced 20 times while this task waited' % (label(path), lockfile))

    def close(self):
        while self.fds:
            fd = self.fds.pop()
            try:
                # the holder's pid goes while the lock is still held: a run that changed nothing leaves the
                # PKI as it found it, its lock file included
                os.ftruncate(fd, 0)
            except OSError:
                pass    # check mode opened it read-only
            os.close(fd)
        super(Context, self).close()


def plan_all(items):
    """(states, plans, errors) of the task's PKIs, read now."""
    states, plans, errors = [], [], []
    for item in items:
        state = read_state(item['path'], item['servers'] + item['clients'])
        steps, errs = plan(state, item)
        states.append(state)
        plans.append(steps)
        errors.extend(errs)
    return states, plans, errors


def prepare(ctx, items):
    """Under the locks, before the first change: plan every PKI again (another task may have issued
    meanwhile) and refuse the task when one cannot be done."""
    states, plans, errors = plan_all(items)
    if not errors:
        errors = ctx.tools.errors(items, plans)
    if errors:
        raise VirtnetError('; '.join(errors))
    for item, state, steps in zip(items, states, plans):
        ctx.plans[item['path']] = (state, steps)


def _nothing():
    return None


def ensure(ctx, item):
    """Carry out one PKI's plan (in check mode: only report it), then read what the task asks."""
    try:
        return _ensure(ctx, item)
    except OSError as exc:
        raise VirtnetError('%s: %s' % (label(item['path']), exc))


def _ensure(ctx, item):
    path = item['path']
    state, steps = ctx.plans[path]
    if steps and not ctx.check_mode:
        save = [rel for step in steps for rel in step.clear]
        if any(step.kind == 'revoke' for step in steps):
            # easy-rsa's revoke moves the certificate, key and request (and certs_by_serial/'s copy) away
            save = _files(path)
        snapshot = Snapshot.take(path, save)
        ctx.tx.run('%s: its files (as before this task)' % label(path), _nothing, undo=snapshot.restore)
    for step in steps:
        ctx.tx.run('%s: %s' % (label(path), step.describe()),
                   lambda step=step: run_step(path, step, item, ctx.tools), undo=_nothing)
    made, issued, cleared = summary(steps)
    revoked, renewed = revocations(steps)
    extra = dict(made=made, issued=issued, cleared=cleared, revoked=revoked, renewed=renewed, material={},
                 not_after={}, ca_expiring=False)
    if item.get('read') is not None:
        extra['material'] = read_material(path, item['read'])
    named = item['servers'] + item['clients'] + (item.get('read') or [])
    extra['not_after'] = valid_not_after(read_index(path), named)
    ca = os.path.join(path, 'ca.crt')
    if os.path.isfile(ca):
        extra['not_after']['ca'] = certificate_not_after(_read_text(ca))
        if extra['not_after']['ca'] is None:
            raise VirtnetError('%s: ca.crt holds no certificate that can be read' % label(path))
        days = item.get('renew_days') or 0
        if days and ends_within(extra['not_after']['ca'], days, time.time()):
            # never replaced silently: a new CA would strand every certificate the old one issued
            extra['ca_expiring'] = True
            ctx.module.warn('%s on host %s: its CA certificate (ca.crt) ends on %s, within renew_days (%d): it is not '
                            'renewed automatically - make a new CA and re-issue its certificates before that date'
                            % (label(path), platform.node(), extra['not_after']['ca'], days))
    crl = os.path.join(path, CRL)
    if os.path.isfile(crl):
        extra['not_after']['crl'] = crl_next_update(_read_text(crl))
    return ObjectResult(path, before=view(state, item), after=view(state, item, steps), changed=bool(steps),
                        actions=[step.describe() for step in steps], extra=extra)


def material_apart(out):
    """A batch's result with each PKI's material taken out of its entry of `results` and returned in
    `material`, keyed by the entry's name (the PKI's path). Ansible censors a no_log result but shows the
    entries of its `results` that are not loop items of their own (ansible-core's TaskResult keeps a
    loop's shape), so with the material in them a no_log task would show every key with -v."""
    if isinstance(out.get('results'), list):
        out['material'] = dict((r['name'], r.pop('material')) for r in out['results']
                               if isinstance(r, dict) and 'material' in r)
    return out


class SecretsApart(object):
    """The module as run_objects uses it, returning a batch's material apart (material_apart), also when it
    fails."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)

    def exit_json(self, **out):
        self._module.exit_json(**material_apart(out))

    def fail_json(self, **out):
        self._module.fail_json(**material_apart(out))


def run(module):
    """The pki module's whole run: validate, plan (refusing early, before anything is made), then lock,
    plan again and carry out every PKI's plan in one transaction (_engine.run_objects)."""
    items, batch = expand_batch(module.params, KEYS)
    items = [normalise(item) for item in items]
    errors = validate_all(items)
    timeout = module.params['lock_timeout']
    if not 0 <= timeout <= MAX_LOCK_TIMEOUT:
        errors.append('pki: lock_timeout must be from 0 to %d seconds, not %d' % (MAX_LOCK_TIMEOUT, timeout))
    if errors:
        module.fail_json(msg='; '.join(errors))
    clean_environment()
    locks = []
    tools = Tools(module.params['easyrsa'], module.params['openvpn'], module.get_bin_path('openssl'),
                  runner(module, locks))
    try:
        dummy, plans, errors = plan_all(items)
        if not errors:
            errors = tools.errors(items, plans)
    except (OSError, VirtnetError) as exc:
        errors = [getattr(exc, 'msg', None) or str(exc)]
    if errors:
        module.fail_json(msg='; '.join(errors))
    run_objects(SecretsApart(module), items, ensure, Context(module, items, tools, timeout, locks), batch=batch,
                prepare=lambda ctx: prepare(ctx, items))
