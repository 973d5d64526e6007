"""Domain validation in a real browser: the customer reads where to place each value and changes
the method; the reviewer sees the application beside the saved account info, the evidence and
what approval still needs."""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import os
from pathlib import Path

from playwright.async_api import Page, expect
from sqlalchemy import Engine

from domain import profile as profiles
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts
from store.profiles import save_profile
from tests.browser import browser, page, serve  # noqa: F401
from tests.test_domain_validation_pages import (
    NAMES,
    PASSWORD,
    PROFILE,
    VALUE,
    _application,
    _login,
    _task,
)

JA = catalogue("ja")


class _Saved:
    def __init__(self, customer_id: int) -> None:
        self.id, self.actor = customer_id, f"customer:{customer_id}"


async def test_the_customer_places_values_and_the_reviewer_compares(
        page: Page, settings: Settings, engine: Engine, tmp_path: Path) -> None:
    shots = Path(os.environ.get("CERTDESK_SCREENSHOT_DIR") or tmp_path)
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    customer_id, token = _login(engine, settings, "検証株式会社", "it@example.co.jp")
    save_profile(engine, _Saved(customer_id), profiles.validate(PROFILE))
    application_id, rows = _application(engine, customer_id)
    task_id = _task(engine, application_id, "application_review")
    with serve(settings.model_copy(update={"temporal_address": "127.0.0.1:1"})) as base:
        await page.context.add_cookies([{"name": "certdesk_customer", "value": token, "url": base}])
        await page.goto(f"{base}/account/applications/{application_id}")
        section = page.locator("#domain-validation")
        await expect(section.get_by_role("heading", name=JA["dcv_page_heading"])).to_be_visible()
        www = page.locator(f"#dcv-{rows['www.example.co.jp']}")
        await expect(www.locator(".dcv-where")).to_have_text("_certdesk-challenge.www.example.co.jp")
        await expect(www.locator(".dcv-value")).to_have_text(VALUE[NAMES[0]])
        wildcard = page.locator(f"#dcv-{rows['*.example.co.jp']}")
        await expect(wildcard.get_by_role("radio", name=JA["dcv_method_http_file"])).to_be_disabled()

        await www.get_by_role("radio", name=JA["dcv_method_http_file"]).check()
        await www.get_by_role("button", name=JA["dcv_page_change_method"]).click()
        await expect(page.locator("#dcv-message")).to_have_text(JA["dcv_page_method_changed"])
        www = page.locator(f"#dcv-{rows['www.example.co.jp']}")
        await expect(www.locator(".dcv-where")).to_contain_text(
            "http://www.example.co.jp/.well-known/pki-validation/certdesk-")
        await expect(www.locator(".dcv-value")).to_have_text(VALUE[NAMES[0]])  # the value stays
        await page.screenshot(path=str(shots / "dcv-customer.png"), full_page=True)

        await page.goto(f"{base}/desk/login?next=/desk/tasks/{task_id}")
        await page.get_by_label("ユーザー名").fill("sato")
        await page.get_by_label("パスワード").fill(PASSWORD)
        await page.get_by_role("button", name="ログイン").click()
        await expect(page.locator("#review")).to_be_visible()
        phone = page.locator("#review-contact-technical + table tr[data-field=phone]")
        await expect(phone).to_have_class("differs")
        await expect(phone).to_contain_text(f"≠ {JA['vet_differs']}")
        await expect(page.locator("#checklist")).to_contain_text(JA["vet_refusal_phone_callback_missing"])
        await expect(page.locator("article[data-name='www.example.co.jp']")).to_contain_text(
            JA["vet_found_could_not_look"])
        await page.screenshot(path=str(shots / "dcv-desk.png"), full_page=True)
