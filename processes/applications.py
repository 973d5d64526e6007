"""The server certificate portal's processes (S-2, S-4, S-6, S-7): started and moved only from here."""

from collections.abc import Callable

from domain.settings import calendar_spec
from processes.client import Closed, Processes
from workflows.domain_validation import perspective_queue
from workflows.reissue import Reissue, ReissueInput
from workflows.reissue import workflow_id as reissue_workflow_id
from workflows.revocation import Revocation, RevocationInput
from workflows.revocation import workflow_id as revocation_workflow_id
from workflows.server_cert_application import ApplicationInput, ServerCertApplication
from workflows.server_cert_application import workflow_id as application_workflow_id

__all__ = ["application_workflow_id", "reissue_workflow_id", "revocation_workflow_id"]


async def start_application(processes: Processes, application_id: int, customer_id: int, title: str,
                            rollback: Callable[[], None], kind: str = "new", previous_serial: str = "",
                            revoke_previous: str = "immediately") -> None:
    """A new application's review and issuance (``application-{id}``); ``kind``: new, renewal (更新申請),
    replacement (the next certificate of a contract) or switch (別サービスへ切り替え: the previous
    certificate is revoked as ``revoke_previous`` says once the new one is issued)."""
    settings = processes.settings
    await processes.start(
        ServerCertApplication.run,
        ApplicationInput(application_id, customer_id, title, calendar=calendar_spec(settings),
                         remote_perspectives=[perspective_queue(n) for n in settings.remote_perspective_names],
                         kind=kind, previous_serial=previous_serial, revoke_previous=revoke_previous,
                         delay_seconds=settings.delayed_revocation.total_seconds()),
        id=application_workflow_id(application_id), rollback=rollback)


async def cancel_application(processes: Processes, workflow_id: str, actor: str) -> None:
    """申請取消: ``Refused`` (not_cancellable) once issuance has begun or after it was cancelled."""
    await processes.update(workflow_id, ServerCertApplication.cancel, actor)


async def start_revocation(processes: Processes, revocation_id: int, customer_id: int, serial: str, reason: str,
                           title: str, contact_name: str, contact_phone: str,
                           rollback: Callable[[], None]) -> None:
    """Revocation with phone confirmation (``revocation-{id}``)."""
    await processes.start(
        Revocation.run,
        RevocationInput(revocation_id, customer_id, serial, reason, title, contact_name, contact_phone),
        id=revocation_workflow_id(revocation_id), rollback=rollback)


async def start_reissue(processes: Processes, reissue_id: int, customer_id: int, previous_serial: str,
                        revoke_previous: str, actor: str, rollback: Callable[[], None]) -> None:
    """Reissue with the previous certificate revoked at once or after the delay (``reissue-{id}``)."""
    await processes.start(
        Reissue.run,
        ReissueInput(reissue_id, customer_id, previous_serial, revoke_previous,
                     processes.settings.delayed_revocation.total_seconds(), actor),
        id=reissue_workflow_id(reissue_id), rollback=rollback)


async def take_over_delayed_revocation(processes: Processes, reissue_workflow_ids: list[str]) -> None:
    """A key-compromise revocation ends the waits of delayed revocations: the Revocation decides."""
    for workflow_id in reissue_workflow_ids:
        try:
            await processes.signal(workflow_id, Reissue.previous_revocation_taken_over)
        except Closed:
            pass  # that wait is over already; revoking again is a no-op in the CA
