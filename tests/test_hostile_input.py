"""The hostile input corpus against every input-taking route of both apps (issue 14, "Tests that enumerate").

The routes come from the apps' route tables and their fields from FastAPI's dependants (path,
query, JSON body model, form), so a new route or field is attacked without a change here. Each
field gets every input of ``tests/hostile.py`` aimed at its kind, the other fields keeping a
plausible value; every route that changes state also gets the whole hostile ``BODIES``. The
caller is who the route asks for (customer, staff, supervisor, tenant by bearer; the login
certificate's holder on the account app) and each request comes from a new client address, so
the login throttle (429) never stands between an input and its answer.

The rules, each breach listed with its route and input class:
* never a 5xx, a 429, a stack trace, a library's English sentence, or an unescaped script;
* the JSON API answers JSON (422 is ``invalid_input`` naming the field), a browser's page request HTML;
* an input no field may take ("refuse") changing state gets a 4xx, and after all of them no row
  of any table changed and Temporal has no new workflow on the task queue. Text some fields may
  legitimately take (SQL metacharacters, emoji, right-to-left text, …) may be accepted; it must
  still never break anything.
"""

import asyncio
import copy
import itertools
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from sqlalchemy import Engine, select
from sqlmodel import SQLModel
from temporalio.client import Client

import store.models  # noqa: F401 (every table in the metadata)
from api import customer_auth, sessions, staff_auth, tenant_auth
from api.app import create_app
from api.client_certs import TLS_PORT_SCOPE_KEY
from api.login_account import create_account_app, require_holder
from ca import authority
from domain import credentials
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import LoginUser
from tests.hostile import BODIES, CORPUS, Body, Hostile, RawJson

PASSWORD = "correct horse battery"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# Rows the corpus may add: each wrong guess is counted against the address and the name (by design).
UNCOUNTED = {"login_throttle"}
AUDITED_GUESSES = ("login_failed", "_refused")
# A library's English where a person's language belongs (pydantic, Starlette, python-multipart).
ENGLISH = re.compile(r"Field required|should be|should have|Input should|value is not a valid|Traceback|"
                     r"Internal Server Error|Did not find|Expecting value|JSON decode|Invalid HTTP|"
                     r"Too many fields|Too many files|Missing boundary")
SCRIPT = "<script>alert(1)</script>"
URL_LIMIT = 60_000
BATCH = 8  # requests in flight at once

# Fields a route reads from ``request.form()`` itself, which no dependant declares (its template's inputs).
PROFILE_FORM = ["organization.name", "organization.country", "organization.state", "organization.locality",
                "organization.registration_number", "organization.postal_code", "organization.phone",
                "contacts.technical.name", "contacts.technical.phone", "contacts.technical.email",
                "reseller_code", "csrf_token"]
UNDECLARED_FORMS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/account/profile/confirm"): {},
    ("POST", "/account/profile"): {"step": "save"},
    ("POST", "/account/apply/confirm"): {"product": "ov", "agree_terms": "on", "csr": "{csr}"},
    ("POST", "/account/apply"): {"product": "ov", "agree_terms": "on", "csr": "{csr}", "step": "apply"},
    ("POST", "/account/applications/{application_id}/cancel"): {"csrf_token": "x"},
    ("POST", "/account/applications/{application_id}/revoke"): {"reason": "cessation", "csrf_token": "x"},
    ("POST", "/account/applications/{application_id}/reissue"): {"csr": "{csr}", "revoke_previous": "immediately",
                                                                  "csrf_token": "x"},
    ("POST", "/account/applications/{application_id}/replacement"): {"csr": "{csr}", "csrf_token": "x"},
    ("POST", "/account/applications/{application_id}/switch"): {"product": "ev", "csr": "{csr}",
                                                                 "revoke_previous": "immediately",
                                                                 "agree_terms": "on", "csrf_token": "x"},
    ("POST", "/account/applications/{application_id}/domain-validations/{validation_id}/method"):
        {"method": "dns_txt", "address": "", "csrf_token": "x"},
    ("POST", "/account/applications/{application_id}/domain-validations/recheck"): {"csrf_token": "x"},
    # OpenID Connect (api/oidc.py, api/oidc_authorize.py): Authlib reads the parameters the route hands it.
    ("POST", "/oidc/token"): {"grant_type": "authorization_code", "code": "x", "client_id": "x",
                              "redirect_uri": "https://shop.example/cb", "code_verifier": "v" * 43},
    ("POST", "/oidc/revoke"): {"token": "x", "client_id": "x"},
    ("POST", "/oidc/userinfo"): {"access_token": "x"},
    ("POST", "/oidc/authorize"): {"response_type": "code", "client_id": "x", "scope": "openid",
                                  "redirect_uri": "https://shop.example/cb", "decision": "allow",
                                  "tenant_user_id": "u-1", "otp_code": "123456"},
}
for _key in [k for k in UNDECLARED_FORMS if "/profile" in k[1] or "/apply" in k[1]]:
    UNDECLARED_FORMS[_key] = {**{f: "" for f in PROFILE_FORM}, **UNDECLARED_FORMS[_key]}
