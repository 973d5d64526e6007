"""Cross-site requests (issue 14, finding 3): every state-changing route of both apps, taken from
their route tables, refuses a request from another origin that rides on a session cookie (or the
account app's client certificate), and changes nothing; with the session's CSRF token, or from our
own origin, the same request gets past that check. A route added later is in the table, so it is
in this test.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import Engine, func
from sqlmodel import SQLModel, col, select

from api import customer_auth, sessions, staff_auth
from api.app import create_app
from api.login_account import END_USER, create_account_app
from certdesk.dev_network import serve_dev_network
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import Application, AuditEvent, CustomerSession, EndUserSession, LoginUser, StaffSession, StaffUser

BASE = "http://certdesk.test"
EVIL = "https://evil.example"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
PASSWORD = "correct horse battery"
ORG = {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"}
CONTACTS = {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"}}


def state_changing(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route that may change something, from the app's own table."""
    return sorted((method, str(route.path)) for route in iter_route_contexts(app.routes)
                  for method in (route.methods or set()) & STATE_CHANGING)


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)  # id 1 exists (the application below); tokens are just unknown


@dataclass
class World:
    settings: Settings
    engine: Engine
    app: FastAPI
    account_app: FastAPI
    customer_id: int
    staff_id: int
    login_user_id: int
    tenant_key: str
    application_id: int

    def sessions(self) -> dict[str, tuple[str, str, str]]:
        """Fresh sessions (cookie name, token, CSRF token) of the customer, the staff member and the
        certificate holder: a route that logs out or changes a password ends only its own."""
        with session_scope(self.engine) as s:
            opened = {"customer": (sessions.CUSTOMER.cookie_name(False), sessions.CUSTOMER, self.customer_id),
                      "staff": (sessions.STAFF.cookie_name(False), sessions.STAFF, self.staff_id),
                      "holder": (END_USER.cookie_name(True), END_USER, self.login_user_id)}
            return {who: (name, *sessions.open_session(s, kind, owner)) for who, (name, kind, owner) in opened.items()}


@pytest.fixture
def world(settings: Settings, engine: Engine) -> Iterator[World]:
    settings = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})  # nothing may start anyway
    new = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, PASSWORD, token)
    accounts.create_staff(engine, "sato", "supervisor", password=PASSWORD)
    tenant_id, tenant_key = accounts.create_tenant(engine, "example-web")
    with session_scope(engine) as s:
        application = Application(customer_id=new.id, type="new", product="ov", csr_pem="-",
                                  names=["www.example.co.jp"], organization=ORG, contacts=CONTACTS,
                                  status="received", workflow_id="application-1", contract_code="C-CSRF")
        user = LoginUser(tenant_id=tenant_id, user_id="u-1", email="u1@example.jp", certificate_name="Suzuki")
        s.add(application)
        s.add(user)
        s.flush()
        application_id, user_id = int(application.id or 0), int(user.id or 0)
        staff_id = int(s.exec(select(StaffUser.id).where(StaffUser.username == "sato")).one())
    with serve_dev_network(settings) as (dev_settings, network):
        yield World(dev_settings, engine, create_app(dev_settings, dev_network=network),
                    create_account_app(dev_settings), new.id, staff_id, user_id, tenant_key, application_id)


def _cookie_header(opened: dict[str, tuple[str, str, str]]) -> str:
    return "; ".join(f"{name}={token}" for name, token, _ in opened.values())


