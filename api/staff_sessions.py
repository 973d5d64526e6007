"""Staff sessions (T-5): log in and out of the desk, as a bearer token (JSON API) or a cookie (pages).

Every attempt is audited by ``api.staff_auth``; a refusal says only "wrong username or
password" or "locked", never which of the two was wrong.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api import sessions, staff_auth
from api.deps import Config, Engine, Staff
from api.errors import error, field_message, text
from api.rendering import desk_page
from api.staff_auth import check_csrf

router = APIRouter()

# A refused login, by its code: the status and the catalogue key of its message.
REFUSALS = {"invalid": (401, "staff_invalid"), "locked": (423, "staff_locked")}
USERNAME_MAX, PASSWORD_MAX = 64, 128


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=USERNAME_MAX)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


def _refusal(refused: staff_auth.LoginRefused) -> tuple[int, str]:
    return REFUSALS.get(refused.code, (401, "staff_invalid"))


@router.post("/api/v1/staff/session")
async def open_session(request: Request, body: Credentials, engine: Engine, settings: Config) -> JSONResponse:
    try:
        token, principal = staff_auth.login(engine, settings, body.username, body.password)
    except staff_auth.LoginRefused as refused:
        status, key = _refusal(refused)
        return error(request, status, refused.code, key=key)
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
async def login(request: Request, engine: Engine, settings: Config, username: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/desk") -> Response:
    page = {"next": _safe_next(next), "username": username[:USERNAME_MAX]}
    if len(username) > USERNAME_MAX or len(password) > PASSWORD_MAX:
        limit = USERNAME_MAX if len(username) > USERNAME_MAX else PASSWORD_MAX
        return desk_page(request, "desk/login.html", None, status=422,
                         error=field_message(request, "string_too_long", {"max_length": limit}), **page)
    try:
        token, _ = staff_auth.login(engine, settings, username, password)
    except staff_auth.LoginRefused as refused:
        status, key = _refusal(refused)
        return desk_page(request, "desk/login.html", None, status=status,
                         error=text(request, refused.code, key), **page)
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
