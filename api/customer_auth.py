"""Customer login on the server certificate portal (S-1, S-11).

8-digit access key + password (argon2id). An initial password must be changed before anything
else: until then pages redirect to the change form and API calls answer 403
``password_change_required``. Wrong guesses are throttled by ``api.throttle``: locks that expire,
the same for unknown access keys, and never the end of anyone's live session.
"""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from fastapi import Request
from sqlalchemy import Engine
from sqlmodel import select

from api import sessions
from api.errors import ApiError
from api.sessions import CUSTOMER
from api.staff_auth import DUMMY_HASH, LoginRefused
from domain import secret_hashing
from domain.passwords import password_problem
from domain.settings import Settings
from store import audit, certificates
from store.db import session_scope
from store.models import Customer


@dataclass(frozen=True)
class CustomerPrincipal:
    id: int
    access_key: str
    organization: str
    csrf_token: str
    via: str  # cookie | bearer
    must_change_password: bool
    password_expires_at: datetime | None

    @property
    def actor(self) -> str:
        return f"customer:{self.id}"


class CustomerLoginRequired(Exception):
    """Raised for portal pages; the app turns it into a redirect to the login page."""


class PasswordChangeRequired(Exception):
    """Raised for portal pages while an initial password is in use."""


def _second_factor_problem(engine: Engine, settings: Settings, customer: Customer,
                           client_cert: str | None) -> str | None:
    """Why the presented client certificate does not do as the second factor (a reason code), or None."""
    mode = settings.customer_client_cert
    if mode == "off" or (mode == "bound" and not customer.client_cert_serial):
        return None
    if not customer.client_cert_serial:
        return "none_bound"
    if not client_cert:
        return "required"
    try:
        serial = certificates.verified_login_certificate(engine, unquote(client_cert))
    except certificates.CertificateRefused as refused:
        return refused.reason
    return None if serial == customer.client_cert_serial else "not_bound"


def login(engine: Engine, settings: Settings, access_key: str, password: str,
          client_cert: str | None = None) -> tuple[str, CustomerPrincipal]:
    """Blocking (argon2id): the web process calls it in ``api.hashing_pool`` (``throttle.password_login``)."""
    with session_scope(engine) as s:
        customer = s.exec(select(Customer).where(Customer.access_key == access_key)).first()
        verdict = secret_hashing.verify_chosen(customer.password_hash if customer else DUMMY_HASH, password)
        ok = verdict.ok
        if customer is None:
            audit.record(s, "anonymous", "customer.login_failed", "customer:unknown", access_key=access_key[:8])
            s.commit()  # kept although we refuse (the scope rolls back on the exception)
            raise LoginRefused("invalid")
        subject = f"customer:{customer.id}"
        problem = _second_factor_problem(engine, settings, customer, client_cert)
        if problem:
            # Before the password's verdict, and answered as a wrong password is: the answer confirms
            # neither the password nor the binding (issue 14). api.throttle counts it as it counts any
            # "invalid", so nothing tells it apart; staff see in the audit what happened.
            audit.record(s, subject, "customer.login_refused", subject, reason=problem, password_right=ok)
            s.commit()
            raise LoginRefused("invalid")
        if not ok:
            # Visible to staff in the audit log: who is guessing at what. The guesses are counted by
            # api.throttle (per access key, known or not, and per address), never on the account.
            audit.record(s, "anonymous", "customer.login_failed", subject, access_key=access_key[:8])
            s.commit()
            raise LoginRefused("invalid")
        if customer.password_is_initial and customer.password_expired:
            audit.record(s, subject, "customer.login_refused", subject, reason="initial password expired")
            s.commit()
            raise LoginRefused("password_expired")
        if verdict.rehash:  # argon2's cost was raised since: the new cost from now on
            customer.password_hash = secret_hashing.hash_chosen(password)
            s.add(customer)
        token, csrf = sessions.open_session(s, CUSTOMER, int(customer.id or 0))
        audit.record(s, subject, "customer.login", subject)
        return token, _principal(customer, csrf, "")


def _principal(customer: Customer, csrf: str, via: str) -> CustomerPrincipal:
    return CustomerPrincipal(int(customer.id or 0), customer.access_key, customer.organization, csrf, via,
                             customer.password_is_initial, customer.password_expires_at)


def logout(engine: Engine, token: str) -> None:
    with session_scope(engine) as s:
        customer_id = sessions.close_session(s, CUSTOMER, token)
        if customer_id is not None:
            audit.record(s, f"customer:{customer_id}", "customer.logout", f"customer:{customer_id}")


def principal_of(request: Request) -> CustomerPrincipal | None:
    found = sessions.token_from(request, CUSTOMER)
    if found is None or not found[0]:
        return None
    token, via = found
    with session_scope(request.app.state.engine) as s:
        row = sessions.live_session(s, CUSTOMER, token)
        customer = s.get(Customer, row.customer_id) if row is not None else None
        if row is None or customer is None or customer.password_expired:
            return None
        return _principal(customer, row.csrf_token, via)


def require_customer_session(request: Request) -> CustomerPrincipal:
    """Any logged-in customer, even one who still has to change an initial password."""
    principal = principal_of(request)
    if principal is None:
        sessions.refuse_anonymous(request, "customer", CustomerLoginRequired)
    return principal


def require_customer(request: Request) -> CustomerPrincipal:
    """A logged-in customer whose password is their own: what every portal page and call needs."""
    principal = require_customer_session(request)
    if principal.must_change_password:
        if request.url.path.startswith("/api/"):
            raise ApiError(403, "password_change_required")
        raise PasswordChangeRequired()
    return principal


def change_password(engine: Engine, principal: CustomerPrincipal, current: str, new: str,
                    keep_token: str | None) -> int | None:
    """Sets the customer's own password; ends every other session (blocking: argon2id, called in
    ``api.hashing_pool``). Returns the version of the
    initial password this replaced (its expiry timer has nothing left to do), else None.

    Raises ValueError with the reason's code when the current password is wrong or the new one is not allowed.
    """
    with session_scope(engine) as s:
        customer = s.exec(select(Customer).where(Customer.id == principal.id).with_for_update()).one()
        # The new password's rules first: they need no secret, and say which field is wrong.
        problem = password_problem(new, customer.access_key, current)
        if problem:
            raise ValueError(f"password_{problem}")
        if not secret_hashing.verify_chosen(customer.password_hash, current).ok:
            audit.record(s, principal.actor, "customer.password_change_refused", principal.actor,
                         reason="wrong current password")
            s.commit()
            raise ValueError("current_password_wrong")
        was_initial = customer.password_is_initial
        customer.password_hash = secret_hashing.hash_chosen(new)
        customer.password_is_initial, customer.password_expired = False, False
        customer.password_expires_at = None
        s.add(customer)
        ended = sessions.close_all(s, CUSTOMER, principal.id, keep_token)
        audit.record(s, principal.actor, "customer.password_changed", principal.actor, was_initial=was_initial,
                     other_sessions_ended=ended)
        return customer.password_version if was_initial else None


def check_csrf(principal: CustomerPrincipal, submitted: str | None) -> None:
    sessions.check_csrf(principal.via, principal.csrf_token, submitted)
