"""Staff login (T-5): argon2id passwords, throttled guesses, server-side sessions, cookie or bearer, CSRF.

Customers and tenants have credentials of their own kinds; none of them is accepted here,
so no customer or tenant ever reaches a staff page or endpoint.
"""

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine
from sqlmodel import select

from api import sessions
from api.errors import ApiError
from api.sessions import STAFF
from domain import credentials, secret_hashing
from domain.settings import Settings
from store import audit
from store.db import session_scope
from store.models import StaffUser

# Verified when the username is unknown, so a wrong name costs as long as a wrong password.
DUMMY_HASH = credentials.hash_password("certdesk dummy password for timing")


def cookie_name(settings: Settings) -> str:
    return STAFF.cookie_name(settings.production)


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
    """``code`` is the answer's error code; ``reason`` (optional) names the message more precisely."""

    def __init__(self, code: str, reason: str = "") -> None:
        super().__init__(reason or code)
        self.code = code
        self.reason = reason


def login(engine: Engine, settings: Settings, username: str, password: str) -> tuple[str, StaffPrincipal]:
    """A new session (a fresh token every time) or LoginRefused("invalid"). Every attempt is audited.
    Blocking (argon2id): the web process calls it in ``api.hashing_pool`` (``throttle.password_login``).

    Wrong guesses are counted by ``api.throttle`` (per name and per address, locks that expire),
    never on the account: nobody can lock a colleague out for good or end their sessions.
    """
    username = username.strip()
    with session_scope(engine) as s:
        staff = s.exec(select(StaffUser).where(StaffUser.username == username)).first()
        verdict = secret_hashing.verify_chosen(staff.password_hash if staff else DUMMY_HASH, password)
        if staff is None or not verdict.ok:
            subject = f"staff:{staff.id}" if staff else "staff:unknown"
            audit.record(s, f"staff:{username[:64]}", "staff.login_failed", subject,
                         reason="wrong password" if staff else "unknown user")
            s.commit()  # kept although we refuse (the scope rolls back on the exception)
            raise LoginRefused("invalid")
        if verdict.rehash:
            staff.password_hash = secret_hashing.hash_chosen(password)
            s.add(staff)
        token, csrf = sessions.open_session(s, STAFF, int(staff.id or 0))
        audit.record(s, f"staff:{username}", "staff.login", f"staff:{staff.id}")
        return token, StaffPrincipal(int(staff.id or 0), staff.username, staff.role, csrf, "")


def logout(engine: Engine, token: str) -> None:
    with session_scope(engine) as s:
        staff_id = sessions.close_session(s, STAFF, token)
        if staff_id is not None:
            audit.record(s, "staff", "staff.logout", f"staff:{staff_id}")


def principal_of(request: Request) -> StaffPrincipal | None:
    found = sessions.token_from(request, STAFF)
    if found is None or not found[0]:
        return None
    token, via = found
    with session_scope(request.app.state.engine) as s:
        row = sessions.live_session(s, STAFF, token)
        staff = s.get(StaffUser, row.staff_id) if row is not None else None
        if row is None or staff is None:
            return None
        return StaffPrincipal(int(staff.id or 0), staff.username, staff.role, row.csrf_token, via)


class StaffLoginRequired(Exception):
    """Raised for desk pages; the app turns it into a redirect to the login page."""


def require_staff(request: Request) -> StaffPrincipal:
    principal = principal_of(request)
    if principal is None:
        sessions.refuse_anonymous(request, "staff", StaffLoginRequired)
    return principal


def require_supervisor(request: Request) -> StaffPrincipal:
    principal = require_staff(request)
    if principal.role != "supervisor":
        raise ApiError(403, "forbidden", key="supervisors_only")
    return principal


def check_csrf(principal: StaffPrincipal, submitted: str | None) -> None:
    sessions.check_csrf(principal.via, principal.csrf_token, submitted)
