"""End to end through the public HTTP API (issue #18 target 1), against the bare workflow of the same
shape on the same Temporal server.

    .venv/bin/python bench/e2e.py [--users 40] [--concurrency 8] [--only login|application]
                                  [--temporal HOST:PORT] [--workers N]

Starts ``certdesk up`` on free ports (embedded Temporal dev server, SQLite WAL; or ``--temporal``,
an existing cluster; ``--workers`` more ``python -m certdesk.worker`` processes on the same queue)
and times, ``--concurrency`` people at a time:

  login:        a login-certificate registration (L-1): tenant's invite → one-time password →
                secret question (download password) → issue + mail "ダウンロードのご案内" (read from the
                dev mailbox) → PKCS#12 download.
  application:  a server certificate application (S-2): apply (CSR) → domain validation (the DNS TXT
                record put in the dev zone) → the desk's checks and approval through the staff API →
                issue → the certificate downloaded (``GET …/certificate.pem``). The customer accounts
                are made beforehand and are not timed.

The baseline, measured in the same run on the same server: a bare workflow defined here, on a
worker process of its own (``--bare-worker``, its own task queue, the same sandbox), started and
moved by the same number of client calls: for login three updates and six no-op activities (the
registration's: two state mirrors, credentials, issue, mail, finish); for the application one
update per desk step and the application's activities as no-ops. Ratio = certdesk's rate / the
bare rate (target >= 0.6).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

if not workflow.unsafe.in_sandbox():  # (the sandbox imports this module again for the bare workflows)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with workflow.unsafe.imports_passed_through():  # the sandbox does not import these again
    import httpx

    from bench.stack import (
        STEP_SECONDS,
        BenchStack,
        MailWatcher,
        customer_session,
        make_csr,
        register,
        run_concurrently,
        running_stack,
        staff_session,
        step,
        step_summary,
        tenant_key,
    )
    from certdesk.worker import workflow_runner

BARE_QUEUE = "bench-bare"
NOOP = timedelta(seconds=30)


@activity.defn(name="bench_noop")
def noop(step: str) -> str:
    """A no-op in the activity thread pool, as certdesk's synchronous activities run."""
    return step


@workflow.defn(name="BenchBareRegistration")
class BareRegistration:
    """The login registration's shape: OTP, secret (updates), issue + mail, download (update)."""

    def __init__(self) -> None:
        self.state = "otp"

    async def _act(self, step: str) -> None:
        await workflow.execute_activity(noop, step, start_to_close_timeout=NOOP)

    @workflow.update
    async def enter_otp(self) -> str:
        self.state = "question"
        await self._act("mirror question")
        return self.state

    @workflow.update
    async def set_secret(self) -> str:
        await self._act("register credentials")
        self.state = "issuing"
        return self.state

    @workflow.update
    async def download(self) -> str:
        await workflow.wait_condition(lambda: self.state == "download")  # as the person waits for the mail
        await self._act("finish download")
        self.state = "downloaded"
        return self.state

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.state == "issuing")
        for step in ("mirror issuing", "issue", "mail"):
            await self._act(step)
        self.state = "download"
        await workflow.wait_condition(lambda: self.state == "downloaded")
        return self.state


@workflow.defn(name="BenchBareApplication")
class BareApplication:
    """The application's shape: received, domain validation (a child's looks: primary + five
    perspectives), a review task with two checks and an approval (updates), issue, mail, contract."""

    def __init__(self) -> None:
        self.checks = 0
        self.approved = False
        self.issued = False

    async def _act(self, step: str) -> None:
        await workflow.execute_activity(noop, step, start_to_close_timeout=NOOP)

    @workflow.update
    async def record_check(self) -> int:
        await self._act("record check")
        self.checks += 1
        return self.checks

    @workflow.update
    async def approve(self) -> bool:
        self.approved = True
        await workflow.wait_condition(lambda: self.issued)  # the customer then downloads
        return True

    @workflow.run
    async def run(self) -> str:
        for step in ("status", "mail received", "dcv prepare"):
            await self._act(step)
        await asyncio.gather(*(self._act(f"look {n}") for n in range(6)))
        for step in ("dcv record", "caa", "open task"):
            await self._act(step)
        await workflow.wait_condition(lambda: self.approved and self.checks >= 2)
        for step in ("task outcome", "issue", "status", "mail issued", "establish contract"):
            await self._act(step)
        self.issued = True
        return "issued"


