"""The end user's account pages (L-2, manual section 4), reached with the login certificate itself.

A separate app: in production the TLS terminator that asks for client certificates routes to
it and passes the verified certificate URL-encoded in ``CERTDESK_CLIENT_CERT_HEADER`` (nginx:
``$ssl_client_escaped_cert``), believed only from ``CERTDESK_TRUSTED_PROXIES``; ``certdesk up``
serves it on its local HTTPS port, which hands it over in the ASGI scope (api/client_certs.py).
Every request checks the certificate against the CA's records (revoked or expired: no entry).

A session marks one login, so the history lists logins, not page views or API calls. A browser
keeps the session's cookie; a client that keeps no cookie (a script calling ``/api/v1/me``)
continues the live session its certificate's last login opened: the certificate, presented
again, is what identifies the session. Logging out ends the holder's sessions, and the next
visit with the certificate is a new login.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from api import client_certs, csrf, errors, hashing_pool, nul_guard, sessions, throttle
from api.i18n import messages, request_language
from api.rendering import render
from api.security_headers import SecurityHeaders
from domain import enrollment as e
from domain.pki.hierarchy import CLIENT_CA
from domain.settings import Settings, load_settings
from store import audit, certificates, devices, login_users, totp
from store.db import engine_for, session_scope
from store.models import EndUserSession, LoginEvent, LoginUser, Tenant, utcnow

END_USER = sessions.SessionKind(EndUserSession, "login_user_id", "certdesk_end_user")
HISTORY_LIMIT = 50


@dataclass(frozen=True)
class Holder:
    """The person behind the presented certificate, with this login's session."""

    user_id: int
    serial: str
    csrf_token: str
    token: str  # the session's token when known (new login, or its cookie), else ""
    new_login: bool


class CertificateRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason


def _presented_serial(request: Request) -> str:
    header = client_certs.client_certificate(request)
    if not header:
        raise CertificateRefused(401, "no_certificate")
    try:
        return certificates.verified_login_certificate(request.app.state.engine, unquote(header))
    except certificates.CertificateRefused as refused:
        raise CertificateRefused(403, "revoked" if refused.reason == "revoked" else "invalid") from None


def require_holder(request: Request) -> Holder:
    serial = _presented_serial(request)
    engine = request.app.state.engine
    with session_scope(engine) as s:
        user = login_users.user_for_certificate(s, serial)
        if user is None:
            raise CertificateRefused(403, "unknown")
        user_id = int(user.id or 0)
        cookie = request.cookies.get(END_USER.cookie_name(True))
        row = sessions.live_session(s, END_USER, cookie) if cookie else None
        if row is not None and row.login_user_id == user_id:
            return Holder(user_id, serial, row.csrf_token, cookie or "", False)
        row = None if cookie else _continued_session(s, user_id, serial)
        if row is not None:
            return Holder(user_id, serial, row.csrf_token, "", False)
        token, csrf = sessions.open_session(s, END_USER, user_id)
        s.add(LoginEvent(login_user_id=user_id, certificate_serial=serial,
                         address=throttle.client_address(request)[:64],
                         user_agent=request.headers.get("user-agent", "")[:300]))
        devices.note_login(s, user_id, serial)  # the device list's 最終ログイン (L-4)
        return Holder(user_id, serial, csrf, token, True)


def _continued_session(s: Session, user_id: int, serial: str) -> EndUserSession | None:
    """The live session this certificate's last login opened (finding 8: one login per certificate
    session, not per cookieless call), touched; None when that login was with another certificate
    or its session has ended (logout, or idle/absolute timeout)."""
    last = s.exec(select(LoginEvent).where(LoginEvent.login_user_id == user_id)
                  .order_by(col(LoginEvent.at).desc(), col(LoginEvent.id).desc())).first()
    if last is None or last.certificate_serial != serial:
        return None
    now = utcnow()
    rows = s.exec(select(EndUserSession).where(EndUserSession.login_user_id == user_id)).all()
    live = [r for r in rows if r.expires_at > now and r.last_seen_at + sessions.IDLE_TIMEOUT > now]
    if not live:
        return None
    row = max(live, key=lambda r: r.last_seen_at)
    if now - row.last_seen_at > timedelta(seconds=30):  # as sessions.live_session: not a write per call
        row.last_seen_at = now
        s.add(row)
    return row


Current = Annotated[Holder, Depends(require_holder)]


def _page(request: Request, holder: Holder, template: str, status: int = 200, **ctx: object) -> Response:
    response = render(request, f"login_account/{template}", holder=holder, **ctx)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if holder.new_login:
        # The account port is always HTTPS, so the cookie is always Secure (and __Host-).
        sessions.set_cookie(response, END_USER, True, holder.token)
    return response


def _check_csrf(holder: Holder, submitted: str | None) -> None:
    sessions.check_csrf("cookie", holder.csrf_token, submitted)


def _account(request: Request, holder: Holder) -> dict[str, object]:
    with session_scope(request.app.state.engine) as s:
        user = s.get(LoginUser, holder.user_id)
        assert user is not None
        tenant = s.get(Tenant, user.tenant_id)
        cert = certificates.known_certificate(s, CLIENT_CA, holder.serial)
        lang = request_language(request)
        question = e.QUESTION_IDS.get(user.question_id or "")
        return {"user_id": user.user_id, "certificate_name": user.certificate_name, "email": user.email,
                "website": tenant.name if tenant else "", "serial": cert.serial, "status": cert.state,
                "not_before": cert.not_before, "not_after": cert.not_after,
                "question": question.text(lang) if question else "",
                "login_method": user.login_method}


