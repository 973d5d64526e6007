"""Issue 13's domain validation end to end, as the customer lives it: an application through the
API over real HTTP, the real Temporal server (the dev server; the time-skipping one for the
Random Value's expiry), the main worker as the primary perspective and five remote perspective workers on their
own task queues, a real authoritative DNS server on loopback, and two more for the two remote
perspectives that sit in other networks (their own resolvers). Every scenario stops at 審査中
(reviewing), 認証待ち (validating) or returned: approval is not exercised here.
"""

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from certdesk.perspective import build_perspective_worker
from certdesk.worker import build_worker
from domain.messages import catalogue
from domain.settings import Settings
from domain.vetting.dcv import validation_file_name
from processes.client import Processes
from processes.connection import TemporalHandle
from store import dev_mailbox
from store.db import session_scope
from store.models import AuditEvent, DomainValidation
from tests.conftest import end_running_workflows, free_port, serving
from tests.dns_server import Zone, serve_zone
from tests.http_server import Site
from tests.test_applications import ORG, _customer_token
from tests.test_certificate_authority import make_csr
from workflows.server_cert_application import ServerCertApplication

JA = catalogue("ja")
REMOTE = 5  # BR 3.2.2.9: five remote perspectives from 2026-12-15
LIFE = timedelta(days=1, hours=1)  # a Random Value's life, shortened in the expiry test
NOT_THERE = "(no TXT record)"  # what a perspective reports when the name has no TXT record


@dataclass
class Vetting:
    """One test's CA: the API (as the customer), the workers, and the DNS each network sees."""

    http: httpx.AsyncClient
    env: WorkflowEnvironment  # the dev server, or the time-skipping one
    settings: Settings
    engine: Engine
    zone: Zone  # what the primary and the first three remote perspectives see
    elsewhere: tuple[Zone, Zone]  # what the fourth and the fifth see: other networks
    remote: tuple[str, ...]  # the remote perspectives' names, in that order
    mailbox: Path
    customer: dict[str, str] = field(default_factory=dict)  # the applying customer's bearer header
    _workers: contextlib.AsyncExitStack | None = None

    # --- the CA's processes ---

    async def start_workers(self) -> None:
        """The main worker (the primary perspective) and every remote perspective, each with its network's resolver."""
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(build_worker(self.env.client, self.settings))
        for name, zone in zip(self.remote, (self.zone, self.zone, self.zone, *self.elsewhere), strict=True):
            seen_from = self.settings.model_copy(update={"dns_resolver": zone.address})
            await stack.enter_async_context(build_perspective_worker(self.env.client, seen_from, name))
        self._workers = stack

    async def stop_workers(self) -> None:
        if self._workers is not None:
            workers, self._workers = self._workers, None
            await workers.aclose()

    # --- the customer ---

    async def apply(self, *names: str, customer: dict[str, str] | None = None) -> int:
        body = {"type": "new", "product": "ov", "csr": make_csr(*names), "agree_terms": True, "organization": ORG,
                "contacts": {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp",
                                           "phone": "03-1234-5678"}}}
        r = await self.http.post("/api/v1/applications", json=body, headers=customer or self.customer)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def detail(self, app_id: int, customer: dict[str, str] | None = None) -> dict[str, Any]:
        r = await self.http.get(f"/api/v1/applications/{app_id}", headers=customer or self.customer)
        assert r.status_code == 200, r.text
        return r.json()

    async def status(self, app_id: int, wanted: str, seconds: float = 20) -> dict[str, Any]:
        detail: dict[str, Any] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while (detail := await self.detail(app_id))["status"] != wanted:
                    await asyncio.sleep(0.05)
        assert detail["status"] == wanted, (detail, self.rows(app_id))
        return detail

    async def validations(self, app_id: int, customer: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
        r = await self.http.get(f"/api/v1/applications/{app_id}/domain-validations",
                                headers=customer or self.customer)
        assert r.status_code == 200, r.text
        return {v["name"]: v for v in r.json()}

    async def recheck(self, app_id: int) -> None:
        r = await self.http.post(f"/api/v1/applications/{app_id}/domain-validations/recheck", headers=self.customer)
        assert r.status_code == 202, r.text

    def place(self, where: str, value: str, *zones: Zone) -> None:
        """The TXT record, as each of ``zones`` (default: every network) sees it."""
        for zone in zones or (self.zone, *self.elsewhere):
            zone.txt(where, value)

    # --- what the CA recorded ---

    def rows(self, app_id: int) -> dict[str, DomainValidation]:
        with session_scope(self.engine) as s:
            return {r.name: r for r in s.exec(select(DomainValidation).where(
                DomainValidation.application_id == app_id)).all()}

    def audit(self, app_id: int) -> list[AuditEvent]:
        with session_scope(self.engine) as s:
            return list(s.exec(select(AuditEvent).where(AuditEvent.subject == f"application:{app_id}")
                               .order_by(AuditEvent.id)).all())  # type: ignore[arg-type]

    async def requested(self, app_id: int, *names: str) -> dict[str, DomainValidation]:
        """The application's validations, once the workflow has made one for each of ``names``."""
        await until(lambda: set(names) <= set(self.rows(app_id)))
        return self.rows(app_id)

    async def checked(self, app_id: int, name: str, result: str, seconds: float = 20) -> DomainValidation:
        """The name's row once a check has ended with ``result`` (a domain.vetting.mpic reason code)."""
        await until(lambda: (row := self.rows(app_id).get(name)) is not None and row.last_result == result, seconds)
        return self.rows(app_id)[name]


async def until(predicate: Callable[[], object], seconds: float = 20) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.05)


