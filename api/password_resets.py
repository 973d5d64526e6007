"""Password resets (S-11, T-1): asked for by the customer (page and JSON), or opened by staff
on the phone (JSON and the desk's form). All four go through ``open_reset``.

The customer is promised a date counted on the business calendar, and the answer is the same
whether or not the access key exists (and the email matches): nobody learns which keys exist.
When Temporal cannot take the reset, every one of them answers 503 and nothing is left behind,
again whether or not the account exists. A customer's request does the same work either way
(``store.accounts.reset_target``) and is answered no sooner than ``ANSWER_FLOOR`` after it came,
so that starting a workflow (a matching key and address) and not starting one take as long. Every
request counts against the caller's address (``api.throttle``): 429 with ``Retry-After`` beyond it.
"""

import asyncio
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Engine as SqlEngine

from api import tasks as desk
from api import throttle
from api.deps import Engine, Staff, Workflows
from api.errors import error
from api.i18n import messages
from api.rendering import render
from api.staff_auth import check_csrf
from domain.email_address import is_email
from domain.settings import Settings, calendar_spec
from domain.throttle import RESET
from processes import accounts as account_process
from processes.client import Processes
from store import accounts
from store import tasks as task_store

router = APIRouter()

ACCESS_KEY = r"^\d{8}$"
EMAIL_MAX = 254
# Seconds a customer's request is answered after, at the soonest: well above a workflow start (~10 ms).
ANSWER_FLOOR = 0.25


class ResetBody(BaseModel):
    access_key: str = Field(pattern=ACCESS_KEY)
    email: str = Field(min_length=3, max_length=EMAIL_MAX)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        # The format only: refused before any look-up, so it says nothing about which accounts exist.
        if not is_email(value):
            raise ValueError("not_email")
        return value


class StaffResetRequest(BaseModel):
    access_key: str = Field(pattern=ACCESS_KEY)


# --- the service -----------------------------------------------------------------------------------

def promised_date(settings: Settings) -> str:
    """The date a reset asked for now is promised by: ``password_reset_business_days`` business days on."""
    cal = calendar_spec(settings).to_calendar()
    now = datetime.now().astimezone().replace(second=0, microsecond=0)  # promises are made to the minute
    return cal.local_date(cal.add_business_days(now, settings.password_reset_business_days)).isoformat()


async def open_reset(engine: SqlEngine, processes: Processes, access_key: str, requested_by: str,
                     email: str | None = None) -> str | None:
    """Starts the account's reset, or joins the one already open; the date promised.

    None when there is no such account (given ``email``: none with that address); then nothing
    was asked of Temporal. ``Unavailable`` when Temporal cannot take it: nothing was started.
    """
    customer = accounts.reset_target(engine, access_key, email)
    if customer is None:
        return None
    customer_id = customer.id
    promised = promised_date(processes.settings)
    await account_process.start_password_reset(processes, customer_id, customer.access_key, customer.organization,
                                               requested_by)
    # Joined an open reset: its task holds the date promised when it was opened.
    open_tasks = task_store.list_tasks(engine, state="active", kind="password_reset",
                                       subject=f"customer:{customer_id}")
    return open_tasks[0].facts.get("expected_by", promised) if open_tasks else promised


async def _customer_asks(request: Request, engine: SqlEngine, processes: Processes, access_key: str,
                         email: str) -> str:
    """The date promised; ``throttle.Throttled`` beyond the address's requests."""
    throttle.check(request, RESET)
    throttle.failed(request, RESET)  # every request counts: each may open a task for staff
    began = time.monotonic()
    try:
        promised = await open_reset(engine, processes, access_key, "customer", email)
        if promised is None:
            # No such account: the same answer as for one, down to the 503 while Temporal is away.
            await account_process.check_reset_possible(processes)
            promised = promised_date(processes.settings)
        return promised
    finally:
        await asyncio.sleep(max(0.0, ANSWER_FLOOR - (time.monotonic() - began)))


def _valid_access_key(access_key: str) -> bool:
    return len(access_key) == 8 and access_key.isdigit()


# --- the customer: page and JSON ---------------------------------------------------------------------

@router.get("/password-reset", response_class=HTMLResponse)
async def reset_page(request: Request) -> Response:
    return render(request, "portal/reset.html")


@router.post("/password-reset", response_class=HTMLResponse)
async def reset(request: Request, engine: Engine, processes: Workflows, access_key: Annotated[str, Form()] = "",
                email: Annotated[str, Form()] = "") -> Response:
    if not _valid_access_key(access_key) or len(email) > EMAIL_MAX or not is_email(email):
        response = render(request, "portal/reset.html", access_key=access_key[:8], email=email[:EMAIL_MAX],
                          error="bad_input")
        response.status_code = 422
        return response
    try:
        promised = await _customer_asks(request, engine, processes, access_key, email)
    except throttle.Throttled as too_many:
        return throttle.as_refusal(render(request, "portal/reset.html", access_key=access_key, email=email,
                                          error="too_many_attempts", error_text=throttle.message(request, too_many)),
                                   too_many)
    return render(request, "portal/reset_done.html", expected_by=promised)


@router.post("/api/v1/password-resets", status_code=202)
async def reset_json(request: Request, body: ResetBody, engine: Engine, processes: Workflows) -> JSONResponse:
    try:
        promised = await _customer_asks(request, engine, processes, body.access_key, body.email)
    except throttle.Throttled as too_many:
        return throttle.answer(request, too_many)
    return JSONResponse({"expected_by": promised}, status_code=202)


# --- staff: JSON and the desk's phone form ----------------------------------------------------------

@router.post("/api/v1/staff/password-resets", status_code=202)
async def staff_reset_json(request: Request, body: StaffResetRequest, staff: Staff, engine: Engine,
                           processes: Workflows) -> JSONResponse:
    promised = await open_reset(engine, processes, body.access_key, staff.actor)
    if promised is None:
        return error(request, 404, "not_found", key="no_such_customer")  # staff may know this
    return JSONResponse({"expected_by": promised}, status_code=202)


@router.post("/desk/password-resets")
async def staff_reset_form(request: Request, staff: Staff, engine: Engine, processes: Workflows,
                           access_key: Annotated[str, Form()] = "",
                           csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(staff, csrf_token)
    if not _valid_access_key(access_key):  # said next to the field; nothing looked up or started
        return desk.inbox_page(request, staff, engine, status=422, access_key=access_key[:8] if
                               access_key[:8].isdigit() else "", reset_error=messages(request)("err_bad_access_key"))
    promised = await open_reset(engine, processes, access_key, staff.actor)
    if promised is None:
        return RedirectResponse("/desk?msg=no_such_customer", status_code=303)
    return RedirectResponse(f"/desk?msg=reset_started&date={promised}", status_code=303)
