"""What registration and reissue share (L-1, L-3): counted attempts, and the download.

The person's steps arrive as updates whose argument says only whether the secret was right
(the API checks it against the stored hash), so no secret enters a workflow history. The
validators refuse at once, with the process's state as the error type, a step the process
is not waiting for; the handlers count wrong tries and lock at the configured limit.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.login_certificates import (
        DraftRef,
        EnrollmentChange,
        Issuance,
        LoginCertActivities,
        LoginRevocation,
    )
    from domain import enrollment as e
    from workflows.waiting import wait_until

ACTIVITY_TIMEOUT = timedelta(minutes=2)


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


class LoginCertProcess:
    def __init__(self, enrollment_id: int, terms: DeliveryTerms) -> None:
        self.enrollment_id = enrollment_id
        self.terms = terms
        self.state = e.OTP
        self.replaced = False
        self.download_attempts = e.Attempts(terms.download_max_attempts)
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
            return AttemptAnswer(True, self.download_attempts.left, self.state)
        left = self.download_attempts.fail()
        if self.download_attempts.locked:
            self.state = e.DOWNLOAD_LOCKED
        return AttemptAnswer(False, left, self.state)

    @download.validator
    def _may_download(self, attempt: Attempt) -> None:
        self.require(e.DOWNLOAD)

    async def adopt_draft(self, draft_id: int, attempts_left: int) -> AttemptAnswer:
        """The person's secret step is done: the hashes the API prepared become the real ones."""
        self.state = e.REGISTERING
        await workflow.execute_activity_method(
            LoginCertActivities.register_credentials, DraftRef(self.enrollment_id, draft_id, "end_user"),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        self.state = e.ISSUING
        return AttemptAnswer(True, attempts_left, self.state)

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
        if self.state == e.DOWNLOADED:
            return self.state
        if self.state == e.DOWNLOAD:
            self.state = e.REPLACED if self.replaced else e.DOWNLOAD_EXPIRED
        await workflow.execute_activity_method(
            LoginCertActivities.discard_undelivered,
            EnrollmentChange(self.enrollment_id, self.state, self.actor_of_end()),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
        return self.state

    def actor_of_end(self) -> str:
        return "tenant" if self.state == e.REPLACED else "timer" if self.state.endswith(e.EXPIRED) else "end_user"

    async def revoke(self, serial: str, actor: str) -> None:
        await workflow.execute_activity_method(
            LoginCertActivities.revoke_login_certificate, LoginRevocation(serial, "superseded", actor),
            start_to_close_timeout=ACTIVITY_TIMEOUT)
