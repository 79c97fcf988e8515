# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pki module's pure logic: input validation, the plan from what a PKI holds, easy-rsa's database and
openssl's dates, error output without key material; and the undo of a task on a scratch directory (no
easy-rsa involved: the integration target runs the real one)."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.virtnet.linux.plugins.module_utils._pki import (
    LOCK_NAME, SecretsApart, Snapshot, Step, certificate_not_after, clean_environment, easyrsa_env, error_tail, make_dirs,
    material_apart, normalise, parse_index, parse_time, plan, read_state, remove_dirs, runner, summary, valid_not_after,
    crl_next_update,
    validate, validate_all, view,
)


def item(**kw):
    p = dict(path='/srv/pki', ca_cn='vpn site CA', curve='secp384r1', ca_days=3650, cert_days=825, servers=[],
             clients=[], tls_crypt=False, read=None)
    p.update(kw)
    return normalise(p)


def state(**kw):
    """A PKI as easy-rsa leaves it after init-pki and build-ca, changed by `kw`."""
    s = dict(path='/srv/pki', exists=True, is_dir=True, mode=0o700, entries=['ca.crt', 'private', 'reqs'],
             private=True, ca_crt=True, ca_key=True, tls_crypt=False, issued=set(), keys=set(), reqs=set())
    s.update(kw)
    return s


FRESH = dict(exists=False, is_dir=False, mode=None, entries=[], private=False, ca_crt=False, ca_key=False)


def fresh(**kw):
    """A directory without private/ (by default: none at all), changed by `kw`."""
    s = dict(FRESH)
    s.update(kw)
    return state(**s)


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize('kw,part', [
    (dict(path='srv/pki'), 'pki srv/pki: path must be absolute'),
    (dict(path='/'), 'path must not be the root directory'),
    (dict(path='/a\0b'), 'path contains a NUL byte'),
    (dict(ca_days=0), 'pki /srv/pki: ca_days must be a whole number of days from 1 to 36500, not 0'),
    (dict(cert_days=-1), 'cert_days must be a whole number of days from 1 to 36500, not -1'),
    (dict(cert_days=36501), 'cert_days must be a whole number'),
    (dict(curve='secp 384'), "invalid curve 'secp 384'"),
    (dict(ca_cn=' vpn'), "invalid ca_cn ' vpn'"),
    (dict(ca_cn='vpn/CA'), "invalid ca_cn 'vpn/CA'"),
    (dict(ca_cn='x' * 65), 'invalid ca_cn'),
    (dict(clients=['a b']), "pki /srv/pki: invalid CN 'a b' in clients: use 1 to 64 letters, digits and _ . @ -"),
    (dict(clients=['x' * 65]), 'invalid CN'),
    (dict(servers=['-rf']), "invalid CN '-rf' in servers: it may not start with - or ."),
    (dict(servers=['..']), "invalid CN '..' in servers: it may not start with - or ."),
    (dict(clients=['ca']), "invalid CN 'ca' in clients: private/ca.key is the CA key"),
    (dict(read=['a&b']), "invalid CN 'a&b' in read"),
    (dict(clients=['c1', 'c2', 'c1']), 'pki /srv/pki: CN listed twice in clients: c1'),
    (dict(servers=['s'], clients=['s']), 'pki /srv/pki: CN in both servers and clients: s'),
])
def test_bad_input_names_the_pki_and_the_problem(kw, part):
    errors = validate(item(**kw))
    assert any(part in e for e in errors), errors


def test_good_input_has_no_error():
    assert validate(item(servers=['server'], clients=['client-vpn2', 'laptop@home', 'a_b.c-d'], read=['server'],
                         ca_cn='vpn site CA')) == []


def test_booleans_are_no_days():
    assert validate(item(ca_days=True))


def test_path_is_normalised_and_lists_made_lists():
    it = normalise(dict(path='/srv//pki/', servers=None, clients=None, read=None))
    assert (it['path'], it['servers'], it['clients'], it['read']) == ('/srv/pki', [], [], None)


def test_a_pki_listed_twice_in_a_batch_is_refused():
    assert validate_all([item(path='/a/pki'), item(path='/a//pki/')]) == ['pki listed twice in batch: /a/pki']


# --------------------------------------------------------------------------- plan

