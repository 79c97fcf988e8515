#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: pki
short_description: An easy-rsa 3 PKI - CA, server and client certificates, tls-crypt key - issued and read in one run
version_added: 0.1.0
description:
  - Keeps an easy-rsa 3 PKI on the target in the layout easy-rsa makes, by running easy-rsa - C(init-pki)
    when O(path)C(/private) is missing, C(build-ca) when O(path)C(/ca.crt) is missing,
    C(build-server-full NAME nopass) and C(build-client-full NAME nopass) for each name of O(servers) and
    O(clients) that has no certificate (C(issued/NAME.crt)), and C(openvpn --genkey tls-crypt) for
    O(path)C(/tc.key) when O(tls_crypt) is set and the key is missing. Nothing that exists is made or
    issued again, so a PKI made by hand or by earlier versions of the C(virtnet.linux.vpn_endpoint) role
    with the same commands is taken over as it is.
  - Returns the material the task asks for with O(read) - the CA certificate, the tls-crypt key and the
    certificate and private key of each name - so that one run per host both issues and reads it.
  - Everything is done under an exclusive lock of the PKI (C(flock) of O(path)C(/.virtnet-issue.lock), the
    lock the role's issuance held), so tasks of several hosts may ask the same PKI at once. While a task
    holds it, the lock file names its process (for the message of a task that times out waiting); it is
    emptied again before the lock is released.
  - Every input is checked before anything is made. When a step fails, the PKI is put back as it was
    before the task (files easy-rsa left of a failed issuance included; a directory the task made is
    removed) and the message carries the end of easy-rsa's or openvpn's error output.
  - A task that is killed leaves a PKI the next task converges from - the easy-rsa command it had started
    finishes with the PKI still locked. A private key and a request without C(issued/NAME.crt) (what an
    issuance cut short by a crash leaves) are removed before NAME is issued; a CA key without C(ca.crt)
    likewise before the CA is built, as long as no certificate was issued.
  - The life cycle of what it issued - with O(purge), every certificate of C(issued/) that no name of
    O(servers), O(clients), O(keep) or O(read) claims is revoked (C(easyrsa revoke NAME cessationOfOperation));
    with O(renew_days), a certificate of O(servers) or O(clients) that ends within that many days is revoked as
    superseded and issued anew; with O(crl), the CRL O(path)C(/crl.pem) (C(easyrsa gen-crl)) is made when it is
    missing, after every revocation and when its nextUpdate is within O(renew_days). End dates are read from the
    files themselves, so a task with nothing to do runs no program.
  - A CA that ends within O(renew_days) is reported (a warning naming the PKI and the date, and
    RV(ca_expiring)) but never replaced - a new CA would not verify the certificates the old one issued.
  - The result holds private keys when O(read) names certificates - set C(no_log) on the task.
  - Many PKIs (for example one per VPN server instance) can be handled by one task with O(batch).
author:
  - virtnet.linux developers (@virtnet)
extends_documentation_fragment:
  - virtnet.linux._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be made and issued, and returns the material that exists already. It makes no
        directory and no lock file; it waits for the lock when the lock file exists.
  diff_mode:
    support: full
    details:
      - Names only, never key material - whether the PKI, the CA and the tls-crypt key exist, and which
        names of O(servers) and O(clients) have certificates.
requirements:
  - easy-rsa 3.0.9 or later (C(init-pki soft)) and openssl on the target; openvpn for O(tls_crypt)
  - root, or the owner of O(path)
options:
  path:
    description:
      - The PKI directory (easy-rsa's C(--pki-dir)); an absolute path. It is made (mode 0700, with missing
        parents) when it does not exist.
      - An existing directory without C(private/) that holds anything but the lock file is refused
        (C(init-pki) would delete it), and so is a directory other users can write.
      - Required unless O(batch) is given.
    type: path
  ca_cn:
    description:
      - Common name of the CA, for example V(vpn site CA) (the role's C(vpn NAME CA)); used only when the
        CA is built. Letters, digits, spaces and C(_.@-), at most 64.
      - Required when the PKI has no CA yet, so that a task that only means to read cannot make a new CA.
    type: str
  curve:
    description:
      - The elliptic curve of the keys the task makes (easy-rsa's C(EASYRSA_CURVE), with C(EASYRSA_ALGO=ec)).
        A name C(openssl ecparam -list_curves) lists.
    type: str
    default: secp384r1
  ca_days:
    description: Days the CA certificate is valid when it is built (C(EASYRSA_CA_EXPIRE)); 1 to 36500.
    type: int
    default: 3650
  cert_days:
    description:
      - Days the certificates the task issues are valid (C(EASYRSA_CERT_EXPIRE)); 1 to 36500.
      - Certificates that exist keep their dates.
    type: int
    default: 825
  servers:
    description:
      - Common names issued as server certificates (C(build-server-full NAME nopass)) unless
        C(issued/NAME.crt) exists.
      - Letters, digits and C(_.@-), at most 64, not starting with C(-) or C(.); not V(ca) (C(private/ca.key)
        is the CA key). A name may not be in both O(servers) and O(clients).
    type: list
    elements: str
    default: []
  clients:
    description:
      - Common names issued as client certificates (C(build-client-full NAME nopass)) unless
        C(issued/NAME.crt) exists. Names as in O(servers).
    type: list
    elements: str
    default: []
  tls_crypt:
    description:
      - Make the tls-crypt key O(path)C(/tc.key) (C(openvpn --genkey tls-crypt), mode 0600) when it is missing.
    type: bool
    default: false
  keep:
    description:
      - Common names whose certificates O(purge) leaves alone without the task issuing them (for example the
        certificates other hosts' tasks issue in this PKI). Names as in O(servers).
    type: list
    elements: str
    default: []
  purge:
    description:
      - Revoke every issued certificate (C(issued/NAME.crt)) whose name is not in O(servers), O(clients),
        O(keep) or O(read); with O(crl), the CRL then lists it.
    type: bool
    default: false
  renew_days:
    description:
      - Re-issue a certificate of O(servers) or O(clients) that ends within this many days (the old one is
        revoked as superseded), re-issue the CRL when its nextUpdate is that close, and warn when the CA ends
        that soon. V(0) renews nothing.
      - Must be below O(cert_days) (and below O(crl_days) with O(crl)) - otherwise every run would renew what it
        issued.
    type: int
    default: 0
  crl:
    description:
      - Keep the certificate revocation list O(path)C(/crl.pem) (for OpenVPN's C(crl-verify)) - made when
        missing, after a revocation, and when its nextUpdate is within O(renew_days).
    type: bool
    default: false
  crl_days:
    description: Days a CRL the task makes is valid (its nextUpdate; C(EASYRSA_CRL_DAYS)); 1 to 36500.
    type: int
    default: 180
  read:
    description:
      - Common names whose certificate and private key the task returns in RV(material), together with the
        CA certificate, the tls-crypt key and the CRL. V([]) returns only those two; when O(read) is not given, no
        material is returned.
      - A name must have a certificate, or be in O(servers) or O(clients) so that the task issues it;
        in check mode a name that would be issued is left out of RV(material).
    type: list
    elements: str
  easyrsa:
    description: The easy-rsa script.
    type: path
    default: /usr/share/easy-rsa/easyrsa
  openvpn:
    description: The openvpn program (for O(tls_crypt)).
    type: path
    default: /usr/sbin/openvpn
  lock_timeout:
    description:
      - Seconds to wait for the lock of each PKI (another task issuing in it); then the task fails naming
        the process that holds it. V(0) tries once.
    type: int
    default: 300
  batch:
    description:
      - Several PKIs in one task. Each element takes the options O(path), O(ca_cn), O(curve), O(ca_days),
        O(cert_days), O(servers), O(clients), O(tls_crypt), O(read), O(keep), O(purge), O(renew_days), O(crl) and
        O(crl_days); options an element leaves out come
        from the task's top level. O(easyrsa), O(openvpn) and O(lock_timeout) are the task's.
      - Every element is checked before anything is made; a PKI listed twice is refused. The PKIs are
        locked in the order of their paths and kept locked until the task ends; when one fails, every PKI
        of the task is put back as it was.
    type: list
    elements: dict
    suboptions:
      path:
        description: The PKI directory.
        type: path
        required: true
      ca_cn:
        description: Common name of the CA, when it is built.
        type: str
      curve:
        description: The elliptic curve of new keys.
        type: str
      ca_days:
        description: Days a new CA certificate is valid.
        type: int
      cert_days:
        description: Days a newly issued certificate is valid.
        type: int
      servers:
        description: Common names issued as server certificates when missing.
        type: list
        elements: str
      clients:
        description: Common names issued as client certificates when missing.
        type: list
        elements: str
      tls_crypt:
        description: Make the tls-crypt key when missing.
        type: bool
      read:
        description: Common names whose certificate and key are returned, with the CA and tls-crypt key.
        type: list
        elements: str
      keep:
        description: Common names O(purge) leaves alone.
        type: list
        elements: str
      purge:
        description: Revoke the issued certificates no name of the element claims.
        type: bool
      renew_days:
        description: Renew certificates and the CRL that end within this many days.
        type: int
      crl:
        description: Keep the CRL.
        type: bool
      crl_days:
        description: Days a new CRL is valid.
        type: int
seealso:
  - name: easy-rsa
    description: The tool this module drives.
    link: https://github.com/OpenVPN/easy-rsa
notes:
  - Works on Linux targets only.
  - Options that shape new keys and certificates (O(ca_cn), O(curve), O(ca_days), O(cert_days)) are not
    compared with what exists; nothing that exists is issued again, unless O(renew_days) renews it.
'''

EXAMPLES = r'''
- name: The PKI of VPN instance site - CA, the server's certificate and the tls-crypt key
  virtnet.linux.pki:
    path: /etc/virtnet/vpn/pki/site
    ca_cn: vpn site CA
    servers: [server]
    tls_crypt: true

- name: A client's certificate, issued on the server's host when missing, and read back in the same run
  virtnet.linux.pki:
    path: /etc/virtnet/vpn/pki/site
    clients: ["client-{{ inventory_hostname }}"]
    read: ["client-{{ inventory_hostname }}"]
  delegate_to: vpn1
  register: site_keys
  no_log: true

- name: Write the client's key (the material stays out of the output)
  ansible.builtin.copy:
    dest: /etc/openvpn/client/site.key
    content: "{{ site_keys.material.certs['client-' ~ inventory_hostname].key }}"
    mode: "0600"
  no_log: true

- name: Two server instances' PKIs in one task, each server's certificate and key read back
  virtnet.linux.pki:
    servers: [server]
    tls_crypt: true
    read: [server]
    batch:
      - path: /etc/virtnet/vpn/pki/site
        ca_cn: vpn site CA
      - path: /etc/virtnet/vpn/pki/lab
        ca_cn: vpn lab CA
        cert_days: 90
  register: servers_pki
  no_log: true

- name: A server's PKI that revokes what it no longer claims, renews within 30 days and keeps its CRL fresh
  virtnet.linux.pki:
    path: /etc/virtnet/vpn/pki/site
    ca_cn: vpn site CA
    servers: [server]
    clients: [client-laptop1]          # issued here (an exported profile)
    keep: [client-vpn2, client-vpn3]   # issued by the clients' own tasks; not revoked
    purge: true
    renew_days: 30
    crl: true
    crl_days: 825
    read: [server, client-laptop1]
  register: site_pki
  no_log: true

- name: The lab server's key (a batch's material is keyed by the PKI's path)
  ansible.builtin.copy:
    dest: /etc/openvpn/server/lab.key
    content: "{{ servers_pki.material['/etc/virtnet/vpn/pki/lab'].certs.server.key }}"
    mode: "0600"
  no_log: true
'''

RETURN = r'''
made:
  description: What the task made (in check mode - would make), among V(pki), V(ca), V(tls_crypt) and V(crl).
  returned: always, unless O(batch) is given
  type: list
  elements: str
  sample: [pki, ca, tls_crypt, crl]
issued:
  description: The common names the task issued (in check mode - would issue), servers first.
  returned: always, unless O(batch) is given
  type: list
  elements: str
  sample: [server, client-vpn2]
revoked:
  description: The common names whose certificates O(purge) revoked (in check mode - would revoke).
  returned: always, unless O(batch) is given
  type: list
  elements: str
  sample: [client-vpn3]
renewed:
  description: The common names whose certificates O(renew_days) re-issued (in check mode - would re-issue).
  returned: always, unless O(batch) is given
  type: list
  elements: str
  sample: [server]
ca_expiring:
  description: Whether the CA certificate ends within O(renew_days) (a warning says so; it is not replaced).
  returned: always, unless O(batch) is given
  type: bool
  sample: false
cleared:
  description:
    - Leftovers of an interrupted issuance that the task removed before issuing (paths relative to the PKI).
  returned: always, unless O(batch) is given
  type: list
  elements: str
  sample: [private/client-vpn2.key, reqs/client-vpn2.req]
material:
  description:
    - What O(read) asks for; empty when O(read) is not given. Secret - use C(no_log) on the task.
    - With O(batch), the PKI's path (the C(name) of its entry of RV(results)) to its material, for every PKI; the entries of
      RV(results) carry none (Ansible shows the entries of a C(results) list even when the task is
      C(no_log)).
  returned: always
  type: dict
  contains:
    ca:
      description: The CA certificate (C(ca.crt)); null when there is none (check mode).
      type: str
      returned: when O(read) is given
    tls_crypt:
      description: The tls-crypt key (C(tc.key)); null when there is none.
      type: str
      returned: when O(read) is given
    crl:
      description: The CRL (C(crl.pem)); null when there is none.
      type: str
      returned: when O(read) is given
    certs:
      description:
        - Per common name of O(read), its certificate (C(issued/NAME.crt), as easy-rsa wrote it - a text dump
          before the PEM) and its private key (C(private/NAME.key)).
      type: dict
      returned: when O(read) is given
  sample:
    ca: "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
    tls_crypt: "-----BEGIN OpenVPN Static key V1-----\n...\n"
    certs:
      client-vpn2:
        cert: "Certificate:\n    Data: ...\n-----BEGIN CERTIFICATE-----\n...\n"
        key: "-----BEGIN PRIVATE KEY-----\n...\n"
not_after:
  description:
    - When certificates expire (ISO 8601, UTC) - the CA (key V(ca)) and every name of O(servers), O(clients)
      and O(read) that has a valid certificate in easy-rsa's database (C(index.txt)); key V(crl), the CRL's
      nextUpdate.
  returned: always, unless O(batch) is given
  type: dict
  sample: {ca: "2035-11-29T20:12:19Z", server: "2028-03-06T20:12:19Z"}
actions:
  description: The commands the task ran (in check mode - would run), in order.
  returned: always, unless O(batch) is given
  type: list
  elements: str
  sample: [easyrsa init-pki soft, easyrsa build-ca nopass, easyrsa build-server-full server nopass, easyrsa gen-crl]
results:
  description:
    - With O(batch), one entry per PKI in the task's order, with the keys above but RV(material) and C(name),
      its path (normalised).
  returned: when O(batch) is given
  type: list
  elements: dict
rolled_back:
  description: On failure, the steps that were undone, newest first.
  returned: on failure, when something was undone
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.virtnet.linux.plugins.module_utils import _pki
from ansible_collections.virtnet.linux.plugins.module_utils._engine import batch_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=batch_argument_spec(dict(
            path=dict(type='path'),
            ca_cn=dict(type='str'),
            curve=dict(type='str', default='secp384r1'),
            ca_days=dict(type='int', default=3650),
            cert_days=dict(type='int', default=825),
            servers=dict(type='list', elements='str', default=[]),
            clients=dict(type='list', elements='str', default=[]),
            tls_crypt=dict(type='bool', default=False),
            read=dict(type='list', elements='str'),
            keep=dict(type='list', elements='str', default=[]),
            purge=dict(type='bool', default=False),
            renew_days=dict(type='int', default=0),
            crl=dict(type='bool', default=False),
            crl_days=dict(type='int', default=180),
            easyrsa=dict(type='path', default='/usr/share/easy-rsa/easyrsa'),
            openvpn=dict(type='path', default='/usr/sbin/openvpn'),
            lock_timeout=dict(type='int', default=300),
        ), required=('path',), exclude=('easyrsa', 'openvpn', 'lock_timeout')),
        required_one_of=[('path', 'batch')],
        mutually_exclusive=[('path', 'batch')],
        supports_check_mode=True,
    )
    _pki.run(module)


if __name__ == '__main__':
    main()
