"""Temporal unreachable: every call that would start or move a process answers 503 and leaves
nothing behind (no task row, no audit row); the customer's reset says so whether or not the
access key exists, so it still reveals nothing; the desk's pages that only read keep working."""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from api.app import create_app
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import AuditEvent, Task, utcnow

PASSWORD = "correct horse battery"
UNKNOWN_KEY = "99999999"
EMAIL = "it@down.example.co.jp"


@dataclass
class Desk:
    http: httpx.AsyncClient
    engine: Engine
    customer: accounts.NewCustomer
    staff: dict[str, str]  # bearer header


@pytest.fixture
async def desk(settings: Settings, engine: Engine) -> AsyncIterator[Desk]:
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    customer = accounts.create_customer(engine, "停止株式会社", EMAIL, timedelta(days=30))
    app = create_app(settings.model_copy(update={"temporal_address": "127.0.0.1:1"}))  # nothing listens there
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk.test") as http:
        session = await http.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})
        assert session.status_code == 200, session.text  # logging in needs no Temporal
        yield Desk(http, engine, customer, {"authorization": f"Bearer {session.json()['token']}"})


def _counts(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as s:
        return (s.exec(select(func.count()).select_from(Task)).one(),
                s.exec(select(func.count()).select_from(AuditEvent)).one())


def _unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "unavailable" and r.json()["message"] == catalogue("ja")["err_unavailable"]


@pytest.mark.parametrize("known", [True, False], ids=["existing", "unknown"])
async def test_customer_reset_json_answers_503_for_any_access_key(desk: Desk, known: bool) -> None:
    before = _counts(desk.engine)
    key = desk.customer.access_key if known else UNKNOWN_KEY
    _unavailable(await desk.http.post("/api/v1/password-resets", json={"access_key": key, "email": EMAIL}))
    assert _counts(desk.engine) == before


@pytest.mark.parametrize("known", [True, False], ids=["existing", "unknown"])
@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_customer_reset_page_shows_the_error_page_for_any_access_key(desk: Desk, known: bool,
                                                                           lang: str) -> None:
    before = _counts(desk.engine)
    key = desk.customer.access_key if known else UNKNOWN_KEY
    r = await desk.http.post("/password-reset", data={"access_key": key, "email": EMAIL},
                             headers={"accept": "text/html", "accept-language": lang})
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
    assert catalogue(lang)["err_unavailable"] in r.text and "expected-by" not in r.text
    assert _counts(desk.engine) == before


async def test_staff_reset_json_answers_503_and_opens_nothing(desk: Desk) -> None:
    before = _counts(desk.engine)
    _unavailable(await desk.http.post("/api/v1/staff/password-resets", json={"access_key": desk.customer.access_key},
                                      headers=desk.staff))
    assert _counts(desk.engine) == before
    # An unknown key is still named as such to staff: nothing would be started for it.
    unknown = await desk.http.post("/api/v1/staff/password-resets", json={"access_key": UNKNOWN_KEY},
                                   headers={**desk.staff, "accept-language": "en"})
    assert unknown.status_code == 404 and unknown.json()["message"] == catalogue("en")["err_no_such_customer"]


async def test_the_desk_phone_form_shows_the_error_page_and_opens_nothing(desk: Desk) -> None:
    login = await desk.http.post("/desk/login", data={"username": "sato", "password": PASSWORD})
    assert login.status_code == 303
    inbox = await desk.http.get("/desk")
    assert inbox.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', inbox.text).group(1)  # type: ignore[union-attr]
    before = _counts(desk.engine)
    r = await desk.http.post("/desk/password-resets", data={"access_key": desk.customer.access_key,
                                                            "csrf_token": csrf}, headers={"accept": "text/html"})
    assert r.status_code == 503 and catalogue("ja")["err_unavailable"] in r.text
    assert _counts(desk.engine) == before


async def test_complete_answers_503_and_the_task_is_unchanged_while_its_page_still_works(desk: Desk) -> None:
    with session_scope(desk.engine) as s:
        task = Task(task_key="down/verify", kind="password_reset", title="停止株式会社", subject="customer:1",
                    workflow_id="password-reset-1", due_at=utcnow() + timedelta(days=3))
        s.add(task)
        s.flush()
        task_id = int(task.id or 0)
    before = _counts(desk.engine)
    _unavailable(await desk.http.post(f"/api/v1/tasks/{task_id}/complete", json={"outcome": "reset"},
                                      headers=desk.staff))
    assert _counts(desk.engine) == before
    row = (await desk.http.get(f"/api/v1/tasks/{task_id}", headers=desk.staff)).json()
    assert (row["state"], row["outcome"], row["completed_by"], row["completed_at"]) == ("open", None, None, None)

    page = await desk.http.get(f"/desk/tasks/{task_id}", headers=desk.staff)
    assert page.status_code == 200 and "password-reset-1 (Temporal に接続できないため確認できません)" in page.text