async def bare_worker(address: str, queue: str) -> None:
    from bench import e2e  # by its module name (run as __main__), so the sandbox can import it again

    client = await Client.connect(address)
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
        await Worker(client, task_queue=queue, workflows=[e2e.BareRegistration, e2e.BareApplication],
                     activities=[e2e.noop],
                     activity_executor=executor, max_concurrent_activities=16,
                     workflow_runner=workflow_runner()).run()


async def bare_run(client: Client, kind: str, users: int, concurrency: int) -> float:
    prefix = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        if kind == "login":
            h = await client.start_workflow(BareRegistration.run, id=f"bare-login-{prefix}-{i}", task_queue=BARE_QUEUE)
            await h.execute_update(BareRegistration.enter_otp)
            await h.execute_update(BareRegistration.set_secret)
            await h.execute_update(BareRegistration.download)
        else:
            h = await client.start_workflow(BareApplication.run, id=f"bare-app-{prefix}-{i}", task_queue=BARE_QUEUE)
            await h.execute_update(BareApplication.record_check)
            await h.execute_update(BareApplication.record_check)
            await h.execute_update(BareApplication.approve)
        await h.result()

    return await run_concurrently(users, concurrency, one)


class Desk:
    """The server certificate application through the public API, the desk's part by its staff API."""

    def __init__(self, bench: BenchStack, http: httpx.AsyncClient) -> None:
        self.bench, self.http = bench, http
        self.staff: dict[str, str] = {}

    async def login_staff(self) -> None:
        self.staff = await staff_session(self.bench, self.http)

    async def customer(self, n: int) -> dict[str, str]:
        """A customer with its own password, logged in (not timed)."""
        return (await customer_session(self.bench, self.http, n))[1]

    async def apply(self, customer: dict[str, str], n: int, run: str) -> None:
        name = f"www.bench{run}{n}.co.jp"
        with step("apply"):
            applied = await self.http.post("/api/v1/applications", headers=customer, json={
                "type": "new", "product": "ov", "csr": make_csr(name), "agree_terms": True,
                "organization": {"name": f"ベンチ{n}株式会社", "country": "JP", "state": "東京都",
                                 "locality": "千代田区"}})
        if applied.status_code != 201:
            raise RuntimeError(f"apply: {applied.status_code} {applied.text[:300]}")
        path = f"/api/v1/applications/{applied.json()['id']}"
        app_id = applied.json()["id"]
        started = time.perf_counter()
        while not (rows := (await self.http.get(f"{path}/domain-validations", headers=customer)).json()) \
                or not rows[0]["random_value"]:  # noqa: ASYNC110 (polling the API, as a person would)
            await asyncio.sleep(0.05)
        await self.http.post("/dev/dns/records", json={"name": rows[0]["dns_record_name"], "type": "TXT",
                                                       "value": rows[0]["random_value"]})
        STEP_SECONDS.setdefault("dcv challenge", []).append(time.perf_counter() - started)
        started = time.perf_counter()
        task_id = None
        while task_id is None:
            await self.http.post(f"{path}/domain-validations/recheck", headers=customer)
            tasks = await self.http.get("/api/v1/tasks?state=open&kind=application_review", headers=self.staff)
            task_id = next((t["id"] for t in tasks.json() if t["subject"] == f"application:{app_id}"), None)
            if task_id is None:
                await asyncio.sleep(0.1)
        STEP_SECONDS.setdefault("dcv+review task", []).append(time.perf_counter() - started)
        started = time.perf_counter()
        for check in ({"check": "organization", "source": "nta_corporate_number", "outcome": "confirmed"},
                      {"check": "phone_callback", "source": "telephone_directory", "reference": "03-1234-5678",
                       "outcome": "confirmed"}):
            r = await self.http.post(f"/api/v1/tasks/{task_id}/checks", headers=self.staff, json=check)
            if r.status_code >= 300:
                raise RuntimeError(f"check: {r.status_code} {r.text[:300]}")
        r = await self.http.post(f"/api/v1/tasks/{task_id}/complete", headers=self.staff, json={"outcome": "approve"})
        if r.status_code >= 300:
            raise RuntimeError(f"approve: {r.status_code} {r.text[:300]}")
        STEP_SECONDS.setdefault("checks+approve", []).append(time.perf_counter() - started)
        started = time.perf_counter()
        while (await self.http.get(path, headers=customer)).json()["status"] != "issued":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        STEP_SECONDS.setdefault("issue", []).append(time.perf_counter() - started)
        pem = await self.http.get(f"/api/v1/applications/{app_id}/downloads/certificate.pem", headers=customer)
        if pem.status_code != 200 or b"BEGIN CERTIFICATE" not in pem.content:
            raise RuntimeError(f"download: {pem.status_code} {pem.text[:300]}")


