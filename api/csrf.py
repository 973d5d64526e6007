"""The one check against cross-site requests, a dependency of every route of both apps
(``FastAPI(dependencies=[guard(...)])``), so that a route added later cannot forget it.

A state-changing request (POST, PUT, PATCH, DELETE) passes when

- it is authenticated by a bearer token (a browser never adds one by itself), or
- its ``Origin`` (else its ``Referer``) is ours: the request's own scheme and host, or
  ``CERTDESK_PUBLIC_URL``'s, or
- it carries the CSRF token of a session whose cookie it sends (form field ``csrf_token`` or
  header ``X-CSRF-Token``).

Otherwise it is refused with 403 ``csrf`` when it names another origin (login CSRF on the
pre-session forms: the logins, password reset, enrollment, ``/dcv``), and when it rides on
credentials a browser adds by itself (a session cookie; the client certificate on the account
app) without saying where it comes from. A request naming no origin and carrying no such
credential comes from no browser form (every browser sends ``Origin`` with a POST) and has
nothing to forge: it passes, so API clients and relying parties (``POST /ocsp``) work as before.
"""

import contextlib
import hmac
from collections.abc import Sequence
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi import params as fastapi_params
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.sessions import SessionKind, digest
from store.db import session_scope

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_FORM_FIELDS = 200  # as many as the longest form (the application form) sends


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` in the form browsers send in ``Origin`` (default port left out), or None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[parts.scheme] else "")


def our_origins(request: Request) -> set[str]:
    """The request's own scheme and host, the same host over https (behind a TLS terminator the app
    sees plain http), and ``CERTDESK_PUBLIC_URL``'s."""
    public_url = request.app.state.settings.public_url
    own = str(request.base_url)
    found = {origin_of(own), origin_of("https:" + own.split(":", 1)[1]), origin_of(public_url) if public_url else None}
    return {o for o in found if o}


def claimed_origin(request: Request) -> str | None:
    """Where the browser says the request comes from: ``Origin``, else ``Referer`` ("" when it names none)."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin_of(origin) or origin  # "null" (a sandboxed or privacy-redirected page) is foreign
    referer = request.headers.get("referer")
    return (origin_of(referer) or referer) if referer else ""


async def _submitted_token(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    if request.headers.get("content-type", "").split(";")[0].strip().lower() not in FORM_TYPES:
        return ""
    # Starlette keeps the parsed form, so the route reads the same one (and its own limits are no larger).
    # The body is read (and kept) first, so a route that reads it raw still can when it is no form;
    # a route with form parameters has parsed (and kept) the form already.
    with contextlib.suppress(RuntimeError):
        await request.body()
    try:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception:  # noqa: BLE001 (a body that is no form carries no token; the route refuses it)
        return ""
    value = form.get("csrf_token")
    return value if isinstance(value, str) else ""


def _session_tokens(request: Request, cookies: Sequence[tuple[SessionKind, str]]) -> list[str]:
    """The CSRF tokens of the sessions whose cookies the request carries (expired ones too: the route refuses those)."""
    present = [(kind, request.cookies[name]) for kind, name in cookies if request.cookies.get(name)]
    if not present:
        return []
    with session_scope(request.app.state.engine) as s:
        rows = [s.get(kind.model, digest(token)) for kind, token in present]
        return [row.csrf_token for row in rows if row is not None]


def guard(kinds: Sequence[SessionKind], client_certificates: bool = False) -> fastapi_params.Depends:
    """The dependency for an app whose sessions are ``kinds``. ``client_certificates``: the account
    app, reached with a login certificate the browser presents by itself, whose cookies are always
    ``__Host-`` (it is served over HTTPS only)."""

    async def check_request_origin(request: Request) -> None:
        if request.method in SAFE_METHODS:
            return
        if request.headers.get("authorization", "").lower().startswith("bearer "):
            return
        claimed = claimed_origin(request)
        if claimed and claimed in our_origins(request):
            return
        production = client_certificates or request.app.state.settings.production
        cookies = [(kind, kind.cookie_name(production)) for kind in kinds]
        submitted = await _submitted_token(request)
        if submitted:
            tokens = await run_in_threadpool(_session_tokens, request, cookies)
            if any(hmac.compare_digest(token.encode(), submitted.encode()) for token in tokens):
                return
        ambient = client_certificates or any(request.cookies.get(name) for _, name in cookies)
        if claimed:
            raise ApiError(403, "csrf", key="cross_origin")
        if ambient:
            raise ApiError(403, "csrf")

    return Depends(check_request_origin)
