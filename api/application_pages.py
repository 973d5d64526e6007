"""Customer pages for server certificate applications (manual sections 2–4).

``GET /account/applications`` (お申込一覧, newest first, "!" for documents pending) →
``GET /account/applications/{id}`` (お申込情報詳細: download, 申請取消, 再発行申請, 失効申請) and
``GET /account/apply`` (新規申請 on one page) → ``POST /account/apply/confirm`` (確認画面, or the
form again with each problem on its field) → ``POST /account/apply`` (申込, CSRF-checked).

Thin: every action calls the JSON API's function (``api.applications_api``) so the checks and
the workflows are the same; its JSON answer becomes a redirect with a message, or the page
again with the error and the same status code. Another customer's record answers 404.
"""

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import select

from api import applications_api
from api.applications_api import (
    REVOCATION_RECEIVED,
    NewApplication,
    ReissueRequest,
    RevocationRequest,
    own_application,
)
from api.customer_auth import CustomerPrincipal, check_csrf, require_customer
from api.i18n import MESSAGES, request_language, translator
from api.profile_api import load_profile
from api.rendering import render
from domain import profile as profiles
from domain.catalog import CATALOG
from domain.pki.csr import parse_csr
from domain.pki.errors import CsrError
from domain.pki.hierarchy import TLS_CA
from store import certificates
from store.db import session_scope
from store.models import Application, CertificateRecord

router = APIRouter()
Customer = Annotated[CustomerPrincipal, Depends(require_customer)]
NO_STORE = {"Cache-Control": "no-store"}
FORM_ROLES = ("registrant", "technical")  # the contacts the new-application page asks for
REVOCATION_REASONS = ("content_change", "switching", "cessation", "key_compromise")
MESSAGE_KEYS = {"applied": "app_applied", "cancelled": "app_cancelled", "reissued": "app_reissued"}


def _lang(request: Request) -> str:
    return request_language(request)


def _page(request: Request, template: str, customer: CustomerPrincipal, status: int = 200, **ctx: Any) -> Response:
    lang = _lang(request)
    response = render(request, template, customer=customer, catalog=CATALOG, product_name=_product_name(lang),
                      when=_when(request), **ctx)
    response.status_code = status
    response.headers.update(NO_STORE)
    return response


def _product_name(lang: str) -> Any:
    return lambda code: CATALOG[code].name(lang) if code in CATALOG else code


def _when(request: Request) -> Any:
    tz = ZoneInfo(request.app.state.settings.timezone)  # dates promised to customers: in CERTDESK_TIMEZONE

    def fmt(value: Any, with_time: bool = False) -> str:
        if not value:
            return "-"
        local = (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(tz)
        return local.strftime("%Y/%m/%d %H:%M" if with_time else "%Y/%m/%d")
    return fmt


def _error_text(request: Request, answer: JSONResponse) -> str:
    body = json.loads(bytes(answer.body))
    key = f"app_err_{body.get('error', '')}"
    text = MESSAGES[_lang(request)].get(key)
    detail = body.get("message", "")
    return f"{text} ({detail})" if text and detail and body.get("error") == "invalid_input" else text or detail


# --- お申込一覧 ------------------------------------------------------------------------------------

@router.get("/account/applications", response_class=HTMLResponse)
async def list_page(request: Request, customer: Customer) -> Response:
    rows = await applications_api.applications(request, customer)
    return _page(request, "portal/applications.html", customer, rows=rows)


# --- 詳細 ------------------------------------------------------------------------------------------

def _certificate(request: Request, app: Application) -> CertificateRecord | None:
    if not app.certificate_serial:
        return None
    with session_scope(request.app.state.engine) as s:
        return certificates.certificate_record(s, TLS_CA, app.certificate_serial)


def _detail(request: Request, customer: CustomerPrincipal, application_id: int, status: int = 200,
            **ctx: Any) -> Response:
    app = own_application(request, customer, application_id)
    if app is None:
        raise HTTPException(404, {"error": "not_found", "message": "no such application"})
    cert = _certificate(request, app)
    revoked = cert is not None and cert.state == "revoked"
    with session_scope(request.app.state.engine) as s:
        children = s.exec(select(Application).where(Application.parent_id == app.id)).all()
    revocation_waiting = any(c.type == "revocation" and c.status == "received" for c in children)
    reissued = any(c.type == "reissue" for c in children)
    issued = app.status == "issued" and bool(app.certificate_serial) and app.type in ("new", "reissue", "renewal")
    actions = {
        "download": app.status == "issued" and cert is not None and cert.der is not None,
        "cancel": app.type in ("new", "renewal") and app.status not in ("issued", "rejected", "cancelled"),
        "reissue": issued and not revoked and not reissued,
        "revoke": issued and not revoked and not revocation_waiting,
    }
    return _page(request, "portal/application.html", customer, status, app=applications_api.application_json(app),
                 cert=cert, revoked=revoked, actions=actions, reasons=REVOCATION_REASONS, **ctx)


@router.get("/account/applications/{application_id}", response_class=HTMLResponse)
async def detail_page(request: Request, application_id: int, customer: Customer, done: str = "") -> Response:
    lang = _lang(request)
    message = REVOCATION_RECEIVED[lang] if done == "revoked" else (
        translator(lang)(MESSAGE_KEYS[done]) if done in MESSAGE_KEYS else "")
    return _detail(request, customer, application_id, message=message)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=200)
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def _after(request: Request, customer: CustomerPrincipal, application_id: int, answer: JSONResponse,
           done: str, **ctx: Any) -> Response:
    if answer.status_code < 300:
        target = application_id
        if done == "reissued":  # the new record is where the customer follows the reissue
            target = int(json.loads(bytes(answer.body)).get("id") or application_id)
        return RedirectResponse(f"/account/applications/{target}?done={done}", status_code=303)
    if answer.status_code == 404:
        raise HTTPException(404, {"error": "not_found", "message": "no such application"})
    return _detail(request, customer, application_id, answer.status_code, error=_error_text(request, answer), **ctx)


