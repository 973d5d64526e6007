"""The web process's argon2 work, off the event loop and bounded (issue 18).

argon2id costs tens of milliseconds of CPU and 64 MiB per call, on purpose. Run on the event
loop, a burst of wrong logins stalls every other request; run on an unbounded thread pool, it
takes every core. Here at most ``size()`` hashes run at once, on threads of their own (not the
default executor that other blocking work shares), and the rest wait their turn in a queue:
a burst of logins waits for itself, while pages, OCSP and ``/pki`` keep being answered.

``queue_depth()`` (waiting) and ``in_use()`` (running) are for a gauge. Cheap hashes (HMAC,
BLAKE2) never come here: ``verify`` runs them inline and sends only argon2 hashes to the pool.
"""

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from domain import secret_hashing
from domain.secret_hashing import Verdict

P = ParamSpec("P")
T = TypeVar("T")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# One core is left to the event loop (argon2-cffi releases the GIL and hashes its lanes on threads
# of its own): on two cores one login hashes at a time, the rest queue.
SIZE = max(1, _cores() - 1)
_executor = ThreadPoolExecutor(max_workers=SIZE, thread_name_prefix="certdesk-hashing")
_lock = threading.Lock()
_waiting = 0
_running = 0


def size() -> int:
    return SIZE


def queue_depth() -> int:
    """Hashing jobs waiting for a thread."""
    return _waiting


def in_use() -> int:
    """Hashing threads busy now (at most ``size()``)."""
    return _running


def _count(waiting: int, running: int) -> None:
    global _waiting, _running
    with _lock:
        _waiting += waiting
        _running += running


def _job(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Callable[[], T]:
    def job() -> T:
        _count(-1, +1)
        try:
            return fn(*args, **kwargs)
        finally:
            _count(0, -1)

    return job


def _forget_if_cancelled(future: "Future[object]") -> None:
    if future.cancelled():  # cancelled while waiting (the caller went away): it never ran
        _count(-1, 0)


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args)`` on a hashing thread, once one is free."""
    _count(+1, 0)
    future = _executor.submit(_job(fn, *args, **kwargs))
    future.add_done_callback(_forget_if_cancelled)
    return await asyncio.wrap_future(future)


async def verify(check: Callable[..., Verdict], *args: object) -> Verdict:
    """``check(..., stored, secret)`` (a ``domain.secret_hashing`` verifier, the stored hash second to
    last): in the pool when the stored hash is argon2, inline when it is a fast keyed hash."""
    stored = str(args[-2])
    if secret_hashing.is_slow(stored):
        return await run(check, *args)
    return check(*args)


async def hash_chosen(secret: str) -> str:
    return await run(secret_hashing.hash_chosen, secret)


async def verify_chosen(stored: str, secret: str) -> Verdict:
    return await run(secret_hashing.verify_chosen, stored, secret)
