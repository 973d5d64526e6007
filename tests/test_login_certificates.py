"""The login certificate service end to end on the time-skipping server (L-1, L-3).

The API (in process), the worker with the real activities, a real database and SMTP sink;
time moves with ``env.sleep`` while workflows wait for people.

The ``service`` fixture (tests/login_service.py, through conftest) is the API, worker and mailbox.
"""

import base64
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Engine
from sqlmodel import select

from store import accounts, certificates, dev_mailbox
from store.db import session_scope
from store.models import AuditEvent, CertificateRecord, Enrollment, LoginUser, Task, utcnow
from tests.login_service import Service


def row_workflow_id(svc: Service, public_id: str) -> str:
    with session_scope(svc.engine) as s:
        return s.exec(select(Enrollment.workflow_id).where(Enrollment.public_id == public_id)).one()


async def staff_token(svc: Service) -> dict[str, str]:
    accounts.create_staff(svc.engine, "sato", "support", password="correct horse battery")
    login = await svc.http.post("/api/v1/staff/session", json={"username": "sato", "password": "correct horse battery"})
    return {"authorization": f"Bearer {login.json()['token']}"}


async def unlock_task(svc: Service) -> Task:
    for _ in range(50):
        with session_scope(svc.engine) as s:
            task = s.exec(select(Task).where(Task.kind == "reissue_unlock", Task.state != "done")).first()
        if task:
            return task
        await svc.env.sleep(timedelta(seconds=1))
    raise AssertionError("no reissue_unlock task")


async def downloaded_user(svc: Service, user_id: str = "u-1001") -> str:
    """A registered user who downloaded the certificate; returns its serial."""
    invitation = await svc.invite(user_id=user_id)
    password = await register(svc, invitation, answer="Tanaka")
    token = download_url_of(await svc.wait_for_mail("電子証明書ダウンロードのご案内"))
    assert (await svc.http.post(f"/api/v1/downloads/{token}", json={"download_password": password})).status_code == 200
    return str((await svc.status(invitation["id"]))["certificate_serial"])


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


async def register(svc: Service, invitation: dict[str, str], answer: str = "Tanaka") -> str:
    """OTP and secret question; returns the download password shown once."""
    token = token_of(invitation["enrollment_url"])
    otp = await svc.http.post(f"/api/v1/enroll/{token}/otp",
                              json={"one_time_password": invitation["one_time_password"]})
    assert otp.status_code == 200, otp.text
    question = otp.json()["questions"][0]["id"]
    secret = await svc.http.post(f"/api/v1/enroll/{token}/secret", json={"question_id": question, "answer": answer})
    assert secret.status_code == 200, secret.text
    return str(secret.json()["download_password"])


def download_url_of(mail: dev_mailbox.StoredMail) -> str:
    match = re.search(r"https?://\S+/download/(\S+)", mail.body)
    assert match, mail.body
    return match.group(1)


def certificate_state(engine: Engine, serial: str) -> tuple[str, str | None, bool]:
    with session_scope(engine) as s:
        row = s.exec(select(CertificateRecord).where(CertificateRecord.serial == serial)).one()
        return row.state, row.revocation_reason, row.private_key_pem is not None


def open_pkcs12(data: bytes, password: str, tmp: Path) -> x509.Certificate:
    """``openssl pkcs12`` opens it with the download password (and not without it)."""
    path = tmp / "cert.p12"
    path.write_bytes(data)
    wrong = subprocess.run(["openssl", "pkcs12", "-in", str(path), "-passin", "pass:wrong", "-nokeys"],
                           capture_output=True)
    assert wrong.returncode != 0
    out = subprocess.run(["openssl", "pkcs12", "-in", str(path), "-passin", f"pass:{password}", "-clcerts",
                          "-nokeys"], capture_output=True, check=True)
    keys = subprocess.run(["openssl", "pkcs12", "-in", str(path), "-passin", f"pass:{password}", "-nocerts",
                           "-noenc"], capture_output=True, check=True)
    assert b"PRIVATE KEY" in keys.stdout
    return x509.load_pem_x509_certificate(out.stdout[out.stdout.index(b"-----BEGIN"):])


