"""The Web ステッカー (S-8): the pure rules (status, images, file names), the public seal page and
its images (no login, unguessable id, live status, never cached), and the seal turning to not
valid right after a revocation through the real revocation path (phone confirmation, the CA)."""

import asyncio
import html
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api import staff_auth
from api.app import create_app
from ca import authority
from certdesk.worker import build_worker
from domain import seal_image, site_seal
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts, seals
from store.db import session_scope
from store.models import Application, CertificateRecord, Contract
from tests.test_contact_change import issued_contract, login

JA, EN = catalogue("ja"), catalogue("en")
NOW = datetime(2027, 3, 1, tzinfo=UTC)
BEFORE, AFTER = NOW - timedelta(days=30), NOW + timedelta(days=60)
PASSWORD = "a much better passphrase"


# --- pure rules -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cert_state", "not_before", "not_after", "contract", "expected"), [
    ("issued", BEFORE, AFTER, "active", "valid"),
    ("issued", BEFORE, AFTER, "ending", "valid"),  # 解約 filed for the term's end: valid until then
    ("revoked", BEFORE, AFTER, "active", "revoked"),
    ("revoked", BEFORE, NOW - timedelta(days=1), "ended", "revoked"),  # revocation says more than expiry
    ("issued", BEFORE, NOW - timedelta(seconds=1), "active", "expired"),
    ("issued", NOW + timedelta(hours=1), AFTER, "active", "not_yet_valid"),
    ("issued", BEFORE, AFTER, "ended", "ended"),
    ("issued", BEFORE, AFTER, "cancelled", "ended"),
    ("reserved", None, None, "active", "unknown"),
    (None, None, None, "active", "unknown"),
])
def test_the_seal_says_valid_only_for_a_live_certificate(cert_state: str | None, not_before: datetime | None,
                                                         not_after: datetime | None, contract: str,
                                                         expected: str) -> None:
    assert site_seal.status(cert_state, not_before, not_after, contract, NOW) == expected


@pytest.mark.parametrize(("text", "units", "expected"), [
    ("Example KK", 17, "Example KK"),
    ("契約株式会社", 17, "契約株式会社"),
    ("株式会社とても長い名前の組織です", 17, "株式会社とても長…"),
    ("An Exceptionally Long Company Name", 17, "An Exceptionally…"),
    ("  spaced \n name ", 17, "spaced name"),
])
def test_names_are_fitted_to_the_seal(text: str, units: int, expected: str) -> None:
    fitted = site_seal.fit(text, units)
    assert fitted == expected and site_seal.width_units(fitted) <= units


@pytest.mark.parametrize(("name", "expected"), [
    ("www.example.co.jp", "www.example.co.jp_20261205"),
    ("*.example.co.jp", "wildcard.example.co.jp_20261205"),
    ('evil"; filename=x.exe', "evil---filename-x.exe_20261205"),
    ("ｗｗｗ.例え.jp", "jp_20261205"),  # never in a certificate (IDNA there), still harmless
])
def test_file_names_come_from_the_domain_and_the_date_and_are_header_safe(name: str, expected: str) -> None:
    assert site_seal.file_stem(name, date(2026, 12, 5)) == expected
    assert site_seal.file_name(name, date(2026, 12, 5), "pkcs7") == expected + ".p7b"
    assert re.fullmatch(r"[a-z0-9.\-_]+", site_seal.file_name(name, date(2026, 12, 5), "fullchain"))


def test_the_svg_escapes_the_name_and_says_not_valid_when_not() -> None:
    shown = site_seal.svg('<b onload=x>"&"', "m", True)
    assert "<b" not in shown and '"&"' not in shown and "&lt;b onload=x&gt;&quot;&amp;&quot;" in shown
    assert "&lt;b onload=x&gt;\"&amp;\"</text>" in shown  # text content needs no quote escaped
    assert 'width="180" height="84"' in shown and site_seal.VALID_LINE in shown and site_seal.CA_MARK in shown
    grey = site_seal.svg("Example KK", "l", False)
    assert site_seal.NOT_VALID_LINE in grey and site_seal.VALID_LINE not in grey and 'width="240"' in grey
    for size in site_seal.SIZES.values():
        assert f'width="{size.width}" height="{size.height}"' in site_seal.svg("x", size.name, True)


