"""Starting workflows from outside them (CLI, API, start-up reconciliation).

Workflow ids are business ids, so starting twice is harmless: the second start finds the first.
"""

from datetime import datetime

from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.settings import Settings
from workflows.initial_password import InitialPasswordExpiry, InitialPasswordInput, workflow_id

CUSTOMER_KEY = SearchAttributeKey.for_keyword("CertdeskCustomer")


async def start_initial_password_timer(client: Client, settings: Settings, customer_id: int,
                                       password_version: int, expires_at: datetime) -> bool:
    """Returns False when that timer was already running (or has run)."""
    try:
        await client.start_workflow(
            InitialPasswordExpiry.run,
            InitialPasswordInput(customer_id, password_version, expires_at.isoformat(), settings.language),
            id=workflow_id(customer_id, password_version),
            task_queue=settings.task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_KEY, f"customer:{customer_id}")]),
        )
        return True
    except WorkflowAlreadyStartedError:
        return False


async def ensure_crl_schedule(client: Client, settings: Settings) -> bool:
    """The Schedule that republishes every CRL; True when it was created now."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleSpec,
    )

    from workflows.crl_publication import INTERVAL, SCHEDULE_ID, CrlPublication

    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(CrlPublication.run, id=SCHEDULE_ID, task_queue=settings.task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=INTERVAL)]),
            ),
        )
        return True
    except ScheduleAlreadyRunningError:
        return False


async def start_password_reset(client: Client, settings: Settings, customer_id: int, access_key: str,
                               organization: str, requested_by: str) -> str:
    """Starts the customer's reset, or joins the one already open. Returns the workflow id."""
    from temporalio.common import WorkflowIDConflictPolicy

    from domain.settings import calendar_spec
    from workflows.password_reset import PasswordReset, PasswordResetInput
    from workflows.password_reset import workflow_id as reset_workflow_id

    wf_id = reset_workflow_id(customer_id)
    await client.start_workflow(
        PasswordReset.run,
        PasswordResetInput(customer_id, access_key, organization, requested_by,
                           settings.password_reset_business_days, settings.initial_password_ttl.total_seconds(),
                           calendar_spec(settings), settings.language),
        id=wf_id, task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_KEY, f"customer:{customer_id}")]),
    )
    return wf_id
