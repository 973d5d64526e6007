"""The staff desk and its JSON API against a real dev server, worker, database and SMTP sink."""

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from api import customer_auth
from api.app import create_app
from domain.settings import Settings
from store import accounts, dev_mailbox
from store.db import session_scope
from store.models import AuditEvent, Customer, Task

PASSWORD = "correct horse battery"


@pytest.fixture
async def desk(local_stack: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    accounts.create_staff(engine, "suzuki", "support", password=PASSWORD)
    accounts.create_staff(engine, "boss", "supervisor", password=PASSWORD, email="boss@ca.example.jp")
    app = create_app(local_stack.model_copy(update={"login_max_failures": 3}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk.test") as http:
        yield http


async def _token(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await http.post("/api/v1/staff/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


def _customer(engine: Engine) -> accounts.NewCustomer:
    from datetime import timedelta

    return accounts.create_customer(engine, "デスク株式会社", "it@desk.example.co.jp", timedelta(days=30))


async def _open_reset(http: httpx.AsyncClient, headers: dict[str, str], access_key: str) -> dict:
    r = await http.post("/api/v1/staff/password-resets", json={"access_key": access_key}, headers=headers)
    assert r.status_code == 202, r.text
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", r.json()["expected_by"])
    for _ in range(200):
        listed = (await http.get("/api/v1/tasks?state=open&kind=password_reset", headers=headers)).json()
        if listed:
            return listed[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no task appeared")


async def test_reset_task_claimed_refused_to_others_completed_once(
    desk: httpx.AsyncClient, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    sato, suzuki = await _token(desk, "sato"), await _token(desk, "suzuki")
    new = _customer(engine)
    task = await _open_reset(desk, sato, new.access_key)
    assert set(task) >= {"id", "kind", "title", "subject", "due_at", "state", "assignee", "workflow_id"}
    assert (task["kind"], task["subject"], task["state"]) == ("password_reset", f"customer:{new.id}", "open")
    assert task["facts"]["requested_by"] == "staff:sato"

    assert (await desk.post(f"/api/v1/tasks/{task['id']}/claim", headers=sato)).json()["assignee"] == "sato"
    taken = await desk.post(f"/api/v1/tasks/{task['id']}/claim", headers=suzuki)
    assert taken.status_code == 409 and "sato" in taken.json()["message"]
    other = await desk.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "reset"}, headers=suzuki)
    assert other.status_code == 409
    bad = await desk.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "approve"}, headers=sato)
    assert bad.status_code == 422 and "reset, reject" in bad.json()["message"]
    no_note = await desk.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "reject"}, headers=sato)
    assert no_note.status_code == 422 and no_note.json()["error"] == "note_required"

    done = await desk.post(
        f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "reset", "note": "本人確認済"}, headers=sato
    )
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["outcome"], done.json()["completed_by"]) == (
        "done",
        "reset",
        "staff:sato",
    )
    again = await desk.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "reset"}, headers=sato)
    assert again.status_code == 409 and again.json()["error"] == "not_open"

    for _ in range(100):  # the reset mail follows the completion
        mails = [m for m in dev_mailbox.list_mail(smtp_sink[1]) if m.recipients == "it@desk.example.co.jp"]
        if mails:
            break
        await asyncio.sleep(0.1)
    assert len(mails) == 1 and "初期パスワード再設定" in mails[0].subject
    password = mails[0].body.split("初期パスワード: ")[1].split("\n")[0].strip()
    events = (await desk.get(f"/api/v1/audit?subject=customer:{new.id}", headers=sato)).json()
    assert {"task.opened", "task.claimed", "task.completed", "customer.password_reset"} <= {e["action"] for e in events}
    assert password not in str(events)


