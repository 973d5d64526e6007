"""The web process alone, as deployed: no worker, no Temporal, and no access to the CA's key store.

It still serves what relying parties fetch — CA certificates, CRLs, OCSP answers for the
certificates the worker issued and revoked — and never decrypts a CA key: issuance and
revocation need the worker, whose process alone reads CERTDESK_CA_KEY_DIR.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from sqlalchemy import Engine

from ca import authority
from domain.pki.hierarchy import CRL_ISSUERS, PUBLISHED_CAS, SIGNING_CAS
from domain.settings import Settings
from store import certificates
from tests.conftest import free_port
from tests.test_certificate_authority import SUBJECT, make_csr

# Run in the web process after its requests: which CA keys did it decrypt?
PROBE = """
import json, sys
import httpx
from api.app import create_app
from domain.settings import load_settings

async def main():
    app = create_app(load_settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web.test") as http:
        for path in sys.argv[1:]:
            assert (await http.get(path)).status_code == 200, path
    authority = sys.modules.get("ca.authority")
    print(json.dumps({"decrypted_ca_keys": sorted(name for _, name in authority._signers) if authority else []}))

import asyncio
asyncio.run(main())
"""


def _env(settings: Settings, key_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env.update({
        "CERTDESK_DATA_DIR": str(settings.data_dir), "CERTDESK_DATABASE_URL": settings.resolved_database_url,
        "CERTDESK_PUBLIC_URL": settings.resolved_public_url,
        "CERTDESK_CA_PASSPHRASE": settings.ca_passphrase.get_secret_value() if settings.ca_passphrase else "",
        "CERTDESK_CA_KEY_DIR": str(key_dir), "CERTDESK_TEMPORAL_ADDRESS": "127.0.0.1:1",
        "CERTDESK_SMTP_HOST": "127.0.0.1",
    })
    return env


def _ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build().public_bytes(  # noqa: S303
        Encoding.DER)


@pytest.fixture
def issued_by_the_worker(engine: Engine, settings: Settings) -> tuple[x509.Certificate, x509.Certificate]:
    """What the worker did before the web process starts: the hierarchy, a certificate, a revocation."""
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    good = authority.issue_server(engine, settings, "web-alone:good", make_csr("good.example.co.jp"), SUBJECT, 90,
                                  "test")
    revoked = authority.issue_server(engine, settings, "web-alone:revoked", make_csr("gone.example.co.jp"), SUBJECT,
                                     90, "test")
    authority.revoke(engine, settings, "server-ca", revoked.serial, "keyCompromise", "test")
    return (x509.load_pem_x509_certificate(good.pem.encode()), x509.load_pem_x509_certificate(revoked.pem.encode()))


def test_the_web_process_serves_pki_without_the_key_store(
    issued_by_the_worker: tuple[x509.Certificate, x509.Certificate], engine: Engine, settings: Settings,
    tmp_path: Path,
) -> None:
    good, revoked = issued_by_the_worker
    keys = settings.resolved_ca_key_dir
    assert sorted(p.name.split("-")[0] + "-" + p.name.split("-")[1] for p in keys.iterdir()) == sorted(SIGNING_CAS)
    hidden = tmp_path / "worker-only"
    shutil.move(keys, hidden)  # the web process's machine has no key store at all
    port = free_port()
    env = _env(settings, keys)
    web = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], env=env, cwd=Path(__file__).parent.parent)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/pki/tls-root.crt", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or web.poll() is not None:
                    raise
                time.sleep(0.2)
        for name in PUBLISHED_CAS:
            r = httpx.get(f"{base}/pki/{name}.crt")
            assert r.status_code == 200 and x509.load_der_x509_certificate(r.content) == \
                certificates.ca_certificate(engine, name)
        for name in CRL_ISSUERS:
            r = httpx.get(f"{base}/pki/{name}.crl")
            assert r.status_code == 200, name
        crl = x509.load_der_x509_crl(httpx.get(f"{base}/pki/server-ca.crl").content)
        assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
        issuer = certificates.ca_certificate(engine, "server-ca")
        assert issuer is not None
        for leaf, expected in ((good, ocsp.OCSPCertStatus.GOOD), (revoked, ocsp.OCSPCertStatus.REVOKED)):
            r = httpx.post(f"{base}/ocsp", content=_ocsp_request(leaf, issuer),
                           headers={"content-type": "application/ocsp-request"})
            answer = ocsp.load_der_ocsp_response(r.content)
            assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
            assert answer.certificate_status == expected
            assert answer.certificates == [certificates.ca_certificate(engine, "server-ocsp")]  # the delegated one
        # A new application needs the worker (and Temporal): refused, nothing signed, nothing kept.
        assert httpx.get(f"{base}/healthz").status_code == 503
    finally:
        web.terminate()
        web.wait(10)

    probe = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE, "/pki/server-ca.crt", "/pki/server-ca.crl", "/pki/login-ca.crl"],
        env=env, cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(probe.stdout.strip().splitlines()[-1]) == {"decrypted_ca_keys": []}

    # The worker, with its key store, signs again.
    shutil.move(hidden, keys)
    authority._signers.clear()
    assert authority.publish_crl(engine, settings, "server-ca") > crl.extensions.get_extension_for_class(
        x509.CRLNumber).value.crl_number
