"""Route × identity matrix (issue 14, tests that enumerate): every route of both apps, every kind
of caller, someone else's ids, against the real stack.

Who may call a route is written down in tests/route_table.py, one entry per route; the walk of
the apps' route tables fails for a route without an entry, an entry without a route, and an
entry that disagrees with the route's dependencies. The expected answers are ``broken``'s rules.

The resources are real, made through the API: customer A's application with its review task and
domain validations; tenant A's and tenant B's users with downloaded login certificates, a live
enrollment, reissue and download link. Resources of A are someone else's ids for B. Bodies are
minimal and invalid (``[]``, an empty form), so that a rightful caller gets a 422 without changing
anything, and a caller of the wrong kind shows that who calls is checked before what is sent.
"""

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from fastapi import FastAPI
from sqlalchemy import Engine

from api import customer_auth, staff_auth
from api.app import create_app
from api.enrollments import link
from api.login_account import create_account_app
from ca import authority
from certdesk.dev_network import serve_dev_network
from domain.pki.hierarchy import CLIENT_CA
from domain.settings import Settings
from store import accounts, dev_mailbox
from tests.conftest import free_port
from tests.route_table import ACCOUNT, MAIN, Access, RouteEntry, disagreement, walk
from tests.test_applications import ORG
from tests.test_certificate_authority import make_csr
from tests.test_login_account import CSRF
from tests.test_login_certificates import token_of

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a much better passphrase"
OWNED = ("application_id", "validation_id", "public_id", "user_id", "serial",  # someone's: 404 to the others
         "device_id")
INVALID_JSON: list[object] = []  # well-formed, and no route's body


@dataclass(frozen=True)
class Caller:
    name: str
    kind: str  # nobody | tenant | end_user | customer | support | supervisor
    owner: str  # whose resources are its own: "a", "b" or ""
    ip: str  # its own client address, so that no per-address throttle counts another's calls
    headers: dict[str, str]
    csrf: str = ""  # its cookie session's CSRF token, sent as our own pages' forms send it
    relogin: Callable[[], tuple[str, str]] | None = None  # a fresh session of the same person: (token, csrf)


RIGHTFUL = {"customer": {"customer"}, "staff": {"support", "supervisor"}, "supervisor": {"supervisor"},
            "tenant": {"tenant"}, "end_user_cert": {"end_user"}}


def rightful(access: Access, caller: Caller) -> bool:
    return access.who in ("public", "dev") or caller.kind in RIGHTFUL.get(access.who, set())


def broken(access: Access, situation: str, path: str, answer: httpx.Response) -> str | None:
    """What is wrong with ``answer`` (None when nothing is). ``situation``: ``rightful`` (the caller
    the route is for, its own ids or a live link), ``wrong_kind``, ``foreign`` (the right kind of
    caller with someone else's ids) or ``random_token`` (a link token that names nothing)."""
    status = answer.status_code
    if status >= 500 or status == 429:
        return f"{status}"
    if situation == "random_token":
        return None if status in (404, 410) else f"{status}, not 404/410"
    if situation == "foreign":
        return None if status == 404 else f"{status}, not 404 (someone else's ids)"
    if situation == "wrong_kind":
        login = "/desk/login" if access.who in ("staff", "supervisor") else "/login"
        redirected = status == 303 and answer.headers.get("location", "").startswith(f"{login}?next=")
        if status in (401, 403) or (redirected and not path.startswith("/api/")):
            return None
        return f"{status}, not 401/403 (or 303 to {login})"
    if status == 401 and access.refuses_credentials:
        return None  # a login refusing the empty credentials it was sent
    if status == 403 and access.origin_only:
        return None  # the CSRF guard, for a form posted without Origin
    if status in (401, 403):
        return f"{status} to its rightful caller"
    if status == 303 and "/login?next=" in answer.headers.get("location", ""):
        return "sent to the login page, its rightful caller"
    if status == 404 and not access.may_be_absent:
        return "404 although it exists"
    return None


