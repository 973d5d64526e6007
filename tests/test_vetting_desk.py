"""The vetting desk on the real stack: approve waits for the recorded checks, CAA refuses at signing
time, checks are reused for the same unchanged organization (S-2 審査; BR 3.2.2.8, 3.2.5, 4.2.1)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api import customer_auth
from api.app import create_app
from ca import authority
from certdesk.worker import build_worker
from domain import messages
from domain.settings import Settings
from domain.vetting import caa
from store import accounts
from store.db import session_scope
from store.models import Application, DomainValidation, VettingCheck
from tests.conftest import end_running_workflows, vetting_network
from tests.dns_server import Zone
from tests.test_certificate_authority import make_csr
from tests.vetting_checks import EV_CHECKS, ORGANIZATION, PHONE_CALLBACK, record_checks

JA, EN = messages.catalogue("ja"), messages.catalogue("en")
PASSWORD = "correct horse battery"
ORG = {"name": "株式会社サンプル", "country": "JP", "state": "東京都", "locality": "千代田区",
       "registration_number": "5010401089998"}


@dataclass
class Desk:
    http: httpx.AsyncClient
    customer: dict[str, str]
    staff: dict[str, str]
    zone: Zone
    engine: Engine
    account_uri: str  # RFC 8657: how a CAA record names this customer's account


@pytest.fixture
async def desk(local_env: WorkflowEnvironment, settings: Settings, engine: Engine) -> AsyncIterator[Desk]:
    settings = settings.model_copy(update={"temporal_address": local_env.client.service_client.config.target_host})
    authority.ensure_hierarchy(engine, settings)
    accounts.create_staff(engine, "sato", "supervisor", password=PASSWORD)
    new = accounts.create_customer(engine, "株式会社サンプル", "it@example.co.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, "a much better passphrase", token)
    async with contextlib.AsyncExitStack() as stack:
        settings, zone = await stack.enter_async_context(vetting_network(local_env.client, settings))
        await stack.enter_async_context(build_worker(local_env.client, settings))
        http = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://desk.test"))
        staff = (await http.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})).json()
        yield Desk(http, {"authorization": f"Bearer {token}"}, {"authorization": f"Bearer {staff['token']}"},
                   zone, engine, caa.account_uri(settings.resolved_public_url, new.id))
    await end_running_workflows(local_env, settings.task_queue)


async def _apply(d: Desk, organization: dict[str, str] = ORG, product: str = "ov") -> int:
    r = await d.http.post("/api/v1/applications", headers=d.customer, json={
        "type": "new", "product": product, "csr": make_csr("www.example.co.jp", "example.co.jp"),
        "agree_terms": True, "organization": organization,
        "contacts": {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"}}})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _review(d: Desk, application_id: int, after: int = 0) -> dict:
    for _ in range(300):
        tasks = (await d.http.get("/api/v1/tasks?state=open&kind=application_review", headers=d.staff)).json()
        mine = [t for t in tasks if t["subject"] == f"application:{application_id}" and t["id"] > after]
        if mine:
            return mine[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no review task for application {application_id}")


async def _approve(d: Desk, task_id: int) -> httpx.Response:
    return await d.http.post(f"/api/v1/tasks/{task_id}/complete", json={"outcome": "approve"}, headers=d.staff)


async def _status(d: Desk, application_id: int, wanted: str) -> dict:
    for _ in range(300):
        detail = (await d.http.get(f"/api/v1/applications/{application_id}", headers=d.customer)).json()
        if detail["status"] == wanted:
            return detail
        await asyncio.sleep(0.05)
    raise AssertionError(f"application {application_id} never became {wanted}: {detail}")


async def test_approve_waits_for_the_checks_then_caa_refuses_at_signing_then_it_issues(desk: Desk) -> None:
    d = desk
    d.zone.caa("example.co.jp", 0, "issue", "other-ca.example")  # another CA only
    app_id = await _apply(d)
    task = await _review(d, app_id)

    # Nothing recorded yet: the update validator refuses approve and says what is missing, in words.
    refused = await _approve(d, task["id"])
    assert refused.status_code == 409 and refused.json()["error"] == "checklist_incomplete"
    message = refused.json()["message"]
    for missing in ("organization_not_verified", "phone_callback_missing"):
        assert JA[f"vet_refusal_{missing}"] in message
    assert (await d.http.get(f"/api/v1/tasks/{task['id']}/checks", headers=d.staff)).json()["missing"] == [
        "organization_not_verified", "phone_callback_missing"]

    # A bad entry names its field and keeps nothing; so does a "not confirmed" without a reason.
    for entry, field in (({**PHONE_CALLBACK, "reference": " "}, "reference"),
                         ({**ORGANIZATION, "source": "telephone_directory"}, "source"),
                         ({**ORGANIZATION, "outcome": "not_confirmed"}, "note"),
                         ({**ORGANIZATION, "check": "hunch"}, "check")):
        bad = await d.http.post(f"/api/v1/tasks/{task['id']}/checks", json=entry, headers=d.staff)
        assert bad.status_code == 422 and [f["field"] for f in bad.json()["fields"]] == [field], bad.text
    with session_scope(d.engine) as s:
        assert s.exec(select(VettingCheck)).all() == []

    answer = await record_checks(d.http, task["id"], d.staff)
    assert answer["missing"] == [] and set(answer["counting"]) == {"organization", "phone_callback"}
    assert all(c["reused_from_application"] is None for c in answer["counting"].values())

    # Approved: CAA from every perspective right before signing refuses; back to the review with the reason.
    assert (await _approve(d, task["id"])).status_code == 200
    again = await _review(d, app_id, after=task["id"])
    assert "other-ca.example" in again["facts"]["caa_refused"]
    detail = await _status(d, app_id, "reviewing")
    assert detail["serial"] is None
    with session_scope(d.engine) as s:
        rows = {r.name: r for r in s.exec(select(DomainValidation).where(DomainValidation.application_id == app_id))}
    for name in ("www.example.co.jp", "example.co.jp"):
        assert rows[name].caa_permitted is False and "other-ca.example" in (rows[name].caa_result or "")
        caa = [e for e in rows[name].evidence if "caa" in e][-1]
        assert caa["permitted"] is False and len(caa["perspectives"]) == 6  # primary + five remote

    # The page shows why. The customer names us, but for another account (RFC 8657): refused again.
    page = await d.http.get(f"/desk/tasks/{again['id']}", headers=d.staff)
    assert JA["vet_desk_caa_refused"] in page.text and "other-ca.example" in page.text
    d.zone.clear("example.co.jp", "CAA")
    d.zone.caa("example.co.jp", 0, "issue", "certdesk.example; accounturi=https://certdesk.example/customers/999")
    assert (await _approve(d, again["id"])).status_code == 200
    third = await _review(d, app_id, after=again["id"])
    assert "parameters_not_met" in third["facts"]["caa_refused"] and "customers/999" in third["facts"]["caa_refused"]

    # The customer's page shows the record to use; with it (and our validation method) it issues.
    shown = (await d.http.get(f"/account/applications/{app_id}", headers=d.customer)).text
    assert f"accounturi={d.account_uri}" in shown
    d.zone.clear("example.co.jp", "CAA")
    d.zone.caa("example.co.jp", 0, "issue", f"certdesk.example; accounturi={d.account_uri}; validationmethods=ca-tbr-7")
    assert (await _approve(d, third["id"])).status_code == 200
    issued = await _status(d, app_id, "issued")
    assert issued["serial"]
    with session_scope(d.engine) as s:
        row = s.exec(select(DomainValidation).where(DomainValidation.application_id == app_id,
                                                    DomainValidation.name == "www.example.co.jp")).one()
    assert row.caa_permitted is True


async def test_checks_are_reused_for_the_same_organization_not_for_a_changed_one(desk: Desk) -> None:
    d = desk
    first = await _apply(d)
    await record_checks(d.http, (await _review(d, first))["id"], d.staff)

    # The same organization, written with full-width letters and spaces: unchanged; the checks count.
    same = await _apply(d, {**ORG, "name": " 株式会社サンプル ", "registration_number": "５０１０４０１０８９９９８"})
    task = await _review(d, same)
    answer = (await d.http.get(f"/api/v1/tasks/{task['id']}/checks", headers=d.staff)).json()
    assert answer["missing"] == [] and answer["checks"] == []
    assert {c: v["reused_from_application"] for c, v in answer["counting"].items()} == {
        "organization": first, "phone_callback": first}
    page = await d.http.get(f"/desk/tasks/{task['id']}", headers=d.staff)
    assert JA["vet_check_reused"].split("#")[0] in page.text and f"#{first}" in page.text

    # Moved: another address is another organization record; it is checked anew.
    moved = await _apply(d, {**ORG, "locality": "港区"})
    task = await _review(d, moved)
    missing = (await d.http.get(f"/api/v1/tasks/{task['id']}/checks", headers=d.staff)).json()["missing"]
    assert missing == ["organization_not_verified", "phone_callback_missing"]

    # A later "not confirmed" on this application outweighs what could be reused.
    await record_checks(d.http, task["id"], d.staff, ({**ORGANIZATION, "outcome": "not_confirmed",
                                                        "note": "登記と所在地が一致しない"},))
    missing = (await d.http.get(f"/api/v1/tasks/{task['id']}/checks", headers=d.staff)).json()["missing"]
    assert missing == ["organization_not_verified", "phone_callback_missing"]


async def test_ev_needs_its_three_checks(desk: Desk) -> None:
    d = desk
    app_id = await _apply(d, product="ev")
    task = await _review(d, app_id)
    answer = await record_checks(d.http, task["id"], d.staff)
    assert answer["missing"] == ["ev_operational_existence_missing", "ev_legal_existence_missing",
                                 "ev_signer_authority_missing"]
    refused = await _approve(d, task["id"])
    assert refused.status_code == 409 and JA["vet_refusal_ev_signer_authority_missing"] in refused.json()["message"]
    answer = await record_checks(d.http, task["id"], d.staff, EV_CHECKS[2:])
    assert answer["missing"] == []
    assert (await _approve(d, task["id"])).status_code == 200
    await _status(d, app_id, "issued")


async def test_the_desk_form_records_a_check_or_says_what_is_wrong_next_to_the_field(desk: Desk) -> None:
    d = desk
    app_id = await _apply(d)
    task = await _review(d, app_id)
    page = await d.http.get(f"/desk/tasks/{task['id']}", headers=d.staff)
    assert 'id="record-check"' in page.text and JA["vet_approve_blocked"] in page.text
    assert 'value="approve" disabled' in page.text  # the page does not offer what the workflow refuses
    assert JA["vet_corporate_number_ok"].format(number="5010401089998") in page.text

    form = {"check": "phone_callback", "source": "telephone_directory", "reference": "", "outcome": "confirmed",
            "note": ""}
    bad = await d.http.post(f"/desk/tasks/{task['id']}/checks", data=form, headers=d.staff)
    assert bad.status_code == 422 and 'id="check-error-reference"' in bad.text
    assert JA["err_vet_check_number_required"] in bad.text and "Traceback" not in bad.text
    english = await d.http.post(f"/desk/tasks/{task['id']}/checks?lang=en", data=form,
                                headers={**d.staff, "accept-language": "en"})
    assert EN["err_vet_check_number_required"] in english.text

    ok = await d.http.post(f"/desk/tasks/{task['id']}/checks", data={**form, "reference": "03-1234-5678"},
                           headers=d.staff)
    assert ok.status_code == 303 and "check_recorded_ok" in ok.headers["location"]
    page = await d.http.get(f"/desk/tasks/{task['id']}", headers=d.staff)
    assert JA["vet_refusal_phone_callback_missing"] not in page.text and "03-1234-5678" in page.text
    with session_scope(d.engine) as s:
        [row] = s.exec(select(VettingCheck)).all()
        app = s.get(Application, app_id)
    assert (row.check, row.checked_by, row.application_id, app.status) == ("phone_callback", "staff:sato", app_id,
                                                                            "reviewing")
