"""担当者変更申請 (S-5; manual 003 section 2.4) in a real browser, in Japanese and in English: お申込情報詳細
→ 規約同意 (「同意する」) → the four contacts (a bad phone number is named next to its field) → 入力確認
(「申込」) → 「以上で担当者変更の申請は完了です。」; then staff approve and the contract has the new contact.

The app is served over real http on this test's event loop with a worker on the time-skipping server.
"""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ca import authority
from certdesk.worker import build_worker
from domain.messages import catalogue
from domain.settings import Settings
from store.db import session_scope
from store.models import Application, Contract
from tests.browser import browser, page  # noqa: F401
from tests.test_browser_enrollment import serve_here
from tests.test_contact_change import issued_contract, login
from workflows.contact_change import ContactChange
from workflows.contact_change import workflow_id as contact_change_workflow_id
from workflows.human_task import TaskDecision

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize(("page", "lang"), [("ja-JP", "ja"), ("en-US", "en")], indirect=["page"])
async def test_the_contact_change_screens_in_order(
    page: Page, lang: str, time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
    smtp_sink: tuple[int, Path],
) -> None:
    env, t = time_skipping_env, catalogue(lang)
    await asyncio.to_thread(authority.ensure_hierarchy, engine, settings)
    customer_id, token, _ = login(engine, settings, "Example KK", "it@example.co.jp")
    app_id, code = issued_contract(engine, settings, customer_id)
    async with build_worker(env.client, settings), serve_here(create_app(settings, env.client)) as base:
        await page.context.add_cookies([{"name": "certdesk_customer", "value": token, "url": base}])

        # (2) お申込情報詳細: the way in.
        await page.goto(f"{base}/account/applications/{app_id}")
        await page.locator("#contact-change").click()

        # (3) 担当者変更申請規約同意 → 「同意する」.
        await expect(page.get_by_role("heading", level=1)).to_have_text(t["cc_terms_title"])
        await page.get_by_role("button", name=t["app_agree"]).click()

        # (4) The four contacts, as the contract has them; change only the technical one.
        await expect(page.get_by_role("heading", level=1)).to_have_text(t["cc_input_title"])
        for role in ("registrant", "technical", "administrative", "contract"):
            await expect(page.locator(f"#cc-{role} legend")).to_have_text(t[f"profile_role_{role}"])
        await expect(page.locator("#f-contacts-technical-name")).to_have_value("山田 太郎")
        await page.locator("#f-contacts-technical-name").fill("鈴木 一郎")
        await page.locator("#f-contacts-technical-phone").fill("03-98")
        await page.get_by_role("button", name=t["app_next"]).click()
        await expect(page.locator("#f-contacts-technical-phone-err")).to_have_text(t["profile_err_phone"])
        await expect(page.locator("#f-contacts-technical-phone")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#f-contacts-technical-name")).to_have_value("鈴木 一郎")
        await page.locator("#f-contacts-technical-phone").fill("０３－９８７６－５４３２")  # full-width, as typed
        await page.get_by_role("button", name=t["app_next"]).click()

        # (5) 担当者変更申請入力確認 → 「申込」.
        await expect(page.get_by_role("heading", level=1)).to_have_text(t["cc_confirm_title"])
        await expect(page.locator("#cc-confirm-technical")).to_contain_text("03-9876-5432")
        await expect(page.locator("#cc-confirm-technical h2")).to_contain_text(t["cc_changed"])
        await page.get_by_role("button", name=t["app_submit"]).click()
        await expect(page.locator("#message")).to_have_text(t["cc_done"])

        # The new record, 担当者変更, in the list; the contract's contacts wait for staff.
        await page.locator("#cc-record").click()
        await expect(page.locator("#detail")).to_contain_text(t["app_type_contact_change"])
        with session_scope(engine) as s:
            record = s.exec(select(Application).where(Application.type == "contact_change")).one()
            assert s.exec(select(Contract).where(Contract.code == code)).one().contacts["technical"]["name"] \
                == "山田 太郎"
        handle = env.client.get_workflow_handle(contact_change_workflow_id(int(record.id or 0)))
        while not (open_tasks := await handle.query(ContactChange.open_tasks)):
            await asyncio.sleep(0.05)
        await handle.execute_update(ContactChange.complete_task, TaskDecision(
            open_tasks[0], "approve", "", "staff:sato", "support", "contact_change_review"))
        assert await handle.result() == "completed"
        with session_scope(engine) as s:
            contacts = s.exec(select(Contract).where(Contract.code == code)).one().contacts
        assert (contacts["technical"]["name"], contacts["technical"]["phone"]) == ("鈴木 一郎", "03-9876-5432")
        await page.reload()
        await expect(page.locator("#detail")).to_contain_text(t["app_status_completed"])
