"""Domain validation (BR 3.2.2.4, S-2 認証待ち) as the customer and the vetting desk see it.

The customer: JSON under ``/api/v1/applications/{id}/domain-validations`` (the list, the choice
of method — for constructed email with one of the five addresses at the name's ADN or a parent
down to its registrable domain — and 再チェック) and the same on お申込情報詳細 (``customer_section`` gives
``api/applications.py`` the section's rows; the two forms post here). A customer sees only their
own application's validations; another's answer 404 as a missing one does.

The desk: ``desk_review`` gives a review task's page (``application_review``,
``documents_check``) the application's organization and contacts beside the customer's saved
account info, each name's validation with the evidence of its last check, and what approval
still needs (``domain.vetting.checklist``).

Every sentence is in the catalogue (``domain/locales/*/vetting_pages.json``, and the
``dcv_instruction_<method>`` texts of ``vetting.json``); this module only picks keys.
"""

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api import applications as application_pages
from api import errors
from api.customer_auth import CustomerPrincipal, check_csrf
from api.deps import Customer, Workflows
from api.errors import ApiError
from api.i18n import messages
from api.ids import ApplicationId, ValidationId
from domain import profile as profiles
from domain.settings import Settings
from domain.vetting import caa, dcv
from domain.vetting.dcv import Method
from processes import vetting as process
from processes.client import Closed, Processes, Unavailable
from store import applications as application_records
from store import vetting as records
from store.models import Application, DomainValidation, Task, utcnow
from store.profiles import load_profile

router = APIRouter()
log = logging.getLogger("certdesk.api.dcv")

# What a customer may choose (BR 3.2.2.4.7 DNS change, 3.2.2.4.18 website, 3.2.2.4.4 constructed email).
OFFERED: tuple[Method, ...] = (Method.DNS_CHANGE, Method.HTTP_FILE, Method.CONSTRUCTED_EMAIL)
STATES = ("pending", "validated", "expired")  # store.models.DomainValidation.state
# The last check's reason codes (DomainValidation.last_result) that have their own words: the MPIC
# verdicts (domain.vetting.mpic) and "primary_<why the primary could not look>" (activities/lookups.py,
# LookupFailed and RedirectRefused). Any other code reads as dcv_result_other.
RESULT_CODES = (
    "corroborated", "primary_failed", "quorum_failed", "quorum_failed_monitored", "too_few_rirs",
    "primary_servfail", "primary_refused", "primary_timeout", "primary_network", "primary_dns_error",
    "primary_no_address", "primary_tls", "primary_redirect_status", "primary_redirect_scheme",
    "primary_redirect_port", "primary_redirect_location", "primary_too_many_redirects",
    "mx_primary_failed", "mx_quorum_failed",  # constructed email: the ADN's MX set (workflows/domain_validation.py)
)
# domain.vetting.checklist.approval_refusals' codes (before any ":<name>"); others read as vet_refusal_other.
APPROVAL_REFUSALS = (
    "no_domains", "domain_not_validated", "domain_method_not_allowed", "domain_not_covered",
    "domain_method_retired", "domain_validation_expired", "caa_not_checked", "caa_refused",
    "organization_not_verified", "organization_validation_expired", "phone_callback_missing",
    "phone_callback_expired", "ev_operational_existence_missing", "ev_legal_existence_missing",
    "ev_signer_authority_missing",
)
# Why a method cannot be chosen for a name -> the words for it.
METHOD_REFUSALS = {"method_not_offered": "dcv_err_method_not_offered",
                   "method_no_wildcard": "dcv_err_method_no_wildcard",
                   "method_retired": "dcv_err_method_retired",
                   "address_required": "dcv_err_address_required",
                   "address_not_offered": "dcv_err_address_not_offered"}
