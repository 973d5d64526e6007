"""お申込一覧 (S-10) in a real browser, Japanese and English, 1280 and 390 px wide: the list (current
contracts only) → 【検索】 (申請区分 and a 「含む」 condition) → 【過去案件表示】 → 詳細, with no horizontal
overflow on any of them. Screenshots go to tests/screenshots/ (ignored by git)."""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import Engine

from api import customer_auth
from ca import authority
from domain.contract_life import add_months
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import Application, Contract, utcnow
from tests.browser import browser, page, serve  # noqa: F401
from tests.test_renewal import ORG, VETTED, contract_for

pytestmark = pytest.mark.asyncio(loop_scope="session")
SHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "a much better passphrase"


def _customer(engine: Engine, settings: Settings) -> tuple[int, str]:
    new = accounts.create_customer(engine, ORG["name"], "it@ichiran.example.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, PASSWORD, token)
    cookie, _ = customer_auth.login(engine, settings, new.access_key, PASSWORD)
    return new.id, cookie


def _records(engine: Engine, settings: Settings, customer_id: int) -> dict[str, int]:
    """A contract in force, one that ended two years ago, one issued 76 months ago (never listed) and
    an application still being reviewed."""
    authority.ensure_hierarchy(engine, settings)
    current, _, _ = contract_for(engine, settings, customer_id)
    ended, ended_contract, _ = contract_for(engine, settings, customer_id)
    old, old_contract, _ = contract_for(engine, settings, customer_id)
    now = utcnow()
    with session_scope(engine) as s:
        row = s.get(Contract, ended_contract)
        assert row is not None
        row.state, row.ended_at = "ended", now - timedelta(days=700)
        s.get(Application, ended).created_at = now - timedelta(days=1100)  # type: ignore[union-attr]
        gone = s.get(Application, old)
        assert gone is not None
        gone.created_at = gone.issued_at = add_months(now, -76)
        s.get(Contract, old_contract).state = "ended"  # type: ignore[union-attr]
        received = Application(customer_id=customer_id, type="new", product="ev", status="documents_pending",
                               csr_pem="-", names=["shinsa.example.jp"], organization=VETTED["organization"],
                               contacts=VETTED["contacts"])
        s.add(received)
        s.flush()
        return {"current": current, "ended": ended, "old": old, "received": int(received.id or 0)}


async def _no_overflow(page: Page, shot: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    fits = await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert fits, f"{shot}: the page is wider than the window"


async def _ids(page: Page) -> set[int]:
    return {int(i) for i in await page.locator("#applications tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")}


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("page", ["ja-JP", "en-US"], indirect=True)
async def test_list_search_past_and_detail(page: Page, settings: Settings, engine: Engine, width: int,
                                           request: pytest.FixtureRequest) -> None:
    lang = request.node.callspec.params["page"][:2]
    t = catalogue(lang)
    customer_id, cookie = _customer(engine, settings)
    ids = _records(engine, settings, customer_id)
    await page.set_viewport_size({"width": width, "height": 900})
    name = f"{lang}-{width}"

    with serve(settings) as base:
        await page.context.add_cookies([{"name": "certdesk_customer", "value": cookie, "url": base}])

        # お申込一覧: current contracts only, the manual's columns, the "!" of the record waiting for documents.
        await page.goto(f"{base}/account/applications")
        await expect(page.locator("h1")).to_have_text(t["app_list"])
        await expect(page.locator("#list-view")).to_have_text(t["list_current_note"])
        await expect(page.locator("#list-intro")).to_contain_text(t["list_intro"])
        assert await _ids(page) == {ids["current"], ids["received"]}
        await expect(page.locator(f'tr[data-id="{ids["received"]}"] .badge')).to_have_text("!")
        if width == 1280:
            for key in ("created", "product", "status", "type", "validity", "contract_code"):
                await expect(page.locator(f"#sort-{key}")).to_contain_text(t[f"list_col_{key}"])
            await page.locator("#sort-product").click()  # △: by service, ascending (ev before ov)
            await expect(page.locator("#applications tbody tr").first).to_have_attribute(
                "data-id", str(ids["received"]))
        await expect(page.locator(f'tr[data-id="{ids["current"]}"]')).to_contain_text(t["product_ov"])
        await _no_overflow(page, f"list-{name}")

        # 【検索】: 申請区分 = 新規 and 法人名 contains part of the name; only the issued record matches both.
        await page.locator("#show-search").click()
        await expect(page.locator("h1")).to_have_text(t["list_search_title"])
        await page.locator("#f-type").select_option("new")
        await page.locator("#f-field1").select_option("domain")
        await page.locator("#f-text1").fill(VETTED["organization"]["name"][:2])
        await page.locator("#search-submit").click()
        await expect(page.locator("#list-empty")).to_have_text(t["list_none_search"])
        await page.locator("#show-search").click()
        await expect(page.locator("#f-text1")).to_have_value(VETTED["organization"]["name"][:2])
        await page.locator("#f-field1").select_option("organization")
        await page.locator("#search-submit").click()
        await expect(page.locator("#list-view")).to_have_text(t["list_search_note"])
        assert await _ids(page) == {ids["current"], ids["received"]}
        await page.locator("#show-search").click()
        await page.locator("#f-date_from").fill("2026-12-31")
        await page.locator("#f-date_to").fill("2026-01-01")
        await page.locator("#search-submit").click()
        await expect(page.locator("#f-date_to-err")).to_have_text(t["list_err_search_date_order"])
        await _no_overflow(page, f"search-{name}")

        # 【過去案件表示】: the ended contract; the 76-month-old one in neither list.
        await page.goto(f"{base}/account/applications")
        await page.locator("#show-past").click()
        await expect(page.locator("#list-view")).to_have_text(t["list_past_note"])
        assert await _ids(page) == {ids["ended"]}
        await _no_overflow(page, f"past-{name}")

        # 詳細: from the current list.
        await page.locator("#show-current").click()
        await page.locator(f'tr[data-id="{ids["current"]}"] a', has_text=t["app_detail"]).click()
        await expect(page).to_have_url(f"{base}/account/applications/{ids['current']}")
        await expect(page.locator("h1")).to_contain_text(t["app_detail_title"])
        await _no_overflow(page, f"detail-{name}")
