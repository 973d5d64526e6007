"""Vetting's processes as the pages reach them: the customer's 再チェック of domain validation, and
the constructed email's recipient confirming the value (BR 3.2.2.4.4).

``recheck`` signals the application's ``DomainValidation`` workflow to look now; ``Closed``
when that workflow has ended (every name validated or expired) or never started, ``Unavailable``
when Temporal cannot take it. ``confirm_email`` tells it that the value mailed for a choice of
address was entered right (the API compared it; no value or token enters the workflow); the
answer is the check's outcome, ``Refused`` (``not_waiting``, ``replaced``) when the workflow is
not waiting for that mail.
"""

from processes.client import Processes
from workflows.domain_validation import DomainValidation, EmailConfirmation, EmailConfirmed, workflow_id

__all__ = ["EmailConfirmed", "confirm_email", "recheck", "workflow_id"]


async def recheck(processes: Processes, application_id: int) -> None:
    await processes.signal(workflow_id(application_id), DomainValidation.recheck)


async def confirm_email(processes: Processes, application_id: int, validation_id: int,
                        generation: int) -> EmailConfirmed:
    result: EmailConfirmed = await processes.update(
        workflow_id(application_id), DomainValidation.confirm_email, EmailConfirmation(validation_id, generation),
        result_type=EmailConfirmed)
    return result
