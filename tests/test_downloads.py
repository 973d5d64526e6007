"""証明書/ステッカーダウンロード画面 (S-8): real files named from the domain and the date, the
download state recorded, someone else's record not found, a revoked certificate shown as 失効
with nothing to download."""

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from sqlalchemy import Engine
from sqlmodel import select

from api.app import create_app
from ca import authority
from domain.messages import catalogue
from domain.pki.hierarchy import TLS_CA, TLS_ROOT
from domain.settings import Settings
from store import certificates
from store.db import session_scope
from store.models import Application, AuditEvent, CertificateRecord
from tests.test_certificate_authority import make_csr
from tests.test_contact_change import issued_contract, login

NAME = "www.dl.example.jp"
JA, EN = catalogue("ja"), catalogue("en")


@dataclass
class Portal:
    engine: Engine
    settings: Settings
    customer_id: int
    customer: httpx.AsyncClient
    other: httpx.AsyncClient

    def record(self, app_id: int) -> Application:
        with session_scope(self.engine) as s:
            app = s.get(Application, app_id)
            assert app is not None
            return app

    def certificate(self, app_id: int) -> CertificateRecord:
        with session_scope(self.engine) as s:
            row = certificates.certificate_record(s, TLS_CA, self.record(app_id).certificate_serial)
            assert row is not None
            return row


@pytest.fixture
async def portal(settings: Settings, engine: Engine) -> AsyncIterator[Portal]:
    authority.ensure_hierarchy(engine, settings)
    authority.publish_missing_crls(engine, settings)
    customer_id, token, _ = login(engine, settings, "Example KK", "it@example.co.jp")
    _, other_token, _ = login(engine, settings, "Other KK", "it@other.example.co.jp")
    app = create_app(settings)
    async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as mine,
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as other):
        mine.cookies.set("certdesk_customer", token)
        other.cookies.set("certdesk_customer", other_token)
        yield Portal(engine, settings, customer_id, mine, other)


def _issued_on(p: Portal, app_id: int) -> str:
    when = p.certificate(app_id).not_before
    assert when is not None
    return when.astimezone(ZoneInfo(p.settings.timezone)).strftime("%Y%m%d")


async def test_each_file_is_a_real_download_named_from_the_domain_and_the_date(portal: Portal) -> None:
    app_id, _ = issued_contract(portal.engine, portal.settings, portal.customer_id, NAME)
    day = _issued_on(portal, app_id)
    listed = (await portal.customer.get(f"/api/v1/applications/{app_id}/downloads")).json()
    assert [f["file_name"] for f in listed["files"]] == [
        f"{NAME}_{day}.pem", f"{NAME}_{day}.chain.pem", f"{NAME}_{day}.fullchain.pem", f"{NAME}_{day}.p7b"]
    assert listed["state"] == "issued" and listed["downloaded_at"] is None

    leaf = x509.load_der_x509_certificate(portal.certificate(app_id).der or b"")
    issuing = certificates.ca_certificate(portal.engine, TLS_CA)
    root = certificates.ca_certificate(portal.engine, TLS_ROOT)
    got = {}
    for f in sorted(listed["files"], key=lambda f: f["format"] != "chain"):  # the chain first
        answer = await portal.customer.get(f["url"])
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-disposition"] == f'attachment; filename="{f["file_name"]}"'
        assert answer.headers["cache-control"] == "no-store"
        got[f["format"]] = answer
        if f["format"] == "chain":  # the chain alone holds no certificate of the customer's: not "downloaded"
            assert portal.record(app_id).downloaded_at is None
    assert x509.load_pem_x509_certificates(got["certificate"].content) == [leaf]
    assert x509.load_pem_x509_certificates(got["chain"].content) == [issuing]
    assert x509.load_pem_x509_certificates(got["fullchain"].content) == [leaf, issuing]
    assert got["pkcs7"].headers["content-type"] == "application/x-pkcs7-certificates"
    # A SET OF in DER: sorted by encoding, not kept in order.
    assert set(pkcs7.load_der_pkcs7_certificates(got["pkcs7"].content)) == {leaf, issuing, root}

    # The first download of the certificate is kept; later ones do not move it; each is audited.
    first = portal.record(app_id).downloaded_at
    assert first is not None
    await portal.customer.get(listed["files"][0]["url"])
    assert portal.record(app_id).downloaded_at == first
    assert (await portal.customer.get(f"/api/v1/applications/{app_id}/downloads")).json()["downloaded_at"] == \
        first.isoformat()
    with session_scope(portal.engine) as s:
        audited = s.exec(select(AuditEvent).where(AuditEvent.action == "application.downloaded",
                                                  AuditEvent.subject == f"application:{app_id}")).all()
    assert sorted(a.details["format"] for a in audited) == ["certificate", "certificate", "chain", "fullchain",
                                                            "pkcs7"]
    assert {a.actor for a in audited} == {f"customer:{portal.customer_id}"}


