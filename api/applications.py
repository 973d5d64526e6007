"""Server certificate applications (S-2, S-4, S-6, S-7, S-8, part of S-10): the JSON API and the
customer's pages, one set of checks behind both.

JSON under ``/api/v1/applications``; pages: ``/account/applications`` (お申込一覧, "!" for
documents pending) → ``/account/applications/{id}`` (お申込情報詳細 with the actions the record
allows: download, 申請取消, 再発行申請, 失効申請); 新規申請's pages are ``api.new_application``, on
``check_new``/``create_new`` here. What a record allows is decided once, by
``domain.application_actions``: the detail page offers exactly what the API accepts. A
customer only ever sees their own records: another's answers 404, as a missing one does.
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from api import application_detail, contracts, errors
from api import domain_validations as validations
from api.csr_messages import csr_problem
from api.customer_auth import CustomerPrincipal, check_csrf
from api.deps import Customer, Workflows
from api.errors import ApiError, InvalidFields
from api.i18n import messages
from api.ids import ApplicationId
from api.profile import field_messages
from api.rendering import render
from domain import application_actions as rules
from domain import coupons as coupon_rules
from domain import new_application as new_rules
from domain import profile as profiles
from domain.catalog import CATALOG
from domain.pki.csr import parse_csr
from domain.pki.errors import CsrError
from domain.revocation import REASONS as REVOCATION_REASONS
from domain.server_types import is_server_type
from processes import applications as process
from processes.client import Processes, Refused, Unavailable
from store import applications as records
from store import contracts as contract_records
from store import coupons as coupon_records
from store import downloads
from store.models import Application, utcnow
from store.profiles import load_profile

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}
DONE_MESSAGES = {"applied": "app_applied", "cancelled": "app_cancelled", "reissued": "app_reissued",
                 "replacement": "app_replacement_requested", "switch": "app_switch_requested",
                 "revoked": "app_revocation_received", "contract_ending": "app_contract_cancel_filed",
                 "contract_cancelled": "app_contract_cancelled", "contract_withdrawn": "app_contract_withdrawn"}


class NewApplication(BaseModel):
    type: str = Field("new", pattern="^new$")  # renewal, reissue and the rest have their own calls
    product: str = Field(min_length=1, max_length=20)
    csr: str = Field(min_length=1, max_length=20000)
    agree_terms: bool = False
    coupon: str | None = Field(None, max_length=40)
    server_type: str = Field("", max_length=40)  # サーバタイプ (domain/server_types.py); may be left unsaid
    organization: dict[str, Any] = Field(default_factory=dict)
    contacts: dict[str, Any] = Field(default_factory=dict)


REASON_CODES = tuple(REVOCATION_REASONS)  # 申請理由, in the manual's order


class RevocationRequest(BaseModel):
    reason: str = Field(pattern="^(" + "|".join(REASON_CODES) + ")$")


class ReissueRequest(BaseModel):
    csr: str = Field(min_length=1, max_length=20000)
    revoke_previous: str = Field(pattern="^(immediately|after_two_weeks)$")


class SwitchRequest(BaseModel):
    """別サービスへ切り替えて申請: the contract's next certificate under another product, vetted as that
    product requires, carrying the current certificate's remaining validity."""

    product: str = Field(min_length=1, max_length=20)
    csr: str = Field(min_length=1, max_length=20000)
    revoke_previous: str = Field(pattern="^(immediately|after_two_weeks)$")
    agree_terms: bool = False


class ReplacementRequest(BaseModel):
    """「証明書の差し替え」: the next certificate of the contract, for the same names."""

    csr: str = Field(min_length=1, max_length=20000)


def application_json(app: Application) -> dict[str, Any]:
    return {"id": app.id, "type": app.type, "product": app.product, "status": app.status,
            "documents_pending": app.status == "documents_pending", "server_name": app.names[0] if app.names else "",
            "names": app.names, "contract_code": app.contract_code, "serial": app.certificate_serial,
            "created_at": app.created_at.isoformat(), "issued_at": app.issued_at.isoformat() if app.issued_at else None,
            "note": app.note if app.status in ("documents_pending", "rejected", "returned") else None,
            "parent_id": app.parent_id, "reason": app.reason,
            "revoke_previous_at": app.revoke_previous_at.isoformat() if app.revoke_previous_at else None}