def seen_by(check: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A check's evidence, perspective by perspective."""
    return {p["name"]: p for p in check["perspectives"]}


def section(page: str, validation_id: int) -> str:
    """One name's part of the detail page's ドメイン認証 section."""
    start = page.find(f'id="dcv-{validation_id}"')
    assert start >= 0, page
    return page[start:page.find("</article>", start)]


@contextlib.asynccontextmanager
async def vetting_stack(env: WorkflowEnvironment, settings: Settings, engine: Engine,
                        mailbox: Path) -> AsyncIterator[Vetting]:
    """The API under uvicorn on this loop, three DNS networks, the workers running, a customer logged in."""
    run = uuid.uuid4().hex[:8]
    remote = tuple(f"e{i}-{run}" for i in range(1, REMOTE + 1))
    with serve_zone() as zone, serve_zone() as virginia, serve_zone() as saopaulo:
        settings = settings.model_copy(update={"dns_resolver": zone.address, "remote_perspectives": ",".join(remote),
                                               "dns_timeout": timedelta(seconds=2)})
        app = create_app(settings)
        app.state.processes = Processes(TemporalHandle(settings, env.client), settings)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               access_log=False, timeout_graceful_shutdown=5))
        async with serving(server), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            vetting = Vetting(http, env, settings, engine, zone, (virginia, saopaulo), remote, mailbox)
            vetting.customer = _customer_token(engine, settings, "Example KK", "it@example.co.jp")
            await vetting.start_workers()
            try:
                yield vetting
            finally:
                await vetting.stop_workers()


@pytest.fixture
async def vetting(local_env: WorkflowEnvironment, settings: Settings, engine: Engine,
                  smtp_sink: tuple[int, Path]) -> AsyncIterator[Vetting]:
    settings = settings.model_copy(update={"temporal_address": local_env.client.service_client.config.target_host})
    async with vetting_stack(local_env, settings, engine, smtp_sink[1]) as found:
        yield found
    await end_running_workflows(local_env, settings.task_queue)


# --- 1. DNS change validated from every perspective → 審査中 ----------------------------------------

