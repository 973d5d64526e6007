"""The contract (契約, S-3, S-5; manual 003 sections 2.2 and 2.4) as the customer and the desk see it.

The customer: the 契約 section of お申込情報詳細 (``/account/applications/{id}``; JSON: the
``contract`` object of ``GET /api/v1/applications/{id}``) and 解約: ``POST
/api/v1/applications/{id}/contract/cancellation`` ``{"at_once", "confirm"}`` files it (at the term's
end, or at once with revocation), ``DELETE`` withdraws it; the pages post to
``/account/applications/{id}/contract/cancellation`` and ``.../contract/withdrawal``. The page offers
exactly what ``domain.contract_life`` allows for the row's facts; the ``Contract`` workflow's
validator, asked through ``processes.contracts``, has the last word (its clock may be ahead of
the row). The desk: ``/desk/contracts`` and ``GET /api/v1/contracts?expiring_within=30``, the live
contracts whose certificate expires soon.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, StrictBool
from sqlalchemy import Engine as SqlEngine
from sqlmodel import col, select

from api import applications as application_pages
from api import errors
from api.customer_auth import CustomerPrincipal, check_csrf
from api.deps import Customer, Engine, Staff, Workflows
from api.errors import ApiError, InvalidFields
from api.i18n import messages, request_language
from api.ids import ApplicationId
from api.rendering import desk_page
from domain import contract_life as life
from domain.catalog import CATALOG
from processes import contracts as process
from processes.client import Closed, Processes, Refused
from store import contracts as records
from store.db import session_scope
from store.models import Application, utcnow
from store.models import Contract as ContractRow
from store.models import Customer as CustomerRow

router = APIRouter()
SECTION = "#contract"
TYPE_KEYS = {life.FIXED: "contract_type_fixed", life.AUTO: "contract_type_auto"}
STATE_KEYS = {life.ACTIVE: "app_contract_state_active", life.ENDING: "app_contract_state_ending",
              life.ENDED: "app_contract_state_ended", life.CANCELLED: "app_contract_state_cancelled"}
# The workflow's refusals (domain.contract_life's codes, and its own while it reads the row): status.
REFUSALS = {"contract_not_active": 409, "contract_fixed_term": 409, "contract_already_ending": 409,
            "contract_cutoff_passed": 409, "contract_not_ending": 409, "contract_starting": 503}
TRUE, FALSE = ("true", "on", "1", "yes"), ("false", "off", "0", "no")


class CancellationRequest(BaseModel):
    """解約: at the term's end (an automatic contract, before the cut-off), or ``at_once`` with the
    certificate revoked today, which the customer must ``confirm``."""

    model_config = ConfigDict(extra="forbid")
    at_once: StrictBool = False
    confirm: StrictBool = False


# --- what the row allows, and how it reads ----------------------------------------------------------

def offers(row: ContractRow, cutoff_days: int, now: datetime) -> dict[str, bool]:
    """What the page offers: exactly what the rules accept for the row as it is."""
    def cancel(at_once: bool) -> bool:
        return life.cancel_refusal(row.contract_type, row.state, now, row.term_end, cutoff_days, at_once) is None

    return {"cancel_at_term_end": cancel(False), "cancel_at_once": cancel(True),
            "withdraw_cancellation": life.withdraw_refusal(row.state, now, row.term_end, cutoff_days) is None}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def contract_json(request: Request, row: ContractRow) -> dict[str, Any]:
    cutoff_days = request.app.state.settings.contract_cancel_cutoff_days
    live = row.state in (life.ACTIVE, life.ENDING)
    replacement = live and life.needs_replacement(row.certificate_not_after, row.term_end)
    return {"code": row.code, "product": row.product, "contract_type": row.contract_type, "state": row.state,
            "term_start": row.term_start.isoformat(), "term_end": row.term_end.isoformat(), "terms": row.terms,
            "reseller_code": row.reseller_code, "certificate_serial": row.certificate_serial,
            "certificate_not_after": row.certificate_not_after.isoformat(),
            # 証明書の差し替え: the certificate expires inside the term; a new one is due before it does.
            "replacement_due": row.certificate_not_after.isoformat() if replacement else None,
            "cancel_cutoff": life.cancel_cutoff(row.term_end, cutoff_days).isoformat()
            if live and row.contract_type == life.AUTO else None,
            "end_requested_at": _iso(row.end_requested_at), "ended_at": _iso(row.ended_at),
            "offers": offers(row, cutoff_days, utcnow())}


def _service(request: Request, product: str, contract_type: str) -> str:
    """「パスポートfor WEB SR3.0(期間固定タイプ)」: the product and its contract type, as the manual writes it."""
    t = messages(request)
    name = CATALOG[product].name(request_language(request)) if product in CATALOG else product
    return t("app_contract_service_value").format(product=name, type=t(TYPE_KEYS.get(contract_type, "")))


def of_application(request: Request, app: Application) -> ContractRow | None:
    row = records.of_application(request.app.state.engine, app)
    return row if row is not None and row.customer_id == app.customer_id else None


def customer_section(request: Request, app: Application) -> dict[str, Any] | None:
    """The 契約 section of the detail page, or None for a record without a contract."""
    row = of_application(request, app)
    if row is None:
        return None
    return {**contract_json(request, row), "service": _service(request, row.product, row.contract_type),
            "state_key": STATE_KEYS.get(row.state, "app_contract_state_active"), "auto": row.contract_type == life.AUTO}


# --- 解約, shared by the JSON API and the page --------------------------------------------------------

def _contract(request: Request, customer: CustomerPrincipal, application_id: int) -> ContractRow:
    """The customer's application's contract; 404 (as for someone else's) when there is none."""
    row = of_application(request, application_pages._own(request, customer, application_id))
    if row is None:
        raise ApiError(404, "not_found", key="contract_not_found")
    return row


def _refusal(request: Request, row: ContractRow, code: str) -> ApiError:
    cutoff = life.cancel_cutoff(row.term_end, request.app.state.settings.contract_cancel_cutoff_days)
    status = REFUSALS.get(code, 409)
    return ApiError(status, code, key=code if code in REFUSALS else "contract_refused",
                    headers={"Retry-After": "5"} if status == 503 else None,
                    date=application_pages._when(request)(cutoff, True))


async def file_cancellation(request: Request, workflows: Processes, customer: CustomerPrincipal, application_id: int,
                            at_once: bool, confirm: bool) -> ContractRow:
    """The contract after 解約 was filed; ``InvalidFields`` without the confirmation, ``ApiError``
    with the workflow's reason, ``Unavailable`` when it cannot be asked."""
    row = _contract(request, customer, application_id)
    if at_once and not confirm:  # the certificate is revoked at once: never by a slip
        raise InvalidFields([{"field": "confirm", "message": errors.text(request, "contract_confirm_required")}])
    try:
        await process.cancel(workflows, row.code, customer.actor, at_once)
    except Refused as refused:
        raise _refusal(request, row, refused.code) from None
    except Closed:
        raise _refusal(request, row, "contract_not_active") from None
    return _contract(request, customer, application_id)


async def withdraw_cancellation(request: Request, workflows: Processes, customer: CustomerPrincipal,
                                application_id: int) -> ContractRow:
    row = _contract(request, customer, application_id)
    try:
        await process.withdraw_cancellation(workflows, row.code, customer.actor)
    except Refused as refused:
        raise _refusal(request, row, refused.code) from None
    except Closed:
        raise _refusal(request, row, "contract_not_ending") from None
    return _contract(request, customer, application_id)


# --- JSON ----------------------------------------------------------------------------------------------

@router.post("/api/v1/applications/{application_id}/contract/cancellation")
async def cancel_json(request: Request, application_id: ApplicationId, body: CancellationRequest, customer: Customer,
                      workflows: Workflows) -> Response:
    check_csrf(customer, request.headers.get("x-csrf-token"))
    try:
        row = await file_cancellation(request, workflows, customer, application_id, body.at_once, body.confirm)
    except InvalidFields as bad:
        return errors.invalid(request, bad.fields)
    return JSONResponse(contract_json(request, row))


@router.delete("/api/v1/applications/{application_id}/contract/cancellation")
async def withdraw_json(request: Request, application_id: ApplicationId, customer: Customer,
                        workflows: Workflows) -> Response:
    check_csrf(customer, request.headers.get("x-csrf-token"))
    row = await withdraw_cancellation(request, workflows, customer, application_id)
    return JSONResponse(contract_json(request, row))


# --- the pages (forms of the detail page's 契約 section) -------------------------------------------------

async def _form(request: Request, customer: CustomerPrincipal) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    check_csrf(customer, values.get("csrf_token"))
    return values


def _again(request: Request, customer: CustomerPrincipal, application_id: int, status: int, error: str,
           **ctx: Any) -> Response:
    return application_pages._detail(request, customer, application_id, status, error=error, **ctx)


@router.post("/account/applications/{application_id}/contract/cancellation", response_class=HTMLResponse)
async def cancel_page(request: Request, application_id: ApplicationId, customer: Customer,
                      workflows: Workflows) -> Response:
    values = await _form(request, customer)
    _contract(request, customer, application_id)
    when = values.get("at_once", "").lower()
    if when not in TRUE + FALSE:  # the forms send one or the other
        return _again(request, customer, application_id, 422, errors.text(request, "invalid_input"))
    at_once = when in TRUE
    try:
        row = await file_cancellation(request, workflows, customer, application_id, at_once,
                                      values.get("confirm", "").lower() in TRUE)
    except InvalidFields as bad:
        return _again(request, customer, application_id, 422, errors.text(request, "invalid_input"),
                      contract_errors={f["field"]: f["message"] for f in bad.fields})
    except ApiError as refused:
        if refused.status == 404:
            raise
        return _again(request, customer, application_id, refused.status,
                      errors.text(request, refused.code, refused.key, **refused.params))
    done = "contract_cancelled" if row.state == life.CANCELLED else "contract_ending"
    return RedirectResponse(f"/account/applications/{application_id}?done={done}{SECTION}", status_code=303)


@router.post("/account/applications/{application_id}/contract/withdrawal", response_class=HTMLResponse)
async def withdraw_page(request: Request, application_id: ApplicationId, customer: Customer,
                        workflows: Workflows) -> Response:
    await _form(request, customer)
    try:
        await withdraw_cancellation(request, workflows, customer, application_id)
    except ApiError as refused:
        if refused.status == 404:
            raise
        return _again(request, customer, application_id, refused.status,
                      errors.text(request, refused.code, refused.key, **refused.params))
    return RedirectResponse(f"/account/applications/{application_id}?done=contract_withdrawn{SECTION}",
                            status_code=303)


# --- the desk: certificates about to expire ----------------------------------------------------------------

ExpiringWithin = Annotated[int, Query(ge=1, le=365)]


def expiring_rows(request: Request, engine: SqlEngine, days: int) -> list[dict[str, Any]]:
    """Live contracts whose certificate expires within ``days``, soonest first, with their customer."""
    now = utcnow()
    rows = records.expiring(engine, now, days)
    with session_scope(engine) as s:
        customers = {c.id: c for c in s.exec(select(CustomerRow).where(
            col(CustomerRow.id).in_({r.customer_id for r in rows}))).all()} if rows else {}
        found = []
        for row in rows:
            customer = customers.get(row.customer_id)
            found.append({
                "code": row.code, "state": row.state, "customer_id": row.customer_id,
                "organization": customer.organization if customer else "",
                "access_key": customer.access_key if customer else "", "product": row.product,
                "contract_type": row.contract_type, "certificate_serial": row.certificate_serial,
                "certificate_not_after": row.certificate_not_after.isoformat(),
                "days_left": (row.certificate_not_after - now).days, "term_end": row.term_end.isoformat(),
                "application_id": row.application_id, "current_application_id": row.current_application_id})
    return found


@router.get("/api/v1/contracts")
async def expiring_json(request: Request, staff: Staff, engine: Engine, expiring_within: ExpiringWithin = 30) -> Any:
    return expiring_rows(request, engine, expiring_within)


@router.get("/desk/contracts", response_class=HTMLResponse)
async def expiring_page(request: Request, staff: Staff, engine: Engine, expiring_within: ExpiringWithin = 30
                        ) -> Response:
    rows = [{**r, "service": _service(request, r["product"], r["contract_type"]),
             "not_after": datetime.fromisoformat(r["certificate_not_after"]),
             "ends": datetime.fromisoformat(r["term_end"])} for r in expiring_rows(request, engine, expiring_within)]
    return desk_page(request, "desk/contracts.html", staff, contracts=rows, days=expiring_within)
