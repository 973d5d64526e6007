"""失効申請 (S-6; manual 003 section 2.5) and 再発行申請 (S-4; section 2.3) as the manual orders their
screens, and the detail page's pull-down (「更新、失効、解約、再発行、担当者変更、申請取消」 [次へ]).

Pages: お申込情報詳細 → ``GET …/next?action=`` (the pull-down's 次へ: the chosen action's first
screen, when the record's rules allow it) →

* 失効: ``GET …/revocation`` (申請規約同意, 「同意する」) → ``POST …/revocation/input`` (失効申請 入力画面:
  the four reasons as radio buttons) → ``POST …/revocation/confirm`` (入力確認画面: 戻る | 確認) →
  ``POST …/revoke`` → ``GET /account/applications/{new id}/revocation/done`` (失効申請完了画面).
* 再発行: ``GET …/reissue`` (申請規約同意) → ``POST …/reissue/input`` (証明書再発行申請 基本情報入力画面:
  後日失効する / 再発行と同時に失効する, the CSR) → ``POST …/reissue/confirm`` (入力確認: 戻る | 申込) →
  ``POST …/reissue`` → ``GET /account/applications/{new id}/reissue/done``.

State travels in the forms (the reason, the CSR), every POST carries the CSRF token, and every
screen asks ``domain.application_actions`` again, so a record that stopped allowing the action
(revoked meanwhile, the 25-day window closed) gets the detail page with the rule's words. The
moves are ``api.applications.request_revocation`` / ``request_reissue``, the JSON API's own.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api import applications as apps
from api import contracts, errors
from api.application_detail import terminable
from api.csr_messages import csr_problem
from api.customer_auth import CustomerPrincipal, check_csrf
from api.deps import Customer, Workflows
from api.errors import ApiError, InvalidFields
from api.i18n import messages
from api.ids import ApplicationId
from domain.catalog import CATALOG
from domain.pki.csr import parse_csr
from domain.pki.errors import CsrError
from store import applications as records
from store.models import Application

router = APIRouter()
TRUE = ("on", "true", "1", "yes")
REASON_KEYS = {code: f"app_reason_{code}" for code in apps.REASON_CODES}  # the manual's four, in its order
# 「後日失効する」「再発行と同時に失効する」, as the manual lists them.
PREVIOUS = {"after_two_weeks": "app_reissue_after_two_weeks", "immediately": "app_reissue_immediately"}
# Where each of the pull-down's actions (api.application_detail.MENU) begins.
FIRST_SCREEN = {"renew": "renewal", "revoke": "revocation", "reissue": "reissue", "contact_change": "contact-change",
                "terminate": "#contract", "cancel": "#cancel-section"}


def _screen(request: Request, template: str, customer: CustomerPrincipal, app: Application, status: int = 200,
            **ctx: Any) -> Response:
    section = contracts.customer_section(request, app)
    return apps._page(request, template, customer, status, app=apps.application_json(app),
                      service=section["service"] if section else apps._product_name(_lang(request))(app.product),
                      contract_code=(section or {}).get("code") or app.contract_code or "-",
                      organization_name=str((app.organization or {}).get("name", "")), **ctx)


def _lang(request: Request) -> str:
    from api.i18n import request_language

    return request_language(request)


def _allowed(request: Request, customer: CustomerPrincipal, application_id: int, action: str) -> Application:
    app = apps._own(request, customer, application_id)
    apps._allowed_or_refuse(request, app, action)
    return app


def _completed(request: Request, customer: CustomerPrincipal, record_id: int, kind: str) -> Application:
    """The record a completion screen is shown on: the customer's own, of this kind, else 404."""
    record = apps._own(request, customer, record_id)
    if record.type != kind:
        raise ApiError(404, "not_found", key="application_not_found")
    return record


async def _form(request: Request, customer: CustomerPrincipal) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=50)
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    check_csrf(customer, values.pop("csrf_token", None))
    return values


def _agreed(values: dict[str, str]) -> bool:
    return values.get("agree_terms", "").lower() in TRUE


# --- the pull-down -------------------------------------------------------------------------------------