def test_fresh_directory_gets_everything_in_easyrsa_order():
    steps, errors = plan(fresh(), item(servers=['server'], clients=['c1', 'c2'], tls_crypt=True))
    assert errors == []
    assert steps == [Step('init'), Step('ca'), Step('server', 'server'), Step('client', 'c1'), Step('client', 'c2'),
                     Step('tls_crypt')]
    assert [s.describe() for s in steps] == [
        'easyrsa init-pki soft', 'easyrsa build-ca nopass', 'easyrsa build-server-full server nopass',
        'easyrsa build-client-full c1 nopass', 'easyrsa build-client-full c2 nopass',
        'openvpn --genkey tls-crypt tc.key']
    assert summary(steps) == (['pki', 'ca', 'tls_crypt'], ['server', 'c1', 'c2'], [])


def test_converged_pki_needs_nothing():
    s = state(issued={'server', 'c1'}, keys={'server', 'c1'}, tls_crypt=True)
    assert plan(s, item(servers=['server'], clients=['c1'], tls_crypt=True, read=['c1', 'server'])) == ([], [])


def test_only_missing_certificates_are_issued():
    steps, errors = plan(state(issued={'c1'}, keys={'c1'}), item(clients=['c1', 'c2']))
    assert (steps, errors) == ([Step('client', 'c2')], [])


def test_directory_with_only_the_lock_file_is_initialised():
    steps, errors = plan(fresh(exists=True, is_dir=True, mode=0o700, entries=[LOCK_NAME]), item())
    assert (steps, errors) == ([Step('init'), Step('ca')], [])


def test_directory_that_is_no_pki_is_not_initialised_over():
    s = fresh(exists=True, is_dir=True, mode=0o755, entries=['notes.txt', LOCK_NAME])
    steps, errors = plan(s, item())
    assert steps == []
    assert errors == ['pki /srv/pki: /srv/pki is not an easy-rsa PKI (no private/) but holds notes.txt: '
                      'refusing to init-pki over it']


def test_a_file_is_no_pki():
    assert plan(state(is_dir=False), item())[1] == ['pki /srv/pki: /srv/pki is not a directory']


def test_a_directory_others_can_write_is_refused():
    assert 'can be written by other users (mode 0777)' in plan(state(mode=0o777), item())[1][0]


def test_no_ca_without_ca_cn():
    steps, errors = plan(fresh(), item(ca_cn=None, clients=['c1']))
    assert errors == ['pki /srv/pki has no CA (ca.crt): ca_cn is needed to build one']


def test_an_interrupted_build_ca_is_cleared_and_built_again():
    steps, errors = plan(state(ca_crt=False, ca_key=True), item())
    assert (steps, errors) == ([Step('ca', clear=['private/ca.key'])], [])
    assert summary(steps)[2] == ['private/ca.key']


def test_no_new_ca_over_issued_certificates():
    steps, errors = plan(state(ca_crt=False, issued={'c1'}, keys={'c1'}), item())
    assert errors == ['pki /srv/pki: ca.crt is missing but certificates were issued (c1): restore ca.crt; '
                      'a new CA would not verify them']


def test_leftovers_of_an_interrupted_issuance_are_cleared_first():
    steps, errors = plan(state(keys={'c1'}, reqs={'c1', 'c2'}), item(clients=['c1', 'c2']))
    assert errors == []
    assert steps == [Step('client', 'c1', ['private/c1.key', 'reqs/c1.req']), Step('client', 'c2', ['reqs/c2.req'])]


def test_read_needs_a_certificate_or_its_issuance():
    s = state(issued={'c1', 'nokey'}, keys={'c1'})
    assert plan(s, item(read=['c1']))[1] == []
    assert plan(s, item(clients=['c2'], read=['c2']))[1] == []
    assert plan(s, item(read=['c3']))[1] == [
        'pki /srv/pki: cannot read CN c3: issued/c3.crt does not exist and c3 is not in servers or clients']
    assert plan(s, item(read=['nokey']))[1] == [
        'pki /srv/pki: cannot read CN nokey: issued/nokey.crt has no key private/nokey.key']