async def test_customer_request_answers_the_same_for_unknown_keys_and_joins_the_open_reset(
    desk: httpx.AsyncClient, engine: Engine
) -> None:
    new = _customer(engine)
    unknown = await desk.post("/api/v1/password-resets", json={"access_key": "99999999", "email": "x@example.com"})
    wrong_mail = await desk.post("/api/v1/password-resets", json={"access_key": new.access_key, "email": "x@x.jp"})
    assert unknown.status_code == wrong_mail.status_code == 202
    assert unknown.json().keys() == {"expected_by"}
    first = await desk.post(
        "/api/v1/password-resets", json={"access_key": new.access_key, "email": "IT@desk.example.co.jp"}
    )
    second = await desk.post(
        "/api/v1/password-resets", json={"access_key": new.access_key, "email": "it@desk.example.co.jp"}
    )
    assert first.status_code == second.status_code == 202
    assert first.json()["expected_by"] == second.json()["expected_by"] == unknown.json()["expected_by"]
    await asyncio.sleep(1)
    with session_scope(engine) as s:
        tasks = s.exec(select(Task).where(Task.subject == f"customer:{new.id}")).all()
    assert len(tasks) == 1  # joined, not duplicated
    bad = await desk.post("/api/v1/password-resets", json={"access_key": "12ab", "email": "x@example.com"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input" and "access_key" in bad.json()["message"]


async def test_staff_login_locks_for_a_while_after_repeated_failures_like_an_unknown_name(
    desk: httpx.AsyncClient, engine: Engine
) -> None:
    answers = {}
    for username in ("suzuki", "nobody-here"):
        for _ in range(3):  # login_max_failures in this fixture
            r = await desk.post("/api/v1/staff/session", json={"username": username, "password": "wrong password!"})
            assert r.status_code == 401 and r.json()["error"] == "invalid"
        r = await desk.post("/api/v1/staff/session", json={"username": username, "password": PASSWORD})
        assert r.status_code == 429 and r.headers["retry-after"] == "900"  # the right password waits too
        assert "wrong password!" not in r.text
        answers[username] = r.json()
    assert answers["suzuki"] == answers["nobody-here"]  # an existing name is told nothing more
    with session_scope(engine) as s:
        actions = [e.action for e in s.exec(select(AuditEvent).where(AuditEvent.actor == "staff:suzuki"))]
        locks = {e.subject for e in s.exec(select(AuditEvent).where(AuditEvent.action == "login.locked"))}
    assert actions.count("staff.login_failed") == 3
    assert locks == {"name:staff:suzuki", "name:staff:nobody-here"}


STAFF_ENDPOINTS = [
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/1"),
    ("POST", "/api/v1/tasks/1/claim"),
    ("POST", "/api/v1/tasks/1/release"),
    ("POST", "/api/v1/tasks/1/complete"),
    ("POST", "/api/v1/tasks/1/assign"),
    ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/staff/password-resets"),
    ("DELETE", "/api/v1/staff/session"),
]


@pytest.mark.parametrize(("method", "path"), STAFF_ENDPOINTS)
async def test_staff_endpoints_refuse_anyone_but_staff(
    local_stack: Settings, desk: httpx.AsyncClient, engine: Engine, method: str, path: str
) -> None:
    _, tenant_key = accounts.create_tenant(engine, "shop")
    customer = _customer(engine)
    customer_token, _ = customer_auth.login(engine, local_stack, customer.access_key, customer.initial_password)
    for headers in (
        {},
        {"authorization": f"Bearer {tenant_key}"},
        {"authorization": f"Bearer {customer_token}"},
        {"cookie": f"certdesk_customer={customer_token}"},
        {"cookie": "certdesk_staff=forged"},
    ):
        # From the desk's own origin, so that the cookie cases reach the login check (api/csrf.py comes first).
        r = await desk.request(method, path, headers={"origin": "http://desk.test", **headers}, json={})
        assert r.status_code == 401, (headers, r.status_code, r.text)
        assert r.json()["error"] == "unauthorized"


async def test_only_supervisors_reassign(desk: httpx.AsyncClient, engine: Engine) -> None:
    sato, boss = await _token(desk, "sato"), await _token(desk, "boss")
    task = await _open_reset(desk, sato, _customer(engine).access_key)
    refused = await desk.post(f"/api/v1/tasks/{task['id']}/assign", json={"username": "suzuki"}, headers=sato)
    assert refused.status_code == 403
    moved = await desk.post(f"/api/v1/tasks/{task['id']}/assign", json={"username": "suzuki"}, headers=boss)
    assert moved.status_code == 200 and moved.json()["assignee"] == "suzuki"
    nobody = await desk.post(f"/api/v1/tasks/{task['id']}/assign", json={"username": "ghost"}, headers=boss)
    assert nobody.status_code == 404


async def test_desk_pages_log_in_show_the_inbox_and_complete_with_csrf(desk: httpx.AsyncClient, engine: Engine) -> None:
    assert (await desk.get("/desk")).headers["location"].startswith("/desk/login")
    sato = await _token(desk, "sato")
    new = _customer(engine)
    task = await _open_reset(desk, sato, new.access_key)
    login = await desk.post("/desk/login", data={"username": "sato", "password": PASSWORD, "next": "//evil.example"})
    assert login.status_code == 303 and login.headers["location"] == "/desk"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    inbox = await desk.get("/desk")
    assert inbox.status_code == 200 and "デスク株式会社" in inbox.text and "パスワード再設定" in inbox.text
    page = await desk.get(f"/desk/tasks/{task['id']}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    forged = await desk.post(f"/desk/tasks/{task['id']}/complete", data={"outcome": "reset", "csrf_token": "x"})
    assert forged.status_code == 403
    assert (await desk.get(f"/api/v1/tasks/{task['id']}", headers=sato)).json()["state"] == "open"
    refused = await desk.post(f"/desk/tasks/{task['id']}/complete", data={"outcome": "reject", "csrf_token": csrf})
    assert refused.status_code == 422 and "note" in refused.text
    done = await desk.post(
        f"/desk/tasks/{task['id']}/complete", data={"outcome": "reject", "note": "本人確認できず", "csrf_token": csrf}
    )
    assert done.status_code == 303
    shown = await desk.get(done.headers["location"])
    assert "完了しました" in shown.text and "本人確認できず" in shown.text
    english = await desk.get(f"/desk/tasks/{task['id']}?lang=en")
    assert "Password reset" in english.text and "Outcome" in english.text
    audit = await desk.get(f"/desk/audit?subject=customer:{new.id}")
    assert "task.completed" in audit.text
    out = await desk.post("/desk/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert (await desk.get("/desk")).status_code == 303  # the session is gone on the server
    with session_scope(engine) as s:
        assert s.exec(select(Customer).where(Customer.id == new.id)).one().password_version == 1