async def test_wrong_otps_count_down_and_lock(service: Service) -> None:
    svc = service
    invitation = await svc.invite()
    token = token_of(invitation["enrollment_url"])
    left = []
    for _ in range(4):
        answer = await svc.http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": "00000000"})
        assert answer.status_code == 400
        assert "ワンタイムパスワードに誤りがあります" in answer.json()["error"] + answer.json()["message"]
        left.append(answer.json()["attempts_left"])
    assert left == [4, 3, 2, 1]
    locked = await svc.http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": "00000000"})
    assert locked.status_code == 423 and locked.json()["attempts_left"] == 0
    # Locked for good: even the right OTP is refused now, and nothing was issued.
    right = await svc.http.post(f"/api/v1/enroll/{token}/otp",
                                json={"one_time_password": invitation["one_time_password"]})
    assert right.status_code == 423
    await svc.env.sleep(timedelta(seconds=5))
    assert (await svc.status(invitation["id"]))["status"] == "locked"
    with session_scope(svc.engine) as s:
        assert not s.exec(select(CertificateRecord).where(CertificateRecord.kind == "login")).all()


async def test_register_download_and_revoke(service: Service, tmp_path: Path) -> None:
    svc = service
    invitation = await svc.invite(name="山田 太郎")
    assert re.fullmatch(r"\d{8}", invitation["one_time_password"])
    token = token_of(invitation["enrollment_url"])
    # The question only comes after the OTP.
    early = await svc.http.post(f"/api/v1/enroll/{token}/secret", json={"question_id": "first_pet", "answer": "x"})
    assert early.status_code == 409
    bad_question = await svc.http.post(f"/api/v1/enroll/{token}/otp",
                                       json={"one_time_password": invitation["one_time_password"]})
    assert [q["id"] for q in bad_question.json()["questions"]][:2] == ["mother_maiden_name", "first_pet"]
    refused = await svc.http.post(f"/api/v1/enroll/{token}/secret", json={"question_id": "nope", "answer": "x"})
    assert refused.status_code == 422 and refused.json()["field"] == "question_id"
    # The URL alone does not reach the question: only the client that entered the OTP does.
    async with httpx.AsyncClient(transport=svc.http._transport, base_url=str(svc.http.base_url)) as stranger:
        hijack = await stranger.post(f"/api/v1/enroll/{token}/secret",
                                     json={"question_id": "first_pet", "answer": "mine"})
        assert hijack.status_code == 403 and hijack.json()["error"] == "otp_again"
        guess = await stranger.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": "12345678"})
        assert guess.status_code == 400 and guess.json()["attempts_left"] == 4  # guesses still count
    secret = await svc.http.post(f"/api/v1/enroll/{token}/secret",
                                 json={"question_id": "first_pet", "answer": " Ｐｏｃｈｉ "})
    password = secret.json()["download_password"]

    mail = await svc.wait_for_mail("電子証明書ダウンロードのご案内")
    assert "u-1001" in mail.body and "山田 太郎" in mail.body
    download_token = download_url_of(mail)
    status = await svc.status(invitation["id"])
    assert status["status"] == "download" and status["certificate_serial"]
    serial = status["certificate_serial"]
    with session_scope(svc.engine) as s:  # each secret hashed by its kind (issue 18)
        row = s.exec(select(Enrollment).where(Enrollment.public_id == invitation["id"])).one()
        user = s.get(LoginUser, row.login_user_id)
        assert (row.otp_hash or "").startswith("hmac-sha256$") and invitation["one_time_password"] not in row.otp_hash
        assert (row.download_password_hash or "").startswith("blake2b-256$")
        assert user is not None and (user.answer_hash or "").startswith("$argon2id$")

    wrong = await svc.http.post(f"/api/v1/downloads/{download_token}", json={"download_password": "nope"})
    assert wrong.status_code == 400 and wrong.json()["attempts_left"] == 4
    p12 = await svc.http.post(f"/api/v1/downloads/{download_token}", json={"download_password": password})
    assert p12.status_code == 200 and p12.headers["content-type"] == "application/x-pkcs12"
    cert = open_pkcs12(p12.content, password, tmp_path)
    assert format(cert.serial_number, "x") == serial
    assert cert.subject.rfc4514_string() == "CN=山田 太郎"
    # The key is gone after the first download; a second download is refused.
    assert certificate_state(svc.engine, serial) == ("issued", None, False)
    # Asked again moments later (the answer lost): the same file, not a new key; after the window, refused.
    again = await svc.http.post(f"/api/v1/downloads/{download_token}", json={"download_password": password})
    assert again.status_code == 200 and again.content == p12.content
    await svc.env.sleep(svc.settings.answer_replay_window + timedelta(minutes=1))
    again = await svc.http.post(f"/api/v1/downloads/{download_token}", json={"download_password": password})
    assert again.status_code == 410
    pem = cert.public_bytes(Encoding.PEM).decode()
    assert certificates.verified_login_certificate(svc.engine, pem) == serial

    # Another tenant sees nothing; the owner revokes at once.
    assert (await svc.http.get(f"/api/v1/enrollments/{invitation['id']}", headers=svc.other)).status_code == 404
    assert (await svc.http.post(f"/api/v1/login-certificates/{serial}/revoke", headers=svc.other,
                                json={"reason": "keyCompromise"})).status_code == 404
    revoked = await svc.http.post(f"/api/v1/login-certificates/{serial}/revoke", headers=svc.tenant,
                                  json={"reason": "keyCompromise"})
    assert revoked.status_code == 200, revoked.text
    assert certificate_state(svc.engine, serial)[:2] == ("revoked", "keyCompromise")
    with pytest.raises(ValueError, match="revoked"):
        certificates.verified_login_certificate(svc.engine, pem)
    assert (await svc.http.post(f"/api/v1/login-certificates/{serial}/revoke", headers=svc.tenant,
                                json={"reason": "keyCompromise"})).status_code == 409
    # No secret reached the audit trail.
    with session_scope(svc.engine) as s:
        details = " ".join(str(a.details) for a in s.exec(select(AuditEvent)).all())
    assert invitation["one_time_password"] not in details and password not in details and "pochi" not in details
    # Nor the workflow's history: the steps told it only right or wrong.
    history = (await svc.env.client.get_workflow_handle(row_workflow_id(svc, invitation["id"]))
               .fetch_history()).to_json()
    payloads = " ".join(base64.b64decode(p).decode(errors="replace")
                        for p in re.findall(r'"data":\s*"([^"]+)"', history))
    assert '"correct":true' in payloads
    for secret in (invitation["one_time_password"], password, "pochi", "Ｐｏｃｈｉ"):
        assert secret not in payloads


