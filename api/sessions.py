"""Server-side sessions shared by staff and customers: random tokens, stored as digests,
idle and absolute timeouts, a CSRF token per session.

Each kind of person has its own table (``staff_session``, ``customer_session``), so a
token of one kind is never a session of the other.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from fastapi import Request
from sqlmodel import Session, select

from api.errors import ApiError
from store.models import CustomerSession, EndUserSession, StaffSession, utcnow

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)


@dataclass(frozen=True)
class SessionKind:
    model: type[StaffSession] | type[CustomerSession] | type[EndUserSession]
    owner: str  # the owner column: staff_id | customer_id
    cookie: str  # cookie name in development; production prefixes __Host-

    def cookie_name(self, production: bool) -> str:
        # __Host- cookies must be Secure, which plain-http development cannot offer.
        return f"__Host-{self.cookie}" if production else self.cookie


STAFF = SessionKind(StaffSession, "staff_id", "certdesk_staff")
CUSTOMER = SessionKind(CustomerSession, "customer_id", "certdesk_customer")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(s: Session, kind: SessionKind, owner_id: int) -> tuple[str, str]:
    """A fresh token (never reused across logins) and its CSRF token."""
    token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(24), utcnow()
    s.add(kind.model(token_digest=digest(token), csrf_token=csrf, created_at=now, last_seen_at=now,
                     expires_at=now + ABSOLUTE_TIMEOUT, **{kind.owner: owner_id}))
    return token, csrf


def close_session(s: Session, kind: SessionKind, token: str) -> int | None:
    """Ends one session; returns its owner's id, or None when there was none."""
    row = s.get(kind.model, digest(token))
    if row is None:
        return None
    s.delete(row)
    return int(getattr(row, kind.owner))


def close_all(s: Session, kind: SessionKind, owner_id: int, keep_token: str | None = None) -> int:
    """Ends every session of this person (but ``keep_token``'s); returns how many."""
    keep = digest(keep_token) if keep_token else None
    rows = s.exec(select(kind.model).where(getattr(kind.model, kind.owner) == owner_id)).all()
    ended = 0
    for row in rows:
        if row.token_digest != keep:
            s.delete(row)
            ended += 1
    return ended


def token_from(request: Request, kind: SessionKind) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), "bearer"
    cookie = request.cookies.get(kind.cookie_name(request.app.state.settings.production))
    return (cookie, "cookie") if cookie else None


def live_session(s: Session, kind: SessionKind, token: str) -> Any | None:
    """The session row when it is still alive (touching it), else None (dropping it if expired)."""
    row = s.get(kind.model, digest(token))
    if row is None:
        return None
    now = utcnow()
    if row.expires_at <= now or row.last_seen_at + IDLE_TIMEOUT <= now:
        s.delete(row)
        return None
    if now - row.last_seen_at > timedelta(seconds=30):  # don't write on every request
        row.last_seen_at = now
        s.add(row)
    return row


def refuse_anonymous(request: Request, who: str, page_exception: type[Exception]) -> NoReturn:
    """No session: API calls get 401, pages a redirect to the login page (via ``page_exception``)."""
    if request.url.path.startswith("/api/"):
        raise ApiError(401, "unauthorized", key=f"{who}_login_required", headers={"WWW-Authenticate": "Bearer"})
    raise page_exception()


def check_csrf(via: str, expected: str, submitted: str | None) -> None:
    """Cookie sessions must prove the form came from our page; bearer tokens are not sent by browsers.

    Every request has already passed api/csrf.py (token or our Origin); the forms that call this
    also insist on the token itself."""
    # As bytes: compare_digest refuses a str with non-ASCII characters, and a form may send any.
    if via == "cookie" and not hmac.compare_digest(expected.encode(), (submitted or "").encode()):
        raise ApiError(403, "csrf")


def set_cookie(response: Any, kind: SessionKind, production: bool, token: str) -> None:
    response.set_cookie(kind.cookie_name(production), token, httponly=True, secure=production, samesite="strict",
                        path="/", max_age=int(ABSOLUTE_TIMEOUT.total_seconds()))
