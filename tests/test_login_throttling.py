"""Login throttling (issue 14, finding 2): guesses slow an attacker down without handing them anyone's
account. On a real database, the app through ASGI (each test chooses the caller's address).

* Per name: ``login_max_failures`` wrong passwords, then locks of 15 minutes doubling up to an hour
  that end by themselves; an unknown name answers exactly as a real one, with the same hashing work.
* Per address: 20 failures in 15 minutes, per family of endpoints; every login-like endpoint
  answers 429 with ``Retry-After`` beyond it.
* Live sessions are untouched; a supervisor unlocks on the desk (CSRF, audited) or the operator
  with ``certdesk staff unlock``; the password reset does the same work whatever it is asked.
"""

import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from api import password_resets
from api.app import create_app
from domain import credentials, secret_hashing
from domain import enrollment as e
from domain import throttle as policy
from domain.settings import Settings
from store import accounts
from store import passphrase as store_passphrase
from store import throttle as counts
from store.db import engine_for, session_scope
from store.models import AuditEvent, Enrollment, LoginThrottle
from tests.stack import run_cli, stack_env

PASSWORD = "correct horse battery"
EN = {"accept-language": "en"}
T0 = datetime(2027, 1, 6, 9, 0, tzinfo=UTC)


def client(settings: Settings, address: str = "192.0.2.10", **update: Any) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update=update))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://throttle.test")


def counted_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every secret verification from now on (the logins and the end user's steps), of every kind."""
    calls: list[str] = []

    def counted(real: Callable[..., secret_hashing.Verdict]) -> Callable[..., secret_hashing.Verdict]:
        def counting(*args: Any) -> secret_hashing.Verdict:
            calls.append("verify")
            return real(*args)
        return counting

    for name in ("verify_chosen", "verify_code", "verify_random"):
        monkeypatch.setattr(secret_hashing, name, counted(getattr(secret_hashing, name)))
    return calls


async def staff_login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/staff/session", json={"username": username, "password": password})


def end_lock(engine: Engine, key: str) -> None:
    """The clock moves on past the lock (what 15 minutes of waiting does)."""
    with session_scope(engine) as s:
        row = s.get(LoginThrottle, key)
        assert row is not None and row.locked_until is not None
        row.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        s.add(row)


# --- the rules -----------------------------------------------------------------------------------------

def test_a_name_gets_free_failures_then_locks_doubling_up_to_an_hour_and_is_forgotten_after_a_day() -> None:
    backoff, count, locks = policy.Backoff(), None, []
    for minute in range(9):
        count = backoff.after_failure(count, T0 + timedelta(minutes=minute))
        locks.append(count.locked_until - count.last_failure_at if count.locked_until else None)
    assert locks == [None] * 4 + [timedelta(minutes=m) for m in (15, 30, 60, 60, 60)]
    assert policy.retry_after(count, T0) == 3600 + 8 * 60 and policy.retry_after(count, T0 + timedelta(hours=2)) == 0
    later = backoff.after_failure(count, count.last_failure_at + timedelta(days=1))
    assert (later.failures, later.locked_until) == (1, None)


def _guesses(policy_: policy.Backoff | policy.Window, hours: int) -> int:
    """How many guesses an attacker gets in ``hours`` by guessing the moment each lock ends."""
    now, count, made = T0, None, 0
    while now < T0 + timedelta(hours=hours):
        count = policy_.after_failure(count, now)
        made += 1
        now += timedelta(seconds=policy.retry_after(count, now))
    return made


def test_the_readme_says_how_many_guesses_an_hour() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    first_hour, day = _guesses(policy.NAME_POLICY, 1), _guesses(policy.NAME_POLICY, 24)
    assert (first_hour, day) == (7, 30)
    assert f"at most **{first_hour} guesses in the first hour, then 1 an hour ({day} a day)** per name" in readme
    per_address = _guesses(policy.ADDRESS_POLICY, 1)
    assert per_address == 80 and f"at most **{per_address} guesses\n  an hour** per address" in readme


def test_an_address_gets_twenty_failures_a_quarter_hour() -> None:
    window, count = policy.Window(), None
    for second in range(20):
        count = window.after_failure(count, T0 + timedelta(seconds=second))
    assert count.failures == 20 and count.locked_until == T0 + timedelta(minutes=15)
    assert policy.retry_after(count, T0 + timedelta(minutes=14, seconds=59, microseconds=1)) == 1
    fresh = window.after_failure(count, T0 + timedelta(minutes=15))
    assert (fresh.failures, fresh.locked_until, fresh.started_at) == (1, None, T0 + timedelta(minutes=15))


@pytest.mark.parametrize(("host", "key"), [
    ("203.0.113.5", "address:login:203.0.113.5"),
    ("::ffff:203.0.113.5", "address:login:203.0.113.5"),
    ("2001:db8:1:2:aaaa::1", "address:login:2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::9", "address:login:2001:db8:1:2::/64"),
])
def test_addresses_are_counted_by_host_and_ipv6_by_its_64(host: str, key: str) -> None:
    assert policy.address_key(policy.LOGIN, host) == key


def test_concurrent_failures_are_all_counted(engine: Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    key = policy.name_key(policy.STAFF, "raced")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: counts.record_failure(engine, key, policy.Window(limit=1000)), range(40)))
    with session_scope(engine) as s:
        assert s.get(LoginThrottle, key).failures == 40