def test_view_shows_names_only_before_and_after():
    s = state(issued={'c1'}, keys={'c1'})
    it = item(servers=['server'], clients=['c1', 'c2'], tls_crypt=True)
    steps, dummy = plan(s, it)
    assert view(s, it) == dict(pki=True, ca=True, tls_crypt=False, crl=False, servers=[], clients=['c1'],
                               certificates=['c1'], renewed=[])
    assert view(s, it, steps) == dict(pki=True, ca=True, tls_crypt=True, crl=False, servers=['server'],
                                      clients=['c1', 'c2'], certificates=['c1', 'c2', 'server'], renewed=[])


# --------------------------------------------------------------------------- database, dates, output

INDEX = ('V\t290306201219Z\t\tAFD8\tunknown\t/CN=server\n'
         'R\t290306201219Z\t260101000000Z,keyCompromise\t1FC1\tunknown\t/CN=c1\n'
         'V\t20550101000000Z\t\t22AA\tunknown\t/C=DE/O=x/CN=c1\n'
         'garbage line\n')


def test_index_entries():
    entries = parse_index(INDEX)
    assert [(e['status'], e['cn'], e['serial']) for e in entries] == [('V', 'server', 'AFD8'), ('R', 'c1', '1FC1'),
                                                                      ('V', 'c1', '22AA')]
    assert entries[1]['revoked'] == '2026-01-01T00:00:00Z'
    assert valid_not_after(entries, ['c1', 'server', 'c9']) == {'server': '2029-03-06T20:12:19Z',
                                                                'c1': '2055-01-01T00:00:00Z'}


@pytest.mark.parametrize('text,iso', [
    ('290306201219Z', '2029-03-06T20:12:19Z'),
    ('500101000000Z', '1950-01-01T00:00:00Z'),
    ('20991231235959Z', '2099-12-31T23:59:59Z'),
    ('', None),
    ('29030620Z', None),
])
def test_asn1_times(text, iso):
    assert parse_time(text) == iso


# self-signed test certificates (openssl req -x509 -days 3650 and -days 20000: UTCTime and GeneralizedTime)
NEAR = """-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUIzzIC5U2nrPdDz2ov60/fSUx8MwwCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEbmVhcjAeFw0yNjEyMDIyMTU4NTZaFw0zNjExMjkyMTU4NTZa
MA8xDTALBgNVBAMMBG5lYXIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATBEJeM
mErgvnaszWeZoR6mqFVdIPvyuHD4GbMEXMNWUnUHKc2hn27nq9TtF2AAYXQryCUQ
K+ov6zaKmej3Yvc+o1MwUTAdBgNVHQ4EFgQUPO8PXURvNo5lIYfA+aDL2SqRfaAw
HwYDVR0jBBgwFoAUPO8PXURvNo5lIYfA+aDL2SqRfaAwDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiA0Z9u7V1lZTxsLeE6i/c0zAyaabeTHiDoYO/n4
ZfIIewIhAMKyX5oA+OsZ63q4EWFE2SEhtdVK5DuiFJPQSNmFmVIR
-----END CERTIFICATE-----
"""
FAR = """-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUTAlrnp0Cr9vll9oggG01BqqfWd0wCgYIKoZIzj0EAwIw
DjEMMAoGA1UEAwwDZmFyMCAXDTI2MTIwMjIxNTg1NloYDzIwODEwOTA0MjE1ODU2
WjAOMQwwCgYDVQQDDANmYXIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASlVlAz
WQAvG4go7mTujAISbkqDwAnzMUVb0CrXo7TUK0xNwPKBv5rcYR8OEWk3HdXao+d9
CDBgI86XXXTSkB2go1MwUTAdBgNVHQ4EFgQUkzfGpiwixNASltAq9UggrToWfVYw
HwYDVR0jBBgwFoAUkzfGpiwixNASltAq9UggrToWfVYwDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiBnyNHH65EUZ+DlnliPaSLACqJgtF+QWDTMXwnO
0qNSZQIhANMX5QzRcxJlbwx7j/6VFCmuMb6Usz6ciC3Gi+a2nfRY
-----END CERTIFICATE-----
"""


def test_certificate_end_dates_read_from_der_as_openssl_shows_them():
    # openssl x509 -enddate: Nov 29 21:58:56 2036 GMT, Sep  4 21:58:56 2081 GMT
    assert certificate_not_after(NEAR) == '2036-11-29T21:58:56Z'
    assert certificate_not_after(FAR) == '2081-09-04T21:58:56Z'
    assert certificate_not_after('Certificate:\n    Data: ...\n' + NEAR) == '2036-11-29T21:58:56Z'


