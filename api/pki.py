"""What relying parties fetch: CA certificates, CRLs (DER over plain http) and OCSP answers.

All of it from stored data (``store.certificates``) and the delegated OCSP responders
(``store.ocsp_responder``): the web process never holds the key of a CA that signs.
"""

import base64
import binascii
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from domain.pki.hierarchy import CRL_ISSUERS, PUBLISHED_CAS
from store import certificates, ocsp_responder

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


def _ocsp(request: Request, body: bytes) -> Response:
    if len(body) > MAX_OCSP_REQUEST:
        body = b""  # answered as malformedRequest
    der = ocsp_responder.answer(request.app.state.engine, request.app.state.settings, body)
    return Response(der, media_type=OCSP_MEDIA, headers={"Cache-Control": "no-cache"})


@router.post("/ocsp")
async def ocsp_post(request: Request) -> Response:
    return await run_in_threadpool(_ocsp, request, await request.body())


@router.get("/ocsp/{encoded:path}")
async def ocsp_get(request: Request, encoded: str) -> Response:
    # RFC 6960 A.1: base64 of the DER request, URL-encoded (and often not padded).
    text = unquote(encoded).replace("-", "+").replace("_", "/")
    try:
        body = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        body = b""
    return await run_in_threadpool(_ocsp, request, body)
