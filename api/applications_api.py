"""Server certificate applications for customers (S-2, S-7 cancel, S-8 download, part of S-10).

Thin: the CSR is checked at once by the PKI core and each problem named; organization and
contacts not given are taken from the saved account info and validated with the same rules;
the record is stored and its ``ServerCertApplication`` workflow started (id ``application-{id}``).
A customer only ever sees their own applications: another's answers 404, as a missing one does.
"""

from typing import Annotated, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.customer_auth import CustomerPrincipal, require_customer
from api.profile_api import load_profile
from api.tasks_api import error
from domain import profile as profiles
from domain.catalog import CATALOG
from domain.pki.csr import parse_csr
from domain.pki.errors import CsrError
from domain.pki.hierarchy import TLS_CA
from domain.settings import calendar_spec
from store import audit, certificates
from store.db import session_scope
from store.models import Application, utcnow
from workflows.server_cert_application import ApplicationInput, ServerCertApplication, workflow_id

router = APIRouter(prefix="/api/v1")
Customer = Annotated[CustomerPrincipal, Depends(require_customer)]


class NewApplication(BaseModel):
    type: str = Field("new", pattern="^new$")  # renewal, reissue and the rest have their own calls
    product: str = Field(min_length=1, max_length=20)
    csr: str = Field(min_length=1, max_length=20000)
    agree_terms: bool = False
    coupon: str | None = Field(None, max_length=40)
    organization: dict[str, Any] = Field(default_factory=dict)
    contacts: dict[str, Any] = Field(default_factory=dict)


def _invalid(fields: list[dict[str, str]]) -> JSONResponse:
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return JSONResponse({"error": "invalid_input", "message": message, "fields": fields}, status_code=422)


def application_json(app: Application) -> dict[str, Any]:
    return {"id": app.id, "type": app.type, "product": app.product, "status": app.status,
            "documents_pending": app.status == "documents_pending", "server_name": app.names[0] if app.names else "",
            "names": app.names, "contract_code": app.contract_code, "serial": app.certificate_serial,
            "created_at": app.created_at.isoformat(), "issued_at": app.issued_at.isoformat() if app.issued_at else None,
            "note": app.note if app.status in ("documents_pending", "rejected") else None,
            "parent_id": app.parent_id, "reason": app.reason,
            "revoke_previous_at": app.revoke_previous_at.isoformat() if app.revoke_previous_at else None}


@router.post("/applications", status_code=201)
async def apply(request: Request, body: NewApplication, customer: Customer) -> JSONResponse:
    problems: list[dict[str, str]] = []
    if body.product not in CATALOG:
        problems.append({"field": "product", "message": f"choose one of: {', '.join(CATALOG)}"})
    if not body.agree_terms:
        problems.append({"field": "agree_terms", "message": "the terms must be agreed to"})
    names: list[str] = []
    try:
        names = list(parse_csr(body.csr).dns_names)
    except CsrError as refused:
        problems.append({"field": f"csr.{refused.field}", "message": refused.message})
    saved = load_profile(request.app.state.engine, customer)
    document = {"reseller_code": saved.get("reseller_code", ""),
                "organization": {**saved.get("organization", {}), **body.organization},
                "contacts": {**saved.get("contacts", {}), **body.contacts}}
    try:
        vetted = profiles.validate(document).document()
    except ValidationError as exc:
        problems += [{"field": e.field, "message": e.message} for e in profiles.field_errors(exc)]
    if problems:
        return _invalid(problems)  # nothing stored, nothing started
    with session_scope(request.app.state.engine) as s:
        app = Application(customer_id=customer.id, type="new", product=body.product, csr_pem=body.csr.strip(),
                          names=names, organization=vetted["organization"], contacts=vetted["contacts"],
                          coupon=body.coupon)
        s.add(app)
        s.flush()
        app.workflow_id = workflow_id(int(app.id or 0))
        audit.record(s, customer.actor, "application.received", f"application:{app.id}", product=body.product,
                     names=names)
    settings = request.app.state.settings
    client = await request.app.state.temporal.client()
    await client.start_workflow(
        ServerCertApplication.run,
        ApplicationInput(int(app.id or 0), customer.id, f"{names[0]} ({body.product})",
                         calendar=calendar_spec(settings)),
        id=app.workflow_id, task_queue=settings.task_queue)
    return JSONResponse({"id": app.id, "status": app.status}, status_code=201)


