"""Temporal unreachable: the login certificate service answers 503 and leaves nothing behind.

The tenant's invite, reissue and revoke make no enrollment row (an audit line saying it was not
started is fine) and change no certificate; each end-user step (OTP, secret question, reissue
answer, download) counts no attempt and changes no row. Rows are made directly in the database:
no workflow can run here.
"""

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import func, select

from api.app import create_app
from ca import authority
from domain import enrollment as e
from domain.credentials import hash_password
from domain.pki.hierarchy import CLIENT_CA
from domain.settings import Settings
from store import accounts, certificates
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import AuditEvent, CertificateRecord, Enrollment, EnrollmentDraft, LoginUser, utcnow

OTP = "12345678"
ANSWER = "Tanaka"
DOWNLOAD_PASSWORD = "download-password-1"
CLOSED_PORT = "127.0.0.1:1"  # nothing listens there: every call to Temporal fails at once


@dataclass
class Down:
    http: httpx.AsyncClient
    engine: Engine
    settings: Settings
    tenant_id: int
    tenant: dict[str, str]

    def token(self, public_id: str) -> str:
        return e.link_token(e.link_key(store_passphrase.passphrase(self.settings)), public_id)


@pytest.fixture
async def down(settings: Settings, engine: Engine) -> AsyncIterator[Down]:
    authority.ensure_hierarchy(engine, settings)
    tenant_id, key = accounts.create_tenant(engine, "Example Shop")
    unreachable = settings.model_copy(update={"temporal_address": CLOSED_PORT})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(unreachable)),
                                 base_url="http://certdesk.test") as http:
        yield Down(http, engine, settings, tenant_id, {"authorization": f"Bearer {key}"})


def count(engine: Engine, table: Any) -> int:
    with session_scope(engine) as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


def snapshot(engine: Engine, enrollment_id: int) -> dict[str, Any]:
    with session_scope(engine) as s:
        row = s.get(Enrollment, enrollment_id)
        assert row is not None
        return row.model_dump()


def registered_user(down: Down, user_id: str = "u-1") -> tuple[int, str]:
    """A user holding a login certificate, with a secret answer: (login user id, serial)."""
    issued = authority.issue_login(down.engine, down.settings, f"test-{user_id}", "Yamada Taro", "test")
    with session_scope(down.engine) as s:
        user = LoginUser(tenant_id=down.tenant_id, user_id=user_id, email=f"{user_id}@example.jp",
                         certificate_name="Yamada Taro", question_id="first_pet",
                         answer_hash=hash_password(e.normalise_answer(ANSWER)), certificate_serial=issued.serial)
        s.add(user)
        s.flush()
        return int(user.id or 0), issued.serial


def enrollment(down: Down, **fields: Any) -> tuple[int, str]:
    """An enrollment row as a workflow would have left it: (row id, public id)."""
    public_id = e.new_public_id()
    values: dict[str, Any] = {"kind": "registration", "state": e.OTP, "otp_hash": hash_password(OTP)} | fields
    with session_scope(down.engine) as s:
        row = Enrollment(public_id=public_id, tenant_id=down.tenant_id, user_id="u-1", email="u-1@example.jp",
                         certificate_name="Yamada Taro", expires_at=utcnow() + timedelta(days=1),
                         workflow_id=f"login-{values['kind']}-{public_id}", **values)
        s.add(row)
        s.flush()
        return int(row.id or 0), public_id


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "unavailable"


# --- the tenant's requests ---------------------------------------------------------------------------

async def test_invite_creates_nothing(down: Down) -> None:
    answer = await down.http.post("/api/v1/enrollments", headers={**down.tenant, "accept-language": "en"},
                                  json={"user_id": "u-1", "email": "u1@example.jp", "name": "Yamada Taro"})
    assert_unavailable(answer)
    assert "nothing was registered" in answer.json()["message"]
    assert "one_time_password" not in answer.json()
    assert count(down.engine, Enrollment) == 0
    with session_scope(down.engine) as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "enrollment.not_started")).first() is not None


async def test_invite_replacing_an_open_one_creates_nothing(down: Down) -> None:
    enrollment(down)
    answer = await down.http.post("/api/v1/enrollments", headers=down.tenant,
                                  json={"user_id": "u-1", "email": "u1@example.jp", "name": "Yamada Taro"})
    assert_unavailable(answer)
    assert count(down.engine, Enrollment) == 1  # only the open one


