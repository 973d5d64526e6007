"""The two CA hierarchies created on first start (spec P-1).

Root programs require TLS-only hierarchies, so login certificates get their own root:

    tls-root    -> server-ca -> server-ocsp    (server certificates)
    client-root -> login-ca  -> login-ocsp  (login certificates)

Every certificate is linted before the real key signs it; private keys leave this module
only as encrypted PKCS#8 PEM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import CertificatePoliciesOID, ExtendedKeyUsageOID

from domain.pki.extensions import (
    aki,
    authority_information_access,
    ca_issuers_url,
    ca_subject,
    crl_distribution_points,
    crl_url,
    distribution_base,
    random_serial,
    ski,
)
from domain.pki.key_encryption import encrypt_private_key
from domain.pki.lint import CaPrivateKey, LintProfile, sign_linted

TLS_ROOT, TLS_CA, TLS_OCSP = "tls-root", "server-ca", "server-ocsp"
CLIENT_ROOT, CLIENT_CA, CLIENT_OCSP = "client-root", "login-ca", "login-ocsp"
HIERARCHY = (TLS_ROOT, TLS_CA, TLS_OCSP, CLIENT_ROOT, CLIENT_CA, CLIENT_OCSP)
ROOTS = (TLS_ROOT, CLIENT_ROOT)
CRL_ISSUERS = (TLS_ROOT, TLS_CA, CLIENT_ROOT, CLIENT_CA)  # roots publish an ARL for their issuing CA
PUBLISHED_CAS = CRL_ISSUERS  # the CA certificates served at /pki/{name}.crt
ROOT_OF = {TLS_CA: TLS_ROOT, CLIENT_CA: CLIENT_ROOT}
RESPONDER_OF = {TLS_CA: TLS_OCSP, CLIENT_CA: CLIENT_OCSP}
# Keys that sign certificates or CRLs: kept apart from the database, read by the worker alone.
# The delegated OCSP responders' keys sign only OCSP answers and may be held by the web process.
SIGNING_CAS = CRL_ISSUERS

ROOT_DAYS = 15 * 365  # BR 6.3.2: roots between 2922 and 9132 days
ISSUING_CA_DAYS = 8 * 365
# Responders carry ocsp-nocheck, so they cannot be revoked: keep them short and renew.
OCSP_RESPONDER_DAYS = 365


@dataclass(frozen=True)
class CaMaterial:
    """What is stored: the certificate and its passphrase-encrypted private key (both PEM)."""

    name: str
    cert_pem: str
    key_pem: str


@dataclass(frozen=True)
class Hierarchy:
    entries: tuple[CaMaterial, ...]

    def get(self, name: str) -> CaMaterial:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)


@dataclass(frozen=True)
class CaSigner:
    """A decrypted CA (or OCSP responder) ready to sign."""

    name: str
    certificate: x509.Certificate
    private_key: CaPrivateKey


def _passphrase(passphrase: str | bytes) -> bytes:
    data = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if not data:
        raise ValueError("a non-empty passphrase is required to store CA keys")
    return data


def encrypt_key(key: CaPrivateKey, passphrase: str | bytes) -> str:
    return encrypt_private_key(key, _passphrase(passphrase))  # PBKDF2 at 600,000 iterations


def load_signer(material: CaMaterial, passphrase: str | bytes) -> CaSigner:
    """Decrypts a stored CA; a wrong passphrase raises ValueError."""
    key = serialization.load_pem_private_key(material.key_pem.encode("ascii"), _passphrase(passphrase))
    if not isinstance(key, CaPrivateKey):
        raise ValueError(f"{material.name}: unsupported CA key type {type(key).__name__}")
    cert = x509.load_pem_x509_certificate(material.cert_pem.encode("ascii"))
    if cert.public_key() != key.public_key():
        raise ValueError(f"{material.name}: the private key does not match the certificate")
    return CaSigner(material.name, cert, key)


# Makes the key pair of a root or issuing CA (by name and curve): in software here, on a token
# when the CA's key store is one (ca/keystore.py).
KeyMaker = Callable[[str, ec.EllipticCurve], CaPrivateKey]


def software_key(name: str, curve: ec.EllipticCurve) -> CaPrivateKey:
    return ec.generate_private_key(curve)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _start(now: datetime) -> datetime:
    return now.replace(microsecond=0)


def create_root(name: str, organisation: str, country: str, common_name: str, now: datetime,
                new_key: KeyMaker = software_key) -> CaSigner:
    key = new_key(name, ec.SECP384R1())
    subject = ca_subject(organisation, country, common_name)
    builder = x509.CertificateBuilder(
        issuer_name=subject,
        subject_name=subject,
        public_key=key.public_key(),
        serial_number=random_serial(),
        not_valid_before=_start(now),
        not_valid_after=_start(now) + timedelta(days=ROOT_DAYS) - timedelta(seconds=1),
    )
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski(key.public_key()), critical=False)
        .add_extension(aki(key.public_key()), critical=False)
    )
    return CaSigner(name, sign_linted(builder, key, LintProfile.ROOT_CA), key)


def create_issuing_ca(
    name: str,
    root: CaSigner,
    organisation: str,
    country: str,
    common_name: str,
    public_url: str,
    eku: x509.ObjectIdentifier,
    now: datetime,
    new_key: KeyMaker = software_key,
) -> CaSigner:
    key = new_key(name, ec.SECP256R1())
    builder = (
        x509.CertificateBuilder(
            issuer_name=root.certificate.subject,
            subject_name=ca_subject(organisation, country, common_name),
            public_key=key.public_key(),
            serial_number=random_serial(),
            not_valid_before=_start(now),
            not_valid_after=_start(now) + timedelta(days=ISSUING_CA_DAYS) - timedelta(seconds=1),
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        # Affiliated CA: anyPolicy lets it issue both the OV and EV profiles.
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(CertificatePoliciesOID.ANY_POLICY, None)]),
            critical=False,
        )
        .add_extension(ski(key.public_key()), critical=False)
        .add_extension(aki(root.private_key.public_key()), critical=False)
        .add_extension(crl_distribution_points(crl_url(public_url, root.name)), critical=False)
        .add_extension(authority_information_access(None, ca_issuers_url(public_url, root.name)), critical=False)
    )
    profile = LintProfile.TLS_ISSUING_CA if eku == ExtendedKeyUsageOID.SERVER_AUTH else LintProfile.NON_TLS_CA
    return CaSigner(name, sign_linted(builder, root.private_key, profile), key)


def issue_ocsp_responder(
    name: str,
    issuer: CaSigner,
    organisation: str,
    country: str,
    common_name: str,
    now: datetime,
    days: int = OCSP_RESPONDER_DAYS,
) -> CaSigner:
    """Delegated OCSP responder certificate (BR 7.1.2.8); also used to renew one."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder(
            issuer_name=issuer.certificate.subject,
            subject_name=ca_subject(organisation, country, common_name),
            public_key=key.public_key(),
            serial_number=random_serial(),
            not_valid_before=_start(now),
            not_valid_after=_start(now) + timedelta(days=days) - timedelta(seconds=1),
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(ski(key.public_key()), critical=False)
        .add_extension(aki(issuer.private_key.public_key()), critical=False)
    )
    return CaSigner(name, sign_linted(builder, issuer.private_key, LintProfile.OCSP_RESPONDER), key)