# --- the checks and the moves, shared by the JSON API and the pages ----------------------------

def _own(request: Request, customer: CustomerPrincipal, application_id: int) -> Application:
    app = records.own(request.app.state.engine, customer.id, application_id)
    if app is None:
        raise ApiError(404, "not_found", key="application_not_found")
    return app


def _allowed_or_refuse(request: Request, app: Application, action: str) -> None:
    settings = request.app.state.settings
    code = rules.refusal(action, records.facts(request.app.state.engine, app), utcnow(), settings.reissue_window)
    if code is not None:
        raise ApiError(409, code, days=settings.reissue_window.days)


def check_new(request: Request, customer: CustomerPrincipal, body: NewApplication, merge: bool = True
              ) -> tuple[list[dict[str, str]], list[str], dict[str, Any]]:
    """(problems by field, the CSR's names, the vetted organization and contacts); stores nothing.
    ``merge``: what the body leaves out is the saved アカウント情報's (the API); the form sends
    everything it showed, so a contact blanked there stays blank, and a required one is refused."""
    t = messages(request)
    problems: list[dict[str, str]] = []
    if body.product not in CATALOG:
        problems.append({"field": "product", "message": errors.field_message(request, "choose_product")})
    if not body.agree_terms:
        problems.append({"field": "agree_terms", "message": errors.field_message(request, "agree_terms")})
    names: list[str] = []
    try:
        checked = parse_csr(body.csr)
        names, body.csr = list(checked.dns_names), checked.pem  # only the canonical CSR is ever stored
    except CsrError as refused:
        problems.append(csr_problem(request, refused))
    if not is_server_type(body.server_type):
        problems.append({"field": "server_type", "message": t("apply_server_type_invalid")})
    if body.coupon:
        coupon = coupon_records.find(request.app.state.engine, body.coupon)
        why = coupon_rules.refusal(coupon_records.facts(coupon) if coupon else None, customer.id, utcnow())
        if why is not None:
            problems.append({"field": "coupon", "message": t(f"coupon_refused_{why}")})
    saved = load_profile(request.app.state.engine, customer) if merge else {}
    contacts = {**saved.get("contacts", {}), **body.contacts}
    # The form shows all four contacts and requires some; the API, whose callers may leave contacts
    # to the saved profile (and always could), requires none.
    for role in ([] if merge else new_rules.missing_roles(contacts)):
        problems.append({"field": f"contacts.{role}.name",
                         "message": t("apply_contact_required").format(role=t(f"profile_role_{role}"))})
    refused, vetted = vet_document(request, {"reseller_code": saved.get("reseller_code", ""),
                                             "organization": {**saved.get("organization", {}), **body.organization},
                                             "contacts": contacts})
    return problems + refused, names, vetted


