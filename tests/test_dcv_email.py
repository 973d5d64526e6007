"""Domain validation by constructed email (BR 3.2.2.4.4) end to end: the customer chooses an address
on お申込情報詳細, the DomainValidation workflow mails the value there once (the real SMTP sink), its
recipient enters it on the link's page, and the name passes when the ADN's MX set seen by the
primary is corroborated by the remote perspectives (BR 3.2.2.9; real loopback DNS servers, five
remote perspective workers, two of them in networks of their own). Temporal is the time-skipping
test server; the pages and their JSON twins are the app as wired, through httpx.
"""

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.applications import ApplicationActivities
from activities.context import ActivityContext
from activities.vetting import CheckRequest, look
from api.app import create_app
from certdesk.perspective import build_perspective_worker
from certdesk.worker import build_worker
from domain.messages import catalogue
from domain.settings import Settings
from processes.client import Processes
from processes.connection import TemporalHandle
from store import dev_mailbox
from store.db import session_scope
from store.models import Application, AuditEvent, DomainValidation
from tests.dns_server import Zone, serve_zone
from tests.test_certificate_authority import make_csr
from tests.test_domain_validation_pages import _client, _csrf, _login
from workflows.domain_validation import DomainValidation as DomainValidationWorkflow
from workflows.domain_validation import DomainValidationInput, perspective_queue, workflow_id
from workflows.server_cert_application import ApplicationInput, ServerCertApplication

JA, EN = catalogue("ja"), catalogue("en")
PERSPECTIVES = ("tokyo", "osaka", "frankfurt", "virginia", "saopaulo")
ORGANIZATION = "メール検証株式会社"
MX = (10, "mx1.example.co.jp")


@dataclass
class Stack:
    env: WorkflowEnvironment
    settings: Settings
    engine: Engine
    zone: Zone  # what the primary and three perspectives see
    elsewhere: Zone  # what "virginia" sees
    faraway: Zone  # what "saopaulo" sees
    app: FastAPI
    customer: httpx.AsyncClient  # logged in
    public: httpx.AsyncClient  # anyone with a link
    customer_id: int
    mailbox: Path

    def application(self, names: list[str]) -> int:
        with session_scope(self.engine) as s:
            app = Application(customer_id=self.customer_id, type="new", product="ov", csr_pem=make_csr(*names),
                              names=names, organization={"name": ORGANIZATION, "country": "JP", "state": "Tokyo",
                                                         "locality": "Chiyoda-ku"})
            s.add(app)
            s.flush()
            return int(app.id or 0)

    async def validate(self, application_id: int) -> WorkflowHandle:
        """The application's DomainValidation alone, under the id the pages reach it by."""
        return await self.env.client.start_workflow(
            DomainValidationWorkflow.run,
            DomainValidationInput(application_id, self.customer_id, [perspective_queue(p) for p in PERSPECTIVES]),
            id=workflow_id(application_id), task_queue=self.settings.task_queue)

    def rows(self, application_id: int) -> dict[str, DomainValidation]:
        with session_scope(self.engine) as s:
            return {r.name: r for r in s.exec(select(DomainValidation).where(
                DomainValidation.application_id == application_id)).all()}

    def mx_everywhere(self, domain: str, *zones: Zone) -> None:
        for zone in zones or (self.zone, self.elsewhere, self.faraway):
            zone.mx(domain, *MX)

    def mails_to(self, address: str) -> list[dev_mailbox.StoredMail]:
        return [m for m in dev_mailbox.list_mail(self.mailbox) if m.recipients == address]

    async def choose(self, application_id: int, validation_id: int, address: str, *, lang: str = "ja"
                     ) -> httpx.Response:
        return await self.customer.put(
            f"/api/v1/applications/{application_id}/domain-validations/{validation_id}/method",
            json={"method": "constructed_email", "address": address},
            headers={"x-csrf-token": await _csrf(self.customer), "accept-language": lang})


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
                dns_zone: Zone, smtp_sink: tuple[int, Path]) -> AsyncIterator[Stack]:
    settings = settings.model_copy(update={"dns_resolver": dns_zone.address, "dns_timeout": timedelta(seconds=2),
                                           "remote_perspectives": ",".join(PERSPECTIVES)})
    env = time_skipping_env
    customer_id, token = _login(engine, settings, ORGANIZATION, "it@example.co.jp")
    app = create_app(settings)
    app.state.processes = Processes(TemporalHandle(settings, env.client), settings)
    with serve_zone() as elsewhere, serve_zone() as faraway:
        networks = {"virginia": elsewhere.address, "saopaulo": faraway.address}
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(build_worker(env.client, settings))
            for name in PERSPECTIVES:
                seen_from = settings.model_copy(update={"dns_resolver": networks.get(name, dns_zone.address)})
                await stack.enter_async_context(build_perspective_worker(env.client, seen_from, name))
            customer = await stack.enter_async_context(_client(app, token))
            public = await stack.enter_async_context(_client(app))
            yield Stack(env, settings, engine, dns_zone, elsewhere, faraway, app, customer, public, customer_id,
                        smtp_sink[1])