def _material(signer: CaSigner, passphrase: str | bytes) -> CaMaterial:
    cert_pem = signer.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return CaMaterial(signer.name, cert_pem, encrypt_key(signer.private_key, passphrase))


def create_hierarchy(
    public_url: str,
    organisation: str,
    now: datetime,
    passphrase: str | bytes,
    country: str = "US",
) -> Hierarchy:
    """Creates both hierarchies; `public_url` is where CRLs, CA certificates and OCSP are served."""
    _passphrase(passphrase)  # fail before doing any work
    signers = build_hierarchy(public_url, organisation, now, country)
    return Hierarchy(tuple(_material(signer, passphrase) for signer in signers))


def build_hierarchy(
    public_url: str,
    organisation: str,
    now: datetime,
    country: str = "US",
    new_key: KeyMaker = software_key,
) -> tuple[CaSigner, ...]:
    """Both hierarchies as signers; the roots' and issuing CAs' keys come from `new_key`, the
    responders' are made here (they only sign OCSP answers and are kept encrypted in the database)."""
    distribution_base(public_url)
    signers: list[CaSigner] = []
    for root_name, ca_name, ocsp_name, label, eku in (
        (TLS_ROOT, TLS_CA, TLS_OCSP, "TLS", ExtendedKeyUsageOID.SERVER_AUTH),
        (CLIENT_ROOT, CLIENT_CA, CLIENT_OCSP, "Client Authentication", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        root = create_root(root_name, organisation, country, f"{organisation} {label} Root CA", now, new_key)
        issuing = create_issuing_ca(
            ca_name, root, organisation, country, f"{organisation} {label} Issuing CA", public_url, eku, now, new_key
        )
        ocsp = issue_ocsp_responder(
            ocsp_name, issuing, organisation, country, f"{organisation} {label} OCSP Responder", now
        )
        signers += [root, issuing, ocsp]
    return tuple(signers)
