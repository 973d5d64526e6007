"""The account pages' device screens in a real browser (L-4; manual 付録 1 and 3), in ja and en.

Chromium presents a real login certificate (from a real registration and PKCS#12 download) to
the account app's HTTPS port; a worker on the time-skipping server runs the added device's
registration. 追加 (with the email confirmation and the contract's limit), 変更 and 削除.
"""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12
from playwright.async_api import Browser, BrowserContext, expect
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.login_account import create_account_app
from ca import authority
from certdesk.client_cert_port import account_port_server
from certdesk.worker import build_worker
from domain.settings import Settings
from processes.client import Processes
from processes.connection import TemporalHandle
from store import accounts, dev_mailbox
from tests.browser import TIMEOUT_MS, browser  # noqa: F401
from tests.conftest import free_port, serving
from tests.test_login_certificates import download_url_of, register

pytestmark = pytest.mark.asyncio(loop_scope="session")

WORDS = {
    "ja-JP": {"devices": "端末情報の変更・追加・削除", "title": "端末情報", "add": "追加", "email": "メールアドレス",
              "confirm_field": "メールアドレス確認", "type": "端末種別", "confirm": "確認", "register": "登録",
              "mismatch": "メールアドレスとメールアドレス確認が一致しません", "smartphone": "スマートフォン",
              "tablet": "タブレット", "pending": "登録手続き中", "sent": "宛てに電子証明書取得のご案内",
              "limit": "上限（2 台）", "change": "変更", "changed": "端末情報を変更しました", "delete": "削除",
              "delete_execute": "削除する", "deleted": "端末を削除しました", "this": "この端末"},
    "en-US": {"devices": "Change, add or delete devices", "title": "Devices", "add": "Add", "email": "Email address",
              "confirm_field": "Email address (again)", "type": "Device type", "confirm": "Confirm",
              "register": "Register", "mismatch": "The two email addresses do not match",
              "smartphone": "Smartphone", "tablet": "Tablet", "pending": "Registration in progress",
              "sent": "We sent the registration address", "limit": "limit of 2 devices", "change": "Change",
              "changed": "The device information was changed", "delete": "Delete", "delete_execute": "Delete",
              "deleted": "The device was deleted", "this": "this device"},
}


@asynccontextmanager
async def login_service(env: WorkflowEnvironment, settings: Settings, engine: Engine,
                        tmp: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str, str, tuple[str, str]]]:
    """The API in process, the worker, the account app on its HTTPS port, and a user who holds a
    certificate: (tenant client, account base URL, serial, (cert file, key file))."""
    await asyncio.to_thread(authority.ensure_hierarchy, engine, settings)
    _, key = accounts.create_tenant(engine, "Example Shop")
    account_settings = settings.model_copy(update={"tls_port": free_port()})
    account_app = create_account_app(account_settings)
    account_app.state.processes = Processes(TemporalHandle(account_settings, env.client), account_settings)
    async with build_worker(env.client, settings), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, env.client)), base_url="http://certdesk.test",
        headers={"authorization": f"Bearer {key}"},
    ) as http, serving(account_port_server(account_app, account_settings, engine)):
        invited = await http.post("/api/v1/enrollments", json={"user_id": "u-501", "email": "u-501@example.jp",
                                                                "name": "Kato Jiro"})
        invitation = invited.json()
        password = await register(_Svc(http), invitation, answer="Tama")  # type: ignore[arg-type]
        mail = None
        for _ in range(200):
            mail = next((m for m in dev_mailbox.list_mail(settings.data_dir / "mailbox")
                         if m.subject == "電子証明書ダウンロードのご案内"), None)
            if mail:
                break
            await env.sleep(timedelta(seconds=1))
        assert mail is not None
        p12 = await http.post(f"/api/v1/downloads/{download_url_of(mail)}", json={"download_password": password})
        private, cert, _ = pkcs12.load_key_and_certificates(p12.content, password.encode())
        assert private is not None and cert is not None
        cert_file, key_file = tmp / "me.crt", tmp / "me.key"
        cert_file.write_bytes(cert.public_bytes(Encoding.PEM))
        key_file.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        assert (await http.put("/api/v1/contract", json={"max_devices": 2})).status_code == 200
        yield http, f"https://127.0.0.1:{account_settings.tls_port}", format(cert.serial_number, "x"), (
            str(cert_file), str(key_file))


