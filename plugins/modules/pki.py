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
    lock the role's issuance held), so tasks of several hosts may ask the same PKI at once.
  - Every input is checked before anything is made. When a step fails, the PKI is put back as it was
    before the task (files easy-rsa left of a failed issuance included; a directory the task made is
    removed) and the message carries the end of easy-rsa's or openvpn's error output.
  - A task that is killed leaves a PKI the next task converges from - the easy-rsa command it had started
    finishes with the PKI still locked. A private key and a request without C(issued/NAME.crt) (what an
    issuance cut short by a crash leaves) are removed before NAME is issued; a CA key without C(ca.crt)
    likewise before the CA is built, as long as no certificate was issued.
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
  read:
    description:
      - Common names whose certificate and private key the task returns in RV(material), together with the
        CA certificate and the tls-crypt key. V([]) returns only those two; when O(read) is not given, no
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
        O(cert_days), O(servers), O(clients), O(tls_crypt) and O(read); options an element leaves out come
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
seealso:
  - name: easy-rsa
    description: The tool this module drives.
    link: https://github.com/OpenVPN/easy-rsa
notes:
  - Works on Linux targets only.
  - Options that shape new keys and certificates (O(ca_cn), O(curve), O(ca_days), O(cert_days)) are not
    compared with what exists; nothing that exists is issued again.
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

- name: Two server instances' PKIs in one task
  virtnet.linux.pki:
    servers: [server]
    tls_crypt: true
    batch:
      - path: /etc/virtnet/vpn/pki/site
        ca_cn: vpn site CA
      - path: /etc/virtnet/vpn/pki/lab
        ca_cn: vpn lab CA
        cert_days: 90
'''

RETURN = r'''
made:
  description: What the task made (in check mode - would make), among V(pki), V(ca) and V(tls_crypt).
  returned: always, unless O(batch) is given
  type: list
  elements: str
  sample: [pki, ca, tls_crypt]
issued:
  description: The common names the task issued (in check mode - would issue), servers first.
  returned: always, unless O(batch) is given
  type: list
  elements: str
  sample: [server, client-vpn2]
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
  returned: always, unless O(batch) is given
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
      and O(read) that has a valid certificate in easy-rsa's database (C(index.txt)).
  returned: always, unless O(batch) is given
  type: dict
  sample: {ca: "2035-11-29T20:12:19Z", server: "2028-03-06T20:12:19Z"}
actions:
  description: The commands the task ran (in check mode - would run), in order.
  returned: always, unless O(batch) is given
  type: list
  elements: str
  sample: [easyrsa init-pki soft, easyrsa build-ca nopass, easyrsa build-server-full server nopass]
results:
  description:
    - With O(batch), one entry per PKI in the task's order, with the keys above and C(name), its path
      (normalised).
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
