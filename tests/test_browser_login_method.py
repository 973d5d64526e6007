"""「ログイン方法の変更」 (L-5, 付録 2) in Chromium, in Japanese and English: the account pages over
the real HTTPS port, the browser presenting the login certificate, an authenticator app's codes
computed from the key the page shows."""

# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from playwright.async_api import Browser, Page, expect
from sqlalchemy import update
from sqlmodel import col, select

from api.login_account import create_account_app
from ca import authority
from certdesk.client_cert_port import account_port_server
from domain.pki.key_encryption import open_login_key
from processes.client import Processes
from processes.connection import TemporalHandle
from store.db import session_scope
from store.models import CertificateRecord, LoginUser, Tenant
from tests.browser import TIMEOUT_MS, browser  # noqa: F401
from tests.conftest import free_port, serving
from tests.login_service import Service

TEXT = {
    "ja": {"menu": "ログイン方法の変更", "next": "次へ", "execute": "実行", "otp": "ワンタイムパスワード",
           "both": "電子証明書とワンタイムパスワード", "done": "ログイン方法を変更しました。",
           "wrong": "ワンタイムパスワードが一致しません", "subject": "ログイン方法変更のお知らせ"},
    "en": {"menu": "Change login method", "next": "Next", "execute": "Execute", "otp": "One-time password",
           "both": "Certificate and one-time password", "done": "Your login method has been changed.",
           "wrong": "The one-time password does not match", "subject": "Your login method has been changed"},
}


@pytest.fixture
async def holder_page(service: Service, browser: Browser, tmp_path: Path,  # noqa: F811
                      request: pytest.FixtureRequest) -> AsyncIterator[tuple[Page, str]]:
    """A page whose browser holds u-7's login certificate, on the account port; (page, language)."""
    lang = request.param
    settings = service.settings.model_copy(update={"tls_port": free_port()})
    engine = service.engine
    with session_scope(engine) as s:
        tenant = s.exec(select(Tenant).where(col(Tenant.name) == "Example Shop")).one()
        s.exec(update(Tenant).where(col(Tenant.id) == tenant.id)
               .values(login_methods="certificate,otp,certificate+otp"))
        tenant_id = int(tenant.id or 0)
    issued = authority.issue_login(engine, settings, "key-u-7", "Sato Hanako", "test")
    with session_scope(engine) as s:
        s.add(LoginUser(tenant_id=tenant_id, user_id="u-7", email="u-7@example.jp", certificate_name="Sato Hanako",
                        certificate_serial=issued.serial, language=lang))
        row = s.exec(select(CertificateRecord).where(col(CertificateRecord.serial) == issued.serial)).one()
        key = open_login_key(row.private_key_pem or "", "test passphrase")
    cert_file, key_file = tmp_path / "u7.crt", tmp_path / "u7.key"
    cert_file.write_text(issued.pem)
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))

    app = create_account_app(settings)
    app.state.processes = Processes(TemporalHandle(settings, service.env.client), settings)
    base = f"https://127.0.0.1:{settings.tls_port}"
    async with serving(account_port_server(app, settings, engine)):
        context = await browser.new_context(
            locale="ja-JP" if lang == "ja" else "en-US", timezone_id="Asia/Tokyo", ignore_https_errors=True,
            base_url=base, client_certificates=[{"origin": base, "certPath": str(cert_file),
                                                 "keyPath": str(key_file)}])
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield await context.new_page(), lang
        finally:
            await context.close()


def _method(service: Service) -> str:
    with session_scope(service.engine) as s:
        return s.exec(select(LoginUser).where(LoginUser.user_id == "u-7")).one().login_method


async def _choose(page: Page, text: dict[str, str], method_label: str) -> str:
    """Menu → 「ログイン方法の変更」 → the method → 次へ; the authenticator app's key the page shows."""
    await page.goto("/account")
    await page.get_by_role("navigation").get_by_role("link", name=text["menu"]).click()  # the menu (付録 2 (1))
    await page.get_by_role("radio", name=method_label, exact=True).check()
    await page.get_by_role("button", name=text["next"]).click()
    await expect(page.locator("#totp-qr")).to_be_visible()
    assert re.match(r"data:image/svg\+xml;base64,", await page.locator("#totp-qr").get_attribute("src") or "")
    return (await page.locator("#totp-secret").inner_text()).strip()


@pytest.mark.parametrize("holder_page", ["ja", "en"], indirect=True)
async def test_switch_to_otp_with_an_authenticator_app(service: Service, holder_page: tuple[Page, str]) -> None:
    page, lang = holder_page
    text = TEXT[lang]
    secret = await _choose(page, text, text["otp"])
    await expect(page.locator("#new-method")).to_have_text(text["otp"])
    await page.get_by_role("textbox").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name=text["execute"]).click()
    await expect(page.get_by_role("status")).to_have_text(text["done"])
    await expect(page.locator("#current-method")).to_have_text(text["otp"])
    assert _method(service) == "otp"
    await service.wait_for_mail(text["subject"])
    # The certificate still opens the account page, which shows the method and links to its change.
    await page.goto("/account")
    await expect(page.locator("#login-method-link").locator("..")).to_contain_text(text["otp"])


@pytest.mark.parametrize("holder_page", ["ja", "en"], indirect=True)
async def test_a_wrong_first_code_is_shown_next_to_the_field(service: Service,
                                                             holder_page: tuple[Page, str]) -> None:
    page, lang = holder_page
    text = TEXT[lang]
    secret = await _choose(page, text, text["both"])
    right = pyotp.TOTP(secret).now()
    field = page.get_by_role("textbox")
    await field.fill(f"{(int(right) + 1) % 10**6:06d}")
    await page.get_by_role("button", name=text["execute"]).click()
    await expect(page.get_by_role("alert")).to_contain_text(text["wrong"])
    await expect(field).to_have_attribute("aria-invalid", "true")
    assert _method(service) == "certificate"
    # The same app (the same QR code and key) is asked for again.
    assert (await page.locator("#totp-secret").inner_text()).strip() == secret
    await field.fill(right)
    await page.get_by_role("button", name=text["execute"]).click()
    await expect(page.locator("#current-method")).to_have_text(text["both"])
    assert _method(service) == "certificate+otp"
