"""The staff desk in a real browser: log in, take a phone reset, claim it, complete it."""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import select

from domain.settings import Settings
from store import accounts, dev_mailbox
from store.db import session_scope
from store.models import Customer
from tests.browser import browser, page, serve  # noqa: F401

PASSWORD = "correct horse battery"


async def test_support_takes_a_phone_reset_from_login_to_done(
    page: Page, local_stack: Settings, engine: Engine, smtp_sink: tuple[int, Path], tmp_path: Path
) -> None:
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    customer = accounts.create_customer(engine, "ブラウザ株式会社", "it@browser.example.co.jp", timedelta(days=30))
    with serve(local_stack) as base:
        await page.goto(f"{base}/desk")
        await expect(page).to_have_url(f"{base}/desk/login?next=/desk")
        await page.get_by_label("ユーザー名").fill("sato")
        await page.get_by_label("パスワード").fill("wrong password")
        await page.get_by_role("button", name="ログイン").click()
        await expect(page.get_by_role("alert")).to_contain_text("ユーザー名またはパスワードが正しくありません")

        await page.get_by_label("パスワード").fill(PASSWORD)
        await page.get_by_role("button", name="ログイン").click()
        await expect(page.get_by_role("heading", name="タスク一覧")).to_be_visible()

        reset = page.get_by_role("group", name="電話でのパスワード再設定受付")
        await reset.get_by_label("アクセスキー").fill(customer.access_key)
        await reset.get_by_role("button", name="受け付ける").click()
        await expect(page.get_by_role("status")).to_contain_text("パスワード再設定を受け付けました")

        link = page.get_by_role("link", name=f"ブラウザ株式会社 ({customer.access_key})")
        for _ in range(50):  # the workflow opens the task a moment later
            if await link.count():
                break
            await page.reload()
        await link.click()
        await expect(page.locator("#state")).to_have_text("未着手")
        await page.get_by_role("button", name="担当する").click()
        await expect(page.locator("#assignee")).to_have_text("sato")

        await page.get_by_label("結果").select_option("reset")
        await page.get_by_label("メモ").fill("折り返し電話で本人確認済み")
        await page.get_by_role("button", name="完了する").click()
        await expect(page.get_by_role("status")).to_have_text("完了しました。")
        await expect(page.locator("#outcome")).to_contain_text("再設定する")
        await expect(page.get_by_text("task.completed")).to_be_visible()
        await page.screenshot(path=str(tmp_path / "desk-task.png"), full_page=True)
        if shot := os.environ.get("CERTDESK_SCREENSHOT_DIR"):
            await page.screenshot(path=f"{shot}/desk-task.png", full_page=True)

    for _ in range(100):
        with session_scope(engine) as s:
            if s.exec(select(Customer).where(Customer.id == customer.id)).one().password_version == 2:
                break
        await asyncio.sleep(0.1)
    assert [m.recipients for m in dev_mailbox.list_mail(smtp_sink[1])] == ["it@browser.example.co.jp"]
