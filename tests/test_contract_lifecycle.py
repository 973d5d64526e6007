"""The contract's life on the time-skipping server (issue 16; S-3, S-5): the 証明書の差し替え and
更新のご案内 ladders, the end of a fixed term, automatic renewal and 解約, each reminder exactly
once across a worker restart and an activity retry, and the 更新のご案内メール setting.

The real activities, database and SMTP sink; years pass with ``env.sleep``.
"""

import concurrent.futures
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.context import ActivityContext
from activities.contracts import ContractReminder
from ca import authority
from certdesk.worker import activities_for, build_worker, workflow_runner
from domain.catalog import CATALOG
from domain.contracts import certificate_subject, contract_code
from domain.settings import Settings
from processes.contracts import terms
from store import accounts, dev_mailbox
from store import contracts as records
from store.db import session_scope
from store.models import Application, AuditEvent, Contract, CustomerProfile, utcnow
from tests.test_certificate_authority import make_csr
from workflows.contract import Cancellation, ContractInput
from workflows.contract import Contract as ContractWorkflow
from workflows.contract import workflow_id as contract_workflow_id
from workflows.registry import WORKFLOWS
from workflows.reissue import Reissue, ReissueInput

ORG = {"name": "契約株式会社", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"}
CERTIFICATE_SUBJECT = re.compile(r"証明書の差し替えのご案内（契約コード (\S+)、あと(\d+)日）")
TERM_SUBJECT = re.compile(r"(?:自動)?更新のご案内（契約コード (\S+)、(?:契約期間の終了まで)?あと(\d+)日）")


def issued_contract(engine: Engine, settings: Settings, product: str = "ov",
                    now: datetime | None = None) -> tuple[int, str, int]:
    """A new application whose certificate was issued (``now``: the environment's clock, when it has
    moved away from the wall clock), and the contract it established: (id, code, customer)."""
    customer = accounts.create_customer(engine, ORG["name"], f"{product}@keiyaku.example.jp",
                                        settings.initial_password_ttl)
    csr = make_csr("www.keiyaku.example.jp")
    with session_scope(engine) as s:
        app = Application(customer_id=customer.id, type="new", product=product, status="approved", csr_pem=csr,
                          names=["www.keiyaku.example.jp"], organization=ORG, contacts={})
        s.add(app)
        s.flush()
        app_id = int(app.id or 0)
    issued = authority.issue_server(engine, settings, f"application-{app_id}", csr,
                                    certificate_subject(ORG, CATALOG[product].level), CATALOG[product].validity_days,
                                    "staff:test", now=now)
    with session_scope(engine) as s:
        app = s.get(Application, app_id)
        assert app is not None
        app.status, app.certificate_serial, app.issued_at = "issued", issued.serial, now or utcnow()
        app.contract_code = contract_code(app_id)
        row = records.establish(s, app)
        assert row is not None
        return int(row.id or 0), row.code, customer.id


async def start(env: WorkflowEnvironment, settings: Settings, contract_id: int, code: str) -> WorkflowHandle:
    return await env.client.start_workflow(ContractWorkflow.run, ContractInput(contract_id, code, terms(settings)),
                                           id=contract_workflow_id(code), task_queue=settings.task_queue)


def reminders(mail_dir: Path, code: str) -> Counter[tuple[str, int]]:
    """(topic, days) of every reminder mailed for the contract, counted."""
    seen: Counter[tuple[str, int]] = Counter()
    for mail in dev_mailbox.list_mail(mail_dir):
        for topic, pattern in (("certificate", CERTIFICATE_SUBJECT), ("term", TERM_SUBJECT)):
            match = pattern.search(mail.subject)
            if match and match.group(1) == code:
                seen[(topic, int(match.group(2)))] += 1
    return seen


def subjects(mail_dir: Path, part: str) -> int:
    return sum(part in m.subject for m in dev_mailbox.list_mail(mail_dir))


def contract_row(engine: Engine, contract_id: int) -> Contract:
    with session_scope(engine) as s:
        row = s.get(Contract, contract_id)
        assert row is not None
        return row


async def until(env: WorkflowEnvironment, check, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        if check():
            return
        await env.sleep(timedelta(seconds=5))
    raise AssertionError(f"never: {what}")


@asynccontextmanager
async def flaky_worker(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[list[str]]:
    """A worker whose reminder activity fails once right after it has mailed (as when it dies before
    reporting): Temporal retries it, and the mail must not go twice. Yields the keys it failed."""
    real = activities_for(ActivityContext.from_settings(settings))
    send = next(a for a in real if activity._Definition.from_callable(a).name == "send_contract_reminder")  # type: ignore[union-attr]
    failed: list[str] = []

    @activity.defn(name="send_contract_reminder")
    def send_then_fail_once(req: ContractReminder) -> str:
        outcome = str(send(req))
        if not failed:
            failed.append(f"{req.topic}:{req.days}")
            raise RuntimeError("the worker died after mailing")
        return outcome

    worker = Worker(env.client, task_queue=settings.task_queue, workflows=WORKFLOWS, workflow_runner=workflow_runner(),
                    activities=[send_then_fail_once if a is send else a for a in real],
                    activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=8))
    async with worker:
        yield failed


async def test_a_fixed_term_gets_both_ladders_once_and_ends(time_skipping_env: WorkflowEnvironment,
                                                            settings: Settings, engine: Engine,
                                                            smtp_sink: tuple[int, Path]) -> None:
    env, mail_dir = time_skipping_env, smtp_sink[1]
    authority.ensure_hierarchy(engine, settings)
    contract_id, code, _ = issued_contract(engine, settings, "ov")
    row = contract_row(engine, contract_id)
    assert row.contract_type == "fixed" and row.term_months == 12
    lifetime = (row.certificate_not_after - row.certificate_not_before).days
    assert lifetime == 198  # 199 days counting both ends: one day under the BR's 200 (issued before 2027-03-15)
    assert (row.term_end - row.term_start).days in (365, 366)

    # No sticky cache: when this worker stops, its workflow's next task goes straight to the next one.
    async with build_worker(env.client, settings, max_cached_workflows=0):
        await start(env, settings, contract_id, code)
        await env.sleep(timedelta(days=150))  # the certificate's 90- and 60-day notices
        await until(env, lambda: reminders(mail_dir, code)[("certificate", 60)] == 1, "the 60-day notice")
    assert reminders(mail_dir, code) == Counter({("certificate", 90): 1, ("certificate", 60): 1})

    # The worker is gone for a while; a new one takes over, and its first reminder fails after mailing.
    async with flaky_worker(env, settings) as failed:
        await env.sleep(timedelta(days=220))
        await until(env, lambda: contract_row(engine, contract_id).state == "ended", "the end of the term")
    assert failed == ["certificate:30"]
    ladder = (90, 60, 30, 14, 7, 1)
    assert reminders(mail_dir, code) == Counter({**{("certificate", d): 1 for d in ladder},
                                                 **{("term", d): 1 for d in ladder}})
    assert subjects(mail_dir, "契約終了のお知らせ") == 1
    ended = contract_row(engine, contract_id)
    assert ended.state == "ended" and ended.ended_at is not None
    # Left to expire: not revoked.
    with session_scope(engine) as s:
        assert not s.exec(select(AuditEvent).where(AuditEvent.action == "certificate.revoked")).all()


async def test_an_automatic_contract_renews_twice_then_ends_after_cancellation(
        time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
        smtp_sink: tuple[int, Path]) -> None:
    env, mail_dir = time_skipping_env, smtp_sink[1]
    authority.ensure_hierarchy(engine, settings)
    contract_id, code, _ = issued_contract(engine, settings, "ov_auto")
    first_end = contract_row(engine, contract_id).term_end
    async with build_worker(env.client, settings):
        handle = await start(env, settings, contract_id, code)
        await env.sleep(timedelta(days=370))
        await until(env, lambda: contract_row(engine, contract_id).terms == 2, "the first renewal")
        second = contract_row(engine, contract_id)
        assert second.term_start == first_end and second.state == "active"  # no day lost
        await env.sleep(timedelta(days=365))
        await until(env, lambda: contract_row(engine, contract_id).terms == 3, "the second renewal")
        assert subjects(mail_dir, "契約更新のお知らせ") == 2
        # 解約 at the term's end, filed before the cut-off: the contract ends instead of renewing.
        assert await handle.execute_update(ContractWorkflow.file_cancellation, Cancellation("customer:1")) == "ending"
        assert contract_row(engine, contract_id).state == "ending"
        assert subjects(mail_dir, "解約受付のお知らせ") == 1
        await env.sleep(timedelta(days=370))
        await until(env, lambda: contract_row(engine, contract_id).state == "ended", "the end after 解約")
    final = contract_row(engine, contract_id)
    assert final.terms == 3 and subjects(mail_dir, "契約更新のお知らせ") == 2
    # Each term's 自動更新のご案内 went once, and none after 解約.
    auto = sum("自動更新のご案内" in m.subject for m in dev_mailbox.list_mail(mail_dir))
    assert auto == 2 * 6


async def test_no_reminder_for_a_customer_who_turned_them_off(time_skipping_env: WorkflowEnvironment,
                                                              settings: Settings, engine: Engine,
                                                              smtp_sink: tuple[int, Path]) -> None:
    env, mail_dir = time_skipping_env, smtp_sink[1]
    authority.ensure_hierarchy(engine, settings)
    contract_id, code, customer_id = issued_contract(engine, settings, "ov")
    with session_scope(engine) as s:
        s.add(CustomerProfile(customer_id=customer_id, renewal_notices=False))
    async with build_worker(env.client, settings):
        await start(env, settings, contract_id, code)
        await env.sleep(timedelta(days=120))
        await until(env, lambda: _skipped(engine) >= 1, "a skipped reminder")
    assert reminders(mail_dir, code) == Counter()
    with session_scope(engine) as s:
        skipped = s.exec(select(AuditEvent).where(AuditEvent.action == "contract.reminder_skipped")).all()
    assert {e.details["why"] for e in skipped} == {"opted_out"}


def _skipped(engine: Engine) -> int:
    with session_scope(engine) as s:
        return len(s.exec(select(AuditEvent).where(AuditEvent.action == "contract.reminder_skipped")).all())


async def reissue_in_contract(env: WorkflowEnvironment, settings: Settings, engine: Engine, contract_id: int
                              ) -> WorkflowHandle:
    """A reissue (S-4, previous revoked at once) of the contract's certificate."""
    row = contract_row(engine, contract_id)
    with session_scope(engine) as s:
        app = Application(customer_id=row.customer_id, type="reissue", product=row.product,
                          csr_pem=make_csr("www.keiyaku.example.jp"), names=["www.keiyaku.example.jp"],
                          organization=ORG, reason="immediately", parent_id=row.application_id)
        s.add(app)
        s.flush()
        app_id = int(app.id or 0)
    return await env.client.start_workflow(
        Reissue.run, ReissueInput(app_id, row.customer_id, row.certificate_serial, "immediately"),
        id=f"reissue-{app_id}", task_queue=settings.task_queue)


async def test_a_reissued_certificate_becomes_the_contracts_and_its_ladder_follows(
        time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
        smtp_sink: tuple[int, Path]) -> None:
    env, mail_dir = time_skipping_env, smtp_sink[1]
    authority.ensure_hierarchy(engine, settings)
    contract_id, code, _ = issued_contract(engine, settings, "ov")
    with session_scope(engine) as s:  # the first certificate was issued 30 days earlier (a different expiry)
        row = s.get(Contract, contract_id)
        assert row is not None
        row.certificate_not_before -= timedelta(days=30)
        row.certificate_not_after -= timedelta(days=30)
        s.add(row)
    first = contract_row(engine, contract_id)
    async with build_worker(env.client, settings):
        await start(env, settings, contract_id, code)
        await env.sleep(timedelta(days=85))  # the first certificate's 90-day notice (day 78)
        await until(env, lambda: reminders(mail_dir, code)[("certificate", 90)] == 1, "the 90-day notice")
        reissue = await reissue_in_contract(env, settings, engine, contract_id)
        await reissue.result()
        second = contract_row(engine, contract_id)
        assert second.certificate_serial != first.certificate_serial
        assert second.certificate_not_after > first.certificate_not_after
        # The old certificate's notices stop; the new one's come before it expires.
        await env.sleep(second.certificate_not_after - first.certificate_not_before - timedelta(days=30 + 85))
        await until(env, lambda: reminders(mail_dir, code)[("certificate", 1)] == 1, "the new 1-day notice")
    # The first certificate got its 90-day notice only; the second its whole ladder from 90 days on.
    sent = reminders(mail_dir, code)
    assert sent[("certificate", 90)] == 2 and all(sent[("certificate", d)] == 1 for d in (60, 30, 14, 7, 1))
    with session_scope(engine) as s:
        moved = s.exec(select(AuditEvent).where(AuditEvent.action == "contract.certificate_replaced")).all()
    assert len(moved) == 1 and moved[0].details["previous"] == first.certificate_serial


def test_a_renewal_counts_for_the_term_it_was_filed_in(settings: Settings, engine: Engine) -> None:
    authority.ensure_hierarchy(engine, settings)
    contract_id, _, _ = issued_contract(engine, settings, "ov")
    row = contract_row(engine, contract_id)
    with session_scope(engine) as s:
        s.add(Application(customer_id=row.customer_id, type="renewal", product="ov", csr_pem="-", names=[],
                          parent_id=row.application_id, status="reviewing"))
    with session_scope(engine) as s:
        assert records.renewal_filed(s, row.application_id, row.term_start)
        # The next term (it starts when this one ends) asks for a renewal of its own.
        assert not records.renewal_filed(s, row.application_id, row.term_end)