@dataclass
class World:
    main: FastAPI
    account: FastAPI
    callers: list[Caller]
    account_callers: list[Caller]  # the same, with the end users' account sessions (a browser's cookie)
    ids: dict[str, dict[str, str]]  # owner ("a", "b"; "" for anyone's) -> path parameter -> value
    links: dict[str, tuple[str, str]]  # link kind -> (its holder's name, live token)
    engine: Engine
    settings: Settings
    clients: dict[tuple[int, str], httpx.AsyncClient] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    entry: RouteEntry
    access: Access
    caller: Caller
    situation: str
    params: dict[str, str]

    @property
    def path(self) -> str:
        path = self.entry.path
        for name, value in self.params.items():
            path = path.replace("{" + name + "}", value)
        return path

    def request(self) -> dict[str, Any]:
        headers = {**self.caller.headers, "accept": "application/json" if "/api/" in self.path else "text/html"}
        if self.entry.method in ("GET", "HEAD"):
            return {"headers": headers}
        if self.entry.body() == "json":
            refusing = self.situation in ("foreign", "random_token")
            body = (self.access.probe or {}) if refusing else INVALID_JSON
            return {"headers": headers, "json": body}
        form = {name: self.caller.name for name in self.access.named}
        return {"headers": headers, "data": {**form, "csrf_token": self.caller.csrf} if self.caller.csrf else form}


def plan(entries: list[RouteEntry], table: dict[tuple[str, str], Access], world: World,
         callers: list[Caller]) -> list[Call]:
    """Every (route, caller) and the situation each call is in; calls that change what later calls
    see come last, logouts after them."""
    calls = []
    for entry in entries:
        access = table[entry.key]
        names = re.findall(r"{(\w+)}", entry.path)
        assert set(names) <= {*OWNED, *world.ids[""], "token"}, f"{entry.path}: a parameter the test cannot fill"
        for caller in callers:
            if access.who.startswith("link:"):
                calls.append(Call(entry, access, caller, "random_token", {"token": secrets.token_urlsafe(32)}))
                holder, token = world.links.get(access.who[5:], ("", ""))
                if caller.name == holder:
                    calls.append(Call(entry, access, caller, "rightful", {"token": token}))
                continue
            mine, theirs = world.ids.get(caller.owner, {}), world.ids["b" if caller.owner == "a" else "a"]
            shared = {n: world.ids[""][n] for n in names if n not in OWNED}
            owned = [n for n in names if n in OWNED]
            if not rightful(access, caller):
                a = world.ids["a"]  # real things (A has one of each), so that a refusal is not just "no such thing"
                calls.append(Call(entry, access, caller, "wrong_kind", {**shared, **{n: a[n] for n in owned}}))
                continue
            if all(n in mine for n in owned):
                calls.append(Call(entry, access, caller, "rightful", {**shared, **{n: mine[n] for n in owned}}))
            if owned and all(n in theirs for n in owned):
                calls.append(Call(entry, access, caller, "foreign", {**shared, **{n: theirs[n] for n in owned}}))
    return sorted(calls, key=lambda c: (c.access.ends_session, c.access.last))


async def run(world: World, app: FastAPI, calls: list[Call]) -> list[str]:
    failures = []
    for call in calls:
        caller = call.caller
        if call.access.ends_session and call.situation == "rightful" and caller.relogin is not None:
            caller = await fresh_session(caller)  # a logout spends a session of its own
        http = client(world, app, caller)
        http.cookies.clear()  # a caller sends only the credentials it is given
        answer = await http.request(call.entry.method, call.path, **replace(call, caller=caller).request())
        problem = broken(call.access, call.situation, call.path, answer)
        if problem:
            failures.append(f"{call.entry.method} {call.path} [{caller.name}, {call.situation}]: {problem}"
                            f" {answer.text[:120]!r}")
    return failures


