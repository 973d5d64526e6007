"""New server certificate applications end to end on the dev server: review, documents, issue, cancel."""

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api import customer_auth
from api.app import create_app
from ca import authority
from domain.pki.lint import LintProfile, lint_certificate
from domain.settings import Settings
from store import accounts, certificates, dev_mailbox
from store.db import session_scope
from store.models import Application, AuditEvent, Task
from tests.conftest import end_running_workflows, vetting_network
from tests.test_certificate_authority import make_csr
from tests.vetting_checks import EV_CHECKS, record_checks

PASSWORD = "correct horse battery"
ORG = {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"}


@dataclass
class Portal:
    http: httpx.AsyncClient
    customer: dict[str, str]
    other: dict[str, str]
    staff: dict[str, str]


def _customer_token(engine: Engine, settings: Settings, org: str, email: str) -> dict[str, str]:
    new = accounts.create_customer(engine, org, email, timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, "a much better passphrase", token)
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def portal(local_stack: Settings, engine: Engine) -> AsyncIterator[Portal]:
    settings = local_stack
    authority.ensure_hierarchy(engine, settings)
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://portal.test"
    ) as http:
        staff = (await http.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})).json()
        yield Portal(
            http,
            _customer_token(engine, settings, "Example KK", "it@example.co.jp"),
            _customer_token(engine, settings, "Other KK", "it@other.example.co.jp"),
            {"authorization": f"Bearer {staff['token']}"},
        )


async def _apply(p: Portal, **overrides: object) -> httpx.Response:
    body = {
        "type": "new",
        "product": "ov",
        "csr": make_csr("www.example.co.jp", "example.co.jp"),
        "agree_terms": True,
        "organization": ORG,
        "contacts": {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"}},
    }
    return await p.http.post("/api/v1/applications", json={**body, **overrides}, headers=p.customer)


async def _task(p: Portal, application_id: int, kind: str) -> dict:
    for _ in range(200):
        tasks = (await p.http.get(f"/api/v1/tasks?state=open&kind={kind}", headers=p.staff)).json()
        mine = [t for t in tasks if t["subject"] == f"application:{application_id}"]
        if mine:
            return mine[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} task for application {application_id}")


async def _status(p: Portal, application_id: int, wanted: str) -> dict:
    for _ in range(200):
        detail = (await p.http.get(f"/api/v1/applications/{application_id}", headers=p.customer)).json()
        if detail["status"] == wanted:
            return detail
        await asyncio.sleep(0.05)
    raise AssertionError(f"application {application_id} never became {wanted}: {detail}")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"product": "dv"}, "product"),
        ({"agree_terms": False}, "agree_terms"),
        ({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----"}, "csr.csr"),
        ({"organization": {**ORG, "state": ""}}, "organization.state"),
        ({"organization": {**ORG, "postal_code": "1234567x"}}, "organization.postal_code"),
        ({"type": "reissue"}, "type"),
    ],
)
async def test_bad_applications_name_the_field_and_store_nothing(
    portal: Portal, engine: Engine, overrides: dict, field: str
) -> None:
    r = await _apply(portal, **overrides)
    assert r.status_code == 422, r.text
    assert field in [f["field"] for f in r.json()["fields"]], r.json()
    with session_scope(engine) as s:
        assert s.exec(select(Application)).all() == []


async def test_reviewed_approved_issued_and_downloaded(
    portal: Portal, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    created = await _apply(portal)
    assert created.status_code == 201 and created.json()["status"] == "received"
    app_id = created.json()["id"]
    task = await _task(portal, app_id, "application_review")
    await record_checks(portal.http, task["id"], portal.staff)
    done = await portal.http.post(
        f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "approve"}, headers=portal.staff
    )
    assert done.status_code == 200, done.text
    detail = await _status(portal, app_id, "issued")
    assert re.fullmatch(r"C\d{7}", detail["contract_code"]) and detail["serial"]
    assert detail["server_name"] == "www.example.co.jp"
    pem = await portal.http.get(f"/api/v1/applications/{app_id}/certificate", headers=portal.customer)
    assert pem.status_code == 200
    leaf, chain = x509.load_pem_x509_certificates(pem.content)
    assert format(leaf.serial_number, "x") == detail["serial"]
    assert chain == certificates.ca_certificate(engine, "server-ca")
    assert lint_certificate(leaf.public_bytes(Encoding.DER), LintProfile.OV) == []
    assert leaf.subject.rfc4514_string() == "O=Example KK,L=Chiyoda-ku,ST=Tokyo,C=JP"
    for _ in range(50):
        mails = [m for m in dev_mailbox.list_mail(smtp_sink[1]) if m.recipients == "it@example.co.jp"]
        if len(mails) >= 2:
            break
        await asyncio.sleep(0.1)
    # The application was confirmed as received, then the certificate announced.
    received, issued = sorted(mails, key=lambda m: "受付" not in m.subject)
    assert received.subject == f"【certdesk】お申込み受付のお知らせ（新規発行・申請番号 {app_id}）"
    assert "www.example.co.jp" in received.body and f"/account/applications/{app_id}" in received.body
    assert len(mails) == 2 and "発行" in issued.subject and detail["contract_code"] in issued.body
    again = await portal.http.post(f"/api/v1/applications/{app_id}/cancel", headers=portal.customer)
    assert again.status_code == 409


