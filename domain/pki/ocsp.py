"""OCSP responder logic (RFC 6960, RFC 8954 nonces, BR 4.9.9/4.9.10); no HTTP and no database.

The HTTP layer hands the request body to `parse_request`, looks the serial up itself and
passes what it found to `build_response`:

    try:
        query = parse_request(body)
    except OcspMalformed:
        return build_error(OCSPResponseStatus.MALFORMED_REQUEST)
    status = ...  # CertStatus.good() / .revoked(at, reason) / .unknown() (never issued)
    return build_response(query, status, issuing_ca_cert, responder, now)

Scope, deliberately narrow:

- One certificate per request.  RFC 6960 allows a list, but browsers and OpenSSL send one,
  cryptography parses only one, and answering one keeps each response cacheable by its
  request; a request with several is answered `malformedRequest`.
- Responses are signed by the CA's delegated responder (BR 7.1.2.8: ocsp-nocheck, EKU
  OCSPSigning), identified by key hash, with the responder certificate included so relying
  parties can check the delegation.
- The CertID may use SHA-1 (what everyone sends) or SHA-256.  A CertID for another issuer,
  or hashed with any other algorithm, is answered `unauthorized` (RFC 6960 2.3, RFC 5019 2.2.3):
  this responder is not authoritative for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from domain.pki.crl import SUBSCRIBER_REASONS
from domain.pki.hierarchy import CaSigner
from domain.pki.lint import signature_hash

OCSPCertStatus = ocsp.OCSPCertStatus
OCSPResponseStatus = ocsp.OCSPResponseStatus

# BR 4.9.10: the validity interval (nextUpdate - thisUpdate, inclusive, i.e. plus one second)
# of a response for a subscriber certificate is at least eight hours and at most ten days.
MIN_VALIDITY = timedelta(hours=8)
MAX_VALIDITY = timedelta(days=10)
DEFAULT_VALIDITY = timedelta(days=4)
# A revocation time at most this far after `now` is answered as revoked at `now`.
REVOCATION_CLOCK_SKEW = timedelta(minutes=5)
# RFC 8954 2.1: a nonce is 1 to 32 octets.
MIN_NONCE_OCTETS = 1
MAX_NONCE_OCTETS = 32
# CertID hash algorithms we recognise as naming one of our issuers.
MATCHED_HASHES: tuple[type[hashes.HashAlgorithm], ...] = (hashes.SHA1, hashes.SHA256)
ERROR_STATUSES = frozenset(
    {
        OCSPResponseStatus.MALFORMED_REQUEST,
        OCSPResponseStatus.UNAUTHORIZED,
        OCSPResponseStatus.INTERNAL_ERROR,
    }
)


class OcspMalformed(ValueError):
    """The request cannot be answered at all; reply with `build_error(MALFORMED_REQUEST)`."""


@dataclass(frozen=True)
class OcspQuery:
    """The one CertID asked about, plus the nonce to echo (None when the request had none)."""

    issuer_name_hash: bytes
    issuer_key_hash: bytes
    hash_algorithm: hashes.HashAlgorithm
    serial: int
    nonce: bytes | None = None


@dataclass(frozen=True)
class CertStatus:
    """What the database says about the serial; build with `good()`, `revoked()` or `unknown()`.

    `unknown` is for serials this CA never issued (BR 4.9.10: never answer `good` for them).
    A reason of None or `unspecified` is sent without a reason code, as on the CRL (BR 7.2.2).
    """

    status: OCSPCertStatus
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None

    def __post_init__(self) -> None:
        if self.status is OCSPCertStatus.REVOKED:
            if self.revoked_at is None:
                raise ValueError("a revoked status needs the revocation time")
            if self.reason is not None and self.reason is not x509.ReasonFlags.unspecified:
                if self.reason not in SUBSCRIBER_REASONS:
                    raise ValueError(f"revocation reason {self.reason.value} is not allowed (BR 7.2.2.1)")
        elif self.revoked_at is not None or self.reason is not None:
            raise ValueError(f"only a revoked status carries a revocation time or reason, not {self.status.name}")

    @classmethod
    def good(cls) -> CertStatus:
        return cls(OCSPCertStatus.GOOD)

    @classmethod
    def revoked(cls, revoked_at: datetime, reason: x509.ReasonFlags | None = None) -> CertStatus:
        return cls(OCSPCertStatus.REVOKED, revoked_at, reason)

    @classmethod
    def unknown(cls) -> CertStatus:
        return cls(OCSPCertStatus.UNKNOWN)


def parse_request(der: bytes) -> OcspQuery:
    """Parses a DER OCSPRequest; raises OcspMalformed if it is unusable.

    Unusable: not DER, more or fewer than one certificate, a CertID hash algorithm unknown to
    cryptography, malformed or duplicate extensions, or a nonce that is not an OCTET STRING of
    1-32 octets (RFC 8954).
    """
    try:
        request = ocsp.load_der_ocsp_request(der)
    except NotImplementedError as exc:  # cryptography: "contains more than one request"
        raise OcspMalformed("only one certificate per OCSP request is supported") from exc
    except ValueError as exc:
        raise OcspMalformed(f"not a DER OCSP request: {exc}") from exc
    try:
        algorithm = request.hash_algorithm
        extensions = request.extensions
        query = OcspQuery(request.issuer_name_hash, request.issuer_key_hash, algorithm, request.serial_number)
    except UnsupportedAlgorithm as exc:
        raise OcspMalformed(f"unsupported CertID hash algorithm: {exc}") from exc
    except (ValueError, x509.DuplicateExtension) as exc:
        raise OcspMalformed(f"malformed OCSP request: {exc}") from exc
    try:
        nonce = extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return query
    if not MIN_NONCE_OCTETS <= len(nonce) <= MAX_NONCE_OCTETS:
        raise OcspMalformed(f"nonce of {len(nonce)} octets; RFC 8954 allows {MIN_NONCE_OCTETS} to {MAX_NONCE_OCTETS}")
    # cryptography also accepts a bare nonce (extnValue not holding an OCTET STRING, as very old
    # OpenSSL sent); echoing it would re-wrap it and fail the client's byte-for-byte check.
    if _octet_string(_octet_string(nonce)) not in der:
        raise OcspMalformed("the nonce is not DER-encoded as an OCTET STRING (RFC 8954)")
    return OcspQuery(query.issuer_name_hash, query.issuer_key_hash, algorithm, query.serial, nonce)


def _octet_string(content: bytes) -> bytes:
    return bytes([0x04, len(content)]) + content  # short form: only used for <= 34 octets


def build_error(status: OCSPResponseStatus) -> bytes:
    """Unsigned error response: malformedRequest, unauthorized or internalError."""
    if status not in ERROR_STATUSES:
        raise ValueError(f"{status.name} is not an error status this responder sends")
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


def _subject_public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING contents (what RFC 6960 issuerKeyHash hashes)."""
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    # SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
    position = _skip_header(der, 0)  # into the outer SEQUENCE
    position = _skip_header(der, position, skip_value=True)  # past the AlgorithmIdentifier
    if der[position] != 0x03:
        raise ValueError("SubjectPublicKeyInfo without a BIT STRING")
    start = _skip_header(der, position)
    if der[start] != 0:
        raise ValueError("subjectPublicKey with unused bits")
    return der[start + 1 :]


