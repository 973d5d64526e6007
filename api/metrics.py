"""The web app's Prometheus metrics (issue #18 target 7) and its request log line.

- ``certdesk_http_request_duration_seconds{method,route,status}``: a histogram per route
  *template* (``/api/v1/applications/{application_id}``, never the raw path: ids and link tokens
  stay out of the labels, and the series stay few); ``unmatched`` for 404s.
- ``certdesk_ocsp_cache_{hits,misses,evictions,invalidations}_total`` and
  ``certdesk_ocsp_cache_entries``: the memory of pre-signed OCSP responses (store/ocsp_cache.py).
- ``certdesk_hashing_pool_queue_depth`` / ``certdesk_hashing_pool_in_use``: the password hashing
  pool (api/hashing_pool.py), read when scraped, absent if that module is.

Served on CERTDESK_API_METRICS_ADDRESS ("host:port"), a separate listener the public port never
reaches (nginx forwards only the app's port); unset, nothing listens. One listener per process:
run one uvicorn process per container (compose does) so each scrape sees one process's figures.
"""

import importlib
import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import logging_json
from store import ocsp_cache

log = logging.getLogger("certdesk.metrics")
request_log = logging.getLogger("certdesk.request")

REQUEST_SECONDS = Histogram(
    "certdesk_http_request_duration_seconds", "Time to answer a request, by route template.",
    ("method", "route", "status"),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED = "unmatched"


def route_of(scope: Scope) -> str:
    """The template of the route that answered (FastAPI puts it in the scope), or the OCSP hot path's."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return scope.get("certdesk.route") or UNMATCHED


class RequestMetrics:
    """Outermost ASGI middleware: times every answer into the histogram; in JSON mode, logs a line."""

    def __init__(self, app: ASGIApp, log_requests: bool) -> None:
        self.app, self.log_requests = app, log_requests
        self.children: dict[tuple[str, str, int], object] = {}  # labels() is a lock and a lookup: saved

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            method, route = scope["method"], route_of(scope)
            key = (method, route, status)
            child = self.children.get(key)
            if child is None:
                child = self.children[key] = REQUEST_SECONDS.labels(method, route, str(status))
            child.observe(elapsed)  # type: ignore[attr-defined]
            if self.log_requests:
                request_log.info("%s %s %s", method, route, status, extra={
                    "method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 3)})


class _Collected(Collector):
    """Figures read when scraped: the OCSP caches of this process, the hashing pool."""

    def collect(self) -> Iterator[Metric]:
        caches = list(ocsp_cache.LIVE)
        for name, attribute, text in (
                ("hits", "hits", "OCSP answers served from memory."),
                ("misses", "misses", "OCSP requests memory could not answer (read or signed instead)."),
                ("evictions", "evictions", "Responses dropped from memory for room (LRU)."),
                ("invalidations", "invalidations", "Responses dropped from memory by a revocation.")):
            yield CounterMetricFamily(f"certdesk_ocsp_cache_{name}", text,
                                      value=sum(getattr(c, attribute) for c in caches))
        yield GaugeMetricFamily("certdesk_ocsp_cache_entries", "Responses held in memory.",
                                value=sum(len(c.entries) for c in caches))
        pool = _hashing_pool()
        if pool is not None:
            for name, fn, text in (("queue_depth", "queue_depth", "Hashing jobs waiting for a slot."),
                                   ("in_use", "in_use", "Hashing jobs running.")):
                try:
                    value = float(getattr(pool, fn)())
                except Exception:  # a figure missing beats a failed scrape
                    log.exception("metrics: hashing pool %s", fn)
                    continue
                yield GaugeMetricFamily(f"certdesk_hashing_pool_{name}", text, value=value)


def _hashing_pool() -> object | None:
    # Imported when scraped: the pool is another module's, and may not exist in this build.
    try:
        return importlib.import_module("api.hashing_pool")
    except ImportError:
        return None


_lock = threading.Lock()
_collector: _Collected | None = None
_listeners: dict[str, int] = {}  # "host:port" asked -> the port bound


def _register() -> None:
    global _collector
    with _lock:
        if _collector is None:
            _collector = _Collected()
            REGISTRY.register(_collector)


def listen(address: str) -> int:
    """Serves the registry on ``address`` ("host:port"; port 0 picks one), once per process;
    returns the port bound."""
    host, _, port = address.rpartition(":")
    with _lock:
        if address not in _listeners:
            server, _thread = start_http_server(int(port), addr=host or "0.0.0.0")  # noqa: S104 (configured)
            _listeners[address] = server.server_port
            log.info("metrics on %s:%s", host or "0.0.0.0", server.server_port)  # noqa: S104
        return _listeners[address]


def install(app: object, api_metrics_address: str | None, log_format: str) -> int | None:
    """The middleware on ``app`` (a Starlette/FastAPI app) and, when configured, the listener;
    returns the listener's port."""
    _register()
    logging_json.install(log_format)
    app.add_middleware(RequestMetrics, log_requests=logging_json.enabled(log_format))  # type: ignore[attr-defined]
    if not api_metrics_address:
        return None
    try:
        return listen(api_metrics_address)
    except OSError as exc:  # e.g. a second uvicorn worker on the same address: that one goes unscraped
        log.warning("metrics: cannot listen on %s: %s", api_metrics_address, exc)
        return None
