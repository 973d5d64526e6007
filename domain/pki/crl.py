"""CRL building for issuing CAs and roots (spec P-5, BR 7.2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from domain.pki.extensions import aki
from domain.pki.hierarchy import CaSigner
from domain.pki.lint import sign_linted_crl

# BR 4.9.7: a subscriber CRL's nextUpdate is at most 10 days out, a root's (ARL) at most 12 months.
CRL_NEXT_UPDATE = timedelta(days=7)
ARL_NEXT_UPDATE = timedelta(days=180)

# BR 7.2.2.1: reason codes a CRL entry may carry; "unspecified" is expressed by omitting it.
SUBSCRIBER_REASONS = frozenset(
    {
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.privilege_withdrawn,
    }
)
CA_REASONS = SUBSCRIBER_REASONS | {x509.ReasonFlags.ca_compromise}
# RFC 5280 reason names (as stored) -> ReasonFlags.
REASONS = {r.value: r for r in SUBSCRIBER_REASONS} | {"unspecified": x509.ReasonFlags.unspecified}
# Above this many entries a representative sample is linted (pkilint needs ~0.5 ms per entry).
LINT_FULL_CRL_MAX_ENTRIES = 500


@dataclass(frozen=True)
class Revocation:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None = None  # None = unspecified


def _entry(revocation: Revocation, allowed: frozenset[x509.ReasonFlags]) -> x509.RevokedCertificate:
    reason = revocation.reason
    if reason is x509.ReasonFlags.unspecified:
        reason = None
    builder = (
        x509.RevokedCertificateBuilder()
        .serial_number(revocation.serial)
        .revocation_date(revocation.revoked_at.replace(microsecond=0))
    )
    if reason is not None:
        if reason not in allowed:
            raise ValueError(f"revocation reason {reason.value} is not allowed on this CRL")
        builder = builder.add_extension(x509.CRLReason(reason), critical=False)
    return builder.build()


def build_crl(
    issuer: CaSigner,
    revoked: Sequence[Revocation],
    crl_number: int,
    this_update: datetime,
    next_update: datetime | None = None,
    is_arl: bool = False,
) -> x509.CertificateRevocationList:
    """Full CRL for `issuer`; the caller keeps `crl_number` strictly increasing.

    Entries go to the builder constructor in one list: add_revoked_certificate copies the
    list on every call, which is quadratic for large CRLs.  A wrong reason for the CRL kind
    raises ValueError; a lint finding raises LintError.
    """
    if crl_number < 0 or crl_number.bit_length() > 159:
        raise ValueError("CRL number must be a non-negative integer of at most 20 octets")
    this_update = this_update.replace(microsecond=0)
    if next_update is None:
        next_update = this_update + (ARL_NEXT_UPDATE if is_arl else CRL_NEXT_UPDATE)
    allowed = CA_REASONS if is_arl else SUBSCRIBER_REASONS
    entries = [_entry(r, allowed) for r in revoked]

    def builder(revoked_certificates: list[x509.RevokedCertificate]) -> x509.CertificateRevocationListBuilder:
        return x509.CertificateRevocationListBuilder(
            issuer_name=issuer.certificate.subject,
            last_update=this_update,
            next_update=next_update.replace(microsecond=0),
            extensions=[
                x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(crl_number)),
                x509.Extension(x509.AuthorityKeyIdentifier.oid, False, aki(issuer.private_key.public_key())),
            ],
            revoked_certificates=revoked_certificates,
        )

    sample = None
    if len(entries) > LINT_FULL_CRL_MAX_ENTRIES:
        sample = builder(_representative(entries))
    return sign_linted_crl(builder(entries), issuer.private_key, is_arl, sample)


def _representative(entries: list[x509.RevokedCertificate]) -> list[x509.RevokedCertificate]:
    # Entries differ only in serial, date and reason: keep the first of each reason, plus the
    # largest serial (the longest encoding).
    by_reason: dict[object, x509.RevokedCertificate] = {}
    for entry in entries:
        by_reason.setdefault(_reason_of(entry), entry)
    widest = max(entries, key=lambda e: e.serial_number)
    return list(by_reason.values()) + ([widest] if widest not in by_reason.values() else [])


def _reason_of(entry: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None
