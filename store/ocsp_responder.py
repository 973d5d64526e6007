"""OCSP answers (RFC 6960) from the certificate records, signed by the delegated responders.

The web process answers OCSP with this module. It holds the responders' keys only — they can
sign nothing but OCSP answers — never a key of a CA that signs certificates or CRLs.
Responses to requests without a nonce are cached and reused until half their validity has
passed (or the status changes, which drops the cache row); a nonce must be echoed, so those
are fresh.
"""

from datetime import datetime

from cryptography.x509.ocsp import OCSPResponseStatus
from sqlalchemy import Engine

from domain.pki import ocsp
from domain.pki.errors import CaConfigurationError
from domain.pki.hierarchy import RESPONDER_OF, CaSigner
from domain.settings import Settings
from store.certificates import ca_certificate, status_of
from store.db import session_scope
from store.models import CaRecord, OcspResponseRecord, utcnow
from store.passphrase import passphrase
from store.signers import SignerCache, decrypt

VALIDITY = ocsp.DEFAULT_VALIDITY

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


def answer(engine: Engine, settings: Settings, request_der: bytes, now: datetime | None = None) -> bytes:
    """The DER OCSPResponse for a request: good / revoked / unknown, or an error status."""
    try:
        query = ocsp.parse_request(request_der)
    except ocsp.OcspMalformed:
        return ocsp.build_error(OCSPResponseStatus.MALFORMED_REQUEST)
    issuer_cert = None
    issuer = None
    for name in RESPONDER_OF:
        cert = ca_certificate(engine, name)
        if cert is not None and ocsp.is_for_issuer(query, cert):
            issuer, issuer_cert = name, cert
            break
    if issuer is None or issuer_cert is None:
        return ocsp.build_error(OCSPResponseStatus.UNAUTHORIZED)
    now = (now or utcnow()).replace(microsecond=0)
    serial = format(query.serial, "x")
    if query.nonce is None:
        with session_scope(engine) as s:
            cached = s.get(OcspResponseRecord, (issuer, serial))
            if cached is not None and cached.refresh_after > now and cached.produced_at <= now:
                return cached.der
    status = status_of(engine, issuer, serial)
    der = ocsp.build_response(query, status, issuer_cert, responder(engine, settings, RESPONDER_OF[issuer]),
                              now, VALIDITY)
    if query.nonce is None:
        with session_scope(engine) as s:
            row = s.get(OcspResponseRecord, (issuer, serial)) or OcspResponseRecord(issuer=issuer, serial=serial)
            row.status, row.der, row.produced_at = status.status.name.lower(), der, now
            row.refresh_after = now + VALIDITY / 2
            s.add(row)
    return der