async def test_documents_pending_then_received_then_rejected(portal: Portal, engine: Engine) -> None:
    app_id = (await _apply(portal)).json()["id"]
    review = await _task(portal, app_id, "application_review")
    await portal.http.post(
        f"/api/v1/tasks/{review['id']}/complete",
        headers=portal.staff,
        json={"outcome": "request_documents", "note": "登記事項証明書"},
    )
    pending = await _status(portal, app_id, "documents_pending")
    assert pending["documents_pending"] is True and pending["note"] == "登記事項証明書"
    check = await _task(portal, app_id, "documents_check")
    await portal.http.post(f"/api/v1/tasks/{check['id']}/complete", json={"outcome": "received"}, headers=portal.staff)
    await _status(portal, app_id, "reviewing")  # 審査中 again (申込受付 → 認証待ち → 審査中)
    second = await _task(portal, app_id, "application_review")
    assert second["id"] != review["id"]
    await portal.http.post(
        f"/api/v1/tasks/{second['id']}/complete",
        headers=portal.staff,
        json={"outcome": "reject", "note": "組織の実在が確認できません"},
    )
    rejected = await _status(portal, app_id, "rejected")
    assert rejected["note"] == "組織の実在が確認できません" and rejected["serial"] is None


async def test_cancel_before_issuance_closes_the_task(portal: Portal, engine: Engine) -> None:
    app_id = (await _apply(portal)).json()["id"]
    task = await _task(portal, app_id, "application_review")
    r = await portal.http.post(f"/api/v1/applications/{app_id}/cancel", headers=portal.customer)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    await _status(portal, app_id, "cancelled")
    for _ in range(100):
        with session_scope(engine) as s:
            closed = s.get(Task, task["id"])
        if closed.state == "done":
            break
        await asyncio.sleep(0.05)
    assert (closed.state, closed.outcome) == ("done", "cancelled")
    late = await portal.http.post(
        f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "approve"}, headers=portal.staff
    )
    assert late.status_code == 409
    assert (await portal.http.post(f"/api/v1/applications/{app_id}/cancel", headers=portal.customer)).status_code == 409


async def test_a_customer_never_sees_or_acts_on_another_customers_application(portal: Portal) -> None:
    app_id = (await _apply(portal)).json()["id"]
    for method, path in (
        ("GET", f"/api/v1/applications/{app_id}"),
        ("GET", f"/api/v1/applications/{app_id}/certificate"),
        ("POST", f"/api/v1/applications/{app_id}/cancel"),
    ):
        r = await portal.http.request(method, path, headers=portal.other)
        assert r.status_code == 404, (path, r.text)
    assert (await portal.http.get("/api/v1/applications", headers=portal.other)).json() == []
    assert [a["id"] for a in (await portal.http.get("/api/v1/applications", headers=portal.customer)).json()] == [
        app_id
    ]
    assert (await portal.http.get("/api/v1/applications")).status_code == 401


async def _issued(p: Portal) -> dict:
    app_id = (await _apply(p)).json()["id"]
    task = await _task(p, app_id, "application_review")
    await record_checks(p.http, task["id"], p.staff)
    await p.http.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "approve"}, headers=p.staff)
    return await _status(p, app_id, "issued")


