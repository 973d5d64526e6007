"""A new server certificate application (S-2, manual section 2).

Received -> an ``application_review`` task. ``request_documents`` marks the record as
documents pending (the manual's "!") until staff record the documents as received, and the
review starts again; ``approve`` issues the certificate from the vetted record and assigns
the contract code; ``reject`` ends it. The customer may cancel (申請取消) until issuance.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.applications import ApplicationActivities, ApplicationRef, StatusChange
    from activities.calendar import DeadlineRequest, Deadlines, business_deadlines
    from activities.tasks import TaskRequest
    from domain.business_calendar import CalendarSpec
    from workflows.human_task import HumanTaskWorkflow

ACTIVITY_TIMEOUT = timedelta(minutes=2)


@dataclass
class ApplicationInput:
    application_id: int
    customer_id: int
    title: str  # e.g. "www.example.co.jp (ov)"
    review_business_days: int = 3
    calendar: CalendarSpec = field(default_factory=CalendarSpec)


@dataclass
class ApplicationResult:
    status: str  # issued | rejected | cancelled
    serial: str | None = None


def workflow_id(application_id: int) -> str:
    return f"application-{application_id}"


@workflow.defn
class ServerCertApplication(HumanTaskWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self._issuing = False
        self._cancelled_by: str | None = None

    @workflow.update
    async def cancel(self, actor: str) -> str:
        self._cancelled_by = actor
        self.abandon_tasks()
        return "cancelled"

    @cancel.validator
    def _validate_cancel(self, actor: str) -> None:
        if self._issuing:
            raise ApplicationError("the certificate is being issued; it can no longer be cancelled",
                                   type="not_cancellable", non_retryable=True)
        if self._cancelled_by:
            raise ApplicationError("this application is already cancelled", type="not_cancellable",
                                   non_retryable=True)

    async def _status(self, inp: ApplicationInput, status: str, actor: str, note: str = "") -> None:
        await workflow.execute_activity_method(
            ApplicationActivities.set_application_status, StatusChange(inp.application_id, status, actor, note),
            start_to_close_timeout=ACTIVITY_TIMEOUT)

    async def _mail(self, inp: ApplicationInput, event: str) -> None:
        await workflow.execute_activity_method(
            ApplicationActivities.mail_application_event, args=[inp.application_id, event],
            start_to_close_timeout=ACTIVITY_TIMEOUT)

    async def _task(self, inp: ApplicationInput, kind: str, step: str, facts: dict[str, str]):  # type: ignore[no-untyped-def]
        now = workflow.now().replace(second=0, microsecond=0)
        deadlines: Deadlines = await workflow.execute_activity(
            business_deadlines, DeadlineRequest(now.isoformat(), [inp.review_business_days], inp.calendar),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        info = workflow.info()
        return await self.human_task(TaskRequest(
            task_key=f"{info.workflow_id}/{info.run_id}/{step}", kind=kind, title=inp.title,
            subject=f"application:{inp.application_id}", workflow_id=info.workflow_id,
            due_at=deadlines.moments[0], facts={"customer": f"customer:{inp.customer_id}", **facts}))

    @workflow.run
    async def run(self, inp: ApplicationInput) -> ApplicationResult:
        round_ = 1
        while True:
            # 1. Staff vet the application.
            review = await self._task(inp, "application_review", f"review-{round_}", {"round": str(round_)})
            if review is None:
                return await self._cancelled(inp)
            if review.outcome == "request_documents":
                # 2. Documents pending ("!") until staff record them as received.
                await self._status(inp, "documents_pending", review.actor, review.note)
                await self._mail(inp, "documents_requested")
                documents = await self._task(inp, "documents_check", f"documents-{round_}",
                                             {"requested": review.note})
                if documents is None:
                    return await self._cancelled(inp)
                if documents.outcome == "received":
                    await self._status(inp, "received", documents.actor)
                    round_ += 1
                    continue
                review = documents  # rejected while waiting for documents
            if review.outcome != "approve":
                await self._status(inp, "rejected", review.actor, review.note)
                await self._mail(inp, "rejected")
                return ApplicationResult("rejected")
            break

        # 3. Approved: the certificate from the vetted record; the customer is told it is ready.
        self._issuing = True
        serial: str = await workflow.execute_activity_method(
            ApplicationActivities.issue_application_certificate,
            ApplicationRef(inp.application_id, workflow.info().workflow_id, review.actor),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        await self._mail(inp, "issued")
        return ApplicationResult("issued", serial)

    async def _cancelled(self, inp: ApplicationInput) -> ApplicationResult:
        actor = self._cancelled_by or "customer"
        await workflow.execute_activity_method(
            ApplicationActivities.close_application_tasks, args=[workflow.info().workflow_id, actor],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        await self._status(inp, "cancelled", actor)
        return ApplicationResult("cancelled")
