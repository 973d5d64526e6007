"""失効申請 and 再発行申請 in a real browser on the real stack, in Japanese and English, 1280 and 390
px wide: お申込情報詳細 → the pull-down (「失効申請」/「再発行申請」, [次へ]) → 申請規約同意 → 入力 →
入力確認 → 完了, as the manual (003, sections 2.3 and 2.5) orders them. No screen scrolls sideways;
a screenshot of each is saved under tests/screenshots/ (ignored by git) for anyone to look at."""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import Engine

from api import customer_auth
from ca import authority
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import Application, utcnow
from tests.browser import browser, page, serve  # noqa: F401
from tests.test_certificate_authority import make_csr
from tests.test_contact_change import issued_contract

PASSWORD = "a much better passphrase"
SHOTS = Path(__file__).parent / "screenshots"


async def _fits(page: Page, what: str) -> None:
    """No horizontal overflow: the page is no wider than the window."""
    scroll, client = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    if scroll > client:  # name the widest elements that stick out, for whoever fixes it
        wide = await page.evaluate("""w => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > w)
            .map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
            .slice(0, 12)""", client)
        raise AssertionError(f"{what}: {scroll} px wide in a {client} px window ({page.url}): {wide}")


async def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _issued(engine: Engine, settings: Settings, customer_id: int, name: str) -> int:
    app_id, _ = issued_contract(engine, settings, customer_id, name)
    with session_scope(engine) as s:
        row = s.get(Application, app_id)
        assert row is not None
        row.issued_at = utcnow() - timedelta(days=1)  # inside the 25-day reissue window
        s.add(row)
    return app_id


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("page", ["ja-JP", "en-US"], indirect=True)
async def test_revocation_and_reissue_through_their_screens(page: Page, local_stack: Settings, engine: Engine,
                                                            request: pytest.FixtureRequest, width: int) -> None:
    lang = request.node.callspec.params["page"][:2]
    t = catalogue(lang)
    tag = f"{lang}-{width}"
    await page.set_viewport_size({"width": width, "height": 900})
    authority.ensure_hierarchy(engine, local_stack)
    new = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, local_stack, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, PASSWORD, token)
    cookie, _ = customer_auth.login(engine, local_stack, new.access_key, PASSWORD)
    to_revoke = _issued(engine, local_stack, new.id, "www.shikko.example.jp")
    to_reissue = _issued(engine, local_stack, new.id, "www.saihakko.example.jp")

    with serve(local_stack) as base:
        await page.context.add_cookies([{"name": "certdesk_customer", "value": cookie, "url": base}])

        # お申込情報詳細: the manual's header and pull-down.
        await page.goto(f"{base}/account/applications/{to_revoke}")
        await expect(page.locator("h1")).to_have_text(t["app_detail_title"])
        await expect(page.locator("#actions h2")).to_have_text(t["detail_actions"])
        await _fits(page, "detail")
        await _shot(page, f"detail-{tag}")

        # 失効申請: 「失効申請」 [次へ] → 規約同意 → 入力 → 入力確認 → 完了.
        await page.locator("#action-select").select_option("revoke")
        await page.locator("#action-next").click()
        await expect(page.locator("h1")).to_have_text(t["rv_terms_title"])
        await _fits(page, "revocation terms")
        await _shot(page, f"revocation-terms-{tag}")
        await page.locator("#revocation-agree").click()

        await expect(page.locator("h1")).to_have_text(t["rv_input_title"])
        await expect(page.locator("#request-kind")).to_have_text(t["rv_kind_value"])
        await page.locator("#revocation-next").click()  # no reason chosen: said next to the reasons
        await expect(page.locator("#f-reason-err")).to_have_text(t["rv_reason_missing"])
        await _fits(page, "revocation input")
        await _shot(page, f"revocation-input-{tag}")
        await page.get_by_label(t["app_reason_cessation"]).check()
        await page.locator("#revocation-next").click()

        await expect(page.locator("h1")).to_have_text(t["rv_confirm_title"])
        await expect(page.locator("#confirm-reason")).to_have_text(t["app_reason_cessation"])
        await _fits(page, "revocation confirm")
        await _shot(page, f"revocation-confirm-{tag}")
        await page.locator("#revocation-apply").click()

        await expect(page.locator("h1")).to_have_text(t["rv_done_title"])
        for key in ("rv_done", "rv_done_phone", "rv_done_registrant"):
            await expect(page.locator("#revocation-done")).to_contain_text(t[key])
        await _fits(page, "revocation done")
        await _shot(page, f"revocation-done-{tag}")
        await page.locator("#revocation-parent").click()
        await expect(page.locator("#revocation-waiting")).to_be_visible()
        await expect(page.locator("#action-revoke")).to_have_count(0)

        # 再発行申請: 「再発行申請」 [次へ] → 規約同意 → 基本情報入力 → 入力確認 → 完了.
        await page.goto(f"{base}/account/applications/{to_reissue}")
        await page.locator("#action-select").select_option("reissue")
        await page.locator("#action-next").click()
        await expect(page.locator("h1")).to_have_text(t["ri_terms_title"])
        await _fits(page, "reissue terms")
        await _shot(page, f"reissue-terms-{tag}")
        await page.locator("#reissue-agree").click()

        await expect(page.locator("h1")).to_have_text(t["ri_input_title"])
        await expect(page.locator("#f-revoke_previous legend")).to_contain_text(t["app_reissue_previous"])
        await page.get_by_label(t["app_reissue_after_two_weeks"]).check()
        await page.locator("#f-csr").fill("not a CSR")
        await page.locator("#reissue-next").click()
        await expect(page.locator("#f-csr-err")).to_be_visible()
        await _fits(page, "reissue input")
        await _shot(page, f"reissue-input-{tag}")
        await page.locator("#f-csr").fill(make_csr("www.saihakko.example.jp"))
        await page.locator("#reissue-next").click()

        await expect(page.locator("h1")).to_have_text(t["ri_confirm_title"])
        await expect(page.locator("#confirm-previous")).to_have_text(t["app_reissue_after_two_weeks"])
        await expect(page.locator("#confirm-names")).to_have_text("www.saihakko.example.jp")
        await _fits(page, "reissue confirm")
        await _shot(page, f"reissue-confirm-{tag}")
        await page.locator("#reissue-apply").click()

        await expect(page.locator("h1")).to_have_text(t["ri_done_title"])
        await expect(page.locator("#reissue-done")).to_contain_text(t["ri_done"])
        await _fits(page, "reissue done")
        await _shot(page, f"reissue-done-{tag}")
        await page.locator("#reissue-parent").click()
        await expect(page.locator(".replaced-by")).to_have_count(1)
        await expect(page.locator("#action-reissue")).to_have_count(0)
        await _fits(page, "detail after the reissue")
        await _shot(page, f"detail-reissued-{tag}")
