"""The pages in a real browser (Chromium): default language, switching language, the dev mailbox."""
# The fixtures are imported by name, so every test taking one "redefines" it (F811);
# ruff cannot tell pytest fixtures apart (astral-sh/ruff#16602).
# ruff: noqa: F811

import re
import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser import browser, live_app, page  # noqa: F401

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _lang_cookie(page: Page) -> str | None:
    return next((c["value"] for c in await page.context.cookies() if c["name"] == "lang"), None)


async def test_home_is_japanese_by_default(page: Page, live_app: str) -> None:
    response = await page.goto(f"{live_app}/")
    assert response is not None and response.ok
    await expect(page.locator("header")).to_contain_text("certdesk 証明書サービス")
    await expect(page.locator("html")).to_have_attribute("lang", "ja")
    await expect(page.get_by_role("heading", level=1)).to_have_text("certdesk 証明書サービス")
    await expect(page.get_by_role("link", name="開発用メールボックス")).to_be_visible()
    assert await _lang_cookie(page) is None  # nothing chosen, nothing stored


async def test_english_link_switches_language_and_the_choice_persists(page: Page, live_app: str) -> None:
    await page.goto(f"{live_app}/")
    await page.get_by_role("link", name="English", exact=True).click()
    await expect(page).to_have_url(f"{live_app}/?lang=en")
    await expect(page.locator("header")).to_contain_text("certdesk certificate services")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    assert await _lang_cookie(page) == "en"

    # A plain link (no ?lang=) on to another page: the cookie carries the choice.
    await page.get_by_role("link", name="Development mailbox").click()
    await expect(page).to_have_url(f"{live_app}/dev/mailbox")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Development mailbox")
    await expect(page.get_by_text("No mail yet.")).to_be_visible()
    await page.goto(f"{live_app}/")  # and a fresh load, typed in
    await expect(page.locator("header")).to_contain_text("certdesk certificate services")

    # Back to Japanese the same way, and that sticks too.
    await page.get_by_role("link", name="日本語").click()
    await expect(page.locator("header")).to_contain_text("certdesk 証明書サービス")
    assert await _lang_cookie(page) == "ja"
    await page.goto(f"{live_app}/dev/mailbox")
    await expect(page.get_by_role("heading", level=1)).to_have_text("開発用メールボックス")


@pytest.mark.parametrize("page", ["en-US"], indirect=True)
async def test_an_english_browser_gets_english_until_it_chooses_japanese(page: Page, live_app: str) -> None:
    await page.goto(f"{live_app}/")
    await expect(page.locator("header")).to_contain_text("certdesk certificate services")
    await page.get_by_role("link", name="日本語").click()
    await page.goto(f"{live_app}/")
    await expect(page.locator("header")).to_contain_text("certdesk 証明書サービス")


async def test_dev_mailbox_lists_mail_from_the_sink_and_opens_it(
    page: Page, live_app: str, smtp_sink: tuple[int, Path]
) -> None:
    subject = "電子証明書ダウンロードのご案内"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ca@example.com", "user@example.com", subject
    msg.set_content("山田様\nユーザーID: u-1\nワンタイムパスワードは別途お送りします。\n", charset="utf-8")
    with smtplib.SMTP("127.0.0.1", smtp_sink[0]) as smtp:
        smtp.send_message(msg)

    await page.goto(f"{live_app}/")
    await page.get_by_role("link", name="開発用メールボックス").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("開発用メールボックス")
    row = page.get_by_role("row").filter(has_text=subject)
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("user@example.com")

    await row.get_by_role("link", name=subject).click()
    await expect(page).to_have_url(re.compile(rf"^{re.escape(live_app)}/dev/mailbox/\d+-\d+$"))
    await expect(page).to_have_title(subject)
    await expect(page.get_by_role("heading", level=1)).to_have_text(subject)
    await expect(page.locator("pre")).to_contain_text("ユーザーID: u-1")
    await expect(page.locator("pre")).to_contain_text("ワンタイムパスワードは別途お送りします。")
    await expect(page.get_by_role("row").filter(has_text="ca@example.com")).to_have_count(1)

    await page.get_by_role("link", name="← 戻る").click()
    await expect(page).to_have_url(f"{live_app}/dev/mailbox")
