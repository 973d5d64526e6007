"""What relying parties fetch: CA certificates, CRLs (DER over plain http) and, later, OCSP."""

import base64
import binascii
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from domain.pki import hierarchy
from domain.pki.hierarchy import CLIENT_CA, CLIENT_ROOT, TLS_CA, TLS_ROOT
from store import certificates, ocsp_responder

router = APIRouter()
PUBLISHED_CAS = (TLS_ROOT, TLS_CA, CLIENT_ROOT, CLIENT_CA)


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": f"no such {what}"}, status_code=404)


@router.get("/pki/{name}.crt")
async def ca_certificate(request: Request, name: str) -> Response:
    if name not in PUBLISHED_CAS:
        return _not_found("CA certificate")
    cert = certificates.ca_certificate(request.app.state.engine, name)
    if cert is None:
        return _not_found("CA certificate")
    return Response(cert.public_bytes(Encoding.DER), media_type="application/pkix-cert",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/pki/{name}.crl")
async def crl(request: Request, name: str) -> Response:
    if name not in hierarchy.CRL_ISSUERS:
        return _not_found("CRL")
    row = certificates.latest_crl(request.app.state.engine, name)
    if row is None:
        return _not_found("CRL")
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
