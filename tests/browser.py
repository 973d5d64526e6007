"""Real-browser fixtures: Debian's Chromium driven by Playwright, and the app served over real http.

Test modules import the fixtures they use (and ``# ruff: noqa: F811``, since each test
parameter named like an imported fixture counts as a redefinition)::

    from tests.browser import browser, live_app, page  # noqa: F401

The Playwright *async* API on pytest-asyncio's session loop, on purpose: the sync API keeps
its own event loop marked as running in this thread between calls, so every async test that
runs after a session-scoped sync browser fails ("Runner.run() cannot be called from a running
event loop"). Browser tests are therefore ``async def``.

Chromium is the system one (``.ci/install-browser`` installs it; Playwright's own browser
download is not used). ``CERTDESK_CHROMIUM`` points at another binary. Without one the browser
tests are skipped on a developer machine and fail under CI (``CI`` set).
"""

import os
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy import Engine

from api.app import create_app
from domain.settings import Settings
from tests.conftest import free_port

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
]
DEFAULT_LOCALE = "ja-JP"
TIMEOUT_MS = 10_000  # a page that needs longer than this is broken; fail fast instead of at 30 s


def chromium_path() -> str | None:
    configured = os.environ.get("CERTDESK_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if executable is None:
        message = "no Chromium: run .ci/install-browser (or set CERTDESK_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A page in a fresh context (no cookies), Accept-Language from the locale: ja-JP unless
    parametrized, e.g. ``@pytest.mark.parametrize("page", ["en-US"], indirect=True)``."""
    locale = getattr(request, "param", DEFAULT_LOCALE)
    context = await browser.new_context(locale=locale, timezone_id="Asia/Tokyo")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """``api.app:create_app(settings)`` under uvicorn in a background thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live_app(settings: Settings, engine: Engine, smtp_sink: tuple[int, Path]) -> Iterator[str]:
    """The app as ``certdesk up`` serves it in development: a migrated database, mail to the
    built-in sink (``smtp_sink``, so the dev mailbox is mounted). Yields the base URL."""
    dev = settings.model_copy(update={"smtp_host": None, "data_dir": smtp_sink[1].parent})
    with serve(dev) as base_url:
        yield base_url