async def test_reissue_creates_nothing(down: Down) -> None:
    _, serial = registered_user(down)
    before = count(down.engine, Enrollment)
    answer = await down.http.post(f"/api/v1/login-certificates/{serial}/reissue", headers=down.tenant,
                                  json={"revoke_old": "immediately"})
    assert_unavailable(answer)
    assert count(down.engine, Enrollment) == before == 0


async def test_revoke_changes_nothing(down: Down) -> None:
    _, serial = registered_user(down)
    answer = await down.http.post(f"/api/v1/login-certificates/{serial}/revoke", headers=down.tenant,
                                  json={"reason": "keyCompromise"})
    assert_unavailable(answer)
    with session_scope(down.engine) as s:
        assert certificates.known_certificate(s, CLIENT_CA, serial).state == "issued"
    assert count(down.engine, Enrollment) == 0


# --- the end user's steps ----------------------------------------------------------------------------

async def test_otp_step_counts_nothing(down: Down) -> None:
    row_id, public_id = enrollment(down)
    before = snapshot(down.engine, row_id)
    token = down.token(public_id)
    for otp in (OTP, "00000000"):  # right or wrong, nothing reaches the count
        answer = await down.http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": otp})
        assert_unavailable(answer)
        assert "set-cookie" not in answer.headers
    page = await down.http.post(f"/enroll/{token}", data={"one_time_password": OTP})
    assert page.status_code == 503 and "<form" not in page.text
    assert snapshot(down.engine, row_id) == before


async def test_secret_step_counts_nothing(down: Down) -> None:
    step = "step-cookie-value"
    row_id, public_id = enrollment(down, state=e.QUESTION, step_hash=hashlib.sha256(step.encode()).hexdigest())
    before = snapshot(down.engine, row_id)
    down.http.cookies.set("certdesk_enroll_step", f"{public_id}.{step}")
    answer = await down.http.post(f"/api/v1/enroll/{down.token(public_id)}/secret",
                                  json={"question_id": "first_pet", "answer": ANSWER})
    assert_unavailable(answer)
    assert "download_password" not in answer.json()
    assert snapshot(down.engine, row_id) == before
    # The prepared hashes stay (unadopted) for a workflow that might have taken the step after all;
    # they go when its process ends. Nothing became the user's.
    assert count(down.engine, EnrollmentDraft) == 1 and count(down.engine, LoginUser) == 0


async def test_reissue_answer_counts_nothing(down: Down) -> None:
    user_id, serial = registered_user(down)
    row_id, public_id = enrollment(down, kind="reissue", state=e.ANSWER, otp_hash=None, login_user_id=user_id,
                                   previous_serial=serial, revoke_old="on_download")
    before = snapshot(down.engine, row_id)
    for given in (ANSWER, "Suzuki"):  # right or wrong
        answer = await down.http.post(f"/api/v1/reissue/{down.token(public_id)}/answer", json={"answer": given})
        assert_unavailable(answer)
        assert "download_password" not in answer.json()
    assert snapshot(down.engine, row_id) == before
    assert count(down.engine, EnrollmentDraft) == 1  # the right answer's, unadopted (see above); none for the wrong


async def test_download_counts_nothing(down: Down) -> None:
    issued = authority.issue_login(down.engine, down.settings, "test-download", "Yamada Taro", "test")
    row_id, public_id = enrollment(down, state=e.DOWNLOAD, otp_hash=None, certificate_serial=issued.serial,
                                   download_password_hash=hash_password(DOWNLOAD_PASSWORD),
                                   download_expires_at=utcnow() + timedelta(days=14))
    before = snapshot(down.engine, row_id)
    for password in (DOWNLOAD_PASSWORD, "wrong-password"):  # right (the bundle is built) or wrong
        answer = await down.http.post(f"/api/v1/downloads/{down.token(public_id)}",
                                      json={"download_password": password})
        assert_unavailable(answer)
        assert answer.headers["content-type"].startswith("application/json")
    assert snapshot(down.engine, row_id) == before
    with session_scope(down.engine) as s:
        cert = s.exec(select(CertificateRecord).where(CertificateRecord.serial == issued.serial)).one()
        assert cert.private_key_pem is not None and cert.state == "issued"  # not handed over
