"""Saved account info (S-9, アカウント情報登録): organization and contacts that prefill applications.

JSON: ``GET``/``PUT /api/v1/account/profile`` (the whole document) and ``GET``/``PUT
/api/v1/account/renewal-notices`` (更新のご案内メール, ``{"renewal_notices": bool}``: whether the
contract's reminders are mailed; on by default). Pages, as in the manual:
``GET /account/profile`` (入力画面, prefilled) → ``POST /account/profile/confirm`` (確認画面, or
the form again with each bad field marked) → ``POST /account/profile`` (登録, CSRF-checked) →
``GET /account/profile/saved`` (完了). A customer only ever reaches their own profile: no URL
carries an id. The audit log says which sections changed, never the personal data itself.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from api.customer_auth import CustomerPrincipal, check_csrf
from api.deps import Customer as CurrentCustomer
from api.i18n import messages, request_language, translator
from api.rendering import render
from domain import profile as profiles
from store.profiles import load_profile, renewal_notices, save_profile, save_renewal_notices

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}  # personal data: not for shared caches or the back button
NOTICES = "renewal_notices"  # the form's field: "on" (受け取る) or "off" (受け取らない)
CHOICES = {"on": True, "off": False}


class RenewalNotices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    renewal_notices: StrictBool


@router.get("/api/v1/account/profile")
async def api_get_profile(request: Request, customer: CurrentCustomer) -> JSONResponse:
    return JSONResponse(load_profile(request.app.state.engine, customer), headers=NO_STORE)


@router.put("/api/v1/account/profile")
async def api_put_profile(request: Request, body: profiles.Profile, customer: CurrentCustomer) -> JSONResponse:
    # A cookie session must prove the call comes from our pages; bearer tokens need not.
    check_csrf(customer, request.headers.get("x-csrf-token"))
    saved = save_profile(request.app.state.engine, customer, body)
    return JSONResponse(saved, headers=NO_STORE)


@router.get("/api/v1/account/renewal-notices")
async def api_get_renewal_notices(request: Request, customer: CurrentCustomer) -> JSONResponse:
    return JSONResponse({NOTICES: renewal_notices(request.app.state.engine, customer.id)}, headers=NO_STORE)


@router.put("/api/v1/account/renewal-notices")
async def api_put_renewal_notices(request: Request, body: RenewalNotices, customer: CurrentCustomer) -> JSONResponse:
    check_csrf(customer, request.headers.get("x-csrf-token"))
    wanted = save_renewal_notices(request.app.state.engine, customer, body.renewal_notices)
    return JSONResponse({NOTICES: wanted}, headers=NO_STORE)


# --- pages --------------------------------------------------------------------------------------

def _labels(t: Any) -> dict[str, str]:
    labels = {"reseller_code": t("profile_reseller_code"), NOTICES: t("profile_renewal_notices")}
    for f in profiles.ORGANIZATION_FIELDS:
        labels[f"organization.{f.name}"] = t(f"profile_org_{f.name}")
    for role in profiles.ROLES:
        for f in profiles.CONTACT_FIELDS:
            labels[f"contacts.{role}.{f.name}"] = f"{t(f'profile_role_{role}')} {t(f'profile_contact_{f.name}')}"
    return labels


def field_messages(request: Request, errors: list[profiles.FieldError]) -> dict[str, str]:
    """Each bad field's message in the request's language (``profile_err_<code>``), first one per field."""
    t = messages(request)
    out: dict[str, str] = {}
    for e in errors:
        template = t(f"profile_err_{e.code}")
        out.setdefault(e.field, template.format(**e.ctx) if template != f"profile_err_{e.code}" else t("val_invalid"))
    return out


def _page(request: Request, template: str, customer: CustomerPrincipal, status: int = 200,
          **ctx: Any) -> Response:
    lang = request_language(request)
    response = render(request, template, customer=customer, labels=_labels(translator(lang)), roles=profiles.ROLES,
                      organization_fields=profiles.ORGANIZATION_FIELDS, contact_fields=profiles.CONTACT_FIELDS,
                      **ctx)
    response.status_code = status
    response.headers.update(NO_STORE)
    return response


def _form_page(request: Request, customer: CustomerPrincipal, values: dict[str, str],
               errors: list[profiles.FieldError] | None = None) -> Response:
    problems = field_messages(request, errors or [])
    if _notices_choice(request, customer, values) is None:
        problems[NOTICES] = messages(request)("profile_renewal_notices_choose")
    return _page(request, "account/profile_form.html", customer, 422 if problems else 200,
                 values=values, errors=problems)


def _notices_choice(request: Request, customer: CustomerPrincipal, values: dict[str, str]) -> bool | None:
    """更新のご案内メール as the form says (as saved when it says nothing), None for a value no form sends."""
    if NOTICES not in values:
        return renewal_notices(request.app.state.engine, customer.id)
    return CHOICES.get(values[NOTICES])


def _with_notices(request: Request, customer: CustomerPrincipal, values: dict[str, str]) -> dict[str, str]:
    wanted = _notices_choice(request, customer, values)
    return values if wanted is None else {**values, NOTICES: "on" if wanted else "off"}


async def _submitted(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=200)
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


@router.get("/account/profile", response_class=HTMLResponse)
async def form_page(request: Request, customer: CurrentCustomer) -> Response:
    return _form_page(request, customer, _with_notices(request, customer, profiles.to_form(
        load_profile(request.app.state.engine, customer))))


@router.post("/account/profile/confirm", response_class=HTMLResponse)
async def confirm_page(request: Request, customer: CurrentCustomer) -> Response:
    values = await _submitted(request)
    try:
        profile = profiles.validate(profiles.from_form(values))
    except ValidationError as invalid:
        return _form_page(request, customer, values, profiles.field_errors(invalid))
    wanted = _notices_choice(request, customer, values)
    if wanted is None:
        return _form_page(request, customer, values)
    doc = profile.document()
    return _page(request, "account/profile_confirm.html", customer, doc=doc, notices=wanted,
                 hidden={**profiles.to_form(doc), NOTICES: "on" if wanted else "off"})


@router.post("/account/profile", response_class=HTMLResponse)
async def save_page(request: Request, customer: CurrentCustomer) -> Response:
    values = await _submitted(request)
    check_csrf(customer, values.get("csrf_token"))
    values.pop("csrf_token", None)
    step = values.pop("step", "save")
    if step == "back":  # 戻る: the form again, with what was entered
        return _form_page(request, customer, values)
    try:
        profile = profiles.validate(profiles.from_form(values))
    except ValidationError as invalid:  # the hidden fields were changed on the way
        return _form_page(request, customer, values, profiles.field_errors(invalid))
    wanted = _notices_choice(request, customer, values)
    if wanted is None:
        return _form_page(request, customer, values)
    save_profile(request.app.state.engine, customer, profile)
    save_renewal_notices(request.app.state.engine, customer, wanted)
    return RedirectResponse("/account/profile/saved", status_code=303)


@router.get("/account/profile/saved", response_class=HTMLResponse)
async def saved_page(request: Request, customer: CurrentCustomer) -> Response:
    return _page(request, "account/profile_saved.html", customer)
