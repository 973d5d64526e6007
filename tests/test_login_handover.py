"""The portal's login certificate for a new person in charge (S-12, FAQ Q2), end to end on the
dev server (its processes carry the customer search attribute, which the time-skipping server
lacks), the API in process, the worker, a real database and SMTP sink: staff open it on the
caller's word, verify by phone (a task), the new person registers through the login certificate
service's own path, and once they have downloaded, the new certificate is the account's second
factor and the old one is revoked."""

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ca import authority
from domain.pki.hierarchy import CLIENT_CA
from domain.settings import Settings
from store import accounts, certificates
from store.db import session_scope
from store.models import AuditEvent, Customer, CustomerProfile, Task
from tests.login_service import Service
from tests.test_login_certificates import download_url_of, staff_token


@pytest.fixture
async def portal(local_env: WorkflowEnvironment, local_stack: Settings, engine: Engine,
                 smtp_sink: tuple[int, Path]) -> AsyncIterator[Service]:
    authority.ensure_hierarchy(engine, local_stack)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(local_stack, local_env.client)),
                                 base_url="http://certdesk.test") as http:
        yield Service(http, local_env, engine, local_stack, smtp_sink[1], {}, {})


INVITATION = "【certdesk】ログイン用電子証明書の取得のご案内"
COMPLETED = "【certdesk】ログイン証明書の再発行（担当者変更）完了のお知らせ"
REJECTED = "【certdesk】ログイン証明書の再発行（担当者変更）のご依頼について"


async def _task(svc: Service, done_before: int) -> Task:
    for _ in range(300):
        with session_scope(svc.engine) as s:
            tasks = s.exec(select(Task).where(Task.kind == "login_reissue_new_person").order_by(Task.id)).all()
        if len(tasks) > done_before:
            return tasks[-1]
        await asyncio.sleep(0.1)
    raise AssertionError("no login_reissue_new_person task")


async def _decide(svc: Service, staff: dict[str, str], task: Task, outcome: str, note: str = "") -> None:
    assert (await svc.http.post(f"/api/v1/tasks/{task.id}/claim", headers=staff)).status_code == 200
    done = await svc.http.post(f"/api/v1/tasks/{task.id}/complete", headers=staff,
                               json={"outcome": outcome, "note": note})
    assert done.status_code == 200, done.text


async def _take_over(svc: Service, staff: dict[str, str], access_key: str, name: str, email: str, n: int) -> str:
    """One handover approved and carried out by the new person; returns the serial they downloaded."""
    opened = await svc.http.post("/api/v1/staff/login-handovers", headers=staff, json={
        "access_key": access_key, "reseller_code": "R-100", "name": name, "email": email})
    assert opened.status_code == 202, opened.text
    again = await svc.http.post("/api/v1/staff/login-handovers", headers=staff, json={
        "access_key": access_key, "reseller_code": "R-100", "name": name, "email": email})
    assert again.status_code == 409 and "受付中" in again.json()["message"]  # one at a time per account
    task = await _task(svc, n)
    assert task.facts["reseller_code_matches"] == "yes" and task.facts["new_person_email"] == email
    await _decide(svc, staff, task, "approve", "特約店コード・アクセスキー確認済み")

    mail = await svc.wait_for_mail(INVITATION, n + 1)
    assert email in mail.recipients and name in mail.body
    token = re.search(r"/enroll/(\S+)", mail.body).group(1)
    otp = re.search(r"ワンタイムパスワード\s+(\d{8})", mail.body).group(1)
    entered = await svc.http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": otp})
    assert entered.status_code == 200, entered.text
    question = entered.json()["questions"][0]["id"]
    secret = await svc.http.post(f"/api/v1/enroll/{token}/secret", json={"question_id": question, "answer": name})
    password = secret.json()["download_password"]
    guide = await svc.wait_for_mail("電子証明書ダウンロードのご案内", n + 1)
    got = await svc.http.post(f"/api/v1/downloads/{download_url_of(guide)}", json={"download_password": password})
    assert got.status_code == 200
    _, cert, _ = pkcs12.load_key_and_certificates(got.content, password.encode())
    await svc.wait_for_mail(COMPLETED, n + 1)
    return format(cert.serial_number, "x")


def _state(svc: Service, serial: str) -> tuple[str, str | None]:
    with session_scope(svc.engine) as s:
        row = certificates.certificate_record(s, CLIENT_CA, serial)
        return row.state, row.revocation_reason


def _bound(svc: Service, customer_id: int) -> str | None:
    with session_scope(svc.engine) as s:
        return s.get(Customer, customer_id).client_cert_serial


