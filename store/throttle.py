"""The counts behind ``domain.throttle``: one ``login_throttle`` row per name or address.

In the database rather than in the process, so that several API processes (and a restart) see
the same counts. Each update is a compare-and-set on the row's ``version`` (an insert for a new
key), retried on a race, so concurrent guesses are all counted on SQLite and PostgreSQL alike.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from domain.throttle import CUSTOMER, STAFF, Count, Policy, name_of, retry_after
from store.db import session_scope
from store.models import Customer, LoginThrottle, StaffUser, utcnow

KEEP = timedelta(days=2)  # rows idle longer than this are dropped (a backoff forgets after a day)
RACES = 100


@dataclass(frozen=True)
class LockedName:
    kind: str  # customer | staff
    name: str
    failures: int
    locked_until: datetime
    exists: bool  # an account has this name (guesses at made-up names are locked all the same)


def _count(row: LoginThrottle) -> Count:
    return Count(row.failures, row.started_at, row.last_failure_at, row.locked_until)


def wait_seconds(engine: Engine, keys: list[str], now: datetime | None = None) -> int:
    """The longest wait any of ``keys`` is locked for, in seconds; 0 when none is."""
    now = now or utcnow()
    with session_scope(engine) as s:
        rows = s.exec(select(LoginThrottle).where(col(LoginThrottle.key).in_(keys))).all()
        return max((retry_after(_count(r), now) for r in rows), default=0)


def record_failure(engine: Engine, key: str, policy: Policy, now: datetime | None = None) -> Count:
    """Counts one failure for ``key`` under ``policy``; the count after it."""
    now = now or utcnow()
    for _ in range(RACES):
        with session_scope(engine) as s:
            row = s.get(LoginThrottle, key)
            new = policy.after_failure(_count(row) if row else None, now)
            values = {"failures": new.failures, "started_at": new.started_at,
                      "last_failure_at": new.last_failure_at, "locked_until": new.locked_until}
            if row is None:
                try:
                    s.add(LoginThrottle(key=key, **values))
                    s.flush()
                except IntegrityError:
                    s.rollback()  # another process counted this key first: count on top of theirs
                    continue
                return new
            done = s.exec(update(LoginThrottle)
                          .where(col(LoginThrottle.key) == key, col(LoginThrottle.version) == row.version)
                          .values(**values, version=row.version + 1))
            if done.rowcount == 1:
                return new
    raise RuntimeError(f"login throttle: {key} kept changing under us")


def forget(engine: Engine, key: str) -> bool:
    """Drops ``key``'s count (a right password, an unlock); whether there was one."""
    with session_scope(engine) as s:
        done = s.exec(delete(LoginThrottle).where(col(LoginThrottle.key) == key))
        return bool(done.rowcount)


def forget_idle(engine: Engine, now: datetime | None = None) -> int:
    """Drops counts idle for ``KEEP``: names nobody has tried lately, made up ones included."""
    cutoff = (now or utcnow()) - KEEP
    with session_scope(engine) as s:
        done = s.exec(delete(LoginThrottle).where(col(LoginThrottle.last_failure_at) < cutoff))
        return int(done.rowcount)


def locked_names(engine: Engine, now: datetime | None = None) -> list[LockedName]:
    """Names locked now, the longest wait first (the desk's unlock page)."""
    now = now or utcnow()
    with session_scope(engine) as s:
        rows = s.exec(select(LoginThrottle).where(col(LoginThrottle.locked_until) > now)
                      .order_by(col(LoginThrottle.locked_until).desc())).all()
        named = [(n, row) for row in rows if (n := name_of(row.key)) is not None and row.locked_until is not None]
        names = {kind: [name for (k, name), _ in named if k == kind] for kind in (STAFF, CUSTOMER)}
        existing = {(STAFF, u) for u in s.exec(select(StaffUser.username)
                                                .where(col(StaffUser.username).in_(names[STAFF])))}
        existing |= {(CUSTOMER, a) for a in s.exec(select(Customer.access_key)
                                                   .where(col(Customer.access_key).in_(names[CUSTOMER])))}
    return [LockedName(kind, name, row.failures, row.locked_until, (kind, name) in existing)
            for (kind, name), row in named]