ADDRESS_REFUSALS = frozenset({"address_required", "address_not_offered"})  # said next to the address field
# ``?dcv=`` on the detail page after a form: what the section says.
DONE_MESSAGES = {"method_changed": "dcv_page_method_changed", "recheck": "dcv_page_recheck_sent"}
FOUND = {True: "vet_found_yes", False: "vet_found_no", None: "vet_found_could_not_look"}
REVIEW_KINDS = ("application_review", "documents_check")
SECTION = "#domain-validation"


class MethodChoice(BaseModel):
    method: str = Field(min_length=1, max_length=30)
    address: str = Field(default="", max_length=254)  # constructed email: one of ``email_addresses``


# --- what a validation looks like ------------------------------------------------------------------

def method_refusal(method: str, name: str) -> str | None:
    """Why ``method`` may not be chosen for ``name`` (a METHOD_REFUSALS code), or None."""
    if method not in OFFERED:
        return "method_not_offered"
    if dcv.method_retired(Method(method), utcnow()):
        return "method_retired"  # BR 3.2.2.4.4: no longer relied upon from 2028-03-15
    return dcv.method_allows(Method(method), name)


def email_addresses(name: str) -> list[str]:
    """The constructed addresses offered for ``name``: at its ADN, then at each parent the ADN
    rules let it be pruned to (down to the registrable domain, never a public suffix)."""
    labels = dcv.authorization_domain(name).split(".")
    domains = [".".join(labels[i:]) for i in range(len(labels))]
    return [address for domain in domains if dcv.covers(Method.CONSTRUCTED_EMAIL, domain, name)
            for address in dcv.constructed_addresses(domain)]


def address_refusal(method: str, address: str, name: str) -> str | None:
    """Why ``address`` cannot go with ``method`` for ``name`` (an ADDRESS_REFUSALS code), or None."""
    if method != Method.CONSTRUCTED_EMAIL:
        return None
    if not address.strip():
        return "address_required"
    return None if address.strip().lower() in email_addresses(name) else "address_not_offered"


def _file_url(row: DomainValidation) -> str | None:
    if row.name.startswith("*."):
        return None  # the website method never validates a wildcard
    return dcv.file_url(row.validated_domain, dcv.validation_file_name(row.random_value))


def _where(settings: Settings, row: DomainValidation) -> str:
    """Where the customer places the value for the row's method (as the workflow looks there)."""
    if row.method == Method.HTTP_FILE:
        return _file_url(row) or ""
    if row.method == Method.CONSTRUCTED_EMAIL:
        return row.email_address or ", ".join(dcv.constructed_addresses(row.validated_domain))
    return dcv.dns_record_name(row.validated_domain, settings.dcv_label)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def result_key(code: str | None) -> str | None:
    """The words for a last check's reason code; None when there has been no check."""
    if not code:
        return None
    return f"dcv_result_{code}" if code in RESULT_CODES else "dcv_result_other"


def _email_facts(row: DomainValidation) -> dict[str, Any]:
    """Constructed email: the address chosen, when its mail went, whether its link has locked."""
    chosen = row.method == Method.CONSTRUCTED_EMAIL
    return {"email_address": row.email_address if chosen else None,
            "email_sent_at": row.email_sent_at if chosen else None,
            "email_locked": chosen and row.email_attempts >= records.EMAIL_MAX_ATTEMPTS}


def validation_json(settings: Settings, row: DomainValidation) -> dict[str, Any]:
    pending = row.state == "pending"
    reused = records.reused_from(row)
    email = _email_facts(row)
    # Constructed email: the value goes to the mailbox only (what its recipient proves to have read).
    shown = pending and row.method != Method.CONSTRUCTED_EMAIL
    return {"id": row.id, "name": row.name, "validated_domain": row.validated_domain, "state": row.state,
            "method": row.method, "methods": [m.value for m in OFFERED if method_refusal(m, row.name) is None],
            "email_addresses": email_addresses(row.name) if pending else [],
            "email_address": email["email_address"], "email_sent_at": _iso(email["email_sent_at"]),
            "email_locked": email["email_locked"],
            "random_value": row.random_value if shown else None,
            "where": _where(settings, row) if pending else None,
            "dns_record_name": dcv.dns_record_name(row.validated_domain, settings.dcv_label) if pending else None,
            "file_url": _file_url(row) if pending else None,
            "expires_at": _iso(row.expires_at), "validated_at": _iso(row.validated_at),
            "checked_at": _iso(row.checked_at), "last_result": row.last_result,
            "reused_from": reused.get("reused") if reused else None}


