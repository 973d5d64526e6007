"""Domain validation as people see it: the customer's ドメイン認証 section on お申込情報詳細 and its
JSON twins (list, choice of method, 再チェック), and the vetting desk's review of an application
(organization and contacts beside the saved account info, each name's evidence, the checklist).

The rows are written straight into the database, as the DomainValidation workflow's activities
would leave them; only 再チェック reaches Temporal (unreachable here: 503; a time-skipping server
for 202 and 409 ``closed``).
"""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api import customer_auth
from api import domain_validations as pages
from api.app import create_app
from domain.messages import catalogue
from domain.settings import Settings
from domain.vetting.checklist import DomainFacts, VettingFacts, approval_refusals
from domain.vetting.dcv import Method, validation_file_name
from processes import vetting as vetting_process
from processes.client import Closed, Processes, Unavailable
from processes.connection import TemporalHandle
from store import accounts
from store.db import session_scope
from store.models import Application, AuditEvent, DomainValidation, Task, utcnow
from workflows.domain_validation import DomainValidation as DomainValidationWorkflow
from workflows.domain_validation import DomainValidationInput

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
JA, EN = catalogue("ja"), catalogue("en")
PROFILE = {
    "reseller_code": "",
    "organization": {"name": "検証株式会社", "name_kana": "ケンショウ", "registration_number": "0100-01-123456",
                     "country": "JP", "state": "東京都", "locality": "千代田区", "address": "丸の内1-1-1",
                     "postal_code": "100-0005", "phone": "03-1234-5678"},
    "contacts": {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"}},
}
# What the application says: the organization as saved, the technical contact's phone changed, a registrant added.
APPLIED_CONTACTS = {
    "technical": {"name": "山田 太郎", "department": "", "postal_code": "", "address": "", "phone": "03-9999-0000",
                  "fax": "", "email": "yamada@example.co.jp", "renewal_notice": False},
    "registrant": {"name": "佐藤 花子", "department": "総務部", "postal_code": "", "address": "",
                   "phone": "03-1111-2222", "fax": "", "email": "sato@example.co.jp", "renewal_notice": True},
}
NAMES = ["www.example.co.jp", "shop.example.co.jp", "*.example.co.jp", "example.co.jp", "old.example.co.jp",
         "api.example.co.jp"]
VALUE = {name: f"value-{i}-abcdefghijklmnopqrstuvwx" for i, name in enumerate(NAMES)}
EXPIRES = datetime(2031, 5, 1, 20, 30, tzinfo=UTC)  # 2031/05/02 05:30 in Tokyo
EARLIER = datetime(2031, 3, 10, 1, 0, tzinfo=UTC)
CHECKED = datetime(2031, 4, 3, 2, 0, tzinfo=UTC)


@dataclass
class Portal:
    customer: httpx.AsyncClient
    other: httpx.AsyncClient
    staff: dict[str, str]  # the desk's bearer header
    app: FastAPI
    engine: Engine
    customer_id: int
    application_id: int
    rows: dict[str, int]  # name -> validation id


def _login(engine: Engine, settings: Settings, org: str, email: str) -> tuple[int, str]:
    new = accounts.create_customer(engine, org, email, timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, "a much better passphrase", token)
    return new.id, token


def _client(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test")
    if token:
        client.cookies.set("certdesk_customer", token)
    return client


async def _csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/account")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _check(reason: str, passed: bool, perspectives: list[dict[str, Any]]) -> dict[str, Any]:
    return {"check": f"domain-validation-1/run/1/{reason}", "at": CHECKED.isoformat(), "method": "dns_change",
            "value_sha256": "0" * 64, "passed": passed, "reason": reason, "workflow": "domain-validation-1",
            "perspectives": perspectives}


def _rows(customer_id: int, application_id: int) -> list[DomainValidation]:
    def row(name: str, **fields: Any) -> DomainValidation:
        base = {"customer_id": customer_id, "application_id": application_id, "name": name,
                "validated_domain": name.removeprefix("*."), "random_value": VALUE[name], "expires_at": EXPIRES}
        return DomainValidation(**{**base, **fields})

    www_check = _check("primary_servfail", False, [
        {"name": "primary", "found": None, "where": "_certdesk-challenge.www.example.co.jp", "seen": "servfail"},
        {"name": "tokyo", "found": False, "where": "_certdesk-challenge.www.example.co.jp", "seen": "(no TXT record)"},
    ])
    api_check = _check("corroborated", True, [
        {"name": "primary", "found": True, "where": "_certdesk-challenge.api.example.co.jp", "seen": VALUE[NAMES[5]]},
        {"name": "osaka", "found": True, "where": "_certdesk-challenge.api.example.co.jp", "seen": VALUE[NAMES[5]]},
    ])
    return [
        row("www.example.co.jp", checked_at=CHECKED, last_result="primary_servfail", evidence=[www_check]),
        row("shop.example.co.jp", method="http_file"),
        row("*.example.co.jp", last_result="something_new", checked_at=CHECKED),
        row("example.co.jp", state="validated", validated_at=EARLIER,
            evidence=[{"reused": 77, "validated_at": EARLIER.isoformat(), "method": "dns_change",
                       "validated_domain": "example.co.jp"}]),
        row("old.example.co.jp", state="expired"),
        row("api.example.co.jp", state="validated", validated_at=CHECKED, checked_at=CHECKED,
            last_result="corroborated", evidence=[api_check]),
    ]


def _application(engine: Engine, customer_id: int) -> tuple[int, dict[str, int]]:
    with session_scope(engine) as s:
        app = Application(customer_id=customer_id, type="new", product="ov", csr_pem="", names=NAMES,
                          organization=PROFILE["organization"], contacts=APPLIED_CONTACTS,
                          workflow_id="server-cert-application-test")
        s.add(app)
        s.flush()
        rows = _rows(customer_id, int(app.id or 0))
        s.add_all(rows)
        s.flush()
        return int(app.id or 0), {r.name: int(r.id or 0) for r in rows}


@pytest.fixture
async def portal(settings: Settings, engine: Engine) -> AsyncIterator[Portal]:
    app = create_app(settings.model_copy(update={"temporal_address": "127.0.0.1:1"}))
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    customer_id, token = _login(engine, settings, "検証株式会社", "it@example.co.jp")
    _, other_token = _login(engine, settings, "他社株式会社", "it@other.example.co.jp")
    async with _client(app, token) as customer, _client(app, other_token) as other, _client(app) as staff:
        saved = await customer.put("/api/v1/account/profile", json=PROFILE,
                                   headers={"x-csrf-token": await _csrf(customer)})
        assert saved.status_code == 200, saved.text
        session = await staff.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})
        assert session.status_code == 200, session.text
        application_id, rows = _application(engine, customer_id)
        yield Portal(customer, other, {"authorization": f"Bearer {session.json()['token']}"}, app, engine,
                     customer_id, application_id, rows)


