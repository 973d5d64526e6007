"""Human tasks for staff (T-1): the JSON API under ``/api/v1/tasks`` and the desk's pages
(the inbox ``/desk`` and a task's page ``/desk/tasks/{id}`` with its forms).

Claim, release and assign are the desk's own moves on the row (``store.tasks``). A decision
goes to the workflow that owns the task (``processes.tasks.complete_task``); its validator
has the last word, and the row changes only once the workflow has taken the decision.
"""

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine as SqlEngine

from api import audit, vetting_desk
from api.deps import Engine, Staff, Supervisor, Workflows
from api.errors import ApiError, error, refusal_status, text
from api.ids import TaskId
from api.rendering import desk_page
from api.staff_auth import StaffPrincipal, check_csrf
from domain.tasks import KINDS, LABELLED_FACTS, TASK_STATES, YES_NO_FACTS, TaskRefused, check_completion
from processes import tasks as task_process
from processes.client import Closed, Processes, Refused, Unavailable
from store import tasks as task_store
from store.models import Task

router = APIRouter()

# A refusal's code (ours or the workflow validator's) -> the catalogue key of its message.
REFUSAL_KEYS = {"not_open": "not_open", "unknown_task": "unknown_task", "bad_outcome": "bad_outcome",
                "forbidden": "task_forbidden", "note_required": "note_required", "note_too_long": "note_too_long"}
FILTER_STATES = (*TASK_STATES, "active")
# What ``?msg=`` may show (the keys the desk's own redirects send); anything else in the URL is ignored,
# so a link cannot put words of its choosing on a desk page. ``?date=`` only as a date.
NOTICES = frozenset({"claimed_ok", "released_ok", "assigned_ok", "done_ok", "check_recorded_ok", "no_such_customer",
                     "reset_started", "handover_opened"})
DATE = re.compile(r"\d{4}-\d\d-\d\d")


class Completion(BaseModel):
    outcome: str = Field(min_length=1, max_length=40)
    note: str = Field("", max_length=2000)


class Assignment(BaseModel):
    username: str = Field(min_length=1, max_length=64)