async def _until(predicate, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.05)


def _token(mail: dev_mailbox.StoredMail) -> str:
    found = re.search(r"/dcv/([A-Za-z0-9_-]+)", mail.body)
    assert found, mail.body
    return found.group(1)


def _value(mail: dev_mailbox.StoredMail) -> str:
    found = re.search(r"^(?:値|Value): (\S+)$", mail.body, re.M)
    assert found, mail.body
    return found.group(1)


def _audit(engine: Engine, application_id: int) -> list[AuditEvent]:
    with session_scope(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.subject == f"application:{application_id}")).all())


async def test_the_value_is_mailed_once_and_entered_on_the_link_the_application_moves_to_review(
        stack: Stack) -> None:
    name, address = "www.example.co.jp", "admin@www.example.co.jp"
    stack.mx_everywhere(name)
    app_id = stack.application([name])
    handle = await stack.env.client.start_workflow(
        ServerCertApplication.run,
        ApplicationInput(app_id, stack.customer_id, f"{name} (ov)",
                         remote_perspectives=[perspective_queue(p) for p in PERSPECTIVES]),
        id=f"application-{app_id}", task_queue=stack.settings.task_queue)
    await _until(lambda: name in stack.rows(app_id))
    row = stack.rows(app_id)[name]
    detail = await stack.customer.get(f"/account/applications/{app_id}")
    assert f'<option value="{address}">' in detail.text and '<option value="admin@example.co.jp">' in detail.text
    assert "admin@co.jp" not in detail.text  # never at a public suffix

    # The page's form: the method and the address together; the mail goes at once.
    chosen = await stack.customer.post(
        f"/account/applications/{app_id}/domain-validations/{row.id}/method",
        data={"csrf_token": await _csrf(stack.customer), "method": "constructed_email", "address": address})
    assert chosen.status_code == 303, chosen.text
    await _until(lambda: stack.mails_to(address) and stack.rows(app_id)[name].email_sent_at is not None)
    [mail] = stack.mails_to(address)
    token, value = _token(mail), _value(mail)
    row = stack.rows(app_id)[name]
    assert value == row.random_value and token != value and len(token) >= 43  # 256 bits, not the value
    assert row.email_token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in str(row.evidence)
    assert name in mail.subject and ORGANIZATION in mail.body
    assert f"{stack.settings.public_url}/dcv/{token}" in mail.body
    shown = await stack.customer.get(f"/account/applications/{app_id}")
    assert value not in shown.text and address in shown.text  # the value is for the mailbox only
    assert JA["dcv_email_page_sent"].split("{date}")[1] in shown.text
    # The customer's reminder names the address the value went to, never the value.
    ApplicationActivities(ActivityContext(stack.settings, stack.engine)).mail_application_event(
        app_id, "dcv_reminder", "1d")
    [reminder] = [m for m in stack.mails_to("it@example.co.jp") if "受付" not in m.subject]  # not the receipt
    assert address in reminder.body and value not in reminder.body and "値:" not in reminder.body

    # The link: the domain and who applied; no login.
    page = await stack.public.get(f"/dcv/{token}")
    assert page.status_code == 200 and name in page.text and ORGANIZATION in page.text
    assert page.headers["cache-control"] == "no-store" and 'name="value"' in page.text

    before = len(stack.rows(app_id)[name].evidence)
    wrong = await stack.public.post(f"/dcv/{token}", data={"value": "not-the-value-at-all-xxxx"})
    assert wrong.status_code == 400 and JA["dcv_email_err_wrong_value"].format(left=4) in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    row = stack.rows(app_id)[name]
    assert (row.state, row.email_attempts, len(row.evidence)) == ("pending", 1, before)  # no check, no validation

    right = await stack.public.post(f"/dcv/{token}", data={"value": f" {value} "})
    assert right.status_code == 200, right.text
    assert JA["dcv_email_validated"].format(name=name) in right.text
    row = stack.rows(app_id)[name]
    assert row.state == "validated" and row.validated_domain == "www.example.co.jp"
    check = row.evidence[-1]
    assert check["passed"] is True and check["reason"] == "corroborated" and check["method"] == "constructed_email"
    assert check["address"] == address and check["entered_by"] == "email_recipient" and check["value_entered_at"]
    assert check["value_sha256"] == hashlib.sha256(value.encode()).hexdigest()
    assert check["workflow"] == workflow_id(app_id)
    seen = {p["name"]: p for p in check["perspectives"]}
    assert set(seen) == {"primary", *PERSPECTIVES}
    assert all(p["found"] is True and p["seen"] == "10 mx1.example.co.jp." and p["where"] == name
               for p in seen.values())

    # The application moves on to 審査中 (reviewing) and the link has done its work.
    await _until(lambda: _status(stack.engine, app_id) == "reviewing")
    assert (await stack.public.get(f"/dcv/{token}")).status_code == 410
    assert len(stack.mails_to(address)) == 1  # rounds after the mail never mailed again
    events = _audit(stack.engine, app_id)
    assert [e.action for e in events if e.action.startswith("dcv.email")] == [
        "dcv.email_address_chosen", "dcv.email_sent", "dcv.email_wrong_value", "dcv.email_value_entered"]
    assert not any(token in str(e.details) or value in str(e.details) for e in events)
    await handle.terminate("the review is another test's")


