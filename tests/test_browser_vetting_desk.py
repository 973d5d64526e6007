"""The vetting desk in a real browser on the real stack: the agent records the organization check and
the phone callback on the review task, sees the checklist close and approve become possible, and
approves; the certificate is issued (S-2 審査)."""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import httpx
from playwright.async_api import Page, expect
from sqlalchemy import Engine

from api import customer_auth
from ca import authority
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts
from tests.browser import browser, page, serve  # noqa: F401
from tests.test_certificate_authority import make_csr

JA = catalogue("ja")
PASSWORD = "correct horse battery"
ORG = {"name": "株式会社ブラウザ", "country": "JP", "state": "東京都", "locality": "千代田区",
       "registration_number": "5010401089998", "phone": "03-1234-5678"}


async def _poll(http: httpx.AsyncClient, path: str, headers: dict[str, str], found: object) -> object:
    for _ in range(300):
        answer = (await http.get(path, headers=headers)).json()
        if (hit := found(answer)) is not None:  # type: ignore[operator]
            return hit
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path}: never there")


async def test_the_agent_records_the_checks_and_approves(
        page: Page, local_stack: Settings, engine: Engine, tmp_path: Path) -> None:
    shots = Path(os.environ.get("CERTDESK_SCREENSHOT_DIR") or tmp_path)
    authority.ensure_hierarchy(engine, local_stack)
    accounts.create_staff(engine, "sato", "supervisor", password=PASSWORD)
    new = accounts.create_customer(engine, "株式会社ブラウザ", "it@example.co.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, local_stack, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, "a much better passphrase", token)
    customer = {"authorization": f"Bearer {token}"}
    with serve(local_stack) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            created = await http.post("/api/v1/applications", headers=customer, json={
                "type": "new", "product": "ov", "csr": make_csr("www.example.co.jp"), "agree_terms": True,
                "organization": ORG,
                "contacts": {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp",
                                           "phone": "03-1234-5678"}}})
            assert created.status_code == 201, created.text
            app_id = created.json()["id"]
            staff = (await http.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})).json()
            task_id = await _poll(http, "/api/v1/tasks?state=open&kind=application_review",
                                  {"authorization": f"Bearer {staff['token']}"},
                                  lambda ts: next((t["id"] for t in ts if t["subject"] == f"application:{app_id}"),
                                                  None))

            await page.goto(f"{base}/desk/login?next=/desk/tasks/{task_id}")
            await page.get_by_label("ユーザー名").fill("sato")
            await page.get_by_label("パスワード").fill(PASSWORD)
            await page.get_by_role("button", name="ログイン").click()
            checklist = page.locator("#checklist")
            await expect(checklist).to_contain_text(JA["vet_refusal_organization_not_verified"])
            await expect(page.locator("article[data-name='www.example.co.jp'] .dcv-state")).to_have_text(
                JA["dcv_state_validated"])
            await expect(page.locator("#corporate-number")).to_contain_text(
                JA["vet_corporate_number_ok"].format(number="5010401089998"))
            await expect(page.locator("#complete option[value=approve]")).to_be_disabled()
            await page.screenshot(path=str(shots / "vetting-task-to-check.png"), full_page=True)

            form = page.locator("#record-check")
            await form.get_by_label(JA["vet_check_label_check"]).select_option("organization")
            await form.get_by_label(JA["vet_check_label_source"]).select_option("nta_corporate_number")
            await form.get_by_label(JA["vet_check_label_reference"]).fill("5010401089998")
            await form.get_by_role("button", name=JA["vet_check_record"]).click()
            await expect(page.get_by_role("status")).to_have_text(JA["check_recorded_ok"])
            await expect(page.locator("#required-checks tr[data-check=organization] .counting")).to_contain_text(
                JA["vet_source_nta_corporate_number"])

            # The callback without the number called: the message stands next to the field.
            form = page.locator("#record-check")
            await form.get_by_label(JA["vet_check_label_check"]).select_option("phone_callback")
            await form.get_by_label(JA["vet_check_label_source"]).select_option("telephone_directory")
            await form.get_by_role("button", name=JA["vet_check_record"]).click()
            await expect(page.locator("#check-error-reference")).to_have_text(JA["err_vet_check_number_required"])
            form = page.locator("#record-check")
            await form.get_by_label(JA["vet_check_label_reference"]).fill("03-1234-5678")
            await form.get_by_label(JA["vet_check_label_note"]).fill("代表番号から申請責任者に確認")
            await form.get_by_role("button", name=JA["vet_check_record"]).click()
            await expect(page.get_by_role("status")).to_have_text(JA["check_recorded_ok"])
            await expect(page.locator("#checklist")).to_have_text(JA["vet_desk_checklist_done"])
            await expect(page.locator("#recorded-checks tbody tr")).to_have_count(2)
            await page.screenshot(path=str(shots / "vetting-task-checked.png"), full_page=True)

            await page.locator("#complete").get_by_label("結果").select_option("approve")
            await page.locator("#complete").get_by_role("button").click()
            await expect(page.get_by_role("status")).to_have_text("完了しました。")
            serial = await _poll(http, f"/api/v1/applications/{app_id}", customer,
                                 lambda d: d["serial"] if d["status"] == "issued" else None)
            assert serial