def create_account_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # The login certificate is sent by the browser by itself: every POST proves it came from our pages.
    app = FastAPI(title="certdesk account", version="0.1.0", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[csrf.guard((END_USER,), client_certificates=True), nul_guard.guard()])
    app.add_middleware(SecurityHeaders, production=settings.production)
    app.state.settings = settings
    app.state.engine = engine_for(settings.resolved_database_url)

    @app.exception_handler(CertificateRefused)
    async def refused(request: Request, exc: CertificateRefused) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": f"certificate_{exc.reason}",
                                 "message": messages(request)(f"acct_refused_{exc.reason}")},
                                status_code=exc.status)
        response = render(request, "login_account/refused.html", reason=exc.reason)
        response.status_code = exc.status
        return response

    errors.install(app)
    from api import login_method  # it builds on this module's Holder and pages
    app.include_router(login_method.router)
    from api.login_devices import router as devices_router  # its pages use this module's holder (L-4)
    app.include_router(devices_router)
    from api import oidc_authorize  # the OpenID Connect authorization endpoint (issue 19)
    app.include_router(oidc_authorize.router)
    totp.configure(app.state.engine, settings)

    @app.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/account", status_code=303)

    @app.get("/account", response_class=HTMLResponse)
    async def account(request: Request, holder: Current) -> Response:
        return _page(request, holder, "account.html", account=_account(request, holder))

    @app.get("/account/secret", response_class=HTMLResponse)
    async def secret_form(request: Request, holder: Current) -> Response:
        return _page(request, holder, "secret.html", account=_account(request, holder),
                     questions=[(q.id, q.text(request_language(request))) for q in e.QUESTIONS])

    @app.post("/account/secret", response_class=HTMLResponse)
    async def change_secret(request: Request, holder: Current, current_answer: Annotated[str, Form()] = "",
                            question_id: Annotated[str, Form()] = "", answer: Annotated[str, Form()] = "",
                            csrf_token: Annotated[str, Form()] = "") -> Response:
        _check_csrf(holder, csrf_token)
        problem = await change_secret_answer(request, holder, current_answer, question_id, answer)
        questions = [(q.id, q.text(request_language(request))) for q in e.QUESTIONS]
        if problem is not None:
            return _page(request, holder, "secret.html", status=problem[0], error=problem[1],
                         account=_account(request, holder), questions=questions, chosen=question_id)
        return _page(request, holder, "secret.html", done=True, account=_account(request, holder),
                     questions=questions)

    @app.get("/account/history", response_class=HTMLResponse)
    async def history(request: Request, holder: Current) -> Response:
        logins = login_history(request, holder)
        from api.oidc_authorize import history_places  # the tenant each OpenID Connect login was for
        return _page(request, holder, "history.html", logins=logins, places=history_places(request, logins))

    @app.post("/account/logout", response_class=HTMLResponse)
    async def logout(request: Request, holder: Current, csrf_token: Annotated[str, Form()] = "") -> Response:
        _check_csrf(holder, csrf_token)
        with session_scope(request.app.state.engine) as s:
            # Every session of this holder: a cookieless one would otherwise continue (_continued_session).
            sessions.close_all(s, END_USER, holder.user_id)
        response = render(request, "login_account/logged_out.html")
        response.delete_cookie(END_USER.cookie_name(True), path="/", secure=True, httponly=True)
        return response

    # JSON twins, for websites that embed the account functions in their own pages.
    @app.get("/api/v1/me")
    async def me(request: Request, holder: Current) -> JSONResponse:
        data = _account(request, holder)
        for key in ("not_before", "not_after"):
            data[key] = data[key].isoformat() if data[key] else None  # type: ignore[attr-defined]
        return JSONResponse(data)

    @app.get("/api/v1/me/logins")
    async def me_logins(request: Request, holder: Current) -> JSONResponse:
        from api.oidc_authorize import history_places  # the tenant each OpenID Connect login was for
        logins = login_history(request, holder)
        places = history_places(request, logins)
        # website: the tenant whose site an OpenID Connect login was for; null for the account pages
        return JSONResponse([{"at": e.at.isoformat(), "address": e.address, "user_agent": e.user_agent,
                              "website": places.get(int(e.id or 0))} for e in logins])

    return app


def login_history(request: Request, holder: Holder) -> list[LoginEvent]:
    with session_scope(request.app.state.engine) as s:
        return list(s.exec(select(LoginEvent).where(LoginEvent.login_user_id == holder.user_id)
                           .order_by(col(LoginEvent.at).desc(), col(LoginEvent.id).desc()).limit(HISTORY_LIMIT)).all())


async def change_secret_answer(request: Request, holder: Holder, current: str, question_id: str,
                               answer: str) -> tuple[int, str] | None:
    """(status, message) of a refused change, or None when the new question and answer are set."""
    t = messages(request)
    if question_id not in e.QUESTION_IDS:
        return 422, t("eu_err_question")
    if e.answer_problem(answer):
        return 422, t("eu_err_answer")
    with session_scope(request.app.state.engine) as s:
        user = s.get(LoginUser, holder.user_id)
        current_hash = user.answer_hash if user else None
    if not current_hash or not (await hashing_pool.verify_chosen(current_hash, e.normalise_answer(current))).ok:
        return 400, t("acct_err_current_answer")
    new_hash = await hashing_pool.hash_chosen(e.normalise_answer(answer))
    with session_scope(request.app.state.engine) as s:
        user = s.get(LoginUser, holder.user_id)
        assert user is not None
        user.question_id, user.answer_hash, user.updated_at = question_id, new_hash, utcnow()
        s.add(user)
        audit.record(s, f"end_user:{user.id}", "login_user.secret_changed", f"login_user:{user.id}",
                     question_id=question_id)
    return None