class _Svc:
    """What ``register`` needs of a service: its http client."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http


async def holder_context(browser: Browser, locale: str, base: str, cert: tuple[str, str]) -> BrowserContext:
    context = await browser.new_context(locale=locale, timezone_id="Asia/Tokyo", ignore_https_errors=True,
                                        client_certificates=[{"origin": base, "certPath": cert[0],
                                                              "keyPath": cert[1]}])
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.mark.parametrize("locale", ["ja-JP", "en-US"])
async def test_device_screens(locale: str, browser: Browser, time_skipping_env: WorkflowEnvironment,
                              settings: Settings, engine: Engine, smtp_sink: tuple[int, Path],
                              tmp_path: Path) -> None:
    w = WORDS[locale]
    async with login_service(time_skipping_env, settings, engine, tmp_path) as (_, base, serial, cert):
        context = await holder_context(browser, locale, base, cert)
        try:
            page = await context.new_page()
            await page.goto(f"{base}/account")
            # 付録 1 (1) / 付録 3 (1): アカウント管理 → the devices, with 追加, 変更 and 削除.
            await page.get_by_role("link", name=w["devices"]).click()
            await expect(page.get_by_role("heading", level=1)).to_have_text(w["title"])
            first = page.locator("tr", has_text=serial)
            await expect(first).to_contain_text(w["this"])
            await expect(first.get_by_role("link", name=w["delete"])).to_have_count(0)  # not the device in use

            # 付録 1 (2): email, its confirmation, the type; a mismatch is shown next to its field.
            await page.get_by_role("link", name=w["add"], exact=True).click()
            await page.get_by_label(w["email"], exact=True).fill("phone@example.jp")
            await page.get_by_label(w["confirm_field"]).fill("phone@example.com")
            await page.get_by_label(w["type"]).select_option(label=w["smartphone"])
            await page.get_by_role("button", name=w["confirm"]).click()
            await expect(page.locator("#e-email_confirm")).to_contain_text(w["mismatch"])
            await expect(page.get_by_label(w["confirm_field"])).to_have_attribute("aria-invalid", "true")
            await page.get_by_label(w["confirm_field"]).fill("phone@example.jp")
            await page.get_by_role("button", name=w["confirm"]).click()
            # 付録 1 (3): what will be registered, then 登録.
            await expect(page.locator("main, body").first).to_contain_text("phone@example.jp")
            await page.get_by_role("button", name=w["register"]).click()
            await expect(page.get_by_role("status")).to_contain_text(w["sent"])
            added = page.locator("tr", has_text="phone@example.jp")
            await expect(added).to_contain_text(w["pending"])
            await expect(added).to_contain_text(w["smartphone"])

            # The contract's limit (2): a third is refused in the manual's words.
            await page.get_by_role("link", name=w["add"], exact=True).click()
            await expect(page.get_by_role("alert")).to_contain_text(w["limit"])

            # 変更: email and type.
            await page.locator("tr", has_text="phone@example.jp").get_by_role("link", name=w["change"]).click()
            await page.get_by_label(w["email"], exact=True).fill("pad@example.jp")
            await page.get_by_label(w["type"]).select_option(label=w["tablet"])
            await page.get_by_role("button", name=w["change"]).click()
            await expect(page.get_by_role("status")).to_contain_text(w["changed"])
            await expect(page.locator("tr", has_text="pad@example.jp")).to_contain_text(w["tablet"])

            # 削除, with confirmation.
            await page.locator("tr", has_text="pad@example.jp").get_by_role("link", name=w["delete"]).click()
            await page.get_by_role("button", name=w["delete_execute"]).click()
            await expect(page.get_by_role("status")).to_contain_text(w["deleted"])
            await expect(page.locator("tr", has_text="pad@example.jp")).to_have_count(0)
            await expect(page.locator("tr", has_text=serial)).to_have_count(1)  # the other device stays
        finally:
            await context.close()