def vet_document(request: Request, document: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """An application's organization and contacts by the profile's rules: (problems by field, the
    vetted document, empty when there are problems)."""
    try:
        return [], profiles.validate(document).document()
    except ValidationError as exc:
        return [{"field": f, "message": m}
                for f, m in field_messages(request, profiles.field_errors(exc)).items()], {}


async def create_new(request: Request, workflows: Processes, customer: CustomerPrincipal, body: NewApplication,
                     names: list[str], vetted: dict[str, Any]) -> Application:
    """The record, its coupon claimed, its process started; InvalidFields when the coupon was used
    meanwhile (by another application sent at the same time): then nothing is left behind."""
    engine = request.app.state.engine
    app = records.create(engine, customer.actor, "application.received",
                         {"product": body.product, "names": names, "terms": new_rules.TERMS_VERSION},
                         process.application_workflow_id, customer_id=customer.id, type="new", product=body.product,
                         csr_pem=body.csr, names=names, organization=vetted["organization"],
                         contacts=vetted["contacts"], coupon=body.coupon or None, server_type=body.server_type)
    app_id = int(app.id or 0)
    if body.coupon and not coupon_records.claim(engine, customer.actor, body.coupon, customer.id, app_id):
        records.discard_unstarted(engine, app_id)
        raise InvalidFields([{"field": "coupon", "message": messages(request)("coupon_refused_used")}])

    def rollback() -> None:
        coupon_records.release(engine, app_id)
        records.discard_unstarted(engine, app_id)

    await process.start_application(workflows, app_id, customer.id, f"{names[0]} ({body.product})",
                                    rollback=rollback)
    return app


async def cancel_application(request: Request, workflows: Processes, customer: CustomerPrincipal,
                             application_id: int) -> Application:
    app = _own(request, customer, application_id)
    _allowed_or_refuse(request, app, "cancel")
    await process.cancel_application(workflows, app.workflow_id, customer.actor)
    return app


def _contact(contacts: dict[str, Any]) -> dict[str, Any]:
    # Who support calls (manual 2.5 (6): 「弊社より登録担当者へ連絡し、最終確認をいたします」): the
    # registrant, else whoever else is registered (the technical contact first).
    for role in ("registrant", "technical", "administrative", "contract"):
        if contacts.get(role):
            return contacts[role]
    return {}


async def request_revocation(request: Request, workflows: Processes, customer: CustomerPrincipal,
                             application_id: int, reason: str) -> Application:
    engine = request.app.state.engine
    parent = _own(request, customer, application_id)
    _allowed_or_refuse(request, parent, "revoke")
    serial = parent.certificate_serial or ""
    # Who support calls: the contract's contacts when the record has one (a completed 担当者変更
    # changes them there), else the record's own.
    contract = contract_records.of_application(engine, parent)
    contacts = dict(contract.contacts) if contract is not None else parent.contacts
    record = records.create(engine, customer.actor, "application.revocation_requested",
                            {"parent": parent.id, "serial": serial, "reason": reason},
                            process.revocation_workflow_id, customer_id=customer.id, type="revocation",
                            product=parent.product, csr_pem="", names=parent.names, organization=parent.organization,
                            contacts=contacts, certificate_serial=serial, parent_id=parent.id, reason=reason,
                            contract_code=None)
    contact = _contact(contacts)
    await process.start_revocation(workflows, int(record.id or 0), customer.id, serial, reason,
                                   parent.names[0], str(contact.get("name", "")),  # the reason: a fact, shown by name
                                   str(contact.get("phone", "")),
                                   rollback=lambda: records.discard_unstarted(engine, int(record.id or 0)))
    if reason == "key_compromise":
        try:
            await process.take_over_delayed_revocation(workflows, records.delayed_revocations(engine, parent.id or 0))
        except Unavailable:
            pass  # the revocation has started; if its confirmation comes first, the CA upgrades the reason
    return record


async def request_reissue(request: Request, workflows: Processes, customer: CustomerPrincipal,
                          application_id: int, body: ReissueRequest) -> Application:
    engine = request.app.state.engine
    parent = _own(request, customer, application_id)
    _allowed_or_refuse(request, parent, "reissue")
    try:
        checked = parse_csr(body.csr)
    except CsrError as refused:
        raise InvalidFields([csr_problem(request, refused)]) from None
    names = list(checked.dns_names)
    record = records.create(engine, customer.actor, "application.reissue_requested",
                            {"parent": parent.id, "revoke_previous": body.revoke_previous},
                            process.reissue_workflow_id, customer_id=customer.id, type="reissue",
                            product=parent.product, csr_pem=checked.pem, names=names,
                            organization=parent.organization, contacts=parent.contacts, parent_id=parent.id,
                            reason=body.revoke_previous)
    await process.start_reissue(workflows, int(record.id or 0), customer.id, parent.certificate_serial or "",
                                body.revoke_previous, customer.actor,
                                rollback=lambda: records.discard_unstarted(engine, int(record.id or 0)))
    return record


async def request_replacement(request: Request, workflows: Processes, customer: CustomerPrincipal,
                              application_id: int, body: ReplacementRequest) -> Application:
    """The contract's next certificate, from a new CSR for the same names: vetted again only where a
    check can no longer be reused (the workflow decides); its validity stops at the contract's end."""
    engine = request.app.state.engine
    current = _own(request, customer, application_id)
    _allowed_or_refuse(request, current, "replace")
    try:
        checked = parse_csr(body.csr)
    except CsrError as refused:
        raise InvalidFields([csr_problem(request, refused)]) from None
    names = list(checked.dns_names)
    if sorted(names) != sorted(current.names):
        raise InvalidFields([{"field": "csr", "message": errors.field_message(request, "replacement_names_differ")}])
    contract = contract_records.of_application(engine, current)
    record = records.create(engine, customer.actor, "application.replacement_requested",
                            {"parent": current.id, "contract": contract.code if contract else None},
                            process.application_workflow_id, customer_id=customer.id, type="replacement",
                            product=current.product, csr_pem=checked.pem, names=names,
                            organization=current.organization,
                            contacts=contract.contacts if contract else current.contacts, parent_id=current.id)
    await process.start_application(workflows, int(record.id or 0), customer.id, f"{names[0]} ({current.product})",
                                    rollback=lambda: records.discard_unstarted(engine, int(record.id or 0)),
                                    kind="replacement")
    return record


async def request_switch(request: Request, workflows: Processes, customer: CustomerPrincipal,
                         application_id: int, body: SwitchRequest) -> Application:
    engine = request.app.state.engine
    current = _own(request, customer, application_id)
    _allowed_or_refuse(request, current, "switch")
    problems: list[dict[str, str]] = []
    if body.product not in CATALOG or body.product == current.product:
        problems.append({"field": "product", "message": errors.field_message(request, "switch_product")})
    if not body.agree_terms:
        problems.append({"field": "agree_terms", "message": errors.field_message(request, "agree_terms")})
    try:
        checked = parse_csr(body.csr)
    except CsrError as refused:
        problems.append(csr_problem(request, refused))
    if problems:
        raise InvalidFields(problems)
    names = list(checked.dns_names)
    contract = contract_records.of_application(engine, current)
    record = records.create(engine, customer.actor, "application.switch_requested",
                            {"parent": current.id, "product": body.product, "from": current.product,
                             "revoke_previous": body.revoke_previous},
                            process.application_workflow_id, customer_id=customer.id, type="switch",
                            product=body.product, csr_pem=checked.pem, names=names,
                            organization=current.organization,
                            contacts=contract.contacts if contract else current.contacts, parent_id=current.id,
                            reason=body.revoke_previous)
    await process.start_application(workflows, int(record.id or 0), customer.id, f"{names[0]} ({body.product})",
                                    rollback=lambda: records.discard_unstarted(engine, int(record.id or 0)),
                                    kind="switch", previous_serial=current.certificate_serial or "",
                                    revoke_previous=body.revoke_previous)
    return record


# --- JSON ----------------------------------------------------------------------------------------

@router.post("/api/v1/applications", status_code=201)
async def apply(request: Request, body: NewApplication, customer: Customer, workflows: Workflows) -> Response:
    problems, names, vetted = check_new(request, customer, body)
    if problems:
        return errors.invalid(request, problems)  # nothing stored, nothing started
    try:
        app = await create_new(request, workflows, customer, body, names, vetted)
    except InvalidFields as bad:
        return errors.invalid(request, bad.fields)
    return JSONResponse({"id": app.id, "status": app.status}, status_code=201)


@router.get("/api/v1/applications/{application_id}")
async def application(request: Request, application_id: ApplicationId, customer: Customer) -> Any:
    app = _own(request, customer, application_id)
    row = contracts.of_application(request, app)  # the contract the record belongs to, if any
    return {**application_json(app), "contract": contracts.contract_json(request, row) if row else None}


@router.get("/api/v1/applications/{application_id}/certificate")
async def certificate(request: Request, application_id: ApplicationId, customer: Customer) -> Response:
    app = _own(request, customer, application_id)
    _allowed_or_refuse(request, app, "download")
    body = records.certificate_chain_pem(request.app.state.engine, app)
    downloads.record_download(request.app.state.engine, int(app.id or 0), customer.actor, "fullchain", True)
    return Response(body,
                    media_type="application/pem-certificate-chain",
                    headers={"Content-Disposition": f'attachment; filename="{app.names[0]}.pem"'})


@router.post("/api/v1/applications/{application_id}/cancel")
async def cancel(request: Request, application_id: ApplicationId, customer: Customer,
                 workflows: Workflows) -> JSONResponse:
    try:
        app = await cancel_application(request, workflows, customer, application_id)
    except Refused:
        return errors.error(request, 409, "not_cancellable")  # issuance has begun, or it was cancelled
    return JSONResponse({"id": app.id, "status": "cancelled"})


@router.post("/api/v1/applications/{application_id}/revoke", status_code=201)
async def revoke(request: Request, application_id: ApplicationId, body: RevocationRequest, customer: Customer,
                 workflows: Workflows) -> JSONResponse:
    record = await request_revocation(request, workflows, customer, application_id, body.reason)
    return JSONResponse({**application_json(record), "message": messages(request)("app_revocation_received")},
                        status_code=201)


@router.post("/api/v1/applications/{application_id}/reissue", status_code=201)
async def reissue(request: Request, application_id: ApplicationId, body: ReissueRequest, customer: Customer,
                  workflows: Workflows) -> Response:
    try:
        record = await request_reissue(request, workflows, customer, application_id, body)
    except InvalidFields as bad:
        return errors.invalid(request, bad.fields)
    return JSONResponse(application_json(record), status_code=201)


@router.post("/api/v1/applications/{application_id}/replacement", status_code=201)
async def replacement(request: Request, application_id: ApplicationId, body: ReplacementRequest, customer: Customer,
                      workflows: Workflows) -> Response:
    try:
        record = await request_replacement(request, workflows, customer, application_id, body)
    except InvalidFields as bad:
        return errors.invalid(request, bad.fields)
    return JSONResponse(application_json(record), status_code=201)


@router.post("/api/v1/applications/{application_id}/switch", status_code=201)
async def switch(request: Request, application_id: ApplicationId, body: SwitchRequest, customer: Customer,
                 workflows: Workflows) -> Response:
    try:
        record = await request_switch(request, workflows, customer, application_id, body)
    except InvalidFields as bad:
        return errors.invalid(request, bad.fields)
    return JSONResponse(application_json(record), status_code=201)


# --- pages ---------------------------------------------------------------------------------------

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


def _page(request: Request, template: str, customer: CustomerPrincipal, status: int = 200, **ctx: Any) -> Response:
    from api.i18n import request_language

    response = render(request, template, customer=customer, catalog=CATALOG,
                      product_name=_product_name(request_language(request)), when=_when(request), **ctx)
    response.status_code = status
    response.headers.update(NO_STORE)
    return response


def _detail(request: Request, customer: CustomerPrincipal, application_id: int, status: int = 200,
            **ctx: Any) -> Response:
    app = _own(request, customer, application_id)
    engine, settings = request.app.state.engine, request.app.state.settings
    cert = records.certificate(engine, app)
    actions = rules.allowed(records.facts(engine, app), utcnow(), settings.reissue_window)
    contract = contracts.customer_section(request, app)
    return _page(request, "portal/application.html", customer, status, app=application_json(app), cert=cert,
                 revoked=cert is not None and cert.state == "revoked", actions=actions, reasons=REASON_CODES,
                 dcv=validations.customer_section(request, app), contract=contract,
                 organization_name=str((app.organization or {}).get("name", "")),
                 **application_detail.context(request, app, cert, actions, contract), **ctx)


@router.get("/account/applications/{application_id}", response_class=HTMLResponse)
async def detail_page(request: Request, application_id: ApplicationId, customer: Customer, done: str = "") -> Response:
    message = messages(request)(DONE_MESSAGES[done]) if done in DONE_MESSAGES else ""
    return _detail(request, customer, application_id, message=message)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=200)
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def _refused_page(request: Request, customer: CustomerPrincipal, application_id: int, refused: ApiError,
                  **ctx: Any) -> Response:
    if refused.status == 404:
        raise refused
    return _detail(request, customer, application_id, refused.status,
                   error=errors.text(request, refused.code, refused.key, **refused.params), **ctx)


