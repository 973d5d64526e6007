"""証明書/ステッカーダウンロード画面 (S-8): the certificate's files and the contract's Web ステッカー.

Page: ``/account/applications/{id}/downloads`` (reached by 「ダウンロードはこちら」 on the detail
page). JSON twin: ``GET /api/v1/applications/{id}/downloads`` (the files, their names and the
seal), and the files themselves under ``/api/v1/applications/{id}/downloads/``: the
certificate, the chain, both, and PKCS#7 for Windows/IIS, each named from the domain and the
issue date. A record allows a download as ``domain.application_actions`` says, and a revoked
certificate is never handed out here (the screen shows 失効 instead). The first download of
the certificate is recorded (``Application.downloaded_at``, a search filter of お申込一覧).
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.customer_auth import CustomerPrincipal
from api.deps import Customer
from api.errors import ApiError
from api.ids import ApplicationId
from api.rendering import render
from domain import application_actions as rules
from domain import site_seal
from store import applications as records
from store import contracts as contract_records
from store import downloads, seals
from store.models import Application, CertificateRecord, utcnow

router = APIRouter()
APP = "/api/v1/applications/{application_id}/downloads"
PAGE = "/account/applications/{application_id}/downloads"
# RFC 5280 reason names as stored -> the screen's words.
REASON_KEYS = {"unspecified": "dl_reason_unspecified", "keyCompromise": "dl_reason_key_compromise",
               "affiliationChanged": "dl_reason_affiliation_changed", "superseded": "dl_reason_superseded",
               "cessationOfOperation": "dl_reason_cessation", "privilegeWithdrawn": "dl_reason_privilege_withdrawn"}
FILE_PATHS = {"certificate": "certificate.pem", "chain": "chain.pem", "fullchain": "fullchain.pem",
              "pkcs7": "certificate.p7b"}


def _own(request: Request, customer: CustomerPrincipal, application_id: int) -> Application:
    app = records.own(request.app.state.engine, customer.id, application_id)
    if app is None:
        raise ApiError(404, "not_found", key="application_not_found")
    return app


def refusal(request: Request, app: Application, cert: CertificateRecord | None) -> str | None:
    """Why the record's files cannot be downloaded now: the shared rule first, then a revocation."""
    settings = request.app.state.settings
    code = rules.refusal("download", records.facts(request.app.state.engine, app), utcnow(), settings.reissue_window)
    if code is None and cert is not None and cert.state == "revoked":
        return "already_revoked"
    return code


def _issued_on(request: Request, cert: CertificateRecord) -> Any:
    when = cert.not_before or cert.created_at
    return when.astimezone(ZoneInfo(request.app.state.settings.timezone)).date()


def files(request: Request, app: Application, cert: CertificateRecord | None) -> list[dict[str, str]]:
    if cert is None or not app.names:
        return []
    base = APP.format(application_id=app.id)
    return [{"format": fmt, "file_name": site_seal.file_name(app.names[0], _issued_on(request, cert), fmt),
             "url": f"{base}/{FILE_PATHS[fmt]}"} for fmt in site_seal.FORMATS]