async def test_revocation_waits_for_the_phone_call_then_shows_in_crl_and_ocsp(
    portal: Portal, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    issued = await _issued(portal)
    r = await portal.http.post(
        f"/api/v1/applications/{issued['id']}/revoke", json={"reason": "key_compromise"}, headers=portal.customer
    )
    assert r.status_code == 201 and "お電話で確認" in r.json()["message"]
    revocation_id = r.json()["id"]
    twice = await portal.http.post(
        f"/api/v1/applications/{issued['id']}/revoke", json={"reason": "cessation"}, headers=portal.customer
    )
    assert twice.status_code == 409 and twice.json()["error"] == "revocation_pending"
    call = await _task(portal, revocation_id, "revocation_phone_confirmation")
    assert call["facts"]["contact_name"] == "山田 太郎" and call["facts"]["contact_phone"] == "03-1234-5678"
    # BR 4.9.1.1: 24 hours for a key compromise.
    from datetime import datetime

    with session_scope(engine) as s:
        opened = s.get(Task, call["id"]).created_at
    assert abs(datetime.fromisoformat(call["due_at"]) - opened - timedelta(hours=24)) < timedelta(minutes=1)
    assert certificates.latest_crl(engine, "server-ca") is None  # nothing revoked, nothing published before the call
    leaf, issuer = x509.load_pem_x509_certificates(  # downloaded while valid: a revoked one is not handed out
        (await portal.http.get(f"/api/v1/applications/{issued['id']}/certificate", headers=portal.customer)).content
    )

    done = await portal.http.post(
        f"/api/v1/tasks/{call['id']}/complete", json={"outcome": "confirmed"}, headers=portal.staff
    )
    assert done.status_code == 200
    await _status(portal, revocation_id, "completed")
    crl = x509.load_der_x509_crl((await portal.http.get("/pki/server-ca.crl")).content)
    entry = crl.get_revoked_certificate_by_serial_number(int(issued["serial"], 16))
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    gone = await portal.http.get(f"/api/v1/applications/{issued['id']}/certificate", headers=portal.customer)
    assert gone.status_code == 409 and gone.json()["error"] == "already_revoked"
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    answer = ocsp.load_der_ocsp_response(
        (await portal.http.post("/ocsp", content=request.public_bytes(Encoding.DER))).content
    )
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    again = await portal.http.post(
        f"/api/v1/applications/{issued['id']}/revoke", json={"reason": "cessation"}, headers=portal.customer
    )
    assert again.status_code == 409 and again.json()["error"] == "already_revoked"
    for _ in range(50):
        subjects = [m.subject for m in dev_mailbox.list_mail(smtp_sink[1]) if m.recipients == "it@example.co.jp"]
        if any("失効" in x for x in subjects):
            break
        await asyncio.sleep(0.1)
    assert any("失効" in x for x in subjects)


async def test_a_rejected_revocation_revokes_nothing(portal: Portal, engine: Engine) -> None:
    issued = await _issued(portal)
    r = await portal.http.post(
        f"/api/v1/applications/{issued['id']}/revoke", json={"reason": "switching"}, headers=portal.customer
    )
    call = await _task(portal, r.json()["id"], "revocation_phone_confirmation")
    no_note = await portal.http.post(
        f"/api/v1/tasks/{call['id']}/complete", json={"outcome": "rejected"}, headers=portal.staff
    )
    assert no_note.status_code == 422
    await portal.http.post(
        f"/api/v1/tasks/{call['id']}/complete",
        headers=portal.staff,
        json={"outcome": "rejected", "note": "ご担当者様と連絡が取れませんでした"},
    )
    await _status(portal, r.json()["id"], "rejected")
    crl = certificates.latest_crl(engine, "server-ca")
    assert crl is None or crl.entries == 0
    bad = await portal.http.post(
        f"/api/v1/applications/{issued['id']}/revoke", json={"reason": "because"}, headers=portal.customer
    )
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "reason"
    other = await portal.http.post(
        f"/api/v1/applications/{issued['id']}/revoke", json={"reason": "cessation"}, headers=portal.other
    )
    assert other.status_code == 404


async def _revoked(engine: Engine, serial: str, wait: float = 10) -> x509.ReasonFlags | None:
    """The reason the CRL gives for ``serial`` (waiting up to ``wait`` seconds), else None."""
    for _ in range(int(wait * 10)):
        row = certificates.latest_crl(engine, "server-ca")
        if row is not None:
            entry = x509.load_der_x509_crl(row.der).get_revoked_certificate_by_serial_number(int(serial, 16))
            if entry is not None:
                return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        await asyncio.sleep(0.1)
    return None


async def _reissue(p: Portal, app_id: int, when: str) -> httpx.Response:
    return await p.http.post(
        f"/api/v1/applications/{app_id}/reissue",
        headers=p.customer,
        json={"csr": make_csr("www.example.co.jp"), "revoke_previous": when},
    )


async def test_reissue_revoking_the_previous_certificate_at_once(portal: Portal, engine: Engine) -> None:
    issued = await _issued(portal)
    r = await _reissue(portal, issued["id"], "immediately")
    assert r.status_code == 201 and r.json()["parent_id"] == issued["id"]
    new = await _status(portal, r.json()["id"], "issued")
    assert new["serial"] != issued["serial"]
    assert await _revoked(engine, issued["serial"]) == x509.ReasonFlags.superseded
    twice = await _reissue(portal, issued["id"], "immediately")
    assert twice.status_code == 409 and twice.json()["error"] in ("already_reissued", "already_revoked")


@pytest.mark.parametrize(
    ("setup", "code"),
    [("window", "reissue_window_closed"), ("contact_change", "not_reissuable"), ("pending", "not_issued")],
)
async def test_reissue_refusals(portal: Portal, engine: Engine, setup: str, code: str) -> None:
    if setup == "pending":
        app_id = (await _apply(portal)).json()["id"]
    else:
        app_id = (await _issued(portal))["id"]
        with session_scope(engine) as s:
            app = s.get(Application, app_id)
            if setup == "window":
                app.issued_at = app.issued_at - timedelta(days=26)
            else:
                app.type = "contact_change"
            s.add(app)
    r = await _reissue(portal, app_id, "after_two_weeks")
    assert r.status_code == 409 and r.json()["error"] == code
    bad = await portal.http.post(
        f"/api/v1/applications/{app_id}/reissue",
        headers=portal.customer,
        json={"csr": make_csr("www.example.co.jp"), "revoke_previous": "someday"},
    )
    assert bad.status_code == 422


async def test_ev_is_reissued_only_once(portal: Portal, engine: Engine) -> None:
    org = {**ORG, "registration_number": "0100-01-012345"}
    app_id = (await _apply(portal, product="ev", organization=org)).json()["id"]
    task = await _task(portal, app_id, "application_review")
    await record_checks(portal.http, task["id"], portal.staff, EV_CHECKS)
    await portal.http.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "approve"}, headers=portal.staff)
    first = await _status(portal, app_id, "issued")
    reissued = await _reissue(portal, first["id"], "immediately")
    assert reissued.status_code == 201
    await _status(portal, reissued.json()["id"], "issued")
    again = await _reissue(portal, reissued.json()["id"], "immediately")
    assert again.status_code == 409 and again.json()["error"] == "ev_reissued_once"


