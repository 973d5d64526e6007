"""Prometheus metrics of the web app and of the worker's Temporal runtime; JSON request logs (issue #18 target 7)."""

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ca import authority
from certdesk.worker import build_worker, metrics_runtime
from domain.settings import Settings
from store import accounts
from tests.browser import serve
from tests.conftest import free_port
from tests.test_certificate_authority import SUBJECT, make_csr
from tests.test_ocsp_responder import _request
from workflows.initial_password import InitialPasswordExpiry, InitialPasswordInput

HISTOGRAM = "certdesk_http_request_duration_seconds"


def _count(route: str, status: str, method: str = "GET") -> float:
    from prometheus_client import REGISTRY

    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value(f"{HISTOGRAM}_count", labels) or 0.0


def _sample(name: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name) or 0.0


def test_a_request_moves_its_route_templates_histogram(settings: Settings, engine: Engine) -> None:
    before, unmatched = _count("/pki/{name}.crt", "404"), _count("unmatched", "404")
    with serve(settings) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/pki/no-such-ca.crt").status_code == 404
        assert http.get("/no/such/page/8f3e").status_code == 404
    assert _count("/pki/{name}.crt", "404") == before + 1  # the template, never the raw path
    assert _count("unmatched", "404") == unmatched + 1


def test_an_ocsp_answer_from_memory_moves_the_hit_counter_and_the_listener_serves_it(
        settings: Settings, engine: Engine) -> None:
    settings = settings.model_copy(update={"ca_passphrase": SecretStr("metrics passphrase"),
                                           "api_metrics_address": "127.0.0.1:0"})
    authority.ensure_hierarchy(engine, settings)
    issued = authority.issue_server(engine, settings, "app:metrics", make_csr("metrics.example.co.jp"), SUBJECT,
                                    90, "t")
    request = _request(engine, issued.pem)
    port = create_app(settings).state.metrics_port  # the separate listener, once per process
    assert port
    with serve(settings) as base, httpx.Client(timeout=10) as http:
        http.post(f"{base}/ocsp", content=request)  # a miss: read, then kept in memory
        hits, misses = _sample("certdesk_ocsp_cache_hits_total"), _sample("certdesk_ocsp_cache_misses_total")
        routed = _count("/ocsp", "200", "POST")
        assert http.post(f"{base}/ocsp", content=request).status_code == 200
        assert _sample("certdesk_ocsp_cache_hits_total") == hits + 1
        assert _sample("certdesk_ocsp_cache_misses_total") == misses
        assert _count("/ocsp", "200", "POST") == routed + 1  # the hot path is timed under its route too
        scraped = http.get(f"http://127.0.0.1:{port}/metrics").text
        assert "certdesk_ocsp_cache_hits_total" in scraped and f'{HISTOGRAM}_bucket{{' in scraped
        # api/hashing_pool.py, read when scraped
        assert "certdesk_hashing_pool_queue_depth " in scraped and "certdesk_hashing_pool_in_use " in scraped
        assert http.get(f"{base}/metrics").status_code == 404  # never on the public port


@pytest.fixture
def json_logs() -> Iterator[None]:
    """CERTDESK_LOG_FORMAT=json changes this process's logging: put it back afterwards."""
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    handlers, level, disabled = list(root.handlers), root.level, access.disabled
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    access.disabled = disabled


def test_json_request_log_line_names_the_route_template_not_the_secret(
        settings: Settings, engine: Engine, json_logs: None, capfd: pytest.CaptureFixture[str]) -> None:
    settings = settings.model_copy(update={"log_format": "json"})
    with serve(settings) as base, httpx.Client(base_url=base, timeout=10) as http:
        http.get("/enroll/SeCrEtToKeN123?password=hunter2")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("logger") == "certdesk.request"]
    assert requests, lines
    line = requests[-1]
    assert {"ts", "level", "logger", "message", "method", "route", "status", "duration_ms"} <= line.keys()
    assert line["method"] == "GET" and line["route"] == "/enroll/{token}"
    assert isinstance(line["status"], int) and isinstance(line["duration_ms"], float)
    text = json.dumps([line for line in lines if line["logger"] != "httpx"])  # httpx: this test's client
    assert "SeCrEtToKeN123" not in text and "hunter2" not in text


async def test_the_workers_runtime_serves_temporal_metrics(time_skipping_env: WorkflowEnvironment,
                                                           settings: Settings, engine: Engine) -> None:
    port = free_port()
    client = await Client.connect(time_skipping_env.client.service_client.config.target_host,
                                  runtime=metrics_runtime(f"127.0.0.1:{port}"))
    new = accounts.create_customer(engine, "メトリクス株式会社", "metrics@example.co.jp", timedelta(0),
                                   now=await time_skipping_env.get_current_time())
    async with build_worker(client, settings):
        await client.execute_workflow(
            InitialPasswordExpiry.run,
            InitialPasswordInput(new.id, new.password_version, new.password_expires_at.isoformat()),
            id=f"initial-password-{uuid.uuid4().hex}", task_queue=settings.task_queue)
    async with httpx.AsyncClient(timeout=10) as http:
        scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    names = {line.split("{")[0].split(" ")[0] for line in scraped.splitlines() if not line.startswith("#")}
    assert "temporal_workflow_completed" in names, sorted(names)[:20]
    assert any(n.startswith("temporal_activity_execution_latency") for n in names)