# --- logins ---------------------------------------------------------------------------------------------

async def _attempts(http: httpx.AsyncClient, access_key: str, passwords: list[str]) -> list[tuple[int, Any, str]]:
    seen = []
    for password in passwords:
        r = await http.post("/api/v1/session", json={"access_key": access_key, "password": password}, headers=EN)
        seen.append((r.status_code, r.json(), r.headers.get("retry-after", "")))
    return seen


async def test_an_unknown_access_key_answers_as_a_real_one_through_the_lock_with_the_same_work(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = accounts.create_customer(engine, "スロットル株式会社", "it@throttle.example.co.jp", timedelta(days=30))
    hashes = counted_hashes(monkeypatch)
    guesses = ["wrong guess"] * 7
    answers, work = {}, {}
    for name, key, address in (("real", real.access_key, "192.0.2.1"), ("unknown", "99999999", "192.0.2.2")):
        before = len(hashes)
        async with client(settings, address) as http:
            answers[name] = await _attempts(http, key, guesses)
        work[name] = len(hashes) - before
    assert answers["real"] == answers["unknown"]
    statuses = [status for status, _, _ in answers["real"]]
    assert statuses == [401] * 5 + [429] * 2
    assert answers["real"][0][1] == {"error": "invalid", "message": "Wrong access key or password."}
    status, body, retry = answers["real"][-1]
    assert body["error"] == "too_many_attempts" and "15 minutes" in body["message"] and int(retry) == 900
    assert work == {"real": 5, "unknown": 5}  # one verification per counted guess, none while locked

    async with client(settings, "192.0.2.1") as http:
        # Locked, the right password waits too (nothing is verified), and says nothing more.
        right = await _attempts(http, real.access_key, [real.initial_password])
        assert right[0][:2] == answers["real"][-1][:2]
        end_lock(engine, policy.name_key(policy.CUSTOMER, real.access_key))
        assert (await _attempts(http, real.access_key, [real.initial_password]))[0][0] == 200
    with session_scope(engine) as s:  # a login forgets the name's failures; the account itself never changed
        assert s.get(LoginThrottle, policy.name_key(policy.CUSTOMER, real.access_key)) is None
        locked = s.exec(select(AuditEvent).where(AuditEvent.action == "login.locked")).all()
    assert {event.subject for event in locked} == {f"name:customer:{real.access_key}", "name:customer:99999999"}


async def test_a_lock_doubles_and_a_name_is_forgotten_after_a_login(settings: Settings, engine: Engine) -> None:
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    key = policy.name_key(policy.STAFF, "sato")
    async with client(settings) as http:
        for _ in range(5):
            await http.post("/api/v1/staff/session", json={"username": "sato", "password": "wrong password!"})
        waits = []
        for _ in range(2):
            end_lock(engine, key)
            r = await http.post("/api/v1/staff/session", json={"username": "sato", "password": "wrong password!"})
            assert r.status_code == 401
            waits.append(int((await staff_login(http, "sato", PASSWORD)).headers["retry-after"]))
        assert waits == [1800, 3600]
        end_lock(engine, key)
        assert (await staff_login(http, "sato", PASSWORD)).status_code == 200
    with session_scope(engine) as s:
        assert s.get(LoginThrottle, key) is None


async def test_someone_elses_guesses_leave_live_sessions_alone(settings: Settings, engine: Engine) -> None:
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    customer = accounts.create_customer(engine, "セッション株式会社", "it@session.example.co.jp", timedelta(days=30))
    async with client(settings, "192.0.2.20") as owner:
        staff = await owner.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})
        own = await owner.post("/api/v1/session", json={"access_key": customer.access_key,
                                                        "password": customer.initial_password})
        staff_auth = {"authorization": f"Bearer {staff.json()['token']}"}
        customer_auth = {"authorization": f"Bearer {own.json()['token']}"}
        async with client(settings, "198.51.100.66") as attacker:
            for _ in range(8):
                await attacker.post("/api/v1/staff/session", json={"username": "sato", "password": "guess guess"})
                await attacker.post("/api/v1/session", json={"access_key": customer.access_key,
                                                             "password": "guess guess"})
            locked = await attacker.post("/api/v1/staff/session", json={"username": "sato", "password": "x"})
            assert locked.status_code == 429
        assert (await owner.get("/api/v1/tasks", headers=staff_auth)).status_code == 200
        alive = await owner.get("/api/v1/account", headers=customer_auth)
        assert alive.status_code == 403 and alive.json()["error"] == "password_change_required"  # not 401


