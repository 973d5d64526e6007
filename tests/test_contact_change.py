"""担当者変更申請 (S-5; manual 003 section 2.4) end to end: the JSON twin, the screens, the staff task
and what its decision does to the contract, on the time-skipping server with the real worker,
database and SMTP sink.

The contract is established as an issued application leaves it (a real certificate from the CA,
``store.contracts.establish``); its contacts change only when staff approve, and the next
revocation's phone check then calls the new contact.
"""

import asyncio
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api import customer_auth, staff_auth
from api.app import create_app
from ca import authority
from certdesk.worker import build_worker
from domain.contracts import contract_code
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts, dev_mailbox
from store import contracts as records
from store.db import session_scope
from store.models import Application, Contract
from tests.test_certificate_authority import SUBJECT, make_csr
from workflows.contact_change import workflow_id

JA, EN = catalogue("ja"), catalogue("en")
ORG = {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"}
CONTACTS = {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"},
            "registrant": {"name": "佐藤 花子", "email": "sato@example.co.jp", "phone": "03-1111-2222"}}
NEW_TECHNICAL = {"name": "鈴木 一郎", "email": "suzuki@example.co.jp", "phone": "03-9876-5432"}
PASSWORD = "a much better passphrase"


@dataclass
class Desk:
    app: FastAPI
    env: WorkflowEnvironment
    engine: Engine
    settings: Settings
    mail_dir: Path
    customer_id: int
    customer: httpx.AsyncClient  # a cookie session, as a browser has
    csrf: str
    other: httpx.AsyncClient
    staff: httpx.AsyncClient

    def contacts(self, code: str) -> dict[str, Any]:
        with session_scope(self.engine) as s:
            return dict(s.exec(select(Contract).where(Contract.code == code)).one().contacts)

    def record(self, application_id: int) -> Application:
        with session_scope(self.engine) as s:
            app = s.get(Application, application_id)
            assert app is not None
            return app

    def count(self) -> int:
        with session_scope(self.engine) as s:
            return len(s.exec(select(Application.id)).all())

    async def task(self, kind: str, subject: str) -> dict[str, Any]:
        """The open task of ``kind`` about ``subject``, once its workflow has opened it."""
        for _ in range(200):
            found = (await self.staff.get("/api/v1/tasks", params={"kind": kind})).json()
            mine = [t for t in found if t["subject"] == subject and t["state"] != "done"]
            if mine:
                return mine[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} task for {subject}")

    async def mail(self, subject_part: str) -> dev_mailbox.StoredMail:
        for _ in range(200):
            found = [m for m in dev_mailbox.list_mail(self.mail_dir) if subject_part in m.subject]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no mail {subject_part!r}")


def login(engine: Engine, settings: Settings, org: str, email: str) -> tuple[int, str, str]:
    """A customer whose initial password was changed: (id, session token, CSRF token)."""
    new = accounts.create_customer(engine, org, email, timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, PASSWORD, token)
    token, principal = customer_auth.login(engine, settings, new.access_key, PASSWORD)
    return new.id, token, principal.csrf_token


def _client(app: FastAPI, **cookies: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test")
    for name, value in cookies.items():
        client.cookies.set(name, value)
    return client


@pytest.fixture
async def desk(time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
               smtp_sink: tuple[int, Path]) -> AsyncIterator[Desk]:
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    customer_id, token, csrf = login(engine, settings, "Example KK", "it@example.co.jp")
    _, other_token, other_csrf = login(engine, settings, "Other KK", "it@other.example.co.jp")
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    staff_token, _ = staff_auth.login(engine, settings, "sato", PASSWORD)
    app = create_app(settings, time_skipping_env.client)
    async with (build_worker(time_skipping_env.client, settings),
                _client(app, certdesk_customer=token) as customer, _client(app, certdesk_customer=other_token) as other,
                _client(app) as staff):
        staff.headers["authorization"] = f"Bearer {staff_token}"
        customer.headers["x-csrf-token"], other.headers["x-csrf-token"] = csrf, other_csrf
        yield Desk(app, time_skipping_env, engine, settings, smtp_sink[1], customer_id, customer, csrf, other, staff)


def issued_contract(engine: Engine, settings: Settings, customer_id: int, name: str = "www.tanto.example.jp"
                    ) -> tuple[int, str]:
    """An issued new application and the contract its certificate established: (record id, code)."""
    csr = make_csr(name)
    with session_scope(engine) as s:
        app = Application(customer_id=customer_id, type="new", product="ov", csr_pem=csr, names=[name],
                          organization=ORG, contacts=CONTACTS, status="issued", workflow_id=f"test-{name}")
        s.add(app)
        s.flush()
        app_id = int(app.id or 0)
    cert = authority.issue_server(engine, settings, f"application:{app_id}", csr, SUBJECT, 90, "test")
    with session_scope(engine) as s:
        app = s.get(Application, app_id)
        assert app is not None
        app.contract_code, app.certificate_serial = contract_code(app_id), cert.serial
        s.add(app)
        row = records.establish(s, app)
        assert row is not None
        return app_id, row.code


async def _file(d: Desk, app_id: int, contacts: dict[str, Any] | None = None) -> httpx.Response:
    return await d.customer.post(f"/api/v1/applications/{app_id}/contact-change",
                                 json={"contacts": contacts or {"technical": NEW_TECHNICAL}, "agree_terms": True})


async def _decide(d: Desk, task_id: int, outcome: str, note: str = "") -> httpx.Response:
    return await d.staff.post(f"/api/v1/tasks/{task_id}/complete", json={"outcome": outcome, "note": note})


async def test_contacts_change_only_when_staff_approve_and_the_next_revocation_calls_the_new_one(
        desk: Desk) -> None:
    app_id, code = issued_contract(desk.engine, desk.settings, desk.customer_id)
    filed = await _file(desk, app_id)
    assert filed.status_code == 201, filed.text
    record = filed.json()
    # 「別のお申込情報が作成されます」: a record of its own, pointing at the contract's current one.
    assert (record["type"], record["status"], record["parent_id"]) == ("contact_change", "received", app_id)
    stored = desk.record(record["id"])
    assert stored.contacts["technical"]["name"] == "鈴木 一郎"
    assert stored.contacts["registrant"]["name"] == "佐藤 花子"  # a role not sent keeps the contract's value
    assert desk.contacts(code)["technical"]["name"] == "山田 太郎"  # nothing changes before staff approve

    # One waits: a second is refused with the rule's words, and the page no longer offers it.
    again = await _file(desk, app_id)
    assert again.status_code == 409 and again.json()["error"] == "contact_change_in_progress"
    assert again.json()["message"] == JA["err_contact_change_in_progress"]
    page = await desk.customer.get(f"/account/applications/{app_id}")
    assert 'id="contact-change"' not in page.text
    # Another customer's record is as missing as one that does not exist.
    foreign = await desk.other.post(f"/api/v1/applications/{app_id}/contact-change",
                                    json={"contacts": {"technical": NEW_TECHNICAL}, "agree_terms": True})
    assert foreign.status_code == 404

    # Staff see before and after; a rejection needs its reason.
    task = await desk.task("contact_change_review", f"application:{record['id']}")
    assert task["facts"]["technical_before"].startswith("山田 太郎")
    assert task["facts"]["technical_after"].startswith("鈴木 一郎")
    assert task["facts"]["changed"] == "technical" and task["facts"]["contract_code"] == code
    assert (await _decide(desk, task["id"], "reject")).status_code == 422
    assert desk.contacts(code)["technical"]["name"] == "山田 太郎"
    assert (await _decide(desk, task["id"], "approve")).status_code == 200
    assert await desk.env.client.get_workflow_handle(workflow_id(record["id"])).result() == "completed"
    assert desk.contacts(code)["technical"] == desk.record(record["id"]).contacts["technical"]
    assert desk.contacts(code)["registrant"]["name"] == "佐藤 花子"
    assert desk.record(record["id"]).status == "completed"
    mail = await desk.mail("担当者変更完了")
    assert code in mail.subject and "技術担当者" in mail.body

    # From the 担当者変更 record: no download, 更新, 再発行, 失効 or another change.
    shown = (await desk.customer.get(f"/account/applications/{record['id']}")).text
    assert "担当者変更" in shown
    for marker in ('id="download"', 'id="reissue"', 'id="revoke"', 'id="renew"', 'id="contact-change"'):
        assert marker not in shown, marker
    refused = await desk.customer.post(f"/api/v1/applications/{record['id']}/revoke", json={"reason": "cessation"})
    assert refused.status_code == 409

    # The next revocation's phone check calls the contract's 登録担当者 (manual 2.5 (6)), not the technical one.
    revoked = await desk.customer.post(f"/api/v1/applications/{app_id}/revoke", json={"reason": "cessation"})
    assert revoked.status_code == 201, revoked.text
    call = await desk.task("revocation_phone_confirmation", f"application:{revoked.json()['id']}")
    assert (call["facts"]["contact_name"], call["facts"]["contact_phone"]) == ("佐藤 花子", "03-1111-2222")


async def test_a_rejected_change_leaves_the_contacts_and_another_may_follow(desk: Desk) -> None:
    app_id, code = issued_contract(desk.engine, desk.settings, desk.customer_id)
    record = (await _file(desk, app_id)).json()
    task = await desk.task("contact_change_review", f"application:{record['id']}")
    assert (await _decide(desk, task["id"], "reject", "ご本人確認ができませんでした")).status_code == 200
    assert await desk.env.client.get_workflow_handle(workflow_id(record["id"])).result() == "rejected"
    assert desk.contacts(code) == desk.record(app_id).contacts  # as established
    assert (desk.record(record["id"]).status, desk.record(record["id"]).note) == ("rejected",
                                                                                 "ご本人確認ができませんでした")
    mail = await desk.mail("担当者変更申請についてのご連絡")
    assert "ご本人確認ができませんでした" in mail.body
    # The rejected one no longer waits: the contract may be asked again; the revocation calls the registrant.
    assert (await _file(desk, app_id)).status_code == 201
    revoked = await desk.customer.post(f"/api/v1/applications/{app_id}/revoke", json={"reason": "cessation"})
    call = await desk.task("revocation_phone_confirmation", f"application:{revoked.json()['id']}")
    assert call["facts"]["contact_name"] == "佐藤 花子"


async def test_bad_input_names_its_field_and_keeps_nothing(desk: Desk) -> None:
    app_id, code = issued_contract(desk.engine, desk.settings, desk.customer_id)
    before = desk.count()
    bad = await _file(desk, app_id, {"technical": {"phone": "電話", "email": "not-an-address"}})
    assert bad.status_code == 422
    fields = {f["field"]: f["message"] for f in bad.json()["fields"]}
    assert set(fields) == {"contacts.technical.phone", "contacts.technical.email"}
    assert fields["contacts.technical.phone"] == JA["profile_err_phone"]
    unknown = await _file(desk, app_id, {"buyer": NEW_TECHNICAL})
    assert unknown.status_code == 422 and unknown.json()["fields"][0]["field"] == "contacts.buyer"
    nobody = await _file(desk, app_id, {"technical": None, "registrant": None})
    assert nobody.status_code == 422 and nobody.json()["fields"][0]["field"] == "contacts"
    unagreed = await desk.customer.post(f"/api/v1/applications/{app_id}/contact-change",
                                        json={"contacts": {"technical": NEW_TECHNICAL}})
    assert unagreed.status_code == 422 and unagreed.json()["fields"][0]["field"] == "agree_terms"
    assert desk.count() == before and desk.contacts(code)["technical"]["name"] == "山田 太郎"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _hidden(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_the_screens_in_the_manuals_order(desk: Desk, lang: str) -> None:
    t = JA if lang == "ja" else EN
    desk.customer.cookies.set("lang", lang)
    app_id, code = issued_contract(desk.engine, desk.settings, desk.customer_id)
    base = f"/account/applications/{app_id}/contact-change"

    # (2) お申込情報詳細 → (3) 規約同意.
    detail = await desk.customer.get(f"/account/applications/{app_id}")
    assert f'id="contact-change" href="{base}"' in detail.text
    terms = await desk.customer.get(base)
    assert terms.status_code == 200 and t["cc_terms_title"] in terms.text and t["app_agree"] in terms.text
    assert t["cc_terms_text"] in html.unescape(terms.text)
    assert (await desk.customer.post(f"{base}/input", data={"agree_terms": "on"})).status_code == 403  # no CSRF

    # (4) The four contacts, prefilled from the contract.
    shown = await desk.customer.post(f"{base}/input", data={"csrf_token": desk.csrf, "agree_terms": "on"})
    assert shown.status_code == 200 and t["cc_input_intro"] in html.unescape(shown.text)
    for role in ("registrant", "technical", "administrative", "contract"):
        assert t[f"profile_role_{role}"] in shown.text
    assert 'name="contacts.technical.name" value="山田 太郎"' in shown.text

    # A bad field: its message next to it, nothing stored, nothing changed.
    before = desk.count()
    form = {"csrf_token": desk.csrf, **_hidden_inputs(shown.text),
            "contacts.technical.name": "鈴木 一郎", "contacts.technical.phone": "03-98"}
    bad = await desk.customer.post(f"{base}/confirm", data=form)
    assert bad.status_code == 422
    assert (f'<span class="field-error" id="f-contacts-technical-phone-err">{t["profile_err_phone"]}</span>'
            in bad.text)
    assert 'value="鈴木 一郎"' in bad.text  # what was typed comes back
    assert desk.count() == before and desk.contacts(code)["technical"]["name"] == "山田 太郎"
    if lang == "ja":
        assert "must be" not in bad.text and "is required" not in bad.text

    # (5) 入力確認 → 「申込」.
    form["contacts.technical.phone"] = "03-9876-5432"
    confirm = await desk.customer.post(f"{base}/confirm", data=form)
    assert confirm.status_code == 200 and t["cc_confirm_title"] in confirm.text and t["app_submit"] in confirm.text
    assert t["cc_confirm_intro"] in html.unescape(confirm.text)
    assert t["cc_changed"] in confirm.text and t["cc_unchanged"] in confirm.text
    back = await desk.customer.post(base, data={**_hidden(confirm.text), "step": "back"})
    assert back.status_code == 200 and 'value="03-9876-5432"' in back.text and desk.count() == before
    done = await desk.customer.post(base, data={**_hidden(confirm.text), "step": "apply"})
    assert done.status_code == 303, done.text
    finished = await desk.customer.get(done.headers["location"])
    assert t["cc_done"] in finished.text
    new_id = int(re.search(r"/account/applications/(\d+)/contact-change/done", done.headers["location"]).group(1))
    assert desk.record(new_id).contacts["technical"]["phone"] == "03-9876-5432"
    assert desk.contacts(code)["technical"]["name"] == "山田 太郎"  # until staff approve
    listed = await desk.customer.get("/account/applications")
    assert t["app_type_contact_change"] in listed.text
    # The completion screen belongs to a contact change record only; another's is missing.
    assert (await desk.customer.get(f"/account/applications/{app_id}/contact-change/done")).status_code == 404
    assert (await desk.other.get(done.headers["location"])).status_code == 404


def _hidden_inputs(page: str) -> dict[str, str]:
    """The input screen's text fields, as a browser would send them unchanged."""
    return dict(re.findall(r'<input id="[^"]+" name="(contacts\.[^"]+)" value="([^"]*)"', page))
