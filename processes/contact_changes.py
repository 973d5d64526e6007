"""担当者変更申請 (S-5): its process is started only from here."""

from collections.abc import Callable

from domain.settings import calendar_spec
from processes.client import Processes
from workflows.contact_change import ContactChange, ContactChangeInput
from workflows.contact_change import workflow_id as contact_change_workflow_id

__all__ = ["contact_change_workflow_id", "start_contact_change"]

REVIEW_BUSINESS_DAYS = 3  # when staff are due to have checked it


async def start_contact_change(processes: Processes, application_id: int, customer_id: int,
                               rollback: Callable[[], None]) -> None:
    """The staff check and the change (``contact-change-{id}``); ``Unavailable`` after ``rollback``."""
    await processes.start(
        ContactChange.run,
        ContactChangeInput(application_id, customer_id, REVIEW_BUSINESS_DAYS, calendar_spec(processes.settings)),
        id=contact_change_workflow_id(application_id), rollback=rollback)