@pytest.mark.parametrize('text', [
    '', 'no certificate', NEAR.replace('MIIBcz', 'AIIBcz'), NEAR.replace('DzENMAsG', 'DzENMAsGAA'), NEAR.replace('K+ov6zaK', ''),
    '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
])
def test_what_is_no_readable_certificate_has_no_end_date(text):
    assert certificate_not_after(text) is None


def test_error_tail_leaves_pem_blocks_out():
    text = ('Using configuration from /x\n-----\n-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n\n'
            'Easy-RSA error:\n\nsigning failed\n')
    assert error_tail(text) == 'Using configuration from /x | Easy-RSA error: | signing failed'
    assert 'SECRET' not in error_tail(text, lines=50)


def test_easyrsa_settings_are_the_roles_and_the_ca_cn_only_for_build_ca():
    it = item(curve='prime256v1', ca_days=10, cert_days=5)
    assert easyrsa_env(it) == dict(EASYRSA_BATCH='1', EASYRSA_ALGO='ec', EASYRSA_CURVE='prime256v1',
                                   EASYRSA_CA_EXPIRE='10', EASYRSA_CERT_EXPIRE='5', EASYRSA_CRL_DAYS='180')
    assert easyrsa_env(it, ca=True)['EASYRSA_REQ_CN'] == 'vpn site CA'


def test_the_callers_easyrsa_settings_are_dropped():
    environ = dict(PATH='/bin', EASYRSA_VARS_FILE='/tmp/vars', EASYRSA_PKI='/x', OPENSSL_CONF='/y', HOME='/root')
    clean_environment(environ)
    assert environ == dict(PATH='/bin', HOME='/root')


# --------------------------------------------------------------------------- undo, on a scratch directory

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def tree(top):
    out = {}
    for root, dirs, files in os.walk(top):
        for name in dirs:
            out[os.path.relpath(os.path.join(root, name), top)] = None
        for name in files:
            full = os.path.join(root, name)
            with open(full) as f:
                out[os.path.relpath(full, top)] = (f.read(), oct(os.stat(full).st_mode & 0o777))
    return out


def test_snapshot_puts_a_pki_back_as_it_was(tmp_path):
    top = str(tmp_path / 'pki')
    write(os.path.join(top, 'index.txt'), 'V\tone\n')
    write(os.path.join(top, 'serial'), '01\n')
    write(os.path.join(top, 'private', 'c1.key'), 'leftover key\n')
    write(os.path.join(top, 'issued', 'old.crt'), 'old\n')
    write(os.path.join(top, LOCK_NAME), '123\n')
    os.chmod(os.path.join(top, 'index.txt'), 0o600)
    before = tree(top)
    snap = Snapshot.take(top, save=['private/c1.key'])
    # what a failed task does: rewrite the database, clear a leftover, add files and directories
    write(os.path.join(top, 'index.txt'), 'V\tone\nV\ttwo\n')
    os.unlink(os.path.join(top, 'serial'))
    os.unlink(os.path.join(top, 'private', 'c1.key'))
    write(os.path.join(top, 'issued', 'c1.crt'), 'new\n')
    write(os.path.join(top, 'certs_by_serial', 'AA.pem'), 'new\n')
    write(os.path.join(top, LOCK_NAME), '456\n')
    lock_inode = os.stat(os.path.join(top, LOCK_NAME)).st_ino
    snap.restore()
    after = tree(top)
    assert after.pop(LOCK_NAME) == ('456\n', '0o644')      # the lock file is left alone (same inode too)
    before.pop(LOCK_NAME)
    assert after == before
    assert os.stat(os.path.join(top, LOCK_NAME)).st_ino == lock_inode


def test_made_directories_are_removed_with_their_content_and_parents(tmp_path):
    top = str(tmp_path / 'a' / 'b' / 'pki')
    made = make_dirs(top)
    assert made == [str(tmp_path / 'a'), str(tmp_path / 'a' / 'b'), top]
    # the PKI itself is private; its parents are not (the daemons' configuration lives beside it, e.g. a
    # fresh host's /etc/virtnet made by the PKI must be reachable by the daemons' user)
    assert [oct(os.stat(d).st_mode & 0o777) for d in made] == ['0o755', '0o755', '0o700']
    write(os.path.join(top, 'private', 'ca.key'), 'k')
    remove_dirs(made)
    assert os.listdir(str(tmp_path)) == []


