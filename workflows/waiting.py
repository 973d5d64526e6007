"""The one way a workflow waits for something until a deadline.

Commands: one timer for the time left when there is any, none when the deadline has already
passed (nothing is scheduled with a zero or negative duration). Every wait in workflows/ that
has a deadline goes through here, so a recorded history replays the same way everywhere.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow


async def wait_until(condition: Callable[[], bool], deadline: datetime) -> bool:
    """Waits until ``condition()`` is true or ``deadline`` (timezone-aware) passes.

    True when the condition came true in time; False when the deadline passed without it. When
    the deadline has passed already, or the timer fires, the condition is looked at once more
    (a signal may arrive in the same activation as the timer), and no timer is started at all
    for a deadline in the past.
    """
    remaining = deadline - workflow.now()
    if remaining <= timedelta(0):
        return bool(condition())
    try:
        await workflow.wait_condition(condition, timeout=remaining)
    except TimeoutError:
        return bool(condition())
    return True