@router.post("/account/applications/{application_id}/cancel", response_class=HTMLResponse)
async def cancel_page(request: Request, application_id: ApplicationId, customer: Customer,
                      workflows: Workflows) -> Response:
    check_csrf(customer, (await _form(request)).get("csrf_token"))
    try:
        await cancel_application(request, workflows, customer, application_id)
    except ApiError as refused:
        return _refused_page(request, customer, application_id, refused)
    except Refused:
        return _refused_page(request, customer, application_id, ApiError(409, "not_cancellable"))
    return RedirectResponse(f"/account/applications/{application_id}?done=cancelled", status_code=303)


@router.post("/account/applications/{application_id}/replacement", response_class=HTMLResponse)
async def replacement_page(request: Request, application_id: ApplicationId, customer: Customer,
                           workflows: Workflows) -> Response:
    values = await _form(request)
    check_csrf(customer, values.get("csrf_token"))
    csr = values.get("csr", "")
    try:
        body = ReplacementRequest(csr=csr)
    except ValidationError as invalid:
        _own(request, customer, application_id)
        fields = {f["field"]: f["message"] for f in errors.validation_fields(request, invalid.errors())}
        return _detail(request, customer, application_id, 422, replace_errors=fields, replace_csr=csr,
                       error=errors.text(request, "invalid_input"))
    try:
        record = await request_replacement(request, workflows, customer, application_id, body)
    except ApiError as refused:
        return _refused_page(request, customer, application_id, refused, replace_csr=csr)
    except InvalidFields as bad:
        return _detail(request, customer, application_id, 422, replace_csr=csr,
                       replace_errors={"csr": "; ".join(f["message"] for f in bad.fields)},
                       error=errors.text(request, "invalid_input"))
    return RedirectResponse(f"/account/applications/{record.id}?done=replacement", status_code=303)


