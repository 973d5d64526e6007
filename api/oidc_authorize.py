"""The OpenID Connect authorization endpoint (issue 19), on the account app: the end user logs in to a
tenant's website with their login method (L-5), and consents the first time per tenant.

The certificate comes as on every account page (api/client_certs.py: our HTTPS port's handshake, or
the TLS terminator's header on a route only it reaches), checked against the login CA and our
revocation records, and must be of the client's tenant. A user whose method includes ``otp`` enters
a TOTP code (store.totp.check_code, which counts attempts and locks); an OTP-only user may come
without a certificate and names themselves by the tenant's user id. Each login goes in the user's
ログイン履歴 with the client it was for.

The form posts back every parameter of the request, which is validated again (nothing is kept
between the two steps). Errors that cannot go back to a verified redirect URI are shown here.
"""

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, select

from api import client_certs, throttle
from api.csrf import origin_of
from api.i18n import messages
from api.oidc import AUTHORIZE_PATH, EndUser, Params, request_for, server_for
from api.rendering import render
from api.security_headers import policy
from domain import login_methods
from domain import oidc as d
from domain import throttle as throttle_policy
from store import certificates, devices, login_users, totp
from store import oidc as records
from store.db import session_scope
from store.models import LoginEvent, LoginUser, Tenant, utcnow

router = APIRouter()
OWN_FIELDS = ("decision", "otp_code", "tenant_user_id", "csrf_token")


class Refused(Exception):
    """The login cannot go on and cannot be told to the website: a page says why."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status, self.key = status, key


@dataclass
class Presented:
    serial: str  # "" when no certificate was presented
    user: LoginUser | None


def _certificate(request: Request, s: Session) -> Presented:
    header = client_certs.client_certificate(request)
    if not header:
        return Presented("", None)
    try:
        serial = certificates.verified_login_certificate(request.app.state.engine, unquote(header))
    except certificates.CertificateRefused as refused:
        raise Refused(403, "oidc_refused_revoked" if refused.reason == "revoked" else "oidc_refused_invalid") from None
    user = login_users.user_for_certificate(s, serial)
    if user is None:
        raise Refused(403, "oidc_refused_unknown")
    return Presented(serial, user)


def _method(user: LoginUser) -> str:
    return user.login_method if user.login_method in login_methods.METHODS else login_methods.DEFAULT_METHOD


def _door(tenant_id: int, tenant_user_id: str) -> str:
    """The throttle's name for a login that names its user instead of presenting a certificate."""
    return throttle_policy.name_key("oidc_otp", f"{tenant_id}:{tenant_user_id}")


def _page(request: Request, oauth: Params, template: str, status: int = 200, **ctx: Any) -> Response:
    response = render(request, f"oidc/{template}", **ctx)
    response.status_code = status
    # The form posts here and is answered with a redirect to the website: form-action must allow it
    # (only on the form's page, whose redirect URI the client's registration has confirmed).
    redirect = origin_of(oauth.payload.data.get("redirect_uri", "")) if template == "authorize.html" else None
    response.headers["Content-Security-Policy"] = policy(getattr(request.state, "csp_nonce", "")).replace(
        "form-action 'self'", f"form-action 'self' {redirect}" if redirect else "form-action 'self'")
    return response


def _params(oauth: Params) -> list[tuple[str, str]]:
    return [(k, v) for k, v in oauth.payload.data.items() if k not in OWN_FIELDS]


@router.api_route(AUTHORIZE_PATH, methods=["GET", "POST"])
async def authorize(request: Request) -> Response:
    oauth = await request_for(request)
    server = server_for(request.app)
    t = messages(request)
    try:
        return await asyncio.to_thread(_authorize, request, oauth)
    except throttle.Throttled as throttled:
        return throttle.as_refusal(_page(request, oauth, "refused.html", status=429,
                                         reason=throttle.message(request, throttled)), throttled)
    except Refused as refused:
        return _page(request, oauth, "refused.html", status=refused.status, reason=t(refused.key))
    except OAuth2Error as error:
        error.state = oauth.payload.state
        if error.redirect_uri:  # the client and its redirect URI are verified: the website is told
            return server.handle_error_response(oauth, error)
        return _page(request, oauth, "refused.html", status=400, reason=t("oidc_refused_request"),
                     detail=error.error)  # the protocol's code, for the website's operator


