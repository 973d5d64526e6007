"""The local HTTPS port of ``certdesk up`` that asks for login (client) certificates.

In production a TLS terminator (nginx) asks for the certificate, verifies it against the login
CA chain, strips ``settings.client_cert_header`` from what clients send and passes the verified
certificate on in that header, URL-encoded PEM (nginx's ``$ssl_client_escaped_cert``). This port
does the same on one machine, so the whole path can be used without a proxy:

* the listener certificate is a self-signed development certificate for localhost
  (``dev_tls_certificate``), not one from the CA hierarchy;
* the handshake verifies a presented client certificate against the login CA chain
  (``client_ca_bundle``) and refuses one from any other issuer. Presenting none is allowed
  (``CERT_OPTIONAL``) so that the account pages can say "present your login certificate";
* uvicorn does not put the peer certificate in the ASGI scope, so ``ClientCertProtocol`` (uvicorn's
  h11 protocol) reads it from the TLS connection once the handshake is done and hands every request
  on that connection to the app with the header set to it, or removed when there is none, and the
  same value in the scope under ``api.client_certs.TLS_PORT_SCOPE_KEY``, which the apps believe
  (no CERTDESK_TRUSTED_PROXIES needed here). Whatever a client sent under that name (or with ``_``
  for ``-``) never reaches the app.

Revocation is NOT checked in the handshake (no CRL is loaded into the TLS context): the app checks
the certificate against the CA database, which is always current (``verified_login_certificate``),
and it must do so for every request, as it would behind nginx.
"""

import os
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import Engine
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.client_certs import TLS_PORT_SCOPE_KEY
from certdesk.servers import embedded_server
from domain.pki import hierarchy
from domain.settings import Settings, load_settings
from store import certificates
from store.db import engine_for

DEV_CERT_NAME, DEV_KEY_NAME = "dev-server-cert.pem", "dev-server-key.pem"
CLIENT_CA_BUNDLE_NAME = "login-ca-chain.pem"
DEV_CERT_DAYS = 365

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Atomically, with ``mode`` from the start (a key is never readable by others, not even briefly)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _usable_dev_certificate(cert_path: Path, key_path: Path, now: datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    except (OSError, ValueError, TypeError):
        return False
    same_key = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == \
        cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return same_key and cert.not_valid_before_utc <= now < cert.not_valid_after_utc - timedelta(days=1)


def dev_tls_certificate(data_dir: Path) -> tuple[Path, Path]:
    """(certificate, key) of the development listener: self-signed, for localhost, made once and
    reused until it (nearly) expires. Not from the CA hierarchy; nothing should trust it but a
    developer's own client."""
    directory = data_dir / "tls"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = directory / DEV_CERT_NAME, directory / DEV_KEY_NAME
    now = datetime.now(UTC)
    if _usable_dev_certificate(cert_path, key_path, now):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certdesk development listener (localhost)")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=DEV_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ip_address("127.0.0.1")),
                                                    x509.IPAddress(ip_address("::1"))]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), mode=0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def client_ca_bundle(engine: Engine, path: Path) -> Path:
    """Writes the login CA chain (issuing CA, then its root) the handshake verifies against."""
    pems = []
    for name in (hierarchy.CLIENT_CA, hierarchy.CLIENT_ROOT):
        cert = certificates.ca_certificate(engine, name)
        if cert is None:
            raise RuntimeError(f"the login CA {name!r} does not exist yet: create the CA hierarchy first "
                               "(`certdesk up` does)")
        pems.append(cert.public_bytes(serialization.Encoding.PEM))
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, b"".join(pems))
    return path


def _header_name(name: bytes) -> bytes:
    return name.lower().replace(b"_", b"-")


