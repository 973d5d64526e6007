"""OCSP answers (RFC 6960, RFC 5019) from the certificate records, signed by the delegated responders.

The web process answers OCSP with this module. It holds the responders' keys only — they can
sign nothing but OCSP answers — never a key of a CA that signs certificates or CRLs.

Responses to requests without a nonce are signed ahead: when a certificate is issued or revoked
(``presign``, called by the CA after its commit), and again lazily by the first request after
half their validity has passed (BR 4.9.10: updated at least every four days; the validity is
four days). A request is answered with one indexed read that fetches the stored response and
the certificate's state together; the stored response is served only while it says what the
certificate row says, so a revocation is answered at once in every web process, whatever any
cache holds (the row is the truth). A nonce must be echoed, so those requests are signed, within
a process-wide rate (beyond it the stored response is served without the nonce, as RFC 5019
responders do). Serials never issued are answered ``unknown``, signed each time and never
stored (so random serials cannot fill the table), within the same rate (beyond it: tryLater).
"""

import functools
import logging
import threading
import time
import weakref
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.ocsp import OCSPResponseBuilder, OCSPResponseStatus
from sqlalchemy import Engine, and_, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from domain.pki import ocsp
from domain.pki.errors import CaConfigurationError
from domain.pki.hierarchy import RESPONDER_OF, CaSigner
from domain.settings import Settings
from store.certificates import ca_certificate, status_of
from store.db import session_scope
from store.models import CaRecord, CertificateRecord, OcspResponseRecord, utcnow
from store.passphrase import passphrase
from store.signers import SignerCache, decrypt

log = logging.getLogger("certdesk.ocsp")

VALIDITY = ocsp.DEFAULT_VALIDITY
# Fresh signatures (nonces, unknown serials) per second and process, with a burst of as many.
SIGNATURES_PER_SECOND = 200

_responders = SignerCache()


def responder(engine: Engine, settings: Settings, name: str) -> CaSigner:
    """The delegated responder ``name`` (one of RESPONDER_OF's values), decrypted once per process."""
    if name not in RESPONDER_OF.values():
        raise CaConfigurationError(f"{name!r} is not an OCSP responder")

    def load() -> CaSigner:
        with session_scope(engine) as s:
            row = s.get(CaRecord, name)
        if row is None or not row.key_pem:
            raise CaConfigurationError(f"OCSP responder {name!r} does not exist yet: run `certdesk up` once")
        return decrypt(name, row.cert_pem, row.key_pem, passphrase(settings))

    return _responders.get(engine, name, load)


@dataclass(frozen=True)
class Answer:
    """A DER OCSPResponse and, for a stored (pre-signed) one, what HTTP caches may know of it."""

    der: bytes
    this_update: datetime | None = None  # set only for a response any relying party may reuse
    next_update: datetime | None = None
    refresh_after: datetime | None = None


# --- the issuing CAs, read once per process (a CA certificate never changes under its name) ----

_issuer_certificates: weakref.WeakKeyDictionary[Engine, dict[str, x509.Certificate]] = weakref.WeakKeyDictionary()
_issuers_lock = threading.Lock()


def _issuer_of(engine: Engine, query: ocsp.OcspQuery) -> tuple[str, x509.Certificate] | None:
    with _issuers_lock:
        known = _issuer_certificates.setdefault(engine, {})
    for name in RESPONDER_OF:
        cert = known.get(name)
        if cert is None:
            cert = ca_certificate(engine, name)
            if cert is None:
                continue  # not made yet: asked again next time
            known[name] = cert
        if ocsp.is_for_issuer(query, cert):
            return name, cert
    return None


# --- stored responses ------------------------------------------------------------------------

_STORED = OcspResponseRecord.__table__  # type: ignore[attr-defined]
_CERTIFICATES = CertificateRecord.__table__  # type: ignore[attr-defined]
# One read by primary key, joined to the certificate by its unique (issuer, serial) key.
_STORED_WITH_STATE = (
    select(_STORED.c.der, _STORED.c.status, _STORED.c.produced_at, _STORED.c.refresh_after, _CERTIFICATES.c.state)
    .select_from(_STORED.outerjoin(_CERTIFICATES, and_(_CERTIFICATES.c.issuer == _STORED.c.issuer,
                                                       _CERTIFICATES.c.serial == _STORED.c.serial)))
    .where(_STORED.c.issuer == bindparam("issuer"), _STORED.c.serial == bindparam("serial"))
)
_STATE_SAYS = {"issued": "good", "revoked": "revoked"}  # anything else (reserved, none): unknown


def _stored(engine: Engine, issuer: str, serial: str, now: datetime) -> Answer | None:
    with engine.connect() as conn:
        row = conn.execute(_STORED_WITH_STATE, {"issuer": issuer, "serial": serial}).first()
    if row is None:
        return None
    der, status, produced_at, refresh_after, state = row
    # Never what the certificate no longer is (a revocation committed by another process).
    if status != _STATE_SAYS.get(state or "", "unknown") or not produced_at <= now < refresh_after:
        return None
    return Answer(der, produced_at, produced_at + VALIDITY - timedelta(seconds=1), refresh_after)


def _keep(engine: Engine, issuer: str, serial: str, status: ocsp.CertStatus, der: bytes, now: datetime) -> Answer:
    for _ in range(2):
        try:
            with Session(engine) as s:
                row = s.get(OcspResponseRecord, (issuer, serial)) or OcspResponseRecord(issuer=issuer, serial=serial)
                row.status, row.der, row.produced_at = status.status.name.lower(), der, now
                row.refresh_after = now + VALIDITY / 2
                s.add(row)
                s.commit()
            break
        except IntegrityError:
            continue  # another process stored one at the same moment: overwrite it with ours
    return Answer(der, now, now + VALIDITY - timedelta(seconds=1), now + VALIDITY / 2)


