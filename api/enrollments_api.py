"""The tenant API (L-1, L-3): invite users, follow enrollments, reissue and revoke login certificates.

A tenant sees only its own users: anything else is 404, never 403, so ids are not probed.
"""

import asyncio
import logging
import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.login_certificates import LoginRevocation
from api.tenant_auth import TenantPrincipal, require_tenant
from domain import enrollment as e
from domain.credentials import hash_password
from domain.pki.hierarchy import CLIENT_CA
from domain.settings import Settings, calendar_spec
from store import audit, certificates
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import Enrollment, LoginUser, utcnow
from workflows import login_registration, login_reissue, login_revocation
from workflows.login_delivery import DeliveryTerms
from workflows.login_registration import LoginCertRegistration, RegistrationInput
from workflows.login_reissue import LoginCertReissue, LoginReissueInput
from workflows.login_revocation import LoginCertRevocation

router = APIRouter(prefix="/api/v1")
log = logging.getLogger("certdesk.api.enrollments")
Tenant = Annotated[TenantPrincipal, Depends(require_tenant)]

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SERIAL = re.compile(r"^[0-9a-f]{1,40}$")
RECENT_ENROLLMENTS = 10
REVOCATION_REASONS = ("unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation")


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


# Temporal unreachable (connect) or refusing (RPC): the tenant is told to retry; nothing is kept.
TEMPORAL_DOWN = (RPCError, RuntimeError, TimeoutError, OSError)


def unavailable() -> JSONResponse:
    return error(503, "unavailable", "the service cannot do this now; nothing was created, try again shortly")


class Invitation(BaseModel):
    user_id: str = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
                         description="the website's own id for the user (printable ASCII)")
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=64, description="the certificate name (CN) the user will see")
    language: str = Field("ja", pattern="^(ja|en)$")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip() or any(ord(c) < 0x20 or c == "\x7f" for c in value):
            raise ValueError("must be printable text")
        return value.strip()


class ReissueRequest(BaseModel):
    revoke_old: str = Field("on_download", pattern="^(on_download|immediately)$")


class RevocationRequest(BaseModel):
    reason: str = Field("unspecified", pattern="^(" + "|".join(REVOCATION_REASONS) + ")$")


def terms(settings: Settings) -> DeliveryTerms:
    return DeliveryTerms(settings.download_ttl.total_seconds(), settings.download_max_attempts)


def link(settings: Settings, path: str, public_id: str) -> str:
    token = e.link_token(e.link_key(store_passphrase.passphrase(settings)), public_id)
    return f"{settings.resolved_public_url}/{path}/{token}"


def enrollment_view(row: Enrollment) -> dict[str, Any]:
    return {"id": row.public_id, "kind": row.kind, "user_id": row.user_id, "status": row.state,
            "expires_at": row.expires_at.isoformat(), "certificate_serial": row.certificate_serial,
            "download_expires_at": row.download_expires_at.isoformat() if row.download_expires_at else None}


async def _replace_open(request: Request, tenant: TenantPrincipal, user_id: str) -> None:
    """A new invitation replaces the open one: its steps are refused from now on."""
    with session_scope(request.app.state.engine) as s:
        open_ids = s.exec(select(Enrollment.workflow_id).where(
            Enrollment.tenant_id == tenant.id, Enrollment.user_id == user_id, Enrollment.kind == "registration",
            col(Enrollment.state).not_in(e.ENDED))).all()
    if not open_ids:
        return
    client = await request.app.state.temporal.client()
    for workflow_id in open_ids:
        try:
            await client.get_workflow_handle(workflow_id).execute_update(LoginCertRegistration.replace)
        except WorkflowUpdateFailedError:
            pass  # already finished
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise


