"""``wait_until`` on the time-skipping server: a signal before the deadline, the deadline passing,
and a deadline already past (no timer at all), seen in the workflow's own history."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from workflows.waiting import wait_until

HOUR = 3600.0


@dataclass
class WaitOutcome:
    came_true: bool
    waited_seconds: float  # workflow time


@workflow.defn
class WaitForGo:
    def __init__(self) -> None:
        self._go = False

    @workflow.signal
    def go(self) -> None:
        self._go = True

    @workflow.run
    async def run(self, seconds: float) -> WaitOutcome:
        start = workflow.now()
        came_true = await wait_until(lambda: self._go, start + timedelta(seconds=seconds))
        return WaitOutcome(came_true, (workflow.now() - start).total_seconds())


async def _timers(handle: WorkflowHandle) -> list[timedelta]:
    """The durations of the timers the run started, in order."""
    history = await handle.fetch_history()
    return [e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]


async def _run(env: WorkflowEnvironment, seconds: float, *, signal_after_timer: bool = False,
               signal_with_start: bool = False) -> tuple[WaitOutcome, list[timedelta]]:
    queue = f"waiting-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=queue, workflows=[WaitForGo]):
        handle = await env.client.start_workflow(
            WaitForGo.run, seconds, id=f"wait-{uuid.uuid4().hex[:8]}", task_queue=queue,
            start_signal="go" if signal_with_start else None)
        if signal_after_timer:
            # The server's clock only jumps while a result is awaited, so the deadline holds here.
            for _ in range(100):
                if await _timers(handle):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the wait never started its timer")
            await handle.signal(WaitForGo.go)
        outcome = await handle.result()
        return outcome, await _timers(handle)


async def test_a_signal_before_the_deadline_ends_the_wait_with_true(time_skipping_env: WorkflowEnvironment) -> None:
    outcome, timers = await _run(time_skipping_env, HOUR, signal_after_timer=True)
    assert outcome.came_true is True
    assert outcome.waited_seconds < HOUR
    assert timers == [timedelta(hours=1)]


async def test_the_deadline_passing_ends_the_wait_with_false(time_skipping_env: WorkflowEnvironment) -> None:
    outcome, timers = await _run(time_skipping_env, HOUR)
    assert outcome.came_true is False
    assert outcome.waited_seconds >= HOUR
    assert timers == [timedelta(hours=1)]


async def test_a_deadline_already_past_returns_at_once_without_a_timer(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    outcome, timers = await _run(time_skipping_env, -60)
    assert outcome == WaitOutcome(False, 0.0)
    assert timers == []
    # Past the deadline the condition is still looked at once: already true counts.
    outcome, timers = await _run(time_skipping_env, -60, signal_with_start=True)
    assert outcome == WaitOutcome(True, 0.0)
    assert timers == []
