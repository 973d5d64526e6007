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

Constructed email (BR 3.2.2.4.4; behind the patch ``dcv-constructed-email``): the value is mailed
once to the address the customer chose (a new choice, a new mail). Its recipient enters it on the
mail's link; the API checks it and tells this workflow only ``confirm_email`` (which choice). The
name then passes when every perspective's look at the ADN's MX set agrees with the primary's, as
3.2.2.9's quorum requires; a confirmed value is looked at again each round until it does.
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
        EmailChallenge,
        PendingValidation,
        PerspectiveActivities,
        PerspectiveAnswer,
    )
    from domain.vetting.dcv import Method
    from domain.vetting.mpic import TooFewPerspectives, corroborated
    from workflows.waiting import wait_until

ACTIVITY_TIMEOUT = timedelta(minutes=2)
# A perspective that has not answered in this time did not corroborate (BR 3.2.2.9: no answer is no).
PERSPECTIVE_TIMEOUT = timedelta(seconds=60)
PERSPECTIVE_RETRY = RetryPolicy(maximum_attempts=2, initial_interval=timedelta(seconds=2))
FAST_PHASE = timedelta(hours=1)
FAST, SLOW = timedelta(minutes=1), timedelta(hours=1)
REMINDERS = (timedelta(days=1), timedelta(days=7))
EMAIL_PATCH = "dcv-constructed-email"
# An unreachable mail server leaves the mail for the next round rather than holding this one up.
MAIL_RETRY = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=5))


@dataclass
class DomainValidationInput:
    application_id: int
    customer_id: int
    remote_perspectives: list[str] = field(default_factory=list)  # task queue names: perspective-<name>


@dataclass
class DomainValidationResult:
    status: str  # validated | expired
    expired: list[str] = field(default_factory=list)


@dataclass
class EmailConfirmation:
    """The recipient of the constructed email entered its value (the API compared it): which choice."""

    validation_id: int
    generation: int