@pytest.mark.parametrize("font", ["", None], ids=["cjk_font", "no_font"])
def test_the_png_renders_with_a_cjk_font_and_without_one(font: str | None) -> None:
    if font == "" and seal_image.cjk_font_path() is None:
        pytest.fail("no CJK font: .ci/install-browser installs fonts-ipafont-gothic")
    for size in site_seal.SIZES.values():
        image = Image.open(io.BytesIO(seal_image.png("契約株式会社", "www.example.jp", size.name, True, font)))
        assert image.format == "PNG" and image.size == (size.width, size.height)
    valid = Image.open(io.BytesIO(seal_image.png("Example KK", "www.example.jp", "m", True, font))).convert("RGB")
    grey = Image.open(io.BytesIO(seal_image.png("Example KK", "www.example.jp", "m", False, font))).convert("RGB")
    shield = (27, 30)  # inside the mark: the CA's blue, or grey when not valid
    assert valid.getpixel(shield) == (0x1F, 0x3A, 0x5F) and grey.getpixel(shield) == (0x8A, 0x8F, 0x98)


# --- the public page --------------------------------------------------------------------------------

@pytest.fixture
async def public(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                                 base_url="http://seal.test") as http:
        yield http


def _seal_of(engine: Engine, code: str) -> str:
    public_id = seals.public_id_of(engine, code)
    assert public_id is not None
    return public_id


async def test_the_seal_page_shows_the_certificate_to_anyone_and_reveals_nothing_else(
        public: httpx.AsyncClient, settings: Settings, engine: Engine) -> None:
    customer_id, _, _ = login(engine, settings, "Example KK", "it@example.co.jp")
    app_id, code = issued_contract(engine, settings, customer_id, "www.seal.example.jp")
    public_id = _seal_of(engine, code)
    assert seals.public_id_of(engine, code) == public_id  # made once
    other_id = _seal_of(engine, issued_contract(engine, settings, customer_id, "shop.seal.example.jp")[1])
    assert len(public_id) >= 22 and public_id != other_id
    assert code not in public_id and code[1:] not in public_id  # random, not derived from the contract

    page = await public.get(f"/seal/{public_id}", headers={"accept": "text/html"})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = html.unescape(page.text)
    assert f'data-status="valid">{JA["seal_valid"]}<' in text
    assert re.search(r'id="seal-organization">Example KK<', text)
    assert re.search(r'id="seal-domains">www.seal.example.jp<', text)
    assert re.search(r'id="seal-validity">\d{4}/\d\d/\d\d \d\d:\d\d ～ \d{4}/\d\d/\d\d \d\d:\d\d<', text)
    for secret in (code, "it@example.co.jp", "山田", "03-1234-5678", "sato@example.co.jp"):
        assert secret not in text, secret
    english = await public.get(f"/seal/{public_id}?lang=en")
    assert EN["seal_title"] in english.text and f'>{EN["seal_valid"]}<' in english.text

    api = await public.get(f"/api/v1/seals/{public_id}")
    assert api.status_code == 200 and api.headers["cache-control"] == "no-store"
    assert {k: api.json()[k] for k in ("status", "valid", "organization", "names")} == {
        "status": "valid", "valid": True, "organization": "Example KK", "names": ["www.seal.example.jp"]}
    assert set(api.json()) == {"status", "valid", "organization", "names", "not_before", "not_after", "revoked_at",
                               "checked_at"}

    svg = await public.get(f"/seal/{public_id}/seal.svg", params={"size": "s"})
    assert svg.headers["content-type"].startswith("image/svg+xml") and svg.headers["cache-control"] == "no-cache"
    assert 'width="120"' in svg.text and "Example KK" in svg.text and "content-disposition" not in svg.headers
    png = await public.get(f"/seal/{public_id}/seal.png", params={"size": "l", "download": "1"})
    assert png.headers["content-type"] == "image/png" and Image.open(io.BytesIO(png.content)).size == (240, 112)
    assert png.headers["content-disposition"] == 'attachment; filename="www.seal.example.jp-seal-l.png"'
    assert (await public.get(f"/seal/{public_id}/seal.png", params={"size": "xl"})).status_code == 422


async def test_an_unknown_seal_is_not_found_in_the_persons_language(public: httpx.AsyncClient, settings: Settings,
                                                                    engine: Engine) -> None:
    customer_id, _, _ = login(engine, settings, "Example KK", "it@example.co.jp")
    _, code = issued_contract(engine, settings, customer_id, "www.seal.example.jp")
    public_id = _seal_of(engine, code)
    for guess in (public_id[:-1] + ("A" if public_id[-1] != "A" else "B"), code, "1", "x" * 300):
        page = await public.get(f"/seal/{guess}", headers={"accept": "text/html"})
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert JA["err_seal_not_found"] in page.text and "{" not in page.text.split("<main>")[1][:200]
        for image in ("seal.svg", "seal.png"):
            assert (await public.get(f"/seal/{guess}/{image}")).status_code == 404
        assert (await public.get(f"/api/v1/seals/{guess}")).json()["error"] == "not_found"
    english = await public.get("/seal/nothing-here", headers={"accept": "text/html", "accept-language": "en"})
    assert EN["err_seal_not_found"] in english.text