def client(world: World, app: FastAPI, caller: Caller) -> httpx.AsyncClient:
    key = (id(app), caller.ip)
    if key not in world.clients:
        transport = httpx.ASGITransport(app=app, client=(caller.ip, 50000))
        world.clients[key] = httpx.AsyncClient(transport=transport, base_url="http://certdesk.test")
    return world.clients[key]


async def fresh_session(caller: Caller) -> Caller:
    assert caller.relogin is not None
    token, csrf = await asyncio.to_thread(caller.relogin)
    if "authorization" in caller.headers:
        return replace(caller, headers={"authorization": f"Bearer {token}"})
    name = caller.headers["cookie"].split("=", 1)[0]
    return replace(caller, headers={"cookie": f"{name}={token}", "x-csrf-token": csrf}, csrf=csrf)


# --- the people and their things ------------------------------------------------------------------

def _session_callers(name: str, kind: str, owner: str, ips: tuple[str, str], cookie: str,
                     login: Callable[[], tuple[str, str]]) -> list[Caller]:
    """The same person by bearer token and by cookie, each with a session of its own."""
    token, _ = login()
    cookie_token, csrf = login()
    return [Caller(f"{name}_token", kind, owner, ips[0], {"authorization": f"Bearer {token}"}, relogin=login),
            Caller(f"{name}_cookie", kind, owner, ips[1], {"cookie": f"{cookie}={cookie_token}", "x-csrf-token": csrf},
                   csrf=csrf, relogin=login)]


def _staff(engine: Engine, settings: Settings, username: str, role: str, ips: tuple[str, str]) -> list[Caller]:
    accounts.create_staff(engine, username, role, password=PASSWORD)

    def login() -> tuple[str, str]:
        token, principal = staff_auth.login(engine, settings, username, PASSWORD)
        return token, principal.csrf_token

    return _session_callers(username, role, "", ips, "certdesk_staff", login)