@dataclass
class EmailConfirmed:
    state: str  # the validation's state after the check: validated | pending
    reason: str  # the check's reason code (domain.vetting.mpic, or primary_<failure>)


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
        self._inp: DomainValidationInput | None = None
        self._pending: dict[int, PendingValidation] = {}  # by validation id, as last prepared
        self._mailed: dict[int, tuple[int, str]] = {}  # validation id -> (generation, address) mailed
        self._confirmed: dict[int, tuple[int, str]] = {}  # validation id -> (generation, entered at)
        self._confirmations = 0

    @workflow.signal
    def recheck(self) -> None:
        """再チェック: the customer placed the value (or changed the method); look now."""
        self._recheck = True

    @workflow.query
    def states(self) -> dict[str, str]:
        return dict(self._states)

    @workflow.update
    async def confirm_email(self, confirmation: EmailConfirmation) -> EmailConfirmed:
        """The right value was entered on the link of the mail this run sent: check MX now."""
        pending, inp = self._pending.get(confirmation.validation_id), self._inp
        if pending is None or inp is None:  # the validator refuses this; a handler never asserts
            raise ApplicationError("this name is not waiting for a value", type="not_waiting", non_retryable=True)
        self._confirmed[pending.validation_id] = (confirmation.generation, workflow.now().isoformat())
        self._confirmations += 1
        state, reason = await self._check(inp, pending, f"email{self._confirmations}")
        self._states[pending.name] = state
        self._recheck = True  # the run looks again: nothing pending ends it
        return EmailConfirmed(state, reason)

    @confirm_email.validator
    def _may_confirm_email(self, confirmation: EmailConfirmation) -> None:
        pending = self._pending.get(confirmation.validation_id)
        mailed = self._mailed.get(confirmation.validation_id)
        if pending is None or self._inp is None or self._states.get(pending.name) == "validated":
            raise ApplicationError("this name is not waiting for a value", type="not_waiting", non_retryable=True)
        if mailed is None or mailed[0] != confirmation.generation or pending.email_generation != mailed[0]:
            raise ApplicationError("this mail has been replaced by a newer one", type="replaced", non_retryable=True)

    async def _look(self, queue: str | None, req: CheckRequest) -> PerspectiveAnswer | None:
        try:
            return await workflow.execute_activity_method(
                PerspectiveActivities.check_domain_control, req, task_queue=queue,
                schedule_to_close_timeout=PERSPECTIVE_TIMEOUT, retry_policy=PERSPECTIVE_RETRY)
        except ActivityError:
            return None  # the perspective did not answer: it does not corroborate

    async def _check(self, inp: DomainValidationInput, pending: PendingValidation, round_: int | str
                     ) -> tuple[str, str]:
        """One check from every perspective, recorded; (the validation's state, the reason)."""
        req = CheckRequest(pending.validation_id, pending.method, pending.checked_name, pending.random_value)
        primary, *remote = await asyncio.gather(
            self._look(None, req), *(self._look(queue, req) for queue in inp.remote_perspectives))
        email = pending.method == Method.CONSTRUCTED_EMAIL
        try:
            verdict = corroborated(primary is not None and primary.found is True,
                                   [a is not None and a.found is True
                                    # MX: the remote perspective must see the primary's own answer.
                                    and (not email or (primary is not None and a.seen == primary.seen))
                                    for a in remote], workflow.now())
        except TooFewPerspectives as too_few:
            raise ApplicationError(str(too_few), type="too_few_perspectives", non_retryable=True) from None
        reason = verdict.reason_code
        if primary is not None and primary.found is None:
            reason = f"primary_{primary.seen}"  # e.g. primary_servfail: the look failed, it did not find "no"
        if email and reason in ("primary_failed", "quorum_failed"):
            reason = "mx_" + reason  # the value was entered; the mail's route is what did not hold
        info = workflow.info()
        answers = [a for a in (primary, *remote) if a is not None]
        outcome = CheckOutcome(pending.validation_id,
                               f"{info.workflow_id}/{info.run_id}/{round_}/{pending.validation_id}",
                               verdict.passed, reason, answers, info.workflow_id)
        if email:
            outcome.email_address = pending.email_address
            outcome.value_entered_at = self._confirmed.get(pending.validation_id, (0, ""))[1]
        state: str = await workflow.execute_activity_method(
            DomainValidationActivities.record, outcome, start_to_close_timeout=ACTIVITY_TIMEOUT)
        return state, reason

    async def _email_round(self, inp: DomainValidationInput, pending: PendingValidation, round_: int
                           ) -> tuple[str, str]:
        """Constructed email: mail the chosen address once; check MX only once its value was entered."""
        vid, chosen = pending.validation_id, (pending.email_generation, pending.email_address)
        if pending.email_address and self._mailed.get(vid) != chosen:
            self._mailed[vid] = chosen  # before the mail: its link may be used before the activity returns
            try:
                await workflow.execute_activity_method(
                    DomainValidationActivities.mail_email_challenge,
                    EmailChallenge(vid, pending.email_address, pending.email_generation),
                    start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=MAIL_RETRY)
            except ActivityError:
                self._mailed.pop(vid, None)  # the next round tries again
        confirmed = self._confirmed.get(vid)
        if confirmed is None or confirmed[0] != pending.email_generation:
            return "pending", "awaiting_recipient"
        return await self._check(inp, pending, round_)

    async def _round(self, inp: DomainValidationInput, pending: PendingValidation, round_: int) -> tuple[str, str]:
        if pending.method == Method.CONSTRUCTED_EMAIL and workflow.patched(EMAIL_PATCH):
            return await self._email_round(inp, pending, round_)
        return await self._check(inp, pending, round_)

    @workflow.run
    async def run(self, inp: DomainValidationInput) -> DomainValidationResult:
        self._inp = inp
        started = workflow.now()
        reminders = [started + after for after in REMINDERS]
        round_ = 0
        while True:
            # 1. The names still to validate (reuse and the customer's choice of method included).
            pending: list[PendingValidation] = await workflow.execute_activity_method(
                DomainValidationActivities.prepare, inp.application_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
            self._pending = {p.validation_id: p for p in pending}
            if not pending:
                if self._mailed:  # a recipient's confirmation in flight gets its answer first
                    await workflow.wait_condition(workflow.all_handlers_finished)
                return DomainValidationResult("validated")
            expires_at = min(datetime.fromisoformat(p.expires_at) for p in pending)
            if workflow.now() >= expires_at:
                expired: list[str] = await workflow.execute_activity_method(
                    DomainValidationActivities.expire, inp.application_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
                if self._mailed:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                return DomainValidationResult("expired", expired)

            # 2. Look from every perspective at once; record what each saw.
            round_ += 1
            self._recheck = False  # a recheck asked for from now on means: look again after this round
            states = [state for state, _ in await asyncio.gather(*(self._round(inp, p, round_) for p in pending))]
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
