"""Errors that must stay clean (issue 14, finding 5), by walking the route tables rather than sampling.

* Every route of both apps with an integer path parameter answers an id beyond 64 bits
  (9223372036854775808, which SQLite's driver cannot bind) with 404 or 422, never 500, whoever asks.
* No page takes its status or its words from the query string (``?status=599&error=…``).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from api.app import create_app
from api.ids import MAX_ID
from api.login_account import create_account_app
from domain.settings import Settings
from store import accounts
from tests.route_table import path_params, walk

OVERFLOW = str(2**63)  # 9223372036854775808: beyond every database's integer
PASSWORD = "correct horse battery"
INJECTED = "INJECTED-by-the-link"
HOSTILE_QUERY = {name: INJECTED for name in ("error", "message", "msg", "date", "done", "dcv", "detail", "title")}


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # with the parameters filled in
    int_params: tuple[str, ...]


def calls(app: FastAPI, int_value: str) -> list[Call]:
    """One call per route and method: integer parameters get ``int_value``, the others a plain word."""
    found = []
    for entry in walk(app):
        if entry.dependant is None:
            continue
        params = dict(path_params(entry.dependant))
        ints = tuple(name for name, kind in params.items() if kind is int)
        path = entry.path
        for name in params:
            path = path.replace("{" + name + "}", int_value if name in ints else "x")
        found.append(Call(entry.method, path, ints))
    return found


@dataclass
class Callers:
    app: FastAPI
    http: httpx.AsyncClient
    identities: dict[str, dict[str, str]]  # name -> headers


@pytest.fixture
async def main_app(settings: Settings, engine: Engine) -> AsyncIterator[Callers]:
    app = create_app(settings)
    accounts.create_staff(engine, "boss", "supervisor", password=PASSWORD)
    customer = accounts.create_customer(engine, "ID株式会社", "it@ids.example.co.jp", settings.initial_password_ttl)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ids.test") as http:
        staff = await http.post("/api/v1/staff/session", json={"username": "boss", "password": PASSWORD})
        cust = await http.post("/api/v1/session", json={"access_key": customer.access_key,
                                                        "password": customer.initial_password})
        new = "a new and long passphrase"
        await http.post("/api/v1/password", json={"current_password": customer.initial_password,
                                                  "new_password": new},
                        headers={"authorization": f"Bearer {cust.json()['token']}"})
        cust = await http.post("/api/v1/session", json={"access_key": customer.access_key, "password": new})
        yield Callers(app, http, {
            "nobody": {},
            "supervisor": {"authorization": f"Bearer {staff.json()['token']}"},
            "customer": {"authorization": f"Bearer {cust.json()['token']}"},
        })


async def test_an_id_beyond_64_bits_is_404_or_422_on_every_route_of_the_main_app(main_app: Callers) -> None:
    walked = [c for c in calls(main_app.app, OVERFLOW) if c.int_params]
    assert len(walked) >= 25  # applications, domain validations, tasks, vetting checks: the walk found them
    for call in walked:
        answers = {}
        for who, headers in main_app.identities.items():
            for accept in ("application/json", "text/html"):
                r = await main_app.http.request(call.method, call.path, headers={**headers, "accept": accept},
                                                json={} if call.method in ("POST", "PUT") else None)
                assert r.status_code < 500, (call, who, r.status_code, r.text[:200])
                answers[(who, accept)] = r.status_code
        # Whoever may use the route is told there is no such thing (or that the input is bad).
        assert {404, 422} & set(answers.values()), (call, answers)


async def test_the_account_app_has_its_routes_walked_too(settings: Settings, engine: Engine) -> None:
    app = create_account_app(settings)
    every = calls(app, OVERFLOW)
    assert len(every) >= 5  # the walk sees the app's routes
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://account.test") as http:
        for call in (c for c in every if c.int_params):  # none today; a new one is held to the rule
            r = await http.request(call.method, call.path)
            assert r.status_code in (401, 403, 404, 422), (call, r.status_code)


async def test_ids_in_range_still_reach_the_handler_and_beyond_it_answer_404(main_app: Callers) -> None:
    supervisor = main_app.identities["supervisor"]
    # PostgreSQL's INTEGER ends at MAX_ID: beyond it no row can be, whatever the database.
    for value in (str(MAX_ID), "0", "-1", str(MAX_ID + 1), "9223372036854775807"):
        r = await main_app.http.get(f"/api/v1/tasks/{value}", headers=supervisor)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert (await main_app.http.get("/api/v1/tasks/abc", headers=supervisor)).status_code == 422
    page = await main_app.http.get(f"/desk/tasks/{OVERFLOW}", headers={**supervisor, "accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


async def test_no_page_takes_its_status_or_words_from_the_query(main_app: Callers) -> None:
    pages = [c for c in calls(main_app.app, "1") if c.method == "GET" and not c.path.startswith("/api/")]
    assert any(c.path == "/desk" for c in pages) and any(c.path == "/account" for c in pages)
    for call in pages:
        for who, headers in main_app.identities.items():
            r = await main_app.http.get(call.path, params={"status": "599", **HOSTILE_QUERY},
                                        headers={**headers, "accept": "text/html"})
            no_temporal_here = call.path == "/healthz" and r.status_code == 503
            assert r.status_code != 599 and (r.status_code < 500 or no_temporal_here), (call, who, r.status_code)
            assert INJECTED not in r.text, (call, who)
    # The desk's own notices still show.
    supervisor = {**main_app.identities["supervisor"], "accept": "text/html"}
    shown = await main_app.http.get("/desk?msg=reset_started&date=2027-01-06", headers=supervisor)
    assert "2027-01-06" in shown.text