def test_a_parent_someone_else_uses_stays(tmp_path):
    top = str(tmp_path / 'a' / 'pki')
    made = make_dirs(top)
    write(str(tmp_path / 'a' / 'other'), 'x')
    remove_dirs(made)
    assert os.listdir(str(tmp_path / 'a')) == ['other']


def test_state_of_a_directory(tmp_path):
    top = str(tmp_path)
    for rel in ('ca.crt', 'private/ca.key', 'private/c1.key', 'private/c2.key', 'reqs/c2.req', 'issued/c1.crt',
                'tc.key'):
        write(os.path.join(top, rel), 'x')
    s = read_state(top)
    assert (s['private'], s['ca_crt'], s['ca_key'], s['tls_crypt']) == (True, True, True, True)
    assert (s['issued'], s['keys'], s['reqs']) == ({'c1'}, {'c1', 'c2'}, {'c2'})
    assert read_state(str(tmp_path / 'missing'))['exists'] is False


def test_a_batch_returns_its_material_apart_from_results():
    """Ansible shows the entries of a no_log result's `results` (it keeps a loop's shape): no key may be in them."""
    key = {'ca': 'CA', 'tls_crypt': 'TC', 'certs': {'c1': {'cert': 'C', 'key': 'K'}}}
    out = material_apart({'changed': True, 'results': [
        {'name': '/a/pki', 'issued': ['c1'], 'material': key}, {'name': '/b/pki', 'issued': [], 'material': {}}]})
    assert out == {'changed': True, 'material': {'/a/pki': key, '/b/pki': {}},
                   'results': [{'name': '/a/pki', 'issued': ['c1']}, {'name': '/b/pki', 'issued': []}]}
    # one PKI (no batch): as it was
    assert material_apart({'changed': False, 'material': key}) == {'changed': False, 'material': key}


def test_the_module_returns_a_batch_and_its_failure_with_the_material_apart():
    class Module(object):
        check_mode = True

        def exit_json(self, **out):
            self.exited = out

        def fail_json(self, **out):
            self.failed = out
    module = Module()
    wrapped = SecretsApart(module)
    assert wrapped.check_mode is True
    wrapped.exit_json(results=[{'name': '/a', 'material': {'ca': 'CA'}}])
    wrapped.fail_json(msg='x', results=[{'name': '/a', 'material': {'ca': 'CA'}}])
    assert module.exited == {'results': [{'name': '/a'}], 'material': {'/a': {'ca': 'CA'}}}
    assert module.failed == {'msg': 'x', 'results': [{'name': '/a'}], 'material': {'/a': {'ca': 'CA'}}}


def test_the_runner_writes_into_files_with_a_lock_per_pki_open(tmp_path):
    """A batch holds a lock per PKI, so the output files' descriptors pass 9 (sh's >&N takes one digit)."""
    class Module(object):
        def run_command(self, args, cwd=None, environ_update=None, umask=None, expand_user_and_vars=True,
                        handle_exceptions=True, pass_fds=()):
            env = dict(os.environ, **(environ_update or {}))
            done = subprocess.run(args, cwd=cwd, env=env, pass_fds=pass_fds, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, check=False)
            return done.returncode, done.stdout, done.stderr
    locks = [os.open(str(tmp_path / ('lock%d' % i)), os.O_RDWR | os.O_CREAT) for i in range(12)]
    try:
        run = runner(Module(), locks)
        assert run(['sh', '-c', 'echo out; echo err >&2; exit 3']) == (3, 'out\n', 'err\n')
    finally:
        for fd in locks:
            os.close(fd)


# --------------------------------------------------------------------------- the life cycle (issue 24)

NOW = 1800000000                    # 2027-01-15T08:00:00Z
SOON = '2027-01-20T00:00:00Z'       # within 30 days of NOW
LATER = '2029-01-01T00:00:00Z'


def cycle(**kw):
    """A PKI with a CRL, server and two clients issued, changed by `kw`."""
    s = state(issued={'server', 'client-vpn2', 'client-vpn3'}, keys={'server', 'client-vpn2', 'client-vpn3'},
              crl=True, crl_next=LATER, ca_not_after=LATER,
              not_after={'server': LATER, 'client-vpn2': LATER, 'client-vpn3': LATER})
    s.update(kw)
    return s