@router.post("/account/applications/{application_id}/cancel", response_class=HTMLResponse)
async def cancel_page(request: Request, application_id: int, customer: Customer) -> Response:
    values = await _form(request)
    check_csrf(customer, values.get("csrf_token"))
    answer = await applications_api.cancel(request, application_id, customer)
    return _after(request, customer, application_id, answer, "cancelled")


@router.post("/account/applications/{application_id}/revoke", response_class=HTMLResponse)
async def revoke_page(request: Request, application_id: int, customer: Customer) -> Response:
    values = await _form(request)
    check_csrf(customer, values.get("csrf_token"))
    try:
        body = RevocationRequest(reason=values.get("reason", ""))
    except ValidationError:
        if own_application(request, customer, application_id) is None:
            raise HTTPException(404, {"error": "not_found", "message": "no such application"}) from None
        return _detail(request, customer, application_id, 422, error=translator(_lang(request))("app_revoke_reason"),
                       revoke_error=True)
    answer = await applications_api.revoke(request, application_id, body, customer)
    return _after(request, customer, application_id, answer, "revoked")


@router.post("/account/applications/{application_id}/reissue", response_class=HTMLResponse)
async def reissue_page(request: Request, application_id: int, customer: Customer) -> Response:
    values = await _form(request)
    check_csrf(customer, values.get("csrf_token"))
    csr = values.get("csr", "")
    try:
        body = ReissueRequest(csr=csr, revoke_previous=values.get("revoke_previous", ""))
    except ValidationError as invalid:
        if own_application(request, customer, application_id) is None:
            raise HTTPException(404, {"error": "not_found", "message": "no such application"}) from None
        fields = {str(e["loc"][0]): e["msg"] for e in invalid.errors()}
        return _detail(request, customer, application_id, 422, reissue_errors=fields, reissue_csr=csr,
                       error=translator(_lang(request))("app_err_invalid_input"))
    answer = await applications_api.reissue(request, application_id, body, customer)
    fields: dict[str, str] = {}
    if answer.status_code == 422:
        fields = {"csr": "; ".join(f["message"] for f in json.loads(bytes(answer.body)).get("fields", []))}
    return _after(request, customer, application_id, answer, "reissued", reissue_errors=fields, reissue_csr=csr)


# --- 新規申請 --------------------------------------------------------------------------------------

def _initial_values(request: Request, customer: CustomerPrincipal) -> dict[str, str]:
    saved = load_profile(request.app.state.engine, customer)
    values = profiles.to_form({"organization": saved.get("organization", {}),
                               "contacts": {r: c for r, c in saved.get("contacts", {}).items() if r in FORM_ROLES}})
    values.pop("reseller_code", None)
    return values


