"""certdesk's scheduled processes: CRL publication (P-5) and the OpenID Connect signing key rotation
(issue 19), each a Temporal Schedule made once by whoever starts the stack."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
)

from processes.client import Processes
from workflows import crl_publication, oidc_keys


async def _ensure(processes: Processes, schedule_id: str, run: Callable[[], Awaitable[Any]], every: timedelta,
                  at_once: bool = False) -> bool:
    """Creates the Schedule unless it exists; True when it was created now."""
    client = await processes.client()
    try:
        await client.create_schedule(
            schedule_id,
            Schedule(action=ScheduleActionStartWorkflow(run, id=schedule_id, task_queue=processes.settings.task_queue),
                     spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])),
            trigger_immediately=at_once)
        return True
    except ScheduleAlreadyRunningError:
        return False


async def ensure_crl_schedule(processes: Processes) -> bool:
    """The Schedule that republishes every CRL."""
    return await _ensure(processes, crl_publication.SCHEDULE_ID, crl_publication.CrlPublication.run,
                         crl_publication.INTERVAL)


async def ensure_oidc_key_schedule(processes: Processes) -> bool:
    """The Schedule that rotates ID token signing keys, run once at creation so a key exists at once."""
    return await _ensure(processes, oidc_keys.SCHEDULE_ID, oidc_keys.OidcKeyRotation.run, oidc_keys.INTERVAL,
                         at_once=True)
