"""A new server certificate application (S-2, manual section 2).

Received (申込受付) -> validating (認証待ち): a child ``DomainValidation`` proves control of every
name (BR 3.2.2.4) from every network perspective; when the Random Values' time runs out the
application is returned to the customer -> reviewing (審査中): an ``application_review`` task.
``request_documents`` marks the record as documents pending (the manual's "!") until staff
record the documents as received, and the review starts again; ``approve`` checks CAA from
every perspective (BR 3.2.2.8, 3.2.2.9) — a refusal goes back to the review with the reason —
then issues the certificate from the vetted record and assigns the contract code; ``reject``
ends it. The customer may cancel (申請取消) until issuance.

While it is vetted, staff record the organization, phone callback and EV checks
(``record_check``); ``approve`` is refused by the update validator until the checklist
(domain.vetting.checklist) is complete, with the reasons.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.applications import ApplicationActivities, ApplicationRef, StatusChange
    from activities.calendar import DeadlineRequest, Deadlines, business_deadlines
    from activities.contracts import ContractActivities, ContractRef
    from activities.tasks import TaskRequest
    from activities.vetting import CaaAnswer, CaaOutcome, CaaRequest, DomainValidationActivities, PerspectiveActivities
    from activities.vetting_checks import ApprovalFacts, VettingCheckActivities, VettingCheckEntry
    from domain.business_calendar import CalendarSpec
    from domain.vetting import checks
    from domain.vetting.checklist import approval_refusals
    from domain.vetting.mpic import TooFewPerspectives, corroborated
    from workflows.contract import Contract, ContractInput, tell_contract
    from workflows.contract import workflow_id as contract_workflow_id
    from workflows.domain_validation import DomainValidation, DomainValidationInput, DomainValidationResult
    from workflows.domain_validation import workflow_id as domain_validation_id
    from workflows.human_task import HumanTaskWorkflow, TaskDecision
    from workflows.received import confirm_received
    from workflows.reissue import revoke_previous

ACTIVITY_TIMEOUT = timedelta(minutes=2)
# Runs that started before vetting existed keep their old path on replay.
VETTING = "vetting-dcv-caa"
CHECKLIST = "vetting-checklist"  # approve waits for the recorded checks
CAA_PARAMETERS = "caa-rfc8657"  # CAA records' accounturi and validationmethods are honoured
CONTRACT = "contract-lifecycle"  # the first certificate establishes a contract, which lives on its own
REPLACEMENT, RENEWAL, SWITCH = "replacement", "renewal", "switch"  # kinds of application within a contract
PERSPECTIVE_TIMEOUT = timedelta(seconds=60)


@dataclass
class ApplicationInput:
    application_id: int
    customer_id: int
    title: str  # e.g. "www.example.co.jp (ov)"
    review_business_days: int = 3
    calendar: CalendarSpec = field(default_factory=CalendarSpec)
    remote_perspectives: list[str] = field(default_factory=list)  # task queues: perspective-<name>
    # new; renewal (更新申請, vetted as new); replacement: the next certificate of a contract
    # (「証明書の差し替え」), approved without a person while every check it stands on may be reused;
    # switch (別サービスへ切り替え, vetted as the new product requires): then the previous certificate
    # (``previous_serial``) is revoked at once or after ``delay_seconds``, as a reissue does.
    kind: str = "new"
    previous_serial: str = ""
    revoke_previous: str = "immediately"  # immediately | after_two_weeks
    delay_seconds: float = 14 * 86400


@dataclass
class ApplicationResult:
    status: str  # issued | rejected | cancelled | returned
    serial: str | None = None


def workflow_id(application_id: int) -> str:
    return f"application-{application_id}"


@workflow.defn
class ServerCertApplication(HumanTaskWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self._issuing = False
        self._cancelled_by: str | None = None
        self._approval: ApprovalFacts | None = None  # what approval stands on, while it is vetted

    def refusals(self) -> list[str]:
        """What still stops approval now (domain.vetting.checklist codes); [] when nothing does."""
        if self._approval is None:
            return []
        # The checklist reads the Public Suffix List (a packaged file, the same on every replay).
        with workflow.unsafe.sandbox_unrestricted():
            return approval_refusals(self._approval.facts(workflow.now()))

    def check_decision(self, kind: str, decision: TaskDecision) -> None:
        if kind == "application_review" and decision.outcome == "approve" and (missing := self.refusals()):
            raise ApplicationError(" ".join(missing), type="checklist_incomplete", non_retryable=True)

    @workflow.update
    async def record_check(self, entry: VettingCheckEntry) -> list[str]:
        """A check the desk recorded; what still stops approval."""
        info = workflow.info()
        update = workflow.current_update_info()
        entry.check_key = f"{info.workflow_id}/{update.id if update else entry.check_key}"
        self._approval = await workflow.execute_activity_method(
            VettingCheckActivities.record_check, entry, start_to_close_timeout=ACTIVITY_TIMEOUT)
        return self.refusals()

    @record_check.validator
    def _validate_record_check(self, entry: VettingCheckEntry) -> None:
        if self._approval is None or self._issuing or self._cancelled_by:
            raise ApplicationError("checks are recorded while the application is being vetted",
                                   type="not_vetting", non_retryable=True)
        refused = checks.refusal(entry.check, entry.source, entry.reference, entry.outcome, entry.note)
        if refused is not None:
            raise ApplicationError(f"{refused[0]}: {refused[1]}", type=refused[1], non_retryable=True)

    @workflow.query
    def missing_checks(self) -> list[str]:
        return self.refusals()

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

    async def _validate_domains(self, inp: ApplicationInput) -> ApplicationResult | None:
        """認証待ち until every name is validated; the result when the application ends here."""
        await self._status(inp, "validating", "workflow")
        child = await workflow.start_child_workflow(
            DomainValidation.run, DomainValidationInput(inp.application_id, inp.customer_id, inp.remote_perspectives),
            id=domain_validation_id(inp.application_id))
        await workflow.wait_condition(lambda: child.done() or self._cancelled_by is not None)
        if not child.done():
            child.cancel()  # the customer cancelled while the names were being validated
            return await self._cancelled(inp)
        validated: DomainValidationResult = await child
        if validated.status != "validated":
            await self._status(inp, "returned", "timer", ", ".join(validated.expired))
            await self._mail(inp, "dcv_expired")
            return ApplicationResult("returned")
        return None

    async def _caa_refusal(self, inp: ApplicationInput, round_: int) -> str | None:
        """CAA for every name from every perspective right before signing: None when it permits."""
        if workflow.patched(CAA_PARAMETERS):
            req: CaaRequest = await workflow.execute_activity_method(
                DomainValidationActivities.caa_request, inp.application_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
            names = req.names
        else:
            names = await workflow.execute_activity_method(
                DomainValidationActivities.names, inp.application_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
            req = CaaRequest(names)

        async def look(queue: str | None) -> CaaAnswer | None:
            try:
                return await workflow.execute_activity_method(
                    PerspectiveActivities.check_caa, req, task_queue=queue,
                    schedule_to_close_timeout=PERSPECTIVE_TIMEOUT)
            except ActivityError:
                return None  # no answer: it does not corroborate

        primary, *remote = await asyncio.gather(look(None), *(look(q) for q in inp.remote_perspectives))
        results: dict[str, tuple[bool, str]] = {}
        for name in names:
            seen = primary.decisions.get(name, "no_answer") if primary is not None else "no_answer"
            try:
                verdict = corroborated(primary is not None and primary.permitted.get(name) is True,
                                       [a is not None and a.permitted.get(name) is True for a in remote],
                                       workflow.now())
            except TooFewPerspectives as too_few:
                raise ApplicationError(str(too_few), type="too_few_perspectives", non_retryable=True) from None
            # What the primary saw says why (e.g. issuer_not_authorized: other-ca.example); else the quorum's reason.
            reason = seen if verdict.passed or verdict.reason_code == "primary_failed" else verdict.reason_code
            results[name] = (verdict.passed, reason)
        info = workflow.info()
        refused: list[str] = await workflow.execute_activity_method(
            DomainValidationActivities.record_caa,
            CaaOutcome(inp.application_id, f"{info.workflow_id}/{info.run_id}/caa-{round_}", results,
                       [a for a in (primary, *remote) if a is not None], info.workflow_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        return "; ".join(f"{n}: {results[n][1]}" for n in refused) or None

    @workflow.run
    async def run(self, inp: ApplicationInput) -> ApplicationResult:
        await confirm_received(inp.application_id)
        vetting = workflow.patched(VETTING)
        checklist = vetting and workflow.patched(CHECKLIST)
        if vetting:
            ended = await self._validate_domains(inp)
            if ended is not None:
                return ended
            await self._status(inp, "reviewing", "workflow")
        round_ = 1
        caa_refusal: str | None = None
        while True:
            # 1. Staff vet the application.
            facts = {"round": str(round_), **({"caa_refused": caa_refusal} if caa_refusal else {})}
            if checklist:
                self._approval = await workflow.execute_activity_method(
                    VettingCheckActivities.approval_facts, inp.application_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
            if inp.kind == REPLACEMENT and round_ == 1 and self._approval is not None and not self.refusals():
                review = TaskDecision(0, "approve", "", "workflow:reuse", "support")  # nothing to vet anew
            else:
                review = await self._task(inp, "application_review", f"review-{round_}", facts)
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
                    await self._status(inp, "reviewing" if vetting else "received", documents.actor)
                    round_ += 1
                    continue
                review = documents  # rejected while waiting for documents
            if review.outcome != "approve":
                await self._status(inp, "rejected", review.actor, review.note)
                await self._mail(inp, "rejected")
                return ApplicationResult("rejected")
            if vetting:
                # 3. CAA, from every perspective, right before signing: a refusal goes back to the review.
                caa_refusal = await self._caa_refusal(inp, round_)
                if caa_refusal is not None:
                    round_ += 1
                    continue
            break

        # 4. Approved: the certificate from the vetted record; the customer is told it is ready.
        self._issuing = True
        self._approval = None
        serial: str = await workflow.execute_activity_method(
            ApplicationActivities.issue_application_certificate,
            ApplicationRef(inp.application_id, workflow.info().workflow_id, review.actor, vetted=vetting),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        await self._mail(inp, "issued")
        if inp.kind in (REPLACEMENT, RENEWAL, SWITCH):
            await tell_contract(inp.application_id)  # its certificate is the contract's from now on
            if inp.kind == SWITCH and inp.previous_serial:
                await revoke_previous(inp.application_id, inp.previous_serial, inp.revoke_previous,
                                      inp.delay_seconds, review.actor, lambda: False)
        elif workflow.patched(CONTRACT):
            await self._establish_contract(inp)
        return ApplicationResult("issued", serial)

    async def _establish_contract(self, inp: ApplicationInput) -> None:
        """5. The contract's own process, which outlives this one (its timers run for years)."""
        ref: ContractRef | None = await workflow.execute_activity_method(
            ContractActivities.establish_contract, inp.application_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
        if ref is None:
            return
        try:
            await workflow.start_child_workflow(
                Contract.run, ContractInput(ref.contract_id, ref.code, ref.terms), id=contract_workflow_id(ref.code),
                parent_close_policy=ParentClosePolicy.ABANDON)
        except WorkflowAlreadyStartedError:
            pass  # start-up reconciliation started it first

    async def _cancelled(self, inp: ApplicationInput) -> ApplicationResult:
        actor = self._cancelled_by or "customer"
        await workflow.execute_activity_method(
            ApplicationActivities.close_application_tasks, args=[workflow.info().workflow_id, actor],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        await self._status(inp, "cancelled", actor)
        return ApplicationResult("cancelled")