def seal(request: Request, app: Application) -> dict[str, Any] | None:
    """The contract's seal: its public id (made now if new), the page, the images and the snippet."""
    engine = request.app.state.engine
    contract = contract_records.of_application(engine, app)
    if contract is None:
        return None
    public_id = seals.public_id_of(engine, contract.code)
    facts = seals.lookup(engine, public_id or "", utcnow())
    if public_id is None or facts is None:
        return None
    origin = request.app.state.settings.resolved_public_url
    page = f"{origin}/seal/{public_id}"
    images = [{"size": s.name, "width": s.width, "height": s.height,
               "svg": f"/seal/{public_id}/seal.svg?size={s.name}", "png": f"/seal/{public_id}/seal.png?size={s.name}",
               "svg_file": site_seal.seal_file_name(facts.first_name, s.name, "svg"),
               "png_file": site_seal.seal_file_name(facts.first_name, s.name, "png")}
              for s in site_seal.SIZES.values()]
    size = site_seal.SIZES[site_seal.DEFAULT_SIZE]
    snippet = (f'<a href="{page}" target="_blank" rel="noopener"><img src="{origin}/seal/{public_id}/seal.svg'
               f'?size={size.name}" width="{size.width}" height="{size.height}" alt="{site_seal.CA_MARK} site seal: '
               f'{_attribute(facts.organization)}"></a>')
    return {"public_id": public_id, "page_url": page, "status": facts.status, "valid": facts.valid,
            "images": images, "snippet": snippet}


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def _state(cert: CertificateRecord | None) -> str:
    if cert is None:
        return ""
    if cert.state == "revoked":
        return "revoked"
    return "expired" if cert.not_after is not None and cert.not_after < utcnow() else "issued"


def summary(request: Request, app: Application) -> dict[str, Any]:
    cert = records.certificate(request.app.state.engine, app)
    refused = refusal(request, app, cert)
    return {"id": app.id, "server_name": app.names[0] if app.names else "", "names": app.names,
            "state": _state(cert), "refusal": refused,
            "not_before": cert.not_before.isoformat() if cert and cert.not_before else None,
            "not_after": cert.not_after.isoformat() if cert and cert.not_after else None,
            "revoked_at": cert.revoked_at.isoformat() if cert and cert.revoked_at else None,
            "revocation_reason": cert.revocation_reason if cert else None,
            "downloaded_at": app.downloaded_at.isoformat() if app.downloaded_at else None,  # type: ignore[attr-defined]
            "files": files(request, app, cert) if refused is None else [],
            "seal": seal(request, app) if cert is not None and app.status == "issued" else None}


# --- JSON ------------------------------------------------------------------------------------------

@router.get(APP)
async def downloads_json(request: Request, application_id: ApplicationId, customer: Customer) -> dict[str, Any]:
    return summary(request, _own(request, customer, application_id))


def _file(request: Request, customer: CustomerPrincipal, application_id: int, fmt: str) -> Response:
    engine = request.app.state.engine
    app = _own(request, customer, application_id)
    cert = records.certificate(engine, app)
    code = refusal(request, app, cert)
    if code is not None or cert is None:
        raise ApiError(409, code or "not_issued")
    body = downloads.file_bytes(engine, cert, fmt)
    downloads.record_download(engine, int(app.id or 0), customer.actor, fmt,
                              fmt in site_seal.CONTAINS_CERTIFICATE)
    name = site_seal.file_name(app.names[0], _issued_on(request, cert), fmt)
    return Response(body, media_type=downloads.MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get(APP + "/certificate.pem")
async def certificate_file(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    return _file(request, customer, application_id, "certificate")


@router.get(APP + "/chain.pem")
async def chain_file(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    return _file(request, customer, application_id, "chain")


@router.get(APP + "/fullchain.pem")
async def fullchain_file(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    return _file(request, customer, application_id, "fullchain")


@router.get(APP + "/certificate.p7b")
async def pkcs7_file(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    return _file(request, customer, application_id, "pkcs7")


# --- the page ------------------------------------------------------------------------------------

def _when(request: Request) -> Any:
    zone = ZoneInfo(request.app.state.settings.timezone)

    def fmt(value: str | None) -> str:
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y/%m/%d %H:%M") if value else "-"
    return fmt


@router.get(PAGE, response_class=HTMLResponse)
async def downloads_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    found = summary(request, _own(request, customer, application_id))
    response = render(request, "portal/downloads.html", customer=customer, d=found, when=_when(request),
                      reason_key=REASON_KEYS.get(found["revocation_reason"] or "", "dl_reason_unspecified"))
    response.headers["Cache-Control"] = "no-store"
    return response
