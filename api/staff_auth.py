"""Staff login (T-5): argon2id passwords, lockout, server-side sessions, cookie or bearer, CSRF.

Customers and tenants have credentials of their own kinds; none of them is accepted here,
so no customer or tenant ever reaches a staff page or endpoint.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import HTTPException, Request
from sqlalchemy import Engine
from sqlmodel import select

from activities import audit
from domain import credentials
from domain.db import session_scope
from domain.models import StaffSession, StaffUser, utcnow
from domain.settings import Settings

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# Verified when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = credentials.hash_password("certdesk dummy password for timing")


def cookie_name(settings: Settings) -> str:
    # __Host- cookies must be Secure, which plain-http development cannot offer.
    return "__Host-certdesk_staff" if settings.production else "certdesk_staff"


@dataclass(frozen=True)
class StaffPrincipal:
    id: int
    username: str
    role: str
    csrf_token: str
    via: str  # cookie | bearer

    @property
    def actor(self) -> str:
        return f"staff:{self.username}"


class LoginRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(engine: Engine, settings: Settings, username: str, password: str) -> tuple[str, StaffPrincipal]:
    """A new session (a fresh token every time) or LoginRefused. Every attempt is audited."""
    username = username.strip()
    with session_scope(engine) as s:
        staff = s.exec(select(StaffUser).where(StaffUser.username == username).with_for_update()).first()
        ok = credentials.verify_password(staff.password_hash if staff else _DUMMY_HASH, password)
        if staff is None:
            audit.record(s, f"staff:{username[:40]}", "staff.login_failed", "staff:unknown", reason="unknown user")
            raise LoginRefused("invalid", "wrong username or password")
        if staff.locked_at is not None:
            audit.record(s, f"staff:{username}", "staff.login_refused", f"staff:{staff.id}", reason="locked")
            raise LoginRefused("locked", "this account is locked after repeated failures; ask a supervisor")
        if not ok:
            staff.failed_logins += 1
            locked = staff.failed_logins >= settings.login_max_failures
            if locked:
                staff.locked_at = utcnow()
            s.add(staff)
            audit.record(s, f"staff:{username}", "staff.locked" if locked else "staff.login_failed",
                         f"staff:{staff.id}", failures=staff.failed_logins)
            if locked:
                # Committed even though we refuse: the lock must stick.
                s.commit()
                raise LoginRefused("locked", "this account is now locked after repeated failures; ask a supervisor")
            s.commit()
            raise LoginRefused("invalid", "wrong username or password")
        staff.failed_logins = 0
        if credentials.needs_rehash(staff.password_hash):
            staff.password_hash = credentials.hash_password(password)
        s.add(staff)
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(24), utcnow()
        s.add(StaffSession(token_digest=_digest(token), staff_id=int(staff.id or 0), csrf_token=csrf,
                           created_at=now, last_seen_at=now, expires_at=now + ABSOLUTE_TIMEOUT))
        audit.record(s, f"staff:{username}", "staff.login", f"staff:{staff.id}")
        return token, StaffPrincipal(int(staff.id or 0), staff.username, staff.role, csrf, "")


def logout(engine: Engine, token: str) -> None:
    with session_scope(engine) as s:
        row = s.get(StaffSession, _digest(token))
        if row is not None:
            s.delete(row)
            audit.record(s, "staff", "staff.logout", f"staff:{row.staff_id}")


def _token_from(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), "bearer"
    cookie = request.cookies.get(cookie_name(request.app.state.settings))
    return (cookie, "cookie") if cookie else None


def principal_of(request: Request) -> StaffPrincipal | None:
    found = _token_from(request)
    if found is None or not found[0]:
        return None
    token, via = found
    engine: Engine = request.app.state.engine
    now = utcnow()
    with session_scope(engine) as s:
        row = s.get(StaffSession, _digest(token))
        if row is None:
            return None
        if row.expires_at <= now or row.last_seen_at + IDLE_TIMEOUT <= now:
            s.delete(row)
            return None
        staff = s.get(StaffUser, row.staff_id)
        if staff is None or staff.locked_at is not None:
            return None
        if now - row.last_seen_at > timedelta(seconds=30):  # don't write on every request
            row.last_seen_at = now
            s.add(row)
        return StaffPrincipal(int(staff.id or 0), staff.username, staff.role, row.csrf_token, via)


class StaffLoginRequired(Exception):
    """Raised for desk pages; the app turns it into a redirect to the login page."""


def require_staff(request: Request) -> StaffPrincipal:
    principal = principal_of(request)
    if principal is None:
        if request.url.path.startswith("/api/"):
            raise HTTPException(401, {"error": "unauthorized", "message": "staff login required"},
                                headers={"WWW-Authenticate": "Bearer"})
        raise StaffLoginRequired()
    return principal


def require_supervisor(request: Request) -> StaffPrincipal:
    principal = require_staff(request)
    if principal.role != "supervisor":
        raise HTTPException(403, {"error": "forbidden", "message": "supervisors only"})
    return principal


def check_csrf(principal: StaffPrincipal, submitted: str | None) -> None:
    """Cookie sessions must prove the form came from our page; bearer tokens are not sent by browsers."""
    if principal.via == "cookie" and not hmac.compare_digest(principal.csrf_token, submitted or ""):
        raise HTTPException(403, {"error": "csrf", "message": "the form has expired; reload the page and try again"})
