"""The CA's persistence: the hierarchy, issued certificates, revocations, CRLs, OCSP answers.

Plain functions over an engine, shared by the PKI activities (issuance, revocation, CRL
publication), the API (CRL, CA certificate and OCSP endpoints) and the CLI (``ca show``).
Signing and policy live in ``domain/pki``; this module only decides what to persist when.
"""

import logging
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.ocsp import OCSPResponseStatus
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from activities import audit
from domain.db import session_scope
from domain.models import CaRecord, CertificateRecord, CrlRecord, OcspResponseRecord, utcnow
from domain.pki import crl as crl_builder
from domain.pki import ocsp
from domain.pki.csr import parse_csr
from domain.pki.errors import LintError
from domain.pki.extensions import random_serial
from domain.pki.hierarchy import (
    CLIENT_CA,
    CLIENT_OCSP,
    CLIENT_ROOT,
    TLS_CA,
    TLS_OCSP,
    TLS_ROOT,
    CaMaterial,
    CaSigner,
    create_hierarchy,
    encrypt_key,
    load_signer,
)
from domain.pki.lint import tolerating_url_host
from domain.pki.profiles import (
    EvSubject,
    OrganisationSubject,
    generate_login_key,
    issue_login_certificate,
    issue_server_certificate,
)
from domain.settings import Settings

log = logging.getLogger("certdesk.ca")

ORGANISATION = "certdesk"
HIERARCHY = (TLS_ROOT, TLS_CA, TLS_OCSP, CLIENT_ROOT, CLIENT_CA, CLIENT_OCSP)
CRL_ISSUERS = (TLS_ROOT, TLS_CA, CLIENT_ROOT, CLIENT_CA)  # roots publish an ARL for their issuing CA
ROOT_OF = {TLS_CA: TLS_ROOT, CLIENT_CA: CLIENT_ROOT}
RESPONDER_OF = {TLS_CA: TLS_OCSP, CLIENT_CA: CLIENT_OCSP}
OCSP_VALIDITY = ocsp.DEFAULT_VALIDITY
REASONS = {r.value: r for r in crl_builder.SUBSCRIBER_REASONS} | {"unspecified": x509.ReasonFlags.unspecified}


class CaConfigurationError(RuntimeError):
    """The CA cannot be used as configured (no passphrase in production, wrong passphrase)."""


# --- configuration -------------------------------------------------------------------------

def passphrase(settings: Settings) -> str:
    """CERTDESK_CA_PASSPHRASE; a development stack without one gets a random one in its data dir."""
    if settings.ca_passphrase is not None and settings.ca_passphrase.get_secret_value():
        return settings.ca_passphrase.get_secret_value()
    if settings.production:
        raise CaConfigurationError("CERTDESK_CA_PASSPHRASE must be set in production")
    path = settings.data_dir / "ca-passphrase"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def non_public_url_host(settings: Settings) -> str | None:
    """The public URL's host when it could never appear in a publicly trusted certificate."""
    host = urlsplit(settings.resolved_public_url).hostname or ""
    try:
        ip_address(host)
        return host
    except ValueError:
        pass
    internal = ("localhost", ".local", ".internal", ".localhost", ".test", ".example", ".invalid", ".lan")
    if "." not in host or host == "localhost" or host.endswith(internal):
        return host
    return None


def _lint_tolerance(settings: Settings):  # type: ignore[no-untyped-def]
    # Development stacks serve CRLs from 127.0.0.1; production never tolerates that.
    return tolerating_url_host(None if settings.production else non_public_url_host(settings))


# --- the hierarchy -----------------------------------------------------------------------

_signers: dict[tuple[str, str], CaSigner] = {}
_signers_lock = threading.Lock()


