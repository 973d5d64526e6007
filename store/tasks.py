"""Task rows (T-1): what staff see of the human steps, and the desk's own moves on them.

Claim, release and assign involve no workflow decision: they change who is working on a
task, each in one transaction with its audit event. Completing a task is the owning
workflow's decision (``processes.tasks.complete_task``), never a write here.
"""

from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from store import audit
from store.db import session_scope
from store.models import StaffUser, Task, utcnow


class TaskNotFound(LookupError):
    """No such task (``no_such_task``) or no such staff user to assign it to (``no_such_staff``)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params


class TaskConflict(Exception):
    """A claim/release/assign that the task's state does not allow; ``code`` says why:
    ``not_open`` (already completed), ``claimed_by`` (``assignee``), ``not_claimed``."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params


def claim(engine: Engine, task_id: int, username: str) -> Task:
    with session_scope(engine) as s:
        task = s.exec(select(Task).where(Task.id == task_id).with_for_update()).first()
        if task is None:
            raise TaskNotFound("no_such_task")
        if task.state == "done":
            raise TaskConflict("not_open")
        if task.state == "claimed" and task.assignee != username:
            raise TaskConflict("claimed_by", assignee=task.assignee)
        task.state, task.assignee = "claimed", username
        s.add(task)
        audit.record(s, f"staff:{username}", "task.claimed", task.subject, task_id=task.id)
        return task


def release(engine: Engine, task_id: int, username: str, supervisor: bool = False) -> Task:
    with session_scope(engine) as s:
        task = s.exec(select(Task).where(Task.id == task_id).with_for_update()).first()
        if task is None:
            raise TaskNotFound("no_such_task")
        if task.state != "claimed":
            raise TaskConflict("not_claimed")
        if task.assignee != username and not supervisor:
            raise TaskConflict("claimed_by", assignee=task.assignee)
        task.state, task.assignee = "open", None
        s.add(task)
        audit.record(s, f"staff:{username}", "task.released", task.subject, task_id=task.id)
        return task


def assign(engine: Engine, task_id: int, supervisor: str, username: str) -> Task:
    with session_scope(engine) as s:
        staff = s.exec(select(StaffUser).where(StaffUser.username == username)).first()
        if staff is None:
            raise TaskNotFound("no_such_staff", username=username)
        task = s.exec(select(Task).where(Task.id == task_id).with_for_update()).first()
        if task is None:
            raise TaskNotFound("no_such_task")
        if task.state == "done":
            raise TaskConflict("not_open")
        previous = task.assignee
        task.state, task.assignee = "claimed", username
        s.add(task)
        audit.record(s, f"staff:{supervisor}", "task.reassigned", task.subject, task_id=task.id,
                     previous=previous, assignee=username)
        return task


def get_task(engine: Engine, task_id: int) -> Task | None:
    with session_scope(engine) as s:
        return s.get(Task, task_id)


def list_tasks(engine: Engine, *, state: str | None = None, kind: str | None = None, assignee: str | None = None,
               overdue: bool = False, subject: str | None = None, limit: int = 200) -> list[Task]:
    """Sorted by due time, soonest first; ``state="active"`` means open or claimed."""
    query = select(Task)
    if state == "active":
        query = query.where(col(Task.state).in_(("open", "claimed")))
    elif state:
        query = query.where(Task.state == state)
    if kind:
        query = query.where(Task.kind == kind)
    if assignee:
        query = query.where(Task.assignee == assignee)
    if subject:
        query = query.where(Task.subject == subject)
    if overdue:
        query = query.where(Task.due_at < utcnow(), Task.state != "done")
    with session_scope(engine) as s:
        return list(s.exec(query.order_by(col(Task.due_at), col(Task.id)).limit(limit)).all())


def staff_usernames(engine: Engine) -> list[str]:
    """Everyone a supervisor may assign a task to."""
    with session_scope(engine) as s:
        return [u.username for u in s.exec(select(StaffUser).order_by(col(StaffUser.username)))]