# --- the customer's checks and moves, shared by the JSON API and the page ----------------------------

def _application(request: Request, customer: CustomerPrincipal, application_id: int) -> Application:
    app = application_records.own(request.app.state.engine, customer.id, application_id)
    if app is None:
        raise ApiError(404, "not_found", key="application_not_found")
    return app


class MethodRefused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def choose_method(request: Request, customer: CustomerPrincipal, application_id: int, validation_id: int,
                  method: str, address: str = "") -> DomainValidation:
    """``ApiError`` 404 (not theirs) or 409 (no longer pending); ``MethodRefused`` for a method (or,
    for constructed email, an address) not allowed."""
    _application(request, customer, application_id)
    engine = request.app.state.engine
    row = records.own(engine, customer.id, application_id, validation_id)
    if row is None:
        raise ApiError(404, "not_found", key="dcv_not_found")
    refusal = method_refusal(method, row.name) or address_refusal(method, address, row.name)
    if refusal is not None:
        raise MethodRefused(refusal)
    chosen = address.strip().lower() if method == Method.CONSTRUCTED_EMAIL else ""
    try:
        return records.change_method(engine, customer.actor, customer.id, application_id, validation_id, method,
                                     chosen)
    except records.NotFound:
        raise ApiError(404, "not_found", key="dcv_not_found") from None
    except records.NotPending as done:
        raise ApiError(409, "not_pending", key="dcv_not_pending",
                       state=messages(request)(f"dcv_state_{done.state}")) from None


async def recheck(request: Request, workflows: Processes, customer: CustomerPrincipal, application_id: int) -> None:
    """Signals the application's validation to look now; ``ApiError`` 409 ``closed`` once it has ended."""
    _application(request, customer, application_id)
    try:
        await process.recheck(workflows, application_id)
    except Closed:
        raise ApiError(409, "closed", key="dcv_closed") from None
    records.recheck_requested(request.app.state.engine, customer.actor, application_id)


async def mail_soon(workflows: Processes, application_id: int, row: DomainValidation) -> None:
    """After a choice of address: the validation looks now, so the mail goes at once. Not reached,
    its next round (within the hour) mails it all the same: the choice stands."""
    if row.method != Method.CONSTRUCTED_EMAIL:
        return
    try:
        await process.recheck(workflows, application_id)
    except (Closed, Unavailable) as exc:
        log.warning("application %s: the validation was not told of the address now: %s", application_id,
                    type(exc).__name__)


def _method_problem(request: Request, code: str) -> list[dict[str, str]]:
    field = "address" if code in ADDRESS_REFUSALS else "method"
    return [{"field": field, "message": messages(request)(METHOD_REFUSALS[code])}]


# --- JSON ------------------------------------------------------------------------------------------

@router.get("/api/v1/applications/{application_id}/domain-validations")
async def list_json(request: Request, application_id: ApplicationId, customer: Customer) -> Any:
    app = _application(request, customer, application_id)
    rows = records.of_application(request.app.state.engine, int(app.id or 0))
    return [validation_json(request.app.state.settings, row) for row in rows]