async def certdesk_run(bench: BenchStack, kind: str, users: int, concurrency: int, run: str,
                       api_key: str, desk: Desk, customers: list[dict[str, str]]) -> float:
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(base_url=bench.base, timeout=120, limits=limits) as http, \
            MailWatcher(bench.mailbox) as mail:
        desk.http = http
        if kind == "login":
            return await run_concurrently(users, concurrency, lambda i: register(http, mail, api_key, f"{run}-{i}"))
        return await run_concurrently(users, concurrency, lambda i: desk.apply(customers[i], i, run))


async def measure(args: argparse.Namespace, bench: BenchStack) -> dict[str, tuple[float, float]]:
    worker = subprocess.Popen([sys.executable, "-m", "bench.e2e", "--bare-worker",  # noqa: ASYNC220
                               bench.temporal_address], cwd=Path(__file__).resolve().parent.parent)  # noqa: ASYNC240
    try:
        client = await Client.connect(bench.temporal_address)
        kinds = ["login", "application"] if args.only is None else [args.only]
        api_key = tenant_key(bench)
        async with httpx.AsyncClient(base_url=bench.base, timeout=120) as http:
            desk = Desk(bench, http)
            customers: list[dict[str, str]] = []
            if "application" in kinds:
                await desk.login_staff()
                customers = [await desk.customer(n) for n in range(args.users + 2)]
            # Warm-up (not timed): both paths once, so imports, caches and connections exist.
            await certdesk_run(bench, "login", 2, 2, "warm", api_key, desk, customers)
            if "application" in kinds:
                await certdesk_run(bench, "application", 2, 2, "warm", api_key, desk, customers[args.users:])
            for kind in kinds:
                await bare_run(client, kind, 2, 2)
            step_summary()  # (forgets the warm-up's)
            results: dict[str, tuple[float, float]] = {}
            for kind in kinds:
                # Alternating, so a burst of someone else's load hits both alike.
                bare_s = await bare_run(client, kind, args.users, args.concurrency)
                ours_s = await certdesk_run(bench, kind, args.users, args.concurrency, "run", api_key, desk, customers)
                results[kind] = (args.users / ours_s, args.users / bare_s)
                print(f"{kind}: certdesk {args.users / ours_s:.2f}/s ({ours_s:.1f} s), "
                      f"bare {args.users / bare_s:.2f}/s ({bare_s:.1f} s); certdesk's {step_summary()}", flush=True)
        return results
    finally:
        worker.terminate()
        worker.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--only", choices=("login", "application"))
    parser.add_argument("--temporal", help="HOST:PORT of an existing Temporal cluster (default: the embedded one)")
    parser.add_argument("--workers", type=int, default=0, help="more `python -m certdesk.worker` processes")
    parser.add_argument("--profile", type=Path, metavar="OUT.pstat",
                        help="run certdesk up under yappi (CPU, all threads) and print where its time went")
    parser.add_argument("--bare-worker", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_worker:
        asyncio.run(bare_worker(args.bare_worker, BARE_QUEUE))
        return 0
    with tempfile.TemporaryDirectory(prefix="certdesk-e2e-bench-") as tmp, \
            running_stack(Path(tmp), args.temporal, args.workers, args.profile) as bench:
        started = time.perf_counter()
        results = asyncio.run(measure(args, bench))
        print(f"\n{args.users} people, {args.concurrency} at a time; Temporal {bench.temporal_address}"
              f"{' (external)' if args.temporal else ' (embedded dev server, SQLite WAL)'}; "
              f"extra workers {args.workers}; {time.perf_counter() - started:.0f} s in all")
        for kind, (ours, bare) in results.items():
            print(f"  {kind:12s} certdesk {ours:6.2f}/s   bare workflow {bare:6.2f}/s   ratio {ours / bare:.2f}x "
                  f"(target >= 0.6x)")
    if args.profile:
        import pstats

        print(f"\ncertdesk up's CPU time by function (yappi, all threads; whole run, warm-up and start-up included; "
              f"{args.profile}):")
        stats = pstats.Stats(str(args.profile))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
