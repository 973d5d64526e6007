"""A power cut in the middle of domain validation: ``certdesk up`` and everything it started (Temporal,
the worker, the five perspectives, the DNS zone) killed with SIGKILL while the validation waits for
the customer; after the restart the customer places the record and the application reaches 審査中,
with nothing recorded twice."""

import time
from pathlib import Path

import httpx
from sqlmodel import select

from store.db import make_engine, session_scope
from store.models import AuditEvent, DomainValidation
from tests.stack import Stack, cli_json, stack_env
from tests.test_certificate_authority import make_csr

NAME = "www.teiden.co.jp"


def _until(what: str, found, seconds: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (hit := found()) is not None:
            return hit
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {seconds}s")


def test_a_validation_cut_off_by_sigkill_resumes_after_the_restart(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "var")
    stack = Stack(env, tmp_path / "up.log")
    stack.start()
    try:
        created = cli_json(env, "customer", "create", "--org", "停電株式会社", "--email", "it@crash.example")
        http = httpx.Client(base_url=stack.base, timeout=10)
        token = http.post("/api/v1/session", json={"access_key": created["access_key"],
                                                    "password": created["initial_password"]}).json()["token"]
        customer = {"authorization": f"Bearer {token}"}
        changed = http.post("/api/v1/password", headers=customer, json={
            "current_password": created["initial_password"], "new_password": "a much better passphrase"})
        assert changed.status_code == 200, changed.text
        applied = http.post("/api/v1/applications", headers=customer, json={
            "type": "new", "product": "ov", "csr": make_csr(NAME), "agree_terms": True,
            "organization": {"name": "停電株式会社", "country": "JP", "state": "東京都", "locality": "千代田区"}})
        assert applied.status_code == 201, applied.text
        app_id = applied.json()["id"]
        path = f"/api/v1/applications/{app_id}/domain-validations"
        pending = _until("a value to place", lambda: next(
            (v for v in http.get(path, headers=customer).json() if v["last_result"]), None))
        assert pending["state"] == "pending" and pending["random_value"]  # looked at once: nothing there yet

        stack.kill()  # the power cut, in the middle of the validation
        stack.start()
        http = httpx.Client(base_url=stack.base, timeout=10)
        record = {"name": pending["dns_record_name"], "type": "TXT", "value": pending["random_value"]}
        assert http.post("/dev/dns/records", json=record).status_code == 201
        recheck = http.post(f"{path}/recheck", headers=customer)
        assert recheck.status_code == 202, recheck.text
        _until("審査中", lambda: True if http.get(f"/api/v1/applications/{app_id}",
                                                  headers=customer).json()["status"] == "reviewing" else None)
    finally:
        assert stack.stop() == 0

    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'certdesk.db'}")
    try:
        with session_scope(engine) as s:
            [row] = s.exec(select(DomainValidation).where(DomainValidation.application_id == app_id)).all()
            actions = [e.action for e in s.exec(select(AuditEvent).where(
                AuditEvent.subject == f"application:{app_id}")).all()]
    finally:
        engine.dispose()
    assert row.state == "validated" and row.evidence[-1]["passed"] is True
    assert len(row.evidence[-1]["perspectives"]) == 6  # the primary and the five local perspectives
    keys = [e["check"] for e in row.evidence]
    assert len(keys) == len(set(keys))
    assert actions.count("dcv.requested") == 1 and actions.count("dcv.validated") == 1
    assert actions.count("application.status") == 2  # 認証待ち, then 審査中: each once