def _everything(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: the database before and after must be the same."""
    with engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(t.select()).all()), key=repr)
                for t in SQLModel.metadata.sorted_tables}


def _is_csrf_refusal(r: httpx.Response) -> bool:
    return r.status_code == 403 and r.headers.get("content-type", "").startswith("application/json") \
        and r.json().get("error") == "csrf"


async def _send(app: FastAPI, method: str, path: str, headers: dict[str, str],
                data: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        return await http.request(method, path, headers={"accept": "application/json", **headers}, data=data)


def test_the_tables_list_every_state_changing_route(world: World) -> None:
    """Not a vacuous sweep: the forms named in the issue are among the routes walked."""
    routes = set(state_changing(world.app))
    assert len(routes) >= 60
    assert {("POST", "/api/v1/applications/{application_id}/cancel"), ("PUT", "/api/v1/account/profile"),
            ("POST", "/login"), ("POST", "/desk/login"), ("POST", "/password-reset"), ("POST", "/enroll/{token}"),
            ("POST", "/dcv/{token}"), ("POST", "/dev/dns/add")} <= routes
    assert set(state_changing(world.account_app)) == {
        ("POST", "/account/secret"), ("POST", "/account/logout"), ("POST", "/oidc/authorize"),
        ("POST", "/account/devices/add"), ("POST", "/account/devices/add/confirm"),
        ("POST", "/account/devices/{device_id}/edit"), ("POST", "/account/devices/{device_id}/delete"),
        ("POST", "/account/login-method"), ("POST", "/account/login-method/execute")}


async def test_every_state_changing_route_refuses_another_origin_and_changes_nothing(world: World) -> None:
    before = _everything(world.engine)
    let_through = []
    for app in (world.app, world.account_app):
        for method, template in state_changing(app):
            opened = world.sessions()
            headers = {"origin": EVIL, "cookie": _cookie_header(opened)}
            r = await _send(app, method, concrete(template), headers, data={"note": "x"})
            if not _is_csrf_refusal(r):
                let_through.append((method, template, r.status_code, r.text[:200]))
            # The Referer speaks for a browser that sends no Origin.
            referer = {"referer": f"{EVIL}/page", "cookie": _cookie_header(opened)}
            if not _is_csrf_refusal(await _send(app, method, concrete(template), referer)):
                let_through.append((method, template, "by referer"))
            # Riding on a cookie without saying where it comes from proves nothing either.
            if not _is_csrf_refusal(await _send(app, method, concrete(template), {"cookie": _cookie_header(opened)})):
                let_through.append((method, template, "no origin"))
    assert let_through == []
    # Nothing changed: every table as it was, but for the sessions this test opened (each still there).
    opened_per_table = len(state_changing(world.app)) + len(state_changing(world.account_app))
    after = _everything(world.engine)
    for table in (CustomerSession, StaffSession, EndUserSession):
        name = table.__tablename__  # type: ignore[attr-defined]
        assert len(after.pop(name)) == len(before.pop(name)) + opened_per_table
    assert after == before


async def test_with_the_token_or_from_our_origin_every_route_gets_past_the_check(world: World) -> None:
    """Any answer but the CSRF refusal: the route's own checks decide (most answer 401, 404, 422 or 503 here)."""
    stopped = []
    for app in (world.app, world.account_app):
        for method, template in state_changing(app):
            outcomes = []
            for origin in ({}, {"origin": BASE}, {"referer": f"{BASE}/account"}):
                opened = world.sessions()
                # The token of the route's kind of session: one of the three is it.
                for _, _, csrf in opened.values():
                    r = await _send(app, method, concrete(template),
                                    {**origin, "cookie": _cookie_header(opened), "x-csrf-token": csrf},
                                    data={"csrf_token": csrf})
                    if not _is_csrf_refusal(r):
                        break
                outcomes.append(r.status_code if not _is_csrf_refusal(r) else "csrf")
            if "csrf" in outcomes:
                stopped.append((method, template, outcomes))
    assert stopped == []


async def test_same_origin_needs_no_token_where_the_route_asks_for_none(world: World) -> None:
    opened = world.sessions()
    cookie = _cookie_header(opened)
    cancel = await _send(world.app, "POST", f"/api/v1/applications/{world.application_id}/cancel",
                         {"origin": BASE, "cookie": cookie})
    assert cancel.status_code == 503 and cancel.json()["error"] == "unavailable"  # it went on to the workflow
    # The request's own origin, its host over https (a TLS terminator in front), and the public URL's.
    for origin in (BASE, "https://certdesk.test", world.settings.resolved_public_url):
        login = await _send(world.app, "POST", "/login", {"origin": origin},
                            data={"access_key": "00000000", "password": "wrong"})
        assert login.status_code == 401, login.text
    for origin in ("http://certdesk.test:8080", "https://evil.certdesk.test", "http://certdesk.test.evil.example"):
        login = await _send(world.app, "POST", "/login", {"origin": origin},
                            data={"access_key": "00000000", "password": "wrong"})
        assert _is_csrf_refusal(login), origin


async def test_login_csrf_is_refused_and_logs_nobody_in(world: World) -> None:
    with session_scope(world.engine) as s:
        access_key = s.get(customer_auth.Customer, world.customer_id).access_key  # type: ignore[union-attr]
    logins = col(AuditEvent.action).in_(["customer.login", "staff.login"])
    before = _count(world.engine, logins), _count(world.engine, CustomerSession.customer_id == world.customer_id)
    for path, form in (("/login", {"access_key": access_key, "password": PASSWORD}),
                       ("/desk/login", {"username": "sato", "password": PASSWORD})):
        for claimed in ({"origin": EVIL}, {"origin": "null"}, {"referer": f"{EVIL}/x"}):
            r = await _send(world.app, "POST", path, {**claimed, "accept": "text/html", "accept-language": "en"},
                            data=form)
            assert r.status_code == 403 and "set-cookie" not in r.headers
            # A page in the person's language, not JSON.
            assert r.headers["content-type"].startswith("text/html") and "not ours" in r.text
    assert (_count(world.engine, logins), _count(world.engine, CustomerSession.customer_id == world.customer_id)) \
        == before
    # From our own page the same login works.
    ok = await _send(world.app, "POST", "/desk/login", {"origin": BASE},
                     data={"username": "sato", "password": PASSWORD})
    assert ok.status_code == 303 and "certdesk_staff=" in ok.headers["set-cookie"]
    ja = await _send(world.app, "POST", "/login", {"origin": EVIL, "accept": "text/html"},
                     data={"access_key": access_key, "password": PASSWORD})
    assert "このサイト以外のページから送信された" in ja.text


async def test_cancel_from_another_site_leaves_the_application_alone(world: World) -> None:
    opened = world.sessions()
    r = await _send(world.app, "POST", f"/api/v1/applications/{world.application_id}/cancel",
                    {"origin": EVIL, "cookie": _cookie_header(opened)})
    assert _is_csrf_refusal(r)
    with session_scope(world.engine) as s:
        assert s.get(Application, world.application_id).status == "received"  # type: ignore[union-attr]
    # The customer's session is alive and the token in the page still works.
    logout = await _send(world.app, "POST", "/logout", {"cookie": _cookie_header(opened)},
                         data={"csrf_token": opened["customer"][2]})
    assert logout.status_code == 303
    assert _count(world.engine, CustomerSession.token_digest == sessions.digest(opened["customer"][1])) == 0


async def test_a_wrong_token_is_refused(world: World) -> None:
    opened = world.sessions()
    r = await _send(world.app, "PUT", "/api/v1/account/profile",
                    {"cookie": _cookie_header(opened), "x-csrf-token": "not-the-token"})
    assert _is_csrf_refusal(r) and "expired" not in r.json()["message"]  # ja by default


async def test_bearer_calls_are_not_affected(world: World) -> None:
    staff_token, _ = staff_auth.login(world.engine, world.settings, "sato", PASSWORD)
    r = await _send(world.app, "POST", "/api/v1/tasks/999/claim",
                    {"origin": EVIL, "authorization": f"Bearer {staff_token}"})
    assert r.status_code == 404, r.text
    tenant = await _send(world.app, "POST", "/api/v1/enrollments",
                         {"origin": EVIL, "authorization": f"Bearer {world.tenant_key}"})
    assert tenant.status_code == 422, tenant.text


def _count(engine: Engine, where: Any) -> int:
    table = where.left.table
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())