async def test_the_desk_login_form_says_how_long_to_wait(settings: Settings, engine: Engine) -> None:
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    async with client(settings, login_max_failures=2) as http:
        for _ in range(2):
            page = await http.post("/desk/login", data={"username": "sato", "password": "wrong password!"})
            assert page.status_code == 401 and "ユーザー名またはパスワードが正しくありません" in page.text
        page = await http.post("/desk/login", data={"username": "sato", "password": PASSWORD})
        assert page.status_code == 429 and int(page.headers["retry-after"]) == 900
        assert "15 分ほど待って" in page.text and 'name="password"' in page.text
        assert "wrong password!" not in page.text and PASSWORD not in page.text


async def test_the_address_limit_spans_names(settings: Settings, engine: Engine) -> None:
    async with client(settings, "2001:db8:7:7::1") as http:
        for n in range(20):
            r = await http.post("/api/v1/staff/session", json={"username": f"made-up-{n}", "password": "x"})
            assert r.status_code == 401
        fresh = await http.post("/api/v1/staff/session", json={"username": "never-tried", "password": "x"})
        assert fresh.status_code == 429 and 0 < int(fresh.headers["retry-after"]) <= 900
    async with client(settings, "2001:db8:7:7::beef") as same_64:
        assert (await staff_login(same_64, "a", "x")).status_code == 429
    async with client(settings, "2001:db8:7:8::1") as elsewhere:
        assert (await staff_login(elsewhere, "a", "x")).status_code == 401


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(settings: Settings, engine: Engine) -> None:
    forwarded = {"x-forwarded-for": "203.0.113.250, 198.51.100.7"}  # the proxy appended the last one
    async with client(settings, "10.0.0.1", trusted_proxies="10.0.0.0/24") as proxied:
        await proxied.post("/api/v1/staff/session", json={"username": "a", "password": "x"}, headers=forwarded)
    async with client(settings, "203.0.113.9", trusted_proxies="10.0.0.0/24") as direct:
        await direct.post("/api/v1/staff/session", json={"username": "a", "password": "x"}, headers=forwarded)
    with session_scope(engine) as s:
        keys = {row.key for row in s.exec(select(LoginThrottle))}
    assert keys == {"name:staff:a", "address:login:198.51.100.7", "address:login:203.0.113.9"}