def ensure_hierarchy(engine: Engine, settings: Settings, now: datetime | None = None) -> bool:
    """Creates both hierarchies on first start; later calls change nothing. True if created."""
    with session_scope(engine) as s:
        present = set(s.exec(select(CaRecord.name)).all())
    if present >= set(HIERARCHY):
        return False
    if present:
        raise CaConfigurationError(f"the CA hierarchy is incomplete (have {sorted(present)}); restore it from backup")
    try:
        with _lint_tolerance(settings):
            hierarchy = create_hierarchy(settings.resolved_public_url, ORGANISATION, now or utcnow(),
                                         passphrase(settings), country="JP")
    except LintError as exc:
        raise CaConfigurationError(f"the CA certificates would not lint clean ({exc}); check CERTDESK_PUBLIC_URL") \
            from None
    try:
        with session_scope(engine) as s:
            for m in hierarchy.entries:
                s.add(CaRecord(name=m.name, cert_pem=m.cert_pem, key_pem=m.key_pem))
            audit.record(s, "system", "ca.hierarchy_created", "ca", names=list(HIERARCHY))
    except IntegrityError:
        return False  # another process created it at the same moment; theirs stands
    return True


def ca_certificate(engine: Engine, name: str) -> x509.Certificate | None:
    with session_scope(engine) as s:
        row = s.get(CaRecord, name)
    return x509.load_pem_x509_certificate(row.cert_pem.encode()) if row else None


def signer(engine: Engine, settings: Settings, name: str) -> CaSigner:
    key = (str(engine.url), name)
    with _signers_lock:
        if key in _signers:
            return _signers[key]
    with session_scope(engine) as s:
        row = s.get(CaRecord, name)
    if row is None:
        raise CaConfigurationError(f"CA {name!r} does not exist yet: run `certdesk up` once")
    try:
        loaded = load_signer(CaMaterial(row.name, row.cert_pem, row.key_pem), passphrase(settings))
    except ValueError:
        raise CaConfigurationError(f"cannot decrypt the key of CA {name!r}: wrong CERTDESK_CA_PASSPHRASE?") from None
    with _signers_lock:
        _signers[key] = loaded
    return loaded


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


# --- issuance ----------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedCertificate:
    serial: str
    issuer: str
    display_name: str
    not_before: str
    not_after: str
    pem: str


def _issued(row: CertificateRecord) -> IssuedCertificate:
    cert = x509.load_der_x509_certificate(row.der or b"")
    return IssuedCertificate(row.serial, row.issuer, row.display_name, cert.not_valid_before_utc.isoformat(),
                             cert.not_valid_after_utc.isoformat(), cert.public_bytes(Encoding.PEM).decode())


def _reserve(engine: Engine, request_key: str, **fields: object) -> CertificateRecord:
    """The row for this request: an issued one to return, or a reserved serial to sign with."""
    with session_scope(engine) as s:
        row = s.exec(select(CertificateRecord).where(CertificateRecord.request_key == request_key)).first()
        if row is not None:
            return row
    for _ in range(5):
        try:
            with session_scope(engine) as s:
                row = CertificateRecord(request_key=request_key, serial=format(random_serial(), "x"), **fields)
                s.add(row)
                return row
        except IntegrityError:
            with session_scope(engine) as s:
                row = s.exec(select(CertificateRecord).where(CertificateRecord.request_key == request_key)).first()
                if row is not None:
                    return row  # a concurrent attempt reserved it
    raise RuntimeError("could not reserve a serial number")


def _store(engine: Engine, row_id: int, cert: x509.Certificate, actor: str, **extra: object) -> CertificateRecord:
    with session_scope(engine) as s:
        row = s.get(CertificateRecord, row_id)
        assert row is not None
        if row.state != "reserved":
            return row  # stored by an earlier attempt
        row.der = cert.public_bytes(Encoding.DER)
        row.not_before, row.not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        row.state = "issued"
        for k, v in extra.items():
            setattr(row, k, v)
        s.add(row)
        audit.record(s, actor, "certificate.issued", f"certificate:{row.serial}", kind=row.kind,
                     issuer=row.issuer, names=row.names, request_key=row.request_key)
        return row


