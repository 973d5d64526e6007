"""The audit trail is written in the same transaction as the change it records."""

from typing import Any

from sqlmodel import Session

from store.models import AuditEvent

TIMER = "timer"


def record(session: Session, actor: str, action: str, subject: str, **details: Any) -> None:
    session.add(AuditEvent(actor=actor, action=action, subject=subject, details=details))
