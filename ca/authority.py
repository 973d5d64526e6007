"""The CA at work: the hierarchy, issuance, revocation and CRLs, each idempotent on its key.

Runs in the worker (and the operator's CLI). Signing and policy live in ``domain/pki``; the
records in ``store``; this module decides what to sign and persist when, and is the only
place that reaches the key of a CA that signs certificates or CRLs (through ``ca/keystore.py``:
encrypted files, or a PKCS#11 token that signs itself).
"""

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, Engine, String, bindparam, func, insert, type_coerce, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from ca.keystore import FileKeystore, Keystore, keystore
from domain.pki import crl as crl_builder
from domain.pki.crl import REASONS
from domain.pki.csr import parse_csr
from domain.pki.errors import CaConfigurationError, LintError
from domain.pki.extensions import random_serial
from domain.pki.hierarchy import (
    CLIENT_CA,
    CRL_ISSUERS,
    HIERARCHY,
    ROOTS,
    SIGNING_CAS,
    TLS_CA,
    CaSigner,
    build_hierarchy,
    encrypt_key,
)
from domain.pki.key_encryption import seal_login_key
from domain.pki.lint import tolerating_url_host
from domain.pki.profiles import (
    EvSubject,
    OrganisationSubject,
    generate_login_key,
    issue_login_certificate,
    issue_server_certificate,
)
from domain.settings import Settings
from store import audit, ocsp_responder
from store.certificates import latest_crl
from store.db import session_scope
from store.models import AuditEvent, CaRecord, CertificateRecord, CrlRecord, OcspResponseRecord, utcnow
from store.passphrase import passphrase
from store.signers import SignerCache, decrypt

log = logging.getLogger("certdesk.ca")

ORGANISATION = "certdesk"


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


def key_store(settings: Settings) -> Keystore:
    return keystore(settings)


# --- the hierarchy -----------------------------------------------------------------------

_signers = SignerCache()


def ensure_hierarchy(engine: Engine, settings: Settings, now: datetime | None = None) -> bool:
    """Creates both hierarchies on first start; later calls change nothing. True if created.

    The signing CAs' keys are made by the key store and kept there, the responders' stay in their
    rows. A hierarchy made before the key store existed has its signing keys moved there (once,
    audited). A key store that can check its keys (a token) does so on every start.
    """
    keys = key_store(settings)
    with session_scope(engine) as s:
        present = {r.name: r.cert_pem for r in s.exec(select(CaRecord)).all()}
    if set(present) >= set(HIERARCHY):
        _move_keys_to_store(engine, keys)
        keys.check({name: pem for name, pem in present.items() if name in SIGNING_CAS})
        return False
    if present:
        raise CaConfigurationError(f"the CA hierarchy is incomplete (have {sorted(present)}); restore it from backup")
    secret = passphrase(settings)  # fail before doing any work
    try:
        with _lint_tolerance(settings):
            signers = build_hierarchy(settings.resolved_public_url, ORGANISATION, now or utcnow(), country="JP",
                                      new_key=keys.new_key)
    except LintError as exc:
        raise CaConfigurationError(f"the CA certificates would not lint clean ({exc}); check CERTDESK_PUBLIC_URL") \
            from None
    pems = {c.name: c.certificate.public_bytes(Encoding.PEM).decode("ascii") for c in signers}
    for c in signers:
        if c.name in SIGNING_CAS:
            keys.keep(c.name, pems[c.name], c.private_key)  # before the rows: a committed CA always has its key
    try:
        with session_scope(engine) as s:
            for c in signers:
                s.add(CaRecord(name=c.name, cert_pem=pems[c.name],
                               key_pem=None if c.name in SIGNING_CAS else encrypt_key(c.private_key, secret)))
            audit.record(s, "system", "ca.hierarchy_created", "ca", names=list(HIERARCHY), key_store=keys.location)
    except IntegrityError:
        return False  # another process created it at the same moment; theirs stands (and their key files)
    return True