# Bodies that are not JSON nor a form: the raw bodies (BODIES) are what they get.
RAW_BODIES = {("POST", "/ocsp")}
# Logouts by bearer token: nothing to read.
NO_INPUT = {("DELETE", "/api/v1/session"), ("DELETE", "/api/v1/staff/session")}

# A plausible value for each field the corpus is not aiming at ("{n}": a number new for each request,
# so that no name gathers wrong guesses; "{csr}": a good CSR).
PROFILE_DOC = {"organization": {"name": "Example KK", "country": "JP", "state": "東京都", "locality": "渋谷区"},
               "contacts": {"technical": {"name": "山田太郎", "phone": "03-1234-5678", "email": "it@example.jp"}}}
JSON_BASELINES: dict[str, dict[str, Any]] = {  # by the model's module and name
    "applications.ReissueRequest": {"csr": "{csr}", "revoke_previous": "immediately"},
    "applications.ReplacementRequest": {"csr": "{csr}"},
    "applications.SwitchRequest": {"product": "ev", "csr": "{csr}", "revoke_previous": "immediately",
                                   "agree_terms": True},
    "applications.RevocationRequest": {"reason": "cessation"},
    "Credentials": {"username": "nobody{n}", "password": "a wrong password"},
    "LoginBody": {"access_key": "{n8}", "password": "a wrong password"},
    "PasswordBody": {"current_password": "a wrong password", "new_password": "a fresh and long passphrase"},
    "ResetBody": {"access_key": "{n8}", "email": "it@example.jp"},
    "StaffResetRequest": {"access_key": "{n8}"},
    "Profile": PROFILE_DOC,
    "NewApplication": {"product": "ov", "csr": "{csr}", "agree_terms": True, **PROFILE_DOC},
    "Invitation": {"user_id": "u-{n}", "email": "u{n}@example.jp", "name": "Yamada Taro"},
    "Completion": {"outcome": "approve", "note": ""},
    "Assignment": {"username": "boss"},
    "CheckForm": {"check": "organization", "source": "qiis", "reference": "", "outcome": "confirmed", "note": ""},
    "MethodChoice": {"method": "dns_txt", "address": ""},
    "CouponIssue": {"access_key": "{n8}", "code": "CP-{n}", "description": "", "valid_until": "2099-01-01T00:00:00Z"},
}
FORM_BASELINES = {"username": "nobody{n}", "access_key": "{n8}", "password": "a wrong password",
                  "email": "it@example.jp", "next": "/desk", "kind": "customer", "name": "{n8}",
                  "outcome": "approve", "csr": "{csr}", "question_id": "q1", "current_answer": "x",
                  "check": "organization", "source": "qiis"}
# OCSP answers any request it cannot read with an OCSPResponse "malformedRequest" (RFC 6960 2.3), over HTTP 200.
OCSP_MALFORMED = bytes.fromhex("3003 0a01 01")