def issue_server(engine: Engine, settings: Settings, request_key: str, csr_pem: str,
                 subject: OrganisationSubject, catalog_days: int, actor: str,
                 now: datetime | None = None) -> IssuedCertificate:
    """Issues once per request key; a retry returns the certificate already issued."""
    checked = parse_csr(csr_pem)
    product = "ev" if isinstance(subject, EvSubject) else "ov"
    row = _reserve(engine, request_key, issuer=TLS_CA, kind="server", product=product,
                   display_name=checked.dns_names[0], names=list(checked.dns_names))
    if row.state != "reserved":
        return _issued(row)
    with _lint_tolerance(settings):
        cert = issue_server_certificate(checked, subject, signer(engine, settings, TLS_CA),
                                        settings.resolved_public_url, now or utcnow(), catalog_days,
                                        serial=int(row.serial, 16))
    return _issued(_store(engine, int(row.id or 0), cert, actor))


def issue_login(engine: Engine, settings: Settings, request_key: str, certificate_name: str, actor: str,
                key_type: str = "ec", now: datetime | None = None) -> IssuedCertificate:
    """Login certificate with a server-generated key, kept encrypted until it is downloaded."""
    row = _reserve(engine, request_key, issuer=CLIENT_CA, kind="login", product="login",
                   display_name=certificate_name, names=[certificate_name])
    if row.state != "reserved":
        return _issued(row)
    key = generate_login_key(key_type)
    with _lint_tolerance(settings):
        cert = issue_login_certificate(certificate_name, key, signer(engine, settings, CLIENT_CA),
                                       settings.resolved_public_url, now or utcnow(), serial=int(row.serial, 16))
    return _issued(_store(engine, int(row.id or 0), cert, actor,
                          private_key_pem=encrypt_key(key, passphrase(settings))))