def _status(engine: Engine, application_id: int) -> str:
    with session_scope(engine) as s:
        app = s.get(Application, application_id)
        return app.status if app else ""


async def test_five_wrong_values_lock_the_link_and_choosing_again_mails_a_new_one(stack: Stack) -> None:
    name, address = "shop.example.co.jp", "webmaster@example.co.jp"
    stack.mx_everywhere("example.co.jp")
    app_id = stack.application([name])
    await stack.validate(app_id)
    await _until(lambda: name in stack.rows(app_id))
    vid = stack.rows(app_id)[name].id
    r = await stack.choose(app_id, vid, address)
    assert r.status_code == 200, r.text
    assert r.json()["email_address"] == address and r.json()["random_value"] is None
    assert r.json()["validated_domain"] == "example.co.jp"  # the ADN pruned to the parent chosen
    await _until(lambda: len(stack.mails_to(address)) == 1)
    first = _token(stack.mails_to(address)[0])
    value = _value(stack.mails_to(address)[0])

    url = f"/api/v1/dcv/{first}"
    for left in (4, 3, 2, 1):
        wrong = await stack.public.post(url, json={"value": f"wrong-{left}-abcdefghijklmnopq"})
        assert wrong.status_code == 400 and wrong.json()["attempts_left"] == left, wrong.text
        assert wrong.json()["message"] == JA["dcv_email_err_wrong_value"].format(left=left)
    locked = await stack.public.post(url, json={"value": "wrong-5-abcdefghijklmnopq"},
                                     headers={"accept-language": "en"})
    assert locked.status_code == 423 and locked.json() == {"error": "locked", "message": EN["dcv_email_err_locked"]}
    # Locked: even the right value no longer opens it; the name stays pending.
    assert (await stack.public.post(url, json={"value": value})).status_code == 423
    page = await stack.public.get(f"/dcv/{first}?lang=en")
    assert page.status_code == 423 and EN["dcv_email_err_locked"] in page.text
    assert stack.rows(app_id)[name].state == "pending" and stack.rows(app_id)[name].email_attempts == 5
    empty = await stack.public.post(url, json={"value": ""})
    assert empty.status_code == 422 and empty.json()["fields"][0]["field"] == "value"
    detail = await stack.customer.get(f"/account/applications/{app_id}")
    assert JA["dcv_email_page_locked"] in detail.text

    # The customer chooses the same address again: a new mail, a new link; the old one is gone.
    again = await stack.choose(app_id, vid, address)
    assert again.status_code == 200 and again.json()["email_locked"] is False
    await _until(lambda: len(stack.mails_to(address)) == 2)
    second = next(_token(m) for m in stack.mails_to(address) if _token(m) != first)
    gone = await stack.public.get(f"/dcv/{first}", headers={"accept-language": "en"})
    assert gone.status_code == 404 and EN["dcv_email_err_unknown"] in gone.text
    done = await stack.public.post(f"/api/v1/dcv/{second}", json={"value": value})
    assert done.status_code == 200 and done.json()["status"] == "validated", done.text
    assert stack.rows(app_id)[name].state == "validated"