def _authorize(request: Request, oauth: Params) -> Response:
    server = server_for(request.app)
    data = oauth.payload.data
    with session_scope(request.app.state.engine) as s:
        presented = _certificate(request, s)
        grant = server.get_consent_grant(oauth, end_user=None)
        client = grant.client.row
        tenant = s.get(Tenant, client.tenant_id)
        scope = grant.client.get_allowed_scope(grant.request.scope or "")  # what the website may have
        user = presented.user
        door = ""  # a login by user id and code: slowed at the door, never counted toward the user's lock
        if user is None and request.method == "POST" and data.get("tenant_user_id"):
            door = _door(client.tenant_id, data["tenant_user_id"][:64])
            throttle.check(request, throttle_policy.END_USER, door)
            user = s.exec(select(LoginUser).where(LoginUser.tenant_id == client.tenant_id,
                                                  LoginUser.user_id == data["tenant_user_id"][:64])).first()
        if user is not None and user.tenant_id != client.tenant_id:
            raise Refused(403, "oidc_refused_other_tenant")  # a certificate of tenant A never logs in to B
        # Without a certificate the person is not known until the form names them (OTP-only users).
        method = _method(user) if user else login_methods.OTP
        factors = login_methods.factors(method)
        needs_otp = login_methods.OTP in factors
        if login_methods.CERTIFICATE in factors and not presented.serial:
            user = None  # named by user id, but their method needs the certificate: as a wrong code, told nothing
        consented = user is not None and records.has_consent(s, int(user.id or 0), client.tenant_id, scope)
        context = {"client": client, "tenant": tenant.name if tenant else "", "scopes": scope.split(),
                   "params": _params(oauth), "needs_otp": needs_otp, "needs_consent": not consented,
                   "identify": not presented.serial, "action": AUTHORIZE_PATH}
        if request.method == "GET":
            if not needs_otp and consented and user is not None:
                return _issue(request, s, oauth, grant, user, presented.serial, factors)
            return _page(request, oauth, "authorize.html", **context)
        if data.get("decision") == "deny":
            return server.create_authorization_response(oauth, grant_user=None, grant=grant)
        t = messages(request)
        if user is None:
            if door:
                throttle.failed(request, throttle_policy.END_USER, door)
            return _page(request, oauth, "authorize.html", status=422, error=t("oidc_err_code"), **context)
        if needs_otp:
            code = (data.get("otp_code") or "").strip()
            if not code or not totp.check_code(s, int(user.id or 0), code, count=not door):
                if door:
                    throttle.failed(request, throttle_policy.END_USER, door)
                s.commit()  # the attempt counted by check_code stays counted
                return _page(request, oauth, "authorize.html", status=422, error=t("oidc_err_code"), **context)
        if door:
            throttle.succeeded(request, door)
        if not consented:
            if data.get("decision") != "allow":
                return _page(request, oauth, "authorize.html", status=422, error=t("oidc_err_decide"), **context)
            records.record_consent(s, int(user.id or 0), client.tenant_id, scope)
        return _issue(request, s, oauth, grant, user, presented.serial, factors)


def _issue(request: Request, s: Session, oauth: Params, grant: Any, user: LoginUser, serial: str,
           factors: frozenset[str]) -> Response:
    """The code, to the website's redirect URI; the login in the user's history."""
    user_id = int(user.id or 0)
    end_user = EndUser(user_id, login_methods.amr(factors), d.acr(_method(user)), serial)
    s.add(LoginEvent(login_user_id=user_id, certificate_serial=serial, at=utcnow(),
                     address=throttle.client_address(request)[:64],
                     user_agent=request.headers.get("user-agent", "")[:300], oidc_client_id=grant.client.row.id))
    if serial:
        devices.note_login(s, user_id, serial)  # the device list's 最終ログイン (L-4) counts website logins too
    s.commit()  # the history has the login before the website has the code
    return server_for(request.app).create_authorization_response(oauth, grant_user=end_user, grant=grant)


def history_places(request: Request, logins: list[LoginEvent]) -> dict[int, str]:
    """For the ログイン履歴: the tenant's name of each login to a website (the others were to the account pages)."""
    with session_scope(request.app.state.engine) as s:
        return records.login_places(s, logins)
