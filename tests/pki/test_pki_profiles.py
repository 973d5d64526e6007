"""Server (OV/EV) and login certificate profiles, pre-issuance linting, and PKCS#12 export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from domain.pki import lint
from domain.pki.csr import CheckedCsr, parse_csr
from domain.pki.errors import CsrError, LintError
from domain.pki.hierarchy import CaSigner, create_hierarchy, load_signer
from domain.pki.lint import LintProfile, lint_certificate, sign_linted
from domain.pki.profiles import (
    EV_POLICY,
    OV_POLICY,
    EvSubject,
    OrganisationSubject,
    generate_login_key,
    issue_login_certificate,
    issue_server_certificate,
    to_pkcs12,
)

NOW = datetime(2026, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)
URL = "https://certdesk.example.com"
OV = OrganisationSubject(country="DE", organisation="Shop GmbH", state="Berlin", locality="Berlin")
OV_NO_STATE = OrganisationSubject(country="NL", organisation="Winkel B.V.", locality="Amsterdam")
EV = EvSubject(
    country="DE",
    organisation="Shop GmbH",
    state="Berlin",
    locality="Berlin",
    business_category="Private Organization",
    jurisdiction_country="DE",
    registration_number="HRB 123456",
)


@pytest.fixture(scope="module")
def cas() -> dict[str, CaSigner]:
    h = create_hierarchy(URL, "Certdesk Test CA", NOW - timedelta(days=1), "pw")
    return {entry.name: load_signer(entry, "pw") for entry in h.entries}


def checked_csr(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, names: list[str]) -> CheckedCsr:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return parse_csr(csr.public_bytes(Encoding.PEM))


EC_CSR = checked_csr(ec.generate_private_key(ec.SECP384R1()), ["www.shop.de", "shop.de", "*.cdn.shop.de"])
EC_CSR_NO_WILDCARD = checked_csr(ec.generate_private_key(ec.SECP256R1()), ["www.shop.de", "shop.de"])
RSA_CSR = checked_csr(rsa.generate_private_key(public_exponent=65537, key_size=2048), ["www.shop.de"])


def attrs(name: x509.Name) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for attribute in name:
        out.setdefault(attribute.oid.dotted_string, []).append(str(attribute.value))
    return out


@pytest.mark.parametrize(
    ("csr", "subject", "profile", "policy", "expected_subject"),
    [
        pytest.param(
            EC_CSR,
            OV,
            LintProfile.OV,
            OV_POLICY,
            {"2.5.4.6": ["DE"], "2.5.4.8": ["Berlin"], "2.5.4.7": ["Berlin"], "2.5.4.10": ["Shop GmbH"]},
            id="ov-ec",
        ),
        pytest.param(
            RSA_CSR,
            OV_NO_STATE,
            LintProfile.OV,
            OV_POLICY,
            {"2.5.4.6": ["NL"], "2.5.4.7": ["Amsterdam"], "2.5.4.10": ["Winkel B.V."]},
            id="ov-rsa",
        ),
        pytest.param(
            EC_CSR_NO_WILDCARD,
            EV,
            LintProfile.EV,
            EV_POLICY,
            {
                "2.5.4.6": ["DE"],
                "2.5.4.8": ["Berlin"],
                "2.5.4.7": ["Berlin"],
                "2.5.4.10": ["Shop GmbH"],
                "2.5.4.15": ["Private Organization"],
                "1.3.6.1.4.1.311.60.2.1.3": ["DE"],
                "2.5.4.5": ["HRB 123456"],
            },
            id="ev-ec",
        ),
        pytest.param(RSA_CSR, EV, LintProfile.EV, EV_POLICY, None, id="ev-rsa"),
    ],
)
def test_server_certificate_profile(
    cas: dict[str, CaSigner],
    csr: CheckedCsr,
    subject: OrganisationSubject,
    profile: LintProfile,
    policy: x509.ObjectIdentifier,
    expected_subject: dict[str, list[str]] | None,
) -> None:
    issuer = cas["server-ca"]
    cert = issue_server_certificate(csr, subject, issuer, URL, NOW, catalog_days=365)
    ext = cert.extensions

    # P-6: clean under pkilint, nothing at WARNING or above (NOTICE/INFO allowed).
    assert lint_certificate(cert.public_bytes(Encoding.DER), profile) == []
    cert.verify_directly_issued_by(issuer.certificate)

    if expected_subject is not None:
        assert attrs(cert.subject) == expected_subject
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    assert cert.public_key() == csr.public_key
    assert cert.serial_number > 0 and cert.serial_number.bit_length() >= 64
    assert (
        ext.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        == csr.dns_names
    )
    policies = ext.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [policy]
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_encipherment and not usage.value.key_cert_sign
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    constraints = ext.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    issuer_ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == issuer_ski.digest
    with pytest.raises(x509.ExtensionNotFound):  # BR 7.1.2.7.6: NOT RECOMMENDED, pkilint warns
        ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    crl_dp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl_dp[0].full_name[0].value == "http://certdesk.example.com/pki/server-ca.crl"
    aia = {
        d.access_method: d.access_location.value
        for d in ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    }
    assert aia == {
        AuthorityInformationAccessOID.OCSP: "http://certdesk.example.com/ocsp",
        AuthorityInformationAccessOID.CA_ISSUERS: "http://certdesk.example.com/pki/server-ca.crt",
    }
    # 2026-05-01 is in the 200-day period: 365 catalog days become 199.
    assert cert.not_valid_before_utc == NOW.replace(microsecond=0)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=199, seconds=-1)


def test_ev_refuses_wildcards_before_linting(cas: dict[str, CaSigner]) -> None:
    with pytest.raises(CsrError) as info:
        issue_server_certificate(EC_CSR, EV, cas["server-ca"], URL, NOW, 90)
    assert info.value.field == "dns_names"
    assert "*.cdn.shop.de" in info.value.message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"country": "DE", "organisation": "Shop GmbH"}, "state/province or a locality"),
        ({"country": "de", "organisation": "Shop GmbH", "locality": "Berlin"}, "ISO 3166"),
        ({"country": "DEU", "organisation": "Shop GmbH", "locality": "Berlin"}, "ISO 3166"),
    ],
)
def test_organisation_subject_validation(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OrganisationSubject(**kwargs)


def test_ev_subject_needs_registration_details() -> None:
    with pytest.raises(ValueError, match="jurisdiction country and a registration number"):
        EvSubject(country="DE", organisation="Shop GmbH", locality="Berlin", jurisdiction_country="DE")


def test_serials_differ(cas: dict[str, CaSigner]) -> None:
    serials = {issue_server_certificate(EC_CSR, OV, cas["server-ca"], URL, NOW, 90).serial_number for _ in range(5)}
    assert len(serials) == 5


def test_linted_tbs_is_the_issued_tbs(cas: dict[str, CaSigner], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []
    real_lint = lint.lint_certificate

    def recording_lint(der: bytes, profile: LintProfile) -> list[lint.Finding]:
        seen.append(der)
        return real_lint(der, profile)

    monkeypatch.setattr(lint, "lint_certificate", recording_lint)
    issuer = cas["server-ca"]
    cert = issue_server_certificate(EC_CSR, OV, issuer, URL, NOW, 90)
    assert len(seen) == 1
    linted = x509.load_der_x509_certificate(seen[0])
    assert linted.tbs_certificate_bytes == cert.tbs_certificate_bytes
    assert linted.signature != cert.signature
    cert.verify_directly_issued_by(issuer.certificate)
    with pytest.raises(Exception):  # noqa: B017 - the throwaway signature must not verify
        linted.verify_directly_issued_by(issuer.certificate)


def test_lint_findings_block_issuance(cas: dict[str, CaSigner]) -> None:
    issuer = cas["server-ca"]
    good = issue_server_certificate(EC_CSR, OV, issuer, URL, NOW, 90)
    # Same certificate, but valid for 398 days although issued in the 200-day period.
    builder = x509.CertificateBuilder(
        issuer_name=good.issuer,
        subject_name=good.subject,
        public_key=good.public_key(),
        serial_number=good.serial_number,
        not_valid_before=good.not_valid_before_utc,
        not_valid_after=good.not_valid_before_utc + timedelta(days=398),
        extensions=list(good.extensions),
    )
    with pytest.raises(LintError) as info:
        sign_linted(builder, issuer.private_key, LintProfile.OV)
    assert any("validity_period_exceeds_200_days" in f for f in info.value.findings)


def test_wrong_profile_is_caught_by_lint(cas: dict[str, CaSigner]) -> None:
    cert = issue_server_certificate(EC_CSR, OV, cas["server-ca"], URL, NOW, 90)
    findings = lint_certificate(cert.public_bytes(Encoding.DER), LintProfile.EV)
    assert findings and all(f.severity in {"FATAL", "ERROR", "WARNING"} for f in findings)


def test_validators_are_built_once() -> None:
    assert lint._certificate_validator(LintProfile.OV) is lint._certificate_validator(LintProfile.OV)


@pytest.mark.parametrize(("key_type", "key_class"), [("ec", ec.EllipticCurvePrivateKey), ("rsa", rsa.RSAPrivateKey)])
def test_login_certificate(cas: dict[str, CaSigner], key_type: str, key_class: type) -> None:
    key = generate_login_key(key_type)
    assert isinstance(key, key_class)
    issuer = cas["login-ca"]
    cert = issue_login_certificate("Jane Doe (jdoe)", key, issuer, URL, NOW)
    cert.verify_directly_issued_by(issuer.certificate)
    assert lint_certificate(cert.public_bytes(Encoding.DER), LintProfile.PKIX) == []
    assert attrs(cert.subject) == {"2.5.4.3": ["Jane Doe (jdoe)"]}
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert cert.public_key() == key.public_key()
    crl_dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl_dp[0].full_name[0].value == "http://certdesk.example.com/pki/login-ca.crl"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=365, seconds=-1)


@pytest.mark.parametrize("name", ["", "   ", "x" * 65])
def test_login_certificate_name_limits(cas: dict[str, CaSigner], name: str) -> None:
    with pytest.raises(ValueError, match="1-64 characters"):
        issue_login_certificate(name, generate_login_key(), cas["login-ca"], URL, NOW)


def test_unknown_login_key_type() -> None:
    with pytest.raises(ValueError, match="unknown key type"):
        generate_login_key("dsa")


AES256_CBC_OID = bytes.fromhex("060960864801650304012a")
PBKDF2_OID = bytes.fromhex("06092a864886f70d01050c")
PBE_3DES_OID = bytes.fromhex("060a2a864886f70d010c0103")


@pytest.mark.parametrize("password", ["s3cret download", b"bytes-password"])
def test_pkcs12_round_trip(cas: dict[str, CaSigner], password: str | bytes) -> None:
    key = generate_login_key()
    issuer = cas["login-ca"]
    cert = issue_login_certificate("jdoe", key, issuer, URL, NOW)
    data = to_pkcs12(cert, key, [issuer.certificate, cas["client-root"].certificate], password)

    secret = password.encode() if isinstance(password, str) else password
    loaded = pkcs12.load_pkcs12(data, secret)
    assert loaded.cert is not None and loaded.cert.certificate == cert
    assert loaded.key is not None and loaded.key.public_key() == key.public_key()
    assert [c.certificate for c in loaded.additional_certs] == [
        issuer.certificate,
        cas["client-root"].certificate,
    ]
    assert loaded.cert.friendly_name == b"jdoe"
    # AES-256-CBC via PBES2/PBKDF2, never the legacy 3DES scheme.
    assert AES256_CBC_OID in data and PBKDF2_OID in data and PBE_3DES_OID not in data

    for wrong in (None, b"wrong password"):
        with pytest.raises(ValueError):
            pkcs12.load_pkcs12(data, wrong)


def test_pkcs12_requires_a_password(cas: dict[str, CaSigner]) -> None:
    key = generate_login_key()
    cert = issue_login_certificate("jdoe", key, cas["login-ca"], URL, NOW)
    with pytest.raises(ValueError, match="password"):
        to_pkcs12(cert, key, [], "")
