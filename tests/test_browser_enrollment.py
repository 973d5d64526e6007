"""A person registers for a login certificate and downloads it, in a real browser (L-1; manual 2 and 3).

The app is served over real http on this test's event loop (``tests.browser.serve`` builds its
own app in another thread, without the time-skipping client), with a worker on the time-skipping
server; time moves with ``env.sleep`` while the workflow issues the certificate and mails the link.
"""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Page, expect
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ca import authority
from certdesk.worker import build_worker
from domain.settings import Settings
from store import accounts, dev_mailbox
from tests.browser import browser, page  # noqa: F401
from tests.conftest import free_port, serving
from tests.test_login_certificates import download_url_of, open_pkcs12, token_of

pytestmark = pytest.mark.asyncio(loop_scope="session")
DOWNLOAD_MAIL = "電子証明書ダウンロードのご案内"


@asynccontextmanager
async def serve_here(app: FastAPI) -> AsyncIterator[str]:
    """``app`` under uvicorn on this event loop (the one its Temporal client lives on); its base URL."""
    port = free_port()
    async with serving(uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                     access_log=False, timeout_graceful_shutdown=5))):
        yield f"http://127.0.0.1:{port}"


async def test_a_person_registers_and_downloads_the_certificate(
    page: Page, time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
    smtp_sink: tuple[int, Path], tmp_path: Path,
) -> None:
    env = time_skipping_env
    await asyncio.to_thread(authority.ensure_hierarchy, engine, settings)
    _, key = accounts.create_tenant(engine, "Example Shop")
    async with build_worker(env.client, settings), serve_here(create_app(settings, env.client)) as base:
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {key}"}) as tenant:
            invited = await tenant.post("/api/v1/enrollments",
                                        json={"user_id": "u-2001", "email": "u-2001@example.jp", "name": "山田 花子"})
        assert invited.status_code == 201, invited.text
        invitation = invited.json()

        # 2-(1): the one-time password, then Next.
        response = await page.goto(f"{base}/enroll/{token_of(invitation['enrollment_url'])}")
        assert response is not None and response.ok
        assert response.headers["referrer-policy"] == "same-origin"  # the token never leaves
        await expect(page.get_by_role("heading", level=1)).to_have_text("認証情報登録")
        await page.get_by_label("ワンタイムパスワード").fill("00000000")
        await page.get_by_role("button", name="次へ").click()
        await expect(page.get_by_role("alert")).to_contain_text("ワンタイムパスワードに誤りがあります")
        await expect(page.get_by_role("alert")).to_contain_text("あと4回")
        await expect(page.get_by_label("ワンタイムパスワード")).to_have_value("")  # nothing typed comes back
        await page.get_by_label("ワンタイムパスワード").fill(invitation["one_time_password"])
        await page.get_by_role("button", name="次へ").click()

        # 2-(2): a secret question from the list and its answer, then Register.
        await page.get_by_label("秘密の質問", exact=True).select_option(label="初めて飼ったペットの名前は？")
        await page.get_by_label("秘密の質問答え").fill("Pochi")
        await page.get_by_role("button", name="登録").click()

        # 2-(3): the download password, shown once, to write down.
        shown = page.locator("#download-password")
        await expect(shown).to_have_text(re.compile(r"^\w{5}-\w{5}-\w{5}-\w{5}$"))
        password = (await shown.text_content() or "").strip()
        await expect(page.get_by_text("メモをお取りください")).to_be_visible()
        if shot := os.environ.get("CERTDESK_SCREENSHOT_DIR"):
            await page.screenshot(path=f"{shot}/enduser-download-password.png", full_page=True)

        # 3: the mail brings the download URL; the password opens the PKCS#12.
        mail = None
        for _ in range(200):
            mail = next((m for m in dev_mailbox.list_mail(smtp_sink[1]) if m.subject == DOWNLOAD_MAIL), None)
            if mail:
                break
            await env.sleep(timedelta(seconds=1))
        assert mail is not None, "no download mail"
        await page.goto(f"{base}/download/{download_url_of(mail)}")
        await expect(page.get_by_role("heading", level=1)).to_have_text("電子証明書のダウンロード")
        await page.get_by_label("証明書ダウンロード用パスワード").fill(password)
        async with page.expect_download() as downloading:
            await page.get_by_role("button", name="ダウンロード").click()
        download = await downloading.value
        assert re.fullmatch(r"enr_\w+\.p12", download.suggested_filename)
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        cert = open_pkcs12(saved.read_bytes(), password, tmp_path)
        assert cert.subject.rfc4514_string() == "CN=山田 花子"

        # The manual the mail links to.
        await page.goto(f"{base}/help/download")
        await expect(page.get_by_role("heading", level=1)).to_have_text("電子証明書ダウンロードマニュアル")
