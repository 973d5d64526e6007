"""Revocation with phone confirmation (S-6, manual section 3).

The customer asks and is told "we will call you"; support calls the registered contact and
confirms (the certificate is revoked with the reason, CRL and OCSP show it within seconds)
or rejects (the customer is told; nothing is revoked). The call is due within 24 hours for a
key compromise and 5 days otherwise (BR 4.9.1.1, calendar time), reminded before then and
escalated when it passes.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.applications import ApplicationActivities, RevokeForApplication, StatusChange
    from activities.tasks import TaskRequest
    from domain.revocation import REASONS, confirmation_deadline
    from workflows.human_task import HumanTaskWorkflow
    from workflows.received import confirm_received

ACTIVITY_TIMEOUT = timedelta(minutes=2)


@dataclass
class RevocationInput:
    revocation_id: int  # the revocation's own record
    customer_id: int
    serial: str
    reason: str  # content_change | switching | cessation | key_compromise
    title: str
    contact_name: str
    contact_phone: str


def workflow_id(revocation_id: int) -> str:
    return f"revocation-{revocation_id}"


@workflow.defn
class Revocation(HumanTaskWorkflow):
    @workflow.run
    async def run(self, inp: RevocationInput) -> str:
        await confirm_received(inp.revocation_id)
        # 1. Support calls the registered contact before the BR deadline.
        now = workflow.now().replace(microsecond=0)
        deadline = confirmation_deadline(inp.reason)
        info = workflow.info()
        call = await self.human_task(TaskRequest(
            task_key=f"{info.workflow_id}/{info.run_id}/call", kind="revocation_phone_confirmation",
            title=inp.title, subject=f"application:{inp.revocation_id}", workflow_id=info.workflow_id,
            due_at=(now + deadline).isoformat(), remind_at=(now + deadline * 3 / 4).isoformat(),
            facts={"contact_name": inp.contact_name, "contact_phone": inp.contact_phone, "reason": inp.reason,
                   "serial": inp.serial, "customer": f"customer:{inp.customer_id}"}))
        if call is None:  # nothing here abandons the call; a run that finds it so must stop, not retry
            raise ApplicationError("the phone confirmation task ended without a decision",
                                   type="no_decision", non_retryable=True)

        # 2a. Confirmed: revoked with its reason, published, and the customer told.
        if call.outcome == "confirmed":
            await workflow.execute_activity_method(
                ApplicationActivities.revoke_application_certificate,
                RevokeForApplication(inp.revocation_id, inp.serial, REASONS[inp.reason], call.actor),
                start_to_close_timeout=ACTIVITY_TIMEOUT)
            await workflow.execute_activity_method(
                ApplicationActivities.mail_application_event, args=[inp.revocation_id, "revoked"],
                start_to_close_timeout=ACTIVITY_TIMEOUT)
            return "revoked"

        # 2b. Rejected: nothing is revoked; the customer is told why.
        await workflow.execute_activity_method(
            ApplicationActivities.set_application_status,
            StatusChange(inp.revocation_id, "rejected", call.actor, call.note), start_to_close_timeout=ACTIVITY_TIMEOUT)
        await workflow.execute_activity_method(
            ApplicationActivities.mail_application_event, args=[inp.revocation_id, "revocation_rejected"],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        return "rejected"