async def test_a_wildcard_is_validated_at_an_address_of_its_base_domain_and_other_addresses_are_refused(
        stack: Stack) -> None:
    name = "*.example.co.jp"
    stack.mx_everywhere("example.co.jp")
    app_id = stack.application([name])
    await stack.validate(app_id)
    await _until(lambda: name in stack.rows(app_id))
    vid = stack.rows(app_id)[name].id
    listed = (await stack.customer.get(f"/api/v1/applications/{app_id}/domain-validations")).json()[0]
    assert listed["methods"] == ["dns_change", "constructed_email"]  # the website method takes no wildcard
    assert listed["email_addresses"] == [f"{local}@example.co.jp" for local in
                                         ("admin", "administrator", "webmaster", "hostmaster", "postmaster")]

    for address, key in (("root@example.co.jp", "dcv_err_address_not_offered"),
                         ("admin@co.jp", "dcv_err_address_not_offered"),
                         ("admin@example.com", "dcv_err_address_not_offered"),
                         ("", "dcv_err_address_required")):
        r = await stack.choose(app_id, vid, address, lang="en")
        assert r.status_code == 422 and r.json()["fields"] == [{"field": "address", "message": EN[key]}], r.text
    page = await stack.customer.post(f"/account/applications/{app_id}/domain-validations/{vid}/method",
                                     data={"csrf_token": await _csrf(stack.customer), "method": "constructed_email",
                                           "address": "root@example.co.jp"})
    assert page.status_code == 422 and JA["dcv_err_address_not_offered"] in page.text
    assert f'id="dcv-address-error-{vid}"' in page.text
    row = stack.rows(app_id)[name]
    assert (row.method, row.email_address, row.email_generation) == ("dns_change", None, 0)  # nothing changed
    assert [m.subject for m in dev_mailbox.list_mail(stack.mailbox) if "受付" not in m.subject] == []

    assert (await stack.choose(app_id, vid, "hostmaster@example.co.jp")).status_code == 200
    await _until(lambda: len(stack.mails_to("hostmaster@example.co.jp")) == 1)
    [mail] = stack.mails_to("hostmaster@example.co.jp")
    r = await stack.public.post(f"/api/v1/dcv/{_token(mail)}", json={"value": _value(mail)})
    assert r.status_code == 200 and r.json()["status"] == "validated", r.text
    assert stack.rows(app_id)[name].evidence[-1]["perspectives"][0]["where"] == "example.co.jp"


