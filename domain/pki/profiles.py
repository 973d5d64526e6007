"""End-entity certificate profiles: OV/EV server certificates (spec P-2) and login certificates (P-4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from domain.pki.csr import CheckedCsr
from domain.pki.errors import CsrError
from domain.pki.extensions import (
    PublicKey,
    aki,
    authority_information_access,
    ca_issuers_url,
    crl_distribution_points,
    crl_url,
    ocsp_url,
    random_serial,
    ski,
)
from domain.pki.hierarchy import CaSigner
from domain.pki.lint import LintProfile, sign_linted
from domain.pki.validity import server_validity

OV_POLICY = ObjectIdentifier("2.23.140.1.2.2")
EV_POLICY = ObjectIdentifier("2.23.140.1.1")
LOGIN_DAYS = 365
# PBKDF2-SHA256 iterations for PKCS#12 downloads. The password is never chosen by a person: it is
# credentials.new_download_password, 116.7 random bits. Iterations multiply an attacker's cost per
# guess; they matter for human passwords (OWASP's 600,000 assumes ~30-40 bits), not here: 2^116
# guesses at 10^12 a second, with one iteration each, take ~10^15 years. 10,000 keeps a margin for
# a weaker generator one day (~13 bits of work), stays well above the 2,048 that old Windows/macOS
# importers and OpenSSL's MAC default use, and costs milliseconds instead of a second of CPU per
# download (and per import on the user's machine).
PKCS12_KDF_ROUNDS = 10_000


@dataclass(frozen=True)
class OrganisationSubject:
    """Vetted OV subject (BR 7.1.2.7.4): C and O, plus a state and/or a locality."""

    country: str
    organisation: str
    state: str | None = None
    locality: str | None = None

    def __post_init__(self) -> None:
        if not (self.state or self.locality):
            raise ValueError("an organisation subject needs a state/province or a locality")
        if len(self.country) != 2 or not self.country.isalpha() or not self.country.isupper():
            raise ValueError(f"country must be an ISO 3166 alpha-2 code, got {self.country!r}")


@dataclass(frozen=True)
class EvSubject(OrganisationSubject):
    """Vetted EV subject (EV Guidelines 9.2): adds the registration details."""

    business_category: str = "Private Organization"
    jurisdiction_country: str = ""
    registration_number: str = ""  # goes into subject serialNumber

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.jurisdiction_country or not self.registration_number:
            raise ValueError("an EV subject needs a jurisdiction country and a registration number")


def _server_subject(subject: OrganisationSubject) -> x509.Name:
    # Attribute order follows BR 7.1.4.2 (country, state, locality, organisation); no commonName.
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, subject.country)]
    if subject.state:
        attributes.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, subject.state))
    if subject.locality:
        attributes.append(x509.NameAttribute(NameOID.LOCALITY_NAME, subject.locality))
    attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject.organisation))
    if isinstance(subject, EvSubject):
        attributes += [
            x509.NameAttribute(NameOID.BUSINESS_CATEGORY, subject.business_category),
            x509.NameAttribute(NameOID.JURISDICTION_COUNTRY_NAME, subject.jurisdiction_country),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, subject.registration_number),
        ]
    return x509.Name(attributes)


def _end_entity_key_usage(public_key: PublicKey, allow_key_encipherment: bool) -> x509.KeyUsage:
    # keyEncipherment only makes sense for RSA key transport; ECDSA keys only sign.
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=allow_key_encipherment and isinstance(public_key, rsa.RSAPublicKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _end_entity_builder(
    subject: x509.Name,
    public_key: PublicKey,
    issuer: CaSigner,
    public_url: str,
    not_before: datetime,
    not_after: datetime,
    eku: ObjectIdentifier,
    tls_server: bool,
    serial: int | None = None,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder(
            issuer_name=issuer.certificate.subject,
            subject_name=subject,
            public_key=public_key,
            serial_number=serial or random_serial(),
            not_valid_before=not_before,
            not_valid_after=not_after,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_end_entity_key_usage(public_key, not tls_server), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(aki(issuer.private_key.public_key()), critical=False)
        .add_extension(crl_distribution_points(crl_url(public_url, issuer.name)), critical=False)
        .add_extension(
            authority_information_access(ocsp_url(public_url), ca_issuers_url(public_url, issuer.name)),
            critical=False,
        )
    )
    # BR 7.1.2.7.6 makes SKI NOT RECOMMENDED for TLS subscribers (pkilint warns); keep it elsewhere.
    return builder if tls_server else builder.add_extension(ski(public_key), critical=False)


def issue_server_certificate(
    csr: CheckedCsr,
    subject: OrganisationSubject,
    issuer: CaSigner,
    public_url: str,
    not_before: datetime,
    catalog_days: int,
    serial: int | None = None,
) -> x509.Certificate:
    """OV or EV (by the subject's type) server certificate per BR 7.1.2.7, linted before signing.

    Current BRs (and pkilint) discourage two things older profiles had: SKI in subscriber
    certificates and keyEncipherment next to digitalSignature for RSA (TLS 1.3 never uses
    RSA key transport), so neither is included.
    """
    ev = isinstance(subject, EvSubject)
    wildcards = [name for name in csr.dns_names if name.startswith("*.")]
    if ev and wildcards:
        # EV Guidelines 9.2.1: no wildcards; checked here for a clear message before lint would refuse.
        raise CsrError("dns_names", f"EV certificates cannot contain wildcard names: {', '.join(wildcards)}",
                       "ev_wildcard", names=", ".join(wildcards))
    not_before = not_before.replace(microsecond=0)
    builder = (
        _end_entity_builder(
            _server_subject(subject),
            csr.public_key,
            issuer,
            public_url,
            not_before,
            server_validity(not_before, catalog_days),
            ExtendedKeyUsageOID.SERVER_AUTH,
            True,
            serial,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in csr.dns_names]), critical=False)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(EV_POLICY if ev else OV_POLICY, None)]),
            critical=False,
        )
    )
    return sign_linted(builder, issuer.private_key, LintProfile.EV if ev else LintProfile.OV)


def generate_login_key(key_type: str = "ec") -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """Server-side key for a login certificate (spec P-4): 'ec' (P-256) or 'rsa' (2048)."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r}; use 'ec' or 'rsa'")


def issue_login_certificate(
    certificate_name: str,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    issuer: CaSigner,
    public_url: str,
    not_before: datetime,
    days: int = LOGIN_DAYS,
    serial: int | None = None,
) -> x509.Certificate:
    """Client-authentication certificate whose subject CN is the user's certificate name."""
    if not certificate_name.strip() or len(certificate_name) > 64:
        raise ValueError("certificate name must be 1-64 characters (X.520 commonName upper bound)")
    not_before = not_before.replace(microsecond=0)
    builder = _end_entity_builder(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, certificate_name)]),
        key.public_key(),
        issuer,
        public_url,
        not_before,
        not_before + timedelta(days=days) - timedelta(seconds=1),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        False,
        serial,
    )
    return sign_linted(builder, issuer.private_key, LintProfile.PKIX)


def to_pkcs12(
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    chain: list[x509.Certificate],
    password: str | bytes,
) -> bytes:
    """PKCS#12 with AES-256-CBC + PBKDF2-SHA256 (not the legacy 3DES/RC2 defaults)."""
    secret = password.encode() if isinstance(password, str) else password
    if not secret:
        raise ValueError("a download password is required")
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(secret)
    )
    friendly_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(friendly_name[0].value).encode() if friendly_name else None
    return pkcs12.serialize_key_and_certificates(name, key, cert, chain or None, encryption)
