"""「ログイン方法の変更」 (L-5, manual 付録 2) on the account pages: select → 次へ → confirm → 実行.

The methods offered are the tenant's contract's (``Tenant.login_methods``). A method with a
one-time password needs an authenticator app: coming from the certificate alone, the confirm page
shows a new app's QR code (between two OTP methods it asks the enrolled app's current code), and
実行 needs a right code; a locked app (store.totp) must be unlocked by support first. Changing
the method revokes nothing: the login certificate stays valid, so its holder keeps reaching these
pages with it and can switch back; it only decides what the website's login (OIDC) asks for.

Only a certificate holder reaches these pages, so only one can switch to an OTP-only login; a
user who has lost the certificate meanwhile gets a new one through the tenant's reissue (L-3),
and with it switches back here.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from api.i18n import messages
from api.login_account import Current, Holder, _check_csrf, _page
from domain import login_methods as lm
from domain import totp as t
from processes import login_methods as process
from processes.client import Processes
from processes.connection import TemporalHandle
from store import audit, totp
from store.db import session_scope
from store.models import LoginUser, Tenant, utcnow

router = APIRouter()
ISSUER = "certdesk"  # the issuer shown in the authenticator app when the tenant is gone


def _allowed(s: Session, user: LoginUser) -> tuple[str, ...]:
    tenant = s.get(Tenant, user.tenant_id)
    return lm.parse_allowed(tenant.login_methods if tenant else lm.DEFAULT_ALLOWED)


def _user(s: Session, holder: Holder) -> LoginUser:
    user = s.get(LoginUser, holder.user_id)
    if user is None:  # require_holder found it a moment ago
        raise LookupError(holder.user_id)
    return user


def _choice_page(request: Request, holder: Holder, status: int = 200, error: str = "", chosen: str = "") -> Response:
    with session_scope(request.app.state.engine) as s:
        user = _user(s, holder)
        allowed, current = _allowed(s, user), user.login_method
    return _page(request, holder, "login_method.html", status=status, error=error, current=current,
                 methods=list(allowed), chosen=chosen or current, can_change=len(set(allowed) | {current}) > 1)


def _qr(s: Session, user: LoginUser, secret: str) -> str:
    """The app lists the code under the website it logs in to, and the user's id there."""
    tenant = s.get(Tenant, user.tenant_id)
    return t.qr_data_uri(t.provisioning_uri(secret, user.user_id, tenant.name if tenant else ISSUER))


def _enrols(user: LoginUser, state: totp.State) -> bool:
    """Whether turning to an OTP method enrols an authenticator app (shows a new QR code): always from a
    method without one (a new phone, or one lost meanwhile, is enrolled afresh), and whenever none is
    enrolled; between two OTP methods the enrolled app's current code is asked instead."""
    return not state.enrolled or lm.OTP not in lm.factors(user.login_method)


def _confirm_page(request: Request, holder: Holder, method: str, status: int = 200, error: str = "") -> Response:
    """The confirmation (manual (2)): current → new, and for an OTP method the app's enrolment or code."""
    with session_scope(request.app.state.engine) as s:
        user = _user(s, holder)
        current = user.login_method
        qr = secret = ""
        needs_code = lm.OTP in lm.factors(method)
        state = totp.state(s, user.id or 0)
        if needs_code and not state.locked and _enrols(user, state):
            pending = totp.pending_secret(s, user.id or 0)
            secret = pending if pending is not None and error else totp.start_enrolment(s, user.id or 0)
            qr = _qr(s, user, secret)
    return _page(request, holder, "login_method_confirm.html", status=status, error=error, current=current,
                 method=method, needs_code=needs_code, qr=qr, secret=secret, locked=state.locked)


@router.get("/account/login-method", response_class=HTMLResponse)
async def choose(request: Request, holder: Current) -> Response:
    return _choice_page(request, holder)


@router.post("/account/login-method", response_class=HTMLResponse)
async def next_step(request: Request, holder: Current, method: Annotated[str, Form()] = "",
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    """次へ: the chosen method, checked against the contract, then the confirmation."""
    _check_csrf(holder, csrf_token)
    problem = _method_problem(request, holder, method)
    if problem:
        return _choice_page(request, holder, status=422, error=problem, chosen=method)
    return _confirm_page(request, holder, method)


@router.post("/account/login-method/execute", response_class=HTMLResponse)
async def execute(request: Request, holder: Current, method: Annotated[str, Form()] = "",
                  code: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    """実行: the method changes (with a right code for an OTP method), is audited and mailed."""
    _check_csrf(holder, csrf_token)
    tr = messages(request)
    problem = _method_problem(request, holder, method)
    if problem:
        return _choice_page(request, holder, status=422, error=problem, chosen=method)
    engine = request.app.state.engine
    if lm.OTP in lm.factors(method):
        with session_scope(engine) as s:
            state = totp.state(s, holder.user_id)
            if state.locked:
                error = tr("lm_err_locked")
            elif _enrols(_user(s, holder), state):
                error = "" if totp.confirm_enrolment(s, holder.user_id, code) else tr("lm_err_first_code")
            else:
                error = "" if totp.check_code(s, holder.user_id, code) else tr("lm_err_code")
        if error:
            return _confirm_page(request, holder, method, status=400, error=error)
    now = utcnow()
    with session_scope(engine) as s:
        user = _user(s, holder)
        previous = user.login_method
        user.login_method, user.updated_at = method, now
        s.add(user)
        audit.record(s, f"end_user:{user.id}", "login_user.login_method_changed", f"login_user:{user.id}",
                     previous=previous, method=method)

    def rollback() -> None:  # no notice can go out: the change is undone (the user sees 503, may retry)
        with session_scope(engine) as s:
            user = _user(s, holder)
            if user.login_method == method:
                user.login_method, user.updated_at = previous, utcnow()
                s.add(user)
                audit.record(s, "system", "login_user.login_method_change_undone", f"login_user:{user.id}",
                             previous=method, method=previous)

    change = process.LoginMethodChange(holder.user_id, previous, method, now.isoformat())
    await process.notify_change(_processes(request), change, rollback)
    return _page(request, holder, "login_method_done.html", method=method)


def _processes(request: Request) -> Processes:
    """The account app's way to the workflows, made on first use (as api/login_devices.py does)."""
    state = request.app.state
    if getattr(state, "processes", None) is None:
        state.processes = Processes(TemporalHandle(state.settings), state.settings)
    return state.processes  # type: ignore[no-any-return]


def _method_problem(request: Request, holder: Holder, method: str) -> str:
    """The message for a method that cannot be chosen now; "" when it can."""
    tr = messages(request)
    with session_scope(request.app.state.engine) as s:
        user = _user(s, holder)
        allowed, current = _allowed(s, user), user.login_method
    if method not in lm.METHODS or method not in allowed:
        return tr("lm_err_method")
    if method == current:
        return tr("lm_err_same")
    return ""