def _skip_header(der: bytes, position: int, skip_value: bool = False) -> int:
    """Position after a DER tag and length (and after the value too if `skip_value`)."""
    length = der[position + 1]
    position += 2
    if length & 0x80:
        octets = length & 0x7F
        length = int.from_bytes(der[position : position + octets], "big")
        position += octets
    return position + length if skip_value else position


@lru_cache(maxsize=64)
def _issuer_hashes(issuer_cert: x509.Certificate, algorithm_name: str) -> tuple[bytes, bytes]:
    algorithm = {cls.name: cls for cls in MATCHED_HASHES}[algorithm_name]()

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm)
        h.update(data)
        return h.finalize()

    return digest(issuer_cert.subject.public_bytes()), digest(_subject_public_key_bits(issuer_cert))


def is_for_issuer(query: OcspQuery, issuer_cert: x509.Certificate) -> bool:
    """True if the CertID names `issuer_cert` (name and key hash), hashed with SHA-1 or SHA-256."""
    if not isinstance(query.hash_algorithm, MATCHED_HASHES):
        return False
    name_hash, key_hash = _issuer_hashes(issuer_cert, query.hash_algorithm.name)
    return query.issuer_name_hash == name_hash and query.issuer_key_hash == key_hash


@lru_cache(maxsize=64)
def _check_delegation(responder_cert: x509.Certificate, issuer_cert: x509.Certificate) -> None:
    # RFC 6960 4.2.2.2: a delegated responder is issued directly by the CA and carries id-kp-OCSPSigning.
    try:
        responder_cert.verify_directly_issued_by(issuer_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise ValueError(f"the responder certificate is not issued by {issuer_cert.subject.rfc4514_string()}") from exc
    try:
        eku = responder_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        raise ValueError("the responder certificate lacks the OCSPSigning extended key usage")


def build_response(
    query: OcspQuery,
    status: CertStatus,
    issuer_cert: x509.Certificate,
    responder: CaSigner,
    now: datetime,
    validity: timedelta = DEFAULT_VALIDITY,
) -> bytes:
    """DER OCSPResponse for `query`, signed by `responder` (the delegated responder of `issuer_cert`).

    thisUpdate is `now` (whole seconds); nextUpdate ends the BR 4.9.10 validity interval, which
    counts inclusively like certificate validity, so nextUpdate = thisUpdate + validity - 1 s.
    `validity` must lie within 8 hours .. 10 days (ValueError otherwise), as must the responder
    certificate's own validity cover `now`.  A query for another issuer gets `unauthorized`.
    """
    if not MIN_VALIDITY <= validity <= MAX_VALIDITY:
        raise ValueError(f"OCSP validity must be between {MIN_VALIDITY} and {MAX_VALIDITY} (BR 4.9.10), got {validity}")
    if validity.microseconds:
        raise ValueError("OCSP validity must be a whole number of seconds")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    _check_delegation(responder.certificate, issuer_cert)
    this_update = now.replace(microsecond=0)
    if not responder.certificate.not_valid_before_utc <= this_update <= responder.certificate.not_valid_after_utc:
        raise ValueError("the responder certificate is not valid now; renew it")
    if not is_for_issuer(query, issuer_cert):
        return build_error(OCSPResponseStatus.UNAUTHORIZED)
    revoked_at = status.revoked_at.replace(microsecond=0) if status.revoked_at is not None else None
    if revoked_at is not None and revoked_at > this_update:
        # A revocation recorded by a machine whose clock runs slightly ahead must still be
        # served at once; anything further ahead is a data error.
        if revoked_at - this_update > REVOCATION_CLOCK_SKEW:
            raise ValueError("the revocation time lies in the future")
        revoked_at = this_update
    reason = None if status.reason is x509.ReasonFlags.unspecified else status.reason
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=query.issuer_name_hash,
            issuer_key_hash=query.issuer_key_hash,
            serial_number=query.serial,
            algorithm=query.hash_algorithm,
            cert_status=status.status,
            this_update=this_update,
            next_update=this_update + validity - timedelta(seconds=1),
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.certificate)
        .certificates([responder.certificate])
    )
    if query.nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(query.nonce), critical=False)
    response = builder.sign(responder.private_key, signature_hash(responder.private_key))
    return response.public_bytes(Encoding.DER)