# --- the route table ----------------------------------------------------------------------------

@dataclass
class Endpoint:
    app: str  # "main" or "account"
    method: str
    path: str  # the route's path format
    caller: str
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    model: type[BaseModel] | None = None
    form: dict[str, str] | None = None  # field -> baseline

    @property
    def name(self) -> str:
        return f"{self.app} {self.method} {self.path}"

    @property
    def page(self) -> bool:
        # OpenID Connect's token, revocation and userinfo endpoints answer relying parties in JSON (RFC 6749 5.2).
        return not self.path.startswith("/api/") and self.path not in (
            "/ocsp", "/healthz", "/oidc/token", "/oidc/revoke", "/oidc/userinfo")


CALLERS = {customer_auth.require_customer: "customer", customer_auth.require_customer_session: "customer",
           staff_auth.require_staff: "staff", staff_auth.require_supervisor: "supervisor",
           tenant_auth.require_tenant: "tenant", require_holder: "holder"}


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def endpoints(app: FastAPI, name: str) -> list[Endpoint]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(context.methods or ()):
            path = str(context.path_format)
            parts = list(_walk(route.dependant))
            callers = [CALLERS[d.call] for d in parts if d.call in CALLERS]
            caller = "supervisor" if "supervisor" in callers else (callers[0] if callers else "nobody")
            e = Endpoint(name, method, path, caller)
            for d in parts:
                e.path_params.update({f.name: f.field_info.annotation for f in d.path_params})
                e.query.update({f.name: f.field_info.annotation for f in d.query_params})
                for f in d.body_params:
                    annotation = f.field_info.annotation
                    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                        e.model = annotation
                    else:
                        e.form = {**(e.form or {}), f.name: FORM_BASELINES.get(f.name, "x")}
            if (method, path) in UNDECLARED_FORMS:
                e.form = {**UNDECLARED_FORMS[(method, path)], **(e.form or {})}
            found.append(e)
    return found


def json_baseline(model: type[BaseModel]) -> dict[str, Any]:
    """The known good body of ``model``, else one built from its fields (a new route is attacked anyway)."""
    for name in (f"{model.__module__.rsplit('.', 1)[-1]}.{model.__name__}", model.__name__):
        if name in JSON_BASELINES:
            return copy.deepcopy(JSON_BASELINES[name])
    made: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            continue
        kind = info.annotation
        made[name] = 1 if kind is int else True if kind is bool else {} if kind is dict else "x"
    return made


def leaves(doc: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every field of a JSON document, containers too (a wrong type is aimed at each)."""
    if prefix:
        yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from leaves(value, (*prefix, key))


# What a typed (int, bool) field is tried with besides the inputs aimed at it: a parser's refusal of
# any other text is FastAPI's, the same for every value, so a sample of each class suffices there.
TYPED_SAMPLE = {"SQL / LIKE metacharacters", "path traversal", "unicode edge", "oversized"}


def aimed_at(hostile: Hostile, name: str, kind: Any, where: str, baseline: Any = None) -> bool:
    last = name.rsplit(".", 1)[-1]
    if hostile.cls == "wrong type" and where == "json":
        # Not a wrong type where it is the field's own (true for a flag, {} for a section, null for one).
        same = type(hostile.value) is type(baseline) or (hostile.value is None and isinstance(baseline, dict))
        return not same
    if kind in (int, bool) and where in ("path", "query") and hostile.aims == "any":
        return hostile.cls in TYPED_SAMPLE
    if hostile.aims == "csr":
        return last == "csr"
    if hostile.aims == "email":
        return "email" in last or last == "address"
    if hostile.aims == "int":
        return kind is int
    if hostile.aims == "token":
        return where == "path" and kind is str
    if hostile.aims == "next":
        return last == "next"
    return hostile.textual or where == "json"


# --- sending --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    endpoint: Endpoint
    where: str  # path, query, json, form, body
    field: str
    cls: str
    label: str
    refuse: bool
    request: dict[str, Any]


def _fill(value: str, n: int, csr: str) -> str:
    return value.replace("{n8}", f"{10_000_000 + n % 89_999_999}").replace("{n}", str(n)).replace("{csr}", csr)


def _filled(doc: Any, n: int, csr: str) -> Any:
    if isinstance(doc, dict):
        return {k: _filled(v, n, csr) for k, v in doc.items()}
    return _fill(doc, n, csr) if isinstance(doc, str) else doc


def _encoded(value: str | bytes) -> bytes:
    """A lone surrogate, which UTF-8 cannot carry, is sent as the bytes it would have been (invalid UTF-8)."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def _quoted(value: str | bytes) -> str:
    return quote(_encoded(value), safe="")


def _form_bytes(form: dict[str, Any]) -> bytes:
    return "&".join(f"{quote_plus(k)}={quote_plus(_encoded(v))}" for k, v in form.items()).encode()


def _json_bytes(doc: Any, raw: dict[str, bytes]) -> bytes:
    """JSON text; ``raw`` swaps placeholders for JSON text put in as it is (bytes that are not UTF-8, deep nesting)."""
    out = json.dumps(doc).encode()
    for placeholder, value in raw.items():
        out = out.replace(json.dumps(placeholder).encode(), value)
    return out


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target.get(key), dict) else target.setdefault(key, {})
    target[path[-1]] = value
    return doc