@router.get("/account/applications/{application_id}/next", response_class=HTMLResponse)
async def next_page(request: Request, application_id: ApplicationId, customer: Customer, action: str = "") -> Response:
    """「次へ」: the chosen action's first screen, or the detail page saying why not."""
    app = apps._own(request, customer, application_id)
    if action not in FIRST_SCREEN:
        return apps._detail(request, customer, application_id, 422,
                            error=messages(request)("detail_action_missing"), action_error=True)
    if action == "terminate":
        offers = (contracts.customer_section(request, app) or {}).get("offers") or {}
        if not terminable(offers):
            return apps._refused_page(request, customer, application_id, ApiError(409, "no_contract"))
    else:
        try:
            apps._allowed_or_refuse(request, app, action)
        except ApiError as refused:
            return apps._refused_page(request, customer, application_id, refused)
    where = FIRST_SCREEN[action]
    base = f"/account/applications/{application_id}"
    return RedirectResponse(base + where if where.startswith("#") else f"{base}/{where}", status_code=303)


# --- 失効申請 --------------------------------------------------------------------------------------------

def _revocation_input(request: Request, customer: CustomerPrincipal, app: Application, reason: str = "",
                      problem: str = "") -> Response:
    return _screen(request, "portal/revocation_input.html", customer, app, 422 if problem else 200,
                   reasons=REASON_KEYS, reason=reason, reason_error=problem)


