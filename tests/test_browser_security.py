"""Cross-site forms and the Content-Security-Policy in a real browser (Chromium): another site's
form cannot log anyone in (login CSRF), and our own pages work under the policy."""
# The fixtures are imported by name, so every test taking one "redefines" it (F811);
# ruff cannot tell pytest fixtures apart (astral-sh/ruff#16602).
# ruff: noqa: F811

from datetime import timedelta

import pytest
from playwright.async_api import ConsoleMessage, Page, Route, expect
from sqlalchemy import Engine

from store import accounts
from tests.browser import browser, live_app, page  # noqa: F401

pytestmark = pytest.mark.asyncio(loop_scope="session")

EVIL = "https://evil.example"


async def test_another_sites_login_form_logs_nobody_in(page: Page, live_app: str, engine: Engine) -> None:
    new = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30))
    # The attacker's page: a form posting the attacker's own credentials to our login (no script needed).
    form = (f'<form method="post" action="{live_app}/login"><input name="access_key" value="{new.access_key}">'
            f'<input name="password" value="{new.initial_password}"><button>go</button></form>')

    async def evil_page(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body=form)

    await page.route(f"{EVIL}/**", evil_page)
    await page.goto(f"{EVIL}/")
    async with page.expect_navigation() as navigation:
        await page.get_by_role("button", name="go").click()
    answer = await navigation.value
    assert answer is not None and answer.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("このサイト以外のページから送信された")
    assert await page.context.cookies() == []  # no session was given

    # The same credentials typed into our own login page do log in.
    await page.goto(f"{live_app}/login")
    await page.locator("input[name=access_key]").fill(new.access_key)
    await page.locator("input[name=password]").fill(new.initial_password)
    await page.locator("form button[type=submit], form input[type=submit]").first.click()
    await expect(page).to_have_url(f"{live_app}/account/password")


async def test_our_pages_work_under_the_policy(page: Page, live_app: str) -> None:
    violations: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", watch)
    for path in ("/", "/login", "/desk/login", "/password-reset", "/dev/mailbox", "/account/nothing-here",
                 "/help/download"):  # base.html and the end users' own layout
        await page.goto(f"{live_app}{path}")
        # The inline style (with this answer's nonce) is applied.
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)", path
    assert violations == []
