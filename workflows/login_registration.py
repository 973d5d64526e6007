"""Registration of a login certificate (L-1, manual section 2 and 3), one run per invitation.

1. The end user enters the one-time password; wrong tries are counted and lock the
   invitation at the limit; the invitation expires at its deadline.
2. The user chooses a secret question and answer and is shown the download password (the API
   prepares both hashes and names them to ``set_secret``).
3. The certificate is issued and "電子証明書ダウンロードのご案内" mailed.
4. The user downloads the PKCS#12 with the download password, or the window closes; either
   way the private key is discarded. A parent process that invited the user is told of the
   download. A certificate the user held before is then revoked.
A newer invitation for the same user replaces this one at any step before the download.
A device the user added (L-4) registers the same way; its one-time password is mailed first
(``invite_by_mail``), and its certificate joins the user's others instead of replacing one.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.devices import DeviceActivities
    from domain import enrollment as e
    from workflows.login_delivery import Attempt, AttemptAnswer, DeliveryTerms, LoginCertProcess
    from workflows.waiting import wait_until


@dataclass
class RegistrationInput:
    enrollment_id: int
    otp_seconds: float  # the one-time password's lifetime, counted from the start
    otp_max_attempts: int = 5
    terms: DeliveryTerms = field(default_factory=DeliveryTerms)
    # A device the user added (L-4): the one-time password goes by mail to the device's email.
    invite_by_mail: bool = False


INVITATION_TIMEOUT = timedelta(minutes=2)
DOWNLOADED_SIGNAL = "certificate_downloaded"  # to the parent, if any


def workflow_id(public_id: str) -> str:
    return f"login-registration-{public_id}"


@workflow.defn
class LoginCertRegistration(LoginCertProcess):
    @workflow.init
    def __init__(self, inp: RegistrationInput) -> None:
        super().__init__(inp.enrollment_id, inp.terms)
        self.otp_attempts = e.Attempts(inp.otp_max_attempts)

    @workflow.update
    async def enter_otp(self, attempt: Attempt) -> AttemptAnswer:
        if attempt.correct:
            if self.state == e.OTP:
                self.state = e.QUESTION
                await self.mirror(e.QUESTION, "end_user")
            return AttemptAnswer(True, self.otp_attempts.left, self.state)
        left = self.otp_attempts.fail()
        if self.otp_attempts.locked:
            self.state = e.LOCKED
        return AttemptAnswer(False, left, self.state)

    @enter_otp.validator
    def _may_enter_otp(self, attempt: Attempt) -> None:
        # Again while the question waits: another browser (or a lost cookie) proves the OTP anew.
        self.require(e.OTP, e.QUESTION)

    @workflow.update
    async def set_secret(self, attempt: Attempt) -> AttemptAnswer:
        return await self.adopt_draft(attempt.draft_id, 0)

    @set_secret.validator
    def _may_set_secret(self, attempt: Attempt) -> None:
        self.require(e.QUESTION)

    @workflow.update
    async def replace(self) -> str:
        """A newer invitation for the same user; what this one does now is in ``run``."""
        if self.state not in (e.DELIVERING, *e.ENDED):
            self.replaced = True
        return self.state

    @workflow.run
    async def run(self, inp: RegistrationInput) -> str:
        if inp.invite_by_mail and workflow.patched("device-invitation"):
            await workflow.execute_activity_method(
                DeviceActivities.invite_device, args=[inp.enrollment_id, inp.otp_seconds],
                start_to_close_timeout=INVITATION_TIMEOUT)
        # 1-2. The person's steps, until the deadline.
        deadline = workflow.now() + timedelta(seconds=inp.otp_seconds)
        await wait_until(lambda: self.state in (e.ISSUING, e.LOCKED) or self.replaced, deadline)
        await self.settle(e.REGISTERING)
        if self.state in (e.OTP, e.QUESTION):
            self.state = e.REPLACED if self.replaced else e.EXPIRED
        if self.state != e.ISSUING:
            await self.mirror(self.state, self.actor_of_end())
            return self.state
        await self.mirror(e.ISSUING, "end_user")

        # 3-4. Issue, mail, download; the certificate the user held before (re-registration) goes.
        if await self.deliver() == e.DOWNLOADED:
            parent = workflow.info().parent
            if workflow.patched("tell-parent-downloaded") and parent is not None:
                # A process that invited this person (the portal's new person in charge) acts on
                # the download at once, not when this run ends after its replay window.
                await workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id).signal(
                    DOWNLOADED_SIGNAL)
            if self.previous_serial:
                await self.revoke(self.previous_serial, "end_user")
        await self.linger()
        return self.state