async def test_the_old_certificate_link_still_works_and_counts_as_a_download(portal: Portal) -> None:
    app_id, _ = issued_contract(portal.engine, portal.settings, portal.customer_id, NAME)
    pem = await portal.customer.get(f"/api/v1/applications/{app_id}/certificate")
    assert pem.status_code == 200 and pem.text.count("BEGIN CERTIFICATE") == 2
    assert portal.record(app_id).downloaded_at is not None


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_the_detail_page_leads_to_the_download_screen(portal: Portal, lang: str) -> None:
    t = JA if lang == "ja" else EN
    app_id, _ = issued_contract(portal.engine, portal.settings, portal.customer_id, NAME)
    detail = await portal.customer.get(f"/account/applications/{app_id}", params={"lang": lang})
    link = re.search(r'<a id="download" href="([^"]+)">([^<]+)</a>', detail.text)
    assert link is not None and link.groups() == (f"/account/applications/{app_id}/downloads", t["app_download_here"])
    assert t["dl_detail_heading"] in detail.text
    screen = await portal.customer.get(link.group(1), params={"lang": lang})
    assert screen.status_code == 200 and screen.headers["cache-control"] == "no-store"
    assert f"<h1>{t['dl_title']}</h1>" in screen.text
    for key in ("dl_certificate", "dl_chain", "dl_fullchain", "dl_pkcs7", "dl_seal_heading", "dl_seal_note",
                "dl_not_downloaded"):
        assert t[key] in screen.text, key
    assert screen.text.count(f'>{t["dl_button"]}</a>') == 4  # one per file; the seal's say SVG / PNG
    for href in re.findall(r'class="dl-button" href="([^"]+)"', screen.text):
        got = await portal.customer.get(href.replace("&amp;", "&"))
        assert got.status_code == 200 and "attachment" in got.headers["content-disposition"], href
    again = await portal.customer.get(link.group(1), params={"lang": lang})
    assert t["dl_not_downloaded"] not in again.text and 'id="dl-downloaded"' in again.text


async def test_not_issued_yet_offers_nothing_and_says_when(portal: Portal) -> None:
    with session_scope(portal.engine) as s:
        app = Application(customer_id=portal.customer_id, type="new", product="ov", csr_pem=make_csr(NAME),
                          names=[NAME], organization={"name": "Example KK"}, contacts={})
        s.add(app)
        s.flush()
        app_id = int(app.id or 0)
    screen = await portal.customer.get(f"/account/applications/{app_id}/downloads")
    assert screen.status_code == 200 and JA["dl_not_ready"] in screen.text and 'class="dl-button"' not in screen.text
    listed = (await portal.customer.get(f"/api/v1/applications/{app_id}/downloads")).json()
    assert listed["files"] == [] and listed["seal"] is None
    refused = await portal.customer.get(f"/api/v1/applications/{app_id}/downloads/certificate.pem")
    assert refused.status_code == 409 and refused.json()["error"] == "not_issued"
    assert portal.record(app_id).downloaded_at is None


