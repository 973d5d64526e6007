"""Connecting to Temporal, and telling whether a worker is there to run what we start."""

import asyncio
import time
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from domain.settings import Settings

TemporalClient = Client  # for callers above this layer, which do not import temporalio themselves

# A poller that has not called in this long is a worker that has gone.
WORKER_POLL_FRESHNESS = timedelta(minutes=2)
CONNECT_TIMEOUT = timedelta(seconds=5)


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


class TemporalHandle:
    """One client for a process's life, (re)connected on demand so the API starts before Temporal."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self._client = client  # given: a test's time-skipping server
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await asyncio.wait_for(connect(self.settings), timeout=CONNECT_TIMEOUT.total_seconds())
            return self._client


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
