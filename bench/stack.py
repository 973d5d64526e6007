"""What the end-to-end benchmarks share (bench/e2e.py, bench/waiting.py, bench/pages.py): a real
``certdesk up`` on free ports and a temporary data directory (tests/stack.py), the people's steps
over its public HTTP API, the dev mailbox read straight from its folder, and process RSS.

``certdesk up`` is one process for the worker, the API and the local perspectives (the
development shape); the Temporal dev server is its child (SQLite, WAL: certdesk/dev_server.py).
With ``temporal`` set it uses that cluster instead; ``workers`` adds ``python -m certdesk.worker``
processes polling the same task queue (the compose shape: several workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from certdesk import pidfile  # noqa: E402
from store.dev_mailbox import _read as read_mail  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.stack import Stack, cli_json, stack_env  # noqa: E402
from tests.test_certificate_authority import make_csr  # noqa: E402

PASSWORD = "a much better bench passphrase"  # noqa: S105 (throwaway accounts)
STAFF_PASSWORD = "bench staff passphrase"  # noqa: S105


def rss_mb(pid: int) -> float:
    """Resident set size of one process, MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class BenchStack:
    data: Path
    stack: Stack
    extra_workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.stack.base

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    @property
    def up_pid(self) -> int:
        assert self.stack.proc is not None
        return self.stack.proc.pid

    @property
    def temporal_pid(self) -> int | None:
        path = self.data / pidfile.TEMPORAL
        return int(path.read_text().strip()) if path.exists() else None

    @property
    def temporal_address(self) -> str:
        return self.env.get("CERTDESK_TEMPORAL_ADDRESS") or f"127.0.0.1:{self.env['CERTDESK_TEMPORAL_PORT']}"

    @property
    def mailbox(self) -> Path:
        return self.data / "mailbox"

    def rss(self) -> dict[str, float]:
        """MB: ``certdesk up`` (worker + API + perspectives), its Temporal server, extra workers."""
        out = {"certdesk up (worker+API)": rss_mb(self.up_pid)}
        if self.temporal_pid:
            out["temporal dev server"] = rss_mb(self.temporal_pid)
        for n, w in enumerate(self.extra_workers):
            out[f"extra worker {n + 1}"] = rss_mb(w.pid)
        return out


class ProfiledStack(Stack):
    """``certdesk up`` under yappi (bench/profiled_up.py), its stats written to ``out`` when it stops."""

    def __init__(self, env: dict[str, str], log: Path, out: Path) -> None:
        super().__init__(env, log)
        self.out = out

    def start(self, timeout: float = 120) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "profiled_up.py"), str(self.out)],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"profiled certdesk up exited early:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"not healthy within {timeout}s:\n{self.log.read_text()}")