async def _start(request: Request, enrollment_id: int, run: Any, arg: Any, workflow_id: str) -> JSONResponse | None:
    """Starts the enrollment's workflow; if Temporal cannot take it, the row goes again (nothing
    half-made is left) and the tenant is told to retry. None when it started."""
    settings: Settings = request.app.state.settings
    try:
        client = await request.app.state.temporal.client()
        await client.start_workflow(run, arg, id=workflow_id, task_queue=settings.task_queue,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except TEMPORAL_DOWN as exc:
        log.warning("enrollment %s not started: %s", enrollment_id, type(exc).__name__)
        with session_scope(request.app.state.engine) as s:
            row = s.get(Enrollment, enrollment_id)
            if row is not None:
                audit.record(s, "system", "enrollment.not_started", f"enrollment:{row.public_id}")
                s.delete(row)
        return unavailable()
    return None


@router.post("/enrollments", status_code=201)
async def invite(request: Request, body: Invitation, tenant: Tenant) -> JSONResponse:
    settings: Settings = request.app.state.settings
    try:
        await _replace_open(request, tenant, body.user_id)
    except TEMPORAL_DOWN:
        return unavailable()
    otp = e.new_otp()
    otp_hash = await asyncio.to_thread(hash_password, otp)
    expires_at = utcnow().replace(microsecond=0) + settings.otp_ttl
    public_id = e.new_public_id()
    wid = login_registration.workflow_id(public_id)
    with session_scope(request.app.state.engine) as s:
        row = Enrollment(public_id=public_id, kind="registration", tenant_id=tenant.id, user_id=body.user_id,
                         email=body.email, certificate_name=body.name, language=body.language, otp_hash=otp_hash,
                         expires_at=expires_at, workflow_id=wid)
        s.add(row)
        s.flush()
        enrollment_id = int(row.id or 0)
        audit.record(s, tenant.actor, "enrollment.invited", f"enrollment:{public_id}", user_id=body.user_id)
    refused = await _start(request, enrollment_id, LoginCertRegistration.run, RegistrationInput(
        enrollment_id, settings.otp_ttl.total_seconds(), settings.otp_max_attempts, terms(settings)), wid)
    if refused is not None:
        return refused
    return JSONResponse({"id": public_id, "enrollment_url": link(settings, "enroll", public_id),
                         "one_time_password": otp, "expires_at": expires_at.isoformat()}, status_code=201)


def _own_enrollment(request: Request, tenant: TenantPrincipal, public_id: str) -> Enrollment | None:
    with session_scope(request.app.state.engine) as s:
        row = s.exec(select(Enrollment).where(Enrollment.public_id == public_id)).first()
        return row if row is not None and row.tenant_id == tenant.id else None


@router.get("/enrollments/{public_id}")
async def enrollment_status(request: Request, public_id: str, tenant: Tenant) -> JSONResponse:
    row = _own_enrollment(request, tenant, public_id)
    if row is None:
        return error(404, "not_found", "no such enrollment")
    return JSONResponse(enrollment_view(row))


def _own_certificate(request: Request, tenant: TenantPrincipal, serial: str) -> tuple[LoginUser, str] | None:
    """The user whose current certificate this is, and the certificate's state."""
    with session_scope(request.app.state.engine) as s:
        user = s.exec(select(LoginUser).where(LoginUser.tenant_id == tenant.id,
                                              LoginUser.certificate_serial == serial)).first()
        if user is None:
            return None
        cert = certificates.known_certificate(s, CLIENT_CA, serial)
        return user, cert.state


@router.get("/login-users/{user_id}")
async def login_user(request: Request, user_id: str, tenant: Tenant) -> JSONResponse:
    """A user as the website knows them: the certificate in use (its serial is what reissue and
    revoke take) and the latest enrollments, newest first."""
    with session_scope(request.app.state.engine) as s:
        user = s.exec(select(LoginUser).where(LoginUser.tenant_id == tenant.id, LoginUser.user_id == user_id)).first()
        if user is None:
            return error(404, "not_found", "no registered user of yours has this user_id")
        cert = certificates.certificate_record(s, CLIENT_CA, user.certificate_serial)
        recent = s.exec(select(Enrollment).where(Enrollment.tenant_id == tenant.id, Enrollment.user_id == user_id)
                        .order_by(col(Enrollment.id).desc()).limit(RECENT_ENROLLMENTS)).all()
        certificate = None if cert is None else {
            "serial": cert.serial, "status": cert.state, "revocation_reason": cert.revocation_reason,
            "not_before": cert.not_before.isoformat() if cert.not_before else None,
            "not_after": cert.not_after.isoformat() if cert.not_after else None}
        return JSONResponse({"user_id": user.user_id, "email": user.email, "name": user.certificate_name,
                             "certificate": certificate, "enrollments": [enrollment_view(r) for r in recent]})


@router.post("/login-certificates/{serial}/reissue", status_code=201)
async def reissue(request: Request, serial: str, body: ReissueRequest, tenant: Tenant) -> JSONResponse:
    settings: Settings = request.app.state.settings
    found = _own_certificate(request, tenant, serial) if SERIAL.match(serial) else None
    if found is None:
        return error(404, "not_found", "no login certificate of yours has this serial (lowercase hex)")
    user, state = found
    if user.answer_hash is None:
        return error(409, "not_registered", "this user has not set a secret question")
    with session_scope(request.app.state.engine) as s:
        pending = s.exec(select(Enrollment).where(Enrollment.login_user_id == user.id, Enrollment.kind == "reissue",
                                                  col(Enrollment.state).not_in(e.REISSUE_ENDED))).first()
        if pending is not None:
            return error(409, "reissue_pending", f"a reissue is already in progress ({pending.public_id})")
    public_id = e.new_public_id()
    wid = login_reissue.workflow_id(public_id)
    expires_at = utcnow().replace(microsecond=0) + settings.reissue_ttl
    with session_scope(request.app.state.engine) as s:
        row = Enrollment(public_id=public_id, kind="reissue", tenant_id=tenant.id, user_id=user.user_id,
                         email=user.email, certificate_name=user.certificate_name, language=user.language,
                         login_user_id=user.id, state=e.ANSWER, expires_at=expires_at, previous_serial=serial,
                         revoke_old=body.revoke_old, workflow_id=wid)
        s.add(row)
        s.flush()
        enrollment_id = int(row.id or 0)
        audit.record(s, tenant.actor, "enrollment.reissue_requested", f"enrollment:{public_id}",
                     serial=serial, revoke_old=body.revoke_old, certificate_state=state)
    refused = await _start(request, enrollment_id, LoginCertReissue.run, LoginReissueInput(
        enrollment_id, public_id, f"{tenant.name} / {user.user_id}", serial, body.revoke_old,
        settings.reissue_ttl.total_seconds(), settings.secret_answer_max_attempts, terms(settings),
        calendar_spec(settings)), wid)
    if refused is not None:
        return refused
    return JSONResponse({"id": public_id, "kind": "reissue", "status": e.ANSWER, "revoke_old": body.revoke_old,
                         "expires_at": expires_at.isoformat()}, status_code=201)


@router.post("/login-certificates/{serial}/revoke")
async def revoke(request: Request, serial: str, body: RevocationRequest, tenant: Tenant) -> JSONResponse:
    settings: Settings = request.app.state.settings
    found = _own_certificate(request, tenant, serial) if SERIAL.match(serial) else None
    if found is None:
        return error(404, "not_found", "no login certificate of yours has this serial (lowercase hex)")
    if found[1] == "revoked":
        return error(409, "already_revoked", "this certificate is already revoked")
    client = await request.app.state.temporal.client()
    await client.execute_workflow(
        LoginCertRevocation.run, LoginRevocation(serial, body.reason, tenant.actor),
        id=login_revocation.workflow_id(serial), task_queue=settings.task_queue,
        execution_timeout=timedelta(minutes=5))
    return JSONResponse({"serial": serial, "status": "revoked", "reason": body.reason})
