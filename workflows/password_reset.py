"""Password reset in 2-3 business days (S-11, manual FAQ Q1).

The customer (or support, on the phone with them) asks; support verifies the customer's
identity and resets to a new initial password, or rejects with a reason. The promise made
to the customer is the due date of the task, counted on the business calendar.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.accounts import NewInitialPassword, PasswordResetActivities, PasswordResetRef
    from activities.tasks import TaskRequest
    from domain.business_calendar import CalendarSpec
    from workflows.human_task import HumanTaskWorkflow, business_due
    from workflows.initial_password import InitialPasswordExpiry, InitialPasswordInput
    from workflows.initial_password import workflow_id as expiry_workflow_id

ACTIVITY_TIMEOUT = timedelta(minutes=2)


@dataclass
class PasswordResetInput:
    customer_id: int
    access_key: str
    organization: str
    requested_by: str  # "customer" or "staff:<username>"
    business_days: int = 3
    initial_password_ttl_seconds: float = 30 * 86400
    calendar: CalendarSpec = field(default_factory=CalendarSpec)
    language: str = "ja"


@dataclass
class PasswordResetResult:
    outcome: str  # reset | reject
    password_version: int | None = None


def workflow_id(customer_id: int) -> str:
    return f"password-reset-{customer_id}"


def expected_by(calendar: CalendarSpec, now: datetime, business_days: int) -> date:
    """The date promised to the customer: the task's due time, as a date in the calendar's zone."""
    cal = calendar.to_calendar()
    return cal.local_date(cal.add_business_days(now, business_days))


@workflow.defn
class PasswordReset(HumanTaskWorkflow):
    @workflow.run
    async def run(self, inp: PasswordResetInput) -> PasswordResetResult:
        # 1. Support has `business_days` to act; a reminder one business day before.
        deadlines = await business_due(inp.business_days, inp.calendar)
        due, promised, remind = deadlines.due_at, deadlines.promised, deadlines.remind_at
        decision = await self.human_task(TaskRequest(
            task_key=f"{workflow.info().workflow_id}/{workflow.info().run_id}/verify",
            kind="password_reset",
            title=f"{inp.organization} ({inp.access_key})",
            subject=f"customer:{inp.customer_id}",
            workflow_id=workflow.info().workflow_id,
            due_at=due,
            remind_at=remind,
            facts={"access_key": inp.access_key, "organization": inp.organization,
                   "requested_by": inp.requested_by, "expected_by": promised},
        ))

        expires_at = workflow.now() + timedelta(seconds=inp.initial_password_ttl_seconds)
        if decision is None:  # a reset is never abandoned; a run that finds it so must stop, not retry
            raise ApplicationError("the identity check task ended without a decision",
                                   type="no_decision", non_retryable=True)
        ref = PasswordResetRef(inp.customer_id, f"{workflow.info().workflow_id}/{workflow.info().run_id}",
                               expires_at.isoformat(), inp.language)
        # 2a. Rejected: the customer is told why.
        if decision.outcome != "reset":
            await workflow.execute_activity_method(
                PasswordResetActivities.notify_password_reset_rejected, args=[ref, decision.note],
                start_to_close_timeout=ACTIVITY_TIMEOUT)
            return PasswordResetResult("reject")

        # 2b. Reset: a new initial password by mail, and its own expiry timer.
        new: NewInitialPassword = await workflow.execute_activity_method(
            PasswordResetActivities.reset_customer_password, ref, start_to_close_timeout=ACTIVITY_TIMEOUT)
        await workflow.start_child_workflow(
            InitialPasswordExpiry.run,
            InitialPasswordInput(inp.customer_id, new.password_version, new.expires_at, inp.language),
            id=expiry_workflow_id(inp.customer_id, new.password_version),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        return PasswordResetResult("reset", new.password_version)
