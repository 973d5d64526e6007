"""The audit log for staff (T-4): the JSON search and the desk's page share one search."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine as SqlEngine
from sqlmodel import col, select

from api.deps import Engine, Staff
from api.rendering import desk_page
from store.db import session_scope
from store.models import AuditEvent

router = APIRouter()


def search(engine: SqlEngine, subject: str | None = None, action: str | None = None, actor: str | None = None,
           limit: int = 200) -> list[AuditEvent]:
    """Newest first: events about ``subject``, whose action starts with ``action``, done by ``actor``."""
    query = select(AuditEvent)
    if subject:
        query = query.where(AuditEvent.subject == subject)
    if action:
        query = query.where(col(AuditEvent.action).startswith(action))
    if actor:
        query = query.where(AuditEvent.actor == actor)
    with session_scope(engine) as s:
        return list(s.exec(query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)))


@router.get("/api/v1/audit")
async def audit_json(staff: Staff, engine: Engine, subject: Annotated[str | None, Query(max_length=200)] = None,
                     action: Annotated[str | None, Query(max_length=100)] = None,
                     actor: Annotated[str | None, Query(max_length=100)] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    return [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "subject": e.subject,
             "details": e.details} for e in search(engine, subject, action, actor, limit)]


@router.get("/desk/audit", response_class=HTMLResponse)
async def audit_page(request: Request, staff: Staff, engine: Engine, subject: str = "", action: str = "",
                     actor: str = "") -> Response:
    events = search(engine, subject[:200] or None, action[:100] or None, actor[:100] or None, 300)
    return desk_page(request, "desk/audit.html", staff, events=events, subject=subject, action=action, actor=actor)