async def test_otp_expires(service: Service) -> None:
    svc = service
    invitation = await svc.invite()
    await svc.env.sleep(svc.settings.otp_ttl + timedelta(minutes=1))
    token = token_of(invitation["enrollment_url"])
    late = await svc.http.post(f"/api/v1/enroll/{token}/otp",
                               json={"one_time_password": invitation["one_time_password"]})
    assert late.status_code == 410 and late.json()["error"] == "expired"
    assert (await svc.status(invitation["id"]))["status"] == "expired"


async def test_download_window_closes_and_the_key_is_discarded(service: Service) -> None:
    svc = service
    invitation = await svc.invite()
    password = await register(svc, invitation)
    download_token = download_url_of(await svc.wait_for_mail("電子証明書ダウンロードのご案内"))
    serial = (await svc.status(invitation["id"]))["certificate_serial"]
    assert certificate_state(svc.engine, serial)[2]  # the key waits, encrypted
    await svc.env.sleep(svc.settings.download_ttl + timedelta(minutes=1))
    late = await svc.http.post(f"/api/v1/downloads/{download_token}", json={"download_password": password})
    assert late.status_code == 410 and late.json()["error"] == "download_expired"
    assert certificate_state(svc.engine, serial) == ("revoked", "cessationOfOperation", False)