class Sender:
    """Builds each attempt's request: the route's good values with one field hostile."""

    def __init__(self, ids: dict[str, str], csr: str, csrf: dict[str, str]) -> None:
        self.ids, self.csr, self.csrf = ids, csr, csrf
        self.counter = itertools.count(1)

    def _path(self, e: Endpoint, override: tuple[str, str] | None = None) -> str:
        path = e.path
        for name, kind in e.path_params.items():
            value = override[1] if override and override[0] == name else self.ids.get(name, "1" if kind is int
                                                                                     else "no-such-token")
            path = path.replace("{" + name + "}", value)
        return path

    def _form(self, e: Endpoint, n: int) -> dict[str, Any]:
        form = {k: _fill(v, n, self.csr) for k, v in (e.form or {}).items()}
        if "csrf_token" in form and e.caller in self.csrf:
            form["csrf_token"] = self.csrf[e.caller]
        return form

    def _json(self, e: Endpoint, n: int) -> Any:
        assert e.model is not None
        return _filled(json_baseline(e.model), n, self.csr)

    def baseline(self, e: Endpoint) -> dict[str, Any]:
        n = next(self.counter)
        request: dict[str, Any] = {"method": e.method, "url": self._path(e)}
        if e.model is not None:
            request["content"], request["type"] = _json_bytes(self._json(e, n), {}), "application/json"
        elif e.form is not None:
            request["content"] = _form_bytes(self._form(e, n))
            request["type"] = "application/x-www-form-urlencoded"
        return request

    def attempts(self, e: Endpoint) -> Iterator[Attempt]:
        for hostile in CORPUS:
            value = hostile.value
            # uvicorn refuses a request line over 64 KB itself (h11's limit), before any app sees it.
            in_url = hostile.textual and len(_quoted(value)) < URL_LIMIT
            for name, kind in e.path_params.items():
                if in_url and aimed_at(hostile, name, kind, "path"):
                    request = {**self.baseline(e), "url": self._path(e, (name, _quoted(value)))}
                    yield Attempt(e, "path", name, hostile.cls, hostile.label, hostile.refuse, request)
            for name, kind in e.query.items():
                if in_url and aimed_at(hostile, name, kind, "query"):
                    request = {**self.baseline(e)}
                    request["url"] += f"?{name}={_quoted(value)}"
                    yield Attempt(e, "query", name, hostile.cls, hostile.label, hostile.refuse, request)
            if e.model is not None:
                doc = self._json(e, next(self.counter))
                for path in leaves(doc):
                    name = ".".join(path)
                    if not aimed_at(hostile, name, type(_get(doc, path)), "json", _get(doc, path)):
                        continue
                    raw = {"\x00raw": value.text if isinstance(value, RawJson) else b'"' + value + b'"'} \
                        if isinstance(value, bytes | RawJson) else {}
                    content = _json_bytes(_set(doc, path, "\x00raw" if raw else value), raw)
                    request = {**self.baseline(e), "content": content, "type": "application/json"}
                    yield Attempt(e, "json", name, hostile.cls, hostile.label, hostile.refuse, request)
            if e.form is not None and hostile.textual:
                for name in e.form:
                    if not aimed_at(hostile, name, str, "form"):
                        continue
                    form = {**self._form(e, next(self.counter)), name: value}
                    request = {**self.baseline(e), "content": _form_bytes(form),
                               "type": "application/x-www-form-urlencoded"}
                    # No CSRF token but the session's own passes, whatever else it is.
                    refuse = hostile.refuse or name == "csrf_token"
                    yield Attempt(e, "form", name, hostile.cls, hostile.label, refuse, request)
        if e.model is not None or e.form is not None or (e.method, e.path) in RAW_BODIES:
            for body in BODIES:
                yield self._whole(e, body)

    def _whole(self, e: Endpoint, body: Body) -> Attempt:
        request = {**self.baseline(e), "content": body.content, "type": body.content_type}
        return Attempt(e, "body", "(whole body)", "whole body", body.label, True, request)