def verified_login_certificate(engine: Engine, pem: str, now: datetime | None = None) -> str:
    """The serial of a login certificate that is ours, in date and not revoked; else ValueError."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise ValueError("the client certificate cannot be read") from None
    issuer = ca_certificate(engine, CLIENT_CA)
    try:
        if issuer is None:
            raise ValueError
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise ValueError("the client certificate was not issued by this service's login CA") from None
    when = now or utcnow()
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise ValueError("the client certificate is not valid now")
    serial = format(cert.serial_number, "x")
    with session_scope(engine) as s:
        row = certificate_record(s, CLIENT_CA, serial)
    if row is None or row.state != "issued":
        raise ValueError("the client certificate has been revoked" if row is not None and row.state == "revoked"
                         else "the client certificate is not one this service issued")
    return serial


# --- revocation and publication ----------------------------------------------------------

def revoke(engine: Engine, settings: Settings, issuer: str, serial: str, reason: str, actor: str,
           now: datetime | None = None) -> bool:
    """Revokes once; revoking again changes nothing except upgrading the reason to keyCompromise.

    Returns True when something changed (and the issuer's CRL was republished).
    """
    if reason not in REASONS:
        raise ValueError(f"revocation reason must be one of {', '.join(sorted(REASONS))}")
    serial = serial.lower().lstrip("0") or "0"
    when = (now or utcnow()).replace(microsecond=0)
    with session_scope(engine) as s:
        row = s.exec(select(CertificateRecord).where(CertificateRecord.issuer == issuer,
                                                     CertificateRecord.serial == serial).with_for_update()).first()
        if row is None or row.state == "reserved":
            raise LookupError(f"no certificate with serial {serial} from {issuer}")
        if row.state == "revoked" and not (reason == "keyCompromise" and row.revocation_reason != reason):
            return False
        upgrade = row.state == "revoked"
        row.state, row.revocation_reason = "revoked", reason
        if not upgrade:
            row.revoked_at, row.revoked_by = when, actor
        row.private_key_pem = None  # a revoked login certificate is never delivered
        s.add(row)
        cached = s.get(OcspResponseRecord, (issuer, serial))
        if cached is not None:
            s.delete(cached)
        audit.record(s, actor, "certificate.reason_upgraded" if upgrade else "certificate.revoked",
                     f"certificate:{serial}", issuer=issuer, reason=reason)
    publish_crl(engine, settings, issuer, now=now)
    return True


def publish_crl(engine: Engine, settings: Settings, issuer: str, now: datetime | None = None) -> int:
    """A new CRL for ``issuer`` with the next CRL number; returns that number."""
    this_update = (now or utcnow()).replace(microsecond=0)
    is_root = issuer in (TLS_ROOT, CLIENT_ROOT)
    with session_scope(engine) as s:
        # BR 4.10.1: an entry stays until the certificate has expired.
        rows = [] if is_root else s.exec(select(CertificateRecord).where(
            CertificateRecord.issuer == issuer, CertificateRecord.state == "revoked",
            CertificateRecord.not_after >= this_update - timedelta(days=1))).all()
        revoked = [crl_builder.Revocation(int(r.serial, 16), r.revoked_at or this_update,
                                          REASONS.get(r.revocation_reason or "unspecified")) for r in rows]
    ca = signer(engine, settings, issuer)
    for _ in range(5):
        with session_scope(engine) as s:
            number = (s.exec(select(func.max(CrlRecord.number)).where(CrlRecord.issuer == issuer)).one() or 0) + 1
        crl = crl_builder.build_crl(ca, revoked, number, this_update, is_arl=is_root)
        try:
            with session_scope(engine) as s:
                s.add(CrlRecord(issuer=issuer, number=number, this_update=this_update,
                                next_update=crl.next_update_utc or this_update, entries=len(revoked),
                                der=crl.public_bytes(Encoding.DER)))
            return number
        except IntegrityError:
            continue  # a concurrent publisher took that number; CRL numbers only ever increase
    raise RuntimeError(f"could not publish a CRL for {issuer}")


def publish_missing_crls(engine: Engine, settings: Settings) -> list[str]:
    """First start: every CA gets its first CRL before anyone can ask for it."""
    missing = [issuer for issuer in CRL_ISSUERS if latest_crl(engine, issuer) is None]
    for issuer in missing:
        publish_crl(engine, settings, issuer)
    return missing


def latest_crl(engine: Engine, issuer: str) -> CrlRecord | None:
    with session_scope(engine) as s:
        return s.exec(select(CrlRecord).where(CrlRecord.issuer == issuer)
                      .order_by(CrlRecord.number.desc())).first()  # type: ignore[union-attr]


# --- OCSP ---------------------------------------------------------------------------------

def _status_of(engine: Engine, issuer: str, serial: str) -> ocsp.CertStatus:
    with session_scope(engine) as s:
        row = certificate_record(s, issuer, serial)
    if row is None or row.state == "reserved":
        return ocsp.CertStatus.unknown()  # never issued: never "good" (BR 4.9.10)
    if row.state == "revoked":
        return ocsp.CertStatus.revoked(row.revoked_at or utcnow(), REASONS.get(row.revocation_reason or ""))
    return ocsp.CertStatus.good()


def ocsp_answer(engine: Engine, settings: Settings, request_der: bytes, now: datetime | None = None) -> bytes:
    """The DER OCSPResponse for a request: good / revoked / unknown, or an error status.

    Responses to requests without a nonce are cached and reused until half their validity has
    passed (or the certificate's status changes); a nonce must be echoed, so those are fresh.
    """
    try:
        query = ocsp.parse_request(request_der)
    except ocsp.OcspMalformed:
        return ocsp.build_error(OCSPResponseStatus.MALFORMED_REQUEST)
    issuer = next((name for name in RESPONDER_OF
                   if (cert := ca_certificate(engine, name)) is not None and ocsp.is_for_issuer(query, cert)), None)
    if issuer is None:
        return ocsp.build_error(OCSPResponseStatus.UNAUTHORIZED)
    now = (now or utcnow()).replace(microsecond=0)
    serial = format(query.serial, "x")
    if query.nonce is None:
        with session_scope(engine) as s:
            cached = s.get(OcspResponseRecord, (issuer, serial))
            if cached is not None and cached.refresh_after > now and cached.produced_at <= now:
                return cached.der
    status = _status_of(engine, issuer, serial)
    der = ocsp.build_response(query, status, signer(engine, settings, issuer).certificate,
                              signer(engine, settings, RESPONDER_OF[issuer]), now, OCSP_VALIDITY)
    if query.nonce is None:
        with session_scope(engine) as s:
            row = s.get(OcspResponseRecord, (issuer, serial)) or OcspResponseRecord(issuer=issuer, serial=serial)
            row.status, row.der, row.produced_at = status.status.name.lower(), der, now
            row.refresh_after = now + OCSP_VALIDITY / 2
            s.add(row)
    return der