@router.post("/account/applications/{application_id}/switch", response_class=HTMLResponse)
async def switch_page(request: Request, application_id: ApplicationId, customer: Customer,
                      workflows: Workflows) -> Response:
    values = await _form(request)
    check_csrf(customer, values.get("csrf_token"))
    kept = {"switch_product": values.get("product", ""), "switch_csr": values.get("csr", "")}
    try:
        body = SwitchRequest(product=values.get("product", ""), csr=values.get("csr", ""),
                             revoke_previous=values.get("revoke_previous", ""),
                             agree_terms=values.get("agree_terms", "").lower() in ("on", "true", "1", "yes"))
    except ValidationError as invalid:
        _own(request, customer, application_id)
        fields = {f["field"]: f["message"] for f in errors.validation_fields(request, invalid.errors())}
        return _detail(request, customer, application_id, 422, switch_errors=fields,
                       error=errors.text(request, "invalid_input"), **kept)
    try:
        record = await request_switch(request, workflows, customer, application_id, body)
    except ApiError as refused:
        return _refused_page(request, customer, application_id, refused, **kept)
    except InvalidFields as bad:
        fields = {f["field"].split(".")[0]: f["message"] for f in bad.fields}
        return _detail(request, customer, application_id, 422, switch_errors=fields,
                       error=errors.text(request, "invalid_input"), **kept)
    return RedirectResponse(f"/account/applications/{record.id}?done=switch", status_code=303)
