"""L-5: telling a login user their login method changed (``LoginMethodNotice``)."""

from collections.abc import Callable

from processes.client import Processes
from workflows.login_method_notice import LoginMethodChange, LoginMethodNotice, workflow_id

__all__ = ["LoginMethodChange", "notify_change"]


async def notify_change(processes: Processes, change: LoginMethodChange, rollback: Callable[[], None]) -> bool:
    """Starts the notice; when Temporal cannot take it, ``rollback`` undoes the change (Unavailable)."""
    return await processes.start(LoginMethodNotice.run, change, id=workflow_id(change), rollback=rollback, once=True)