async def test_delayed_revocation_fires_after_the_wait_across_a_worker_restart(
    local_env: WorkflowEnvironment, settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    from certdesk.worker import build_worker

    settings = settings.model_copy(
        update={
            "temporal_address": local_env.client.service_client.config.target_host,
            "delayed_revocation": timedelta(seconds=8),
        }
    )
    authority.ensure_hierarchy(engine, settings)
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    async with vetting_network(local_env.client, settings) as (settings, _zone), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://portal.test"
    ) as http:
        staff = (await http.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})).json()
        p = Portal(
            http,
            _customer_token(engine, settings, "Example KK", "it@example.co.jp"),
            {},
            {"authorization": f"Bearer {staff['token']}"},
        )
        async with build_worker(local_env.client, settings):
            issued = await _issued(p)
            r = await _reissue(p, issued["id"], "after_two_weeks")
            reissue = await _status(p, r.json()["id"], "issued")
            for _ in range(50):
                reissue = (await http.get(f"/api/v1/applications/{r.json()['id']}", headers=p.customer)).json()
                if reissue["revoke_previous_at"]:
                    break
                await asyncio.sleep(0.1)
            assert reissue["revoke_previous_at"]
        assert await _revoked(engine, issued["serial"], wait=1) is None  # not before the wait
        await asyncio.sleep(4)  # the worker is down for a while
        async with build_worker(local_env.client, settings):
            assert await _revoked(engine, issued["serial"], wait=20) == x509.ReasonFlags.superseded
            # Let the workflow finish while a worker is there; nothing may outlive this test on the
            # shared dev server (the next test's database reuses the id reissue-2).
            done = await asyncio.wait_for(
                local_env.client.get_workflow_handle(f"reissue-{r.json()['id']}").result(), 20
            )
            assert done["previous"] == "revoked"
        await end_running_workflows(local_env, settings.task_queue)
        with session_scope(engine) as s:
            events = s.exec(select(AuditEvent).where(AuditEvent.action == "certificate.revoked")).all()
        assert [e.actor for e in events] == ["timer"]


async def test_key_compromise_during_the_wait_takes_over_and_nothing_is_revoked_twice(
    portal: Portal, local_env: WorkflowEnvironment, engine: Engine
) -> None:
    issued = await _issued(portal)
    r = await _reissue(portal, issued["id"], "after_two_weeks")  # 14 days: the timer will not fire here
    await _status(portal, r.json()["id"], "issued")
    revocation = await portal.http.post(
        f"/api/v1/applications/{issued['id']}/revoke", json={"reason": "key_compromise"}, headers=portal.customer
    )
    assert revocation.status_code == 201
    result = await asyncio.wait_for(local_env.client.get_workflow_handle(f"reissue-{r.json()['id']}").result(), 20)
    assert result["previous"] == "taken_over"
    call = await _task(portal, revocation.json()["id"], "revocation_phone_confirmation")
    await portal.http.post(f"/api/v1/tasks/{call['id']}/complete", json={"outcome": "confirmed"}, headers=portal.staff)
    assert await _revoked(engine, issued["serial"]) == x509.ReasonFlags.key_compromise
    with session_scope(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "certificate.revoked")).all()
    assert [e.actor for e in events] == ["staff:sato"]
