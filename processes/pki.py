"""The CA's scheduled process: CRLs republished on a Temporal Schedule (P-5)."""

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
)

from processes.client import Processes
from workflows.crl_publication import INTERVAL, SCHEDULE_ID, CrlPublication


async def ensure_crl_schedule(processes: Processes) -> bool:
    """The Schedule that republishes every CRL; True when it was created now."""
    client = await processes.client()
    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(CrlPublication.run, id=SCHEDULE_ID,
                                                   task_queue=processes.settings.task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=INTERVAL)]),
            ),
        )
        return True
    except ScheduleAlreadyRunningError:
        return False
