"""Staff sessions (T-5): log in and out of the desk, as a bearer token (JSON API) or a cookie (pages).

Every attempt is audited by ``api.staff_auth``; a refusal says only "wrong username or
password", never which of the two was wrong. Guesses are throttled (``api.throttle``): 429 with
``Retry-After`` for a name or an address with too many failures, known name or not. A supervisor
can end a name's lock early on ``/desk/locks`` (``certdesk staff unlock`` on the command line).
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine as SqlEngine

from api import sessions, staff_auth, throttle
from api.deps import Config, Engine, Staff, Supervisor
from api.errors import error, field_message, text
from api.rendering import desk_page
from api.staff_auth import StaffPrincipal, check_csrf
from domain.throttle import CUSTOMER, STAFF
from store import accounts
from store import throttle as throttle_counts

router = APIRouter()

USERNAME_MAX, PASSWORD_MAX = 64, 128


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=USERNAME_MAX)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


async def _login(request: Request, username: str, password: str) -> tuple[str, staff_auth.StaffPrincipal]:
    """``staff_auth.login`` behind the throttle (``throttle.Throttled``: too many failures)."""
    return await throttle.password_login(request, STAFF, username, lambda: staff_auth.login(
        request.app.state.engine, request.app.state.settings, username, password))


@router.post("/api/v1/staff/session")
async def open_session(request: Request, body: Credentials) -> JSONResponse:
    try:
        token, principal = await _login(request, body.username, body.password)
    except throttle.Throttled as throttled:
        return throttle.answer(request, throttled)
    except staff_auth.LoginRefused as refused:
        return error(request, 401, refused.code, key="staff_invalid")
    return JSONResponse({"token": token, "username": principal.username, "role": principal.role})


@router.delete("/api/v1/staff/session", status_code=204)
async def close_session(request: Request, staff: Staff, engine: Engine) -> Response:
    header = request.headers.get("authorization", "")
    staff_auth.logout(engine, header[7:].strip())
    return Response(status_code=204)


def _safe_next(target: str) -> str:
    # Only back into the desk: never an open redirect.
    return target if target.startswith("/desk") and not target.startswith("//") else "/desk"


@router.get("/desk/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/desk") -> Response:
    return desk_page(request, "desk/login.html", None, next=_safe_next(next))


@router.post("/desk/login")
async def login(request: Request, settings: Config, username: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/desk") -> Response:
    page = {"next": _safe_next(next), "username": username[:USERNAME_MAX]}
    # Each problem next to its field (field_errors), and above the form by the field's label.
    too_long = {f: field_message(request, "string_too_long", {"max_length": limit})
                for f, value, limit in (("username", username, USERNAME_MAX), ("password", password, PASSWORD_MAX))
                if len(value) > limit}
    if too_long:
        return desk_page(request, "desk/login.html", None, status=422, field_errors=too_long, **page)
    missing = {f: field_message(request, "missing") for f, value in (("username", username.strip()),
                                                                       ("password", password)) if not value}
    if missing:  # nothing to check: not a guess, never counted
        return desk_page(request, "desk/login.html", None, status=422, field_errors=missing, **page)
    try:
        token, _ = await _login(request, username, password)
    except throttle.Throttled as throttled:
        return throttle.as_refusal(desk_page(request, "desk/login.html", None,
                                             error=throttle.message(request, throttled), **page), throttled)
    except staff_auth.LoginRefused as refused:
        return desk_page(request, "desk/login.html", None, status=401,
                         error=text(request, refused.code, "staff_invalid"), **page)
    response = RedirectResponse(page["next"], status_code=303)
    sessions.set_cookie(response, sessions.STAFF, settings.production, token)
    return response


@router.post("/desk/logout")
async def logout(request: Request, staff: Staff, engine: Engine, settings: Config,
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(staff, csrf_token)
    staff_auth.logout(engine, request.cookies.get(staff_auth.cookie_name(settings), ""))
    response = RedirectResponse("/desk/login", status_code=303)
    response.delete_cookie(staff_auth.cookie_name(settings), path="/")
    return response


# --- the supervisor's unlock (issue 14) -------------------------------------------------------------

def _locks_page(request: Request, staff: StaffPrincipal, engine: SqlEngine, status: int = 200,
                **ctx: object) -> Response:
    return desk_page(request, "desk/locks.html", staff, status=status, locked=throttle_counts.locked_names(engine),
                     kinds=(STAFF, CUSTOMER), **ctx)


@router.get("/desk/locks", response_class=HTMLResponse)
async def locks_page(request: Request, staff: Supervisor, engine: Engine, done: str = "") -> Response:
    """Names locked now, each with its unlock button, and a form to unlock a name not listed."""
    return _locks_page(request, staff, engine, done=done == "unlocked")


@router.post("/desk/locks/unlock")
async def unlock(request: Request, staff: Supervisor, engine: Engine, kind: Annotated[str, Form()] = "",
                 name: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    """Ends a staff member's or a customer's login lock once the supervisor knows who is asking; audited."""
    check_csrf(staff, csrf_token)
    kind = kind if kind in (STAFF, CUSTOMER) else STAFF
    try:
        accounts.unlock(engine, kind, name[:USERNAME_MAX], actor=staff.actor)
    except accounts.AccountError:
        return _locks_page(request, staff, engine, 404, error=text(request, "not_found", "no_such_account"),
                           kind=kind, name=name[:USERNAME_MAX])
    return RedirectResponse("/desk/locks?done=unlocked", status_code=303)