def _sha1_query(issuer_cert: x509.Certificate, serial: int) -> ocsp.OcspQuery:
    # The CertID an RFC 5019 client sends; the issuer's hashes are cached by domain.pki.ocsp.
    name_hash, key_hash = ocsp._issuer_hashes(issuer_cert, "sha1")
    return ocsp.OcspQuery(name_hash, key_hash, hashes.SHA1(), serial)  # noqa: S303 (RFC 5019 CertIDs are SHA-1)


def presigned_good(engine: Engine, settings: Settings, issuer: str, issuer_cert: x509.Certificate, serial: str,
                   now: datetime) -> dict[str, object] | None:
    """The stored-response row for a certificate being issued, for the CA to write with the certificate.

    None (logged) if it cannot be signed: then the first request signs it.
    """
    if issuer not in RESPONDER_OF:
        return None
    try:
        now = now.replace(microsecond=0)
        der = ocsp.build_response(_sha1_query(issuer_cert, int(serial, 16)), ocsp.CertStatus.good(), issuer_cert,
                                  responder(engine, settings, RESPONDER_OF[issuer]), now, VALIDITY)
    except Exception:  # an optimisation: never a reason to fail an issuance
        log.exception("could not pre-sign the OCSP response for %s/%s", issuer, serial)
        return None
    return {"issuer": issuer, "serial": serial, "status": "good", "der": der, "produced_at": now,
            "refresh_after": now + VALIDITY / 2}


def presign(engine: Engine, settings: Settings, issuer: str, serial: str, now: datetime | None = None) -> None:
    """Signs and stores the response for the certificate's current state (after a revocation).

    Best effort: a failure is logged, and the first request signs instead.
    """
    try:
        issuer_cert = ca_certificate(engine, issuer)
        if issuer_cert is None or issuer not in RESPONDER_OF:
            return
        now = (now or utcnow()).replace(microsecond=0)
        status = status_of(engine, issuer, serial)
        der = ocsp.build_response(_sha1_query(issuer_cert, int(serial, 16)), status, issuer_cert,
                                  responder(engine, settings, RESPONDER_OF[issuer]), now, VALIDITY)
        _keep(engine, issuer, serial, status, der, now)
    except Exception:  # the response is an optimisation; the certificate row stays the truth
        log.exception("could not pre-sign the OCSP response for %s/%s", issuer, serial)


# --- fresh signatures, rate-limited ------------------------------------------------------------

class _Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


_fresh_signatures = _Bucket(SIGNATURES_PER_SECOND, SIGNATURES_PER_SECOND)


def _try_later() -> bytes:
    return OCSPResponseBuilder.build_unsuccessful(OCSPResponseStatus.TRY_LATER).public_bytes(Encoding.DER)


# --- the answer --------------------------------------------------------------------------------

def answer(engine: Engine, settings: Settings, request_der: bytes, now: datetime | None = None) -> bytes:
    """The DER OCSPResponse for a request: good / revoked / unknown, or an error status."""
    return respond(engine, settings, request_der, now).der


def stored_answer(engine: Engine, request_der: bytes, now: datetime | None = None) -> Answer | None:
    """The stored answer to a nonce-less SHA-1 request, if one is fresh and agrees with the certificate's
    row; else None (then ``respond``). Only reads, so a caller may use it on its event loop."""
    try:
        query = ocsp.parse_request(request_der)
    except ocsp.OcspMalformed:
        return None
    if query.nonce is not None or not isinstance(query.hash_algorithm, hashes.SHA1):
        return None
    found = _issuer_of(engine, query)
    if found is None:
        return None
    return _stored(engine, found[0], format(query.serial, "x"), (now or utcnow()).replace(microsecond=0))


def respond(engine: Engine, settings: Settings, request_der: bytes, now: datetime | None = None) -> Answer:
    """As ``answer``, with the validity of a stored response for the HTTP caching headers."""
    try:
        query = ocsp.parse_request(request_der)
    except ocsp.OcspMalformed:
        return Answer(ocsp.build_error(OCSPResponseStatus.MALFORMED_REQUEST))
    found = _issuer_of(engine, query)
    if found is None:
        return Answer(ocsp.build_error(OCSPResponseStatus.UNAUTHORIZED))
    issuer, issuer_cert = found
    now = (now or utcnow()).replace(microsecond=0)
    serial = format(query.serial, "x")
    if query.nonce is not None and not _fresh_signatures.take():
        query = replace(query, nonce=None)  # over the rate: answered as if it had none (RFC 5019 2.1.1)
    # Stored responses carry a SHA-1 CertID (what RFC 5019 clients send); a response must repeat
    # the request's CertID, so one with a SHA-256 CertID is signed for its request.
    shareable = query.nonce is None and isinstance(query.hash_algorithm, hashes.SHA1)
    if shareable and (stored := _stored(engine, issuer, serial, now)) is not None:
        return stored
    status = status_of(engine, issuer, serial)
    der = functools.partial(ocsp.build_response, query, status, issuer_cert,
                            responder(engine, settings, RESPONDER_OF[issuer]), now, VALIDITY)
    if shareable and status.status is not ocsp.OCSPCertStatus.UNKNOWN:
        return _keep(engine, issuer, serial, status, der(), now)
    # Signed for this request alone: a nonce (its signature already counted), a SHA-256 CertID, a
    # serial never issued.
    if query.nonce is None and not _fresh_signatures.take():
        return Answer(_try_later())
    return Answer(der())