async def test_the_txt_record_placed_validates_from_every_perspective_and_the_application_goes_to_review(
        vetting: Vetting) -> None:
    name = "www.example.co.jp"
    app_id = await vetting.apply(name)
    await vetting.status(app_id, "validating")  # 認証待ち
    await vetting.requested(app_id, name)
    shown = (await vetting.validations(app_id))[name]
    assert shown["state"] == "pending" and shown["where"] == f"_certdesk-challenge.{name}"
    value = shown["random_value"]
    assert len(value) >= 22 and value == vetting.rows(app_id)[name].random_value  # >= 112 bits

    vetting.place(shown["where"], value)  # the customer's DNS: every network sees it
    await vetting.recheck(app_id)  # 再チェック
    detail = await vetting.status(app_id, "reviewing")  # 審査中
    assert detail["names"] == [name]

    row = vetting.rows(app_id)[name]
    assert row.state == "validated" and row.validated_at is not None and row.last_result == "corroborated"
    last = row.evidence[-1]
    assert last["passed"] is True and last["reason"] == "corroborated" and last["method"] == "dns_change"
    assert last["value_sha256"] == hashlib.sha256(value.encode()).hexdigest()
    assert last["workflow"] == f"domain-validation-{app_id}"
    seen = seen_by(last)
    assert sorted(seen) == sorted(["primary", *vetting.remote])  # the primary and all five remote perspectives
    assert all(p["found"] is True and p["seen"] == value and p["where"] == shown["where"] for p in seen.values())
    assert (await vetting.validations(app_id))[name]["state"] == "validated"
    statuses = [(e.details["previous"], e.details["status"]) for e in vetting.audit(app_id)
                if e.action == "application.status"]
    assert statuses == [("received", "validating"), ("validating", "reviewing")]  # 申込受付 → 認証待ち → 審査中


# --- 3. A remote perspective in another network sees another answer --------------------------------

async def test_one_disagreeing_perspective_is_outvoted_two_fail_the_quorum(vetting: Vetting) -> None:
    virginia, saopaulo = vetting.elsewhere
    outvoted, failing = "www.example.co.jp", "shop.example.co.jp"
    one, two = await vetting.apply(outvoted), await vetting.apply(failing)
    await vetting.requested(one, outvoted)
    await vetting.requested(two, failing)
    for app_id, name in ((one, outvoted), (two, failing)):
        where, value = f"_certdesk-challenge.{name}", vetting.rows(app_id)[name].random_value
        vetting.place(where, value, vetting.zone)
        virginia.txt(where, "an-older-value-still-cached")  # virginia's network sees another value
        if app_id == one:
            vetting.place(where, value, saopaulo)  # saopaulo agrees with the primary: four of five
        await vetting.recheck(app_id)

    # 4 of 5 remote perspectives corroborate: BR 3.2.2.9 allows one non-corroboration with 2-5 of them.
    await vetting.status(one, "reviewing")
    last = vetting.rows(one)[outvoted].evidence[-1]
    assert last["passed"] is True and last["reason"] == "corroborated"
    seen = seen_by(last)
    fourth, fifth = vetting.remote[3], vetting.remote[4]
    assert [n for n, p in seen.items() if p["found"] is not True] == [fourth]
    assert seen[fourth]["seen"] == "an-older-value-still-cached" and seen[fifth]["found"] is True

    # 3 of 5: one disagrees, one sees nothing; the name is not validated and the application waits.
    row = await vetting.checked(two, failing, "quorum_failed")
    assert row.state == "pending" and row.validated_at is None
    seen = seen_by(row.evidence[-1])
    assert row.evidence[-1]["passed"] is False and sorted(seen) == sorted(["primary", *vetting.remote])
    assert seen[fourth] == {"name": fourth, "found": False, "where": f"_certdesk-challenge.{failing}",
                            "seen": "an-older-value-still-cached"}
    assert (seen[fifth]["found"], seen[fifth]["seen"]) == (False, NOT_THERE)
    value = row.random_value
    assert all(seen[n]["found"] is True and seen[n]["seen"] == value for n in ("primary", *vetting.remote[:3]))
    assert (await vetting.validations(two))[failing]["last_result"] == "quorum_failed"
    assert (await vetting.detail(two))["status"] == "validating"
    assert "dcv.validated" not in [e.action for e in vetting.audit(two)]


# --- 4. The website file, and no wildcard by it -----------------------------------------------------