async def test_a_new_person_in_charge_gets_the_portal_login_certificate_and_the_old_one_goes(
        portal: Service) -> None:
    svc = portal
    staff = await staff_token(svc)
    customer = accounts.create_customer(svc.engine, "担当変更株式会社", "it@handover.example.co.jp",
                                        timedelta(days=30))
    with session_scope(svc.engine) as s:
        s.add(CustomerProfile(customer_id=customer.id, reseller_code="R-100", organization={}, contacts={}))

    first = await _take_over(svc, staff, customer.access_key, "新任 一郎", "ichiro@handover.example.co.jp", 0)
    assert _bound(svc, customer.id) == first and _state(svc, first) == ("issued", None)

    second = await _take_over(svc, staff, customer.access_key, "後任 二郎", "jiro@handover.example.co.jp", 1)
    assert _bound(svc, customer.id) == second
    assert _state(svc, second) == ("issued", None)
    assert _state(svc, first) == ("revoked", "superseded")  # the one it replaced
    with session_scope(svc.engine) as s:
        bound = s.exec(select(AuditEvent).where(AuditEvent.action == "customer.client_certificate_bound")).all()
    assert [(e.details["serial"], e.details.get("replaces")) for e in bound] == [(first, None), (second, first)]

    # Refused on the phone: the caller's reseller code is not the one on file; nothing changes.
    wrong = await svc.http.post("/api/v1/staff/login-handovers", headers=staff, json={
        "access_key": customer.access_key, "reseller_code": "R-999", "name": "偽物 三郎",
        "email": "saburo@elsewhere.example"})
    assert wrong.status_code == 202
    task = await _task(svc, 2)
    assert task.facts["reseller_code_matches"] == "no" and task.facts["reseller_code_on_file"] == "R-100"
    await _decide(svc, staff, task, "reject", "特約店コードが一致しません")
    rejected = await svc.wait_for_mail(REJECTED)
    assert "it@handover.example.co.jp" in rejected.recipients and "特約店コードが一致しません" in rejected.body
    await asyncio.sleep(0.2)
    assert not svc.mails(INVITATION)[2:] and _bound(svc, customer.id) == second
    assert _state(svc, second) == ("issued", None)


async def test_bad_requests_name_their_field_and_start_nothing(portal: Service) -> None:
    svc = portal
    staff = await staff_token(svc)
    unknown = await svc.http.post("/api/v1/staff/login-handovers", headers=staff, json={
        "access_key": "99999999", "name": "誰か", "email": "x@example.jp"})
    assert unknown.status_code == 404
    bad = await svc.http.post("/api/v1/staff/login-handovers", headers=staff, json={
        "access_key": "1234", "name": "", "email": "not an address"})
    assert bad.status_code == 422
    assert {f["field"] for f in bad.json()["fields"]} == {"access_key", "name", "email"}
    customer = accounts.create_customer(svc.engine, "顧客", "c@example.jp", timedelta(days=30))
    anonymous = await svc.http.post("/api/v1/staff/login-handovers", json={
        "access_key": customer.access_key, "name": "誰か", "email": "x@example.jp"})
    assert anonymous.status_code == 401
    with session_scope(svc.engine) as s:
        assert not s.exec(select(Task).where(Task.kind == "login_reissue_new_person")).all()


async def test_the_desk_form_opens_it_and_says_what_is_wrong_next_to_each_field(portal: Service) -> None:
    svc = portal
    await staff_token(svc)  # creates sato
    customer = accounts.create_customer(svc.engine, "窓口株式会社", "it@desk-form.example.co.jp", timedelta(days=30))
    login = await svc.http.post("/desk/login", data={"username": "sato", "password": "correct horse battery"})
    assert login.status_code == 303
    inbox = await svc.http.get("/desk")
    assert "ログイン証明書の再発行（担当者変更）受付" in inbox.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', inbox.text).group(1)

    bad = await svc.http.post("/desk/login-handovers", data={
        "access_key": customer.access_key, "name": "", "email": "not-an-address", "csrf_token": csrf})
    assert bad.status_code == 422
    assert re.search(r'id="handover-email-error">[^<]*メールアドレス', bad.text)
    assert 'id="handover-name-error"' in bad.text and 'id="handover-access_key-error"' not in bad.text
    assert f'value="{customer.access_key}"' in bad.text  # what was typed stays

    english = await svc.http.post("/desk/login-handovers", headers={"accept-language": "en"}, data={
        "access_key": "99999999", "name": "New Person", "email": "new@example.jp", "csrf_token": csrf})
    assert english.status_code == 404 and 'id="handover-access_key-error"' in english.text

    opened = await svc.http.post("/desk/login-handovers", data={
        "access_key": customer.access_key, "reseller_code": "", "name": "新任 花子", "email": "hanako@example.jp",
        "csrf_token": csrf})
    assert opened.status_code == 303 and opened.headers["location"] == "/desk?msg=handover_opened"
    task = await _task(svc, 0)
    assert task.facts["requested_by"] == "staff:sato" and task.facts["reseller_code_matches"] == "no"
    page = await svc.http.get(f"/desk/tasks/{task.id}")
    assert "特約店コードの一致" in page.text and "不一致" in page.text and "新任 花子" in page.text
    twice = await svc.http.post("/desk/login-handovers", data={
        "access_key": customer.access_key, "name": "新任 花子", "email": "hanako@example.jp", "csrf_token": csrf})
    assert twice.status_code == 409 and "すでに受付中" in twice.text
