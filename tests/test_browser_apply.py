"""新規申請 (S-2) in a real browser on the real stack, in Japanese and English, 1280 and 390 px wide:
the form (four contacts prefilled, the terms readable, サーバタイプ, the coupon pull-down) → a bad
CSR refused next to its field in the page's language → 確認 (all four contacts) → 申込 → the
record; クーポン管理 from the sidebar. No page overflows sideways; screenshots are saved."""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import os
from datetime import UTC, datetime, timedelta
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
from store import coupons as coupon_records
from store.db import session_scope
from store.models import Application, Coupon, CustomerProfile
from tests.browser import browser, page, serve  # noqa: F401
from tests.test_certificate_authority import make_csr

SHOTS = Path(os.environ.get("CERTDESK_SCREENSHOT_DIR") or Path(__file__).parent / "screenshots")
PASSWORD = "a much better passphrase"
ORGANIZATION = {"name": "申込株式会社", "country": "JP", "state": "東京都", "locality": "渋谷区",
                "address": "神宮前1-2-3 申込ビル10階", "postal_code": "150-0001"}
CONTACTS = {role: {"name": f"{label} 太郎", "email": f"{role}@moushikomi.example.jp", "phone": "03-1234-5678",
                   "department": "情報システム部"}
            for role, label in (("registrant", "登録"), ("technical", "技術"), ("administrative", "事務"),
                                ("contract", "契約"))}
TRUNCATED = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBHjCBxQIBADAAMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n" \
            "-----END CERTIFICATE REQUEST-----"


async def _no_overflow(page: Page, where: str) -> None:
    fits = await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    if not fits:  # name the culprits
        wide = await page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(0, 8).map(e => `${e.tagName}#${e.id}.${e.className} ${e.getBoundingClientRect().right}`)""")
        raise AssertionError(f"{where}: the page overflows sideways: {wide}")


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("page", ["ja-JP", "en-US"], indirect=True)
async def test_a_new_application_through_its_screens(page: Page, width: int, local_stack: Settings, engine: Engine,
                                                     request: pytest.FixtureRequest) -> None:
    lang = request.node.callspec.params["page"][:2]  # the browser's language: Accept-Language
    t = catalogue(lang)
    os.makedirs(SHOTS, exist_ok=True)
    await page.set_viewport_size({"width": width, "height": 900})
    authority.ensure_hierarchy(engine, local_stack)
    new = accounts.create_customer(engine, ORGANIZATION["name"], "it@moushikomi.example.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, local_stack, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, PASSWORD, token)
    cookie, _ = customer_auth.login(engine, local_stack, new.access_key, PASSWORD)
    with session_scope(engine) as s:
        s.add(CustomerProfile(customer_id=new.id, reseller_code="", organization=ORGANIZATION, contacts=CONTACTS))
    now = datetime.now(UTC)
    coupon_records.issue(engine, "staff:sato", new.access_key, "WEB-2027", "初年度 20% OFF", now - timedelta(days=1),
                         now + timedelta(days=60))
    shot = f"{lang}-{width}"

    with serve(local_stack) as base:
        await page.context.add_cookies([{"name": "certdesk_customer", "value": cookie, "url": base}])
        await page.goto(f"{base}/account")
        await page.get_by_role("link", name=t["app_new"]).first.click()

        # The form: the terms readable before the agreement box, all four contacts prefilled.
        await expect(page.locator("h1")).to_have_text(t["app_new"])
        await expect(page.locator("#apply-terms")).to_contain_text(t["apply_terms_1"])
        for role, contact in CONTACTS.items():
            await expect(page.locator(f"#f-contacts-{role}-name")).to_have_value(contact["name"])
        await _no_overflow(page, f"form {shot}")
        await page.screenshot(path=str(SHOTS / f"apply-form-{shot}.png"), full_page=True)

        await page.locator("#f-agree_terms").check()
        await page.locator("#f-server_type").select_option("nginx")
        await page.locator("#f-coupon").select_option("WEB-2027")
        await page.locator("#f-contacts-contract-name").fill("契約 花子")
        for field in ("name", "email", "phone", "department"):  # 事務担当者 not needed: left blank
            await page.locator(f"#f-contacts-administrative-{field}").fill("")

        # A bad CSR: its message, in the page's language, next to the field; what was typed stays.
        await page.locator("#f-csr").fill(TRUNCATED)
        await page.locator("#apply-next").click()
        await expect(page.locator("#f-csr-err")).to_have_text(t["csr_unparsable"])
        await expect(page.locator("#f-csr")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#apply-errors a[href='#f-csr']")).to_have_text(t["app_csr"])
        await expect(page.get_by_text("ParseError")).to_have_count(0)
        await expect(page.locator("#f-contacts-contract-name")).to_have_value("契約 花子")
        await expect(page.locator("#f-contacts-administrative-name")).to_have_value("")
        await _no_overflow(page, f"refused {shot}")
        await page.screenshot(path=str(SHOTS / f"apply-bad-csr-{shot}.png"), full_page=True)

        # 確認: everything that will be stored, the blank contact said to be blank.
        await page.locator("#f-csr").fill(make_csr("www.moushikomi.example.jp"))
        await page.locator("#apply-next").click()
        await expect(page.locator("h1")).to_have_text(f"{t['app_new']} {t['app_confirm_title']}")
        await expect(page.locator("#confirm")).to_contain_text("契約 花子")
        await expect(page.locator("#confirm")).to_contain_text(CONTACTS["registrant"]["name"])
        await expect(page.locator("#confirm-administrative")).to_contain_text(t["apply_contact_blank"])
        await expect(page.locator("#confirm-server-type")).to_have_text(t["server_type_nginx"])
        await expect(page.locator("#confirm-coupon")).to_have_text("WEB-2027 — 初年度 20% OFF")
        await _no_overflow(page, f"confirm {shot}")
        await page.screenshot(path=str(SHOTS / f"apply-confirm-{shot}.png"), full_page=True)
        with session_scope(engine) as s:
            assert s.exec(select(Application).where(Application.customer_id == new.id)).all() == []

        # 申込 → the record, and the coupon used by it.
        await page.locator("#apply-submit").click()
        await expect(page.get_by_text(t["app_applied"])).to_be_visible()
        await page.screenshot(path=str(SHOTS / f"apply-done-{shot}.png"), full_page=True)
        with session_scope(engine) as s:
            (record,) = s.exec(select(Application).where(Application.customer_id == new.id)).all()
            coupon = s.exec(select(Coupon).where(Coupon.code == "WEB-2027")).one()
        assert record.server_type == "nginx" and record.coupon == "WEB-2027" and coupon.application_id == record.id
        assert sorted(record.contacts) == ["contract", "registrant", "technical"]
        assert record.contacts["contract"]["name"] == "契約 花子"

        # クーポン管理 from the sidebar: the coupon, now used.
        await page.get_by_role("link", name=t["coupons_title"]).first.click()
        await expect(page.locator("h1")).to_have_text(t["coupons_title"])
        await expect(page.locator("#coupons")).to_contain_text(t["coupon_state_used"])
        await _no_overflow(page, f"coupons {shot}")
        await page.screenshot(path=str(SHOTS / f"coupons-{shot}.png"), full_page=True)
