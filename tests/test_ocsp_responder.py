"""The OCSP responder over real http, asked by `openssl ocsp`; and its edge cases through the API."""

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pydantic import SecretStr
from sqlalchemy import Engine

from ca import authority
from domain.pki.lint import lint_ocsp_response
from domain.settings import Settings
from store import certificates
from tests.browser import serve
from tests.test_certificate_authority import SUBJECT, make_csr


@pytest.fixture
def responder(settings: Settings, engine: Engine) -> Iterator[tuple[str, Settings]]:
    settings = settings.model_copy(update={"public_url": "http://pki.certdesk-test.com",
                                           "ca_passphrase": SecretStr("ocsp test passphrase")})
    authority.ensure_hierarchy(engine, settings)
    with serve(settings) as base:
        yield base, settings


def _openssl_ocsp(tmp: Path, base: str, engine: Engine, leaf_pem: str) -> str:
    (tmp / "issuer.pem").write_bytes(certificates.ca_certificate(engine, "server-ca").public_bytes(Encoding.PEM))
    (tmp / "root.pem").write_bytes(certificates.ca_certificate(engine, "tls-root").public_bytes(Encoding.PEM))
    (tmp / "leaf.pem").write_text(leaf_pem)
    out = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(tmp / "issuer.pem"), "-cert", str(tmp / "leaf.pem"),
         "-url", f"{base}/ocsp", "-CAfile", str(tmp / "root.pem"), "-verify_other", str(tmp / "issuer.pem"),
         "-resp_text"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "Response verify OK" in out.stderr + out.stdout, out.stderr
    return out.stdout


def test_openssl_reads_good_then_revoked_with_reason(responder: tuple[str, Settings], engine: Engine,
                                                     tmp_path: Path) -> None:
    base, settings = responder
    issued = authority.issue_server(engine, settings, "app:ocsp", make_csr("ocsp.example.co.jp"), SUBJECT, 90, "t")
    text = _openssl_ocsp(tmp_path, base, engine, issued.pem)
    assert "leaf.pem: good" in text
    authority.revoke(engine, settings, "server-ca", issued.serial, "keyCompromise", "staff:sato")
    text = _openssl_ocsp(tmp_path, base, engine, issued.pem)
    assert "leaf.pem: revoked" in text and "Reason: keyCompromise" in text


def _request(engine: Engine, leaf_pem: str, serial: int | None = None, nonce: bool = False) -> bytes:
    """A request for ``leaf_pem`` (or, with the same issuer hashes, for another serial)."""
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    issuer = certificates.ca_certificate(engine, "server-ca")
    real = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1())
    parsed = ocsp.load_der_ocsp_request(real.build().public_bytes(Encoding.DER))
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        parsed.issuer_name_hash, parsed.issuer_key_hash, serial or leaf.serial_number, hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def test_get_post_unknown_nonce_and_malformed(responder: tuple[str, Settings], engine: Engine) -> None:
    base, settings = responder
    issued = authority.issue_server(engine, settings, "app:ocsp2", make_csr("ocsp2.example.co.jp"), SUBJECT, 90, "t")
    serial, pem = int(issued.serial, 16), issued.pem
    with httpx.Client(base_url=base, timeout=10) as http:
        post = http.post("/ocsp", content=_request(engine, pem), headers={"content-type": "application/ocsp-request"})
        assert post.headers["content-type"] == "application/ocsp-response"
        good = ocsp.load_der_ocsp_response(post.content)
        assert good.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        assert good.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert lint_ocsp_response(post.content) == []
        # Reused from the cache until refreshed: the same signed bytes.
        assert http.post("/ocsp", content=_request(engine, pem)).content == post.content

        encoded = base64.b64encode(_request(engine, pem)).decode()
        got = ocsp.load_der_ocsp_response(http.get(f"/ocsp/{encoded}").content)
        assert got.certificate_status == ocsp.OCSPCertStatus.GOOD

        unknown = ocsp.load_der_ocsp_response(http.post("/ocsp", content=_request(engine, pem, serial + 1)).content)
        assert unknown.certificate_status == ocsp.OCSPCertStatus.UNKNOWN

        with_nonce = ocsp.load_der_ocsp_response(http.post("/ocsp", content=_request(engine, pem, nonce=True)).content)
        nonce = with_nonce.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        assert nonce == b"0123456789abcdef"

        for junk in (b"", b"not der at all", b"\x30" * 5000):
            r = ocsp.load_der_ocsp_response(http.post("/ocsp", content=junk).content)
            assert r.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        r = ocsp.load_der_ocsp_response(http.get("/ocsp/%%%not-base64").content)
        assert r.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
