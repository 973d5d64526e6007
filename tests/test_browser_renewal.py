"""更新申請 (S-3) in a real browser on the real stack, in Japanese and English: the detail page's
entry → 申請規約同意 → 基本情報入力 (特約店コード read-only) → 申請組織情報入力 (prefilled; a bad CSR
is refused next to its field) → 確認 → 申込 → completion, as the manual orders them."""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import select

from api import customer_auth
from ca import authority
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import Application, CustomerProfile
from tests.browser import browser, page, serve  # noqa: F401
from tests.test_certificate_authority import make_csr
from tests.test_renewal import CONTACTS, NAME, ORG, RESELLER, VETTED, contract_for

PASSWORD = "a much better passphrase"


@pytest.mark.parametrize("page", ["ja-JP", "en-US"], indirect=True)
async def test_the_renewal_screens_in_order(page: Page, local_stack: Settings, engine: Engine, tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    lang = request.node.callspec.params["page"][:2]  # the browser's language: Accept-Language
    t = catalogue(lang)
    shots = Path(os.environ.get("CERTDESK_SCREENSHOT_DIR") or tmp_path)
    authority.ensure_hierarchy(engine, local_stack)
    new = accounts.create_customer(engine, ORG["name"], "it@keiyaku.example.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, local_stack, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, PASSWORD, token)
    cookie, _ = customer_auth.login(engine, local_stack, new.access_key, PASSWORD)
    with session_scope(engine) as s:
        s.add(CustomerProfile(customer_id=new.id, reseller_code=RESELLER, organization=VETTED["organization"],
                              contacts=VETTED["contacts"]))
    first_id, _, _ = contract_for(engine, local_stack, new.id)

    with serve(local_stack) as base:
        await page.context.add_cookies([{"name": "certdesk_customer", "value": cookie, "url": base}])
        await page.goto(f"{base}/account/applications/{first_id}")
        await page.locator("#renew-next").click()

        # 申請規約同意: 「同意する」.
        await expect(page.locator("h1")).to_have_text(f"{t['renewal_title']} — {t['renewal_step_terms']}")
        await page.get_by_role("button", name=t["renewal_agree"]).click()

        # 基本情報入力: the contract's product, the 特約店コード filled in and read-only, the coupon.
        await expect(page.locator("h1")).to_have_text(f"{t['renewal_title']} — {t['renewal_step_basic']}")
        reseller = page.locator("#f-reseller_code")
        await expect(reseller).to_have_value(RESELLER)
        await expect(reseller).not_to_be_editable()
        await expect(page.locator("#reseller-note")).to_have_text(t["renewal_reseller_note"])
        await expect(page.locator("input[name=product][value=ov]")).to_be_checked()
        await page.locator("#f-coupon").fill("CP-7")
        await page.screenshot(path=str(shots / f"renewal-basic-{lang}.png"), full_page=True)
        await page.locator("#renewal-next").click()

        # 申請組織情報入力: last year's information is there; a new CSR.
        await expect(page.locator("h1")).to_have_text(f"{t['renewal_title']} — {t['renewal_step_organization']}")
        await expect(page.locator("#prefilled-note")).to_have_text(t["renewal_prefilled_note"])
        await expect(page.locator("#f-organization-name")).to_have_value(ORG["name"])
        await expect(page.locator("#f-contacts-technical-email")).to_have_value(CONTACTS["technical"]["email"])
        await expect(page.locator("#f-contacts-contract-name")).to_have_value(CONTACTS["contract"]["name"])
        await page.locator("#f-csr").fill("-----BEGIN CERTIFICATE REQUEST-----\nnot one\n")
        await page.locator("#renewal-next").click()
        await expect(page.locator("#f-csr-err")).to_have_text(t["csr_not_one_pem_block"])
        await expect(page.locator("#f-csr")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#f-organization-name")).to_have_value(ORG["name"])
        await page.locator("#f-csr").fill(make_csr(NAME))
        await page.locator("#renewal-next").click()

        # 確認 → 申込 → completion.
        await expect(page.locator("h1")).to_have_text(f"{t['renewal_title']} — {t['renewal_step_confirm']}")
        await expect(page.locator("#confirm")).to_contain_text(RESELLER)
        await expect(page.locator("#confirm")).to_contain_text("CP-7")
        with session_scope(engine) as s:
            assert s.exec(select(Application).where(Application.type == "renewal")).all() == []
        await page.locator("#renewal-apply").click()
        await expect(page.locator("#renewal-done")).to_have_text(t["renewal_done_text"])
        await page.screenshot(path=str(shots / f"renewal-done-{lang}.png"), full_page=True)

        with session_scope(engine) as s:
            (record,) = s.exec(select(Application).where(Application.type == "renewal")).all()
        assert (record.parent_id, record.coupon, record.names) == (first_id, "CP-7", [NAME])
        await page.locator("#renewal-record").click()
        await expect(page).to_have_url(f"{base}/account/applications/{record.id}")
