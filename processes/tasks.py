"""Human tasks (T-1): a person's decision goes to the workflow that owns the task.

Every process with human steps mixes in ``HumanTaskWorkflow``, so one update serves them
all; its validator has the last word (``Refused`` with its code: ``not_open``,
``unknown_task``, ``bad_outcome``, ``forbidden``, ``note_required``, ``note_too_long``).
"""

from domain.settings import Settings
from processes.client import Processes
from workflows.human_task import HumanTaskWorkflow, TaskDecision


async def complete_task(processes: Processes, workflow_id: str, task_id: int, kind: str, outcome: str, note: str,
                        actor: str, role: str) -> str:
    """The outcome taken; ``Refused``, ``Closed`` or ``Unavailable`` (then nothing changed)."""
    return await processes.update(workflow_id, HumanTaskWorkflow.complete_task,
                                  TaskDecision(task_id, outcome, note, actor, role, kind), result_type=str)


def temporal_ui_link(settings: Settings, workflow_id: str) -> str | None:
    """Where staff can look at the workflow in the Temporal UI (None when no UI is configured)."""
    ui = settings.resolved_temporal_ui_url
    return f"{ui}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}" if ui else None
