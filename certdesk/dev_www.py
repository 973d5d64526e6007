"""The development target of the website-file method (BR 3.2.2.4.18), ``certdesk up`` only.

A plain HTTP server on loopback answering ``GET /.well-known/pki-validation/<file>`` for any
host name from ``{data_dir}/dev-www/<host>/.well-known/pki-validation/<file>``: files a person
drops there by hand or puts on the /dev/dns page. Putting a file through :class:`DevSite` also
gives the domain an A record 127.0.0.1 in the development zone (unless it has an address or a
CNAME already), so the CA's fetch, which finds hosts through that zone, reaches this server.
"""

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from certdesk.dev_dns import Zone
from domain import dev_zone
from domain.dev_zone import InputError, WebFile

WELL_KNOWN = Path(".well-known") / "pki-validation"
LOOPBACK = "127.0.0.1"


class DevSite:
    """The files under ``root`` (one folder per domain) and the zone their names live in."""

    def __init__(self, root: Path, zone: Zone) -> None:
        self.root, self.zone = root, zone
        self.port = 0

    def _path(self, domain: str, file: str) -> Path:
        checked = dev_zone.web_file(domain, file, "")  # a name never climbs out of root
        return self.root / checked.domain / WELL_KNOWN / checked.file

    def files(self) -> list[WebFile]:
        found = []
        for path in sorted(self.root.glob(f"*/{WELL_KNOWN.as_posix()}/*")):
            domain = path.parents[2].name
            try:
                found.append(dev_zone.web_file(domain, path.name, path.read_text(encoding="utf-8",
                                                                                 errors="replace")))
            except (InputError, OSError):
                continue  # a stray file the server would not serve either
        return found

    def read(self, domain: str, file: str) -> bytes | None:
        try:
            return self._path(domain, file).read_bytes()
        except (InputError, OSError):
            return None

    def put(self, web_file: WebFile) -> None:
        path = self._path(web_file.domain, web_file.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(web_file.content, encoding="utf-8")
        if not any(name == web_file.domain and rtype in ("A", "CNAME") for name, rtype, _ in self.zone.rows()):
            self.zone.add(dev_zone.record(web_file.domain, "A", LOOPBACK))

    def delete(self, domain: str, file: str) -> bool:
        try:
            path = self._path(domain, file)
        except InputError:
            return False
        if not path.is_file():
            return False
        path.unlink()
        return True


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        host = self.headers.get("Host", "").rsplit(":", 1)[0] if "]" not in self.headers.get("Host", "") else ""
        prefix = "/" + WELL_KNOWN.as_posix() + "/"
        path = self.path.split("?", 1)[0]
        body = self.server.site.read(host, path.removeprefix(prefix)) if path.startswith(prefix) else None
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        body = body if body is not None else b"not found\n"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: DevSite, port: int) -> None:
        super().__init__((LOOPBACK, port), _Handler)
        self.site = site


@contextlib.contextmanager
def running(server: ThreadingHTTPServer, name: str) -> Iterator[None]:
    """``server`` answering in a background thread until the block ends, then closed."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def serve_site(site: DevSite, port: int = 0) -> Iterator[DevSite]:
    """Serves ``site`` on 127.0.0.1:``port`` (0: a free one, then ``site.port``) until the block ends."""
    server = _Server(site, port)
    site.port = server.server_address[1]
    with running(server, f"dev-www-{site.port}"):
        yield site
