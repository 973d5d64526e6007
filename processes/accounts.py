"""The customer account's processes: the initial password's expiry timer (S-1) and the password reset (S-11)."""

from datetime import datetime, timedelta

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import RPCError

from domain.settings import calendar_spec
from processes.client import Processes, Unavailable
from workflows.initial_password import InitialPasswordExpiry, InitialPasswordInput
from workflows.initial_password import workflow_id as initial_password_workflow_id
from workflows.password_reset import PasswordReset, PasswordResetInput
from workflows.password_reset import workflow_id as password_reset_workflow_id


async def start_initial_password_timer(processes: Processes, customer_id: int, password_version: int,
                                       expires_at: datetime) -> bool:
    """Returns False when that timer was already running (or has run)."""
    return await processes.start(
        InitialPasswordExpiry.run,
        InitialPasswordInput(customer_id, password_version, expires_at.isoformat(), processes.settings.language),
        id=initial_password_workflow_id(customer_id, password_version), customer_id=customer_id)


async def password_changed(processes: Processes, customer_id: int, password_version: int) -> None:
    """Ends the initial password's timer; ``Closed`` when none is running."""
    await processes.signal(initial_password_workflow_id(customer_id, password_version),
                           InitialPasswordExpiry.password_changed)


async def start_password_reset(processes: Processes, customer_id: int, access_key: str, organization: str,
                               requested_by: str) -> str:
    """Starts the customer's reset, or joins the one already open. Returns the workflow id."""
    settings = processes.settings
    wf_id = password_reset_workflow_id(customer_id)
    await processes.start(
        PasswordReset.run,
        PasswordResetInput(customer_id, access_key, organization, requested_by,
                           settings.password_reset_business_days, settings.initial_password_ttl.total_seconds(),
                           calendar_spec(settings), settings.language),
        id=wf_id, join_existing=True, customer_id=customer_id)
    return wf_id


async def check_reset_possible(processes: Processes) -> None:
    """``Unavailable`` when a reset could not be started now: asked for an unknown access key,
    so that the answer is the same as for a known one and never tells which keys exist."""
    client = await processes.client()
    try:
        await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=5))
    except (RPCError, RuntimeError, TimeoutError, OSError) as exc:
        raise Unavailable(type(exc).__name__) from None