def _move_keys_to_store(engine: Engine, keys: Keystore) -> None:
    with session_scope(engine) as s:
        rows = [r for r in s.exec(select(CaRecord).where(CaRecord.key_pem.is_not(None))).all()  # type: ignore[union-attr]
                if r.name in SIGNING_CAS]
        if rows and not isinstance(keys, FileKeystore):
            # A key made in software has been outside a token: importing it would not make it a token's key.
            raise CaConfigurationError(f"the keys of {[r.name for r in rows]} are in the database, not on the token "
                                       f"({keys.location}); keep CERTDESK_CA_KEYSTORE=file for this hierarchy")
        for row in rows:
            keys.write(row.name, row.cert_pem, row.key_pem or "")
            row.key_pem = None
            s.add(row)
        if rows:
            audit.record(s, "system", "ca.keys_moved", "ca", names=[r.name for r in rows], key_store=keys.location)
            log.info("moved the keys of %s to %s", [r.name for r in rows], keys.location)


def signer(engine: Engine, settings: Settings, name: str) -> CaSigner:
    """A signing CA (root or issuing) with its key from the key store, loaded once per process."""
    if name not in SIGNING_CAS:
        raise CaConfigurationError(f"{name!r} does not sign certificates or CRLs")

    def load() -> CaSigner:
        with session_scope(engine) as s:
            row = s.get(CaRecord, name)
        if row is None:
            raise CaConfigurationError(f"CA {name!r} does not exist yet: run `certdesk up` once")
        if row.key_pem:  # a hierarchy from before the key store, until ensure_hierarchy moves it
            return decrypt(name, row.cert_pem, row.key_pem, passphrase(settings))
        return key_store(settings).signer(name, row.cert_pem)

    return _signers.get(engine, name, load)


# --- issuance ----------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedCertificate:
    serial: str
    issuer: str
    display_name: str
    not_before: str
    not_after: str
    pem: str


def _issued(row: CertificateRecord, cert: x509.Certificate | None = None) -> IssuedCertificate:
    cert = cert or x509.load_der_x509_certificate(row.der or b"")
    return IssuedCertificate(row.serial, row.issuer, row.display_name, cert.not_valid_before_utc.isoformat(),
                             cert.not_valid_after_utc.isoformat(), cert.public_bytes(Encoding.PEM).decode())


# Reserve and store in SQLAlchemy Core, one short transaction each: an ORM session per step cost
# as much as half a pkilint pass (bench/pki.py, "issuance").
_CERTIFICATES = CertificateRecord.__table__  # type: ignore[attr-defined]
_AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
_OCSP = OcspResponseRecord.__table__  # type: ignore[attr-defined]
# Built once: the compiled form is cached, and only the parameters change per issuance.
_BY_REQUEST_KEY = select(_CERTIFICATES).where(_CERTIFICATES.c.request_key == bindparam("key"))
_STORE_RESERVED = update(_CERTIFICATES).where(_CERTIFICATES.c.id == bindparam("row_id"),
                                             _CERTIFICATES.c.state == "reserved")


def _by_request_key(conn: Connection, request_key: str) -> CertificateRecord | None:
    found = conn.execute(_BY_REQUEST_KEY, {"key": request_key}).first()
    return CertificateRecord(**found._mapping) if found is not None else None


def _reserve(engine: Engine, request_key: str, **fields: object) -> CertificateRecord:
    """The row for this request: an issued one to return, or a reserved serial to sign with.

    The reservation is committed before anything is signed, so every serial the CA signs is on record.
    """
    for _ in range(5):
        # Insert first: a new request is the common case, and a retry finds its row after the conflict.
        row = CertificateRecord(request_key=request_key, serial=format(random_serial(), "x"), **fields)
        try:
            with engine.begin() as conn:
                row.id = conn.execute(insert(_CERTIFICATES), row.model_dump(exclude={"id"})).inserted_primary_key[0]
                return row
        except IntegrityError:
            with engine.connect() as conn:
                earlier = _by_request_key(conn, request_key)
            if earlier is not None:
                return earlier  # an earlier or concurrent attempt for this request
            # else the serial was taken: draw another
    raise RuntimeError("could not reserve a serial number")


@functools.cache
def _ocsp_upsert(dialect: str) -> Any:
    """Stores a response over any left for the serial (one statement: a delete first cost as much)."""
    upsert = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}[dialect](_OCSP)
    return upsert.on_conflict_do_update(index_elements=[_OCSP.c.issuer, _OCSP.c.serial],
                                        set_={c: upsert.excluded[c] for c in ("status", "der", "produced_at",
                                                                              "refresh_after")})


