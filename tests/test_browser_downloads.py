"""証明書/ステッカーダウンロード and the Web ステッカー in a real browser (Chromium), Japanese and
English, 1280 and 390 px wide: お申込情報詳細 → 「ダウンロードはこちら」 → the download screen (a
real download, named from the domain and the date) → the public seal page; after a revocation
the seal page says not valid and the screen shows 失効 with nothing to download. No page
scrolls sideways. Screenshots go to tests/screenshots/ (ignored by git) or CERTDESK_SCREENSHOT_DIR."""
# ruff: noqa: F811  (pytest fixtures imported by name; see tests/browser.py)

import asyncio
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs7
from playwright.async_api import Page, expect
from sqlalchemy import Engine

from ca import authority
from domain.messages import catalogue
from domain.pki.hierarchy import TLS_CA
from domain.settings import Settings
from store.db import session_scope
from store.models import Application
from tests.browser import browser, page, serve  # noqa: F401
from tests.test_contact_change import issued_contract, login

NAME = "www.sticker.example.jp"
SHOTS = Path(os.environ.get("CERTDESK_SCREENSHOT_DIR") or Path(__file__).parent / "screenshots")
NO_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


WIDER = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`)
  .slice(0, 8)"""


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def _fits(page: Page, what: str) -> None:
    if not await page.evaluate(NO_OVERFLOW):
        widths = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        raise AssertionError(f"{what} scrolls sideways: {widths}, wider: {await page.evaluate(WIDER)}")


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("page", ["ja-JP", "en-US"], indirect=True)
async def test_detail_downloads_and_the_seal_page(page: Page, width: int, settings: Settings, engine: Engine,
                                                  shots: Path, request: pytest.FixtureRequest) -> None:
    lang = request.node.callspec.params["page"][:2]
    t = catalogue(lang)
    shot = f"{lang}-{width}"
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    customer_id, token, _ = login(engine, settings, "ステッカー株式会社", "it@sticker.example.jp")
    app_id, _ = issued_contract(engine, settings, customer_id, NAME)
    await page.set_viewport_size({"width": width, "height": 900})

    with serve(settings) as base:
        await page.context.add_cookies([{"name": "certdesk_customer", "value": token, "url": base}])
        await page.goto(f"{base}/account/applications/{app_id}")
        await _fits(page, "the detail page")
        await page.screenshot(path=str(shots / f"downloads-detail-{shot}.png"), full_page=True)
        link = page.locator("#download")
        await expect(link).to_have_text(t["app_download_here"])
        await link.click()

        # 証明書/ステッカーダウンロード画面: the four files, a real download each.
        await expect(page.locator("h1")).to_have_text(t["dl_title"])
        await expect(page.locator("#dl-downloaded")).to_have_text(t["dl_not_downloaded"])
        await expect(page.locator(".dl-files tbody tr")).to_have_count(4)
        await expect(page.locator(".dl-seal img")).to_have_count(3)
        await page.wait_for_load_state("load")  # the click's navigation, images included
        for img in await page.locator(".dl-seal img").all():  # the seal images load (our own origin)
            assert await img.evaluate("i => i.complete && i.naturalWidth > 0")
        await _fits(page, "the download screen")
        await page.screenshot(path=str(shots / f"downloads-screen-{shot}.png"), full_page=True)
        async with page.expect_download() as fetched:
            await page.locator("#dl-pkcs7 .dl-button").click()
        download = await fetched.value
        assert download.suggested_filename.startswith(NAME + "_") and download.suggested_filename.endswith(".p7b")
        p7b = await asyncio.to_thread(Path(await download.path()).read_bytes)
        assert len(pkcs7.load_der_pkcs7_certificates(p7b)) == 3  # the certificate, the issuing CA, the root
        with session_scope(engine) as s:
            assert s.get(Application, app_id).downloaded_at is not None  # type: ignore[union-attr]
        snippet = await page.locator("#seal-snippet").input_value()
        seal_href = await page.locator("#seal-page").get_attribute("href")
        assert seal_href and seal_href in snippet and "<script" not in snippet

        # The public seal page: no login needed.
        await page.context.clear_cookies()
        await page.goto(base + seal_href)
        await expect(page.locator("h1")).to_have_text(t["seal_title"])
        await expect(page.locator("#seal-status")).to_have_text(t["seal_valid"])
        await expect(page.locator("#seal-organization")).to_have_text("Example KK")  # as the certificate names it
        await expect(page.locator("#seal-domains")).to_have_text(NAME)
        assert await page.locator(".seal-image").evaluate("i => i.complete && i.naturalWidth > 0")
        await _fits(page, "the seal page")
        await page.screenshot(path=str(shots / f"seal-valid-{shot}.png"), full_page=True)

        # Revoked: the seal page says so at its next look; the screen shows 失効 and no download.
        with session_scope(engine) as s:
            serial = s.get(Application, app_id).certificate_serial  # type: ignore[union-attr]
        authority.revoke(engine, settings, TLS_CA, serial or "", "keyCompromise", "staff:test")
        await page.reload()
        await expect(page.locator("#seal-status")).to_have_text(t["seal_not_valid"])
        await expect(page.locator("#seal-status")).to_have_attribute("data-status", "revoked")
        await _fits(page, "the seal page, not valid")
        await page.screenshot(path=str(shots / f"seal-revoked-{shot}.png"), full_page=True)
        await page.context.add_cookies([{"name": "certdesk_customer", "value": token, "url": base}])
        await page.goto(f"{base}/account/applications/{app_id}/downloads")
        await expect(page.locator("#dl-state .dl-state-revoked")).to_have_text(t["dl_state_revoked"])
        await expect(page.locator("#dl-revoked")).to_have_text(t["dl_revoked_note"])
        await expect(page.locator(".dl-files")).to_have_count(0)
        await _fits(page, "the download screen, revoked")
        await page.screenshot(path=str(shots / f"downloads-revoked-{shot}.png"), full_page=True)
