"""Domain control validation on the time-skipping server, with real DNS and web servers on loopback
and five remote network perspectives, each a worker on its own task queue with its own resolver."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.context import ActivityContext
from activities.vetting import DomainValidationActivities
from certdesk.perspective import build_perspective_worker
from certdesk.worker import build_worker
from domain.settings import Settings
from domain.vetting.dcv import validation_file_name
from store import accounts, dev_mailbox
from store.db import session_scope
from store.models import Application, AuditEvent, DomainValidation, utcnow
from tests.dns_server import Zone, serve_zone
from tests.http_server import Site
from tests.test_certificate_authority import make_csr
from workflows.domain_validation import DomainValidation as DomainValidationWorkflow
from workflows.domain_validation import DomainValidationInput, perspective_queue

PERSPECTIVES = ("tokyo", "osaka", "frankfurt", "virginia", "saopaulo")
NAMES = ["www.example.co.jp", "api.example.co.jp"]


@dataclass
class Vetting:
    env: WorkflowEnvironment
    settings: Settings
    engine: Engine
    zone: Zone  # what the primary and three perspectives see
    elsewhere: Zone  # what "virginia" sees (another network's answer)
    faraway: Zone  # what "saopaulo" sees
    customer_id: int
    mailbox: Path

    def application(self, names: list[str] = NAMES) -> int:
        with session_scope(self.engine) as s:
            app = Application(customer_id=self.customer_id, type="new", product="ov", csr_pem=make_csr(*names),
                              names=names, organization={"name": "Example KK"})
            s.add(app)
            s.flush()
            return int(app.id or 0)

    async def start(self, application_id: int) -> WorkflowHandle:
        return await self.env.client.start_workflow(
            DomainValidationWorkflow.run,
            DomainValidationInput(application_id, self.customer_id, [perspective_queue(p) for p in PERSPECTIVES]),
            id=f"dcv-{uuid.uuid4().hex[:8]}", task_queue=self.settings.task_queue)

    def rows(self, application_id: int) -> dict[str, DomainValidation]:
        from sqlmodel import select

        with session_scope(self.engine) as s:
            return {r.name: r for r in s.exec(select(DomainValidation).where(
                DomainValidation.application_id == application_id)).all()}

    def place(self, application_id: int, *, zone: Zone | None = None, names: list[str] | None = None) -> None:
        """The customer puts each pending name's value in DNS."""
        for name, row in self.rows(application_id).items():
            if names is None or name in names:
                (zone or self.zone).txt(f"_certdesk-challenge.{row.validated_domain}", row.random_value)


@pytest.fixture
async def vetting(time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
                  dns_zone: Zone, smtp_sink: tuple[int, Path]) -> AsyncIterator[Vetting]:
    settings = settings.model_copy(update={"dns_resolver": dns_zone.address, "dns_timeout": timedelta(seconds=2)})
    customer = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30))
    with serve_zone() as elsewhere, serve_zone() as faraway:
        networks = {"virginia": elsewhere.address, "saopaulo": faraway.address}
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(build_worker(time_skipping_env.client, settings))
            for name in PERSPECTIVES:
                # Two perspectives sit in other networks: they see their own zones.
                seen_from = settings.model_copy(update={"dns_resolver": networks.get(name, dns_zone.address)})
                await stack.enter_async_context(build_perspective_worker(time_skipping_env.client, seen_from, name))
            yield Vetting(time_skipping_env, settings, engine, dns_zone, elsewhere, faraway, customer.id,
                          smtp_sink[1])


