"""Many processes waiting on two-week timers (issue #18 target 5): worker RSS and the registration
rate with and without them.

    .venv/bin/python bench/waiting.py [--waiting 10000] [--users 16] [--concurrency 8]
                                      [--temporal HOST:PORT]

Starts ``certdesk up`` on free ports (embedded Temporal dev server, SQLite WAL), then:

1. a short registration run through the public API (bench/e2e.py's login path) and RSS of
   ``certdesk up`` (its worker, API and local perspectives are one process, so this bounds the
   worker's from above) and of the Temporal server;
2. starts ``--waiting`` real ``InitialPasswordExpiry`` processes through ``processes.accounts``
   (the cheapest real certdesk workflow that waits on a durable timer: ``wait_until`` with a
   signal, the same wait the reissue's delayed revocation makes) with the expiry two weeks ahead,
   and waits until the worker has run each one's first task (its timer started);
3. RSS again, and the same registration run again: ratio with / without (target: unchanged) and
   RSS (target: the worker < 300 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench.stack import (  # noqa: E402
    BenchStack,
    MailWatcher,
    register,
    run_concurrently,
    running_stack,
    step_summary,
    tenant_key,
)
from domain.settings import Settings  # noqa: E402
from processes.accounts import start_initial_password_timer  # noqa: E402
from processes.client import Processes, Unavailable  # noqa: E402
from processes.connection import TemporalHandle  # noqa: E402
from workflows.initial_password import workflow_id  # noqa: E402

TWO_WEEKS = timedelta(days=14)
FIRST_CUSTOMER = 1_000_000  # ids no real customer has: the timers never fire within the run anyway


async def registrations(bench: BenchStack, api_key: str, users: int, concurrency: int, run: str) -> float:
    async with httpx.AsyncClient(base_url=bench.base, timeout=120) as http, MailWatcher(bench.mailbox) as mail:
        seconds = await run_concurrently(users, concurrency, lambda i: register(http, mail, api_key, f"{run}-{i}"))
    return users / seconds


async def start_waiting(client: Client, bench: BenchStack, n: int) -> float:
    """Starts n timers, 16 calls in flight; returns starts/s."""
    settings = Settings(data_dir=bench.data, temporal_address=bench.temporal_address,
                        task_queue=bench.env.get("CERTDESK_TASK_QUEUE", "certdesk"))
    processes = Processes(TemporalHandle(settings, client), settings)
    expires = datetime.now(UTC) + TWO_WEEKS

    async def one(i: int) -> None:
        for attempt in range(10):  # the dev server under a shared machine's load may time a start out
            try:
                await start_initial_password_timer(processes, FIRST_CUSTOMER + i, 1, expires)
                return
            except Unavailable:
                retries.append(i)
                await asyncio.sleep(0.5 * (attempt + 1))
        raise RuntimeError(f"timer {i} not started")

    retries: list[int] = []
    rate = n / await run_concurrently(n, 16, one)
    if retries:
        print(f"  ({len(retries)} starts retried after Unavailable)")
    return rate


async def timer_started(client: Client, customer_id: int) -> bool:
    events = [e async for e in client.get_workflow_handle(workflow_id(customer_id, 1)).fetch_history_events()]
    return any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events)


async def all_waiting(client: Client, n: int, timeout: float = 900) -> float:  # noqa: ASYNC109
    """Seconds until a sample across the range (the last ones included) has its timer started."""
    sample = sorted({FIRST_CUSTOMER + i for i in (*range(0, n, max(1, n // 50)), *range(max(0, n - 20), n))})
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        done = await asyncio.gather(*(timer_started(client, c) for c in sample))
        if all(done):
            return time.perf_counter() - started
        await asyncio.sleep(1)
    raise TimeoutError("the worker did not start every timer")


def show_rss(label: str, rss: dict[str, float]) -> None:
    print(f"RSS {label}: " + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items()), flush=True)


async def measure(args: argparse.Namespace, bench: BenchStack) -> None:
    client = await Client.connect(bench.temporal_address)
    api_key = tenant_key(bench)
    await registrations(bench, api_key, 2, 2, "warm")
    step_summary()
    before_rate = await registrations(bench, api_key, args.users, args.concurrency, "before")
    print(f"registrations without waiting processes: {before_rate:.2f}/s; {step_summary()}", flush=True)
    before = bench.rss()
    show_rss("before", before)
    start_rate = await start_waiting(client, bench, args.waiting)
    print(f"started {args.waiting:,} InitialPasswordExpiry processes ({start_rate:.0f}/s)", flush=True)
    settle = await all_waiting(client, args.waiting)
    print(f"every sampled timer started {settle:.0f} s after the last start", flush=True)
    await asyncio.sleep(5)
    after = bench.rss()
    show_rss(f"with {args.waiting:,} waiting", after)
    after_rate = await registrations(bench, api_key, args.users, args.concurrency, "after")
    print(f"registrations with them: {after_rate:.2f}/s; {step_summary()}", flush=True)
    final = bench.rss()
    show_rss("after that run", final)
    up = "certdesk up (worker+API)"
    print(f"\n{args.waiting:,} processes waiting on two-week timers; {args.users} registrations, "
          f"{args.concurrency} at a time")
    print(f"  {up}: {before[up]:.0f} MB -> {max(after[up], final[up]):.0f} MB (target < 300 MB)")
    if "temporal dev server" in before:
        print(f"  Temporal dev server: {before['temporal dev server']:.0f} MB -> "
              f"{max(after['temporal dev server'], final['temporal dev server']):.0f} MB")
    print(f"  registrations: {before_rate:.2f}/s without, {after_rate:.2f}/s with: "
          f"ratio {after_rate / before_rate:.2f}x (target: unchanged)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=16, help="registrations in each timed run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--temporal", help="HOST:PORT of an existing Temporal cluster (default: the embedded one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="certdesk-waiting-bench-") as tmp, \
            running_stack(Path(tmp), args.temporal) as bench:
        asyncio.run(measure(args, bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