async def test_the_website_file_validates_and_a_wildcard_cannot_choose_it(vetting: Vetting, http_site: Site) -> None:
    vetting.settings = vetting.settings.model_copy(update={"dcv_http_port": http_site.port})
    await vetting.stop_workers()  # CERTDESK_DCV_HTTP_PORT is the workers' setting
    await vetting.start_workers()
    site, wildcard = "www.example.co.jp", "*.example.co.jp"
    app_id = await vetting.apply(site, wildcard)
    await vetting.status(app_id, "validating")
    await vetting.requested(app_id, site, wildcard)
    shown = await vetting.validations(app_id)
    assert "http_file" in shown[site]["methods"] and "http_file" not in shown[wildcard]["methods"]
    base = f"/api/v1/applications/{app_id}/domain-validations"

    # The wildcard cannot take the website method: the API and the detail page say why.
    refused = await vetting.http.put(f"{base}/{shown[wildcard]['id']}/method", json={"method": "http_file"},
                                     headers=vetting.customer)
    assert refused.status_code == 422, refused.text
    assert refused.json()["fields"] == [{"field": "method", "message": JA["dcv_err_method_no_wildcard"]}]
    page = await vetting.http.get(f"/account/applications/{app_id}", headers=vetting.customer)
    assert page.status_code == 200
    choice = section(page.text, shown[wildcard]["id"])
    assert JA["dcv_err_method_no_wildcard"] in choice and 'value="http_file" disabled' in choice
    assert vetting.rows(app_id)[wildcard].method == "dns_change"

    chosen = await vetting.http.put(f"{base}/{shown[site]['id']}/method", json={"method": "http_file"},
                                    headers=vetting.customer)
    assert chosen.status_code == 200, chosen.text
    value = chosen.json()["random_value"]
    path = f"/.well-known/pki-validation/{validation_file_name(value)}"
    assert chosen.json()["where"] == f"http://{site}{path}"
    # The customer's website (on loopback: every network's DNS points the name at it) serves the file,
    # and the wildcard's base name gets the TXT record.
    for zone in (vetting.zone, *vetting.elsewhere):
        zone.a(site, "127.0.0.1")
    http_site.file(path, value + "\n")
    vetting.place(shown[wildcard]["where"], shown[wildcard]["random_value"])
    await vetting.recheck(app_id)
    await vetting.status(app_id, "reviewing")

    rows = vetting.rows(app_id)
    by_file = rows[site].evidence[-1]
    assert rows[site].method == "http_file" and by_file["method"] == "http_file" and by_file["passed"] is True
    seen = seen_by(by_file)
    assert sorted(seen) == sorted(["primary", *vetting.remote])
    assert {p["where"] for p in seen.values()} == {f"http://{site}:{http_site.port}{path}"}
    assert all(p["found"] is True and value in p["seen"] and p["seen"].startswith("HTTP 200") for p in seen.values())
    assert sum(1 for _, p in http_site.requests if p == path) >= 1 + REMOTE  # each perspective fetched it
    assert rows[wildcard].method == "dns_change" and rows[wildcard].evidence[-1]["passed"] is True
    assert seen_by(rows[wildcard].evidence[-1])["primary"]["where"] == "_certdesk-challenge.example.co.jp"


# --- 5. The workers stop mid-validation; new ones finish it ----------------------------------------

async def test_a_validation_resumes_on_new_workers_and_records_nothing_twice(vetting: Vetting) -> None:
    name = "www.example.co.jp"
    app_id = await vetting.apply(name)
    row = await vetting.checked(app_id, name, "primary_failed")  # looked once: nothing there yet
    assert {p["found"] for p in row.evidence[-1]["perspectives"]} == {False}
    await vetting.stop_workers()  # the workflow waits for its next look; no worker and no perspective runs

    vetting.place(f"_certdesk-challenge.{name}", row.random_value)
    await vetting.recheck(app_id)  # 再チェック while every worker is down: the signal waits in the history
    await asyncio.sleep(0.5)
    assert vetting.rows(app_id)[name].state == "pending" and (await vetting.detail(app_id))["status"] == "validating"

    await vetting.start_workers()  # new workers, the same task queues
    await vetting.status(app_id, "reviewing", seconds=30)
    row = vetting.rows(app_id)[name]
    assert row.state == "validated" and row.evidence[-1]["passed"] is True
    keys = [e["check"] for e in row.evidence]
    assert len(keys) == len(set(keys)) and len(keys) >= 2  # each check once: the failed look, then the passing one
    actions = [e.action for e in vetting.audit(app_id)]
    assert actions.count("dcv.requested") == 1 and actions.count("dcv.validated") == 1
    statuses = [e.details["status"] for e in vetting.audit(app_id) if e.action == "application.status"]
    assert statuses == ["validating", "reviewing"]
    assert len(vetting.rows(app_id)) == 1


