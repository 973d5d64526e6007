"""A real HTTP server on loopback whose files and redirects tests set.

One port speaks both plain HTTP and HTTPS (a self-signed certificate): a connection whose
first byte is a TLS handshake is wrapped in TLS. So a redirect from ``http://127.0.0.1:P``
to ``https://127.0.0.1:P`` (the same, test, port) can be followed for real.
Nothing here imports pytest.
"""

import contextlib
import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certdesk.dev_www import running

TLS_HANDSHAKE = 0x16


class Site:
    """What the server answers, per path (query strings ignored): a file, or a redirect."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[tuple[str, str]] = []  # (scheme, path) of every request, in order
        self.port = 0

    def file(self, path: str, body: bytes | str, status: int = 200) -> None:
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._routes[path] = (status, {"Content-Type": "text/plain"}, data)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        with self._lock:
            self._routes[path] = (status, {"Location": location}, b"")

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def route(self, path: str) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            return self._routes.get(path.split("?", 1)[0], (404, {"Content-Type": "text/plain"}, b"not found"))


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        self.server.site.requests.append((scheme, self.path))
        status, headers, body = self.server.site.route(self.path)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may stop reading a big body
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site, tls: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.site, self.tls = site, tls

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """In the request's thread: TLS if the client starts a handshake, else plain HTTP."""
        try:
            request.settimeout(5)
            first = request.recv(1, socket.MSG_PEEK)
            if first and first[0] == TLS_HANDSHAKE:
                request = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-answer is no news in these tests


def _self_signed() -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        pem = Path(tmp) / "site.pem"
        pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
        context.load_cert_chain(pem)
    return context


@contextlib.contextmanager
def serve_site(site: Site | None = None) -> Iterator[Site]:
    """Serves ``site`` (a new, empty one by default) on 127.0.0.1, a free port, until the block ends."""
    site = site or Site()
    server = _Server(site, _self_signed())
    site.port = server.server_address[1]
    with running(server, f"http-{site.port}"):
        yield site