def task_json(task: Task) -> dict[str, Any]:
    return {"id": task.id, "kind": task.kind, "title": task.title, "subject": task.subject,
            "due_at": task.due_at.isoformat(), "state": task.state, "assignee": task.assignee,
            "workflow_id": task.workflow_id, "facts": task.facts, "outcome": task.outcome, "note": task.note,
            "reminded_at": _iso(task.reminded_at), "escalated_at": _iso(task.escalated_at),
            "completed_by": task.completed_by, "completed_at": _iso(task.completed_at)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- the service: a decision on a task ---------------------------------------------------------------

def _refused(code: str, task: Task, staff: StaffPrincipal, outcome: str) -> ApiError:
    kind = KINDS.get(task.kind)
    return ApiError(refusal_status(code), code, key=REFUSAL_KEYS.get(code, "refused"), outcome=outcome,
                    role=staff.role, outcomes=", ".join(kind.outcomes) if kind else "")


async def complete(request: Request, engine: SqlEngine, processes: Processes, task: Task, staff: StaffPrincipal,
                   outcome: str, note: str) -> Task:
    """The task as the owning workflow left it after taking this person's decision.

    ``ApiError`` when it is refused (by us at once, or by the workflow's validator: same codes),
    ``Unavailable`` when Temporal cannot take it (then the row is unchanged).
    """
    if task.state == "claimed" and task.assignee != staff.username:
        raise ApiError(409, "conflict", key="claimed_by", assignee=task.assignee)
    task_id = int(task.id or 0)
    try:
        check_completion(task.kind, task.state, outcome, staff.role, note)
        await task_process.complete_task(processes, task.workflow_id, task_id, task.kind, outcome, note.strip(),
                                         staff.actor, staff.role)
    except Refused as refused:
        if refused.code == "checklist_incomplete":  # the vetting checklist: say what is missing
            raise ApiError(409, refused.code, key=refused.code, missing=" / ".join(
                vetting_desk.missing_words(request, refused.message.split()))) from None
        raise _refused(refused.code, task, staff, outcome) from None
    except TaskRefused as refused:
        raise _refused(refused.code, task, staff, outcome) from None
    except Closed:
        raise ApiError(409, "closed") from None
    return _task_or_404(engine, task_id)


def _task_or_404(engine: SqlEngine, task_id: int) -> Task:
    task = task_store.get_task(engine, task_id)
    if task is None:
        raise ApiError(404, "not_found", key="no_such_task")
    return task


# --- JSON ---------------------------------------------------------------------------------------------

@router.get("/api/v1/tasks")
async def list_json(request: Request, staff: Staff, engine: Engine,
                    state: Annotated[str | None, Query(max_length=10)] = None,
                    kind: Annotated[str | None, Query(max_length=40)] = None, mine: bool = False,
                    overdue: bool = False) -> Any:
    if state is not None and state not in FILTER_STATES:
        return error(request, 422, "bad_filter", field_name="state", name="state", allowed=", ".join(FILTER_STATES))
    if kind is not None and kind not in KINDS:
        return error(request, 422, "bad_filter", field_name="kind", name="kind", allowed=", ".join(KINDS))
    rows = task_store.list_tasks(engine, state=state, kind=kind, assignee=staff.username if mine else None,
                                 overdue=overdue)
    return [task_json(t) for t in rows]


@router.get("/api/v1/tasks/{task_id}")
async def get_json(task_id: TaskId, staff: Staff, engine: Engine) -> Any:
    return task_json(_task_or_404(engine, task_id))


def _move(request: Request, engine: SqlEngine, move: Any) -> Any:
    try:
        return task_json(move(engine))
    except task_store.TaskNotFound as exc:
        return error(request, 404, "not_found", key=exc.code, **exc.params)
    except task_store.TaskConflict as exc:
        return error(request, 409, "conflict", key=exc.code, **exc.params)


@router.post("/api/v1/tasks/{task_id}/claim")
async def claim_json(request: Request, task_id: TaskId, staff: Staff, engine: Engine) -> Any:
    return _move(request, engine, lambda e: task_store.claim(e, task_id, staff.username))


@router.post("/api/v1/tasks/{task_id}/release")
async def release_json(request: Request, task_id: TaskId, staff: Staff, engine: Engine) -> Any:
    return _move(request, engine,
                 lambda e: task_store.release(e, task_id, staff.username, staff.role == "supervisor"))


@router.post("/api/v1/tasks/{task_id}/assign")
async def assign_json(request: Request, task_id: TaskId, body: Assignment, staff: Supervisor, engine: Engine) -> Any:
    return _move(request, engine, lambda e: task_store.assign(e, task_id, staff.username, body.username))


@router.post("/api/v1/tasks/{task_id}/complete")
async def complete_json(request: Request, task_id: TaskId, body: Completion, staff: Staff, engine: Engine,
                        processes: Workflows) -> JSONResponse:
    task = await complete(request, engine, processes, _task_or_404(engine, task_id), staff, body.outcome, body.note)
    return JSONResponse(task_json(task))


# --- the desk's pages -----------------------------------------------------------------------------------

@router.get("/desk", response_class=HTMLResponse)
async def inbox(request: Request, staff: Staff, engine: Engine, state: str = "active", kind: str = "",
                mine: bool = False, overdue: bool = False, msg: str = "", date: str = "") -> Response:
    return inbox_page(request, staff, engine, state, kind, mine, overdue, _notice(msg),
                      date if DATE.fullmatch(date) else "")


def inbox_page(request: Request, staff: StaffPrincipal, engine: SqlEngine, state: str = "active", kind: str = "",
               mine: bool = False, overdue: bool = False, msg: str = "", date: str = "", status: int = 200,
               reset_error: str = "", access_key: str = "", handover: dict[str, str] | None = None,
               handover_errors: dict[str, str] | None = None) -> Response:
    """The inbox; ``reset_error``: the phone reset form's message, next to its access key field;
    ``handover``/``handover_errors``: the new person in charge form's values and messages by field."""
    state = state if state in (*FILTER_STATES, "") else "active"
    kind = kind if kind in KINDS else ""
    tasks = task_store.list_tasks(engine, state=state or None, kind=kind or None,
                                  assignee=staff.username if mine else None, overdue=overdue)
    return desk_page(request, "desk/inbox.html", staff, status=status, tasks=tasks, kinds=list(KINDS),
                     states=TASK_STATES, f_state=state, f_kind=kind, f_mine=mine, f_overdue=overdue, msg=msg,
                     date=date, reset_error=reset_error, access_key=access_key, handover=handover or {},
                     handover_errors=handover_errors or {})


def _notice(msg: str) -> str:
    return msg if msg in NOTICES else ""


@router.get("/desk/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(request: Request, task_id: TaskId, staff: Staff, engine: Engine, processes: Workflows,
                    msg: str = "") -> Response:
    return await _task_page(request, task_id, staff, engine, processes, msg=_notice(msg))


async def _task_page(request: Request, task_id: int, staff: StaffPrincipal, engine: SqlEngine,
                     processes: Processes, msg: str = "", error: str = "", status: int = 200,
                     check_error: dict[str, str] | None = None, check_form: dict[str, str] | None = None) -> Response:
    task = task_store.get_task(engine, task_id)
    if task is None:
        return desk_page(request, "desk/not_found.html", staff, status=404)
    return desk_page(request, "desk/task.html", staff, status=status, task=task, kind=KINDS[task.kind],
                     events=audit.search(engine, task.subject, limit=100),
                     colleagues=task_store.staff_usernames(engine), msg=msg, error=error,
                     workflow_status=await _workflow_status(processes, task.workflow_id),
                     temporal_link=task_process.temporal_ui_link(processes.settings, task.workflow_id),
                     review=vetting_desk.review(request, task), check_error=check_error or {},
                     check_form=check_form or {}, labelled_facts=LABELLED_FACTS, yes_no_facts=YES_NO_FACTS)


async def _workflow_status(processes: Processes, workflow_id: str) -> str:
    try:
        return await processes.status(workflow_id)
    except (Unavailable, Closed):  # the page still works while Temporal is away
        return "UNAVAILABLE"


async def _form_move(request: Request, task_id: int, staff: StaffPrincipal, engine: SqlEngine,
                     processes: Processes, csrf_token: str, move: Any, ok: str) -> Response:
    check_csrf(staff, csrf_token)
    try:
        move(engine)
    except (task_store.TaskNotFound, task_store.TaskConflict) as exc:
        return await _task_page(request, task_id, staff, engine, processes,
                                error=text(request, "conflict", exc.code, **exc.params), status=409)
    return RedirectResponse(f"/desk/tasks/{task_id}?msg={ok}", status_code=303)


@router.post("/desk/tasks/{task_id}/claim")
async def claim_form(request: Request, task_id: TaskId, staff: Staff, engine: Engine, processes: Workflows,
                     csrf_token: Annotated[str, Form()] = "") -> Response:
    return await _form_move(request, task_id, staff, engine, processes, csrf_token,
                            lambda e: task_store.claim(e, task_id, staff.username), "claimed_ok")


@router.post("/desk/tasks/{task_id}/release")
async def release_form(request: Request, task_id: TaskId, staff: Staff, engine: Engine, processes: Workflows,
                       csrf_token: Annotated[str, Form()] = "") -> Response:
    return await _form_move(request, task_id, staff, engine, processes, csrf_token, lambda e: task_store.release(
        e, task_id, staff.username, staff.role == "supervisor"), "released_ok")


@router.post("/desk/tasks/{task_id}/assign")
async def assign_form(request: Request, task_id: TaskId, staff: Staff, engine: Engine, processes: Workflows,
                      username: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    if staff.role != "supervisor":
        check_csrf(staff, csrf_token)
        return await _task_page(request, task_id, staff, engine, processes,
                                error=text(request, "forbidden", "supervisors_only"), status=403)
    return await _form_move(request, task_id, staff, engine, processes, csrf_token,
                            lambda e: task_store.assign(e, task_id, staff.username, username), "assigned_ok")


@router.post("/desk/tasks/{task_id}/complete")
async def complete_form(request: Request, task_id: TaskId, staff: Staff, engine: Engine, processes: Workflows,
                        outcome: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                        csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(staff, csrf_token)
    task = task_store.get_task(engine, task_id)
    if task is None:
        return desk_page(request, "desk/not_found.html", staff, status=404)
    try:
        await complete(request, engine, processes, task, staff, outcome, note)
    except ApiError as refused:
        return await _task_page(request, task_id, staff, engine, processes, status=refused.status,
                                error=text(request, refused.code, refused.key, **refused.params))
    return RedirectResponse(f"/desk/tasks/{task_id}?msg=done_ok", status_code=303)


@router.post("/desk/tasks/{task_id}/checks")
async def check_form(request: Request, task_id: TaskId, staff: Staff, engine: Engine, processes: Workflows,
                     check: Annotated[str, Form()] = "", source: Annotated[str, Form()] = "",
                     reference: Annotated[str, Form()] = "", outcome: Annotated[str, Form()] = "",
                     note: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    """The vetting desk records a check (organization, phone callback, EV) on a review task."""
    check_csrf(staff, csrf_token)
    task = task_store.get_task(engine, task_id)
    if task is None:
        return desk_page(request, "desk/not_found.html", staff, status=404)
    entered = {"check": check, "source": source, "reference": reference, "outcome": outcome, "note": note}
    try:
        form = vetting_desk.CheckForm(**{k: v[:2000] for k, v in entered.items()})
        await vetting_desk.record(engine, processes, task, staff, form)
    except ValidationError as bad:
        field = str(bad.errors()[0]["loc"][0])
        return await _task_page(request, task_id, staff, engine, processes, status=422, check_form=entered,
                                check_error={field: text(request, "invalid", "vet_check_too_long")})
    except vetting_desk.BadEntry as bad:
        return await _task_page(request, task_id, staff, engine, processes, status=422, check_form=entered,
                                check_error={bad.field: text(request, bad.code)})
    except ApiError as refused:
        return await _task_page(request, task_id, staff, engine, processes, status=refused.status,
                                check_form=entered, error=text(request, refused.code, refused.key, **refused.params))
    return RedirectResponse(f"/desk/tasks/{task_id}?msg=check_recorded_ok#review-checks", status_code=303)