@router.put("/api/v1/applications/{application_id}/domain-validations/{validation_id}/method")
async def method_json(request: Request, application_id: ApplicationId, validation_id: ValidationId, body: MethodChoice,
                      customer: Customer, workflows: Workflows) -> Response:
    check_csrf(customer, request.headers.get("x-csrf-token"))
    try:
        row = choose_method(request, customer, application_id, validation_id, body.method, body.address)
    except MethodRefused as refused:
        return errors.invalid(request, _method_problem(request, refused.code))
    await mail_soon(workflows, application_id, row)
    return JSONResponse(validation_json(request.app.state.settings, row))


@router.post("/api/v1/applications/{application_id}/domain-validations/recheck", status_code=202)
async def recheck_json(request: Request, application_id: ApplicationId, customer: Customer,
                       workflows: Workflows) -> Response:
    check_csrf(customer, request.headers.get("x-csrf-token"))
    await recheck(request, workflows, customer, application_id)
    return JSONResponse({"application_id": application_id, "status": "recheck_requested"}, status_code=202)


# --- the customer's page (a section of お申込情報詳細) ---------------------------------------------------

def customer_section(request: Request, app: Application) -> dict[str, Any]:
    """The ドメイン認証 section of the detail page: a row per name, and the message after a form."""
    settings = request.app.state.settings
    rows = []
    for row in records.of_application(request.app.state.engine, int(app.id or 0)):
        reused = records.reused_from(row)
        pending = row.state == "pending"
        rows.append({
            "id": row.id, "name": row.name, "state": row.state, "method": row.method,
            "value": row.random_value if pending and row.method != Method.CONSTRUCTED_EMAIL else "",
            "where": _where(settings, row) if pending else "",
            "addresses": email_addresses(row.name) if pending else [], **_email_facts(row),
            "expires_at": row.expires_at, "validated_at": row.validated_at, "checked_at": row.checked_at,
            "result_key": result_key(row.last_result),
            "reused_at": reused.get("validated_at") if reused else None,
            "methods": [{"method": m.value, "refusal": METHOD_REFUSALS.get(method_refusal(m, row.name) or "")}
                        for m in OFFERED]})
    done = request.query_params.get("dcv", "")
    identity = settings.caa_identity_names[0] if settings.caa_identity_names else ""
    base = app.names[0].removeprefix("*.") if app.names else ""
    caa_example = (f'{base}. CAA 0 issue "{identity}; accounturi='
                   f'{caa.account_uri(settings.resolved_public_url, app.customer_id)}"') if identity and base else ""
    return {"rows": rows, "any_pending": any(r["state"] == "pending" for r in rows), "caa_example": caa_example,
            "message": messages(request)(DONE_MESSAGES[done]) if done in DONE_MESSAGES else ""}


async def _form(request: Request, customer: CustomerPrincipal) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    check_csrf(customer, values.get("csrf_token"))
    return values


def _refused_page(request: Request, customer: CustomerPrincipal, application_id: int, refused: ApiError,
                  **ctx: Any) -> Response:
    if refused.status == 404:
        raise refused
    return application_pages._detail(request, customer, application_id, refused.status,
                                     error=errors.text(request, refused.code, refused.key, **refused.params), **ctx)


@router.post("/account/applications/{application_id}/domain-validations/{validation_id}/method",
             response_class=HTMLResponse)
async def method_page(request: Request, application_id: ApplicationId, validation_id: ValidationId, customer: Customer,
                      workflows: Workflows) -> Response:
    values = await _form(request, customer)
    try:
        row = choose_method(request, customer, application_id, validation_id, values.get("method", ""),
                            values.get("address", "")[:254])
    except ApiError as refused:
        return _refused_page(request, customer, application_id, refused)
    except MethodRefused as refused:
        message = messages(request)(METHOD_REFUSALS[refused.code])
        by_field = {validation_id: message}
        if refused.code in ADDRESS_REFUSALS:  # next to the address, not the method
            return application_pages._detail(request, customer, application_id, 422,
                                             error=errors.text(request, "invalid_input"), dcv_address_errors=by_field)
        return application_pages._detail(request, customer, application_id, 422,
                                         error=errors.text(request, "invalid_input"), dcv_errors=by_field)
    await mail_soon(workflows, application_id, row)
    return RedirectResponse(f"/account/applications/{application_id}?dcv=method_changed{SECTION}", status_code=303)


