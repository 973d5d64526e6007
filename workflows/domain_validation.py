"""Domain control validation of an application's names (BR 3.2.2.4, 3.2.2.9; S-2 認証待ち).

1. Each name gets a validation: reused when the customer validated it (or a parent) within BR
   4.2.1's period, else a new Random Value for the customer to place (DNS TXT by default).
2. Every pending name is looked at from the primary perspective and from each remote one at
   the same time (their own task queues, their own networks); it passes only when the primary
   finds the value and the remote perspectives corroborate as BR 3.2.2.9's table requires on
   that day. Each check is recorded as evidence, pass or fail.
3. Until every name passes: again every minute for the first hour, then hourly, or at once when
   the customer asks (``recheck``); the customer is reminded after one and seven days; when the
   Random Values' 30 days are over, what is still pending expires and the run ends "expired".
"""

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.applications import ApplicationActivities
    from activities.vetting import (
        CheckOutcome,
        CheckRequest,
        DomainValidationActivities,
        PendingValidation,
        PerspectiveActivities,
        PerspectiveAnswer,
    )
    from domain.vetting.mpic import TooFewPerspectives, corroborated
    from workflows.waiting import wait_until

ACTIVITY_TIMEOUT = timedelta(minutes=2)
# A perspective that has not answered in this time did not corroborate (BR 3.2.2.9: no answer is no).
PERSPECTIVE_TIMEOUT = timedelta(seconds=60)
PERSPECTIVE_RETRY = RetryPolicy(maximum_attempts=2, initial_interval=timedelta(seconds=2))
FAST_PHASE = timedelta(hours=1)
FAST, SLOW = timedelta(minutes=1), timedelta(hours=1)
REMINDERS = (timedelta(days=1), timedelta(days=7))


@dataclass
class DomainValidationInput:
    application_id: int
    customer_id: int
    remote_perspectives: list[str] = field(default_factory=list)  # task queue names: perspective-<name>


@dataclass
class DomainValidationResult:
    status: str  # validated | expired
    expired: list[str] = field(default_factory=list)


def workflow_id(application_id: int) -> str:
    return f"domain-validation-{application_id}"


def perspective_queue(name: str) -> str:
    """The task queue a remote perspective's worker polls."""
    return f"perspective-{name}"


def next_check(started: datetime, now: datetime) -> datetime:
    """Every minute for the first hour, then every hour."""
    return now + (FAST if now - started < FAST_PHASE else SLOW)


@workflow.defn
class DomainValidation:
    def __init__(self) -> None:
        self._recheck = False
        self._states: dict[str, str] = {}

    @workflow.signal
    def recheck(self) -> None:
        """再チェック: the customer placed the value (or changed the method); look now."""
        self._recheck = True

    @workflow.query
    def states(self) -> dict[str, str]:
        return dict(self._states)

    async def _look(self, queue: str | None, req: CheckRequest) -> PerspectiveAnswer | None:
        try:
            return await workflow.execute_activity_method(
                PerspectiveActivities.check_domain_control, req, task_queue=queue,
                schedule_to_close_timeout=PERSPECTIVE_TIMEOUT, retry_policy=PERSPECTIVE_RETRY)
        except ActivityError:
            return None  # the perspective did not answer: it does not corroborate

    async def _check(self, inp: DomainValidationInput, pending: PendingValidation, round_: int) -> str:
        req = CheckRequest(pending.validation_id, pending.method, pending.checked_name, pending.random_value)
        primary, *remote = await asyncio.gather(
            self._look(None, req), *(self._look(queue, req) for queue in inp.remote_perspectives))
        try:
            verdict = corroborated(primary is not None and primary.found is True,
                                   [a is not None and a.found is True for a in remote], workflow.now())
        except TooFewPerspectives as too_few:
            raise ApplicationError(str(too_few), type="too_few_perspectives", non_retryable=True) from None
        reason = verdict.reason_code
        if primary is not None and primary.found is None:
            reason = f"primary_{primary.seen}"  # e.g. primary_servfail: the look failed, it did not find "no"
        info = workflow.info()
        answers = [a for a in (primary, *remote) if a is not None]
        return await workflow.execute_activity_method(
            DomainValidationActivities.record,
            CheckOutcome(pending.validation_id, f"{info.workflow_id}/{info.run_id}/{round_}/{pending.validation_id}",
                         verdict.passed, reason, answers, info.workflow_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT)

    @workflow.run
    async def run(self, inp: DomainValidationInput) -> DomainValidationResult:
        started = workflow.now()
        reminders = [started + after for after in REMINDERS]
        round_ = 0
        while True:
            # 1. The names still to validate (reuse and the customer's choice of method included).
            pending: list[PendingValidation] = await workflow.execute_activity_method(
                DomainValidationActivities.prepare, inp.application_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
            if not pending:
                return DomainValidationResult("validated")
            expires_at = min(datetime.fromisoformat(p.expires_at) for p in pending)
            if workflow.now() >= expires_at:
                expired: list[str] = await workflow.execute_activity_method(
                    DomainValidationActivities.expire, inp.application_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
                return DomainValidationResult("expired", expired)

            # 2. Look from every perspective at once; record what each saw.
            round_ += 1
            self._recheck = False  # a recheck asked for from now on means: look again after this round
            states = await asyncio.gather(*(self._check(inp, p, round_) for p in pending))
            self._states.update({p.name: state for p, state in zip(pending, states, strict=True)})
            if all(state == "validated" for state in states):
                continue  # prepare again: nothing pending ends the run

            # 3. Wait for the next look, a reminder, the customer's recheck, or the end of the values.
            now = workflow.now()
            while reminders and reminders[0] <= now:
                reminders.pop(0)
                await workflow.execute_activity_method(
                    ApplicationActivities.mail_application_event,
                    args=[inp.application_id, "dcv_reminder", f"{(now - started).days}d"],
                    start_to_close_timeout=ACTIVITY_TIMEOUT)
            wake = min([next_check(started, now), expires_at, *reminders[:1]])
            await wait_until(lambda: self._recheck, wake)