@contextlib.contextmanager
def running_stack(tmp: Path, temporal: str | None = None, workers: int = 0, profile: Path | None = None,
                  **extra_env: str) -> Iterator[BenchStack]:
    dns = free_port()  # every worker looks at the stack's development DNS zone
    env_extra = {"CERTDESK_DEV_DNS_PORT": str(dns), "CERTDESK_DNS_RESOLVER": f"127.0.0.1:{dns}", **extra_env}
    if temporal:
        env_extra["CERTDESK_TEMPORAL_ADDRESS"] = temporal
    data = tmp / "var"
    env = stack_env(data, **env_extra)
    stack = ProfiledStack(env, tmp / "up.log", profile) if profile else Stack(env, tmp / "up.log")
    stack.start(timeout=180)
    bench = BenchStack(data, stack)
    try:
        for n in range(workers):
            with (tmp / f"worker{n}.log").open("ab") as log:
                bench.extra_workers.append(subprocess.Popen([sys.executable, "-m", "certdesk.worker"], env=stack.env,
                                                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
        yield bench
    finally:
        for w in bench.extra_workers:
            w.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.wait(30)
        stack.stop()


class MailWatcher:
    """The dev mailbox, looked at every 20 ms; each new message is parsed once and handed to
    whoever waits for its recipient (a person waiting for their mail)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seen: set[str] = set()
        self.mail: dict[str, list[tuple[str, str]]] = {}  # recipient -> [(subject, body)]
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MailWatcher:
        self.task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    def _scan(self) -> None:
        if not self.directory.is_dir():
            return
        for name in os.listdir(self.directory):
            if name.endswith(".eml") and name not in self.seen:
                self.seen.add(name)
                m = read_mail(self.directory / name)
                self.mail.setdefault(m.recipients, []).append((m.subject, m.body))

    async def _watch(self) -> None:
        while True:
            await asyncio.to_thread(self._scan)
            await asyncio.sleep(0.02)

    async def wait(self, to: str, contains: str, timeout: float = 120) -> str:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _subject, body in self.mail.get(to, []):
                if contains in body:
                    return body
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no mail with {contains!r} to {to}")


async def customer_session(bench: BenchStack, http: httpx.AsyncClient, n: int) -> tuple[str, dict[str, str]]:
    """A customer (made in this process, on the stack's database: quicker than ``certdesk customer
    create``, and no expiry timer is wanted here) with its own password, logged in through the API.
    Returns its access key and the bearer header."""
    from datetime import timedelta

    from store import accounts
    from store.db import engine_for

    engine = engine_for(bench.env.get("CERTDESK_DATABASE_URL") or f"sqlite:///{bench.data / 'certdesk.db'}")
    new = await asyncio.to_thread(accounts.create_customer, engine, f"ベンチ{n}株式会社", f"it{n}@bench.example.jp",
                                  timedelta(days=30))
    session = await http.post("/api/v1/session", json={"access_key": new.access_key,
                                                       "password": new.initial_password})
    _expect(session, 200, "customer login")
    headers = {"authorization": f"Bearer {session.json()['token']}"}
    changed = await http.post("/api/v1/password", headers=headers, json={
        "current_password": new.initial_password, "new_password": PASSWORD})
    if changed.status_code >= 300:
        raise RuntimeError(f"password change: {changed.status_code} {changed.text[:200]}")
    return new.access_key, headers


async def staff_session(bench: BenchStack, http: httpx.AsyncClient) -> dict[str, str]:
    cli_json(bench.env, "staff", "create", "bench", "--role", "supervisor", "--password", STAFF_PASSWORD)
    r = await http.post("/api/v1/staff/session", json={"username": "bench", "password": STAFF_PASSWORD})
    _expect(r, 200, "staff login")
    return {"authorization": f"Bearer {r.json()['token']}"}


def tenant_key(bench: BenchStack) -> str:
    return cli_json(bench.env, "tenant", "create", "ベンチマークサイト")["api_key"]


STEP_SECONDS: dict[str, list[float]] = {}  # step -> durations, for where the time goes


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    STEP_SECONDS.setdefault(name, []).append(time.perf_counter() - started)


def step_summary() -> str:
    parts = [f"{k} {sum(v) / len(v) * 1000:.0f} ms" for k, v in STEP_SECONDS.items()]
    STEP_SECONDS.clear()
    return "mean per step: " + ", ".join(parts)


async def register(http: httpx.AsyncClient, mail: MailWatcher, api_key: str, user: str) -> None:
    """L-1 through the public API: invite → one-time password → secret → (issue, mail) → download."""
    email = f"{user}@bench.example.jp"
    with step("invite"):
        invited = await http.post("/api/v1/enrollments", headers={"authorization": f"Bearer {api_key}"},
                                  json={"user_id": user, "email": email, "name": f"利用者 {user}"})
    _expect(invited, 201, "invite")
    body = invited.json()
    token = body["enrollment_url"].rstrip("/").rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60) as browser:  # the person's cookies
        with step("otp"):
            otp = await browser.post(f"/api/v1/enroll/{token}/otp",
                                     json={"one_time_password": body["one_time_password"]})
        _expect(otp, 200, "otp")
        answer = {"question_id": otp.json()["questions"][0]["id"], "answer": "Tanaka"}
        with step("secret"):
            while True:
                secret = await browser.post(f"/api/v1/enroll/{token}/secret", json=answer)
                if secret.status_code != 409 or secret.json().get("error") != "registering":
                    break  # (409 "registering": the step is still being taken; ask again)
                await asyncio.sleep(0.05)
        _expect(secret, 200, "secret")
        password = secret.json()["download_password"]
    with step("issue+mail"):
        guide = await mail.wait(email, "/download/")
    download = guide.split("/download/", 1)[1].split()[0]
    with step("download"):
        got = await http.post(f"/api/v1/downloads/{download}", json={"download_password": password})
    _expect(got, 200, "download")


def _expect(r: httpx.Response, status: int, what: str) -> None:
    if r.status_code != status:
        raise RuntimeError(f"{what}: {r.status_code} {r.text[:300]}")


async def run_concurrently(n: int, concurrency: int, one: object) -> float:
    """Runs ``one(i)`` for i < n, ``concurrency`` at a time; returns the wall time in seconds."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with gate:
            await one(i)  # type: ignore[operator]

    start = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(n)))
    return time.perf_counter() - start


__all__ = ["PASSWORD", "STAFF_PASSWORD", "BenchStack", "MailWatcher", "cli_json", "customer_session",
           "staff_session", "make_csr", "register",
           "rss_mb", "run_concurrently", "running_stack", "step", "step_summary", "tenant_key"]