# --- every login-like endpoint ---------------------------------------------------------------------------

def _enrollment(engine: Engine, settings: Settings, kind: str, state: str) -> str:
    """A row the end user's pages resolve (no workflow: the throttle answers before one is asked)."""
    tenant_id = _tenant(engine)
    public_id = e.new_public_id()
    with session_scope(engine) as s:
        s.add(Enrollment(public_id=public_id, kind=kind, tenant_id=tenant_id, user_id="u-1", email="u@example.jp",
                         certificate_name="User", state=state, otp_hash=credentials.hash_password("12345678"),
                         download_password_hash=credentials.hash_password("a-b-c-d"),
                         expires_at=datetime.now(UTC) + timedelta(days=1), workflow_id="not-started"))
    return e.link_token(e.link_key(store_passphrase.passphrase(settings)), public_id)


def _tenant(engine: Engine) -> int:
    with session_scope(engine) as s:
        from store.models import Tenant

        found = s.exec(select(Tenant)).first()
    return int(found.id) if found else accounts.create_tenant(engine, "throttle shop")[0]


# (method, path with {registration}/{reissue}/{download} tokens, kind of body, body, family)
ENDPOINTS = [
    ("/api/v1/session", "json", {"access_key": "12345678", "password": PASSWORD}, policy.LOGIN),
    ("/login", "form", {"access_key": "12345678", "password": PASSWORD}, policy.LOGIN),
    ("/api/v1/staff/session", "json", {"username": "sato", "password": PASSWORD}, policy.LOGIN),
    ("/desk/login", "form", {"username": "sato", "password": PASSWORD}, policy.LOGIN),
    ("/api/v1/enroll/{registration}/otp", "json", {"one_time_password": "12345678"}, policy.END_USER),
    ("/enroll/{registration}", "form", {"one_time_password": "12345678"}, policy.END_USER),
    ("/api/v1/enroll/{registration}/secret", "json", {"question_id": "first_pet", "answer": "Pochi"}, policy.END_USER),
    ("/enroll/{registration}/secret", "form", {"question_id": "first_pet", "answer": "Pochi"}, policy.END_USER),
    ("/api/v1/reissue/{reissue}/answer", "json", {"answer": "Pochi"}, policy.END_USER),
    ("/reissue/{reissue}", "form", {"answer": "Pochi"}, policy.END_USER),
    ("/api/v1/downloads/{download}", "json", {"download_password": "a-b-c-d"}, policy.END_USER),
    ("/download/{download}", "form", {"download_password": "a-b-c-d"}, policy.END_USER),
    ("/api/v1/password-resets", "json", {"access_key": "12345678", "email": "it@example.jp"}, policy.RESET),
    ("/password-reset", "form", {"access_key": "12345678", "email": "it@example.jp"}, policy.RESET),
]


@pytest.mark.parametrize(("path", "kind", "body", "family"), ENDPOINTS, ids=[f"{p} {k}" for p, k, _, _ in ENDPOINTS])
async def test_every_login_like_endpoint_answers_429_with_retry_after_beyond_the_address_limit(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, path: str, kind: str,
    body: dict[str, str], family: str
) -> None:
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    tokens = {"registration": _enrollment(engine, settings, "registration", e.OTP),
              "reissue": _enrollment(engine, settings, "reissue", e.ANSWER),
              "download": _enrollment(engine, settings, "registration", e.DOWNLOAD)}
    for _ in range(20):
        counts.record_failure(engine, policy.address_key(family, "192.0.2.99"), policy.ADDRESS_POLICY)
    hashes = counted_hashes(monkeypatch)
    with session_scope(engine) as s:
        events = len(s.exec(select(AuditEvent)).all())
    async with client(settings, "192.0.2.99") as http:
        url = path.format(**tokens)
        r = await (http.post(url, json=body, headers=EN) if kind == "json" else
                   http.post(url, data=body, headers={**EN, "accept": "text/html"}))
    assert r.status_code == 429, r.text
    assert 0 < int(r.headers["retry-after"]) <= 900
    if kind == "json":
        assert r.json()["error"] == "too_many_attempts" and "minutes" in r.json()["message"]
    else:
        assert r.headers["content-type"].startswith("text/html") and "minutes" in r.text
    assert hashes == []  # refused before any work: no password verified
    with session_scope(engine) as s:
        assert len(s.exec(select(AuditEvent)).all()) == events  # nobody logged in, nothing started


