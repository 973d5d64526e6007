"""What relying parties fetch: CA certificates, CRLs (DER over plain http) and OCSP answers.

All of it from stored data (``store.certificates``) and the delegated OCSP responders
(``store.ocsp_responder``): the web process never holds the key of a CA that signs.
"""

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from domain.pki.hierarchy import CRL_ISSUERS, PUBLISHED_CAS
from store import certificates, ocsp_responder
from store.models import utcnow

router = APIRouter()


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


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _ocsp_response(request: Request, answer: ocsp_responder.Answer) -> Response:
    if answer.this_update is None or answer.next_update is None or answer.refresh_after is None:
        # Errors, nonces, one-off answers: for this request alone.
        return Response(answer.der, media_type=OCSP_MEDIA, headers={"Cache-Control": "no-cache"})
    # RFC 5019 6.2: cacheable until the response is refreshed (half its validity), then revalidated.
    max_age = max(0, int((answer.refresh_after - utcnow()).total_seconds()))
    etag = f'"{hashlib.sha256(answer.der).hexdigest()[:32]}"'
    headers = {"Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate", "ETag": etag,
               "Last-Modified": _http_date(answer.this_update), "Expires": _http_date(answer.next_update)}
    if etag in request.headers.get("if-none-match", ""):
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


@router.post("/ocsp")
async def ocsp_post(request: Request) -> Response:
    return await _answer(request, await request.body())


@router.get("/ocsp/{encoded:path}")
async def ocsp_get(request: Request, encoded: str) -> Response:
    # RFC 6960 A.1: base64 of the DER request, URL-encoded (and often not padded).
    text = unquote(encoded).replace("-", "+").replace("_", "/")
    try:
        body = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        body = b""
    return await _answer(request, body)
