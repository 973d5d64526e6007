"""The login certificate service's processes (L-1, L-3): registration, reissue, revocation.

The tenant API starts them; the end user's steps move them with ``Attempt`` (whether the secret
was right, and the draft the API prepared), never with a secret. Errors are ``processes.client``'s:
``Unavailable`` (nothing started or counted), ``Refused`` (the process's state as the code),
``Closed`` (the process has ended).
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from domain.settings import Settings, calendar_spec
from processes.client import Closed, Processes, Refused
from workflows.login_delivery import Attempt, AttemptAnswer, DeliveryTerms, LoginCertProcess
from workflows.login_handover import HandoverInput, PortalLoginHandover
from workflows.login_handover import workflow_id as handover_workflow_id
from workflows.login_registration import LoginCertRegistration, RegistrationInput
from workflows.login_reissue import LoginCertReissue, LoginReissueInput
from workflows.login_reissue import workflow_id as reissue_workflow_id
from workflows.login_revocation import LoginCertRevocation, LoginRevocationInput, LoginRevocationResult
from workflows.login_revocation import workflow_id as revocation_workflow_id

__all__ = ["Attempt", "AttemptAnswer", "answer", "download", "enter_otp", "registration_workflow_id",
           "reissue_workflow_id", "replace", "reset_download_password", "revoke", "set_secret", "start_registration",
           "start_handover", "start_reissue", "status"]

REVOCATION_TIMEOUT = timedelta(minutes=5)


def _terms(settings: Settings) -> DeliveryTerms:
    return DeliveryTerms(settings.download_ttl.total_seconds(), settings.download_max_attempts,
                         settings.answer_replay_window.total_seconds(), settings.secret_answer_max_attempts,
                         calendar_spec(settings))


# --- the tenant's requests ----------------------------------------------------------------------

def registration_workflow_id(tenant_id: int, user_id: str, predecessor: str) -> str:
    """One registration per tenant, user and predecessor (the newest registration the
    invitation saw). Invitations made at the same moment see the same rows, so they
    share this id and Temporal starts only one of them; a later one saw (and replaced) the open
    one. So a user never has two open registrations."""
    return f"login-registration-{tenant_id}-{user_id}-after-{predecessor}"


async def start_registration(processes: Processes, enrollment_id: int, workflow_id: str,
                             rollback: Callable[[], None]) -> bool:
    """Starts the invitation's registration; False when a concurrent invitation took its id
    (the caller undoes its row); ``Unavailable`` after ``rollback`` when Temporal cannot take it."""
    settings = processes.settings
    return await processes.start(
        LoginCertRegistration.run,
        RegistrationInput(enrollment_id, settings.otp_ttl.total_seconds(), settings.otp_max_attempts,
                          _terms(settings)),
        id=workflow_id, rollback=rollback, once=True)


async def replace(processes: Processes, workflow_id: str) -> bool:
    """A newer invitation replaces this registration: its steps are refused from now on.
    True also when it has already finished; False when it has not started (yet): another
    invitation is being made at this moment."""
    try:
        await processes.update(workflow_id, LoginCertRegistration.replace, result_type=str)
    except Refused:
        pass
    except Closed:
        try:
            await processes.status(workflow_id)
        except Closed:
            return False
    return True


async def start_reissue(processes: Processes, enrollment_id: int, public_id: str, user: str, previous_serial: str,
                        revoke_old: str, rollback: Callable[[], None]) -> None:
    """Starts a reissue; ``user`` is "<tenant name> / <user id>" (the support task's title)."""
    settings = processes.settings
    await processes.start(
        LoginCertReissue.run,
        LoginReissueInput(enrollment_id, public_id, user, previous_serial, revoke_old,
                          settings.reissue_ttl.total_seconds(), settings.secret_answer_max_attempts,
                          _terms(settings), calendar_spec(settings)),
        id=reissue_workflow_id(public_id), rollback=rollback, once=True)


async def revoke(processes: Processes, serial: str, reason: str, actor: str) -> bool:
    """Revokes at once (the workflow runs to its end); False when it was revoked already."""
    result: LoginRevocationResult = await processes.execute(
        LoginCertRevocation.run, LoginRevocationInput(serial, reason, actor),
        id=revocation_workflow_id(serial), run_timeout=REVOCATION_TIMEOUT)
    return result.revoked


async def start_handover(processes: Processes, customer_id: int, handover_key: str, person_name: str,
                         person_email: str, stated_reseller_code: str, requested_by: str, language: str) -> bool:
    """The portal's login certificate for a new person in charge (S-12); False when one is open
    for the account already (a later one may follow once it has ended)."""
    settings = processes.settings
    return await processes.start(
        PortalLoginHandover.run,
        HandoverInput(handover_key, customer_id, person_name, person_email, stated_reseller_code, requested_by,
                      language, settings.password_reset_business_days, calendar_spec(settings),
                      settings.otp_ttl.total_seconds(), settings.otp_max_attempts, _terms(settings)),
        id=handover_workflow_id(customer_id), customer_id=customer_id)


# --- the end user's steps -------------------------------------------------------------------------

async def _step(processes: Processes, workflow_id: str, update: Callable[..., Any], attempt: Attempt) -> AttemptAnswer:
    result: AttemptAnswer = await processes.update(workflow_id, update, attempt, result_type=AttemptAnswer)
    return result


async def enter_otp(processes: Processes, workflow_id: str, attempt: Attempt) -> AttemptAnswer:
    return await _step(processes, workflow_id, LoginCertRegistration.enter_otp, attempt)


async def set_secret(processes: Processes, workflow_id: str, attempt: Attempt) -> AttemptAnswer:
    return await _step(processes, workflow_id, LoginCertRegistration.set_secret, attempt)


async def answer(processes: Processes, workflow_id: str, attempt: Attempt) -> AttemptAnswer:
    """The reissue's secret question."""
    return await _step(processes, workflow_id, LoginCertReissue.answer, attempt)


async def download(processes: Processes, workflow_id: str, attempt: Attempt) -> AttemptAnswer:
    """Registration's or reissue's download (both are a ``LoginCertProcess``)."""
    return await _step(processes, workflow_id, LoginCertProcess.download, attempt)


async def reset_download_password(processes: Processes, workflow_id: str, attempt: Attempt) -> AttemptAnswer:
    """「ダウンロードパスワードを忘れた」: the secret answer, and a new download password (the draft)."""
    return await _step(processes, workflow_id, LoginCertProcess.reset_download_password, attempt)


async def status(processes: Processes, workflow_id: str) -> str:
    """Where the process is now (the enrollment row may not show it yet); ``Closed`` when it has ended."""
    state: str = await processes.query(workflow_id, LoginCertProcess.status, result_type=str)
    return state
