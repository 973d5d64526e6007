"""CRLs: lint clean (RFC 5280 + BR), reason codes, CRL number, nextUpdate, large lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from domain.pki.crl import LINT_FULL_CRL_MAX_ENTRIES, Revocation, build_crl
from domain.pki.errors import LintError
from domain.pki.hierarchy import CaSigner, create_hierarchy, load_signer
from domain.pki.lint import lint_crl

NOW = datetime(2026, 5, 1, 12, 0, 0, 500, tzinfo=UTC)
R = x509.ReasonFlags


@pytest.fixture(scope="module")
def cas() -> dict[str, CaSigner]:
    h = create_hierarchy("http://pki.example.org", "Certdesk Test CA", NOW - timedelta(days=30), "pw")
    return {entry.name: load_signer(entry, "pw") for entry in h.entries}


def reason_of(entry: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (None, None),
        (R.unspecified, None),  # BR: "unspecified" is expressed by omitting the extension
        (R.key_compromise, R.key_compromise),
        (R.affiliation_changed, R.affiliation_changed),
        (R.superseded, R.superseded),
        (R.cessation_of_operation, R.cessation_of_operation),
        (R.privilege_withdrawn, R.privilege_withdrawn),
    ],
)
def test_issuing_ca_crl_reason_codes(
    cas: dict[str, CaSigner], reason: x509.ReasonFlags | None, expected: x509.ReasonFlags | None
) -> None:
    issuer = cas["server-ca"]
    revoked_at = NOW - timedelta(hours=3)
    crl = build_crl(issuer, [Revocation(0xABCDEF, revoked_at, reason)], crl_number=7, this_update=NOW)
    assert lint_crl(crl.public_bytes(Encoding.DER), is_arl=False) == []
    assert crl.is_signature_valid(issuer.certificate.public_key())
    assert crl.issuer == issuer.certificate.subject
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    assert crl.last_update_utc == NOW.replace(microsecond=0)
    assert crl.next_update_utc == NOW.replace(microsecond=0) + timedelta(days=7)
    entry = crl.get_revoked_certificate_by_serial_number(0xABCDEF)
    assert entry is not None
    assert entry.revocation_date_utc == revoked_at.replace(microsecond=0)
    assert reason_of(entry) == expected


@pytest.mark.parametrize("reason", [R.certificate_hold, R.remove_from_crl, R.ca_compromise, R.aa_compromise])
def test_disallowed_subscriber_reasons(cas: dict[str, CaSigner], reason: x509.ReasonFlags) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        build_crl(cas["server-ca"], [Revocation(1, NOW, reason)], 1, NOW)


def test_root_arl_allows_ca_compromise(cas: dict[str, CaSigner]) -> None:
    root = cas["tls-root"]
    arl = build_crl(root, [Revocation(42, NOW, R.ca_compromise)], 3, NOW, is_arl=True)
    assert lint_crl(arl.public_bytes(Encoding.DER), is_arl=True) == []
    assert arl.next_update_utc - arl.last_update_utc == timedelta(days=180)
    assert reason_of(arl[0]) == R.ca_compromise


def test_empty_crl_is_valid(cas: dict[str, CaSigner]) -> None:
    crl = build_crl(cas["login-ca"], [], 1, NOW)
    assert len(crl) == 0
    assert lint_crl(crl.public_bytes(Encoding.DER), is_arl=False) == []


def test_next_update_too_far_is_refused_by_lint(cas: dict[str, CaSigner]) -> None:
    with pytest.raises(LintError) as info:
        build_crl(cas["server-ca"], [], 1, NOW, next_update=NOW + timedelta(days=30))
    assert info.value.findings


def test_large_crl_is_built_and_sampled(cas: dict[str, CaSigner]) -> None:
    reasons = [None, R.key_compromise, R.superseded, R.cessation_of_operation]
    count = LINT_FULL_CRL_MAX_ENTRIES * 4
    revocations = [Revocation(10_000 + i, NOW - timedelta(minutes=i), reasons[i % 4]) for i in range(count)]
    crl = build_crl(cas["server-ca"], revocations, 99, NOW)
    assert len(crl) == count
    assert crl.is_signature_valid(cas["server-ca"].certificate.public_key())
    assert {reason_of(e) for e in crl} == set(reasons)


@pytest.mark.parametrize("number", [-1, 2**160])
def test_crl_number_range(cas: dict[str, CaSigner], number: int) -> None:
    with pytest.raises(ValueError, match="CRL number"):
        build_crl(cas["server-ca"], [], number, NOW)
