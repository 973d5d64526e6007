"""担当者変更申請 (S-5; manual 003 section 2.4): the JSON twin and the screens, one set of checks.

JSON: ``POST /api/v1/applications/{id}/contact-change`` ``{"contacts": {...}, "agree_terms": true}``
on the contract's current record: only the roles (and fields) that change need be sent, the others
keep the contract's values; ``null`` for a role removes it. 201 with the new record (type
``contact_change``, 「別のお申込情報が作成されます」), 409 when the record's rules refuse, 422 naming
each bad field. Pages, as the manual orders them: お申込情報詳細 → ``GET .../contact-change``
(規約同意, 「同意する」) → ``POST .../contact-change/input`` (the four contacts, prefilled from the
contract) → ``POST .../contact-change/confirm`` (入力確認, 「申込」) → ``POST .../contact-change`` →
``GET /account/applications/{new id}/contact-change/done`` (「以上で担当者変更の申請は完了です。」).
The contract's contacts change only when staff approve (``workflows.contact_change``).
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api import applications as application_pages
from api import contracts, errors
from api.customer_auth import CustomerPrincipal, check_csrf
from api.deps import Customer, Workflows
from api.errors import ApiError, InvalidFields
from api.i18n import messages
from api.ids import ApplicationId
from api.profile import field_messages
from domain import profile as profiles
from domain.profile import changed_roles
from processes import contact_changes as process
from processes.client import Processes
from store import applications as records
from store.models import Application
from store.models import Contract as ContractRow

router = APIRouter()
TRUE = ("on", "true", "1", "yes")
FORM_FIELDS = [f for f in profiles.CONTACT_FIELDS if f.input != "checkbox"]  # 更新のご案内メール is kept as it is


class ContactChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contacts: dict[str, Any] = Field(default_factory=dict)
    agree_terms: bool = False


# --- the checks and the move, shared by the JSON API and the pages ------------------------------------

def _current(request: Request, customer: CustomerPrincipal, application_id: int) -> tuple[Application, ContractRow]:
    """The customer's record and its contract, when the record may start a contact change."""
    app = application_pages._own(request, customer, application_id)
    application_pages._allowed_or_refuse(request, app, "contact_change")
    row = contracts.of_application(request, app)
    if row is None:  # the rule above has already refused a record without a contract
        raise ApiError(409, "no_contract")
    return app, row


def merged(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The new set: the contract's contacts with what was sent laid over them, role by role."""
    out = {role: dict(c) for role, c in current.items() if c}
    for role, contact in given.items():
        if contact is None:
            out.pop(role, None)
        elif isinstance(contact, dict) and isinstance(out.get(role), dict):
            out[role] = {**out[role], **contact}
        else:
            out[role] = contact  # the validation names what is wrong with it
    return out


def checked(request: Request, contacts: dict[str, Any], agree_terms: bool) -> dict[str, Any]:
    """The vetted new set of contacts; ``InvalidFields`` naming each bad field (``contacts.technical.phone``)."""
    problems: list[dict[str, str]] = []
    if not agree_terms:
        problems.append({"field": "agree_terms", "message": errors.field_message(request, "agree_terms")})
    vetted: dict[str, Any] = {}
    try:
        document = profiles.Contacts.model_validate(contacts)
        vetted = {role: c.model_dump() for role in profiles.ROLES if (c := getattr(document, role))}
    except ValidationError as exc:
        problems += [{"field": f"contacts.{f}", "message": m}
                     for f, m in field_messages(request, profiles.field_errors(exc)).items()]
    else:
        if not vetted:  # someone must remain to be called (the revocation phone check)
            problems.append({"field": "contacts", "message": messages(request)("cc_err_none")})
    if problems:
        raise InvalidFields(problems)
    return vetted


async def file_contact_change(request: Request, workflows: Processes, customer: CustomerPrincipal,
                              application_id: int, contacts: dict[str, Any]) -> Application:
    """The new record (「別のお申込情報」) and its process; ``Unavailable`` leaves nothing behind."""
    engine = request.app.state.engine
    current, row = _current(request, customer, application_id)
    roles = changed_roles(dict(row.contacts), contacts)
    record = records.create(engine, customer.actor, "application.contact_change_requested",
                            {"parent": current.id, "contract": row.code, "roles": roles},
                            process.contact_change_workflow_id, customer_id=customer.id, type="contact_change",
                            product=current.product, csr_pem="", names=current.names,
                            organization=current.organization, contacts=contacts, parent_id=current.id,
                            contract_code=None)
    await process.start_contact_change(workflows, int(record.id or 0), customer.id,
                                       rollback=lambda: records.discard_unstarted(engine, int(record.id or 0)))
    return record


# --- JSON ----------------------------------------------------------------------------------------------

@router.post("/api/v1/applications/{application_id}/contact-change", status_code=201)
async def contact_change_json(request: Request, application_id: ApplicationId, body: ContactChangeRequest,
                              customer: Customer, workflows: Workflows) -> Response:
    check_csrf(customer, request.headers.get("x-csrf-token"))
    _, row = _current(request, customer, application_id)
    try:
        contacts = checked(request, merged(dict(row.contacts), body.contacts), body.agree_terms)
    except InvalidFields as bad:
        return errors.invalid(request, bad.fields)  # nothing stored, nothing started
    record = await file_contact_change(request, workflows, customer, application_id, contacts)
    return JSONResponse(application_pages.application_json(record), status_code=201)


# --- the screens -----------------------------------------------------------------------------------------

async def _form(request: Request, customer: CustomerPrincipal) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=200)
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    check_csrf(customer, values.pop("csrf_token", None))
    return values


