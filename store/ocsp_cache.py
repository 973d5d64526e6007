"""The web process's memory of pre-signed OCSP responses (issue #18 target 3).

A bounded LRU of DER responses keyed by the request's CertID (issuer name hash, issuer key hash,
serial), each kept until its refresh point (half its validity, ``store.ocsp_responder``).

Cross-process invalidation: a revocation commits its ``certificate.revoked`` (or
``certificate.reason_upgraded``) audit row in the same transaction as the certificate's new
state (``ca.authority.revoke``, which the worker's activity calls). The audit table's integer
key is therefore a change feed every process can follow: before answering from memory the cache
reads ``max(id)`` (one seek at the end of the primary key, on a connection it holds, so no pool
checkout) and, when it moved, reads the new rows by key range and drops the serials revoked.
A revocation is thus served at once by every web process, whatever it held. Any other audit row
(a login, an application) moves the counter too but evicts nothing. On PostgreSQL ids come from a
sequence and may commit out of order, so each read looks back ``LOOKBACK`` ids too.

``check_interval`` > 0 reads the feed at most that often (PostgreSQL: a round trip per request
otherwise), so a revocation may be served that much later; 0, the default, reads it every time.
"""

import contextlib
import logging
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from store.models import AuditEvent

log = logging.getLogger("certdesk.ocsp")

_AUDIT = AuditEvent.__tablename__
_REVOKING = ("certificate.revoked", "certificate.reason_upgraded")
_LATEST = f"SELECT max(id) FROM {_AUDIT}"  # noqa: S608 (constants)
_REVOKED_SINCE = (f"SELECT id, subject FROM {_AUDIT} WHERE id > {{mark}} AND action IN "  # noqa: S608
                  f"('{_REVOKING[0]}', '{_REVOKING[1]}')")
_REMEMBERED_REVOCATIONS = 4096  # for fills that raced a revocation (see ``put``)
LOOKBACK = 256  # PostgreSQL: revocations still in flight when a later id was read (SQLite: one writer)

# Every live cache, for the metrics collector (api/metrics.py) to sum.
LIVE: "weakref.WeakSet[OcspCache]" = weakref.WeakSet()

Key = tuple[bytes, bytes, int]  # issuer name hash, issuer key hash, serial (SHA-1 CertID)


class Entry:
    __slots__ = ("der", "etag", "fixed_headers", "refresh_at", "serial")

    def __init__(self, der: bytes, etag: bytes, fixed_headers: list[tuple[bytes, bytes]], refresh_after: datetime,
                 serial: int) -> None:
        self.der, self.etag, self.fixed_headers, self.serial = der, etag, fixed_headers, serial
        self.refresh_at = refresh_after.replace(tzinfo=refresh_after.tzinfo or UTC).timestamp()


class OcspCache:
    def __init__(self, engine: Engine, size: int, check_interval: float = 0.0) -> None:
        self.engine, self.size, self.check_interval = engine, size, check_interval
        self.entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self.lock = threading.Lock()
        self._conn: Any = None  # a DBAPI connection held out of the pool, for the feed alone
        self._raw: Any = None
        self.position = -1  # the last audit id read; -1 before the first read
        self.lookback = 0 if engine.dialect.name == "sqlite" else LOOKBACK
        self.checked_at = 0.0
        # Revocations applied, numbered here (``version``) in the order this cache learnt them.
        self.version = 0
        self.revoked: deque[tuple[int, int, int]] = deque(maxlen=_REMEMBERED_REVOCATIONS)  # version, id, serial
        self.forgotten_below = 0  # revocations of versions below this fell out of ``revoked``
        self.hits = self.misses = self.evictions = self.invalidations = 0
        LIVE.add(self)

    # --- the feed --------------------------------------------------------------------------

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        if self._conn is None:
            self._raw = self.engine.raw_connection()
            self._conn = self._raw.driver_connection
            if self.engine.dialect.name != "sqlite":
                self._conn.autocommit = True  # no transaction left open between reads
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def check(self, force: bool = False) -> int:
        """Follows the audit feed, dropping what was revoked since; returns this cache's version
        (for ``put``)."""
        with self.lock:
            now = time.monotonic()
            if not force and self.check_interval and now - self.checked_at < self.check_interval:
                return self.version
            try:
                latest = self._query(_LATEST)[0][0] or 0
                self.checked_at = now
                if latest == self.position:
                    return self.version
                if self.position >= 0:
                    self._apply(self._query(_REVOKED_SINCE.format(mark=int(self.position - self.lookback))))
                self.position = latest  # the first read: nothing in memory yet
            except Exception:
                self._drop_connection()
                raise
            return self.version

    def _apply(self, rows: list[tuple[Any, ...]]) -> None:
        known = {audit_id for _, audit_id, _ in self.revoked} if self.lookback else set()
        for audit_id, subject in rows:
            serial = _serial_of(subject)
            if serial is None or audit_id in known:
                continue
            self.version += 1
            if len(self.revoked) == self.revoked.maxlen:
                self.forgotten_below = self.revoked[0][0]
            self.revoked.append((self.version, audit_id, serial))
            for key in [k for k, e in self.entries.items() if e.serial == serial]:
                del self.entries[key]
                self.invalidations += 1

    def _drop_connection(self) -> None:
        raw, self._raw, self._conn = self._raw, None, None
        if raw is not None:
            with contextlib.suppress(Exception):  # already broken
                raw.invalidate()

    # --- the entries -----------------------------------------------------------------------

    def get(self, key: Hashable) -> Entry | None:
        """The entry, if fresh; call ``check`` first."""
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            if time.time() >= entry.refresh_at:  # its refresh point: the next answer signs again
                del self.entries[key]
                self.misses += 1
                return None
            self.entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: Hashable, entry: Entry, version: int) -> bool:
        """Keeps ``entry``, read from the database after ``check`` returned ``version`` — unless this
        cache has learnt of a revocation of its serial since (the read may have raced it): then the
        next request reads again."""
        try:
            self.check(force=True)
        except Exception:  # memory is an optimisation: the answer goes out all the same
            log.warning("OCSP memory: the revocation feed could not be read", exc_info=True)
            return False
        with self.lock:
            if version < self.forgotten_below or any(v > version and s == entry.serial for v, _, s in self.revoked):
                return False
            self.entries[key] = entry
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
                self.evictions += 1
            return True

    def close(self) -> None:
        with self.lock:
            self.entries.clear()
            raw, self._raw, self._conn = self._raw, None, None
            if raw is not None:
                raw.close()


def _serial_of(subject: str) -> int | None:
    # ``certificate:{serial}``, the serial in lowercase hex (ca.authority).
    prefix, _, serial = subject.partition(":")
    try:
        return int(serial, 16) if prefix == "certificate" else None
    except ValueError:
        return None
