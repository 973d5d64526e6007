"""Login throttling at the door (issue 14): every login-like endpoint asks ``check`` before it does
any work and reports what went wrong with ``failed``. The numbers are ``domain.throttle``'s, the
counts ``store.throttle``'s (in the database, shared by every API process).

A refusal is ``Throttled``: 429 with ``Retry-After``, the same for a name that exists and one that
does not. Nothing here ends a session or changes an account: a lock only delays the next guess.
"""

import ipaddress
import math
from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from api import client_certs, hashing_pool
from api.errors import error, text
from api.staff_auth import LoginRefused
from domain import throttle as policy
from store import audit
from store import throttle as counts
from store.db import session_scope

T = TypeVar("T")
R = TypeVar("R", bound=Response)


class Throttled(Exception):
    """Too many failures from this address or for this name: wait ``seconds``."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.seconds)}


def client_address(request: Request) -> str:
    """The caller's address: the connection's peer, or, when that peer is a trusted proxy
    (``CERTDESK_TRUSTED_PROXIES``, the TLS terminator), the last address in ``X-Forwarded-For``
    that is not one (what the proxy appended; earlier entries are the client's to invent)."""
    peer = request.client.host if request.client else "unknown"
    if not client_certs.from_trusted_proxy(request):
        return peer
    proxies = request.app.state.settings.trusted_proxy_networks
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a proxy would not write that: count the proxy rather than believe it
        if not any(address in network for network in proxies):
            return hop
    return peer


def _keys(request: Request, family: str, names: tuple[str, ...]) -> list[str]:
    return [policy.address_key(family, client_address(request)), *names]


def check(request: Request, family: str, *names: str) -> None:
    """``Throttled`` when this address (for ``family``) or any of ``names`` must wait."""
    wait = counts.wait_seconds(request.app.state.engine, _keys(request, family, names))
    if wait:
        raise Throttled(wait)


def failed(request: Request, family: str, *names: str) -> None:
    """Counts one failure for this address and for each name; audits a name's new lock."""
    engine = request.app.state.engine
    address = counts.record_failure(engine, _keys(request, family, ())[0], policy.ADDRESS_POLICY)
    if address.failures == 1:
        counts.forget_idle(engine)  # a new window: a good moment to drop counts nobody uses
    for name in names:
        count = counts.record_failure(engine, name, name_policy(request))
        if count.locked_until is not None:
            with session_scope(engine) as s:
                audit.record(s, "anonymous", "login.locked", name, failures=count.failures,
                             until=count.locked_until.isoformat(), address=client_address(request))


def succeeded(request: Request, *names: str) -> None:
    for name in names:
        counts.forget(request.app.state.engine, name)


def name_policy(request: Request) -> policy.Backoff:
    return policy.Backoff(free=request.app.state.settings.login_max_failures)


async def password_login(request: Request, kind: str, name: str, attempt: Callable[[], T]) -> T:
    """A password login for ``name`` (an access key, a username) behind the throttle.

    The throttle answers on the event loop, before any work; ``attempt`` (its argon2 verification)
    runs in ``api.hashing_pool``, so a burst of guesses waits there and not in everyone's way.

    Every "invalid" counts (a wrong name or password, and a bound account's missing client
    certificate, which is answered alike); an expired initial password, told only to whoever knows
    it, does not; a login forgets the name's failures.
    """
    key = policy.name_key(kind, name)
    check(request, policy.LOGIN, key)
    try:
        result = await hashing_pool.run(attempt)
    except LoginRefused as refused:
        if refused.code == "invalid":
            failed(request, policy.LOGIN, key)
        raise
    succeeded(request, key)
    return result


def minutes(throttled: Throttled) -> int:
    return max(1, math.ceil(throttled.seconds / 60))


def message(request: Request, throttled: Throttled) -> str:
    return text(request, "too_many_attempts", minutes=minutes(throttled))


def answer(request: Request, throttled: Throttled) -> JSONResponse:
    """The JSON answer: 429, ``too_many_attempts``, ``Retry-After``."""
    return as_refusal(error(request, 429, "too_many_attempts", minutes=minutes(throttled)), throttled)


def as_refusal(response: R, throttled: Throttled) -> R:
    """``response`` (a page showing ``message``) as the 429 it is, with ``Retry-After``."""
    response.status_code = 429
    response.headers.update(throttled.headers)
    return response
