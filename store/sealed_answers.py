"""Sealed answers (``SealedAnswer`` rows): kept, looked for, forgotten.

The rows hold only ciphertext (domain/answer_seal.py); whoever reads them needs the browser's
cookie to open one.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from store.db import session_scope
from store.models import SealedAnswer


def keep(engine: Engine, enrollment_id: int, step: str, sealed: bytes, expires_at: datetime) -> int:
    with session_scope(engine) as s:
        row = SealedAnswer(enrollment_id=enrollment_id, step=step, sealed=sealed, expires_at=expires_at)
        s.add(row)
        s.flush()
        return int(row.id or 0)


def drop(engine: Engine, sealed_id: int) -> None:
    with session_scope(engine) as s:
        s.exec(delete(SealedAnswer).where(col(SealedAnswer.id) == sealed_id))  # type: ignore[call-overload]


def live(engine: Engine, enrollment_id: int, step: str, now: datetime) -> list[bytes]:  # newest first
    """The seals of this step still inside their window, newest first."""
    with session_scope(engine) as s:
        rows = s.exec(select(SealedAnswer).where(
            SealedAnswer.enrollment_id == enrollment_id, SealedAnswer.step == step,
            col(SealedAnswer.expires_at) > now).order_by(col(SealedAnswer.id).desc())).all()
        return [row.sealed for row in rows]


def forget(s: Session, enrollment_id: int, steps: Sequence[str] = ()) -> int:
    """The enrollment's seals of these steps, or all (its delivery ended, or their window closed)."""
    query = delete(SealedAnswer).where(col(SealedAnswer.enrollment_id) == enrollment_id)
    if steps:
        query = query.where(col(SealedAnswer.step).in_(steps))
    done = s.exec(query)  # type: ignore[call-overload]
    return int(done.rowcount or 0)