async def test_someone_elses_record_is_not_found(portal: Portal) -> None:
    app_id, _ = issued_contract(portal.engine, portal.settings, portal.customer_id, NAME)
    for path in (f"/account/applications/{app_id}/downloads", f"/api/v1/applications/{app_id}/downloads",
                 f"/api/v1/applications/{app_id}/downloads/certificate.pem",
                 f"/api/v1/applications/{app_id}/downloads/certificate.p7b"):
        answer = await portal.other.get(path)
        assert answer.status_code == 404, path
    assert portal.record(app_id).downloaded_at is None
    async with httpx.AsyncClient(transport=portal.customer._transport, base_url="http://portal.test") as nobody:
        assert (await nobody.get(f"/api/v1/applications/{app_id}/downloads/certificate.pem")).status_code == 401


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_a_revoked_certificate_shows_revoked_and_no_download(portal: Portal, lang: str) -> None:
    t = JA if lang == "ja" else EN
    app_id, _ = issued_contract(portal.engine, portal.settings, portal.customer_id, NAME)
    serial = portal.record(app_id).certificate_serial or ""
    when = datetime(2027, 1, 6, 1, 30, tzinfo=ZoneInfo("UTC"))
    assert authority.revoke(portal.engine, portal.settings, TLS_CA, serial, "keyCompromise", "staff:test", now=when)
    screen = await portal.customer.get(f"/account/applications/{app_id}/downloads", params={"lang": lang})
    assert screen.status_code == 200
    state = re.search(r'<td id="dl-state">(.*?)</td>', screen.text, re.S)
    assert state is not None and t["dl_state_revoked"] in state.group(1)
    assert t["dl_revoked_on"].format(date="2027/01/06 10:30") in state.group(1)  # Asia/Tokyo
    assert t["dl_revoked_reason"].format(reason=t["dl_reason_key_compromise"]) in state.group(1)
    assert t["dl_revoked_note"] in screen.text and 'id="dl-certificate"' in screen.text
    assert "/downloads/certificate.pem" not in screen.text and ".p7b" not in screen.text
    assert t["dl_seal_not_valid"] in html.unescape(screen.text)
    for path in ("certificate.pem", "chain.pem", "fullchain.pem", "certificate.p7b"):
        refused = await portal.customer.get(f"/api/v1/applications/{app_id}/downloads/{path}")
        assert refused.status_code == 409 and refused.json()["error"] == "already_revoked", path
    listed = (await portal.customer.get(f"/api/v1/applications/{app_id}/downloads")).json()
    assert listed["files"] == [] and listed["state"] == "revoked" and listed["revocation_reason"] == "keyCompromise"
    assert portal.record(app_id).downloaded_at is None


async def test_an_expired_certificate_says_so_and_a_wildcard_is_named_safely(portal: Portal) -> None:
    app_id, _ = issued_contract(portal.engine, portal.settings, portal.customer_id, "*.dl.example.jp")
    listed = (await portal.customer.get(f"/api/v1/applications/{app_id}/downloads")).json()
    assert listed["files"][0]["file_name"].startswith("wildcard.dl.example.jp_")
    answer = await portal.customer.get(listed["files"][3]["url"])
    assert 'filename="wildcard.dl.example.jp_' in answer.headers["content-disposition"]
    with session_scope(portal.engine) as s:
        row = s.exec(select(CertificateRecord).where(
            CertificateRecord.serial == portal.record(app_id).certificate_serial)).one()
        row.not_after = datetime.now(ZoneInfo("UTC")) - timedelta(days=1)
        s.add(row)
    screen = await portal.customer.get(f"/account/applications/{app_id}/downloads")
    assert JA["dl_state_expired"] in screen.text and JA["dl_seal_not_valid"] in screen.text
