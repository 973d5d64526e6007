"""The portal's login certificate for a new person in charge (S-12, manual FAQ Q2), opened by staff.

「新しい担当者へログイン証明書を再発行します。特約店コードおよびご利用のアクセスキーを弊社までご連絡ください。」
The customer calls; staff enter the access key, the 特約店コード the caller gives, and the new
person's name and address, on the desk's form or as JSON. That opens a support task (the identity
check) in ``PortalLoginHandover``; the rest is the workflow's.

One open handover per account: a second is refused (409) until the first has ended. An unknown
access key is said as such (staff may know which keys exist).
"""

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine as SqlEngine

from api import tasks as desk
from api.deps import Engine, Staff, Workflows
from api.enrollments import CertificateName, Email, Language
from api.errors import error, validation_fields
from api.i18n import messages
from api.staff_auth import StaffPrincipal, check_csrf
from domain.profile import ResellerCode
from processes import login_certificates as process
from processes.client import Processes
from store import accounts

router = APIRouter()


class HandoverRequest(BaseModel):
    access_key: str = Field(pattern=r"^\d{8}$")
    reseller_code: ResellerCode = ""  # as the caller gave it; staff compare it with the one on file
    name: CertificateName  # the new person in charge
    email: Email
    language: Language = "ja"


async def _open(engine: SqlEngine, processes: Processes, staff: StaffPrincipal, body: HandoverRequest) -> str:
    """``opened``, ``no_such_customer`` or ``handover_open``; ``Unavailable`` when Temporal cannot take it."""
    customer = accounts.reset_target(engine, body.access_key, None)
    if customer is None:
        return "no_such_customer"
    started = await process.start_handover(processes, customer.id, secrets.token_hex(4), body.name, body.email,
                                           body.reseller_code, staff.actor, body.language)
    return "opened" if started else "handover_open"


@router.post("/api/v1/staff/login-handovers", status_code=202)
async def open_json(request: Request, body: HandoverRequest, staff: Staff, engine: Engine,
                    processes: Workflows) -> JSONResponse:
    outcome = await _open(engine, processes, staff, body)
    if outcome == "no_such_customer":
        return error(request, 404, "not_found", key="no_such_customer")
    if outcome == "handover_open":
        return error(request, 409, "handover_open")
    return JSONResponse({"status": "verification_pending"}, status_code=202)


@router.post("/desk/login-handovers")
async def open_form(request: Request, staff: Staff, engine: Engine, processes: Workflows,
                    access_key: Annotated[str, Form()] = "", reseller_code: Annotated[str, Form()] = "",
                    name: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
                    language: Annotated[str, Form()] = "ja", csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(staff, csrf_token)
    values = {"access_key": access_key[:8], "reseller_code": reseller_code[:40], "name": name[:64],
              "email": email[:254], "language": language if language in ("ja", "en") else "ja"}
    try:
        body = HandoverRequest(access_key=access_key, reseller_code=reseller_code, name=name, email=email,
                               language=language)
    except ValidationError as exc:  # said next to each field; nothing looked up or started
        errors = {f["field"]: f["message"] for f in validation_fields(request, exc.errors())}
        return desk.inbox_page(request, staff, engine, status=422, handover=values, handover_errors=errors)
    outcome = await _open(engine, processes, staff, body)
    if outcome != "opened":
        t = messages(request)
        field = "access_key"
        text = t(f"err_{outcome}")
        return desk.inbox_page(request, staff, engine, status=404 if outcome == "no_such_customer" else 409,
                               handover=values, handover_errors={field: text})
    return RedirectResponse("/desk?msg=handover_opened", status_code=303)
