"""What relying parties fetch: CA certificates, CRLs (DER over plain http) and OCSP answers.

All of it from stored data (``store.certificates``) and the delegated OCSP responders
(``store.ocsp_responder``): the web process never holds the key of a CA that signs.
"""

import base64
import binascii
import hashlib
import logging
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import unquote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError
from domain.pki import ocsp
from domain.pki.hierarchy import CRL_ISSUERS, PUBLISHED_CAS
from domain.settings import Settings
from store import certificates, ocsp_cache, ocsp_responder

router = APIRouter()
log = logging.getLogger("certdesk.ocsp")


@router.get("/pki/{name}.crt")
async def ca_certificate(request: Request, name: str) -> Response:
    cert = certificates.ca_certificate(request.app.state.engine, name) if name in PUBLISHED_CAS else None
    if cert is None:
        raise ApiError(404, "not_found")
    return Response(cert.public_bytes(Encoding.DER), media_type="application/pkix-cert",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/pki/{name}.crl")
async def crl(request: Request, name: str) -> Response:
    row = certificates.latest_crl(request.app.state.engine, name) if name in CRL_ISSUERS else None
    if row is None:
        raise ApiError(404, "not_found")
    # Short caching: a revocation republishes at once and relying parties should see it soon.
    return Response(row.der, media_type="application/pkix-crl",
                    headers={"Cache-Control": "public, max-age=60",
                             "Last-Modified": row.this_update.strftime("%a, %d %b %Y %H:%M:%S GMT")})


OCSP_MEDIA = "application/ocsp-response"
MAX_OCSP_REQUEST = 4096  # one CertID and a nonce fit in a few hundred bytes
POST_ROUTE, GET_ROUTE = "/ocsp", "/ocsp/{encoded:path}"
_FILL = "certdesk.ocsp_fill"  # scope key: (cache key, cache version) for the route to fill memory


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _entry(der: bytes, this_update: datetime, next_update: datetime, refresh_after: datetime,
           serial: int) -> ocsp_cache.Entry:
    """What every answer of a stored response carries but its max-age (RFC 5019 6.2)."""
    etag = f'"{hashlib.sha256(der).hexdigest()[:32]}"'.encode()
    fixed = [(b"etag", etag), (b"last-modified", _http_date(this_update).encode()),
             (b"expires", _http_date(next_update).encode())]
    return ocsp_cache.Entry(der, etag, fixed, refresh_after, serial)


def _cache_control(entry: ocsp_cache.Entry) -> bytes:
    # Cacheable until the response is refreshed (half its validity), then revalidated.
    max_age = max(0, int(entry.refresh_at - time.time()))
    return f"max-age={max_age}, public, no-transform, must-revalidate".encode()


def _not_modified(entry: ocsp_cache.Entry, if_none_match: bytes | None) -> bool:
    return if_none_match is not None and entry.etag in if_none_match


def _ocsp_response(request: Request, answer: ocsp_responder.Answer) -> Response:
    if answer.this_update is None or answer.next_update is None or answer.refresh_after is None:
        # Errors, nonces, one-off answers: for this request alone.
        return Response(answer.der, media_type=OCSP_MEDIA, headers={"Cache-Control": "no-cache"})
    fill = request.scope.get(_FILL)
    entry = _entry(answer.der, answer.this_update, answer.next_update, answer.refresh_after, fill[0][2] if fill else 0)
    if fill is not None:
        request.app.state.ocsp_cache.put(fill[0], entry, fill[1])
    headers = {k.decode(): v.decode() for k, v in entry.fixed_headers}
    headers["Cache-Control"] = _cache_control(entry).decode()
    if _not_modified(entry, request.headers.get("if-none-match", "").encode()):
        return Response(status_code=304, headers=headers)
    return Response(answer.der, media_type=OCSP_MEDIA, headers=headers)


def _ocsp(request: Request, body: bytes) -> Response:
    return _ocsp_response(request, ocsp_responder.respond(request.app.state.engine, request.app.state.settings,
                                                          body))


async def _answer(request: Request, body: bytes) -> Response:
    if len(body) > MAX_OCSP_REQUEST:
        body = b""  # answered as malformedRequest
    engine = request.app.state.engine
    if engine.dialect.name == "sqlite":
        # A local file read by primary key, which under WAL never waits for a writer: tens of
        # microseconds, cheaper on the event loop than the hop to a thread (measured: 1.7x the rate).
        stored = ocsp_responder.stored_answer(engine, body)
        if stored is not None:
            return _ocsp_response(request, stored)
    return await run_in_threadpool(_ocsp, request, body)


def _get_body(encoded: str) -> bytes:
    # RFC 6960 A.1: base64 of the DER request, URL-encoded (and often not padded).
    text = unquote(encoded).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""


@router.post(POST_ROUTE)
async def ocsp_post(request: Request) -> Response:
    return await _answer(request, await request.body())


@router.get(GET_ROUTE)
async def ocsp_get(request: Request, encoded: str) -> Response:
    return await _answer(request, _get_body(encoded))


# --- the hot path: pre-signed responses from memory, before FastAPI's machinery --------------

def _cache_key(body: bytes) -> ocsp_cache.Key | None:
    """The SHA-1 CertID of a nonce-less request (what RFC 5019 clients send), else None."""
    try:
        query = ocsp.parse_request(body)
    except ocsp.OcspMalformed:
        return None
    if query.nonce is not None or not isinstance(query.hash_algorithm, hashes.SHA1):
        return None
    return query.issuer_name_hash, query.issuer_key_hash, query.serial


class OcspFromMemory:
    """ASGI middleware answering ``/ocsp`` from ``app.state.ocsp_cache`` (store/ocsp_cache.py).

    Installed inside SecurityHeaders (so its answers carry them) and outside FastAPI's routing and
    dependencies: a hit costs a parse, a feed read and a dictionary look-up. A miss goes on to the
    route with the request's key, and the route's answer fills memory.
    """

    def __init__(self, app: ASGIApp, cache: ocsp_cache.OcspCache, check_off_loop: bool) -> None:
        self.app, self.cache, self.check_off_loop = app, cache, check_off_loop
        # Request bytes -> CertID, for requests once answered from memory: an RFC 5019 client sends
        # the same bytes each time, and a look-up is cheaper than parsing (0.1 against 4.5 µs).
        # Only hits are remembered, so requests for random serials cannot fill it.
        self.keys: dict[bytes, ocsp_cache.Key] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if method == "POST" and path == POST_ROUTE:
                scope["certdesk.route"] = POST_ROUTE
                body, receive = await _read_body(receive)
                if await self._from_memory(scope, body, send):
                    return
            elif method == "GET" and path.startswith("/ocsp/"):
                scope["certdesk.route"] = GET_ROUTE
                if await self._from_memory(scope, _get_body(path[len("/ocsp/"):]), send):
                    return
        await self.app(scope, receive, send)

    async def _from_memory(self, scope: Scope, body: bytes, send: Send) -> bool:
        key = self.keys.get(body)
        if key is None:
            key = _cache_key(body) if len(body) <= MAX_OCSP_REQUEST else None
            if key is None:
                return False
        # SQLite: a seek in a local file (microseconds); PostgreSQL: a round trip, off the loop.
        try:
            version = await run_in_threadpool(self.cache.check) if self.check_off_loop else self.cache.check()
        except Exception:  # the feed unreadable: the route answers from the database, memory untouched
            log.warning("OCSP memory: the revocation feed could not be read", exc_info=True)
            return False
        entry = self.cache.get(key)
        if entry is None:
            scope[_FILL] = (key, version)
            return False
        if len(self.keys) < self.cache.size:
            self.keys[body] = key
        headers = [*entry.fixed_headers, (b"cache-control", _cache_control(entry))]
        if _not_modified(entry, _header(scope, b"if-none-match")):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return True
        headers += [(b"content-type", OCSP_MEDIA.encode()), (b"content-length", str(len(entry.der)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": entry.der})
        return True


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The request's body (at most MAX_OCSP_REQUEST + 1 bytes kept: beyond is malformed anyway) and a
    ``receive`` that gives it again to the route."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        if size <= MAX_OCSP_REQUEST:
            chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)[:MAX_OCSP_REQUEST + 1]
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, again


def install_memory(app: FastAPI, settings: Settings) -> None:
    """Pre-signed OCSP responses from memory (none when CERTDESK_OCSP_CACHE_SIZE is 0). Call before
    adding SecurityHeaders, so that middleware wraps this one."""
    if settings.ocsp_cache_size <= 0:
        return
    engine = app.state.engine
    cache = ocsp_cache.OcspCache(engine, settings.ocsp_cache_size, settings.ocsp_cache_check_ms / 1000)
    app.state.ocsp_cache = cache
    app.add_middleware(OcspFromMemory, cache=cache, check_off_loop=engine.dialect.name != "sqlite")
