"""Staff JSON API (T-1, T-4, T-5): session, tasks, audit, resets opened on the phone.

Thin: checks input and rights, reads lists from the database, and moves workflows only
through their ``complete_task`` update, whose validator has the last word.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities import tasks as task_store
from api import staff_auth
from api.staff_auth import StaffPrincipal, require_staff, require_supervisor
from domain.tasks import KINDS, TASK_STATES, TaskRefused, check_completion
from store.db import session_scope
from store.models import AuditEvent, Customer, Task
from workflows.human_task import TaskDecision

router = APIRouter(prefix="/api/v1")
Staff = Annotated[StaffPrincipal, Depends(require_staff)]
Supervisor = Annotated[StaffPrincipal, Depends(require_supervisor)]

# How a refusal from the workflow's validator reaches the person.
STATUS_OF_REFUSAL = {"not_open": 409, "unknown_task": 409, "bad_outcome": 422, "note_required": 422,
                     "note_too_long": 422, "forbidden": 403}


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class Completion(BaseModel):
    outcome: str = Field(min_length=1, max_length=40)
    note: str = Field("", max_length=2000)


class Assignment(BaseModel):
    username: str = Field(min_length=1, max_length=64)


class StaffResetRequest(BaseModel):
    access_key: str = Field(pattern=r"^\d{8}$")


def task_json(task: Task) -> dict[str, Any]:
    return {"id": task.id, "kind": task.kind, "title": task.title, "subject": task.subject,
            "due_at": task.due_at.isoformat(), "state": task.state, "assignee": task.assignee,
            "workflow_id": task.workflow_id, "facts": task.facts, "outcome": task.outcome, "note": task.note,
            "reminded_at": _iso(task.reminded_at), "escalated_at": _iso(task.escalated_at),
            "completed_by": task.completed_by, "completed_at": _iso(task.completed_at)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@router.post("/staff/session")
async def open_session(request: Request, body: Credentials) -> JSONResponse:
    try:
        token, principal = staff_auth.login(request.app.state.engine, request.app.state.settings,
                                            body.username, body.password)
    except staff_auth.LoginRefused as refused:
        return error(423 if refused.code == "locked" else 401, refused.code, str(refused))
    return JSONResponse({"token": token, "username": principal.username, "role": principal.role})


@router.delete("/staff/session", status_code=204)
async def close_session(request: Request, staff: Staff) -> Response:
    header = request.headers.get("authorization", "")
    staff_auth.logout(request.app.state.engine, header[7:].strip())
    return Response(status_code=204)


@router.get("/tasks")
async def tasks(request: Request, staff: Staff, state: Annotated[str | None, Query(max_length=10)] = None,
                kind: Annotated[str | None, Query(max_length=40)] = None, mine: bool = False,
                overdue: bool = False) -> Any:
    if state is not None and state not in (*TASK_STATES, "active"):
        return error(422, "bad_filter", f"state must be one of: {', '.join((*TASK_STATES, 'active'))}")
    if kind is not None and kind not in KINDS:
        return error(422, "bad_filter", f"kind must be one of: {', '.join(KINDS)}")
    rows = task_store.list_tasks(request.app.state.engine, state=state, kind=kind,
                                 assignee=staff.username if mine else None, overdue=overdue)
    return [task_json(t) for t in rows]


def _task_or_404(request: Request, task_id: int) -> Task:
    task = task_store.get_task(request.app.state.engine, task_id)
    if task is None:
        raise HTTPException(404, {"error": "not_found", "message": "no such task"})
    return task


@router.get("/tasks/{task_id}")
async def task(request: Request, task_id: int, staff: Staff) -> Any:
    return task_json(_task_or_404(request, task_id))


@router.post("/tasks/{task_id}/claim")
async def claim(request: Request, task_id: int, staff: Staff) -> Any:
    return _move(request, lambda e: task_store.claim(e, task_id, staff.username))


@router.post("/tasks/{task_id}/release")
async def release(request: Request, task_id: int, staff: Staff) -> Any:
    return _move(request, lambda e: task_store.release(e, task_id, staff.username, staff.role == "supervisor"))


@router.post("/tasks/{task_id}/assign")
async def assign(request: Request, task_id: int, body: Assignment, staff: Supervisor) -> Any:
    return _move(request, lambda e: task_store.assign(e, task_id, staff.username, body.username))


def _move(request: Request, move: Any) -> Any:
    try:
        return task_json(move(request.app.state.engine))
    except LookupError as exc:
        return error(404, "not_found", str(exc))
    except task_store.TaskConflict as exc:
        return error(409, "conflict", str(exc))


async def complete_task(request: Request, task: Task, staff: StaffPrincipal, outcome: str, note: str) -> JSONResponse:
    """Shared by the API and the desk's form: the answer comes from the owning workflow's update."""
    if task.state == "claimed" and task.assignee != staff.username:
        return error(409, "conflict", f"this task is claimed by {task.assignee}")
    try:
        check_completion(task.kind, task.state, outcome, staff.role, note)
    except TaskRefused as refused:
        return error(STATUS_OF_REFUSAL.get(refused.code, 422), refused.code, str(refused))
    client = await request.app.state.temporal.client()
    handle = client.get_workflow_handle(task.workflow_id)
    try:
        await handle.execute_update("complete_task", TaskDecision(
            int(task.id or 0), outcome, note.strip(), staff.actor, staff.role, task.kind))
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        code = cause.type if isinstance(cause, ApplicationError) and cause.type else "refused"
        return error(STATUS_OF_REFUSAL.get(code, 409), code, str(cause.message if cause else exc))
    return JSONResponse(task_json(_task_or_404(request, int(task.id or 0))))


@router.post("/tasks/{task_id}/complete")
async def complete(request: Request, task_id: int, body: Completion, staff: Staff) -> JSONResponse:
    return await complete_task(request, _task_or_404(request, task_id), staff, body.outcome, body.note)


@router.get("/audit")
async def audit(request: Request, staff: Staff, subject: Annotated[str | None, Query(max_length=200)] = None,
                action: Annotated[str | None, Query(max_length=100)] = None,
                actor: Annotated[str | None, Query(max_length=100)] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Any:
    return [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "subject": e.subject,
             "details": e.details} for e in search_audit(request, subject, action, actor, limit)]


def search_audit(request: Request, subject: str | None, action: str | None, actor: str | None,
                 limit: int = 200) -> list[AuditEvent]:
    query = select(AuditEvent)
    if subject:
        query = query.where(AuditEvent.subject == subject)
    if action:
        query = query.where(col(AuditEvent.action).startswith(action))
    if actor:
        query = query.where(AuditEvent.actor == actor)
    with session_scope(request.app.state.engine) as s:
        return list(s.exec(query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)))


async def open_reset_for(request: Request, access_key: str, requested_by: str, email: str | None = None) -> str:
    """Starts (or joins) a reset for the account, if it exists (and the email matches, when given).

    Returns the date promised, the same whether or not anything was started: nobody learns
    from the answer whether an access key exists.
    """
    from certdesk.processes import start_password_reset

    from activities.calendar import DeadlineRequest, business_deadlines
    from domain.settings import calendar_spec

    settings = request.app.state.settings
    with session_scope(request.app.state.engine) as s:
        customer = s.exec(select(Customer).where(Customer.access_key == access_key)).first()
    promised = business_deadlines(DeadlineRequest(datetime.now().astimezone().replace(second=0, microsecond=0)
                                                  .isoformat(), [settings.password_reset_business_days],
                                                  calendar_spec(settings))).local_dates[0]
    if customer is None or (email is not None and customer.email.strip().lower() != email.strip().lower()):
        return promised
    client = await request.app.state.temporal.client()
    await start_password_reset(client, settings, int(customer.id or 0), customer.access_key, customer.organization,
                               requested_by)
    open_task = [t for t in task_store.list_tasks(request.app.state.engine, state="active", kind="password_reset",
                                                  subject=f"customer:{customer.id}")]
    return open_task[0].facts.get("expected_by", promised) if open_task else promised


@router.post("/staff/password-resets", status_code=202)
async def staff_opens_reset(request: Request, body: StaffResetRequest, staff: Staff) -> JSONResponse:
    with session_scope(request.app.state.engine) as s:
        exists = s.exec(select(Customer.id).where(Customer.access_key == body.access_key)).first()
    if exists is None:
        return error(404, "not_found", "no customer with that access key")  # staff may know this
    promised = await open_reset_for(request, body.access_key, staff.actor)
    return JSONResponse({"expected_by": promised}, status_code=202)
