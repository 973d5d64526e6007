"""CRL building for issuing CAs and roots (spec P-5, BR 7.2)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

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


class Revocation(NamedTuple):
    """One CRL entry to be (a tuple: a CRL of 100,000 entries makes as many, and a frozen dataclass's
    constructor costs four times a tuple's)."""

    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None = None  # None = unspecified


# One extension object per reason, shared by every entry that carries it.
_REASON_EXTENSIONS = {r: x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(r)) for r in x509.ReasonFlags}
_EARLIEST = datetime(1950, 1, 1)
_MAX_SERIAL = 1 << 159


def _entries(revoked: Sequence[Revocation], allowed: frozenset[x509.ReasonFlags]) -> list[x509.RevokedCertificate]:
    """The CRL entries, "unspecified" expressed by omitting the reason (BR 7.2.2.1).

    The builder's constructor, with the checks its setters would make done here: the chained
    setters copy the builder three times per entry, a third of the build for 100,000 entries.
    """
    extensions: dict[x509.ReasonFlags | None, list[x509.Extension[x509.CRLReason]]] = {
        None: [], x509.ReasonFlags.unspecified: [], **{r: [_REASON_EXTENSIONS[r]] for r in allowed}}
    new = x509.RevokedCertificateBuilder
    entries = []
    for r in revoked:
        if not 0 < r.serial < _MAX_SERIAL:
            raise ValueError("a serial number must be positive and at most 159 bits")
        when = r.revoked_at  # naive means UTC, as for cryptography's setter
        if when.tzinfo is not None and when.tzinfo is not UTC:
            when = when.astimezone(UTC)
        when = when.replace(tzinfo=None, microsecond=0)
        if when < _EARLIEST:
            raise ValueError("a revocation date must be on or after 1950-01-01")
        extension = extensions.get(r.reason)
        if extension is None:
            raise ValueError(f"revocation reason {r.reason and r.reason.value} is not allowed on this CRL")
        entries.append(new(r.serial, when, extension).build())
    return entries


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
    entries = _entries(revoked, allowed)

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
        sample = builder([entries[i] for i in _representative(revoked)])
    return sign_linted_crl(builder(entries), issuer.private_key, is_arl, sample)


def _representative(revoked: Sequence[Revocation]) -> list[int]:
    """Indexes of the entries to lint for a large CRL.

    Entries differ only in serial, date and reason: the first of each reason, plus the largest
    serial (the longest encoding) and the earliest and latest dates.  Read from the inputs, not
    the built entries (whose extensions are slow to look into).
    """
    first_of_reason: dict[object, int] = {}
    widest = earliest = latest = 0
    for i, r in enumerate(revoked):
        first_of_reason.setdefault(None if r.reason is x509.ReasonFlags.unspecified else r.reason, i)
        if r.serial > revoked[widest].serial:
            widest = i
        if r.revoked_at < revoked[earliest].revoked_at:
            earliest = i
        elif r.revoked_at > revoked[latest].revoked_at:
            latest = i
    return sorted(set(first_of_reason.values()) | {widest, earliest, latest})
