"""Human tasks: the rows staff see and the mail that chases them (T-1, T-3).

The owning workflow decides what a task means; these functions only persist and notify.
Each activity is idempotent: ``open_task`` on the workflow's task key, the others on the
task's own state, and mail on a business key per task and event. The rows' reads and the
desk's own moves (claim, release, assign) are in ``store.tasks``.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import select
from temporalio import activity

from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from domain.tasks import SUPERVISOR
from store import audit
from store.db import session_scope
from store.models import StaffUser, Task, utcnow


@dataclass
class TaskRequest:
    task_key: str  # unique per workflow step, e.g. "password-reset-12-3:password_reset"
    kind: str
    title: str
    subject: str
    workflow_id: str
    due_at: str  # ISO-8601, computed in the workflow from the business calendar
    remind_at: str | None = None
    facts: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskOutcome:
    task_id: int
    outcome: str
    note: str
    actor: str


class TaskActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx
        self.mail = MailActivities(ctx)

    @activity.defn(name="open_task")
    def open_task(self, req: TaskRequest) -> int:
        with session_scope(self.ctx.engine) as s:
            existing = s.exec(select(Task).where(Task.task_key == req.task_key)).first()
            if existing is not None:
                return int(existing.id or 0)
            task = Task(task_key=req.task_key, kind=req.kind, title=req.title, subject=req.subject,
                        facts=req.facts, workflow_id=req.workflow_id, due_at=datetime.fromisoformat(req.due_at),
                        remind_at=datetime.fromisoformat(req.remind_at) if req.remind_at else None)
            s.add(task)
            s.flush()
            audit.record(s, "workflow", "task.opened", req.subject, task_id=task.id, kind=req.kind,
                         due_at=req.due_at, workflow_id=req.workflow_id)
            return int(task.id or 0)

    @activity.defn(name="record_task_outcome")
    def record_task_outcome(self, out: TaskOutcome) -> None:
        with session_scope(self.ctx.engine) as s:
            task = s.get(Task, out.task_id)
            if task is None or task.state == "done":
                return
            task.state, task.outcome, task.note = "done", out.outcome, out.note
            task.completed_by, task.completed_at = out.actor, utcnow()
            s.add(task)
            audit.record(s, out.actor, "task.completed", task.subject, task_id=task.id, kind=task.kind,
                         outcome=out.outcome, note=out.note)

    @activity.defn(name="remind_task")
    def remind_task(self, task_id: int) -> None:
        """Before the due time: the assignee, or the support queue while nobody has claimed it."""
        task, to = self._notify(task_id, "reminded_at", "task.reminded")
        if task is not None:
            self._mail(task, "task_reminder", to, "reminder")

    @activity.defn(name="escalate_task")
    def escalate_task(self, task_id: int) -> None:
        """The due time has passed: every supervisor hears of it."""
        task, _ = self._notify(task_id, "escalated_at", "task.escalated")
        if task is None:
            return
        with session_scope(self.ctx.engine) as s:
            supervisors = [u.email for u in s.exec(select(StaffUser).where(StaffUser.role == SUPERVISOR)) if u.email]
        self._mail(task, "task_escalated", supervisors or [self.ctx.settings.support_email], "escalation")

    def _notify(self, task_id: int, column: str, action: str) -> tuple[Task | None, list[str]]:
        with session_scope(self.ctx.engine) as s:
            task = s.get(Task, task_id)
            if task is None or task.state == "done":
                return None, []
            if getattr(task, column) is None:
                setattr(task, column, utcnow())
                s.add(task)
                audit.record(s, "timer", action, task.subject, task_id=task.id, kind=task.kind,
                             assignee=task.assignee)
            assignee = s.exec(select(StaffUser).where(StaffUser.username == task.assignee)).first() \
                if task.assignee else None
            return task, [assignee.email] if assignee and assignee.email else [self.ctx.settings.support_email]

    def _mail(self, task: Task, template: str, recipients: list[str], event: str) -> None:
        base = self.ctx.settings.resolved_public_url
        for to in recipients:
            self.mail.send_email(MailRequest(
                business_key=f"task:{task.id}:{event}:{to}", recipient=to, template=template,
                language=self.ctx.settings.language,
                context={"title": task.title, "kind": task.kind, "subject": task.subject,
                         "due_at": _local(task.due_at, self.ctx.settings.timezone),
                         "assignee": task.assignee or "-", "url": f"{base}/desk/tasks/{task.id}"}))


def _local(when: datetime, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    return when.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")

