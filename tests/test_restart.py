"""``certdesk up`` end to end: healthy, Ctrl-C stops it all, and a timer set before a restart fires after it
(and a record put in the development DNS zone is still answered)."""

import re
import time
from pathlib import Path

import httpx
from sqlmodel import select

from store.db import make_engine, session_scope
from store.models import AuditEvent, Customer
from tests.stack import Stack, cli_json, run_cli, stack_env
from tests.test_dev_dns import ask


def _expired(db: Path, access_key: str) -> bool:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with session_scope(engine) as s:
            return s.exec(select(Customer).where(Customer.access_key == access_key)).one().password_expired
    finally:
        engine.dispose()


def test_timer_started_before_a_restart_fires_after_it(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "var", CERTDESK_INITIAL_PASSWORD_TTL="PT25S")
    stack = Stack(env, tmp_path / "up.log")
    db = tmp_path / "var" / "certdesk.db"

    stack.start()
    assert stack.get("/healthz").json() == {"status": "ok", "database": "ok", "temporal": "ok", "worker": "ok"}
    before = cli_json(env, "customer", "create", "--org", "再起動テスト株式会社", "--email", "before@example.com")
    record = {"name": "_certdesk-challenge.restart.example", "type": "TXT", "value": "kept"}
    assert httpx.post(f"{stack.base}/dev/dns/records", json=record, timeout=10).status_code == 201
    assert stack.stop() == 0
    assert not _expired(db, before["access_key"]), "the timer fired before the restart; the test proves nothing"
    assert "certdesk: stopped" in (tmp_path / "up.log").read_text()

    # While everything is down: an account whose timer can only be started by the next start-up.
    during = run_cli(env, "customer", "create", "--org", "停止中株式会社", "--email", "during@example.com", "--json")
    assert during.returncode == 0 and "next `certdesk up`" in during.stderr

    stack.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            subjects = [m["to"] for m in stack.get("/dev/mailbox/messages").json()]
            if sorted(subjects) == ["before@example.com", "during@example.com"]:
                break
            time.sleep(0.5)
        assert sorted(subjects) == ["before@example.com", "during@example.com"]
        assert _expired(db, before["access_key"])
        time.sleep(1)  # nothing is sent twice
        assert len(stack.get("/dev/mailbox/messages").json()) == 2
        # The banner names the zone the resolver now asks; it still answers what was put before.
        zone = re.findall(r"DNS zone +(127\.0\.0\.1:\d+) .* edit it at .*/dev/dns", (tmp_path / "up.log").read_text())
        assert len(zone) == 2 and ask(zone[-1], record["name"], "TXT") == ['"kept"']
    finally:
        assert stack.stop() == 0
    engine = make_engine(f"sqlite:///{db}")
    with session_scope(engine) as s:
        actors = {e.actor for e in s.exec(select(AuditEvent).where(AuditEvent.action == "initial_password.expired"))}
    assert actors == {"timer"}
