"""The OpenID Connect signing key rotation's Schedule (issue 19), created where CRL publication's is."""

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
)

from processes.client import Processes
from workflows.oidc_keys import INTERVAL, SCHEDULE_ID, OidcKeyRotation


async def ensure_oidc_key_schedule(processes: Processes) -> bool:
    """The Schedule that rotates ID token signing keys, run once at creation so a key exists at once;
    True when it was created now."""
    client = await processes.client()
    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(OidcKeyRotation.run, id=SCHEDULE_ID,
                                                   task_queue=processes.settings.task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=INTERVAL)]),
            ),
            trigger_immediately=True,
        )
        return True
    except ScheduleAlreadyRunningError:
        return False