def _document(values: dict[str, str]) -> dict[str, Any]:
    doc = profiles.from_form(values)
    return {"organization": doc["organization"], "contacts": {r: c for r, c in doc["contacts"].items()
                                                               if r in FORM_ROLES}}


def _check(request: Request, customer: CustomerPrincipal, values: dict[str, str]) -> dict[str, str]:
    """The API's checks without storing anything: each problem by its form field name."""
    t = translator(_lang(request))
    problems: dict[str, str] = {}
    if values.get("product") not in CATALOG:
        problems["product"] = t("app_err_product")
    if values.get("agree_terms", "").lower() not in ("on", "true", "1", "yes"):
        problems["agree_terms"] = t("app_err_agree_terms")
    try:
        NewApplication(product=values.get("product") or "-", csr=values.get("csr") or "-",
                       coupon=values.get("coupon") or None)
    except ValidationError as invalid:
        for e in invalid.errors():
            problems.setdefault(str(e["loc"][0]), e["msg"])
    if "csr" not in problems:
        try:
            parse_csr(values.get("csr", ""))
        except CsrError as refused:
            problems["csr"] = refused.message
    saved = load_profile(request.app.state.engine, customer)
    doc = _document(values)
    try:
        profiles.validate({"reseller_code": saved.get("reseller_code", ""),
                           "organization": {**saved.get("organization", {}), **doc["organization"]},
                           "contacts": {**saved.get("contacts", {}), **doc["contacts"]}})
    except ValidationError as invalid:
        lang = _lang(request)
        for e in profiles.field_errors(invalid):
            template = MESSAGES[lang].get(f"profile_err_{e.code}") or MESSAGES["ja"].get(f"profile_err_{e.code}")
            problems.setdefault(e.field, template.format(**e.ctx) if template else e.message)
    return problems


def _apply_form(request: Request, customer: CustomerPrincipal, values: dict[str, str],
                errors: dict[str, str] | None = None, status: int | None = None) -> Response:
    errors = errors or {}
    return _page(request, "portal/apply.html", customer, status or (422 if errors else 200), values=values,
                 errors=errors, roles=FORM_ROLES, organization_fields=profiles.ORGANIZATION_FIELDS,
                 contact_fields=[f for f in profiles.CONTACT_FIELDS if f.input != "checkbox"])


@router.get("/account/apply", response_class=HTMLResponse)
async def apply_page(request: Request, customer: Customer) -> Response:
    return _apply_form(request, customer, _initial_values(request, customer))


@router.post("/account/apply/confirm", response_class=HTMLResponse)
async def apply_confirm_page(request: Request, customer: Customer) -> Response:
    values = await _form(request)
    values.pop("csrf_token", None)
    problems = _check(request, customer, values)
    if problems:
        return _apply_form(request, customer, values, problems)
    hidden = {k: v for k, v in values.items() if k != "step"}
    return _page(request, "portal/apply_confirm.html", customer, values=values, hidden=hidden, roles=FORM_ROLES,
                 organization_fields=profiles.ORGANIZATION_FIELDS,
                 contact_fields=[f for f in profiles.CONTACT_FIELDS if f.input != "checkbox"])


@router.post("/account/apply", response_class=HTMLResponse)
async def apply_submit(request: Request, customer: Customer) -> Response:
    values = await _form(request)
    check_csrf(customer, values.pop("csrf_token", None))
    if values.pop("step", "apply") == "back":  # 戻る: the form again, with what was entered
        return _apply_form(request, customer, values)
    problems = _check(request, customer, values)  # the hidden fields may have been changed on the way
    if problems:
        return _apply_form(request, customer, values, problems)
    doc = _document(values)
    body = NewApplication(product=values["product"], csr=values["csr"], agree_terms=True,
                          coupon=values.get("coupon") or None, organization=doc["organization"],
                          contacts=doc["contacts"])
    answer = await applications_api.apply(request, body, customer)
    if answer.status_code != 201:
        fields = json.loads(bytes(answer.body)).get("fields", [])
        errors = {"csr" if f["field"].startswith("csr.") else f["field"]: f["message"]
                  for f in fields} or {"csr": _error_text(request, answer)}
        return _apply_form(request, customer, values, errors, answer.status_code)
    created = json.loads(bytes(answer.body))
    return RedirectResponse(f"/account/applications/{created['id']}?done=applied", status_code=303)
