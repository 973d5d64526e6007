"""Reissue of a login certificate (L-3, manual section 5).

1. The old certificate is revoked at once if the website asked for that (a lost device).
2. "証明書再発行手順のご案内" is mailed with the reissue link.
3. The user answers the secret question; wrong answers are counted, and at the limit the
   reissue locks and a ``reissue_unlock`` task asks support: ``unlock`` starts the count (and
   the link's time) again, ``reject`` ends the reissue.
4. A new key and certificate with a new download password, downloaded as in registration;
   the old certificate is revoked (superseded) once the new one is downloaded.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.login_certificates import LoginCertActivities
    from domain import enrollment as e
    from domain.business_calendar import CalendarSpec
    from workflows.login_delivery import ACTIVITY_TIMEOUT, Attempt, AttemptAnswer, DeliveryTerms, LoginCertProcess
    from workflows.waiting import wait_until


@dataclass
class LoginReissueInput:
    enrollment_id: int
    public_id: str
    user: str  # "<tenant name> / <user id>", for the support task's title
    previous_serial: str
    revoke_old: str  # on_download | immediately
    answer_seconds: float = 3 * 86400
    answer_max_attempts: int = 5
    terms: DeliveryTerms = field(default_factory=DeliveryTerms)
    calendar: CalendarSpec = field(default_factory=CalendarSpec)


def workflow_id(public_id: str) -> str:
    return f"login-reissue-{public_id}"


@workflow.defn
class LoginCertReissue(LoginCertProcess):
    @workflow.init
    def __init__(self, inp: LoginReissueInput) -> None:
        LoginCertProcess.__init__(self, inp.enrollment_id, inp.terms)
        self.state = e.ANSWER
        self.answers = e.Attempts(inp.answer_max_attempts)

    @workflow.update
    async def answer(self, attempt: Attempt) -> AttemptAnswer:
        if not attempt.correct:
            left = self.answers.fail()
            if self.answers.locked:
                self.state = e.LOCKED
            return AttemptAnswer(False, left, self.state)
        return await self.adopt_draft(attempt.draft_id, self.answers.left)

    @answer.validator
    def _may_answer(self, attempt: Attempt) -> None:
        self.require(e.ANSWER)

    @workflow.run
    async def run(self, inp: LoginReissueInput) -> str:
        # 1-2. The old certificate at once if asked; the reissue link by mail.
        if inp.revoke_old == "immediately":
            await self.revoke(inp.previous_serial, "tenant")
        await workflow.execute_activity_method(
            LoginCertActivities.mail_enrollment, args=[self.enrollment_id, "login_reissue_guide"],
            start_to_close_timeout=ACTIVITY_TIMEOUT)

        # 3. The secret answer, with support unlocking after too many wrong ones.
        deadline = workflow.now() + timedelta(seconds=inp.answer_seconds)
        while True:
            await wait_until(lambda: self.state in (e.ISSUING, e.LOCKED), deadline)
            await self.settle(e.REGISTERING)
            if self.state == e.ANSWER:
                self.state = e.EXPIRED
            if self.state != e.LOCKED:
                break
            await self.mirror(e.LOCKED, "end_user")
            if await self._unlock_refused(inp):
                self.state = e.REJECTED
                break
            self.answers.reset()
            self.state = e.ANSWER
            deadline = workflow.now() + timedelta(seconds=inp.answer_seconds)
            await self.mirror(e.ANSWER, "staff", expires_at=deadline)
        if self.state != e.ISSUING:
            await self.mirror(self.state, self.actor_of_end())
            return self.state
        await self.mirror(e.ISSUING, "end_user")

        # 4. The new certificate, its download, then the old one goes.
        if await self.deliver() == e.DOWNLOADED and inp.revoke_old == "on_download":
            await self.revoke(inp.previous_serial, "end_user")
        await self.linger()
        return self.state

    async def _unlock_refused(self, inp: LoginReissueInput) -> bool:
        due_at = await self.unlock_deadline(inp.calendar)
        return not await self.unlock_task("reissue_unlock", "unlock", inp.user, inp.public_id, inp.previous_serial,
                                          due_at)