async def _until(predicate, seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_names_validate_once_the_values_are_in_dns_corroborated_by_the_quorum(vetting: Vetting) -> None:
    app_id = vetting.application()
    handle = await vetting.start(app_id)
    await _until(lambda: len(vetting.rows(app_id)) == 2)
    rows = vetting.rows(app_id)
    assert {r.state for r in rows.values()} == {"pending"}
    assert all(len(r.random_value) >= 22 for r in rows.values())  # >= 112 bits, url-safe base64
    assert rows[NAMES[0]].random_value != rows[NAMES[1]].random_value
    # The values are in the customer's DNS and seen from virginia's network too, but saopaulo's
    # network sees another value: four of five remote perspectives corroborate, as BR 3.2.2.9 allows.
    vetting.place(app_id)
    vetting.place(app_id, zone=vetting.elsewhere)
    vetting.faraway.txt(f"_certdesk-challenge.{NAMES[0]}", "not-the-value")
    result = await handle.result()
    rows = vetting.rows(app_id)
    assert result.status == "validated", [(r.last_result, r.evidence[:1], r.evidence[-1:]) for r in rows.values()]
    assert {r.state for r in rows.values()} == {"validated"}
    last = rows[NAMES[0]].evidence[-1]
    assert last["passed"] is True and last["reason"] == "corroborated" and last["method"] == "dns_change"
    seen = {p["name"]: p for p in last["perspectives"]}
    assert set(seen) == {"primary", *PERSPECTIVES}
    assert [n for n, p in seen.items() if p["found"] is not True] == ["saopaulo"]
    assert seen["saopaulo"]["seen"] == "not-the-value"
    assert all(p["where"] == f"_certdesk-challenge.{NAMES[0]}" for p in seen.values())
    assert seen["tokyo"]["seen"] == rows[NAMES[0]].random_value  # what each saw, as evidence
    with session_scope(vetting.engine) as s:
        from sqlmodel import select

        actions = [e.action for e in s.exec(select(AuditEvent).where(AuditEvent.subject == f"application:{app_id}"))]
    assert actions.count("dcv.validated") == 2


async def test_two_perspectives_that_see_another_answer_fail_the_quorum(vetting: Vetting) -> None:
    app_id = vetting.application([NAMES[0]])
    handle = await vetting.start(app_id)
    await _until(lambda: len(vetting.rows(app_id)) == 1)
    await _until(lambda: vetting.rows(app_id)[NAMES[0]].last_result == "primary_failed")  # nothing there yet
    vetting.place(app_id)  # the perspectives in the two other networks do not see it
    await handle.signal(DomainValidationWorkflow.recheck)  # 再チェック: look now, not in a minute
    await _until(lambda: vetting.rows(app_id)[NAMES[0]].last_result == "quorum_failed")
    row = vetting.rows(app_id)[NAMES[0]]
    assert row.state == "pending"
    missing = sorted(p["name"] for p in row.evidence[-1]["perspectives"] if p["found"] is not True)
    assert missing == ["saopaulo", "virginia"]
    # One other network catches up (its cache expired, say): the next look passes, four of five.
    vetting.place(app_id, zone=vetting.elsewhere)
    await vetting.env.sleep(timedelta(minutes=2))
    assert (await handle.result()).status == "validated"


async def test_nothing_placed_reminds_after_one_and_seven_days_then_expires(vetting: Vetting) -> None:
    app_id = vetting.application([NAMES[0]])
    handle = await vetting.start(app_id)
    await _until(lambda: len(vetting.rows(app_id)) == 1)
    with session_scope(vetting.engine) as s:  # 8 days instead of 30: the same path, a quarter of the looks
        row = s.get(DomainValidation, vetting.rows(app_id)[NAMES[0]].id)
        row.expires_at = row.created_at + timedelta(days=8)
        s.add(row)
    result = await handle.result()  # the server skips the days
    assert result.status == "expired" and result.expired == [NAMES[0]]
    row = vetting.rows(app_id)[NAMES[0]]
    assert row.state == "expired" and row.validated_at is None
    assert row.last_result == "primary_failed"
    reminders = [m for m in dev_mailbox.list_mail(vetting.mailbox) if "ドメイン認証" in m.subject]
    assert len(reminders) == 2
    assert row.random_value in reminders[0].body and f"_certdesk-challenge.{NAMES[0]}" in reminders[0].body
    # Every minute for the first hour, then hourly, and one more after each reminder: about 60 + 24 * 8
    # looks, all seeing the same: one evidence entry counting them.
    [looks] = row.evidence
    assert 240 < looks["repeats"] < 270 and looks["last_at"] > looks["at"], looks


async def test_a_later_application_reuses_the_validation_within_the_period_only(vetting: Vetting) -> None:
    first = vetting.application([NAMES[0]])
    handle = await vetting.start(first)
    await _until(lambda: len(vetting.rows(first)) == 1)
    vetting.place(first)
    vetting.place(first, zone=vetting.elsewhere)
    assert (await handle.result()).status == "validated"
    # The same customer applies again for the name and a subdomain of the validated one.
    second = vetting.application([NAMES[0], "sub.www.example.co.jp"])
    again = await vetting.start(second)
    await _until(lambda: len(vetting.rows(second)) == 2)
    rows = vetting.rows(second)
    assert rows[NAMES[0]].state == "validated" and rows[NAMES[0]].evidence[0]["reused"] == vetting.rows(first)[
        NAMES[0]].id
    assert rows["sub.www.example.co.jp"].state == "validated"  # a DNS change validation covers subdomains
    assert (await again.result()).status == "validated"
    # Past BR 4.2.1's period the old validation is not reused: the name must be validated anew.
    with session_scope(vetting.engine) as s:
        old = s.get(DomainValidation, vetting.rows(first)[NAMES[0]].id)
        old.validated_at = utcnow() - timedelta(days=400)
        s.add(old)
        for row in vetting.rows(second).values():
            stale = s.get(DomainValidation, row.id)
            stale.validated_at = utcnow() - timedelta(days=400)
            s.add(stale)
    third = vetting.application([NAMES[0]])
    pending = DomainValidationActivities(ActivityContext(vetting.settings, vetting.engine)).prepare(third)
    assert [p.name for p in pending] == [NAMES[0]] and vetting.rows(third)[NAMES[0]].state == "pending"


async def test_the_website_file_method_through_the_cas_own_resolver(vetting: Vetting, http_site: Site) -> None:
    settings = vetting.settings.model_copy(update={"dcv_http_port": http_site.port})
    from activities.vetting import CheckRequest, look

    vetting.zone.a("www.example.co.jp", "127.0.0.1")
    value = "A" * 22
    req = CheckRequest(1, "http_file", "www.example.co.jp", value)
    assert look(settings, "primary", req).found is False  # 404: not there yet
    http_site.file(f"/.well-known/pki-validation/{validation_file_name(value)}", value + "\n")
    answer = look(settings, "primary", req)
    assert answer.found is True and answer.where.startswith("http://www.example.co.jp:")
    vetting.zone.servfail("www.example.co.jp")
    assert look(settings, "primary", req).found is None  # could not look: never a "no"
