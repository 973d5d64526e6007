"""The tenant API (L-1, L-3): invite users, follow enrollments, reissue and revoke login certificates.

A tenant sees only its own users: anything else is 404, never 403, so ids are not probed. When
Temporal cannot take a request, it is answered 503 (``processes.client.Unavailable``) and the
enrollment row made for it is taken away again: nothing half-made is left.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError
from sqlalchemy import Engine as SqlEngine
from sqlmodel import col, select

from api.deps import Config, Engine, Tenant, Workflows
from api.errors import error
from api.tenant_auth import TenantPrincipal
from domain import enrollment as e
from domain import secret_hashing
from domain.email_address import NotAnEmailAddress, normalise_email
from domain.pki.hierarchy import CLIENT_CA
from domain.settings import Settings
from processes import login_certificates as process
from store import audit, certificates, devices, login_users
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import Enrollment, LoginUser, utcnow
from store.models import Tenant as TenantRow

router = APIRouter(prefix="/api/v1")

SERIAL = re.compile(r"^[0-9a-f]{1,40}$")
RECENT_ENROLLMENTS = 10
REVOCATION_REASONS = ("unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation")


def _email(value: str) -> str:
    try:
        return normalise_email(value)  # stored and mailed to: the address alone
    except NotAnEmailAddress:
        raise ValueError("not_email") from None


def _certificate_name(value: str) -> str:
    name = e.normalise_certificate_name(value)
    problem = e.certificate_name_problem(name)
    if problem is not None:
        raise PydanticCustomError(problem[0], "the certificate name is refused", problem[1])
    return name


# A person a login certificate is for: where its mails go, and the name (CN) it carries.
Email = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_email)]
CertificateName = Annotated[str, Field(min_length=1, max_length=64,
                                       description="the certificate name (CN) the user will see"),
                            AfterValidator(_certificate_name)]
Language = Annotated[str, Field(pattern="^(ja|en)$")]


class Invitation(BaseModel):
    user_id: str = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
                         description="the website's own id for the user (printable ASCII)")
    email: Email
    name: CertificateName
    language: Language = "ja"


class ReissueRequest(BaseModel):
    revoke_old: str = Field("on_download", pattern="^(on_download|immediately)$")


class RevocationRequest(BaseModel):
    reason: str = Field("unspecified", pattern="^(" + "|".join(REVOCATION_REASONS) + ")$")


def link(settings: Settings, path: str, public_id: str) -> str:
    token = e.link_token(e.link_key(store_passphrase.passphrase(settings)), public_id)
    return f"{settings.resolved_public_url}/{path}/{token}"


def enrollment_view(row: Enrollment) -> dict[str, Any]:
    return {"id": row.public_id, "kind": row.kind, "user_id": row.user_id, "status": row.state,
            "expires_at": row.expires_at.isoformat(), "certificate_serial": row.certificate_serial,
            "download_expires_at": row.download_expires_at.isoformat() if row.download_expires_at else None}


def _store(engine: SqlEngine, row: Enrollment, actor: str, action: str, **details: Any) -> int:
    with session_scope(engine) as s:
        s.add(row)
        s.flush()
        audit.record(s, actor, action, f"enrollment:{row.public_id}", **details)
        return int(row.id or 0)


def _forget(engine: SqlEngine, enrollment_id: int) -> None:
    """The rollback of a start Temporal could not take: the row goes again, the audit says so."""
    with session_scope(engine) as s:
        row = s.get(Enrollment, enrollment_id)
        if row is not None:
            audit.record(s, "system", "enrollment.not_started", f"enrollment:{row.public_id}")
            s.delete(row)


def _registrations(engine: SqlEngine, tenant: TenantPrincipal, user_id: str) -> tuple[str, list[str]]:
    """What a new invitation follows (the newest registration's public id; for a user's first,
    the tenant's creation time, so a fresh database never meets an old run's id) and the
    workflows of the open registrations, read at once."""
    with session_scope(engine) as s:
        rows = s.exec(select(Enrollment.public_id, Enrollment.workflow_id, Enrollment.state).where(
            Enrollment.tenant_id == tenant.id, Enrollment.user_id == user_id,
            Enrollment.kind == "registration",  # a device the user added is no invitation (L-4)
            col(Enrollment.id).not_in(devices.device_enrollments())).order_by(col(Enrollment.id))).all()
        created = s.exec(select(TenantRow.created_at).where(TenantRow.id == tenant.id)).one()
    predecessor = rows[-1][0] if rows else f"first-{created.strftime('%Y%m%d%H%M%S%f')}"
    return predecessor, [w for _, w, state in rows if state not in e.ENDED]


@router.post("/enrollments", status_code=201)
async def invite(request: Request, body: Invitation, tenant: Tenant, engine: Engine, settings: Config,
                 processes: Workflows) -> JSONResponse:
    """A new invitation replaces the user's open one. One made while another for the same user
    is being made is refused (409 ``invitation_in_progress``), with nothing stored: a user has
    at most one open registration (the workflow id is per predecessor)."""
    predecessor, open_ones = _registrations(engine, tenant, body.user_id)
    for workflow_id in open_ones:
        if not await process.replace(processes, workflow_id):
            return error(request, 409, "invitation_in_progress")
    otp = e.new_otp()
    otp_hash = secret_hashing.hash_code(store_passphrase.hashing_keys(settings), otp)  # keyed: microseconds
    expires_at = utcnow().replace(microsecond=0) + settings.otp_ttl
    public_id = e.new_public_id()
    workflow_id = process.registration_workflow_id(tenant.id, body.user_id, predecessor)
    enrollment_id = _store(engine, Enrollment(
        public_id=public_id, kind="registration", tenant_id=tenant.id, user_id=body.user_id, email=body.email,
        certificate_name=body.name, language=body.language, otp_hash=otp_hash, expires_at=expires_at,
        workflow_id=workflow_id), tenant.actor, "enrollment.invited", user_id=body.user_id)
    if not await process.start_registration(processes, enrollment_id, workflow_id,
                                            lambda: _forget(engine, enrollment_id)):
        _forget(engine, enrollment_id)  # a concurrent invitation for the same user won
        return error(request, 409, "invitation_in_progress")
    return JSONResponse({"id": public_id, "enrollment_url": link(settings, "enroll", public_id),
                         "one_time_password": otp, "expires_at": expires_at.isoformat()}, status_code=201)


@router.get("/enrollments/{public_id}")
async def enrollment_status(request: Request, public_id: str, tenant: Tenant, engine: Engine) -> JSONResponse:
    with session_scope(engine) as s:
        row = s.exec(select(Enrollment).where(Enrollment.public_id == public_id)).first()
        if row is None or row.tenant_id != tenant.id:
            return error(request, 404, "not_found", key="enrollment_not_found")
        return JSONResponse(enrollment_view(row))


def _own_certificate(engine: SqlEngine, tenant: TenantPrincipal, serial: str) -> tuple[LoginUser, str] | None:
    """The user whose current certificate this is (any of their devices', L-4), and its state."""
    if not SERIAL.match(serial):
        return None
    with session_scope(engine) as s:
        user = login_users.user_for_certificate(s, serial)
        if user is None or user.tenant_id != tenant.id:
            return None
        cert = certificates.known_certificate(s, CLIENT_CA, serial)
        return user, cert.state


@router.get("/login-users/{user_id}")
async def login_user(request: Request, user_id: str, tenant: Tenant, engine: Engine) -> JSONResponse:
    """A user as the website knows them: the certificate in use (its serial is what reissue and
    revoke take) and the latest enrollments, newest first."""
    with session_scope(engine) as s:
        user = s.exec(select(LoginUser).where(LoginUser.tenant_id == tenant.id, LoginUser.user_id == user_id)).first()
        if user is None:
            return error(request, 404, "not_found", key="login_user_not_found")
        cert = certificates.certificate_record(s, CLIENT_CA, user.certificate_serial)
        recent = s.exec(select(Enrollment).where(Enrollment.tenant_id == tenant.id, Enrollment.user_id == user_id)
                        .order_by(col(Enrollment.id).desc()).limit(RECENT_ENROLLMENTS)).all()
        certificate = None if cert is None else {
            "serial": cert.serial, "status": cert.state, "revocation_reason": cert.revocation_reason,
            "not_before": cert.not_before.isoformat() if cert.not_before else None,
            "not_after": cert.not_after.isoformat() if cert.not_after else None}
        return JSONResponse({"user_id": user.user_id, "email": user.email, "name": user.certificate_name,
                             "certificate": certificate, "enrollments": [enrollment_view(r) for r in recent]})


def _pending_reissue(engine: SqlEngine, user: LoginUser) -> str | None:
    with session_scope(engine) as s:
        pending = s.exec(select(Enrollment).where(Enrollment.login_user_id == user.id, Enrollment.kind == "reissue",
                                                  col(Enrollment.state).not_in(e.REISSUE_ENDED))).first()
        return pending.public_id if pending is not None else None


@router.post("/login-certificates/{serial}/reissue", status_code=201)
async def reissue(request: Request, serial: str, body: ReissueRequest, tenant: Tenant, engine: Engine,
                  settings: Config, processes: Workflows) -> JSONResponse:
    found = _own_certificate(engine, tenant, serial)
    if found is None:
        return error(request, 404, "not_found", key="login_certificate_not_found")
    user, state = found
    if user.answer_hash is None:
        return error(request, 409, "not_registered")
    pending = _pending_reissue(engine, user)
    if pending is not None:
        return error(request, 409, "reissue_pending", id=pending)
    public_id = e.new_public_id()
    expires_at = utcnow().replace(microsecond=0) + settings.reissue_ttl
    enrollment_id = _store(engine, Enrollment(
        public_id=public_id, kind="reissue", tenant_id=tenant.id, user_id=user.user_id, email=user.email,
        certificate_name=user.certificate_name, language=user.language, login_user_id=user.id, state=e.ANSWER,
        expires_at=expires_at, previous_serial=serial, revoke_old=body.revoke_old,
        workflow_id=process.reissue_workflow_id(public_id)), tenant.actor, "enrollment.reissue_requested",
        serial=serial, revoke_old=body.revoke_old, certificate_state=state)
    await process.start_reissue(processes, enrollment_id, public_id, f"{tenant.name} / {user.user_id}", serial,
                                body.revoke_old, lambda: _forget(engine, enrollment_id))
    return JSONResponse({"id": public_id, "kind": "reissue", "status": e.ANSWER, "revoke_old": body.revoke_old,
                         "expires_at": expires_at.isoformat()}, status_code=201)


@router.post("/login-certificates/{serial}/revoke")
async def revoke(request: Request, serial: str, body: RevocationRequest, tenant: Tenant, engine: Engine,
                 processes: Workflows) -> JSONResponse:
    found = _own_certificate(engine, tenant, serial)
    if found is None:
        return error(request, 404, "not_found", key="login_certificate_not_found")
    if found[1] == "revoked":
        return error(request, 409, "already_revoked")
    await process.revoke(processes, serial, body.reason, tenant.actor)
    return JSONResponse({"serial": serial, "status": "revoked", "reason": body.reason})