@router.post("/account/applications/{application_id}/domain-validations/recheck", response_class=HTMLResponse)
async def recheck_page(request: Request, application_id: ApplicationId, customer: Customer,
                       workflows: Workflows) -> Response:
    await _form(request, customer)
    try:
        await recheck(request, workflows, customer, application_id)
    except ApiError as refused:
        return _refused_page(request, customer, application_id, refused)
    return RedirectResponse(f"/account/applications/{application_id}?dcv=recheck{SECTION}", status_code=303)


# --- the vetting desk ---------------------------------------------------------------------------------

def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return "" if value is None else str(value).strip()


def _compare(fields: tuple[profiles.FormField, ...], applied: dict[str, Any] | None,
             saved: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per field: the application's value, the saved one, and whether they differ."""
    blank = {f.name: False if f.input == "checkbox" else "" for f in fields}
    applied, saved = {**blank, **(applied or {})}, {**blank, **(saved or {})}
    return [{"field": f.name, "checkbox": f.input == "checkbox", "applied": _text(applied[f.name]),
             "saved": _text(saved[f.name]), "differs": _text(applied[f.name]) != _text(saved[f.name])}
            for f in fields]


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _desk_domain(row: DomainValidation) -> dict[str, Any]:
    check, reused = records.last_check(row), records.reused_from(row)
    last = None
    if check is not None:
        last = {"at": _when(check.get("last_at") or check.get("at")), "passed": bool(check.get("passed")),
                "first_at": _when(check.get("at")), "repeats": int(check.get("repeats", 1)),
                "result_key": result_key(check.get("reason")), "reason": check.get("reason", ""),
                "method": check.get("method", ""),
                "perspectives": [{"name": p.get("name", ""), "found": FOUND.get(p.get("found"), FOUND[None]),
                                  "where": p.get("where", ""), "seen": p.get("seen", "")}
                                 for p in check.get("perspectives", [])]}
    return {"name": row.name, "state": row.state, "method": row.method, "validated_domain": row.validated_domain,
            "validated_at": row.validated_at, "checked_at": row.checked_at, "expires_at": row.expires_at,
            "reused": {"id": reused.get("reused"), "at": _when(reused.get("validated_at"))} if reused else None,
            "caa_permitted": getattr(row, "caa_permitted", None), "caa_result": getattr(row, "caa_result", None),
            "last": last}


def desk_review(request: Request, task: Task) -> dict[str, Any] | None:
    """What a reviewer compares, for a review task about an application; else None. The checks and
    the checklist are added by ``api.vetting_desk.review`` from the facts the workflow judges by."""
    application_id = records.application_of_subject(task.subject)
    if task.kind not in REVIEW_KINDS or application_id is None:
        return None
    engine = request.app.state.engine
    found = records.under_review(engine, application_id)
    if found is None:
        return None
    app, customer, rows = found
    saved = load_profile(engine, customer)
    organization = _compare(profiles.ORGANIZATION_FIELDS, app.organization, saved.get("organization"))
    contacts = []
    for role in profiles.ROLES:
        applied, kept = (app.contacts or {}).get(role), (saved.get("contacts") or {}).get(role)
        contacts.append({"role": role, "applied": bool(applied), "saved": bool(kept),
                         "rows": _compare(profiles.CONTACT_FIELDS, applied, kept) if applied or kept else []})
    by_name = {r.name for r in rows}
    return {"application": app, "organization": organization, "contacts": contacts,
            "differences": sum(r["differs"] for r in organization) + sum(
                r["differs"] for c in contacts for r in c["rows"]),
            "domains": [_desk_domain(r) for r in rows], "missing": [n for n in app.names if n not in by_name]}