@router.get("/account/applications/{application_id}/revocation", response_class=HTMLResponse)
async def revocation_terms(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """失効申請 申請規約同意."""
    try:
        app = _allowed(request, customer, application_id, "revoke")
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    return _screen(request, "portal/revocation_terms.html", customer, app)


@router.post("/account/applications/{application_id}/revocation/input", response_class=HTMLResponse)
async def revocation_input(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """「同意する」 → 失効申請 入力画面."""
    values = await _form(request, customer)
    try:
        app = _allowed(request, customer, application_id, "revoke")
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    if not _agreed(values):
        return _screen(request, "portal/revocation_terms.html", customer, app, 422,
                       agree_error=errors.field_message(request, "agree_terms"))
    return _revocation_input(request, customer, app)


@router.post("/account/applications/{application_id}/revocation/confirm", response_class=HTMLResponse)
async def revocation_confirm(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """「次へ」 → 失効申請 入力確認画面, or the input again with the message next to the reasons."""
    values = await _form(request, customer)
    try:
        app = _allowed(request, customer, application_id, "revoke")
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    reason = values.get("reason", "")
    if reason not in REASON_KEYS:
        return _revocation_input(request, customer, app, "", messages(request)("rv_reason_missing"))
    return _screen(request, "portal/revocation_confirm.html", customer, app, reason=reason,
                   reason_label=messages(request)(REASON_KEYS[reason]))


@router.post("/account/applications/{application_id}/revoke", response_class=HTMLResponse)
async def revoke_page(request: Request, application_id: ApplicationId, customer: Customer,
                      workflows: Workflows) -> Response:
    """「確認」: the request goes in (or 「戻る」 to the input, the reason kept)."""
    values = await _form(request, customer)
    reason = values.get("reason", "")
    try:
        app = _allowed(request, customer, application_id, "revoke")
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    if values.get("step") == "back":
        return _revocation_input(request, customer, app, reason if reason in REASON_KEYS else "")
    if reason not in REASON_KEYS:  # the hidden field was changed: nothing goes in
        return _revocation_input(request, customer, app, "", messages(request)("rv_reason_missing"))
    try:
        record = await apps.request_revocation(request, workflows, customer, application_id, reason)
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    return RedirectResponse(f"/account/applications/{record.id}/revocation/done", status_code=303)


@router.get("/account/applications/{application_id}/revocation/done", response_class=HTMLResponse)
async def revocation_done(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """失効申請完了画面, on the revocation record."""
    record = _completed(request, customer, application_id, "revocation")
    return _screen(request, "portal/revocation_done.html", customer, record,
                   reason_label=messages(request)(REASON_KEYS.get(record.reason or "", "rv_reason")))


# --- 再発行申請 ------------------------------------------------------------------------------------------

def _window(request: Request, app: Application) -> dict[str, Any]:
    """The manual's notes on when a reissue may be asked: 25 days from issuance, EV once."""
    days = request.app.state.settings.reissue_window.days
    product = CATALOG.get(app.product)
    until = app.issued_at + request.app.state.settings.reissue_window if app.issued_at else None
    return {"days": days, "ev_once": product is not None and product.reissue_limit == 1, "until": until}


def _reissue_input(request: Request, customer: CustomerPrincipal, app: Application, values: dict[str, str],
                   problems: dict[str, str] | None = None) -> Response:
    problems = problems or {}
    return _screen(request, "portal/reissue_input.html", customer, app, 422 if problems else 200,
                   values=values, errors=problems, previous=PREVIOUS, window=_window(request, app))


def _check_reissue(request: Request, values: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(problems by field, the CSR's names); stores nothing."""
    t = messages(request)
    problems: dict[str, str] = {}
    if values.get("revoke_previous") not in PREVIOUS:
        problems["revoke_previous"] = t("ri_previous_missing")
    names: list[str] = []
    if not values.get("csr", "").strip():
        problems["csr"] = t("ri_csr_missing")
    else:
        try:
            names = list(parse_csr(values["csr"]).dns_names)
        except CsrError as refused:
            problems["csr"] = csr_problem(request, refused)["message"]  # in the page's language
    return problems, names


@router.get("/account/applications/{application_id}/reissue", response_class=HTMLResponse)
async def reissue_terms(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """証明書再発行申請 申請規約同意."""
    try:
        app = _allowed(request, customer, application_id, "reissue")
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    return _screen(request, "portal/reissue_terms.html", customer, app, window=_window(request, app))


@router.post("/account/applications/{application_id}/reissue/input", response_class=HTMLResponse)
async def reissue_input(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """「同意する」 → 証明書再発行申請 基本情報入力画面."""
    values = await _form(request, customer)
    try:
        app = _allowed(request, customer, application_id, "reissue")
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    if not _agreed(values):
        return _screen(request, "portal/reissue_terms.html", customer, app, 422, window=_window(request, app),
                       agree_error=errors.field_message(request, "agree_terms"))
    return _reissue_input(request, customer, app, {})


@router.post("/account/applications/{application_id}/reissue/confirm", response_class=HTMLResponse)
async def reissue_confirm(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """「次へ」 → 入力確認 (the organization and contacts the reissue keeps, shown before it goes in)."""
    values = await _form(request, customer)
    try:
        app = _allowed(request, customer, application_id, "reissue")
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    kept = {k: values.get(k, "") for k in ("csr", "revoke_previous")}
    problems, names = _check_reissue(request, kept)
    if problems:
        return _reissue_input(request, customer, app, kept, problems)
    return _screen(request, "portal/reissue_confirm.html", customer, app, hidden=kept, names=names,
                   previous_label=messages(request)(PREVIOUS[kept["revoke_previous"]]),
                   organization=app.organization, contacts=app.contacts)


@router.post("/account/applications/{application_id}/reissue", response_class=HTMLResponse)
async def reissue_page(request: Request, application_id: ApplicationId, customer: Customer,
                       workflows: Workflows) -> Response:
    """「申込」: the reissue goes in (or 「戻る」 to the input, with what was entered)."""
    values = await _form(request, customer)
    kept = {k: values.get(k, "") for k in ("csr", "revoke_previous")}
    try:
        app = _allowed(request, customer, application_id, "reissue")
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    if values.get("step") == "back":
        return _reissue_input(request, customer, app, kept)
    problems, _ = _check_reissue(request, kept)  # the hidden fields may have been changed
    if problems:
        return _reissue_input(request, customer, app, kept, problems)
    try:
        body = apps.ReissueRequest(csr=kept["csr"], revoke_previous=kept["revoke_previous"])
        record = await apps.request_reissue(request, workflows, customer, application_id, body)
    except ValidationError as invalid:
        fields = {f["field"]: f["message"] for f in errors.validation_fields(request, invalid.errors())}
        return _reissue_input(request, customer, app, kept, fields)
    except InvalidFields as bad:
        return _reissue_input(request, customer, app, kept, {"csr": "; ".join(f["message"] for f in bad.fields)})
    except ApiError as refused:
        return apps._refused_page(request, customer, application_id, refused)
    return RedirectResponse(f"/account/applications/{record.id}/reissue/done", status_code=303)


@router.get("/account/applications/{application_id}/reissue/done", response_class=HTMLResponse)
async def reissue_done(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """The reissue's completion screen, on the new record."""
    record = _completed(request, customer, application_id, "reissue")
    parent = records.own(request.app.state.engine, customer.id, record.parent_id or 0)
    return _screen(request, "portal/reissue_done.html", customer, record, parent=parent,
                   previous_label=messages(request)(PREVIOUS[record.reason]) if record.reason in PREVIOUS else "-")
