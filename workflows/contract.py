"""A contract's life (S-3, S-5; manual 003 sections 2.2 and 2.4), one run per term or certificate.

1. Established by the first certificate of a new application (the application starts this).
2. While the certificate expires before the term does, 「証明書の差し替え」 reminders go out before
   it expires (the replacement itself comes through the reissue path).
3. Before the term ends, 「更新のご案内」: a fixed-term contract asks for 更新申請; an automatic one
   says it renews unless 解約 is filed before the cut-off.
4. At the term's end an automatic contract (or one whose 更新申請 was filed) starts its next term
   and this run continues as new; otherwise the contract ends and its certificate is left to expire.
5. 解約 at any time: at the term's end (reversible until the cut-off), or at once with revocation.

Every reminder is sent once (its key is kept across runs); one made moot (a replaced certificate,
a filed renewal, 解約) or unwanted (更新のご案内メール off) is skipped by the activity.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import ContractActivities, ContractChange, ContractFacts, ContractReminder, ContractTerms
    from domain import contract_life as life
    from workflows.waiting import wait_until

ACTIVITY_TIMEOUT = timedelta(minutes=2)


@dataclass
class ContractInput:
    contract_id: int
    code: str
    terms: ContractTerms = field(default_factory=ContractTerms)
    done: list[str] = field(default_factory=list)  # reminder keys already handled by earlier runs


@dataclass
class Cancellation:
    actor: str
    at_once: bool = False  # with revocation, today; otherwise at the term's end


@dataclass
class ContractStatus:
    state: str
    term_end: str
    certificate_not_after: str
    next_reminder: str  # its key, "" when none is waiting
    next_reminder_at: str


workflow_id = life.workflow_id


async def tell_contract(application_id: int) -> None:
    """From another process: the record's new certificate is now its contract's (a replacement, a
    reissue); the contract's process looks again."""
    code: str = await workflow.execute_activity_method(
        ContractActivities.take_certificate, application_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
    if code:
        try:
            await workflow.get_external_workflow_handle(workflow_id(code)).signal(Contract.facts_changed)
        except ApplicationError:
            pass  # its process has ended (or starts later and reads the row then)


@workflow.defn
class Contract:
    @workflow.init
    def __init__(self, inp: ContractInput) -> None:
        self.inp = inp
        self.facts: ContractFacts | None = None
        self.changed = False
        self.done = set(inp.done)
        self.next: life.Reminder | None = None

    # --- what people and other processes tell it ------------------------------------------------

    @workflow.signal
    def facts_changed(self) -> None:
        """The row changed elsewhere (a replacement issued, a renewal filed, contacts changed): look again."""
        self.changed = True

    @workflow.update
    async def file_cancellation(self, request: Cancellation) -> str:
        change = ContractChange(self.inp.contract_id, request.actor, self._facts().term_end)
        if request.at_once:
            await workflow.execute_activity_method(ContractActivities.cancel_now, change,
                                                   start_to_close_timeout=ACTIVITY_TIMEOUT)
        else:
            await workflow.execute_activity_method(ContractActivities.file_cancellation, change,
                                                   start_to_close_timeout=ACTIVITY_TIMEOUT)
        return self._now(life.CANCELLED if request.at_once else life.ENDING)

    @file_cancellation.validator
    def _may_cancel(self, request: Cancellation) -> None:
        f = self._facts()
        refused = life.cancel_refusal(f.contract_type, f.state, workflow.now(), datetime.fromisoformat(f.term_end),
                                      self.inp.terms.cancel_cutoff_days, request.at_once)
        if refused:
            raise ApplicationError(refused, type=refused, non_retryable=True)

    @workflow.update
    async def withdraw_cancellation(self, actor: str) -> str:
        await workflow.execute_activity_method(
            ContractActivities.withdraw_cancellation, ContractChange(self.inp.contract_id, actor),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        return self._now(life.ACTIVE)

    def _now(self, state: str) -> str:
        """The state a person's step put the contract in, at once (the next step's validator sees it);
        the main loop reads the row again."""
        self.facts = replace(self._facts(), state=state)
        self.changed = True
        return state

    @withdraw_cancellation.validator
    def _may_withdraw(self, actor: str) -> None:
        f = self._facts()
        refused = life.withdraw_refusal(f.state, workflow.now(), datetime.fromisoformat(f.term_end),
                                        self.inp.terms.cancel_cutoff_days)
        if refused:
            raise ApplicationError(refused, type=refused, non_retryable=True)

    @workflow.query
    def status(self) -> ContractStatus:
        f = self._facts()
        return ContractStatus(f.state, f.term_end, f.certificate_not_after, self.next.key if self.next else "",
                              self.next.at.isoformat() if self.next else "")

    def _facts(self) -> ContractFacts:
        if self.facts is None:
            raise ApplicationError("the contract is being read", type="contract_starting", non_retryable=True)
        return self.facts

    # --- the timers ------------------------------------------------------------------------------

    def reminders(self, f: ContractFacts) -> list[life.Reminder]:
        """What is still to be sent for the contract as it is now, earliest first."""
        days = self.inp.terms.reminder_days
        term_end, not_after = datetime.fromisoformat(f.term_end), datetime.fromisoformat(f.certificate_not_after)
        due: list[life.Reminder] = []
        if f.state in (life.ACTIVE, life.ENDING) and life.needs_replacement(not_after, term_end):
            due += life.ladder(life.CERTIFICATE, not_after, days, datetime.fromisoformat(f.certificate_not_before))
        if f.state == life.ACTIVE and not f.renewal_filed:
            due += life.ladder(life.TERM, term_end, days, datetime.fromisoformat(f.term_start))
        now = workflow.now()  # a target already past (an expired certificate, an old term) needs no notice
        return sorted((r for r in due if r.key not in self.done and r.target > now), key=lambda r: r.at)

    async def _look(self) -> ContractFacts:
        self.changed = False
        self.facts = await workflow.execute_activity_method(
            ContractActivities.contract_facts, self.inp.contract_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
        return self.facts

    def _again(self) -> None:
        """A fresh run (and history) for the next term or certificate, keeping what was sent for
        targets still ahead."""
        today = workflow.now().date().isoformat()
        keep = sorted(k for k in self.done if k.split(":")[1] >= today)
        workflow.continue_as_new(ContractInput(self.inp.contract_id, self.inp.code, self.inp.terms, keep))

    @workflow.run
    async def run(self, inp: ContractInput) -> str:
        f = await self._look()
        serial = f.certificate_serial
        while f.state in (life.ACTIVE, life.ENDING):
            term_end = datetime.fromisoformat(f.term_end)
            pending = self.reminders(f)
            self.next = pending[0] if pending else None
            moment = min([r.at for r in pending[:1]] + [term_end])
            if await wait_until(lambda: self.changed, moment):
                f = await self._look()
                if f.certificate_serial != serial:  # replaced: a fresh run for the new certificate
                    self._again()
                continue
            now = workflow.now()
            if now >= term_end:
                # 4. The term's end: the next term, or the end.
                if life.renews(f.contract_type, f.state) or (f.state == life.ACTIVE and f.renewal_filed):
                    await workflow.execute_activity_method(
                        ContractActivities.renew_contract, ContractChange(inp.contract_id, "timer", f.term_end),
                        start_to_close_timeout=ACTIVITY_TIMEOUT)
                    self._again()
                await workflow.execute_activity_method(
                    ContractActivities.end_contract, ContractChange(inp.contract_id, "timer", f.term_end),
                    start_to_close_timeout=ACTIVITY_TIMEOUT)
                return life.ENDED
            for reminder in pending:
                if reminder.at > now:
                    break
                await workflow.execute_activity_method(
                    ContractActivities.send_contract_reminder,
                    ContractReminder(inp.contract_id, reminder.topic, reminder.target.isoformat(), reminder.days),
                    start_to_close_timeout=ACTIVITY_TIMEOUT)
                self.done.add(reminder.key)
            if workflow.info().is_continue_as_new_suggested():
                self._again()
        return f.state