# --- 2. Nothing placed: never reviewed; returned when the Random Value expires ---------------------

@pytest.fixture
async def skipping(time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
                   smtp_sink: tuple[int, Path]) -> AsyncIterator[Vetting]:
    async with vetting_stack(time_skipping_env, settings, engine, smtp_sink[1]) as found:
        yield found


async def test_without_the_record_it_waits_then_returns_to_the_customer_when_the_value_expires(
        skipping: Vetting) -> None:
    name = "www.example.co.jp"
    app_id = await skipping.apply(name)
    row = await skipping.checked(app_id, name, "primary_failed")
    assert (await skipping.detail(app_id))["status"] == "validating"  # 認証待ち
    # BR 3.2.2.4.7: the Random Value lives 30 days (both stamps are taken in the same activity).
    assert abs(row.expires_at - row.created_at - timedelta(days=30)) < timedelta(seconds=1)
    first = row.evidence[0]
    assert first["passed"] is False and sorted(seen_by(first)) == sorted(["primary", *skipping.remote])
    assert {(p["found"], p["seen"]) for p in first["perspectives"]} == {(False, NOT_THERE)}

    # Thirty days of looks (hourly after the first hour) take the time-skipping server well over 30 s,
    # so the value's end is brought forward to a day and an hour: the same path, one reminder on the way.
    with session_scope(skipping.engine) as s:
        stored = s.get(DomainValidation, row.id)
        assert stored is not None
        stored.expires_at = stored.created_at + LIFE
        s.add(stored)
    await skipping.env.sleep(LIFE + timedelta(minutes=5))  # the server skips the time
    result = await skipping.env.client.get_workflow_handle_for(ServerCertApplication.run,
                                                               f"application-{app_id}").result()
    assert result.status == "returned"
    detail = await skipping.detail(app_id)
    assert detail["status"] == "returned" and name in (detail["note"] or "")
    row = skipping.rows(app_id)[name]
    # お申込情報詳細 says it: 差戻し, and which name's value expired.
    page = (await skipping.http.get(f"/account/applications/{app_id}", headers=skipping.customer)).text
    assert JA["app_status_returned"] in page and JA["dcv_state_expired"] in section(page, row.id)
    assert JA["app_returned_note"].format(names=name) in page
    assert row.state == "expired" and row.validated_at is None and row.last_result == "primary_failed"
    statuses = [e.details["status"] for e in skipping.audit(app_id) if e.action == "application.status"]
    assert statuses == ["validating", "returned"]  # never 審査中

    # It ended when the value's time was over, not before (the workflow's clock, from its history).
    events = [e async for e in skipping.env.client.get_workflow_handle(f"domain-validation-{app_id}")
              .fetch_history_events()]
    began = events[0].event_time.ToDatetime()
    expired_at = next(e.event_time.ToDatetime() for e in events
                      if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                      and e.activity_task_scheduled_event_attributes.activity_type.name == "expire_domain_validations")
    assert LIFE <= expired_at - began < LIFE + timedelta(seconds=5), (began, expired_at)

    mails = [m for m in dev_mailbox.list_mail(skipping.mailbox) if m.recipients == "it@example.co.jp"]
    returned = [m for m in mails if "お戻し" in m.subject]
    assert len(returned) == 1 and str(app_id) in returned[0].subject and name in returned[0].body
    reminders = [m for m in mails if "ドメイン認証のお願い" in m.subject]
    assert len(reminders) == 1 and row.random_value in reminders[0].body  # after a day