async def test_a_new_invitation_replaces_the_open_one(service: Service) -> None:
    svc = service
    first = await svc.invite()
    second = await svc.invite()
    token = token_of(first["enrollment_url"])
    old = await svc.http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": first["one_time_password"]})
    assert old.status_code == 410 and old.json()["error"] == "replaced"
    new = await svc.http.post(f"/api/v1/enroll/{token_of(second['enrollment_url'])}/otp",
                              json={"one_time_password": second["one_time_password"]})
    assert new.status_code == 200
    bad = await svc.http.post("/api/v1/enrollments", headers=svc.tenant, json={"user_id": "", "email": "x"})
    assert bad.status_code == 422
    assert (await svc.http.post("/api/v1/enrollments", json={"user_id": "a", "email": "a@b.jp", "name": "A"})
            ).status_code == 401


async def test_reissue_locks_support_unlocks_and_the_old_certificate_goes(service: Service, tmp_path: Path) -> None:
    svc = service
    invitation = await svc.invite()
    password = await register(svc, invitation, answer="Tanaka")
    download_token = download_url_of(await svc.wait_for_mail("電子証明書ダウンロードのご案内"))
    assert (await svc.http.post(f"/api/v1/downloads/{download_token}",
                                json={"download_password": password})).status_code == 200
    old_serial = (await svc.status(invitation["id"]))["certificate_serial"]
    user = (await svc.http.get("/api/v1/login-users/u-1001", headers=svc.tenant)).json()
    assert user["certificate"]["serial"] == old_serial and user["certificate"]["status"] == "issued"
    assert [e["id"] for e in user["enrollments"]] == [invitation["id"]]
    assert (await svc.http.get("/api/v1/login-users/u-1001", headers=svc.other)).status_code == 404

    started = await svc.http.post(f"/api/v1/login-certificates/{old_serial}/reissue", headers=svc.tenant,
                                  json={"revoke_old": "on_download"})
    assert started.status_code == 201, started.text
    assert (await svc.http.post(f"/api/v1/login-certificates/{old_serial}/reissue", headers=svc.tenant,
                                json={"revoke_old": "on_download"})).status_code == 409
    guide = await svc.wait_for_mail("証明書再発行手順のご案内")
    token = re.search(r"/reissue/(\S+)", guide.body).group(1)  # type: ignore[union-attr]

    for left in (4, 3, 2, 1):
        wrong = await svc.http.post(f"/api/v1/reissue/{token}/answer", json={"answer": "Suzuki"})
        assert wrong.status_code == 400 and wrong.json()["attempts_left"] == left
        assert "一致しません" in wrong.json()["message"]
    locked = await svc.http.post(f"/api/v1/reissue/{token}/answer", json={"answer": "Suzuki"})
    assert locked.status_code == 423 and "ロック" in locked.json()["message"]

    task = await unlock_task(svc)
    assert task.state == "open" and task.subject == f"enrollment:{started.json()['id']}"
    assert (await svc.http.post(f"/api/v1/reissue/{token}/answer", json={"answer": "Tanaka"})).status_code == 423
    enrollment = await svc.status(started.json()["id"])
    assert enrollment["status"] == "locked"
    handle = svc.env.client.get_workflow_handle(f"login-reissue-{enrollment['id']}")
    # Support unlocks through the staff API, as from the desk.
    staff = await staff_token(svc)
    assert (await svc.http.post(f"/api/v1/tasks/{task.id}/claim", headers=staff)).status_code == 200
    done = await svc.http.post(f"/api/v1/tasks/{task.id}/complete", headers=staff,
                               json={"outcome": "unlock", "note": "called the user"})
    assert done.status_code == 200, done.text

    new_password = (await svc.http.post(f"/api/v1/reissue/{token}/answer", json={"answer": "  TANAKA "})).json()
    assert set(new_password) == {"download_password"}
    mail = await svc.wait_for_mail("電子証明書ダウンロードのご案内", count=2)
    new_token = download_url_of(mail)
    assert new_token == token  # the same download path, the reissue's own link
    assert certificate_state(svc.engine, old_serial)[0] == "issued"  # until the new one is downloaded
    p12 = await svc.http.post(f"/api/v1/downloads/{new_token}",
                              json={"download_password": new_password["download_password"]})
    assert p12.status_code == 200
    cert = open_pkcs12(p12.content, new_password["download_password"], tmp_path)
    assert format(cert.serial_number, "x") != old_serial
    # The process ends once the file kept for a retry of the download is forgotten.
    await svc.env.sleep(svc.settings.answer_replay_window + timedelta(minutes=1))
    assert await handle.result() == "downloaded"
    assert certificate_state(svc.engine, old_serial)[:2] == ("revoked", "superseded")
    user = (await svc.http.get("/api/v1/login-users/u-1001", headers=svc.tenant)).json()
    assert user["certificate"]["serial"] == format(cert.serial_number, "x")  # the new one is in use now
    assert [e["kind"] for e in user["enrollments"]] == ["reissue", "registration"]
    with session_scope(svc.engine) as s:
        row = s.exec(select(Enrollment).where(Enrollment.public_id == enrollment["id"])).one()
        assert row.state == "downloaded" and row.updated_at <= utcnow()