def own_application(request: Request, customer: CustomerPrincipal, application_id: int) -> Application | None:
    with session_scope(request.app.state.engine) as s:
        app = s.get(Application, application_id)
    return app if app is not None and app.customer_id == customer.id else None


@router.get("/applications")
async def applications(request: Request, customer: Customer) -> list[dict[str, Any]]:
    with session_scope(request.app.state.engine) as s:
        rows = s.exec(select(Application).where(Application.customer_id == customer.id)
                      .order_by(col(Application.created_at).desc(), col(Application.id).desc())).all()
    return [application_json(a) for a in rows]


@router.get("/applications/{application_id}")
async def application(request: Request, application_id: int, customer: Customer) -> Any:
    app = own_application(request, customer, application_id)
    return application_json(app) if app else error(404, "not_found", "no such application")


@router.get("/applications/{application_id}/certificate")
async def certificate(request: Request, application_id: int, customer: Customer) -> Response:
    app = own_application(request, customer, application_id)
    if app is None:
        return error(404, "not_found", "no such application")
    if app.status != "issued" or not app.certificate_serial:
        return error(409, "not_issued", "the certificate has not been issued yet")
    with session_scope(request.app.state.engine) as s:
        row = certificates.known_certificate(s, TLS_CA, app.certificate_serial)
    leaf = x509.load_der_x509_certificate(row.der or b"").public_bytes(Encoding.PEM)
    chain = certificates.ca_certificate(request.app.state.engine, TLS_CA).public_bytes(Encoding.PEM)
    return Response(leaf + chain, media_type="application/pem-certificate-chain",
                    headers={"Content-Disposition": f'attachment; filename="{app.names[0]}.pem"'})


@router.post("/applications/{application_id}/cancel")
async def cancel(request: Request, application_id: int, customer: Customer) -> JSONResponse:
    app = own_application(request, customer, application_id)
    if app is None:
        return error(404, "not_found", "no such application")
    if app.status in ("issued", "rejected", "cancelled"):
        return error(409, "not_cancellable", f"this application is {app.status}")
    client = await request.app.state.temporal.client()
    try:
        await client.get_workflow_handle(app.workflow_id).execute_update(ServerCertApplication.cancel,
                                                                         customer.actor)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        return error(409, "not_cancellable", str(cause.message if isinstance(cause, ApplicationError) else exc))
    return JSONResponse({"id": app.id, "status": "cancelled"})


class RevocationRequest(BaseModel):
    reason: str = Field(pattern="^(content_change|switching|cessation|key_compromise)$")


REVOCATION_RECEIVED = {
    "ja": "失効申請を受け付けました。弊社よりご登録の担当者様にお電話で確認のうえ、失効いたします。",
    "en": "Your revocation request has been received. We will call your registered contact to confirm, "
          "then revoke the certificate.",
}


def _contact(contacts: dict[str, Any]) -> dict[str, Any]:
    # Who support calls: the technical contact, else the registrant, else whoever is registered.
    for role in ("technical", "registrant", "administrative", "contract"):
        if contacts.get(role):
            return contacts[role]
    return {}


@router.post("/applications/{application_id}/revoke", status_code=201)
async def revoke(request: Request, application_id: int, body: RevocationRequest, customer: Customer) -> JSONResponse:
    from api.i18n import request_language
    from workflows.revocation import Revocation, RevocationInput
    from workflows.revocation import workflow_id as revocation_workflow_id

    parent = own_application(request, customer, application_id)
    if parent is None:
        return error(404, "not_found", "no such application")
    if parent.status != "issued" or not parent.certificate_serial:
        return error(409, "not_issued", "only an issued certificate can be revoked")
    with session_scope(request.app.state.engine) as s:
        cert = certificates.known_certificate(s, TLS_CA, parent.certificate_serial)
        if cert.state == "revoked":
            return error(409, "already_revoked", "this certificate is already revoked")
        pending = s.exec(select(Application).where(Application.parent_id == parent.id,
                                                   Application.type == "revocation",
                                                   Application.status == "received")).first()
        if pending is not None:
            return error(409, "revocation_pending", f"revocation {pending.id} is already waiting for our call")
        record = Application(customer_id=customer.id, type="revocation", product=parent.product, csr_pem="",
                             names=parent.names, organization=parent.organization, contacts=parent.contacts,
                             certificate_serial=parent.certificate_serial, parent_id=parent.id, reason=body.reason,
                             contract_code=None)
        s.add(record)
        s.flush()
        record.workflow_id = revocation_workflow_id(int(record.id or 0))
        audit.record(s, customer.actor, "application.revocation_requested", f"application:{record.id}",
                     parent=parent.id, serial=parent.certificate_serial, reason=body.reason)
    contact = _contact(parent.contacts)
    if body.reason == "key_compromise":
        await _take_over_delayed_revocation(request, parent)
    client = await request.app.state.temporal.client()
    await client.start_workflow(
        Revocation.run,
        RevocationInput(int(record.id or 0), customer.id, parent.certificate_serial, body.reason,
                        f"{parent.names[0]} ({body.reason})", str(contact.get("name", "")),
                        str(contact.get("phone", ""))),
        id=record.workflow_id, task_queue=request.app.state.settings.task_queue)
    lang = request_language(request)
    return JSONResponse({**application_json(record), "message": REVOCATION_RECEIVED[lang]}, status_code=201)


