"""The staff desk (web): login, task inbox, task detail with claim/release/complete, audit log.

Every form posts a CSRF token; every page needs a staff session (customers and tenants have
no credential that works here). Decisions go through the same path as the JSON API.
"""

import json
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import select

from activities import tasks as task_store
from api import sessions, staff_auth
from api.rendering import render
from api.staff_auth import StaffPrincipal, check_csrf, require_staff
from api.tasks_api import complete_task, open_reset_for, search_audit
from domain.tasks import KINDS, TASK_STATES
from store.db import session_scope
from store.models import Customer, StaffUser, Task, utcnow

router = APIRouter(prefix="/desk")
Staff = Annotated[StaffPrincipal, Depends(require_staff)]


def _local(request: Request, value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(request.app.state.settings.timezone)).strftime("%Y-%m-%d %H:%M")


def _page(request: Request, template: str, staff: StaffPrincipal | None, status: int = 200, **ctx: object) -> Response:
    response = render(request, template, staff=staff, local=lambda v: _local(request, v), now=utcnow(), **ctx)
    response.status_code = status
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/desk") -> Response:
    return _page(request, "desk/login.html", None, next=_safe_next(next))


def _safe_next(target: str) -> str:
    # Only back into the desk: never an open redirect.
    return target if target.startswith("/desk") and not target.startswith("//") else "/desk"


@router.post("/login")
async def login(request: Request, username: Annotated[str, Form(max_length=64)],
                password: Annotated[str, Form(max_length=128)], next: Annotated[str, Form()] = "/desk") -> Response:
    settings = request.app.state.settings
    try:
        token, _ = staff_auth.login(request.app.state.engine, settings, username, password)
    except staff_auth.LoginRefused as refused:
        return _page(request, "desk/login.html", None, status=423 if refused.code == "locked" else 401,
                     error=str(refused), next=_safe_next(next), username=username)
    response = RedirectResponse(_safe_next(next), status_code=303)
    sessions.set_cookie(response, sessions.STAFF, settings.production, token)
    return response


@router.post("/logout")
async def logout(request: Request, staff: Staff, csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(staff, csrf_token)
    settings = request.app.state.settings
    staff_auth.logout(request.app.state.engine, request.cookies.get(staff_auth.cookie_name(settings), ""))
    response = RedirectResponse("/desk/login", status_code=303)
    response.delete_cookie(staff_auth.cookie_name(settings), path="/")
    return response


@router.get("", response_class=HTMLResponse)
async def inbox(request: Request, staff: Staff, state: str = "active", kind: str = "", mine: bool = False,
                overdue: bool = False, msg: str = "") -> Response:
    state = state if state in (*TASK_STATES, "active", "") else "active"
    kind = kind if kind in KINDS else ""
    tasks = task_store.list_tasks(request.app.state.engine, state=state or None, kind=kind or None,
                                  assignee=staff.username if mine else None, overdue=overdue)
    return _page(request, "desk/inbox.html", staff, tasks=tasks, kinds=list(KINDS), states=TASK_STATES,
                 f_state=state, f_kind=kind, f_mine=mine, f_overdue=overdue, msg=msg)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(request: Request, task_id: int, staff: Staff, msg: str = "", error: str = "",
                    status: int = 200) -> Response:
    task = task_store.get_task(request.app.state.engine, task_id)
    if task is None:
        return _page(request, "desk/not_found.html", staff, status=404)
    with session_scope(request.app.state.engine) as s:
        colleagues = [u.username for u in s.exec(select(StaffUser).order_by(StaffUser.username))]
    events = search_audit(request, task.subject, None, None, 100)
    workflow_status = await _workflow_status(request, task)
    ui = request.app.state.settings.resolved_temporal_ui_url
    ns = request.app.state.settings.temporal_namespace
    return _page(request, "desk/task.html", staff, status=status, task=task, kind=KINDS[task.kind], events=events,
                 colleagues=colleagues, msg=msg, error=error, workflow_status=workflow_status,
                 temporal_link=f"{ui}/namespaces/{ns}/workflows/{task.workflow_id}" if ui else None)


async def _workflow_status(request: Request, task: Task) -> str:
    try:
        client = await request.app.state.temporal.client()
        description = await client.get_workflow_handle(task.workflow_id).describe()
        return description.status.name if description.status else "UNKNOWN"
    except Exception:  # noqa: BLE001 (the page still works while Temporal is away)
        return "UNAVAILABLE"


async def _form_move(request: Request, task_id: int, staff: StaffPrincipal, csrf_token: str, move, ok: str) -> Response:  # type: ignore[no-untyped-def]
    check_csrf(staff, csrf_token)
    try:
        move(request.app.state.engine)
    except (LookupError, task_store.TaskConflict) as exc:
        return await task_page(request, task_id, staff, error=str(exc), status=409)
    return RedirectResponse(f"/desk/tasks/{task_id}?msg={ok}", status_code=303)


@router.post("/tasks/{task_id}/claim")
async def claim(request: Request, task_id: int, staff: Staff, csrf_token: Annotated[str, Form()] = "") -> Response:
    return await _form_move(request, task_id, staff, csrf_token,
                            lambda e: task_store.claim(e, task_id, staff.username), "claimed_ok")


@router.post("/tasks/{task_id}/release")
async def release(request: Request, task_id: int, staff: Staff, csrf_token: Annotated[str, Form()] = "") -> Response:
    return await _form_move(request, task_id, staff, csrf_token, lambda e: task_store.release(
        e, task_id, staff.username, staff.role == "supervisor"), "released_ok")


@router.post("/tasks/{task_id}/assign")
async def assign(request: Request, task_id: int, staff: Staff, username: Annotated[str, Form(max_length=64)],
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    if staff.role != "supervisor":
        check_csrf(staff, csrf_token)
        return await task_page(request, task_id, staff, error="supervisors only", status=403)
    return await _form_move(request, task_id, staff, csrf_token,
                            lambda e: task_store.assign(e, task_id, staff.username, username), "assigned_ok")


@router.post("/tasks/{task_id}/complete")
async def complete(request: Request, task_id: int, staff: Staff, outcome: Annotated[str, Form(max_length=40)],
                   note: Annotated[str, Form(max_length=2000)] = "",
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(staff, csrf_token)
    task = task_store.get_task(request.app.state.engine, task_id)
    if task is None:
        return _page(request, "desk/not_found.html", staff, status=404)
    answer = await complete_task(request, task, staff, outcome, note)
    if answer.status_code != 200:
        return await task_page(request, task_id, staff, error=json.loads(answer.body)["message"],
                               status=answer.status_code)
    return RedirectResponse(f"/desk/tasks/{task_id}?msg=done_ok", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
async def audit(request: Request, staff: Staff, subject: str = "", action: str = "", actor: str = "") -> Response:
    events = search_audit(request, subject[:200] or None, action[:100] or None, actor[:100] or None, 300)
    return _page(request, "desk/audit.html", staff, events=events, subject=subject, action=action, actor=actor)


@router.post("/password-resets")
async def reset_on_phone(request: Request, staff: Staff, access_key: Annotated[str, Form(max_length=8)],
                         csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(staff, csrf_token)
    with session_scope(request.app.state.engine) as s:
        known = s.exec(select(Customer.id).where(Customer.access_key == access_key)).first()
    if known is None:
        return RedirectResponse("/desk?msg=no_such_customer", status_code=303)
    promised = await open_reset_for(request, access_key, staff.actor)
    return RedirectResponse(f"/desk?msg=reset_started&date={promised}", status_code=303)