async def test_reissue_revoking_at_once_then_support_rejects(service: Service) -> None:
    svc = service
    old_serial = await downloaded_user(svc)
    started = await svc.http.post(f"/api/v1/login-certificates/{old_serial}/reissue", headers=svc.tenant,
                                  json={"revoke_old": "immediately"})
    assert started.status_code == 201
    guide = await svc.wait_for_mail("証明書再発行手順のご案内")
    token = re.search(r"/reissue/(\S+)", guide.body).group(1)  # type: ignore[union-attr]
    assert certificate_state(svc.engine, old_serial)[:2] == ("revoked", "superseded")  # a lost device
    for _ in range(svc.settings.secret_answer_max_attempts):
        await svc.http.post(f"/api/v1/reissue/{token}/answer", json={"answer": "wrong"})
    task = await unlock_task(svc)
    staff = await staff_token(svc)
    await svc.http.post(f"/api/v1/tasks/{task.id}/claim", headers=staff)
    no_note = await svc.http.post(f"/api/v1/tasks/{task.id}/complete", headers=staff, json={"outcome": "reject"})
    assert no_note.status_code == 422  # a rejection says why
    rejected = await svc.http.post(f"/api/v1/tasks/{task.id}/complete", headers=staff,
                                   json={"outcome": "reject", "note": "caller could not be verified"})
    assert rejected.status_code == 200
    handle = svc.env.client.get_workflow_handle(f"login-reissue-{started.json()['id']}")
    assert await handle.result() == "rejected"
    late = await svc.http.post(f"/api/v1/reissue/{token}/answer", json={"answer": "Tanaka"})
    assert late.status_code == 410 and late.json()["error"] == "rejected"
    # A new reissue may start once this one is over.
    again = await svc.http.post(f"/api/v1/login-certificates/{old_serial}/reissue", headers=svc.tenant,
                                json={"revoke_old": "on_download"})
    assert again.status_code == 201


async def test_reissue_link_expires(service: Service) -> None:
    svc = service
    old_serial = await downloaded_user(svc)
    started = await svc.http.post(f"/api/v1/login-certificates/{old_serial}/reissue", headers=svc.tenant,
                                  json={"revoke_old": "on_download"})
    guide = await svc.wait_for_mail("証明書再発行手順のご案内")
    token = re.search(r"/reissue/(\S+)", guide.body).group(1)  # type: ignore[union-attr]
    await svc.env.sleep(svc.settings.reissue_ttl + timedelta(minutes=1))
    late = await svc.http.post(f"/api/v1/reissue/{token}/answer", json={"answer": "Tanaka"})
    assert late.status_code == 410 and late.json()["error"] == "expired"
    assert (await svc.status(started.json()["id"]))["status"] == "expired"
    assert certificate_state(svc.engine, old_serial)[0] == "issued"  # nothing happened to it
    unknown = await svc.http.post("/api/v1/login-certificates/abc123/reissue", headers=svc.tenant, json={})
    assert unknown.status_code == 404
    bad = await svc.http.post(f"/api/v1/login-certificates/{old_serial}/reissue", headers=svc.tenant,
                              json={"revoke_old": "later"})
    assert bad.status_code == 422