def _get(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


class RotatingTransport(httpx.ASGITransport):
    """Each request from a new client address (the scope is built before the first await)."""

    def __init__(self, app: Any) -> None:
        super().__init__(app=app, raise_app_exceptions=False)
        self.addresses = (f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in itertools.count(1))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.client = (next(self.addresses), 40000)
        return await super().handle_async_request(request)


def presenting(app: FastAPI, pem: str) -> Any:
    """The account app as ``certdesk up``'s HTTPS port serves it: the verified certificate in the scope."""
    async def with_certificate(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, TLS_PORT_SCOPE_KEY: quote(pem, safe="")}
        await app(scope, receive, send)
    return with_certificate


# --- the rules ----------------------------------------------------------------------------------

def breaches(attempt: Attempt, response: httpx.Response) -> list[str]:
    e, status, body = attempt.endpoint, response.status_code, response.text
    kind = response.headers.get("content-type", "")
    found = []
    if status >= 500:
        found.append(f"{status}")
    if status == 429:
        found.append("429 (the throttle, not the input)")
    if ENGLISH.search(body):
        found.append(f"library English / stack trace: {ENGLISH.search(body).group(0)!r}")  # type: ignore[union-attr]
    if SCRIPT in body and kind.startswith("text/html"):
        found.append("script reflected unescaped")
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        own = str(response.request.url.copy_with(path="/", query=None))
        if not (location.startswith(own) or location.startswith("/") and location[1:2] not in ("/", "\\")):
            found.append(f"redirect off the site: {location!r}")
    elif e.page and status >= 400 and not kind.startswith("text/html"):
        found.append(f"{status} {kind or 'no content type'} to a browser")
    elif not e.page and status >= 400:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "error" not in answer:
            found.append(f"{status} not a JSON error")
        elif status == 422:
            named = [f.get("field", "") for f in answer.get("fields") or []]
            if answer["error"] == "invalid_input" and not named:
                found.append("422 naming no field")
            if attempt.where in ("json", "query") and attempt.refuse and not any(
                    n == attempt.field or n.startswith(attempt.field + ".") or attempt.field.startswith(n + ".")
                    for n in named):
                found.append(f"422 names {named}, not {attempt.field}")
    if e.path == "/ocsp" and status == 200:
        if response.content != OCSP_MALFORMED:
            found.append("OCSP answered other than malformedRequest")
    # Done: 2xx, or 303 to the next page (a 307 is the router adding or removing a slash).
    elif attempt.refuse and e.method in STATE_CHANGING and (status < 300 or status == 303):
        found.append(f"accepted ({status})")
    return found


def table_contents(engine: Engine) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every row of every table, but a session's ``last_seen_at`` (each request moves it on) and the
    audit trail's record of wrong guesses (failed logins are audited, by design)."""
    found = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in UNCOUNTED:
                continue
            rows = conn.execute(select(*(c for c in table.columns if c.name != "last_seen_at"))).mappings()
            found[table.name] = Counter(tuple(map(repr, r.values())) for r in rows
                                        if not str(r.get("action", "")).endswith(AUDITED_GUESSES))
    return found


async def workflows_on(client: Client, task_queue: str) -> int:
    return (await client.count_workflows(f"TaskQueue='{task_queue}'")).count


# --- the stack ------------------------------------------------------------------------------------

@dataclass
class Target:
    main: httpx.AsyncClient
    account: httpx.AsyncClient
    headers: dict[str, dict[str, str]]  # caller -> headers
    sender: Sender


def _cookie_session(engine: Engine, kind: sessions.SessionKind, token: str, origin: str) -> tuple[dict[str, str], str]:
    """A browser's headers for the session whose bearer token is ``token``, and its CSRF token."""
    with session_scope(engine) as s:
        row = s.get(kind.model, sessions.digest(token))
        assert row is not None
        return {"cookie": f"{kind.cookie_name(False)}={token}", "origin": origin}, row.csrf_token


@pytest.fixture
async def target(local_stack: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Target]:
    from tests.test_certificate_authority import make_csr

    # argon2id at a cost a test can pay thousands of times (what is checked stays the same).
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(credentials, "_hasher", cheap)
    for module in (staff_auth, customer_auth):
        monkeypatch.setattr(module, "DUMMY_HASH", cheap.hash("certdesk dummy password for timing"))
    authority.ensure_hierarchy(engine, local_stack)
    accounts.create_staff(engine, "boss", "supervisor", password=PASSWORD)
    accounts.create_staff(engine, "clerk", "support", password=PASSWORD)
    customer = accounts.create_customer(engine, "Hostile KK", "it@hostile.example.co.jp",
                                        local_stack.initial_password_ttl)
    tenant_id, key = accounts.create_tenant(engine, "Example Shop")
    issued = authority.issue_login(engine, local_stack, "key-hostile", "Kato Jiro", "test")
    with session_scope(engine) as s:
        s.add(LoginUser(tenant_id=tenant_id, user_id="u-holder", email="holder@example.jp",
                        certificate_name="Kato Jiro", certificate_serial=issued.serial))
    account_app = presenting(create_account_app(local_stack), issued.pem)
    async with httpx.AsyncClient(transport=RotatingTransport(create_app(local_stack)),
                                 base_url="http://certdesk.test", timeout=60) as main, \
            httpx.AsyncClient(transport=RotatingTransport(account_app), base_url="https://account.test",
                              timeout=60) as account:
        staff = (await main.post("/api/v1/staff/session", json={"username": "boss", "password": PASSWORD})).json()
        support = (await main.post("/api/v1/staff/session", json={"username": "clerk", "password": PASSWORD})).json()
        first = (await main.post("/api/v1/session", json={"access_key": customer.access_key,
                                                          "password": customer.initial_password})).json()
        new = "a new and long passphrase"
        changed = await main.post("/api/v1/password", json={"current_password": customer.initial_password,
                                                            "new_password": new},
                                  headers={"authorization": f"Bearer {first['token']}"})
        assert changed.status_code == 200, changed.text
        cust = (await main.post("/api/v1/session", json={"access_key": customer.access_key,
                                                         "password": new})).json()
        page = await account.get("/account/secret")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf, page.text[:500]
        # The JSON API by bearer token; pages as a browser has them: cookie, our Origin, the form's CSRF token.
        headers = {"nobody": {}, "customer": {"authorization": f"Bearer {cust['token']}"},
                   "staff": {"authorization": f"Bearer {support['token']}"},
                   "supervisor": {"authorization": f"Bearer {staff['token']}"},
                   "tenant": {"authorization": f"Bearer {key}"}}
        origin = "http://certdesk.test"
        headers["customer page"], customer_csrf = _cookie_session(engine, sessions.CUSTOMER, cust["token"], origin)
        headers["staff page"], staff_csrf = _cookie_session(engine, sessions.STAFF, support["token"], origin)
        headers["supervisor page"], supervisor_csrf = _cookie_session(engine, sessions.STAFF, staff["token"], origin)
        headers["nobody page"] = {"origin": origin}
        headers["holder page"] = headers["holder"] = {"origin": "https://account.test"}
        csrf_tokens = {"customer": customer_csrf, "staff": staff_csrf, "supervisor": supervisor_csrf,
                       "holder": csrf.group(1)}
        sender = Sender({}, make_csr("www.hostile-test.com"), csrf_tokens)
        yield Target(main, account, headers, sender)


async def _send(t: Target, attempt: Attempt) -> httpx.Response:
    e, request = attempt.endpoint, attempt.request
    http = t.main if e.app == "main" else t.account
    headers = {**t.headers[e.caller if not e.page else f"{e.caller} page"],
               "accept": "text/html" if e.page else "application/json"}
    if "type" in request:
        headers["content-type"] = request["type"]
    return await http.request(request["method"], request["url"], content=request.get("content"), headers=headers)


async def _run(t: Target, attempts: list[Attempt]) -> tuple[list[str], Counter[int]]:
    import time
    found: list[str] = []
    statuses: Counter[int] = Counter()
    spent: Counter[str] = Counter()
    async def one(attempt: Attempt) -> None:
        began = time.monotonic()
        response = await _send(t, attempt)
        spent[attempt.endpoint.name] += time.monotonic() - began
        statuses[response.status_code] += 1
        found.extend(f"{attempt.endpoint.name} [{attempt.where} {attempt.field}] {attempt.cls}: {attempt.label[:60]}"
                     f" -> {problem}" for problem in breaches(attempt, response))

    for start in range(0, len(attempts), BATCH):
        await asyncio.gather(*(one(a) for a in attempts[start:start + BATCH]))
    return found, statuses


async def test_every_route_refuses_the_hostile_corpus(target: Target, local_stack: Settings, engine: Engine,
                                                      local_env: Any) -> None:
    main = endpoints(create_app(local_stack), "main")
    account = endpoints(create_account_app(local_stack), "account")
    routes = [e for e in main + account if e.path_params or e.query or e.model or e.form is not None
              or (e.method, e.path) in RAW_BODIES]
    assert len(routes) >= 70 and {e.app for e in routes} == {"main", "account"}
    # A route that changes state reading nothing it declares must be named here (or in UNDECLARED_FORMS).
    silent = {(e.method, e.path) for e in main + account if e.method in STATE_CHANGING and e not in routes}
    assert silent == NO_INPUT, silent
    attempts = [a for e in routes for a in target.sender.attempts(e)]
    assert len(CORPUS) + len(BODIES) >= 150
    assert {a.endpoint.name for a in attempts} == {e.name for e in routes}  # each route attacked

    client: Client = local_env.client
    tables, started = table_contents(engine), await workflows_on(client, local_stack.task_queue)
    refused = [a for a in attempts if a.refuse]
    found, statuses = await _run(target, refused)
    await asyncio.sleep(1.0)  # visibility lags a start by a moment
    after = table_contents(engine)
    changed = {name: (after[name] - rows, rows - after[name]) for name, rows in tables.items() if after[name] != rows}
    found += [f"table {name} changed: +{list(added)[:3]} -{list(gone)[:3]}" for name, (added, gone) in changed.items()]
    new_workflows = await workflows_on(client, local_stack.task_queue) - started
    if new_workflows:
        found.append(f"{new_workflows} workflow(s) started")

    more, _ = await _run(target, [a for a in attempts if not a.refuse])
    found += more
    assert statuses[422] > 1000  # the corpus reached the validators, not only the doors
    assert not found, f"{len(found)} breaches:\n" + "\n".join(sorted(found))
