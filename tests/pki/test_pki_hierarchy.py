"""The two CA hierarchies: structure, pkilint cleanliness, and encrypted key storage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from domain.pki import hierarchy
from domain.pki.hierarchy import CaMaterial, Hierarchy, create_hierarchy, load_signer
from domain.pki.lint import LintProfile, lint_certificate

NOW = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple"
URL = "https://pki.certdesk.example.com/"


@pytest.fixture(scope="module")
def created() -> Hierarchy:
    return create_hierarchy(URL, "Certdesk Test CA", NOW, PASSPHRASE, country="DE")


def cert_of(h: Hierarchy, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(h.get(name).cert_pem.encode())


# (name, issuer, pkilint profile, curve, EKU or None)
LAYOUT = [
    (hierarchy.TLS_ROOT, hierarchy.TLS_ROOT, LintProfile.ROOT_CA, "secp384r1", None),
    (
        hierarchy.TLS_CA,
        hierarchy.TLS_ROOT,
        LintProfile.TLS_ISSUING_CA,
        "secp256r1",
        ExtendedKeyUsageOID.SERVER_AUTH,
    ),
    (
        hierarchy.TLS_OCSP,
        hierarchy.TLS_CA,
        LintProfile.OCSP_RESPONDER,
        "secp256r1",
        ExtendedKeyUsageOID.OCSP_SIGNING,
    ),
    (hierarchy.CLIENT_ROOT, hierarchy.CLIENT_ROOT, LintProfile.ROOT_CA, "secp384r1", None),
    (
        hierarchy.CLIENT_CA,
        hierarchy.CLIENT_ROOT,
        LintProfile.NON_TLS_CA,
        "secp256r1",
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ),
    (
        hierarchy.CLIENT_OCSP,
        hierarchy.CLIENT_CA,
        LintProfile.OCSP_RESPONDER,
        "secp256r1",
        ExtendedKeyUsageOID.OCSP_SIGNING,
    ),
]


def test_all_six_entries_exist(created: Hierarchy) -> None:
    assert [e.name for e in created.entries] == [row[0] for row in LAYOUT]
    with pytest.raises(KeyError):
        created.get("nope")


@pytest.mark.parametrize(("name", "issuer", "profile", "curve", "eku"), LAYOUT)
def test_certificate_shape_and_lint(
    created: Hierarchy,
    name: str,
    issuer: str,
    profile: LintProfile,
    curve: str,
    eku: x509.ObjectIdentifier | None,
) -> None:
    cert = cert_of(created, name)
    issuer_cert = cert_of(created, issuer)
    cert.verify_directly_issued_by(issuer_cert)
    assert lint_certificate(cert.public_bytes(Encoding.DER), profile) == []
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == curve
    assert cert.not_valid_before_utc == NOW.replace(microsecond=0)
    assert cert.serial_number.bit_length() > 64
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Certdesk Test CA"
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    if eku is None:
        with pytest.raises(x509.ExtensionNotFound):
            cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
    else:
        assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [eku]


@pytest.mark.parametrize(("name", "root"), [(hierarchy.TLS_CA, "tls-root"), (hierarchy.CLIENT_CA, "client-root")])
def test_issuing_cas_point_at_their_root_over_http(created: Hierarchy, name: str, root: str) -> None:
    cert = cert_of(created, name)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    crl_dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl_dp[0].full_name[0].value == f"http://pki.certdesk.example.com/pki/{root}.crl"
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [f"http://pki.certdesk.example.com/pki/{root}.crt"]


@pytest.mark.parametrize("name", [hierarchy.TLS_OCSP, hierarchy.CLIENT_OCSP])
def test_ocsp_responders_are_delegated_and_nocheck(created: Hierarchy, name: str) -> None:
    cert = cert_of(created, name)
    assert cert.extensions.get_extension_for_class(x509.OCSPNoCheck).critical is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign


def test_keys_are_encrypted_and_load_only_with_the_passphrase(created: Hierarchy) -> None:
    for entry in created.entries:
        assert entry.key_pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        signer = load_signer(entry, PASSPHRASE)
        assert signer.private_key.public_key() == signer.certificate.public_key()
        with pytest.raises(ValueError):
            load_signer(entry, "wrong passphrase")


def test_loader_rejects_a_key_from_another_certificate(created: Hierarchy) -> None:
    mixed = CaMaterial("mixed", created.get("server-ca").cert_pem, created.get("login-ca").key_pem)
    with pytest.raises(ValueError, match="does not match"):
        load_signer(mixed, PASSPHRASE)


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(ValueError, match="passphrase"):
        create_hierarchy(URL, "Certdesk Test CA", NOW, "")


def test_non_http_public_url_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        create_hierarchy("ftp://pki.example.com", "Certdesk Test CA", NOW, PASSPHRASE)