class ReissueRequest(BaseModel):
    csr: str = Field(min_length=1, max_length=20000)
    revoke_previous: str = Field(pattern="^(immediately|after_two_weeks)$")


@router.post("/applications/{application_id}/reissue", status_code=201)
async def reissue(request: Request, application_id: int, body: ReissueRequest, customer: Customer) -> JSONResponse:
    from workflows.reissue import Reissue, ReissueInput
    from workflows.reissue import workflow_id as reissue_workflow_id

    settings = request.app.state.settings
    parent = own_application(request, customer, application_id)
    if parent is None:
        return error(404, "not_found", "no such application")
    # The manual's refusals, in its order.
    if parent.type == "contact_change":
        return error(409, "not_reissuable", "a contact change record cannot be reissued")
    if parent.status != "issued" or parent.issued_at is None or not parent.certificate_serial:
        return error(409, "not_issued", "only an issued certificate can be reissued")
    if utcnow() - parent.issued_at > settings.reissue_window:
        days = settings.reissue_window.days
        return error(409, "reissue_window_closed", f"a reissue is only possible within {days} days of issuance")
    with session_scope(request.app.state.engine) as s:
        cert = certificates.known_certificate(s, TLS_CA, parent.certificate_serial)
        earlier = s.exec(select(Application).where(Application.parent_id == parent.id,
                                                   Application.type == "reissue")).first()
    if cert.state == "revoked":
        return error(409, "already_revoked", "this certificate is revoked; apply for a new one")
    if earlier is not None:
        return error(409, "already_reissued", f"this certificate was already reissued (application {earlier.id})")
    if CATALOG[parent.product].reissue_limit == 1 and parent.type == "reissue":
        return error(409, "ev_reissued_once", "an EV certificate can only be reissued once")
    try:
        names = list(parse_csr(body.csr).dns_names)
    except CsrError as refused:
        return _invalid([{"field": f"csr.{refused.field}", "message": refused.message}])
    with session_scope(request.app.state.engine) as s:
        record = Application(customer_id=customer.id, type="reissue", product=parent.product, csr_pem=body.csr.strip(),
                             names=names, organization=parent.organization, contacts=parent.contacts,
                             parent_id=parent.id, reason=body.revoke_previous)
        s.add(record)
        s.flush()
        record.workflow_id = reissue_workflow_id(int(record.id or 0))
        audit.record(s, customer.actor, "application.reissue_requested", f"application:{record.id}",
                     parent=parent.id, revoke_previous=body.revoke_previous)
    client = await request.app.state.temporal.client()
    await client.start_workflow(
        Reissue.run,
        ReissueInput(int(record.id or 0), customer.id, parent.certificate_serial, body.revoke_previous,
                     settings.delayed_revocation.total_seconds(), customer.actor),
        id=record.workflow_id, task_queue=settings.task_queue)
    return JSONResponse(application_json(record), status_code=201)


async def _take_over_delayed_revocation(request: Request, parent: Application) -> None:
    """A key-compromise revocation of a certificate waiting for its delayed revocation stops the wait."""
    with session_scope(request.app.state.engine) as s:
        waiting = s.exec(select(Application).where(Application.parent_id == parent.id, Application.type == "reissue",
                                                   Application.reason == "after_two_weeks")).all()
    client = await request.app.state.temporal.client()
    for record in waiting:
        try:
            await client.get_workflow_handle(record.workflow_id).signal("previous_revocation_taken_over")
        except RPCError:
            pass  # that wait is over already; revoking again is a no-op in the CA
