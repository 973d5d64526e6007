"""担当者変更申請 (S-5; manual 003 section 2.4): a staff task, then the contract's contacts change.

1. The customer files the change (a record of type ``contact_change`` holding the new contacts).
2. Staff check it (``contact_change_review``: approve, or reject with a reason), due in a few
   business days, reminded a business day before and escalated when it passes.
3a. Approved: the contract takes the new contacts (the revocation phone check calls them from
    then on), the record is completed, the customer is told.
3b. Rejected: the record is rejected with the reason, the customer is told; the contract's
    contacts stay as they were.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contact_changes import ContactChangeActivities, ContactChangeDecision, ContactChangeFacts
    from activities.tasks import TaskRequest
    from domain.business_calendar import CalendarSpec
    from workflows.human_task import HumanTaskWorkflow, business_due
    from workflows.received import confirm_received

ACTIVITY_TIMEOUT = timedelta(minutes=2)


@dataclass
class ContactChangeInput:
    application_id: int  # the contact change's own record; everything else is read from it
    customer_id: int
    business_days: int = 3
    calendar: CalendarSpec = field(default_factory=CalendarSpec)


def workflow_id(application_id: int) -> str:
    return f"contact-change-{application_id}"


@workflow.defn
class ContactChange(HumanTaskWorkflow):
    @workflow.run
    async def run(self, inp: ContactChangeInput) -> str:
        await confirm_received(inp.application_id)
        # 1. What staff will compare: the contract's contacts and the new ones.
        seen: ContactChangeFacts = await workflow.execute_activity_method(
            ContactChangeActivities.contact_change_facts, inp.application_id,
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        due = await business_due(inp.business_days, inp.calendar)
        info = workflow.info()

        # 2. Staff check it.
        decision = await self.human_task(TaskRequest(
            task_key=f"{info.workflow_id}/{info.run_id}/review", kind="contact_change_review", title=seen.title,
            subject=f"application:{inp.application_id}", workflow_id=info.workflow_id, due_at=due.due_at,
            remind_at=due.remind_at, facts={**seen.facts, "expected_by": due.promised}))
        if decision is None:  # nothing here abandons the task; a run that finds it so must stop, not retry
            raise ApplicationError("the contact change review ended without a decision",
                                   type="no_decision", non_retryable=True)
        change = ContactChangeDecision(inp.application_id, decision.actor, decision.note)

        # 3a. Approved: the contract's contacts change.
        if decision.outcome == "approve":
            await workflow.execute_activity_method(
                ContactChangeActivities.apply_contact_change, change, start_to_close_timeout=ACTIVITY_TIMEOUT)
            await workflow.execute_activity_method(
                ContactChangeActivities.mail_contact_change, args=[inp.application_id, "completed", seen.roles],
                start_to_close_timeout=ACTIVITY_TIMEOUT)
            return "completed"

        # 3b. Rejected: nothing changes but the record.
        await workflow.execute_activity_method(
            ContactChangeActivities.reject_contact_change, change, start_to_close_timeout=ACTIVITY_TIMEOUT)
        await workflow.execute_activity_method(
            ContactChangeActivities.mail_contact_change, args=[inp.application_id, "rejected", seen.roles],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        return "rejected"