def _from_form(values: dict[str, str], current: dict[str, Any]) -> dict[str, Any]:
    """The form's four contacts (a role left wholly blank is none); 更新のご案内メール stays as it was."""
    contacts = profiles.from_form({k: v for k, v in values.items() if k.startswith("contacts.")
                                   and not k.endswith(".renewal_notice")})["contacts"]
    return {role: {**c, "renewal_notice": bool((current.get(role) or {}).get("renewal_notice", False))}
            for role, c in contacts.items()}


def _screen(request: Request, template: str, customer: CustomerPrincipal, app: Application, row: ContractRow,
            status: int = 200, **ctx: Any) -> Response:
    return application_pages._page(request, template, customer, status, app=application_pages.application_json(app),
                                   contract=contracts.customer_section(request, app), roles=profiles.ROLES,
                                   contact_fields=FORM_FIELDS, code=row.code, **ctx)


def _input(request: Request, customer: CustomerPrincipal, app: Application, row: ContractRow,
           values: dict[str, str], problems: dict[str, str] | None = None) -> Response:
    problems = problems or {}
    return _screen(request, "portal/contact_change_input.html", customer, app, row, 422 if problems else 200,
                   values=values, errors=problems)


def _values(contacts: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in profiles.to_form({"contacts": contacts}).items() if not k.endswith(".renewal_notice")}


def _refused(request: Request, customer: CustomerPrincipal, application_id: int, refused: ApiError) -> Response:
    return application_pages._refused_page(request, customer, application_id, refused)


@router.get("/account/applications/{application_id}/contact-change", response_class=HTMLResponse)
async def terms_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """担当者変更申請規約同意."""
    try:
        app, row = _current(request, customer, application_id)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    return _screen(request, "portal/contact_change_terms.html", customer, app, row)


@router.post("/account/applications/{application_id}/contact-change/input", response_class=HTMLResponse)
async def input_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """「同意する」 → the four contacts, as the contract has them."""
    values = await _form(request, customer)
    try:
        app, row = _current(request, customer, application_id)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    if values.get("agree_terms", "").lower() not in TRUE:
        return _screen(request, "portal/contact_change_terms.html", customer, app, row, 422,
                       agree_error=errors.field_message(request, "agree_terms"))
    return _input(request, customer, app, row, _values(dict(row.contacts)))


def _check(request: Request, values: dict[str, str], row: ContractRow) -> tuple[dict[str, str], dict[str, Any]]:
    try:
        return {}, checked(request, _from_form(values, dict(row.contacts)), True)
    except InvalidFields as bad:
        return {f["field"]: f["message"] for f in bad.fields}, {}


@router.post("/account/applications/{application_id}/contact-change/confirm", response_class=HTMLResponse)
async def confirm_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """「次へ」 → 担当者変更申請入力確認, or the input again with a message next to each bad field."""
    values = await _form(request, customer)
    try:
        app, row = _current(request, customer, application_id)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    problems, contacts = _check(request, values, row)
    if problems:
        return _input(request, customer, app, row, values, problems)
    touched = changed_roles(dict(row.contacts), contacts)
    changed = {role: role in touched for role in profiles.ROLES}
    return _screen(request, "portal/contact_change_confirm.html", customer, app, row, contacts=contacts,
                   changed=changed, hidden=_values(contacts))


@router.post("/account/applications/{application_id}/contact-change", response_class=HTMLResponse)
async def submit_page(request: Request, application_id: ApplicationId, customer: Customer,
                      workflows: Workflows) -> Response:
    """「申込」 (or 「戻る」 to the input, with what was entered)."""
    values = await _form(request, customer)
    step = values.pop("step", "apply")
    try:
        app, row = _current(request, customer, application_id)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    if step == "back":
        return _input(request, customer, app, row, values)
    problems, contacts = _check(request, values, row)  # the hidden fields may have been changed
    if problems:
        return _input(request, customer, app, row, values, problems)
    try:
        record = await file_contact_change(request, workflows, customer, application_id, contacts)
    except ApiError as refused:
        return _refused(request, customer, application_id, refused)
    return RedirectResponse(f"/account/applications/{record.id}/contact-change/done", status_code=303)


@router.get("/account/applications/{application_id}/contact-change/done", response_class=HTMLResponse)
async def done_page(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    """「以上で担当者変更の申請は完了です。」, on the new record."""
    record = application_pages._own(request, customer, application_id)
    if record.type != "contact_change":
        raise ApiError(404, "not_found", key="application_not_found")
    return application_pages._page(request, "portal/contact_change_done.html", customer,
                                   record=application_pages.application_json(record), roles=profiles.ROLES,
                                   contacts=record.contacts, contact_fields=FORM_FIELDS)