async def test_an_expired_or_ended_contract_is_not_valid_on_the_seal(public: httpx.AsyncClient, settings: Settings,
                                                                     engine: Engine) -> None:
    customer_id, _, _ = login(engine, settings, "Example KK", "it@example.co.jp")
    app_id, code = issued_contract(engine, settings, customer_id, "www.seal.example.jp")
    public_id = _seal_of(engine, code)
    with session_scope(engine) as s:
        contract = s.exec(select(Contract).where(Contract.code == code)).one()
        contract.state = "ended"
        s.add(contract)
    ended = html.unescape((await public.get(f"/seal/{public_id}")).text)
    assert f'data-status="ended" role="alert">{JA["seal_not_valid"]}<' in ended and JA["seal_ended"] in ended
    with session_scope(engine) as s:
        app = s.get(Application, app_id)
        assert app is not None
        row = s.exec(select(CertificateRecord).where(CertificateRecord.serial == app.certificate_serial)).one()
        row.not_after = datetime.now(UTC) - timedelta(minutes=1)
        s.add(row)
    expired = html.unescape((await public.get(f"/seal/{public_id}")).text)
    assert 'data-status="expired"' in expired and JA["seal_expired"] in expired
    grey = await public.get(f"/seal/{public_id}/seal.svg")
    assert site_seal.NOT_VALID_LINE in grey.text


# --- a revocation, through the real path ------------------------------------------------------------

async def test_the_seal_page_turns_to_not_valid_right_after_a_revocation(
        time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
        smtp_sink: tuple[int, Path]) -> None:
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    customer_id, token, csrf = login(engine, settings, "Example KK", "it@example.co.jp")
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    staff_token, _ = staff_auth.login(engine, settings, "sato", PASSWORD)
    app_id, _ = issued_contract(engine, settings, customer_id, "www.seal.example.jp")
    app = create_app(settings, time_skipping_env.client)
    async with (build_worker(time_skipping_env.client, settings),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as http):
        customer = {"cookie": f"certdesk_customer={token}", "x-csrf-token": csrf}
        staff = {"authorization": f"Bearer {staff_token}"}
        # The customer finds the seal on the download screen; anyone may open it.
        listed = (await http.get(f"/api/v1/applications/{app_id}/downloads", headers=customer)).json()
        seal_url = f"/seal/{listed['seal']['public_id']}"
        assert listed["seal"]["page_url"].endswith(seal_url) and listed["seal"]["valid"] is True
        assert seal_url in listed["seal"]["snippet"] and "<script" not in listed["seal"]["snippet"]
        assert 'data-status="valid"' in (await http.get(seal_url)).text

        revocation = await http.post(f"/api/v1/applications/{app_id}/revoke", json={"reason": "key_compromise"},
                                     headers=customer)
        assert revocation.status_code == 201, revocation.text
        task = None
        for _ in range(200):
            found = (await http.get("/api/v1/tasks", params={"kind": "revocation_phone_confirmation"},
                                    headers=staff)).json()
            task = next((t for t in found if t["subject"] == f"application:{revocation.json()['id']}"), None)
            if task:
                break
            await asyncio.sleep(0.05)
        assert task is not None
        # Until support's call confirms it, nothing is revoked and the seal stays valid.
        assert 'data-status="valid"' in (await http.get(seal_url)).text
        done = await http.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "confirmed"}, headers=staff)
        assert done.status_code == 200, done.text
        for _ in range(200):  # the workflow revokes at the CA right after the confirmation
            with session_scope(engine) as s:
                parent = s.get(Application, app_id)
                assert parent is not None
                row = s.exec(select(CertificateRecord).where(
                    CertificateRecord.serial == parent.certificate_serial)).one()
            if row.state == "revoked":
                break
            await asyncio.sleep(0.05)
        assert row.state == "revoked"
        # The very next look at the seal says not valid: the page, the image and the JSON twin.
        page = html.unescape((await http.get(seal_url, headers={"accept": "text/html"})).text)
        assert f'data-status="revoked" role="alert">{JA["seal_not_valid"]}<' in page
        assert JA["seal_revoked"].split("（")[0] in page
        assert site_seal.NOT_VALID_LINE in (await http.get(f"{seal_url}/seal.svg")).text
        api = (await http.get(f"/api/v1/seals/{listed['seal']['public_id']}")).json()
        assert (api["status"], api["valid"]) == ("revoked", False) and api["revoked_at"] is not None
        screen = await http.get(f"/account/applications/{app_id}/downloads", headers=customer)
        assert JA["dl_state_revoked"] in screen.text and 'href="/api/v1/applications' not in screen.text