def _store(engine: Engine, settings: Settings, row: CertificateRecord, cert: x509.Certificate,
           issuer_cert: x509.Certificate, actor: str, **extra: object) -> IssuedCertificate:
    # The "good" OCSP response is signed ahead and stored with the certificate (issue #18 target 3).
    response = ocsp_responder.presigned_good(engine, settings, row.issuer, issuer_cert, row.serial,
                                             cert.not_valid_before_utc)
    with engine.begin() as conn:
        stored = conn.execute(_STORE_RESERVED, {
            "row_id": row.id, "der": cert.public_bytes(Encoding.DER), "not_before": cert.not_valid_before_utc,
            "not_after": cert.not_valid_after_utc, "state": "issued", **extra}).rowcount
        if not stored:
            earlier = _by_request_key(conn, row.request_key)
            if earlier is None:
                raise LookupError(f"certificate row {row.id} vanished after its serial was reserved")
            return _issued(earlier)  # stored by an earlier (or concurrent) attempt
        if response is not None:
            conn.execute(_ocsp_upsert(conn.dialect.name), response)
        conn.execute(insert(_AUDIT), {
            "at": utcnow(), "actor": actor, "action": "certificate.issued", "subject": f"certificate:{row.serial}",
            "details": {"kind": row.kind, "issuer": row.issuer, "names": row.names, "request_key": row.request_key}})
    return _issued(row, cert)


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
    ca = signer(engine, settings, TLS_CA)
    with _lint_tolerance(settings):
        cert = issue_server_certificate(checked, subject, ca, settings.resolved_public_url, now or utcnow(),
                                        catalog_days, serial=int(row.serial, 16))
    return _store(engine, settings, row, cert, ca.certificate, actor)


def issue_login(engine: Engine, settings: Settings, request_key: str, certificate_name: str, actor: str,
                key_type: str = "ec", now: datetime | None = None) -> IssuedCertificate:
    """Login certificate with a server-generated key, kept encrypted until it is downloaded."""
    row = _reserve(engine, request_key, issuer=CLIENT_CA, kind="login", product="login",
                   display_name=certificate_name, names=[certificate_name])
    if row.state != "reserved":
        return _issued(row)
    key = generate_login_key(key_type)
    ca = signer(engine, settings, CLIENT_CA)
    with _lint_tolerance(settings):
        cert = issue_login_certificate(certificate_name, key, ca, settings.resolved_public_url, now or utcnow(),
                                       serial=int(row.serial, 16))
    return _store(engine, settings, row, cert, ca.certificate, actor,
                  private_key_pem=seal_login_key(key, passphrase(settings)))


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
    # Committed: no process answers "good" any more (a stored response is served only while it agrees
    # with the certificate row). Sign the "revoked" answer ahead for the requests to come.
    ocsp_responder.presign(engine, settings, issuer, serial, now)
    publish_crl(engine, settings, issuer, now=now)
    return True


def _revocations(engine: Engine, issuer: str, this_update: datetime) -> list[crl_builder.Revocation]:
    # Three columns, not ORM rows: for 100,000 entries, loading each row whole (its DER, its JSON
    # names) cost more than building and signing the CRL.
    # The rows are taken from the driver's cursor as plain tuples, the date as the driver gives it
    # (SQLite: ISO text, UTC; PostgreSQL: an aware datetime) and parsed here: SQLAlchemy's rows and
    # per-row date processing were half of the read.
    t = _CERTIFICATES
    with engine.connect() as conn:
        # BR 4.10.1: an entry stays until the certificate has expired.
        result = conn.execute(select(t.c.serial, type_coerce(t.c.revoked_at, String), t.c.revocation_reason).where(
            t.c.issuer == issuer, t.c.state == "revoked", t.c.not_after >= this_update - timedelta(days=1)))
        rows = result.cursor.fetchall()
        result.close()
    unspecified, parse = REASONS["unspecified"], datetime.fromisoformat
    return [crl_builder.Revocation(int(serial, 16),
                                   # SQLite keeps UTC without its zone
                                   parse(f"{when}+00:00") if isinstance(when, str) else when or this_update,
                                   REASONS.get(reason or "", unspecified))
            for serial, when, reason in rows]


def publish_crl(engine: Engine, settings: Settings, issuer: str, now: datetime | None = None) -> int:
    """A new CRL for ``issuer`` with the next CRL number; returns that number."""
    this_update = (now or utcnow()).replace(microsecond=0)
    is_root = issuer in ROOTS
    revoked = [] if is_root else _revocations(engine, issuer, this_update)
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
