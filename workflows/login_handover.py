"""The portal's login certificate for a new person in charge (S-12; manual 003 FAQ Q2).

「担当者が変更になり…別の端末からログインをできるようにしたい」: the customer calls support with the
特約店コード and the access key. Staff open this process on the desk.

1. Support verifies the caller by phone (``login_reissue_new_person``: approve, or reject with a
   reason), due in a few business days, reminded a business day before, escalated when it passes.
2a. Rejected: the customer is told why; the login certificate in use stays.
2b. Approved: the new person is invited to the login certificate service's registration (one-time
    password, secret question, their own key and PKCS#12 on their own device), a registration
    like any tenant's, under the portal's own tenant.
3. Once the new person has downloaded it, the new certificate becomes the account's second factor
   and the one it replaces is revoked (superseded); the customer is told. A registration that
   ends without a download (expired, locked) changes nothing: the customer is told that too.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.login_certificates import LoginCertActivities, LoginRevocation
    from activities.login_handover import HandoverFacts, HandoverRef, Invitation, LoginHandoverActivities
    from activities.tasks import TaskRequest
    from domain.business_calendar import CalendarSpec
    from workflows.human_task import HumanTaskWorkflow, business_due
    from workflows.login_delivery import DeliveryTerms
    from workflows.login_registration import DOWNLOADED_SIGNAL, LoginCertRegistration, RegistrationInput

ACTIVITY_TIMEOUT = timedelta(minutes=2)


@dataclass
class HandoverInput:
    handover_key: str  # random, given when staff opened it: names the new person's login user
    customer_id: int
    person_name: str  # the new person in charge: the certificate's name (CN) and where the invitation goes
    person_email: str
    stated_reseller_code: str  # what the caller said; staff compare it with the account's
    requested_by: str  # "staff:<username>"
    language: str = "ja"
    business_days: int = 3
    calendar: CalendarSpec = field(default_factory=CalendarSpec)
    otp_seconds: float = 7 * 86400
    otp_max_attempts: int = 5
    terms: DeliveryTerms = field(default_factory=DeliveryTerms)


def workflow_id(customer_id: int) -> str:
    """One open handover per account at a time; a later one may follow when it has ended."""
    return f"login-handover-{customer_id}"


@workflow.defn
class PortalLoginHandover(HumanTaskWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self.downloaded = False

    @workflow.signal(name=DOWNLOADED_SIGNAL)
    def certificate_downloaded(self) -> None:
        self.downloaded = True

    @workflow.run
    async def run(self, inp: HandoverInput) -> str:
        ref = HandoverRef(inp.handover_key, inp.customer_id, inp.person_name, inp.person_email, inp.language)

        # 1. Support verifies the caller: 特約店コード and access key.
        seen: HandoverFacts = await workflow.execute_activity_method(
            LoginHandoverActivities.handover_facts, args=[ref, inp.stated_reseller_code],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        due = await business_due(inp.business_days, inp.calendar)
        info = workflow.info()
        decision = await self.human_task(TaskRequest(
            task_key=f"{info.workflow_id}/{info.run_id}/verify", kind="login_reissue_new_person", title=seen.title,
            subject=f"customer:{inp.customer_id}", workflow_id=info.workflow_id, due_at=due.due_at,
            remind_at=due.remind_at, facts={**seen.facts, "requested_by": inp.requested_by,
                                            "expected_by": due.promised}))
        if decision is None:  # nothing here abandons the task; a run that finds it so must stop, not retry
            raise ApplicationError("the identity check ended without a decision", type="no_decision",
                                   non_retryable=True)

        # 2a. Rejected.
        if decision.outcome != "approve":
            await self._tell(ref, "rejected", decision.note)
            return "rejected"

        # 2b. The new person registers, as any tenant's user does.
        invitation: Invitation = await workflow.execute_activity_method(
            LoginHandoverActivities.invite_new_person, args=[ref, decision.actor, inp.otp_seconds],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        registration = await workflow.start_child_workflow(
            LoginCertRegistration.run,
            RegistrationInput(invitation.enrollment_id, inp.otp_seconds, inp.otp_max_attempts, inp.terms),
            id=invitation.workflow_id, parent_close_policy=ParentClosePolicy.ABANDON)
        # The registration signals its download; it ends only after its replay window.
        await workflow.wait_condition(lambda: self.downloaded or registration.done())
        if not self.downloaded:
            outcome: str = await registration
            await self._tell(ref, "not_completed", outcome)
            return outcome

        # 3. The new certificate is the account's; the old one goes.
        replaced: str = await workflow.execute_activity_method(
            LoginHandoverActivities.bind_new_certificate, args=[ref, invitation.enrollment_id],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        if replaced:
            await workflow.execute_activity_method(
                LoginCertActivities.revoke_login_certificate,
                LoginRevocation(replaced, "superseded", f"workflow:{info.workflow_id}"),
                start_to_close_timeout=ACTIVITY_TIMEOUT)
        await self._tell(ref, "completed", "")
        return "completed"

    async def _tell(self, ref: HandoverRef, event: str, note: str) -> None:
        await workflow.execute_activity_method(
            LoginHandoverActivities.mail_handover, args=[ref, event, note], start_to_close_timeout=ACTIVITY_TIMEOUT)
