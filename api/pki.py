"""What relying parties fetch: CA certificates, CRLs (DER over plain http) and, later, OCSP."""

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from activities import certificate_authority as ca
from domain.pki.hierarchy import CLIENT_CA, CLIENT_ROOT, TLS_CA, TLS_ROOT

router = APIRouter()
PUBLISHED_CAS = (TLS_ROOT, TLS_CA, CLIENT_ROOT, CLIENT_CA)


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": f"no such {what}"}, status_code=404)


@router.get("/pki/{name}.crt")
async def ca_certificate(request: Request, name: str) -> Response:
    if name not in PUBLISHED_CAS:
        return _not_found("CA certificate")
    cert = ca.ca_certificate(request.app.state.engine, name)
    if cert is None:
        return _not_found("CA certificate")
    return Response(cert.public_bytes(Encoding.DER), media_type="application/pkix-cert",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/pki/{name}.crl")
async def crl(request: Request, name: str) -> Response:
    if name not in ca.CRL_ISSUERS:
        return _not_found("CRL")
    row = ca.latest_crl(request.app.state.engine, name)
    if row is None:
        return _not_found("CRL")
    # Short caching: a revocation republishes at once and relying parties should see it soon.
    return Response(row.der, media_type="application/pkix-crl",
                    headers={"Cache-Control": "public, max-age=60",
                             "Last-Modified": row.this_update.strftime("%a, %d %b %Y %H:%M:%S GMT")})
