"""Certificate records as relying parties and people see them: read by the API and the worker alike.

Public data only: CA certificates, issued certificates and their state, published CRLs. What
is signed, and when, is decided by the ``ca`` package in the worker.
"""

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.pki import ocsp
from domain.pki.crl import REASONS
from domain.pki.hierarchy import CLIENT_CA, HIERARCHY
from store.db import session_scope
from store.models import CaRecord, CertificateRecord, CrlRecord, utcnow


def ca_certificate(engine: Engine, name: str) -> x509.Certificate | None:
    with session_scope(engine) as s:
        row = s.get(CaRecord, name)
    return x509.load_pem_x509_certificate(row.cert_pem.encode()) if row else None


@dataclass(frozen=True)
class CaSummary:
    name: str
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    sha256: str


def describe_hierarchy(engine: Engine) -> list[CaSummary]:
    out = []
    for name in HIERARCHY:
        cert = ca_certificate(engine, name)
        if cert is None:
            continue
        out.append(CaSummary(name, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                             format(cert.serial_number, "x"), cert.not_valid_before_utc, cert.not_valid_after_utc,
                             cert.fingerprint(hashes.SHA256()).hex(":").upper()))
    return out


def certificate_record(s: Session, issuer: str, serial: str | None) -> CertificateRecord | None:
    """The record of the certificate ``issuer`` issued under ``serial`` (lowercase hex), if any."""
    if not serial:
        return None
    return s.exec(select(CertificateRecord).where(CertificateRecord.issuer == issuer,
                                                  CertificateRecord.serial == serial)).first()


def known_certificate(s: Session, issuer: str, serial: str | None) -> CertificateRecord:
    """As ``certificate_record``, for a serial our own records point at: missing is a bug."""
    row = certificate_record(s, issuer, serial)
    if row is None:
        raise LookupError(f"no certificate with serial {serial} from {issuer}")
    return row


def status_of(engine: Engine, issuer: str, serial: str) -> ocsp.CertStatus:
    """What OCSP says of a serial: never "good" for one that was never issued (BR 4.9.10)."""
    with session_scope(engine) as s:
        row = certificate_record(s, issuer, serial)
    if row is None or row.state == "reserved":
        return ocsp.CertStatus.unknown()
    if row.state == "revoked":
        return ocsp.CertStatus.revoked(row.revoked_at or utcnow(), REASONS.get(row.revocation_reason or ""))
    return ocsp.CertStatus.good()


def latest_crl(engine: Engine, issuer: str) -> CrlRecord | None:
    with session_scope(engine) as s:
        return s.exec(select(CrlRecord).where(CrlRecord.issuer == issuer)
                      .order_by(col(CrlRecord.number).desc())).first()


class CertificateRefused(ValueError):
    """A presented login certificate that does not log anyone in; ``reason`` says why (a message key's end)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # unreadable | foreign | not_valid_now | revoked | unknown


def verified_login_certificate(engine: Engine, pem: str, now: datetime | None = None) -> str:
    """The serial of a login certificate that is ours, in date and not revoked; else CertificateRefused."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise CertificateRefused("unreadable") from None
    issuer = ca_certificate(engine, CLIENT_CA)
    try:
        if issuer is None:
            raise ValueError
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateRefused("foreign") from None
    when = now or utcnow()
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise CertificateRefused("not_valid_now")
    serial = format(cert.serial_number, "x")
    with session_scope(engine) as s:
        row = certificate_record(s, CLIENT_CA, serial)
    if row is None or row.state != "issued":
        raise CertificateRefused("revoked" if row is not None and row.state == "revoked" else "unknown")
    return serial
