"""What registration and reissue share (L-1, L-3): counted attempts, and the download.

The person's steps arrive as updates whose argument says only whether the secret was right
(the API checks it against the stored hash), so no secret enters a workflow history. The
validators refuse at once, with the process's state as the error type, a step the process
is not waiting for; the handlers count wrong tries and lock at the configured limit.

While the key waits to be downloaded, 「ダウンロードパスワードを忘れた」 gives a new download password
for the right secret answer; wrong answers are counted like the reissue's, and at the limit a
support task decides whether the person may try again. The download password a browser was
shown is kept sealed for that browser a short while (a lost answer); a timer forgets it.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.calendar import DeadlineRequest, Deadlines, business_deadlines
    from activities.login_certificates import (
        DOWNLOAD_STEP,
        DraftRef,
        EnrollmentChange,
        EnrollmentFacts,
        Issuance,
        LoginCertActivities,
        LoginRevocation,
    )
    from activities.tasks import TaskActivities, TaskOutcome, TaskRequest
    from domain import enrollment as e
    from domain.business_calendar import CalendarSpec
    from workflows.human_task import HumanTaskWorkflow
    from workflows.waiting import wait_until

ACTIVITY_TIMEOUT = timedelta(minutes=2)
UNLOCK_BUSINESS_DAYS = 1  # a locked secret answer waits this long for support


@dataclass
class Attempt:
    correct: bool
    draft_id: int = 0  # the hashes the API prepared for this step (secret steps only)


@dataclass
class AttemptAnswer:
    accepted: bool
    attempts_left: int
    state: str


@dataclass
class DeliveryTerms:
    download_seconds: float = 14 * 86400
    download_max_attempts: int = 5
    answer_replay_seconds: float = 600  # how long a browser may ask again for its download password
    answer_max_attempts: int = 5  # wrong secret answers before 「ダウンロードパスワードを忘れた」 locks
    calendar: CalendarSpec = field(default_factory=CalendarSpec)


class LoginCertProcess(HumanTaskWorkflow):
    def __init__(self, enrollment_id: int, terms: DeliveryTerms) -> None:
        HumanTaskWorkflow.__init__(self)
        self.enrollment_id = enrollment_id
        self.terms = terms
        self.state = e.OTP
        self.replaced = False
        self.download_attempts = e.Attempts(terms.download_max_attempts)
        self.forgot_answers = e.Attempts(terms.answer_max_attempts)
        self.resetting = False  # a new download password is being set
        self.unlock_preparing = False  # a lock's support task is about to be opened
        self.lingering: asyncio.Task[None] | None = None  # forgetting a downloaded PKCS#12 kept for a retry
        self.previous_serial = ""

    @workflow.query
    def status(self) -> str:
        return self.state

    def require(self, *states: str) -> None:
        """Refuses a step the process is not waiting for; the error type is the state it is in."""
        if self.replaced:
            raise ApplicationError("this invitation was replaced by a newer one", type=e.REPLACED,
                                   non_retryable=True)
        if self.state not in states:
            raise ApplicationError(f"not possible now: the process is {self.state}", type=self.state,
                                   non_retryable=True)

    @workflow.update
    async def download(self, attempt: Attempt) -> AttemptAnswer:
        if attempt.correct:
            self.state = e.DELIVERING
            self.previous_serial = await workflow.execute_activity_method(
                LoginCertActivities.finish_download, args=[self.enrollment_id, "end_user"],
                start_to_close_timeout=ACTIVITY_TIMEOUT)
            self.state = e.DOWNLOADED
            if workflow.patched("download-replay"):
                # The PKCS#12 the API kept for a retry of this download is forgotten when its window
                # closes; the process waits for that before it ends (``linger``).
                self.lingering = asyncio.create_task(self._forget_after([DOWNLOAD_STEP]))
            return AttemptAnswer(True, self.download_attempts.left, self.state)
        left = self.download_attempts.fail()
        if self.download_attempts.locked:
            self.state = e.DOWNLOAD_LOCKED
        return AttemptAnswer(False, left, self.state)

    @download.validator
    def _may_download(self, attempt: Attempt) -> None:
        self.require(e.DOWNLOAD)

    @workflow.update
    async def reset_download_password(self, attempt: Attempt) -> AttemptAnswer:
        """「ダウンロードパスワードを忘れた」: the secret answer, checked by the API, and a new download
        password (the draft); the old one stops working, the download window stays as it was."""
        if not attempt.correct:
            left = self.forgot_answers.fail()
            if not self.forgot_answers.locked:
                return AttemptAnswer(False, left, self.state)
            asyncio.create_task(self._await_unlock())
            return AttemptAnswer(False, 0, e.ANSWER_LOCKED)
        self.resetting = True
        try:
            await workflow.execute_activity_method(
                LoginCertActivities.reset_download_password, DraftRef(self.enrollment_id, attempt.draft_id, "end_user"),
                start_to_close_timeout=ACTIVITY_TIMEOUT)
            await workflow.execute_activity_method(
                LoginCertActivities.mail_enrollment,
                args=[self.enrollment_id, "login_download_password_reset", str(attempt.draft_id)],
                start_to_close_timeout=ACTIVITY_TIMEOUT)
        finally:
            self.resetting = False
        # Who proves the secret answer starts afresh: the wrong guesses were at a password now gone.
        self.forgot_answers.reset()
        self.download_attempts.reset()
        return AttemptAnswer(True, self.forgot_answers.left, self.state)

    @reset_download_password.validator
    def _may_reset_download_password(self, attempt: Attempt) -> None:
        self.require(e.DOWNLOAD)
        if self.resetting:  # one at a time: the person sees the one they asked for
            raise ApplicationError("a new download password is being set", type=e.RESETTING, non_retryable=True)
        if self.forgot_answers.locked:
            raise ApplicationError("the secret answer is locked until support unlocks it", type=e.ANSWER_LOCKED,
                                   non_retryable=True)

    async def _await_unlock(self) -> None:
        self.unlock_preparing = True
        facts: EnrollmentFacts = await workflow.execute_activity_method(
            LoginCertActivities.describe_enrollment, self.enrollment_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
        deadline = await self.unlock_deadline(self.terms.calendar)
        self.unlock_preparing = False  # human_task marks the task as being opened before it yields
        if await self.unlock_task("download_answer_unlock", "download-answer-unlock", facts.user, facts.public_id,
                                  facts.certificate_serial, deadline):
            self.forgot_answers.reset()

    async def unlock_deadline(self, calendar: CalendarSpec) -> str:
        now = workflow.now().replace(second=0, microsecond=0)
        deadlines: Deadlines = await workflow.execute_activity(
            business_deadlines, DeadlineRequest(now.isoformat(), [UNLOCK_BUSINESS_DAYS], calendar),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        return deadlines.moments[0]

    async def unlock_task(self, kind: str, key: str, user: str, public_id: str, serial: str, due_at: str) -> bool:
        """A support task on whether a locked secret answer may be tried again: True to unlock."""
        decision = await self.human_task(TaskRequest(
            task_key=f"{workflow.info().workflow_id}/{key}-{len(self._decisions) + 1}",
            kind=kind,
            title=user,
            subject=f"enrollment:{public_id}",
            workflow_id=workflow.info().workflow_id,
            due_at=due_at,
            facts={"user": user, "certificate": serial},
        ))
        return decision is not None and decision.outcome == "unlock"

    async def adopt_draft(self, draft_id: int, attempts_left: int) -> AttemptAnswer:
        """The person's secret step is done: the hashes the API prepared become the real ones."""
        self.state = e.REGISTERING
        await workflow.execute_activity_method(
            LoginCertActivities.register_credentials, DraftRef(self.enrollment_id, draft_id, "end_user"),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        self.state = e.ISSUING
        if workflow.patched("sealed-answers"):
            self.forget_sealed_later()
        return AttemptAnswer(True, attempts_left, self.state)

    def forget_sealed_later(self) -> None:
        """The download password the API sealed for the person's browser is forgotten when its
        window closes (the download and the end of the delivery forget it sooner)."""
        async def forget() -> None:
            await workflow.sleep(self.terms.answer_replay_seconds)
            if self.state not in (e.DOWNLOADED, e.DELIVERING) and self.state not in e.ENDED:
                await workflow.execute_activity_method(
                    LoginCertActivities.forget_sealed_answers, self.enrollment_id,
                    start_to_close_timeout=ACTIVITY_TIMEOUT)

        asyncio.create_task(forget())

    async def _forget_after(self, steps: list[str]) -> None:
        await workflow.sleep(self.terms.answer_replay_seconds)
        await workflow.execute_activity_method(
            LoginCertActivities.forget_sealed_answers, args=[self.enrollment_id, steps],
            start_to_close_timeout=ACTIVITY_TIMEOUT)

    async def linger(self) -> None:
        """Before the process ends: what it keeps for a retry's sake is forgotten first."""
        if self.lingering is not None:
            await self.lingering

    async def mirror(self, state: str, actor: str, expires_at: datetime | None = None) -> None:
        await workflow.execute_activity_method(
            LoginCertActivities.set_enrollment_state,
            EnrollmentChange(self.enrollment_id, state, actor, expires_at.isoformat() if expires_at else None),
            start_to_close_timeout=ACTIVITY_TIMEOUT)

    async def settle(self, *busy: str) -> None:
        """A step in flight when a timer fires finishes first (its person already got an answer)."""
        await workflow.wait_condition(lambda: self.state not in busy)

    async def deliver(self, mail_event: str = "login_download_guide") -> str:
        """Issue, mail the download guide, and wait for the download or the window to close.
        Returns the final state."""
        deadline = workflow.now() + timedelta(seconds=self.terms.download_seconds)
        await workflow.execute_activity_method(
            LoginCertActivities.issue_certificate,
            Issuance(self.enrollment_id, workflow.info().workflow_id, deadline.isoformat()),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        self.state = e.DOWNLOAD
        await workflow.execute_activity_method(
            LoginCertActivities.mail_enrollment, args=[self.enrollment_id, mail_event],
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        await wait_until(lambda: self.state != e.DOWNLOAD or self.replaced, deadline)
        await self.settle(e.DELIVERING)
        await workflow.wait_condition(lambda: not self.resetting)
        if self.state == e.DOWNLOAD:
            self.state = e.REPLACED if self.replaced else e.DOWNLOAD_EXPIRED
        await self.withdraw_open_tasks()
        if self.state == e.DOWNLOADED:
            return self.state
        await workflow.execute_activity_method(
            LoginCertActivities.discard_undelivered,
            EnrollmentChange(self.enrollment_id, self.state, self.actor_of_end()),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        return self.state

    async def withdraw_open_tasks(self) -> None:
        """An unlock task still open when the delivery ends waits for nobody: it is closed as such."""
        await workflow.wait_condition(lambda: not self.unlock_preparing and not any(self._opening.values()))
        for task_id in self.open_tasks():
            await workflow.execute_activity_method(
                TaskActivities.record_task_outcome, TaskOutcome(task_id, "withdrawn", "", self.actor_of_end()),
                start_to_close_timeout=ACTIVITY_TIMEOUT)
        self.abandon_tasks()

    def actor_of_end(self) -> str:
        return "tenant" if self.state == e.REPLACED else "timer" if self.state.endswith(e.EXPIRED) else "end_user"

    async def revoke(self, serial: str, actor: str) -> None:
        await workflow.execute_activity_method(
            LoginCertActivities.revoke_login_certificate, LoginRevocation(serial, "superseded", actor),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