def test_purge_revokes_what_no_name_claims_then_reissues_the_crl():
    steps, errors = plan(cycle(), item(servers=['server'], keep=['client-vpn2'], purge=True, crl=True), now=NOW)
    assert errors == []
    assert steps == [Step('revoke', 'client-vpn3', reason='cessationOfOperation'), Step('crl')]
    assert steps[0].easyrsa_args() == ['revoke', 'client-vpn3', 'cessationOfOperation']


def test_without_purge_nothing_is_revoked():
    assert plan(cycle(), item(servers=['server'], crl=True), now=NOW) == ([], [])


def test_read_names_are_claimed_too():
    steps, dummy = plan(cycle(), item(servers=['server'], read=['client-vpn2', 'client-vpn3'], purge=True), now=NOW)
    assert steps == []


def test_a_certificate_ending_within_renew_days_is_revoked_as_superseded_and_issued_again():
    s = cycle(not_after={'server': LATER, 'client-vpn2': SOON, 'client-vpn3': LATER})
    steps, errors = plan(s, item(servers=['server'], clients=['client-vpn2'], keep=['client-vpn3'], purge=True,
                                 renew_days=30, crl=True), now=NOW)
    assert errors == []
    assert steps == [Step('revoke', 'client-vpn2', reason='superseded'), Step('client', 'client-vpn2'), Step('crl')]
    assert summary(steps)[1] == ['client-vpn2']
    assert view(s, item(clients=['client-vpn2']), steps)['renewed'] == ['client-vpn2']


def test_renew_days_zero_renews_nothing():
    s = cycle(not_after={'server': SOON})
    assert plan(s, item(servers=['server']), now=NOW) == ([], [])


def test_crl_is_made_when_missing_and_when_its_next_update_is_near():
    assert plan(cycle(crl=False, crl_next=None), item(crl=True), now=NOW)[0] == [Step('crl')]
    assert plan(cycle(crl_next=SOON), item(crl=True, renew_days=30), now=NOW)[0] == [Step('crl')]
    assert plan(cycle(crl_next=SOON), item(crl=True, renew_days=1), now=NOW)[0] == []


@pytest.mark.parametrize('kw,part', [
    (dict(renew_days=825), 'renew_days (825) must be below cert_days (825)'),
    (dict(renew_days=30, cert_days=2), 'renew_days (30) must be below cert_days (2)'),
    (dict(renew_days=30, crl=True, crl_days=30), 'renew_days (30) must be below crl_days (30)'),
    (dict(renew_days=-1), 'renew_days must be a whole number of days from 0'),
    (dict(crl_days=0), 'crl_days must be a whole number of days from 1'),
    (dict(keep=['a b']), "invalid CN 'a b' in keep"),
])
def test_bad_life_cycle_input_is_refused(kw, part):
    errors = validate(item(**dict(dict(renew_days=0, crl_days=180), **kw)))
    assert any(part in e for e in errors), errors


def test_crl_next_update_is_read_from_the_crl(tmp_path):
    key = tmp_path / 'ca.key'
    crt = tmp_path / 'ca.crt'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                    '-keyout', str(key), '-out', str(crt), '-subj', '/CN=t', '-days', '3'], check=True, capture_output=True)
    conf = tmp_path / 'ca.cnf'
    (tmp_path / 'index.txt').write_text('')
    conf.write_text('[ca]\ndefault_ca = c\n[c]\ndatabase = %s\ndefault_md = sha256\ndefault_crl_days = 7\n'
                    % (tmp_path / 'index.txt'))
    crl = subprocess.run(['openssl', 'ca', '-gencrl', '-config', str(conf), '-keyfile', str(key), '-cert', str(crt)],
                         check=True, capture_output=True, text=True).stdout
    text = subprocess.run(['openssl', 'crl', '-noout', '-nextupdate'], input=crl, check=True, capture_output=True,
                          text=True).stdout
    assert crl_next_update(crl) is not None
    assert crl_next_update(crl)[:10] == to_iso_date(text.split('=', 1)[1].strip())
    assert crl_next_update('no crl') is None


def to_iso_date(text):
    import time as _time
    return _time.strftime('%Y-%m-%d', _time.strptime(text, '%b %d %H:%M:%S %Y GMT'))
