"""uvicorn servers run inside someone else's event loop: ``certdesk up``, and tests."""

import asyncio
import contextlib

import uvicorn


def embedded_server(config: uvicorn.Config) -> uvicorn.Server:
    """A server its owner stops (``should_exit``): it never takes SIGINT/SIGTERM for itself.
    Older uvicorn installs handlers in ``install_signal_handlers``, newer in ``capture_signals``."""
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    return server


async def serve(server: uvicorn.Server) -> None:
    """uvicorn calls sys.exit when it cannot bind, which would escape asyncio.run: end just this task."""
    with contextlib.suppress(SystemExit):
        await server.serve()


async def start(server: uvicorn.Server, name: str) -> "asyncio.Task[None]":
    """Serves ``server`` in a task; returns once it listens or has given up (the task is then done)."""
    task = asyncio.create_task(serve(server), name=name)
    while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn offers only a flag)
        await asyncio.sleep(0.02)
    return task
