"""Reissue with delayed revocation (S-4, manual section 2).

The new certificate is issued from the new CSR under the vetted subject; then the previous
one is revoked (superseded) either at once or by a durable timer two weeks later (configurable),
with a reminder the day before. A key-compromise revocation of the previous certificate during
the wait takes over: the timer stands down and the revocation process does the rest. Revoking
is idempotent in the CA, so nothing is ever revoked twice.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.applications import ApplicationActivities, ApplicationRef, RevokeForApplication
    from workflows.contract import tell_contract
    from workflows.received import confirm_received
    from workflows.waiting import wait_until

ACTIVITY_TIMEOUT = timedelta(minutes=2)
REMINDER_BEFORE = timedelta(days=1)


@dataclass
class ReissueInput:
    reissue_id: int  # the reissue's own record (holds the new CSR)
    customer_id: int
    previous_serial: str
    revoke_previous: str  # immediately | after_two_weeks
    delay_seconds: float = 14 * 86400
    actor: str = "customer"


@dataclass
class ReissueResult:
    serial: str
    previous: str  # revoked | taken_over


def workflow_id(reissue_id: int) -> str:
    return f"reissue-{reissue_id}"


async def revoke_previous(record_id: int, previous_serial: str, when: str, delay_seconds: float, actor: str,
                          taken_over: Callable[[], bool]) -> str:
    """The certificate a new one supersedes (a reissue, a switch of product): revoked at once, or
    after the wait with a reminder the day before, unless a revocation takes over meanwhile.
    Returns "revoked" or "taken_over"."""
    if when == "after_two_weeks":
        revoke_at = workflow.now() + timedelta(seconds=delay_seconds)
        await workflow.execute_activity_method(
            ApplicationActivities.schedule_previous_revocation, args=[record_id, revoke_at.isoformat()],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        remind_at = revoke_at - REMINDER_BEFORE
        if remind_at > workflow.now() and not await wait_until(taken_over, remind_at):
            await workflow.execute_activity_method(
                ApplicationActivities.mail_application_event, args=[record_id, "reissue_revocation_reminder"],
                start_to_close_timeout=ACTIVITY_TIMEOUT)
        if await wait_until(taken_over, revoke_at):
            return "taken_over"
    await workflow.execute_activity_method(
        ApplicationActivities.revoke_application_certificate,
        RevokeForApplication(record_id, previous_serial, "superseded",
                             "timer" if when == "after_two_weeks" else actor, status="issued"),
        start_to_close_timeout=ACTIVITY_TIMEOUT)
    return "revoked"


@workflow.defn
class Reissue:
    def __init__(self) -> None:
        self._taken_over = False

    @workflow.signal
    def previous_revocation_taken_over(self) -> None:
        """A key-compromise revocation of the previous certificate was requested: it decides now."""
        self._taken_over = True

    @workflow.run
    async def run(self, inp: ReissueInput) -> ReissueResult:
        await confirm_received(inp.reissue_id)
        # 1. The new certificate, from the new CSR and the vetted subject.
        serial: str = await workflow.execute_activity_method(
            ApplicationActivities.issue_application_certificate,
            ApplicationRef(inp.reissue_id, workflow.info().workflow_id, inp.actor),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        await self._mail(inp, "issued")
        if workflow.patched("contract-follows-reissue"):
            await tell_contract(inp.reissue_id)  # the contract's certificate is the new one from now on

        # 2. The previous certificate: at once, or after the wait, unless a revocation takes over.
        previous = await revoke_previous(inp.reissue_id, inp.previous_serial, inp.revoke_previous, inp.delay_seconds,
                                         inp.actor, lambda: self._taken_over)
        return ReissueResult(serial, previous)

    async def _mail(self, inp: ReissueInput, event: str) -> None:
        await workflow.execute_activity_method(
            ApplicationActivities.mail_application_event, args=[inp.reissue_id, event],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
