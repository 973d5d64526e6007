"""One mechanism for every human step (T-1..T-3), mixed into the workflows that need people.

A workflow calls ``await self.human_task(request)``: a task row is opened through an activity,
a reminder fires before the due time, an escalation when it passes, and the call returns the
decision once a person completes the task through the ``complete_task`` update. The update's
validator refuses, at once and with a reason, a task that is not open here, an outcome the
kind does not allow, a role that may not decide it, or a missing note.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.calendar import DeadlineRequest, Deadlines, business_deadlines
    from activities.tasks import TaskActivities, TaskOutcome, TaskRequest
    from domain.business_calendar import CalendarSpec
    from domain.tasks import TaskRefused, check_completion
    from workflows.waiting import wait_until

ACTIVITY_TIMEOUT = timedelta(minutes=2)


@dataclass
class TaskDecision:
    task_id: int
    outcome: str
    note: str
    actor: str  # e.g. "staff:sato"
    role: str  # support | supervisor
    # The kind the person saw. Lets a decision that arrives while the task is still being
    # opened (the row is visible a moment before the workflow learns its id) be checked at once.
    kind: str = ""


@dataclass
class BusinessDue:
    due_at: str  # ISO moment, ``business_days`` business days from now (to the minute)
    remind_at: str | None  # a business day before, when there is one
    promised: str  # the due date in the calendar's zone, as the customer is told


async def business_due(business_days: int, calendar: CalendarSpec) -> BusinessDue:
    """When a task counted in business days is due, and when it is reminded."""
    now = workflow.now().replace(second=0, microsecond=0)  # promises are made to the minute
    counts = [business_days] + ([business_days - 1] if business_days > 1 else [])
    deadlines: Deadlines = await workflow.execute_activity(
        business_deadlines, DeadlineRequest(now.isoformat(), counts, calendar), start_to_close_timeout=ACTIVITY_TIMEOUT)
    return BusinessDue(deadlines.moments[0], deadlines.moments[1] if len(counts) > 1 else None,
                       deadlines.local_dates[0])


class HumanTaskWorkflow:
    def __init__(self) -> None:
        self._task_kinds: dict[int, str] = {}
        self._opening: dict[str, int] = {}  # kind -> how many tasks of it are being opened
        self._decisions: dict[int, TaskDecision] = {}
        self._recorded: set[int] = set()
        self._abandoned = False  # the process was cancelled: open tasks no longer wait for anyone

    @workflow.update
    async def complete_task(self, decision: TaskDecision) -> str:
        if decision.task_id not in self._task_kinds:
            await workflow.wait_condition(
                lambda: decision.task_id in self._task_kinds or not self._opening.get(decision.kind))
            if self._task_kinds.get(decision.task_id) != decision.kind:
                raise ApplicationError("this task does not belong to this process", type="unknown_task",
                                       non_retryable=True)
        # Two updates may pass their validators in the same activation; the first one in wins.
        if decision.task_id in self._decisions:
            raise ApplicationError("this task has already been completed", type="not_open", non_retryable=True)
        self._decisions[decision.task_id] = decision
        await workflow.execute_activity_method(
            TaskActivities.record_task_outcome,
            TaskOutcome(decision.task_id, decision.outcome, decision.note, decision.actor),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self._recorded.add(decision.task_id)
        return decision.outcome

    @complete_task.validator
    def _validate_completion(self, decision: TaskDecision) -> None:
        kind = self._task_kinds.get(decision.task_id)
        if kind is None and self._opening.get(decision.kind):
            kind = decision.kind  # being opened right now; the handler waits for its id
        if kind is None:
            raise ApplicationError("this task does not belong to this process, or is not open yet",
                                   type="unknown_task", non_retryable=True)
        state = "done" if decision.task_id in self._decisions else "open"
        try:
            check_completion(kind, state, decision.outcome, decision.role, decision.note)
        except TaskRefused as refused:
            raise ApplicationError(str(refused), type=refused.code, non_retryable=True) from None
        self.check_decision(kind, decision)

    def check_decision(self, kind: str, decision: TaskDecision) -> None:
        """A process's own refusals of a decision (raise a non-retryable ApplicationError); none here."""

    @workflow.query
    def open_tasks(self) -> list[int]:
        return [t for t in self._task_kinds if t not in self._decisions]

    def abandon_tasks(self) -> None:
        self._abandoned = True

    async def human_task(self, request: TaskRequest) -> TaskDecision | None:
        """The decision, or None when the process was cancelled while waiting for it."""
        self._opening[request.kind] = self._opening.get(request.kind, 0) + 1
        task_id: int = await workflow.execute_activity_method(
            TaskActivities.open_task, request, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        self._task_kinds[task_id] = request.kind
        self._opening[request.kind] -= 1

        def decided() -> bool:
            return task_id in self._recorded or self._abandoned

        for moment, chase in ((request.remind_at, TaskActivities.remind_task),
                              (request.due_at, TaskActivities.escalate_task)):
            if moment is None:
                continue
            if not await wait_until(decided, datetime.fromisoformat(moment)):
                await workflow.execute_activity_method(chase, task_id, start_to_close_timeout=ACTIVITY_TIMEOUT)
        await workflow.wait_condition(decided)
        return self._decisions[task_id] if task_id in self._recorded else None
