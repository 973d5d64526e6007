"""OCSP responder core: request parsing, good/revoked/unknown responses, nonces, errors, validity, lint, OpenSSL."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from domain.pki.crl import SUBSCRIBER_REASONS
from domain.pki.csr import parse_csr
from domain.pki.extensions import random_serial
from domain.pki.hierarchy import CaSigner, create_hierarchy, issue_ocsp_responder, load_signer
from domain.pki.lint import lint_ocsp_response
from domain.pki.ocsp import (
    REVOCATION_CLOCK_SKEW,
    CertStatus,
    OcspMalformed,
    OcspQuery,
    build_error,
    build_response,
    is_for_issuer,
    parse_request,
)
from domain.pki.profiles import OrganisationSubject, issue_server_certificate

# Real time: OpenSSL checks thisUpdate/nextUpdate against its own clock.  Microseconds on
# purpose, to see them truncated.
NOW = datetime.now(UTC).replace(microsecond=654321)
THIS_UPDATE = NOW.replace(microsecond=0)
URL = "http://pki.certdesk-test.com"
R = x509.ReasonFlags
S = ocsp.OCSPCertStatus
OCSP_STATUS = ocsp.OCSPResponseStatus
SHA1 = hashes.SHA1()  # noqa: S303 - what OCSP clients put in CertIDs (RFC 5019); not used for signing


@dataclass(frozen=True)
class Pki:
    signers: dict[str, CaSigner]
    server_cert: x509.Certificate

    @property
    def ca(self) -> CaSigner:
        return self.signers["server-ca"]

    @property
    def responder(self) -> CaSigner:
        return self.signers["server-ocsp"]


@pytest.fixture(scope="module")
def pki() -> Pki:
    hierarchy = create_hierarchy(
        public_url=URL, organisation="certdesk test CA", now=NOW - timedelta(days=1), passphrase="pw"
    )
    signers = {entry.name: load_signer(entry, "pw") for entry in hierarchy.entries}
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.shop.de")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.shop.de")]), critical=False)
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    subject = OrganisationSubject(country="DE", organisation="Shop GmbH", state="Berlin", locality="Berlin")
    cert = issue_server_certificate(
        parse_csr(csr.public_bytes(Encoding.PEM)), subject, signers["server-ca"], URL, NOW - timedelta(hours=2), 90
    )
    return Pki(signers, cert)


def request_der(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    algorithm: hashes.HashAlgorithm | None = None,
    nonce: bytes | None = None,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or SHA1)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def query_for(pki: Pki, algorithm: hashes.HashAlgorithm | None = None, nonce: bytes | None = None) -> OcspQuery:
    return parse_request(request_der(pki.server_cert, pki.ca.certificate, algorithm, nonce))


def check_signed(pki: Pki, der: bytes) -> ocsp.OCSPResponse:
    """Everything every successful response must satisfy; returns the parsed response."""
    response = ocsp.load_der_ocsp_response(der)
    assert response.response_status == OCSP_STATUS.SUCCESSFUL
    # Signed by the delegated responder, which is included and chains to the issuing CA and its root.
    responder_cert = pki.responder.certificate
    assert response.certificates == [responder_cert]
    key = responder_cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert response.signature_hash_algorithm is not None
    key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm))
    responder_cert.verify_directly_issued_by(pki.ca.certificate)
    pki.ca.certificate.verify_directly_issued_by(pki.signers["tls-root"].certificate)
    # Responder id by key hash (SHA-1 of the key, i.e. the method-1 SKI), not by name.
    assert response.responder_name is None
    assert response.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(key).digest
    # thisUpdate is now in whole seconds; the BR validity interval (inclusive) is the default 4 days.
    assert response.this_update_utc == THIS_UPDATE
    assert response.next_update_utc == THIS_UPDATE + timedelta(days=4) - timedelta(seconds=1)
    assert response.produced_at_utc >= THIS_UPDATE
    assert lint_ocsp_response(der) == []
    return response


# --- good -----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [SHA1, hashes.SHA256()], ids=["sha1", "sha256"])
def test_good(pki: Pki, algorithm: hashes.HashAlgorithm) -> None:
    query = query_for(pki, algorithm)
    assert query.serial == pki.server_cert.serial_number
    assert query.nonce is None
    assert is_for_issuer(query, pki.ca.certificate)
    response = check_signed(pki, build_response(query, CertStatus.good(), pki.ca.certificate, pki.responder, NOW))
    assert response.certificate_status == S.GOOD
    assert response.serial_number == pki.server_cert.serial_number
    # The CertID echoes the request's: same algorithm and hashes.
    assert response.hash_algorithm.name == algorithm.name
    assert response.issuer_name_hash == query.issuer_name_hash
    assert response.issuer_key_hash == query.issuer_key_hash
    assert response.revocation_time_utc is None
    assert response.revocation_reason is None
    with pytest.raises(x509.ExtensionNotFound):
        response.extensions.get_extension_for_class(x509.OCSPNonce)


# --- revoked --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (None, None),
        (R.unspecified, None),  # sent without a reason code, as on the CRL
        (R.key_compromise, R.key_compromise),
        (R.affiliation_changed, R.affiliation_changed),
        (R.superseded, R.superseded),
        (R.cessation_of_operation, R.cessation_of_operation),
        (R.privilege_withdrawn, R.privilege_withdrawn),
    ],
)
@pytest.mark.parametrize("ago", [timedelta(0), timedelta(minutes=5, microseconds=999), timedelta(days=30)])
def test_revoked(pki: Pki, reason: x509.ReasonFlags | None, expected: x509.ReasonFlags | None, ago: timedelta) -> None:
    revoked_at = NOW - ago
    der = build_response(query_for(pki), CertStatus.revoked(revoked_at, reason), pki.ca.certificate, pki.responder, NOW)
    response = check_signed(pki, der)
    assert response.certificate_status == S.REVOKED
    assert response.revocation_time_utc == revoked_at.replace(microsecond=0)
    assert response.revocation_reason == expected


def test_every_br_subscriber_reason_is_covered() -> None:
    assert {
        R.key_compromise,
        R.affiliation_changed,
        R.superseded,
        R.cessation_of_operation,
        R.privilege_withdrawn,
    } == SUBSCRIBER_REASONS


@pytest.mark.parametrize("reason", [R.ca_compromise, R.aa_compromise, R.certificate_hold, R.remove_from_crl])
def test_reasons_not_allowed_for_subscribers(reason: x509.ReasonFlags) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        CertStatus.revoked(NOW, reason)


def test_revocation_slightly_in_the_future_is_served_as_now(pki: Pki) -> None:
    # Another machine's clock a little ahead: the certificate is revoked, say so at once.
    for ahead in (timedelta(seconds=1), REVOCATION_CLOCK_SKEW):
        status = CertStatus.revoked(NOW + ahead)
        response = check_signed(pki, build_response(query_for(pki), status, pki.ca.certificate, pki.responder, NOW))
        assert response.certificate_status == S.REVOKED
        assert response.revocation_time_utc == THIS_UPDATE


def test_revocation_in_the_future_is_refused(pki: Pki) -> None:
    status = CertStatus.revoked(NOW.replace(microsecond=0) + REVOCATION_CLOCK_SKEW + timedelta(seconds=1))
    with pytest.raises(ValueError, match="future"):
        build_response(query_for(pki), status, pki.ca.certificate, pki.responder, NOW)


def test_status_consistency() -> None:
    with pytest.raises(ValueError, match="revocation time"):
        CertStatus(S.REVOKED)
    with pytest.raises(ValueError, match="only a revoked status"):
        CertStatus(S.GOOD, revoked_at=NOW)
    with pytest.raises(ValueError, match="only a revoked status"):
        CertStatus(S.UNKNOWN, reason=R.superseded)


# --- unknown --------------------------------------------------------------------------------


def test_unknown_serial(pki: Pki) -> None:
    never_issued = random_serial()
    name_hash, key_hash = query_for(pki).issuer_name_hash, query_for(pki).issuer_key_hash
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash, key_hash, never_issued, SHA1)
        .build()
        .public_bytes(Encoding.DER)
    )
    query = parse_request(request)
    assert query.serial == never_issued
    response = check_signed(pki, build_response(query, CertStatus.unknown(), pki.ca.certificate, pki.responder, NOW))
    assert response.certificate_status == S.UNKNOWN
    assert response.serial_number == never_issued


# --- nonces (RFC 8954) ----------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 16, 32])
def test_nonce_echoed(pki: Pki, length: int) -> None:
    nonce = bytes(range(1, length + 1))
    query = query_for(pki, nonce=nonce)
    assert query.nonce == nonce
    response = check_signed(pki, build_response(query, CertStatus.good(), pki.ca.certificate, pki.responder, NOW))
    extension = response.extensions.get_extension_for_class(x509.OCSPNonce)
    assert extension.value.nonce == nonce
    assert not extension.critical


@pytest.mark.parametrize("length", [0, 33, 64])
def test_nonce_out_of_range_is_malformed(pki: Pki, length: int) -> None:
    with pytest.raises(OcspMalformed, match=f"nonce of {length} octets"):
        query_for(pki, nonce=b"\x42" * length)


# --- malformed requests ---------------------------------------------------------------------


def tlv(tag: int, content: bytes) -> bytes:
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    size = len(content).to_bytes((len(content).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def read_tlv(der: bytes) -> tuple[bytes, bytes]:
    """(content, rest) of the first DER element in `der`."""
    length, start = der[1], 2
    if length & 0x80:
        octets = length & 0x7F
        length, start = int.from_bytes(der[2 : 2 + octets], "big"), 2 + octets
    return der[start : start + length], der[start + length :]


def single_request_element(der: bytes) -> bytes:
    """The one `Request` in an OCSPRequest without extensions or signature."""
    tbs, _ = read_tlv(der)
    request_list, _ = read_tlv(tbs)
    requests, _ = read_tlv(request_list)
    return requests


def test_two_certificates_in_one_request_is_malformed(pki: Pki) -> None:
    first = single_request_element(request_der(pki.server_cert, pki.ca.certificate))
    second = single_request_element(request_der(pki.responder.certificate, pki.ca.certificate))
    assert first != second
    two = tlv(0x30, tlv(0x30, tlv(0x30, first + second)))
    one = tlv(0x30, tlv(0x30, tlv(0x30, first)))
    assert parse_request(one).serial == pki.server_cert.serial_number  # the hand encoding is right
    with pytest.raises(OcspMalformed, match="only one certificate"):
        parse_request(two)


def test_empty_request_list_is_malformed() -> None:
    with pytest.raises(OcspMalformed, match="only one certificate"):
        parse_request(tlv(0x30, tlv(0x30, tlv(0x30, b""))))


def test_nonce_not_wrapped_in_octet_string_is_malformed(pki: Pki) -> None:
    # Some old clients put the raw nonce in extnValue instead of a DER OCTET STRING.
    request_element = single_request_element(request_der(pki.server_cert, pki.ca.certificate))
    nonce_oid = bytes.fromhex("06092b0601050507300102")
    extension = tlv(0x30, nonce_oid + tlv(0x04, b"\x30" * 16))
    tbs = tlv(0x30, tlv(0x30, request_element) + tlv(0xA2, tlv(0x30, extension)))
    with pytest.raises(OcspMalformed):
        parse_request(tlv(0x30, tbs))


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"garbage",
        b"\x30\x03\x02\x01\x05",
        bytes.fromhex("300630043002300030"),  # truncated CertID
    ],
    ids=["empty", "text", "wrong-structure", "truncated"],
)
def test_garbage_is_malformed(der: bytes) -> None:
    with pytest.raises(OcspMalformed):
        parse_request(der)


def test_truncated_real_request_is_malformed(pki: Pki) -> None:
    der = request_der(pki.server_cert, pki.ca.certificate, nonce=b"n" * 16)
    for cut in (1, 10, len(der) // 2, len(der) - 1):
        with pytest.raises(OcspMalformed):
            parse_request(der[:cut])


# --- unauthorized: not our issuer -----------------------------------------------------------


def assert_unauthorized(der: bytes) -> None:
    response = ocsp.load_der_ocsp_response(der)
    assert response.response_status == OCSP_STATUS.UNAUTHORIZED
    assert der == bytes.fromhex("30030a0106")  # OCSPResponse { responseStatus unauthorized(6) }, no body
    assert lint_ocsp_response(der) == []


def test_other_issuer_is_unauthorized(pki: Pki) -> None:
    # A certificate of the login hierarchy asked of the server CA's responder.
    login_ca = pki.signers["login-ca"]
    query = parse_request(request_der(pki.signers["login-ocsp"].certificate, login_ca.certificate))
    assert not is_for_issuer(query, pki.ca.certificate)
    assert is_for_issuer(query, login_ca.certificate)
    assert_unauthorized(build_response(query, CertStatus.good(), pki.ca.certificate, pki.responder, NOW))


def test_same_name_other_key_is_unauthorized(pki: Pki) -> None:
    good = query_for(pki)
    impostor_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    other_key_hash = x509.SubjectKeyIdentifier.from_public_key(impostor_key).digest
    query = OcspQuery(good.issuer_name_hash, other_key_hash, SHA1, good.serial)
    assert_unauthorized(build_response(query, CertStatus.good(), pki.ca.certificate, pki.responder, NOW))
    query = OcspQuery(b"\x00" * 20, good.issuer_key_hash, SHA1, good.serial)
    assert_unauthorized(build_response(query, CertStatus.good(), pki.ca.certificate, pki.responder, NOW))


@pytest.mark.parametrize("algorithm", [hashes.SHA384(), hashes.SHA512(), hashes.SHA224()])
def test_other_certid_hashes_are_unauthorized(pki: Pki, algorithm: hashes.HashAlgorithm) -> None:
    query = query_for(pki, algorithm)
    assert query.hash_algorithm.name == algorithm.name
    assert_unauthorized(build_response(query, CertStatus.good(), pki.ca.certificate, pki.responder, NOW))


def test_sha1_key_hash_is_the_ski(pki: Pki) -> None:
    ski = pki.ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert query_for(pki).issuer_key_hash == ski


# --- error responses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(OCSP_STATUS.MALFORMED_REQUEST, 1), (OCSP_STATUS.INTERNAL_ERROR, 2), (OCSP_STATUS.UNAUTHORIZED, 6)],
)
def test_build_error(status: ocsp.OCSPResponseStatus, code: int) -> None:
    der = build_error(status)
    assert der == bytes([0x30, 0x03, 0x0A, 0x01, code])
    assert ocsp.load_der_ocsp_response(der).response_status == status
    assert lint_ocsp_response(der) == []


@pytest.mark.parametrize("status", [OCSP_STATUS.SUCCESSFUL, OCSP_STATUS.TRY_LATER, OCSP_STATUS.SIG_REQUIRED])
def test_build_error_refuses_other_statuses(status: ocsp.OCSPResponseStatus) -> None:
    with pytest.raises(ValueError, match="not an error status"):
        build_error(status)


# --- validity (BR 4.9.10) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "validity", [timedelta(hours=8), timedelta(days=1), timedelta(days=7), timedelta(days=10)], ids=str
)
def test_validity_within_bounds(pki: Pki, validity: timedelta) -> None:
    der = build_response(query_for(pki), CertStatus.good(), pki.ca.certificate, pki.responder, NOW, validity)
    response = ocsp.load_der_ocsp_response(der)
    assert response.this_update_utc == THIS_UPDATE
    # The BR interval counts both ends: nextUpdate - thisUpdate + 1 s == validity.
    assert response.next_update_utc is not None
    assert response.next_update_utc - response.this_update_utc + timedelta(seconds=1) == validity
    assert lint_ocsp_response(der) == []


@pytest.mark.parametrize(
    "validity",
    [
        timedelta(0),
        timedelta(hours=-8),
        timedelta(hours=8) - timedelta(seconds=1),
        timedelta(days=10) + timedelta(seconds=1),
        timedelta(days=30),
    ],
    ids=str,
)
def test_validity_out_of_bounds(pki: Pki, validity: timedelta) -> None:
    with pytest.raises(ValueError, match="BR 4.9.10"):
        build_response(query_for(pki), CertStatus.good(), pki.ca.certificate, pki.responder, NOW, validity)


def bare_response(pki: Pki, next_update: datetime) -> bytes:
    query = query_for(pki)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            query.issuer_name_hash,
            query.issuer_key_hash,
            query.serial,
            SHA1,
            S.GOOD,
            THIS_UPDATE,
            next_update,
            None,
            None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, pki.responder.certificate)
    )
    return builder.sign(pki.responder.private_key, hashes.SHA256()).public_bytes(Encoding.DER)


@pytest.mark.parametrize(
    ("next_update", "code"),
    [
        (timedelta(days=10), "cabf.ocsp_validity_exceeds_10_days"),  # why build_response subtracts a second
        (timedelta(hours=8) - timedelta(seconds=2), "cabf.ocsp_validity_below_8_hours"),
        (-timedelta(seconds=1), "pkix.ocsp_negative_validity_period"),
    ],
    ids=["10d", "8h-2s", "negative"],
)
def test_lint_catches_bad_validity(pki: Pki, next_update: timedelta, code: str) -> None:
    findings = lint_ocsp_response(bare_response(pki, THIS_UPDATE + next_update))
    assert code in {finding.code for finding in findings}


def test_lint_checks_the_embedded_responder_certificate(pki: Pki) -> None:
    query = query_for(pki)
    wrong = CaSigner("wrong", pki.ca.certificate, pki.ca.private_key)  # the CA itself is no delegated responder
    der = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            query.issuer_name_hash,
            query.issuer_key_hash,
            query.serial,
            SHA1,
            S.GOOD,
            THIS_UPDATE,
            None,
            None,
            None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, wrong.certificate)
        .certificates([wrong.certificate])
        .sign(wrong.private_key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )
    codes = {finding.code for finding in lint_ocsp_response(der)}
    assert "certs[0]: cabf.serverauth.ocsp_responder.ocsp_nocheck_extension_absent" in codes
    assert not {code for code in lint_ocsp_response(der, responder_profile=None) if code.startswith("certs")}


# --- responder sanity -----------------------------------------------------------------------


def test_responder_of_another_ca_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="not issued by"):
        build_response(query_for(pki), CertStatus.good(), pki.ca.certificate, pki.signers["login-ocsp"], NOW)


def test_issuing_ca_itself_is_not_a_delegated_responder(pki: Pki) -> None:
    with pytest.raises(ValueError, match="not issued by|OCSPSigning"):
        build_response(query_for(pki), CertStatus.good(), pki.ca.certificate, pki.ca, NOW)


def test_expired_responder_is_refused(pki: Pki) -> None:
    old = issue_ocsp_responder("server-ocsp", pki.ca, "certdesk test CA", "US", "old responder", NOW, days=1)
    build_response(query_for(pki), CertStatus.good(), pki.ca.certificate, old, NOW)
    with pytest.raises(ValueError, match="renew"):
        build_response(query_for(pki), CertStatus.good(), pki.ca.certificate, old, NOW + timedelta(days=2))


def test_naive_now_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_response(query_for(pki), CertStatus.good(), pki.ca.certificate, pki.responder, NOW.replace(tzinfo=None))


# --- OpenSSL as an independent relying party -------------------------------------------------


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (CertStatus.good(), "Cert Status: good"),
        (CertStatus.revoked(NOW - timedelta(hours=1), R.key_compromise), "Revocation Reason: keyCompromise (0x1)"),
        (CertStatus.revoked(NOW - timedelta(hours=1)), "Cert Status: revoked"),
        (CertStatus.unknown(), "Cert Status: unknown"),
    ],
    ids=["good", "revoked-key-compromise", "revoked", "unknown"],
)
def test_openssl_accepts_the_response(pki: Pki, tmp_path: Path, status: CertStatus, expected: str) -> None:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is part of the test environment"
    nonce = b"\x01\x02" * 8
    request = request_der(pki.server_cert, pki.ca.certificate, nonce=nonce)
    (tmp_path / "req.der").write_bytes(request)
    response = build_response(parse_request(request), status, pki.ca.certificate, pki.responder, NOW)
    (tmp_path / "resp.der").write_bytes(response)
    (tmp_path / "ca.pem").write_bytes(pem(pki.ca.certificate))
    (tmp_path / "responder.pem").write_bytes(pem(pki.responder.certificate))
    (tmp_path / "chain.pem").write_bytes(pem(pki.ca.certificate) + pem(pki.signers["tls-root"].certificate))
    (tmp_path / "leaf.pem").write_bytes(pem(pki.server_cert))
    # As in the brief: the responder trusted explicitly (-VAfile).
    output = run_openssl(tmp_path, "-respin", "resp.der", "-issuer", "ca.pem", "-VAfile", "responder.pem", "-resp_text")
    assert "Response verify OK" in output
    assert expected in output
    assert "Responder Id: " in output  # byKey
    # As a relying party would: chain to the root, and check the nonce against the request...
    output = run_openssl(tmp_path, "-respin", "resp.der", "-reqin", "req.der", "-CAfile", "chain.pem")
    assert "Response verify OK" in output
    assert "WARNING" not in output  # e.g. "WARNING: no nonce in response"
    # ...then look the certificate up (-cert builds a fresh request with a nonce of its own,
    # hence -no_nonce); "WARNING: Status times invalid" would flag thisUpdate/nextUpdate.
    output = run_openssl(
        tmp_path, "-respin", "resp.der", "-issuer", "ca.pem", "-cert", "leaf.pem", "-no_nonce", "-CAfile", "chain.pem"
    )
    assert "Response verify OK" in output
    assert f"leaf.pem: {status.status.name.lower()}" in output
    assert "WARNING" not in output


def run_openssl(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [shutil.which("openssl") or "openssl", "ocsp", *args], cwd=cwd, capture_output=True, text=True, timeout=30
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output