async def test_wrong_end_user_guesses_count_against_the_address(settings: Settings, engine: Engine) -> None:
    forged = "enr_0000.not-a-mac"
    async with client(settings, "192.0.2.77") as http:
        for _ in range(20):
            r = await http.post(f"/api/v1/enroll/{forged}/otp", json={"one_time_password": "12345678"})
            assert r.status_code == 404
        r = await http.post(f"/api/v1/downloads/{forged}", json={"download_password": "x"})
        assert r.status_code == 429 and r.json()["error"] == "too_many_attempts"


# --- unlocking ------------------------------------------------------------------------------------------

@pytest.fixture
async def desk(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    accounts.create_staff(engine, "boss", "supervisor", password=PASSWORD)
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    async with client(settings, "192.0.2.30") as http:
        yield http


def _lock(engine: Engine, kind: str, name: str) -> None:
    for _ in range(5):
        counts.record_failure(engine, policy.name_key(kind, name), policy.NAME_POLICY)


async def _cookie_login(http: httpx.AsyncClient, username: str) -> str:
    r = await http.post("/desk/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 303, r.text
    page = await http.get("/desk/locks")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    return found.group(1) if found else ""


async def test_a_supervisor_unlocks_staff_and_customers_on_the_desk(desk: httpx.AsyncClient, engine: Engine) -> None:
    customer = accounts.create_customer(engine, "解除株式会社", "it@unlock.example.co.jp", timedelta(days=30))
    _lock(engine, policy.STAFF, "sato")
    _lock(engine, policy.CUSTOMER, customer.access_key)
    _lock(engine, policy.STAFF, "made-up-name")
    csrf = await _cookie_login(desk, "boss")
    page = await desk.get("/desk/locks")
    assert page.status_code == 200 and 'href="/desk/locks"' in page.text
    rows = dict(re.findall(r'<tr data-name="([^"]+)">(.*?)</tr>', page.text, re.S))
    assert set(rows) == {"sato", customer.access_key, "made-up-name"}
    assert 'action="/desk/locks/unlock"' in rows["sato"] and "該当アカウントなし" not in rows["sato"]
    assert "該当アカウントなし" in rows["made-up-name"] and "<form" not in rows["made-up-name"]

    forged = await desk.post("/desk/locks/unlock", data={"kind": "staff", "name": "sato"})
    assert forged.status_code == 403  # a cookie session must show the page's CSRF token
    done = await desk.post("/desk/locks/unlock", data={"kind": "staff", "name": "sato", "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/desk/locks?done=unlocked"
    assert "ロックを解除しました" in (await desk.get(done.headers["location"])).text
    await desk.post("/desk/locks/unlock", data={"kind": "customer", "name": customer.access_key, "csrf_token": csrf})
    unknown = await desk.post("/desk/locks/unlock", data={"kind": "staff", "name": "nobody", "csrf_token": csrf})
    assert unknown.status_code == 404 and "該当するアカウントがありません" in unknown.text

    assert [lock.name for lock in counts.locked_names(engine)] == ["made-up-name"]
    desk.cookies.clear()
    assert (await staff_login(desk, "sato", PASSWORD)).status_code == 200
    with session_scope(engine) as s:
        events = {(ev.actor, ev.action, ev.details["name"]) for ev in s.exec(
            select(AuditEvent).where(col(AuditEvent.action).in_(("staff.unlocked", "customer.unlocked"))))}
    assert events == {("staff:boss", "staff.unlocked", "sato"),
                      ("staff:boss", "customer.unlocked", customer.access_key)}


async def test_support_staff_cannot_unlock(desk: httpx.AsyncClient, engine: Engine) -> None:
    _lock(engine, policy.STAFF, "boss")
    token = (await desk.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})).json()["token"]
    support = {"authorization": f"Bearer {token}"}
    assert (await desk.get("/desk/locks", headers=support)).status_code == 403
    refused = await desk.post("/desk/locks/unlock", data={"kind": "staff", "name": "boss"}, headers=support)
    assert refused.status_code == 403 and counts.locked_names(engine)[0].name == "boss"
    assert 'href="/desk/locks"' not in (await desk.get("/desk", headers=support)).text


def test_the_operator_unlocks_with_the_command_line(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "var")
    assert run_cli(env, "staff", "create", "sato", "--role", "support").returncode == 0
    customer = run_cli(env, "customer", "create", "--org", "A", "--email", "a@example.com", "--json")
    access_key = re.search(r'"access_key": "(\d{8})"', customer.stdout).group(1)
    engine = engine_for(f"sqlite:///{(tmp_path / 'var' / 'certdesk.db').resolve()}")
    _lock(engine, policy.STAFF, "sato")
    _lock(engine, policy.CUSTOMER, access_key)

    done = run_cli(env, "staff", "unlock", "sato")
    assert done.returncode == 0 and "'sato' unlocked" in done.stdout
    assert "was not locked" in run_cli(env, "staff", "unlock", "sato").stdout
    assert run_cli(env, "customer", "unlock", access_key).returncode == 0
    assert counts.locked_names(engine) == []
    unknown = run_cli(env, "staff", "unlock", "nobody")
    assert unknown.returncode == 1 and "no staff user 'nobody'" in unknown.stderr
    with session_scope(engine) as s:
        unlocked = s.exec(select(AuditEvent).where(col(AuditEvent.action).like("%unlocked"))).all()
        actions = [(ev.actor, ev.action) for ev in unlocked]
    assert sorted(actions) == [("operator", "customer.unlocked"), ("operator", "staff.unlocked"),
                               ("operator", "staff.unlocked")]


# --- password reset (finding 5): the same work whatever is asked -------------------------------------

async def test_a_reset_request_does_the_same_work_whether_key_and_address_match_or_not(
    local_stack: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = accounts.create_customer(engine, "再設定株式会社", "it@reset.example.co.jp", timedelta(days=30))
    digests: list[str] = []
    original: Callable[[str], bytes] = accounts._email_digest

    def counting(address: str) -> bytes:
        digests.append(address)
        return original(address)

    monkeypatch.setattr(accounts, "_email_digest", counting)
    work, took = {}, {}
    async with client(local_stack) as http:
        for name, key, email in (("match", real.access_key, "IT@reset.example.co.jp"),
                                 ("other address", real.access_key, "someone@else.example"),
                                 ("unknown key", "99999999", "it@reset.example.co.jp")):
            digests.clear()
            began = time.monotonic()
            r = await http.post("/api/v1/password-resets", json={"access_key": key, "email": email})
            took[name] = time.monotonic() - began
            assert r.status_code == 202 and r.json().keys() == {"expected_by"}
            work[name] = len(digests)
    assert work == {"match": 2, "other address": 2, "unknown key": 2}  # both addresses hashed, every time
    assert min(took.values()) >= password_resets.ANSWER_FLOOR  # none answered before the floor


async def test_an_empty_desk_login_form_is_not_a_guess(settings: Settings, engine: Engine) -> None:
    async with client(settings) as http:
        for _ in range(8):
            page = await http.post("/desk/login", data={"username": " ", "password": "x"})
            assert page.status_code == 422 and "入力してください" in page.text
    with session_scope(engine) as s:
        assert s.exec(select(LoginThrottle)).all() == []  # neither a name nor the address was counted
