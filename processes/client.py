"""The one way to reach the workflows from outside them: start, update, signal, query.

The modules beside this one (``processes.applications``, ``processes.accounts``, …) say what
each process is started and moved with, naming workflows and their handlers by reference
(``ServerCertApplication.cancel``), never by string; this one does it, and turns Temporal's
errors into the product's:

- ``Unavailable``: Temporal could not be reached or refused the call; nothing happened there.
  A start that fails this way first runs the caller's ``rollback``, so no row is left that no
  workflow will ever move (HTTP 503).
- ``Refused``: the workflow's validator or handler said no, with a code and a reason (409/422).
- ``Closed``: the workflow has ended; the caller's records say how.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.settings import Settings
from processes.connection import TemporalHandle, worker_polling

log = logging.getLogger("certdesk.processes")
T = TypeVar("T")

QUERY_TIMEOUT = timedelta(seconds=10)
CUSTOMER_KEY = SearchAttributeKey.for_keyword("CertdeskCustomer")
# Connecting failed (RuntimeError, OSError, TimeoutError) or the server refused (RPCError).
_DOWN = (RPCError, RuntimeError, TimeoutError, OSError)


class Unavailable(Exception):
    """Temporal cannot take the call now; nothing was started or changed."""


class Refused(Exception):
    """The workflow refused: ``code`` is its ApplicationError type (the product's reason)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Closed(Exception):
    """The workflow has ended (or never existed): nothing more can be asked of it."""


def _not_found(exc: RPCError) -> bool:
    return exc.status == RPCStatusCode.NOT_FOUND


class Processes:
    def __init__(self, temporal: TemporalHandle, settings: Settings) -> None:
        self.temporal = temporal
        self.settings = settings

    async def client(self) -> Client:
        try:
            return await self.temporal.client()
        except _DOWN as exc:
            raise Unavailable(type(exc).__name__) from None

    async def worker_polling(self) -> bool:
        """Whether some worker polls the task queue (``/healthz``); raises when Temporal is away."""
        return await worker_polling(await self.temporal.client(), self.settings)

    # --- starting ----------------------------------------------------------------------

    async def start(self, run: Callable[..., Any], arg: Any, *, id: str,  # noqa: A002 (Temporal's word)
                    rollback: Callable[[], None] | None = None, join_existing: bool = False,
                    once: bool = False, customer_id: int | None = None) -> bool:
        """Starts ``run`` under the business id ``id``; False when it was running already
        (or, with ``once``, has ever run). ``join_existing``: a running one is the answer.

        When Temporal cannot take it, ``rollback`` undoes what the caller stored for it and
        ``Unavailable`` is raised.
        """
        try:
            client = await self.client()
            await client.start_workflow(
                run, arg, id=id, task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE if once
                else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING if join_existing
                else WorkflowIDConflictPolicy.FAIL,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(CUSTOMER_KEY, f"customer:{customer_id}")]) if customer_id else None)
            return True
        except WorkflowAlreadyStartedError:
            return False
        except (Unavailable, *_DOWN) as exc:
            log.warning("workflow %s not started: %s", id, type(exc).__name__)
            if rollback is not None:
                rollback()
            raise Unavailable(type(exc).__name__) from None

    async def execute(self, run: Callable[..., Any], arg: Any, *, id: str,  # noqa: A002
                      run_timeout: timedelta) -> Any:
        """Runs a short workflow to its end and returns its result."""
        client = await self.client()
        try:
            return await client.execute_workflow(run, arg, id=id, task_queue=self.settings.task_queue,
                                                 execution_timeout=run_timeout)
        except _DOWN as exc:
            raise Unavailable(type(exc).__name__) from None

    # --- moving a running process -------------------------------------------------------

    async def update(self, workflow_id: str, update: Callable[..., Any], arg: Any = None,
                     result_type: type[T] | None = None) -> Any:
        """The update's result; ``Refused`` with the validator's reason, ``Closed`` if it has ended."""
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id)
        try:
            if arg is None:
                return await handle.execute_update(update, result_type=result_type)
            return await handle.execute_update(update, arg, result_type=result_type)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise Refused(cause.type or "refused", cause.message) from None
            raise Refused("refused", str(cause or exc)) from None
        except RPCError as exc:
            if _not_found(exc):
                raise Closed(workflow_id) from None
            raise Unavailable(type(exc).__name__) from None

    async def signal(self, workflow_id: str, signal: Callable[..., Any], arg: Any = None) -> None:
        """Signals a running workflow; ``Closed`` if it has ended."""
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id)
        try:
            if arg is None:
                await handle.signal(signal)
            else:
                await handle.signal(signal, arg)
        except RPCError as exc:
            if _not_found(exc):
                raise Closed(workflow_id) from None
            raise Unavailable(type(exc).__name__) from None

    async def query(self, workflow_id: str, query: Callable[..., Any], result_type: type[T] | None = None) -> Any:
        """A query's answer (the workflow's own word, not a mirror of it); ``Closed`` if there is no
        such workflow, ``Unavailable`` when no worker answers in time."""
        client = await self.client()
        try:
            return await client.get_workflow_handle(workflow_id).query(
                query, result_type=result_type, rpc_timeout=QUERY_TIMEOUT)
        except WorkflowQueryFailedError as exc:
            raise Unavailable(type(exc).__name__) from None
        except RPCError as exc:
            if _not_found(exc):
                raise Closed(workflow_id) from None
            raise Unavailable(type(exc).__name__) from None

    async def status(self, workflow_id: str) -> str:
        """RUNNING, COMPLETED, ...; ``Unavailable`` when Temporal cannot say."""
        client = await self.client()
        try:
            description = await client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if _not_found(exc):
                raise Closed(workflow_id) from None
            raise Unavailable(type(exc).__name__) from None
        return description.status.name if description.status else "UNKNOWN"