def with_client_certificate(app: ASGIApp, header: str, pem: str | None) -> ASGIApp:
    """``app`` seeing ``header`` only as ``pem`` (URL-encoded), or not at all when ``pem`` is None.

    The scope also gets ``TLS_PORT_SCOPE_KEY`` (the same value, "" for none): what the apps read
    (api/client_certs.py), so that on this port nothing depends on the peer's address."""
    wanted = _header_name(header.encode("latin-1"))
    encoded = quote(pem, safe="") if pem else ""
    added = [(wanted, encoded.encode("ascii"))] if pem else []

    async def wrapped(scope: Scope, receive: Callable[[], Awaitable[Any]],
                      send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = [(k, v) for k, v in scope["headers"] if _header_name(k) != wanted]
            scope = {**scope, "headers": headers + added, TLS_PORT_SCOPE_KEY: encoded}
        await app(scope, receive, send)

    return wrapped


def peer_certificate_pem(transport: Any) -> str | None:
    """The certificate the client presented (and the handshake verified), as PEM; None if none."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    try:
        der = ssl_object.getpeercert(binary_form=True)
    except ValueError:  # handshake not done: treat as no certificate, never as a guess
        return None
    return ssl.DER_cert_to_PEM_cert(der) if der else None


class ClientCertProtocol(H11Protocol):
    """uvicorn's h11 protocol; every request on a connection carries that connection's client
    certificate in ``client_cert_header``. asyncio calls ``connection_made`` after the TLS
    handshake, and OpenSSL 3 refuses client-initiated renegotiation, so the certificate read
    there is the one for the whole connection."""

    client_cert_header: ClassVar[str] = "X-SSL-Client-Cert"

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.app = with_client_certificate(self.config.loaded_app, self.client_cert_header,
                                           peer_certificate_pem(transport))


def client_cert_protocol(header: str) -> type[ClientCertProtocol]:
    return type("ClientCertProtocol", (ClientCertProtocol,), {"client_cert_header": header})


def account_port_server(app: Any, settings: Settings, engine: Engine) -> uvicorn.Server:
    """The HTTPS server for ``app`` on ``settings.api_host:settings.tls_port``; not started."""
    cert_path, key_path = dev_tls_certificate(settings.data_dir)
    bundle = client_ca_bundle(engine, settings.data_dir / "tls" / CLIENT_CA_BUNDLE_NAME)
    config = uvicorn.Config(
        app, host=settings.api_host, port=settings.tls_port,
        ssl_certfile=str(cert_path), ssl_keyfile=str(key_path), ssl_ca_certs=str(bundle),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        http=client_cert_protocol(settings.client_cert_header),
        ws="none",  # a WebSocket upgrade would bypass ClientCertProtocol's requests
        proxy_headers=False,  # clients connect here directly: their X-Forwarded-* are not to be believed
        log_level="warning", lifespan="off",
    )
    return embedded_server(config)  # the caller stops it


def export_for_proxy(settings: Settings, directory: Path, wait_seconds: float = 600) -> tuple[Path, Path, Path]:
    """What the TLS terminator of docker-compose.yml reads, in ``directory/tls``: the login CA chain
    it verifies client certificates against, and a self-signed listener certificate and key (the
    same kind as this port's; replace them with the site's own in production). The worker creates
    the CA hierarchy on its first start, so this waits up to ``wait_seconds`` for it."""
    engine = engine_for(settings.resolved_database_url)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            bundle = client_ca_bundle(engine, directory / "tls" / CLIENT_CA_BUNDLE_NAME)
            break
        except RuntimeError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(5)
    return (*dev_tls_certificate(directory), bundle)


def main(argv: list[str]) -> int:
    """``python -m certdesk.client_cert_port DIRECTORY``: ``export_for_proxy`` (compose's tls-setup)."""
    if len(argv) != 1:
        print("usage: python -m certdesk.client_cert_port DIRECTORY", file=sys.stderr)
        return 2
    try:
        written = export_for_proxy(load_settings(), Path(argv[0]))
    except RuntimeError as exc:
        print(f"certdesk: {exc}", file=sys.stderr)
        return 1
    print("\n".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