def _row(engine: Engine, validation_id: int) -> DomainValidation:
    with session_scope(engine) as s:
        row = s.get(DomainValidation, validation_id)
        assert row is not None
        return row


def _section(page: str, validation_id: int) -> str:
    found = re.search(rf'<article class="dcv [^"]*" id="dcv-{validation_id}">(.*?)</article>', page, re.S)
    assert found, page
    return found.group(1)


# --- the customer's page ----------------------------------------------------------------------------

async def test_the_detail_page_shows_each_state_and_where_to_place_the_value(portal: Portal) -> None:
    page = await portal.customer.get(f"/account/applications/{portal.application_id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert JA["dcv_page_heading"] in text and 'id="domain-validation"' in text

    www = _section(text, portal.rows["www.example.co.jp"])
    assert JA["dcv_state_pending"] in www and JA["dcv_method_dns_change"] in www
    assert "<code class=\"dcv-where\">_certdesk-challenge.www.example.co.jp</code>" in www
    assert f'<code class="dcv-value">{VALUE["www.example.co.jp"]}</code>' in www
    assert JA["dcv_instruction_dns_change"].format(where="_certdesk-challenge.www.example.co.jp") in www
    assert "2031/05/02 05:30" in www  # the value's end, in CERTDESK_TIMEZONE (Asia/Tokyo)
    assert JA["dcv_result_primary_servfail"] in www and "2031/04/03 11:00" in www

    shop = _section(text, portal.rows["shop.example.co.jp"])
    url = f"http://shop.example.co.jp/.well-known/pki-validation/{validation_file_name(VALUE['shop.example.co.jp'])}"
    assert f'<code class="dcv-where">{url}</code>' in shop and VALUE["shop.example.co.jp"] in shop
    assert JA["dcv_page_file_note"] in shop and JA["dcv_page_not_checked"] in shop

    wildcard = _section(text, portal.rows["*.example.co.jp"])
    assert "_certdesk-challenge.example.co.jp" in wildcard
    assert JA["dcv_result_other"] in wildcard  # a reason code without words of its own
    assert re.search(r'value="http_file" disabled>', wildcard) and JA["dcv_err_method_no_wildcard"] in wildcard

    reused = _section(text, portal.rows["example.co.jp"])
    assert JA["dcv_state_validated"] in reused
    assert JA["dcv_page_reused"].format(date="2031/03/10 10:00") in reused
    assert VALUE["example.co.jp"] not in reused and "dcv-method-form" not in reused

    checked = _section(text, portal.rows["api.example.co.jp"])
    assert JA["dcv_page_validated_on"].format(date="2031/04/03 11:00") in checked
    assert JA["dcv_result_corroborated"] in checked and JA["dcv_page_reused"].split("（")[0] not in checked

    expired = _section(text, portal.rows["old.example.co.jp"])
    assert JA["dcv_state_expired"] in expired and VALUE["old.example.co.jp"] not in expired
    assert 'id="dcv-recheck"' in text and JA["dcv_page_recheck"] in text

    english = await portal.customer.get(f"/account/applications/{portal.application_id}?lang=en")
    assert EN["dcv_page_heading"] in english.text and EN["dcv_state_expired"] in english.text
    assert EN["dcv_instruction_http_file"].format(where=url) in english.text


async def test_an_application_without_validations_shows_no_section(portal: Portal) -> None:
    with session_scope(portal.engine) as s:
        app = Application(customer_id=portal.customer_id, type="new", product="ov", csr_pem="",
                          names=["plain.example.co.jp"])
        s.add(app)
        s.flush()
        app_id = app.id
    page = await portal.customer.get(f"/account/applications/{app_id}")
    assert page.status_code == 200 and 'id="domain-validation"' not in page.text
    assert (await portal.customer.get(f"/api/v1/applications/{app_id}/domain-validations")).json() == []


async def test_the_json_list_says_the_same(portal: Portal) -> None:
    r = await portal.customer.get(f"/api/v1/applications/{portal.application_id}/domain-validations")
    assert r.status_code == 200, r.text
    by_name = {v["name"]: v for v in r.json()}
    assert [v["name"] for v in r.json()] == NAMES  # the certificate's order
    www, shop, wildcard = by_name["www.example.co.jp"], by_name["shop.example.co.jp"], by_name["*.example.co.jp"]
    assert www["state"] == "pending" and www["random_value"] == VALUE["www.example.co.jp"]
    assert www["where"] == www["dns_record_name"] == "_certdesk-challenge.www.example.co.jp"
    assert www["last_result"] == "primary_servfail" and www["expires_at"] == EXPIRES.isoformat()
    assert shop["where"] == shop["file_url"] and shop["file_url"].endswith(validation_file_name(VALUE[shop["name"]]))
    assert wildcard["file_url"] is None and wildcard["methods"] == ["dns_change", "constructed_email"]
    assert www["methods"] == ["dns_change", "http_file", "constructed_email"]
    assert by_name["example.co.jp"]["reused_from"] == 77 and by_name["example.co.jp"]["random_value"] is None


async def test_another_customers_application_is_not_found(portal: Portal) -> None:
    base = f"/api/v1/applications/{portal.application_id}/domain-validations"
    csrf = await _csrf(portal.other)
    www = portal.rows["www.example.co.jp"]
    for r in (await portal.other.get(base),
              await portal.other.put(f"{base}/{www}/method", json={"method": "http_file"},
                                     headers={"x-csrf-token": csrf}),
              await portal.other.post(f"{base}/recheck", headers={"x-csrf-token": csrf})):
        assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    page = await portal.other.post(f"/account/applications/{portal.application_id}/domain-validations/{www}/method",
                                   data={"csrf_token": csrf, "method": "http_file"}, headers={"accept": "text/html"})
    assert page.status_code == 404
    assert _row(portal.engine, www).method == "dns_change"
    # Their own application does not reach this one's validation either.
    with session_scope(portal.engine) as s:
        own = Application(customer_id=portal.customer_id + 1, type="new", product="ov", csr_pem="", names=["x.jp"])
        s.add(own)
        s.flush()
        own_id = own.id
    r = await portal.other.put(f"/api/v1/applications/{own_id}/domain-validations/{www}/method",
                               json={"method": "http_file"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 404 and r.json()["message"] == JA["err_dcv_not_found"]


async def test_the_method_changes_by_json_and_keeps_the_value(portal: Portal) -> None:
    base = f"/api/v1/applications/{portal.application_id}/domain-validations"
    csrf = await _csrf(portal.customer)
    www = portal.rows["www.example.co.jp"]
    assert (await portal.customer.put(f"{base}/{www}/method", json={"method": "http_file"})).status_code == 403

    r = await portal.customer.put(f"{base}/{www}/method", json={"method": "http_file"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "http_file" and r.json()["random_value"] == VALUE["www.example.co.jp"]
    assert r.json()["where"].startswith("http://www.example.co.jp/.well-known/pki-validation/certdesk-")
    row = _row(portal.engine, www)
    assert row.method == "http_file" and row.random_value == VALUE["www.example.co.jp"] and row.state == "pending"
    with session_scope(portal.engine) as s:
        audited = s.exec(select(AuditEvent).where(AuditEvent.action == "dcv.method_changed")).all()
    assert [(a.subject, a.details["method"], a.details["previous"]) for a in audited] == [
        (f"application:{portal.application_id}", "http_file", "dns_change")]

    wildcard = portal.rows["*.example.co.jp"]
    for method, key in (("http_file", "dcv_err_method_no_wildcard"),
                        ("telepathy", "dcv_err_method_not_offered")):
        r = await portal.customer.put(f"{base}/{wildcard}/method", json={"method": method},
                                      headers={"x-csrf-token": csrf, "accept-language": "en"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_input", r.text
        assert r.json()["fields"] == [{"field": "method", "message": EN[key]}]
    assert _row(portal.engine, wildcard).method == "dns_change"
    r = await portal.customer.put(f"{base}/{wildcard}/method", json={}, headers={"x-csrf-token": csrf})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "method"

    for done in ("example.co.jp", "old.example.co.jp"):
        r = await portal.customer.put(f"{base}/{portal.rows[done]}/method", json={"method": "http_file"},
                                      headers={"x-csrf-token": csrf})
        assert r.status_code == 409 and r.json()["error"] == "not_pending", r.text
        state = "dcv_state_validated" if done == "example.co.jp" else "dcv_state_expired"
        assert r.json()["message"] == JA["err_dcv_not_pending"].format(state=JA[state])
    assert _row(portal.engine, portal.rows["example.co.jp"]).method == "dns_change"


async def test_the_method_changes_by_the_pages_form(portal: Portal) -> None:
    csrf = await _csrf(portal.customer)
    base = f"/account/applications/{portal.application_id}/domain-validations"
    shop, wildcard = portal.rows["shop.example.co.jp"], portal.rows["*.example.co.jp"]
    forged = await portal.customer.post(f"{base}/{shop}/method", data={"csrf_token": "x", "method": "dns_change"})
    assert forged.status_code == 403 and _row(portal.engine, shop).method == "http_file"

    done = await portal.customer.post(f"{base}/{shop}/method", data={"csrf_token": csrf, "method": "dns_change"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/account/applications/{portal.application_id}?dcv=method_changed" \
                                       "#domain-validation"
    assert _row(portal.engine, shop).method == "dns_change"
    shown = await portal.customer.get(done.headers["location"].split("#")[0])
    assert JA["dcv_page_method_changed"] in shown.text
    assert "_certdesk-challenge.shop.example.co.jp" in _section(shown.text, shop)

    refused = await portal.customer.post(f"{base}/{wildcard}/method", data={"csrf_token": csrf, "method": "http_file"})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    assert JA["dcv_err_method_no_wildcard"] in _section(refused.text, wildcard) and 'role="alert"' in refused.text
    assert _row(portal.engine, wildcard).method == "dns_change"

    validated = portal.rows["example.co.jp"]
    conflict = await portal.customer.post(f"{base}/{validated}/method",
                                          data={"csrf_token": csrf, "method": "http_file"})
    assert conflict.status_code == 409 and JA["err_dcv_not_pending"].format(state=JA["dcv_state_validated"]) \
        in conflict.text


async def test_recheck_answers_503_while_temporal_is_away(portal: Portal) -> None:
    csrf = await _csrf(portal.customer)
    r = await portal.customer.post(f"/api/v1/applications/{portal.application_id}/domain-validations/recheck",
                                   headers={"x-csrf-token": csrf})
    assert r.status_code == 503 and r.json()["error"] == "unavailable", r.text
    forged = await portal.customer.post(f"/api/v1/applications/{portal.application_id}/domain-validations/recheck")
    assert forged.status_code == 403
    page = await portal.customer.post(f"/account/applications/{portal.application_id}/domain-validations/recheck",
                                      data={"csrf_token": csrf}, headers={"accept": "text/html"})
    assert page.status_code == 503 and JA["err_unavailable"] in page.text
    with session_scope(portal.engine) as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "dcv.recheck_requested")).all() == []


async def test_recheck_signals_the_running_validation_and_says_closed_once_it_has_ended(
        portal: Portal, time_skipping_env: WorkflowEnvironment, settings: Settings) -> None:
    env = time_skipping_env
    portal.app.state.processes = Processes(TemporalHandle(settings, env.client), settings)
    # No worker: the workflow stays where it started, which is all a signal needs.
    handle = await env.client.start_workflow(
        DomainValidationWorkflow.run, DomainValidationInput(portal.application_id, portal.customer_id),
        id=vetting_process.workflow_id(portal.application_id), task_queue="nobody-polls-this")
    csrf = await _csrf(portal.customer)
    url = f"/api/v1/applications/{portal.application_id}/domain-validations/recheck"
    r = await portal.customer.post(url, headers={"x-csrf-token": csrf})
    assert r.status_code == 202, r.text
    assert r.json() == {"application_id": portal.application_id, "status": "recheck_requested"}
    events = [e async for e in handle.fetch_history_events()]
    assert any(e.HasField("workflow_execution_signaled_event_attributes")
               and e.workflow_execution_signaled_event_attributes.signal_name == "recheck" for e in events)
    page = await portal.customer.post(f"/account/applications/{portal.application_id}/domain-validations/recheck",
                                      data={"csrf_token": csrf})
    assert page.status_code == 303 and page.headers["location"].endswith("?dcv=recheck#domain-validation")
    assert JA["dcv_page_recheck_sent"] in (await portal.customer.get(page.headers["location"])).text

    await handle.terminate("every name settled")
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    r = await portal.customer.post(url, headers={"x-csrf-token": csrf})
    assert r.status_code == 409 and r.json() == {"error": "closed", "message": JA["err_dcv_closed"]}
    page = await portal.customer.post(f"/account/applications/{portal.application_id}/domain-validations/recheck",
                                      data={"csrf_token": csrf})
    assert page.status_code == 409 and JA["err_dcv_closed"] in page.text
    with session_scope(portal.engine) as s:
        assert len(s.exec(select(AuditEvent).where(AuditEvent.action == "dcv.recheck_requested")).all()) == 2


async def test_process_recheck_maps_temporal_to_the_products_exceptions(
        settings: Settings, time_skipping_env: WorkflowEnvironment) -> None:
    with pytest.raises(Closed):  # never started
        await vetting_process.recheck(Processes(TemporalHandle(settings, time_skipping_env.client), settings), 424242)
    away = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    with pytest.raises(Unavailable):
        await vetting_process.recheck(Processes(TemporalHandle(away), away), 1)


# --- the desk ---------------------------------------------------------------------------------------

def _task(engine: Engine, application_id: int, kind: str) -> int:
    with session_scope(engine) as s:
        task = Task(task_key=f"review/{application_id}/{kind}", kind=kind, title="検証株式会社 www.example.co.jp",
                    subject=f"application:{application_id}", workflow_id="server-cert-application-test",
                    due_at=utcnow() + timedelta(days=3))
        s.add(task)
        s.flush()
        return int(task.id or 0)


@pytest.mark.parametrize("kind", ["application_review", "documents_check"])
async def test_the_review_task_page_compares_and_shows_the_evidence_and_the_checklist(
        portal: Portal, kind: str) -> None:
    task_id = _task(portal.engine, portal.application_id, kind)
    async with _client(portal.app) as desk:
        page = await desk.get(f"/desk/tasks/{task_id}", headers=portal.staff)
    assert page.status_code == 200, page.text
    text = page.text
    assert 'id="review"' in text and JA["vet_desk_organization"] in text

    # The organization as applied matches the saved one; every row says so.
    organization = text[text.find('id="review-organization"'):text.find('id="review-contacts"')]
    assert "検証株式会社" in organization and "ケンショウ" in organization and "0100-01-123456" in organization
    assert "丸の内1-1-1" in organization and "03-1234-5678" in organization
    assert 'class="differs"' not in organization and JA["vet_differs"] not in organization

    # The technical contact's phone differs: marked by class and by words, not by colour alone.
    technical = text[text.find('id="review-contact-technical"'):text.find('id="review-contact-administrative"')]
    phone = re.search(r'<tr class="([^"]*)" data-field="phone">(.*?)</tr>', technical, re.S)
    assert phone and phone.group(1) == "differs"
    assert "03-9999-0000" in phone.group(2) and "03-1234-5678" in phone.group(2)
    assert f"≠ {JA['vet_differs']}" in phone.group(2)
    name = re.search(r'<tr class="([^"]*)" data-field="name">(.*?)</tr>', technical, re.S)
    assert name and name.group(1) == "" and "山田 太郎" in name.group(2)

    # The registrant is on the application only; the contract contact nowhere.
    registrant = text[text.find('id="review-contact-registrant"'):text.find('id="review-contact-technical"')]
    assert "佐藤 花子" in registrant and f"{JA['vet_desk_saved']}: {JA['profile_not_registered']}" in registrant
    contract = text[text.find('id="review-contact-contract"'):text.find('id="review-domains"')]
    assert JA["profile_not_registered"] in contract and "data-field" not in contract
    assert JA["vet_desk_differences"].format(count=6) in text  # the phone, and the registrant's five given fields

    # Each name's validation, with what each perspective saw in the last check.
    www = re.search(r'<article class="dcv dcv-pending" data-name="www.example.co.jp">(.*?)</article>', text, re.S)
    assert www, text
    assert JA["dcv_result_primary_servfail"] in www.group(1) and JA["vet_desk_failed"] in www.group(1)
    assert "<td>primary</td><td>" + JA["vet_found_could_not_look"] + "</td>" in www.group(1)
    assert "<td>tokyo</td><td>" + JA["vet_found_no"] + "</td>" in www.group(1)
    assert "_certdesk-challenge.www.example.co.jp" in www.group(1) and "(no TXT record)" in www.group(1)
    api = re.search(r'<article class="dcv dcv-validated" data-name="api.example.co.jp">(.*?)</article>', text, re.S)
    assert api and "<td>osaka</td><td>" + JA["vet_found_yes"] + "</td>" in api.group(1)
    assert "2031-04-03 11:00" in api.group(1) and JA["vet_desk_passed"] in api.group(1)
    reused = re.search(r'<article class="dcv dcv-validated" data-name="example.co.jp">(.*?)</article>', text, re.S)
    assert reused and JA["vet_desk_reused"].format(id=77, date="2031-03-10 10:00") in reused.group(1)
    assert JA["vet_desk_no_check"] in reused.group(1)

    # The checklist: every refusal as a sentence (organization and phone are not recorded yet).
    checklist = re.search(r'<ul id="checklist">(.*?)</ul>', text, re.S)
    assert checklist
    items = checklist.group(1)
    for name in ("www.example.co.jp", "shop.example.co.jp", "*.example.co.jp", "old.example.co.jp"):
        assert JA["vet_refusal_domain_not_validated"].format(name=name) in items
    assert JA["vet_refusal_domain_not_validated"].format(name="api.example.co.jp") not in items
    # CAA is looked at right before signing, after approval: not a precondition of the checklist.
    assert JA["vet_refusal_caa_not_checked"].format(name="api.example.co.jp") not in items
    assert JA["vet_desk_caa_at_signing"] in text
    assert JA["vet_refusal_organization_not_verified"] in items and JA["vet_refusal_phone_callback_missing"] in items

    async with _client(portal.app) as desk:
        english = await desk.get(f"/desk/tasks/{task_id}?lang=en", headers=portal.staff)
    assert EN["vet_desk_organization"] in english.text and EN["vet_refusal_phone_callback_missing"] in english.text
    assert EN["vet_found_could_not_look"] in english.text


async def test_other_task_kinds_have_no_review(portal: Portal) -> None:
    with session_scope(portal.engine) as s:
        task = Task(task_key="reset/1", kind="password_reset", title="x",
                    subject=f"application:{portal.application_id}", workflow_id="password-reset-1",
                    due_at=utcnow() + timedelta(days=3))
        s.add(task)
        s.flush()
        task_id = task.id
    async with _client(portal.app) as desk:
        page = await desk.get(f"/desk/tasks/{task_id}", headers=portal.staff)
    assert page.status_code == 200 and 'id="review"' not in page.text


# --- the words --------------------------------------------------------------------------------------

def test_every_approval_refusal_has_its_words() -> None:
    """What approval_refusals can say, in every combination the checklist knows, is in APPROVAL_REFUSALS."""
    now = datetime(2028, 6, 1, tzinfo=UTC)
    long_ago = now - timedelta(days=900)
    domains = (
        DomainFacts("a.example.jp"),
        DomainFacts("*.example.jp", validated_at=now, method=Method.HTTP_FILE, caa_permitted=True),
        DomainFacts("b.example.jp", validated_at=now, method=Method.DNS_CHANGE, validated_domain="c.example.jp",
                    caa_permitted=False),
        DomainFacts("d.example.jp", validated_at=long_ago, method=Method.CONSTRUCTED_EMAIL),
        DomainFacts("e.example.jp", validated_at=long_ago, method=Method.DNS_CHANGE),
    )
    seen = set()
    for level in ("ov", "ev"):
        for found in (domains, ()):
            for org, phone in ((None, None), (long_ago, long_ago)):
                facts = VettingFacts(level, now, found, organization_source="nta" if org else None,
                                     organization_verified_at=org, phone_callback_at=phone)
                seen |= {code.partition(":")[0] for code in approval_refusals(facts, caa=True)}
    source = (ROOT / "domain" / "vetting" / "checklist.py").read_text(encoding="utf-8")
    literal = {c for line in source.splitlines() for c in re.findall(r'"([a-z]+(?:_[a-z]+)+)[":]', line.split("#")[0])}
    assert seen == set(pages.APPROVAL_REFUSALS) == literal


def test_the_keys_this_code_picks_exist_in_both_languages() -> None:
    source = (ROOT / "api" / "domain_validations.py").read_text(encoding="utf-8")
    errors = set(re.findall(r'key="(\w+)"', source))  # error answers' keys: err_<key>
    assert errors == {"application_not_found", "dcv_not_found", "dcv_not_pending", "dcv_closed"}
    keys = (set(re.findall(r'"((?:dcv|vet)_[a-z_]*[a-z])"', source)) - errors) | {f"err_{k}" for k in errors}
    assert len(keys) > 10
    assert sorted(k for k in keys for lang in (JA, EN) if k not in lang) == []

