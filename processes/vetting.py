"""Vetting's processes as the pages reach them: the customer's 再チェック of domain validation.

``recheck`` signals the application's ``DomainValidation`` workflow to look now; ``Closed``
when that workflow has ended (every name validated or expired) or never started, ``Unavailable``
when Temporal cannot take it.
"""

from processes.client import Processes
from workflows.domain_validation import DomainValidation, workflow_id

__all__ = ["recheck", "workflow_id"]


async def recheck(processes: Processes, application_id: int) -> None:
    await processes.signal(workflow_id(application_id), DomainValidation.recheck)

