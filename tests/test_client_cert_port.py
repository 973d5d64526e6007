"""The local HTTPS port: login certificates verified in the handshake reach the app in the header."""

import asyncio
import os
import ssl
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI, Request
from sqlalchemy import Engine
from sqlmodel import select

from api import client_certs
from ca import authority
from certdesk.client_cert_port import account_port_server, dev_tls_certificate, export_for_proxy
from domain.pki import hierarchy
from domain.pki.key_encryption import open_login_key
from domain.settings import Settings
from store import certificates
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import CertificateRecord
from tests.conftest import free_port, serving


@dataclass
class Port:
    url: str
    header: str
    server_cert: Path
    login_cert: x509.Certificate
    login_files: tuple[Path, Path]
    hits: list[str]


def echo_app(settings: Settings, hits: list[str]) -> FastAPI:
    app = FastAPI()
    # Even with the loopback client trusted as a proxy, on this port only the handshake counts.
    app.state.settings = settings.model_copy(update={"trusted_proxies": "127.0.0.1, ::1"})
    header = settings.client_cert_header

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, list[str]]:
        hits.append(request.url.path)
        believed = client_certs.client_certificate(request)
        return {"values": request.headers.getlist(header),
                "underscored": request.headers.getlist(header.replace("-", "_")),
                "believed": [believed] if believed else []}

    return app


def write_pair(directory: Path, name: str, cert: x509.Certificate,
               key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def client(port: Port, identity: tuple[Path, Path] | None = None) -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=str(port.server_cert))
    if identity is not None:
        context.load_cert_chain(*map(str, identity))
    return httpx.AsyncClient(base_url=port.url, verify=context, trust_env=False, timeout=10)


@pytest.fixture
async def port(settings: Settings, engine: Engine, tmp_path: Path) -> AsyncIterator[Port]:
    await asyncio.to_thread(authority.ensure_hierarchy, engine, settings)
    issued = await asyncio.to_thread(authority.issue_login, engine, settings, "test-key", "Taro Yamada", "test")
    with session_scope(engine) as s:
        row = s.exec(select(CertificateRecord).where(CertificateRecord.issuer == hierarchy.CLIENT_CA,
                                                     CertificateRecord.serial == issued.serial)).one()
    assert row.private_key_pem is not None
    key = open_login_key(row.private_key_pem, store_passphrase.passphrase(settings))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    login_cert = x509.load_pem_x509_certificate(issued.pem.encode())

    settings = settings.model_copy(update={"tls_port": free_port()})
    hits: list[str] = []
    server = account_port_server(echo_app(settings, hits), settings, engine)
    async with serving(server):
        yield Port(f"https://{settings.api_host}:{settings.tls_port}", settings.client_cert_header,
                   settings.data_dir / "tls" / "dev-server-cert.pem", login_cert,
                   write_pair(tmp_path, "login", login_cert, key), hits)


async def test_the_login_certificate_reaches_the_app(port: Port) -> None:
    async with client(port, port.login_files) as http:
        for _ in range(2):  # a second request on the same (kept-alive) connection carries it too
            body = (await http.get("/echo")).raise_for_status().json()
            assert len(body["values"]) == 1
            received = x509.load_pem_x509_certificate(unquote(body["values"][0]).encode())
            assert received == port.login_cert
            assert "%0A" in body["values"][0] and "\n" not in body["values"][0]  # URL-encoded, like nginx's
            assert body["believed"] == body["values"]


async def test_no_certificate_no_header(port: Port) -> None:
    async with client(port) as http:
        body = (await http.get("/echo")).raise_for_status().json()
    assert body == {"values": [], "underscored": [], "believed": []}


async def test_a_header_sent_by_the_client_never_reaches_the_app(port: Port) -> None:
    spoofed = [(port.header, "forged"), (port.header.upper(), "forged"), (port.header.replace("-", "_"), "forged")]
    async with client(port) as http:
        body = (await http.get("/echo", headers=spoofed)).raise_for_status().json()
    assert body == {"values": [], "underscored": [], "believed": []}
    async with client(port, port.login_files) as http:
        body = (await http.get("/echo", headers=spoofed)).raise_for_status().json()
    assert body["underscored"] == []
    assert len(body["values"]) == 1 and body["believed"] == body["values"]
    assert x509.load_pem_x509_certificate(unquote(body["values"][0]).encode()) == port.login_cert


def self_signed(key: ec.EllipticCurvePrivateKey, not_after: datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Taro Yamada")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_after - timedelta(days=2))
            .not_valid_after(not_after)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))


async def test_a_certificate_from_another_issuer_is_refused_in_the_handshake(port: Port, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    stranger = self_signed(key, datetime.now(UTC) + timedelta(days=1))
    async with client(port, write_pair(tmp_path, "stranger", stranger, key)) as http:
        # TLS 1.3: the client's handshake is over before the server refuses, so this may surface on read.
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            await http.get("/echo")
    assert port.hits == []


def test_the_development_listener_certificate_is_made_once(tmp_path: Path) -> None:
    cert_path, key_path = dev_tls_certificate(tmp_path)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    first = cert_path.read_bytes(), key_path.read_bytes()
    assert dev_tls_certificate(tmp_path) == (cert_path, key_path)
    assert (cert_path.read_bytes(), key_path.read_bytes()) == first

    cert = x509.load_pem_x509_certificate(first[0])
    assert cert.issuer == cert.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= timedelta(days=365)

    key = serialization.load_pem_private_key(first[1], None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert_path.write_bytes(self_signed(key, datetime.now(UTC) - timedelta(hours=1)).public_bytes(
        serialization.Encoding.PEM))
    dev_tls_certificate(tmp_path)  # expired: a new pair
    renewed = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert renewed.not_valid_after_utc > datetime.now(UTC) + timedelta(days=300)
    assert key_path.read_bytes() != first[1]

    key_path.unlink()  # a lost key: a new pair
    dev_tls_certificate(tmp_path)
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) != renewed


def test_the_proxy_gets_the_login_ca_chain_once_the_ca_exists(settings: Settings, engine: Engine,
                                                               tmp_path: Path) -> None:
    """compose's tls-setup: what nginx verifies client certificates against, and its listener pair."""
    with pytest.raises(RuntimeError, match="does not exist yet"):
        export_for_proxy(settings, tmp_path / "proxy", wait_seconds=0)
    authority.ensure_hierarchy(engine, settings)
    cert_path, key_path, chain_path = export_for_proxy(settings, tmp_path / "proxy", wait_seconds=0)
    assert chain_path == tmp_path / "proxy" / "tls" / "login-ca-chain.pem"
    chain = x509.load_pem_x509_certificates(chain_path.read_bytes())
    assert chain == [certificates.ca_certificate(engine, hierarchy.CLIENT_CA),
                     certificates.ca_certificate(engine, hierarchy.CLIENT_ROOT)]  # the login CA, then its root
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()).issuer.rfc4514_string().startswith("CN=certdesk")
