"""The contract as people see it (issue 16): the 契約 section of お申込情報詳細 and its JSON, 解約 (at
the term's end, withdrawn, refused after the cut-off, at once with revocation), 更新のご案内メール in
account info, and the desk's list of certificates about to expire.

The rows are written as an issued application leaves them (a real certificate from the CA, the
contract established by ``store.contracts.establish``); the ``Contract`` workflow runs on the
time-skipping server with the real worker, database and SMTP sink, so 解約 is the workflow's word.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

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
from domain import contract_life as life
from domain.contracts import contract_code
from domain.messages import catalogue
from domain.pki.hierarchy import TLS_CA
from domain.settings import Settings
from processes import contracts as process
from processes.client import Unavailable
from store import accounts, certificates, dev_mailbox
from store import contracts as records
from store.db import session_scope
from store.models import Application, Contract, CustomerProfile, utcnow
from tests.test_certificate_authority import SUBJECT, make_csr
from workflows.contract import Contract as ContractWorkflow
from workflows.contract import ContractInput

JA, EN = catalogue("ja"), catalogue("en")
ORG = {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"}
CONTACTS = {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"}}
PASSWORD = "a much better passphrase"


@dataclass
class Portal:
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

    def mails(self, subject_part: str) -> list[dev_mailbox.StoredMail]:
        return [m for m in dev_mailbox.list_mail(self.mail_dir) if subject_part in m.subject]

    async def wait_for_mail(self, subject_part: str) -> dev_mailbox.StoredMail:
        for _ in range(200):
            found = self.mails(subject_part)
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no mail {subject_part!r}")

    def row(self, code: str) -> Contract:
        with session_scope(self.engine) as s:
            return s.exec(select(Contract).where(Contract.code == code)).one()


def _customer(engine: Engine, settings: Settings, org: str, email: str) -> tuple[int, str, str]:
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
async def portal(time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
                 smtp_sink: tuple[int, Path]) -> AsyncIterator[Portal]:
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    customer_id, token, csrf = _customer(engine, settings, "Example KK", "it@example.co.jp")
    _, other_token, _ = _customer(engine, settings, "Other KK", "it@other.example.co.jp")
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    staff_token, _ = staff_auth.login(engine, settings, "sato", PASSWORD)
    app = create_app(settings, time_skipping_env.client)
    async with (build_worker(time_skipping_env.client, settings),
                _client(app, certdesk_customer=token) as customer, _client(app, certdesk_customer=other_token) as other,
                _client(app) as staff):
        staff.headers["authorization"] = f"Bearer {staff_token}"
        yield Portal(app, time_skipping_env, engine, settings, smtp_sink[1], customer_id, customer, csrf, other, staff)


async def _contract(p: Portal, name: str, product: str = "ov", certificate_days: int = 90,
                    term_end: datetime | None = None) -> tuple[int, str]:
    """An issued new application with its certificate and the contract it established, whose
    workflow is running and has read the row: (application id, contract code)."""
    csr = make_csr(name)
    with session_scope(p.engine) as s:
        app = Application(customer_id=p.customer_id, type="new", product=product, csr_pem=csr, names=[name],
                          organization=ORG, contacts=CONTACTS, status="issued", workflow_id=f"test-{name}")
        s.add(app)
        s.flush()
        app_id = int(app.id or 0)
    cert = authority.issue_server(p.engine, p.settings, f"application:{app_id}", csr, SUBJECT, certificate_days, "test")
    with session_scope(p.engine) as s:
        app = s.get(Application, app_id)
        assert app is not None
        app.contract_code, app.certificate_serial, app.issued_at = contract_code(app_id), cert.serial, utcnow()
        s.add(app)
        row = records.establish(s, app)
        assert row is not None
        if term_end is not None:  # a contract further into its term than a fresh one
            row.term_end = term_end
            s.add(row)
        contract_id, code = int(row.id or 0), row.code
    await p.env.client.start_workflow(
        ContractWorkflow.run, ContractInput(contract_id, code, process.terms(p.settings)),
        id=process.contract_workflow_id(code), task_queue=p.settings.task_queue)
    for _ in range(200):  # until the workflow has read its row (it answers nothing before)
        try:
            await process.status(p.app.state.processes, code)
            return app_id, code
        except Unavailable:
            await asyncio.sleep(0.05)
    raise AssertionError(f"contract {code} never answered")


def _local(p: Portal, value: datetime) -> str:
    return value.astimezone(ZoneInfo(p.settings.timezone)).strftime("%Y/%m/%d %H:%M")


def _section(page: str) -> str:
    found = re.search(r'<section id="contract">(.*?)</section>', page, re.S)
    assert found, page
    return found.group(1)


async def _file(p: Portal, app_id: int, **form: str) -> httpx.Response:
    return await p.customer.post(f"/account/applications/{app_id}/contract/cancellation",
                                 data={"csrf_token": p.csrf, **form})


# --- the detail page -----------------------------------------------------------------------------------

async def test_the_detail_page_shows_the_contract_in_japanese_and_english(portal: Portal) -> None:
    p = portal
    app_id, code = await _contract(p, "www.example.co.jp")  # fixed term; a 90-day certificate in a year
    row = p.row(code)
    assert row.contract_type == life.FIXED and life.needs_replacement(row.certificate_not_after, row.term_end)

    ja = _section((await p.customer.get(f"/account/applications/{app_id}")).text)
    assert f'<td id="contract-code">{code}</td>' in ja
    assert "サービス" in ja and "SSLサーバ証明書（企業認証）(期間固定タイプ)" in ja  # 「サービス：…(期間固定タイプ)」
    assert f'<td id="contract-state">{JA["app_contract_state_active"]}</td>' in ja
    assert f"{_local(p, row.term_start)} ～ {_local(p, row.term_end)}" in ja
    assert f'<td id="contract-certificate-expires">{_local(p, row.certificate_not_after)}</td>' in ja
    # The certificate expires before the term: 「証明書の差し替え」 and its deadline.
    assert "証明書の差し替え" in ja and f"{_local(p, row.certificate_not_after)} までに証明書の差し替えが必要" in ja
    # A fixed term ends by itself: 解約 only at once.
    assert 'id="contract-cancel-at-term-end"' not in ja and 'id="contract-withdraw"' not in ja
    assert 'id="contract-cancel-now"' in ja and 'name="confirm"' in ja

    en = _section((await p.customer.get(f"/account/applications/{app_id}?lang=en")).text)
    assert "SSL server certificate (OV) (fixed term)" in en and EN["app_contract_state_active"] in en
    assert EN["app_contract_replacement"] in en and "期間固定" not in en

    answer = (await p.customer.get(f"/api/v1/applications/{app_id}")).json()
    contract = answer["contract"]
    assert contract["code"] == code and contract["contract_type"] == "fixed" and contract["state"] == "active"
    assert contract["replacement_due"] == row.certificate_not_after.isoformat()
    assert contract["term_end"] == row.term_end.isoformat() and contract["cancel_cutoff"] is None
    assert contract["offers"] == {"cancel_at_term_end": False, "cancel_at_once": True, "withdraw_cancellation": False}


async def test_a_record_without_a_contract_shows_none(portal: Portal) -> None:
    with session_scope(portal.engine) as s:
        app = Application(customer_id=portal.customer_id, type="new", product="ov", csr_pem="-",
                          names=["new.example.co.jp"], organization=ORG, contacts=CONTACTS, workflow_id="t-new")
        s.add(app)
        s.flush()
        app_id = int(app.id or 0)
    page = await portal.customer.get(f"/account/applications/{app_id}")
    assert page.status_code == 200 and 'id="contract"' not in page.text
    assert (await portal.customer.get(f"/api/v1/applications/{app_id}")).json()["contract"] is None
    refused = await portal.customer.delete(f"/api/v1/applications/{app_id}/contract/cancellation",
                                           headers={"x-csrf-token": portal.csrf})
    assert refused.status_code == 404 and refused.json()["message"] == JA["err_contract_not_found"]


# --- 解約 of an automatic contract -------------------------------------------------------------------------

async def test_cancellation_at_term_end_is_filed_withdrawn_and_refused_after_the_cut_off(portal: Portal) -> None:
    p = portal
    cutoff_days = p.settings.contract_cancel_cutoff_days
    # The cut-off an hour away: the page offers 解約 now; the workflow's clock passes it below.
    app_id, code = await _contract(p, "auto.example.co.jp", "ov_auto", 199,
                                   term_end=utcnow() + timedelta(days=cutoff_days, hours=1))
    row = p.row(code)
    cutoff = life.cancel_cutoff(row.term_end, cutoff_days)
    page = _section((await p.customer.get(f"/account/applications/{app_id}")).text)
    assert "(自動契約更新タイプ)" in page and 'id="contract-cancel-at-term-end"' in page
    assert f'<td id="contract-cutoff">{_local(p, cutoff)}</td>' in page
    assert 'id="contract-replacement"' not in page  # the 199-day certificate outlives this term

    filed = await _file(p, app_id, at_once="false")
    assert filed.status_code == 303 and filed.headers["location"].startswith(
        f"/account/applications/{app_id}?done=contract_ending")
    assert p.row(code).state == life.ENDING and p.row(code).end_requested_at is not None
    mail = await p.wait_for_mail("解約受付のお知らせ")
    assert code in mail.subject and mail.recipients == "it@example.co.jp"
    page = (await p.customer.get(filed.headers["location"])).text
    assert JA["app_contract_cancel_filed"] in page
    section = _section(page)
    assert JA["app_contract_state_ending"] in section and 'id="contract-withdraw"' in section
    assert 'id="contract-cancel-at-term-end"' not in section  # filed already: not offered twice
    again = await p.customer.post(f"/api/v1/applications/{app_id}/contract/cancellation", json={"at_once": False},
                                  headers={"x-csrf-token": p.csrf})
    assert again.status_code == 409 and again.json()["error"] == "contract_already_ending"

    # Withdrawn through the JSON twin, filed again through it, withdrawn through the page.
    withdrawn = await p.customer.delete(f"/api/v1/applications/{app_id}/contract/cancellation",
                                        headers={"x-csrf-token": p.csrf})
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == life.ACTIVE
    assert withdrawn.json()["offers"]["cancel_at_term_end"] is True and p.row(code).state == life.ACTIVE
    refiled = await p.customer.post(f"/api/v1/applications/{app_id}/contract/cancellation",
                                    json={"at_once": False, "confirm": False}, headers={"x-csrf-token": p.csrf})
    assert refiled.status_code == 200 and refiled.json()["state"] == life.ENDING
    page_withdrawal = await p.customer.post(f"/account/applications/{app_id}/contract/withdrawal",
                                            data={"csrf_token": p.csrf})
    assert page_withdrawal.status_code == 303 and "done=contract_withdrawn" in page_withdrawal.headers["location"]
    assert p.row(code).state == life.ACTIVE

    # Two hours later on the workflow's clock the cut-off has passed: the workflow refuses, the
    # page says why in the person's language, and nothing changes.
    await p.env.sleep(timedelta(hours=2))
    late = await _file(p, app_id, at_once="false")
    assert late.status_code == 409
    assert JA["err_contract_cutoff_passed"].format(date=_local(p, cutoff)) in late.text
    late_en = await p.customer.post(f"/api/v1/applications/{app_id}/contract/cancellation",
                                    json={"at_once": False}, headers={"x-csrf-token": p.csrf, "accept-language": "en"})
    assert late_en.status_code == 409 and late_en.json() == {
        "error": "contract_cutoff_passed", "message": EN["err_contract_cutoff_passed"].format(date=_local(p, cutoff))}
    assert p.row(code).state == life.ACTIVE


async def test_a_cut_off_already_passed_is_not_offered_and_refused(portal: Portal) -> None:
    p = portal
    app_id, code = await _contract(p, "late.example.co.jp", "ov_auto", 199, term_end=utcnow() + timedelta(days=10))
    section = _section((await p.customer.get(f"/account/applications/{app_id}")).text)
    assert 'id="contract-cancel-at-term-end"' not in section and 'id="contract-cancel-now"' in section
    offers = (await p.customer.get(f"/api/v1/applications/{app_id}")).json()["contract"]["offers"]
    assert offers == {"cancel_at_term_end": False, "cancel_at_once": True, "withdraw_cancellation": False}
    refused = await p.customer.post(f"/api/v1/applications/{app_id}/contract/cancellation", json={"at_once": False},
                                    headers={"x-csrf-token": p.csrf})
    assert refused.status_code == 409 and refused.json()["error"] == "contract_cutoff_passed"
    assert p.row(code).state == life.ACTIVE


async def test_a_fixed_term_contract_refuses_cancellation_at_term_end(portal: Portal) -> None:
    p = portal
    app_id, code = await _contract(p, "fixed.example.co.jp")
    refused = await p.customer.post(f"/api/v1/applications/{app_id}/contract/cancellation",
                                    json={"at_once": False, "confirm": False}, headers={"x-csrf-token": p.csrf})
    assert refused.status_code == 409
    assert refused.json() == {"error": "contract_fixed_term", "message": JA["err_contract_fixed_term"]}
    page = await _file(p, app_id, at_once="false")  # the form is not offered; a hand-made post is refused
    assert page.status_code == 409 and JA["err_contract_fixed_term"] in page.text
    english = await p.customer.post(f"/account/applications/{app_id}/contract/cancellation?lang=en",
                                    data={"csrf_token": p.csrf, "at_once": "false"})
    assert english.status_code == 409
    assert "A fixed-term contract ends at the end of its term by itself" in english.text
    assert p.row(code).state == life.ACTIVE and not p.mails("解約受付")


async def test_cancellation_at_once_needs_its_confirmation_and_revokes_the_certificate(portal: Portal) -> None:
    p = portal
    app_id, code = await _contract(p, "now.example.co.jp", "ov_auto", 199)
    serial = p.row(code).certificate_serial

    # Without the checkbox: 422, the message next to it, nothing asked of the workflow.
    unconfirmed = await _file(p, app_id, at_once="true")
    assert unconfirmed.status_code == 422
    assert 'aria-describedby="contract-confirm-err"' in unconfirmed.text
    assert f'id="contract-confirm-err">{JA["err_contract_confirm_required"]}</span>' in unconfirmed.text
    json_unconfirmed = await p.customer.post(f"/api/v1/applications/{app_id}/contract/cancellation",
                                             json={"at_once": True}, headers={"x-csrf-token": p.csrf})
    assert json_unconfirmed.status_code == 422
    assert json_unconfirmed.json()["fields"] == [{"field": "confirm", "message": JA["err_contract_confirm_required"]}]
    bad = await p.customer.post(f"/api/v1/applications/{app_id}/contract/cancellation",
                                json={"at_once": "maybe"}, headers={"x-csrf-token": p.csrf})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "at_once"
    no_csrf = await p.customer.post(f"/account/applications/{app_id}/contract/cancellation",
                                    data={"at_once": "true", "confirm": "on"})
    assert no_csrf.status_code == 403
    assert p.row(code).state == life.ACTIVE
    with session_scope(p.engine) as s:
        assert certificates.known_certificate(s, TLS_CA, serial).state != "revoked"

    done = await _file(p, app_id, at_once="true", confirm="on")
    assert done.status_code == 303 and "done=contract_cancelled" in done.headers["location"]
    row = p.row(code)
    assert row.state == life.CANCELLED and row.ended_at is not None
    with session_scope(p.engine) as s:
        assert certificates.known_certificate(s, TLS_CA, serial).state == "revoked"
    assert code in (await p.wait_for_mail("解約完了のお知らせ")).subject
    page = (await p.customer.get(done.headers["location"])).text
    section = _section(page)
    assert JA["app_contract_cancelled"] in page and JA["app_contract_state_cancelled"] in section
    assert "<form" not in section  # nothing more to file
    over = await p.customer.post(f"/api/v1/applications/{app_id}/contract/cancellation",
                                 json={"at_once": True, "confirm": True}, headers={"x-csrf-token": p.csrf})
    assert over.status_code == 409 and over.json()["message"] == JA["err_contract_not_active"]


async def test_another_customer_gets_404(portal: Portal) -> None:
    p = portal
    app_id, code = await _contract(p, "mine.example.co.jp", "ov_auto", 199)
    other_csrf = re.search(r'name="csrf_token" value="([^"]+)"', (await p.other.get("/account")).text)
    assert other_csrf
    token = other_csrf.group(1)
    assert (await p.other.get(f"/api/v1/applications/{app_id}")).status_code == 404
    assert (await p.other.get(f"/account/applications/{app_id}")).status_code == 404
    for at_once in (False, True):
        answer = await p.other.post(f"/api/v1/applications/{app_id}/contract/cancellation",
                                    json={"at_once": at_once, "confirm": True}, headers={"x-csrf-token": token})
        assert answer.status_code == 404
    assert (await p.other.delete(f"/api/v1/applications/{app_id}/contract/cancellation",
                                 headers={"x-csrf-token": token})).status_code == 404
    page = await p.other.post(f"/account/applications/{app_id}/contract/cancellation",
                              data={"csrf_token": token, "at_once": "true", "confirm": "on"})
    assert page.status_code == 404
    assert p.row(code).state == life.ACTIVE


# --- 更新のご案内メール ---------------------------------------------------------------------------------------

async def test_the_renewal_notice_setting_round_trips(portal: Portal) -> None:
    p = portal
    url = "/api/v1/account/renewal-notices"
    assert (await p.customer.get(url)).json() == {"renewal_notices": True}  # on until turned off
    form = (await p.customer.get("/account/profile")).text
    assert JA["profile_renewal_notices"] in form
    assert 'name="renewal_notices" value="on" checked' in form and 'value="off" checked' not in form

    values = {"csrf_token": p.csrf, "organization.name": "Example KK", "organization.country": "JP",
              "organization.state": "Tokyo", "organization.locality": "Chiyoda-ku"}
    wrong = await p.customer.post("/account/profile/confirm", data=values | {"renewal_notices": "perhaps"})
    assert wrong.status_code == 422
    assert f'id="f-renewal_notices-err">{JA["profile_renewal_notices_choose"]}</span>' in wrong.text
    confirm = await p.customer.post("/account/profile/confirm", data=values | {"renewal_notices": "off"})
    assert confirm.status_code == 200
    assert f'<td id="renewal-notices">{JA["profile_renewal_notices_unwanted"]}</td>' in confirm.text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', confirm.text))
    assert hidden["renewal_notices"] == "off"
    assert (await p.customer.get(url)).json() == {"renewal_notices": True}  # nothing saved at confirmation
    saved = await p.customer.post("/account/profile", data=hidden | {"step": "save"})
    assert saved.status_code == 303
    assert (await p.customer.get(url)).json() == {"renewal_notices": False}
    with session_scope(p.engine) as s:
        profile = s.get(CustomerProfile, p.customer_id)
        assert profile is not None and profile.renewal_notices is False and profile.organization["name"] == "Example KK"
    assert 'name="renewal_notices" value="off" checked' in (await p.customer.get("/account/profile")).text

    on = await p.customer.put(url, json={"renewal_notices": True}, headers={"x-csrf-token": p.csrf})
    assert on.status_code == 200 and on.json() == {"renewal_notices": True}
    with session_scope(p.engine) as s:
        assert records.renewal_notices_on(s, p.customer_id) is True  # what the reminders read
    bad = await p.customer.put(url, json={"renewal_notices": "yes"}, headers={"x-csrf-token": p.csrf})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "renewal_notices"
    assert (await p.customer.put(url, json={"renewal_notices": False})).status_code == 403  # no CSRF token
    assert (await p.other.get(url)).json() == {"renewal_notices": True}  # each account its own


# --- the desk -------------------------------------------------------------------------------------------------

async def test_the_desk_lists_contracts_whose_certificate_expires_within_30_days(portal: Portal) -> None:
    p = portal
    soon_app, soon = await _contract(p, "soon.example.co.jp", certificate_days=20)
    _, later = await _contract(p, "later.example.co.jp", certificate_days=90)
    row = p.row(soon)
    days_left = (row.certificate_not_after - utcnow()).days

    listed = (await p.staff.get("/api/v1/contracts?expiring_within=30")).json()
    assert [c["code"] for c in listed] == [soon]
    assert listed[0]["days_left"] == days_left and listed[0]["organization"] == "Example KK"
    assert listed[0]["current_application_id"] == soon_app and listed[0]["contract_type"] == "fixed"
    assert {c["code"] for c in (await p.staff.get("/api/v1/contracts?expiring_within=120")).json()} == {soon, later}
    assert (await p.staff.get("/api/v1/contracts?expiring_within=0")).status_code == 422

    page = await p.staff.get("/desk/contracts")
    assert page.status_code == 200 and JA["desk_contracts"] in page.text
    rows = re.findall(r'<tr data-contract="([^"]+)">(.*?)</tr>', page.text, re.S)
    assert [code for code, _ in rows] == [soon]
    cells = rows[0][1]
    assert f"{days_left}日" in cells and "SSLサーバ証明書（企業認証）(期間固定タイプ)" in cells
    assert f'href="/desk/audit?subject=application:{soon_app}"' in cells
    assert row.certificate_not_after.astimezone(ZoneInfo(p.settings.timezone)).strftime("%Y-%m-%d %H:%M") in cells
    english = await p.staff.get("/desk/contracts?lang=en")
    assert EN["desk_contracts"] in english.text and f"{days_left} days" in english.text

    # Staff only.
    assert (await p.customer.get("/api/v1/contracts")).status_code in (401, 403)
    assert (await p.customer.get("/desk/contracts")).status_code in (303, 401, 403)


# --- every refusal the rules give has words ------------------------------------------------------------------

def test_every_refusal_of_the_rules_has_a_message_in_both_languages() -> None:
    from api.contracts import REFUSALS

    now, end = utcnow(), utcnow() + timedelta(days=60)
    codes = {life.cancel_refusal(kind, state, moment, end, 30, at_once)
             for kind in life.CONTRACT_TYPES for state in life.STATES for at_once in (False, True)
             for moment in (now, end - timedelta(days=1))}
    codes |= {life.withdraw_refusal(state, moment, end, 30) for state in life.STATES
              for moment in (now, end - timedelta(days=1))}
    codes.discard(None)
    assert codes and codes <= set(REFUSALS)
    for code in set(REFUSALS) | {"contract_refused", "contract_not_found", "contract_confirm_required"}:
        assert f"err_{code}" in JA and f"err_{code}" in EN, code