def _customer(engine: Engine, settings: Settings, owner: str, ips: tuple[str, str]) -> list[Caller]:
    new = accounts.create_customer(engine, f"Matrix {owner} KK", f"it@{owner}.example.co.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, NEW_PASSWORD, token)

    def login() -> tuple[str, str]:
        token, principal = customer_auth.login(engine, settings, new.access_key, NEW_PASSWORD)
        return token, principal.csrf_token

    return _session_callers(f"customer_{owner}", "customer", owner, ips, "certdesk_customer", login)


async def _until(probe: Callable[[], Awaitable[Any]], what: str, seconds: float = 30) -> Any:
    for _ in range(int(seconds / 0.1)):
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {what} within {seconds} s")


async def _application_in_review(http: httpx.AsyncClient, customer: dict[str, str],
                                 staff: dict[str, str]) -> dict[str, str]:
    body = {"type": "new", "product": "ov", "csr": make_csr("www.example.co.jp", "example.co.jp"),
            "agree_terms": True, "organization": ORG,
            "contacts": {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"}}}
    applied = await http.post("/api/v1/applications", json=body, headers=customer)
    assert applied.status_code in (200, 201, 202), applied.text
    app_id = applied.json()["id"]

    async def review_task() -> list[dict[str, Any]]:
        tasks = (await http.get("/api/v1/tasks?state=open&kind=application_review", headers=staff)).json()
        return [t for t in tasks if t["subject"] == f"application:{app_id}"]

    task = (await _until(review_task, "review task"))[0]
    validations = (await http.get(f"/api/v1/applications/{app_id}/domain-validations", headers=customer)).json()
    return {"application_id": str(app_id), "validation_id": str(validations[0]["id"]), "task_id": str(task["id"])}


async def _invite(http: httpx.AsyncClient, tenant: dict[str, str], user_id: str) -> dict[str, str]:
    answer = await http.post("/api/v1/enrollments", headers=tenant,
                             json={"user_id": user_id, "email": f"{user_id}@example.jp", "name": "Yamada Taro"})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _registered(http: httpx.AsyncClient, tenant: dict[str, str], user_id: str) -> tuple[str, str, str]:
    """A user who entered the OTP and a secret answer: (enrollment id, link token, download password)."""
    invitation = await _invite(http, tenant, user_id)
    token = token_of(invitation["enrollment_url"])
    otp = await http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": invitation["one_time_password"]})
    assert otp.status_code == 200, otp.text
    secret = await http.post(f"/api/v1/enroll/{token}/secret",
                             json={"question_id": otp.json()["questions"][0]["id"], "answer": "Tanaka"})
    assert secret.status_code == 200, secret.text
    return invitation["id"], token, secret.json()["download_password"]


async def _certificate_holder(http: httpx.AsyncClient, tenant: dict[str, str], user_id: str) -> dict[str, str]:
    """A registered user who downloaded the certificate: its ids and the certificate's PEM."""
    public_id, token, password = await _registered(http, tenant, user_id)

    async def downloaded() -> httpx.Response | None:
        answer = await http.post(f"/api/v1/downloads/{token}", json={"download_password": password})
        return answer if answer.status_code != 409 else None  # 409 while the certificate is on its way

    p12 = await _until(downloaded, f"download for {user_id}")
    assert p12.status_code == 200, p12.text
    _, cert, _ = pkcs12.load_key_and_certificates(p12.content, password.encode())
    assert cert is not None
    serial = format(cert.serial_number, "x")
    return {"public_id": public_id, "user_id": user_id, "serial": serial,
            "pem": cert.public_bytes(Encoding.PEM).decode(), "device_id": await _device_id(http, tenant, user_id)}


async def _device_id(http: httpx.AsyncClient, tenant: dict[str, str], user_id: str) -> str:
    """The user's first device (L-4): their certificate's."""
    devices = await http.get(f"/api/v1/users/{user_id}/devices", headers=tenant)
    return str(devices.json()["devices"][0]["id"])


async def _with_account_session(world: World, holder: Caller) -> Caller:
    """The end user as a browser is after the first page: its session's cookie and CSRF token."""
    page = await client(world, world.account, holder).get("/account", headers=holder.headers)
    assert page.status_code == 200, page.text
    cookie = page.headers["set-cookie"].split(";", 1)[0]
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    return replace(holder, headers={**holder.headers, "cookie": cookie, "x-csrf-token": csrf}, csrf=csrf)


@pytest.fixture
async def world(local_stack: Settings, engine: Engine) -> AsyncIterator[World]:
    # Every optional route mounted: the embedded mailbox's pages and certdesk up's /dev/dns.
    settings = local_stack.model_copy(update={"smtp_host": None, "dev_dns_port": free_port()})
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    ip = iter(f"10.0.0.{i}" for i in range(1, 100))
    staff = _staff(engine, settings, "sato", "support", (next(ip), next(ip)))
    staff += _staff(engine, settings, "boss", "supervisor", (next(ip), next(ip)))
    customers = _customer(engine, settings, "a", (next(ip), next(ip))) + _customer(engine, settings, "b",
                                                                                   (next(ip), next(ip)))
    tenants = {owner: {"authorization": f"Bearer {accounts.create_tenant(engine, f'Shop {owner}')[1]}"}
               for owner in ("a", "b")}
    end_user_ips = {"a": next(ip), "b": next(ip)}
    with serve_dev_network(settings) as (_, network):
        main = create_app(settings, dev_network=network)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=main, client=(next(ip), 1)),
                                     base_url="http://certdesk.test") as http:
            application, holder_a, holder_b, live = await asyncio.gather(
                _application_in_review(http, customers[0].headers, staff[0].headers),
                _certificate_holder(http, tenants["a"], "u-a"), _certificate_holder(http, tenants["b"], "u-b"),
                _registered(http, tenants["b"], "u-b2"))
            reissue = await http.post(f"/api/v1/login-certificates/{holder_a['serial']}/reissue",
                                      headers=tenants["a"], json={})
            assert reissue.status_code == 201, reissue.text
            fresh = await _invite(http, tenants["a"], "u-a2")
        mails = dev_mailbox.list_mail(settings.data_dir / "mailbox")
        cert_header = settings.client_cert_header
        callers = [
            Caller("nobody", "nobody", "", next(ip), {}),
            *[Caller(f"tenant_{o}", "tenant", o, next(ip), tenants[o]) for o in ("a", "b")],
            *[Caller(f"end_user_{o}", "end_user", o, end_user_ips[o], {cert_header: quote(h["pem"], safe="")})
              for o, h in (("a", holder_a), ("b", holder_b))],
            # A's certificate in the header, from a peer that is no trusted proxy: believed by nobody.
            Caller("a_cert_untrusted_peer", "nobody", "", next(ip), {cert_header: quote(holder_a["pem"], safe="")}),
            *customers, *staff,
        ]
        trusted = ",".join(end_user_ips.values())  # the TLS terminator that passes the header on
        world = World(
            main, create_account_app(settings.model_copy(update={"trusted_proxies": trusted})), callers, [],
            {"a": {**application, **{k: holder_a[k] for k in ("public_id", "user_id", "serial", "device_id")}},
             "b": {k: holder_b[k] for k in ("public_id", "user_id", "serial", "device_id")},
             "": {"task_id": application["task_id"], "name": CLIENT_CA, "encoded": "MAMCAQA", "mail_id": mails[0].id}},
            {"enroll": ("end_user_a", token_of(fresh["enrollment_url"])),
             "reissue": ("end_user_a", token_of(link(settings, "/reissue", reissue.json()["id"]))),
             "download": ("end_user_b", live[1])},
            engine, settings)
        world.account_callers = [await _with_account_session(world, c) if c.kind == "end_user" else c
                                 for c in callers]
        try:
            yield world
        finally:
            for open_client in world.clients.values():
                await open_client.aclose()


def check_table(app: FastAPI, table: dict[tuple[str, str], Access]) -> tuple[list[RouteEntry], list[str]]:
    entries = walk(app)
    found = {e.key for e in entries}
    problems = [f"{m} {p}: no entry in tests/route_table.py" for m, p in sorted(found - table.keys())]
    problems += [f"{m} {p}: in the table, not in the app" for m, p in sorted(table.keys() - found)]
    for entry in entries:
        why = disagreement(entry, table[entry.key]) if entry.key in table else None
        if why:
            problems.append(f"{entry.method} {entry.path}: {why}")
    return entries, problems


async def test_every_route_answers_each_kind_of_caller_as_its_table_entry_says(world: World) -> None:
    main_routes, problems = check_table(world.main, MAIN)
    account_routes, account_problems = check_table(world.account, ACCOUNT)
    assert not problems + account_problems, "\n".join(problems + account_problems)
    assert len(main_routes) >= 100 and len(account_routes) == len(ACCOUNT)  # the walk reached included routers

    # Lists name no ids in their path: what B sees must not be A's.
    customer_b, end_user_b = (next(c for c in world.account_callers if c.name == n) for n in ("customer_b_token",
                                                                                              "end_user_b"))
    listed = await client(world, world.main, customer_b).get("/api/v1/applications", headers=customer_b.headers)
    me = await client(world, world.account, end_user_b).get("/api/v1/me", headers=end_user_b.headers)
    assert listed.json() == [] and me.json()["user_id"] == "u-b"

    main_calls = plan(main_routes, MAIN, world, world.callers)
    account_calls = plan(account_routes, ACCOUNT, world, world.account_callers)
    assert {c.situation for c in main_calls} == {"rightful", "wrong_kind", "foreign", "random_token"}
    assert {"rightful", "wrong_kind"} <= {c.situation for c in account_calls}
    # The account app first: the tenant's revocation among the main app's last calls ends A's certificate.
    first = [c for c in main_calls if not (c.access.last or c.access.ends_session)]
    failures = await run(world, world.main, first)
    failures += await run(world, world.account, account_calls)
    failures += await run(world, world.main, main_calls[len(first):])
    assert not failures, f"{len(failures)} of {len(main_calls) + len(account_calls)} calls broke their rule:\n" + \
        "\n".join(failures)