async def test_an_mx_set_the_remote_perspectives_do_not_corroborate_refuses(stack: Stack) -> None:
    name, address = "mail.example.co.jp", "postmaster@mail.example.co.jp"
    stack.mx_everywhere(name, stack.zone)  # virginia and saopaulo see no MX and no address
    app_id = stack.application([name])
    handle = await stack.validate(app_id)
    await _until(lambda: name in stack.rows(app_id))
    assert (await stack.choose(app_id, stack.rows(app_id)[name].id, address)).status_code == 200
    await _until(lambda: len(stack.mails_to(address)) == 1)
    [mail] = stack.mails_to(address)
    token, value = _token(mail), _value(mail)

    r = await stack.public.post(f"/dcv/{token}", data={"value": value})
    assert r.status_code == 202 and JA["dcv_email_mx_not_corroborated"].format(name=name) in r.text
    row = stack.rows(app_id)[name]
    assert row.state == "pending" and row.last_result == "mx_quorum_failed"
    seen = {p["name"]: p for p in row.evidence[-1]["perspectives"]}
    assert sorted(n for n, p in seen.items() if p["seen"] != "10 mx1.example.co.jp.") == ["saopaulo", "virginia"]
    assert seen["virginia"]["found"] is False and seen["virginia"]["seen"] == "(no MX, no address)"
    detail = await stack.customer.get(f"/account/applications/{app_id}")
    assert JA["dcv_result_mx_quorum_failed"] in detail.text

    # virginia's network catches up: the confirmed value is looked at again on the next round (4 of 5).
    stack.mx_everywhere(name, stack.elsewhere)
    await handle.signal(DomainValidationWorkflow.recheck)
    assert (await handle.result()).status == "validated"
    assert stack.rows(app_id)[name].evidence[-1]["reason"] == "corroborated"
    assert (await stack.public.get(f"/dcv/{token}")).status_code == 410


async def test_an_unknown_link_is_a_page_in_the_persons_language(stack: Stack) -> None:
    ja = await stack.public.get(f"/dcv/{uuid.uuid4().hex}")
    assert ja.status_code == 404 and JA["dcv_email_err_unknown"] in ja.text and ja.headers["content-type"].startswith(
        "text/html")
    en = await stack.public.get(f"/dcv/{uuid.uuid4().hex}", headers={"accept-language": "en-US,en;q=0.9"})
    assert en.status_code == 404 and EN["dcv_email_err_unknown"] in en.text
    api = await stack.public.post(f"/api/v1/dcv/{uuid.uuid4().hex}", json={"value": "x" * 22})
    assert api.status_code == 404 and api.json()["error"] == "unknown"


def test_each_perspective_reads_the_mx_set_implicit_mx_and_failures(settings: Settings, dns_zone: Zone) -> None:
    settings = settings.model_copy(update={"dns_resolver": dns_zone.address, "dns_timeout": timedelta(seconds=2)})

    def seen(adn: str) -> tuple[bool | None, str]:
        answer = look(settings, "primary", CheckRequest(1, "constructed_email", adn, "v" * 22))
        return answer.found, answer.seen

    dns_zone.mx("two.example.jp", 20, "mx2.example.jp")
    dns_zone.mx("two.example.jp", 10, "MX1.example.jp")
    assert seen("two.example.jp") == (True, "10 mx1.example.jp. | 20 mx2.example.jp.")
    dns_zone.a("implicit.example.jp", "192.0.2.7")  # RFC 5321 s. 5.1: no MX, the name itself
    assert seen("implicit.example.jp") == (True, "(no MX) implicit MX implicit.example.jp.: 192.0.2.7")
    assert seen("nothing.example.jp") == (False, "(no MX, no address)")
    dns_zone.servfail("broken.example.jp")
    assert seen("broken.example.jp") == (None, "servfail")  # could not look: never a "yes"
