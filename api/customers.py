"""The customer's own account (S-1, S-11): the session (JSON and the login page), the portal's
home, and the password change that the initial password requires first.

Forgotten or locked passwords are ``api.password_resets``; applications ``api.applications``.
"""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api import client_certs, customer_auth, hashing_pool, sessions, throttle
from api.customer_auth import CustomerPrincipal
from api.deps import AnyCustomer, Customer, Workflows
from api.errors import error, text
from api.rendering import render
from api.staff_auth import LoginRefused
from domain.passwords import MAX_LENGTH, MIN_LENGTH
from domain.throttle import CUSTOMER
from processes.accounts import password_changed
from processes.client import Closed, Processes, Unavailable

router = APIRouter()
log = logging.getLogger("certdesk.customers")
LOGIN_STATUS = {"password_expired": 401, "invalid": 401}


def _invalid_key(request: Request, refused: LoginRefused) -> str | None:
    """While client certificates are in use, every "invalid" answer (unknown access key, wrong
    password, a bound account without its certificate) names both, so none confirms a password."""
    if refused.code == "invalid" and request.app.state.settings.customer_client_cert != "off":
        return "invalid_or_certificate"
    return None


class LoginBody(BaseModel):
    access_key: str = Field(pattern=r"^\d{8}$")
    password: str = Field(min_length=1, max_length=128)


class PasswordBody(BaseModel):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=200)


def _session_json(token: str, p: CustomerPrincipal) -> dict[str, Any]:
    return {"token": token, "must_change_password": p.must_change_password,
            "password_expires_at": p.password_expires_at.isoformat() if p.password_expires_at else None}


async def _login(request: Request, access_key: str, password: str) -> tuple[str, CustomerPrincipal]:
    """``customer_auth.login`` behind the throttle (``throttle.Throttled``: too many failures)."""
    return await throttle.password_login(request, CUSTOMER, access_key, lambda: customer_auth.login(
        request.app.state.engine, request.app.state.settings, access_key, password,
        client_certs.client_certificate(request)))


@router.post("/api/v1/session")
async def api_login(request: Request, body: LoginBody) -> JSONResponse:
    try:
        token, principal = await _login(request, body.access_key, body.password)
    except throttle.Throttled as throttled:
        return throttle.answer(request, throttled)
    except LoginRefused as refused:
        return error(request, LOGIN_STATUS.get(refused.code, 401), refused.code,
                     key=_invalid_key(request, refused) or refused.reason or None)
    return JSONResponse(_session_json(token, principal))


@router.delete("/api/v1/session", status_code=204)
async def api_logout(request: Request, customer: AnyCustomer) -> Response:
    found = sessions.token_from(request, sessions.CUSTOMER)
    customer_auth.logout(request.app.state.engine, found[0] if found else "")
    return Response(status_code=204)


@router.get("/api/v1/account")
async def api_account(customer: Customer) -> dict[str, Any]:
    return {"access_key": customer.access_key, "organization": customer.organization,
            "must_change_password": customer.must_change_password}


async def _change(request: Request, workflows: Processes, customer: CustomerPrincipal, current: str,
                  new: str) -> str | None:
    """Changes the password; the refusal's code, or None. Stops the initial password's timer."""
    found = sessions.token_from(request, sessions.CUSTOMER)
    try:
        replaced = await hashing_pool.run(customer_auth.change_password, request.app.state.engine, customer,
                                          current, new, found[0] if found else None)
    except ValueError as refused:
        return str(refused)
    if replaced is not None:
        try:
            await password_changed(workflows, customer.id, replaced)
        except (Closed, Unavailable) as exc:
            # No timer running (or Temporal away): the timer re-checks the password when it fires.
            log.info("expiry timer of customer %s not signalled: %s", customer.id, type(exc).__name__)
    return None


def _password_message(request: Request, code: str) -> str:
    return text(request, "invalid_password", code, min=MIN_LENGTH, max=MAX_LENGTH)


@router.post("/api/v1/password")
async def api_password(request: Request, body: PasswordBody, customer: AnyCustomer,
                       workflows: Workflows) -> JSONResponse:
    problem = await _change(request, workflows, customer, body.current_password, body.new_password)
    if problem:
        field = "current_password" if problem == "current_password_wrong" else "new_password"
        return error(request, 422, "invalid_password", key=problem, field_name=field, min=MIN_LENGTH, max=MAX_LENGTH)
    return JSONResponse({"changed": True})


# --- pages ------------------------------------------------------------------------------

def _safe_next(target: str) -> str:
    return target if target.startswith("/account") and not target.startswith("//") else "/account"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/account") -> Response:
    return render(request, "portal/login.html", next=_safe_next(next))


@router.post("/login")
async def login(request: Request, access_key: Annotated[str, Form(max_length=8)],
                password: Annotated[str, Form(max_length=128)], next: Annotated[str, Form()] = "/account") -> Response:
    settings = request.app.state.settings
    try:
        if not (len(access_key) == 8 and access_key.isdigit()):
            raise LoginRefused("invalid")
        token, principal = await _login(request, access_key, password)
    except throttle.Throttled as throttled:
        return throttle.as_refusal(render(request, "portal/login.html", next=_safe_next(next), access_key=access_key,
                                          error="too_many_attempts", error_text=throttle.message(request, throttled)),
                                   throttled)
    except LoginRefused as refused:
        response = render(request, "portal/login.html", next=_safe_next(next), access_key=access_key,
                          error=_invalid_key(request, refused) or refused.code)
        response.status_code = LOGIN_STATUS.get(refused.code, 401)
        return response
    target = "/account/password" if principal.must_change_password else _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    sessions.set_cookie(response, sessions.CUSTOMER, settings.production, token)
    return response


@router.post("/logout")
async def logout(request: Request, customer: AnyCustomer, csrf_token: Annotated[str, Form()] = "") -> Response:
    customer_auth.check_csrf(customer, csrf_token)
    settings = request.app.state.settings
    customer_auth.logout(request.app.state.engine,
                         request.cookies.get(sessions.CUSTOMER.cookie_name(settings.production), ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.CUSTOMER.cookie_name(settings.production), path="/")
    return response


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, customer: Customer, msg: str = "") -> Response:
    # Only the portal's own notice: anything else in ``?msg=`` is ignored, never shown.
    return render(request, "portal/account.html", customer=customer, msg=msg if msg == "password_changed" else "")


@router.get("/account/password", response_class=HTMLResponse)
async def password_page(request: Request, customer: AnyCustomer) -> Response:
    return render(request, "portal/password.html", customer=customer)


@router.post("/account/password")
async def password(request: Request, customer: AnyCustomer, current_password: Annotated[str, Form(max_length=128)],
                   new_password: Annotated[str, Form(max_length=200)],
                   new_password_confirm: Annotated[str, Form(max_length=200)],
                   workflows: Workflows, csrf_token: Annotated[str, Form()] = "") -> Response:
    customer_auth.check_csrf(customer, csrf_token)
    problem = ("passwords_differ" if new_password != new_password_confirm
               else await _change(request, workflows, customer, current_password, new_password))
    if problem:  # said next to the field it is about (the summary names it by its label)
        field = {"current_password_wrong": "current_password", "passwords_differ": "new_password_confirm"}.get(
            problem, "new_password")
        response = render(request, "portal/password.html", customer=customer,
                          field_errors={field: _password_message(request, problem)})
        response.status_code = 422
        return response
    return RedirectResponse("/account?msg=password_changed", status_code=303)
