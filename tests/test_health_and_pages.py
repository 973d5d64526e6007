"""/healthz against a real dev server and worker; the dev mailbox and language choice."""

import asyncio
import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from certdesk.worker import build_worker
from domain.settings import Settings


def _client(settings: Settings, temporal_address: str) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update={"temporal_address": temporal_address}))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_health_names_the_missing_worker_then_is_ok(
    local_env: WorkflowEnvironment, settings: Settings, engine: Engine
) -> None:
    address = local_env.client.service_client.config.target_host
    async with _client(settings, address) as http:
        r = await http.get("/healthz")
        assert r.status_code == 503
        assert r.json()["worker"] != "ok" and r.json()["database"] == "ok" and r.json()["temporal"] == "ok"
        async with build_worker(local_env.client, settings):
            for _ in range(100):  # the server lists a poller once its first poll arrives
                r = await http.get("/healthz")
                if r.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert r.status_code == 200
            assert r.json() == {"status": "ok", "database": "ok", "temporal": "ok", "worker": "ok"}


async def test_health_names_unreachable_temporal_and_database(settings: Settings) -> None:
    from tests.conftest import free_port

    nobody = free_port()
    broken = settings.model_copy(update={"database_url": f"postgresql+psycopg://x@127.0.0.1:{nobody}/x"})
    async with _client(broken, f"127.0.0.1:{nobody}") as http:
        r = await http.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "unavailable", "temporal": "unavailable",
                        "worker": "unknown"}


async def test_dev_mailbox_shows_mail_in_japanese_and_english(
    settings: Settings, smtp_sink: tuple[int, Path]
) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ca@example.com", "user@example.com", "電子証明書ダウンロードのご案内"
    msg.set_content("ユーザーID: u-1\n", charset="utf-8")
    with smtplib.SMTP("127.0.0.1", smtp_sink[0]) as smtp:
        smtp.send_message(msg)
    dev = settings.model_copy(update={"smtp_host": None, "data_dir": smtp_sink[1].parent})
    async with _client(dev, "127.0.0.1:1") as http:
        listing = (await http.get("/dev/mailbox/messages")).json()
        assert [m["subject"] for m in listing] == ["電子証明書ダウンロードのご案内"]
        page = await http.get("/dev/mailbox")
        assert "開発用メールボックス" in page.text and "電子証明書ダウンロードのご案内" in page.text
        detail = await http.get(f"/dev/mailbox/{listing[0]['id']}?lang=en")
        assert "ユーザーID: u-1" in detail.text and "Back" in detail.text
        assert detail.cookies.get("lang") == "en"
        assert (await http.get("/dev/mailbox/../../etc/passwd")).status_code == 404
        assert (await http.get("/dev/mailbox/12-x")).status_code == 404
        home = await http.get("/", headers={"accept-language": "en-US,en;q=0.9"})
        assert "certdesk certificate services" in home.text


async def test_no_mailbox_when_mail_goes_to_a_real_server(settings: Settings) -> None:
    async with _client(settings, "127.0.0.1:1") as http:  # settings point at an SMTP host
        assert (await http.get("/dev/mailbox")).status_code == 404
