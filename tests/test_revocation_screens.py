"""失効申請 (manual 003 section 2.5) and 再発行申請 (section 2.3) through their screens, from the detail
page's pull-down, on the dev server with the real worker: 規約同意 → 入力 → 確認 → 完了; the phone check
calls the 登録担当者; the detail page then shows 失効 (date, reason, no download) or the record that
replaced the certificate; and every screen refuses what the record's rules refuse.
"""

import asyncio
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from api import customer_auth
from api.app import create_app
from ca import authority
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import Application, utcnow
from tests.test_certificate_authority import make_csr
from tests.test_contact_change import CONTACTS, issued_contract

JA, EN = catalogue("ja"), catalogue("en")
PASSWORD = "correct horse battery"
REGISTRANT = CONTACTS["registrant"]  # the technical contact is 山田; the manual's call goes to 佐藤 (登録担当者)


@dataclass
class Portal:
    http: httpx.AsyncClient  # the customer's browser (cookie session)
    other: httpx.AsyncClient
    staff: httpx.AsyncClient
    engine: Engine
    settings: Settings
    customer_id: int

    async def csrf(self, client: httpx.AsyncClient | None = None) -> str:
        page = await (client or self.http).get("/account")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text[:500]
        return found.group(1)

    def count(self) -> int:
        with session_scope(self.engine) as s:
            return len(s.exec(select(Application.id)).all())

    def record(self, application_id: int) -> Application:
        with session_scope(self.engine) as s:
            app = s.get(Application, application_id)
            assert app is not None
            return app

    async def task(self, kind: str, application_id: int) -> dict[str, Any]:
        for _ in range(300):
            tasks = (await self.staff.get(f"/api/v1/tasks?state=open&kind={kind}")).json()
            mine = [t for t in tasks if t["subject"] == f"application:{application_id}"]
            if mine:
                return mine[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} task for application {application_id}")

    async def until(self, application_id: int, status: str) -> None:
        for _ in range(300):
            if self.record(application_id).status == status:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"application {application_id} never became {status}")


def _customer(engine: Engine, settings: Settings, org: str, email: str) -> tuple[int, str]:
    new = accounts.create_customer(engine, org, email, timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, "a much better passphrase", token)
    cookie, _ = customer_auth.login(engine, settings, new.access_key, "a much better passphrase")
    return new.id, cookie


@pytest.fixture
async def portal(local_stack: Settings, engine: Engine) -> AsyncIterator[Portal]:
    settings = local_stack
    authority.ensure_hierarchy(engine, settings)
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    customer_id, cookie = _customer(engine, settings, "Example KK", "it@example.co.jp")
    _, other_cookie = _customer(engine, settings, "Other KK", "it@other.example.co.jp")
    app = create_app(settings)

    def client(token: str = "") -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test")
        if token:
            c.cookies.set("certdesk_customer", token)
        return c

    async with client(cookie) as http, client(other_cookie) as other, client() as staff:
        session = (await staff.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})).json()
        staff.headers["authorization"] = f"Bearer {session['token']}"
        yield Portal(http, other, staff, engine, settings, customer_id)


def _issued(p: Portal, name: str = "www.tanto.example.jp", age: timedelta = timedelta(days=1)) -> tuple[int, str]:
    """An issued record and its contract (tests.test_contact_change), issued ``age`` ago."""
    app_id, code = issued_contract(p.engine, p.settings, p.customer_id, name)
    with session_scope(p.engine) as s:
        row = s.get(Application, app_id)
        assert row is not None
        row.issued_at = utcnow() - age
        s.add(row)
    return app_id, code


def _hidden(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def _menu(page: str) -> list[str]:
    found = re.search(r'<select id="action-select" name="action"[^>]*>(.*?)</select>', page, re.S)
    return re.findall(r'<option value="([a-z_]+)"', found.group(1)) if found else []


async def test_revocation_through_the_manual_screens_calls_the_registrant_and_shows_the_revocation(
        portal: Portal) -> None:
    app_id, code = _issued(portal)
    detail = await portal.http.get(f"/account/applications/{app_id}")
    assert detail.status_code == 200
    # The manual's header and pull-down 「更新、失効、解約、再発行、担当者変更、申請取消」: its order, what is allowed.
    for words in (JA["detail_intro"], JA["detail_actions"], JA["detail_actions_note"], "ステータス：", "サービス："):
        assert words in detail.text, words
    assert _menu(detail.text) == ["renew", "revoke", "terminate", "reissue", "contact_change"]
    assert "(ov)" not in detail.text and "(cessation)" not in detail.text

    chosen = await portal.http.get(f"/account/applications/{app_id}/next", params={"action": "revoke"})
    assert chosen.status_code == 303 and chosen.headers["location"] == f"/account/applications/{app_id}/revocation"
    terms = await portal.http.get(chosen.headers["location"])
    assert terms.status_code == 200 and JA["rv_terms_title"] in terms.text and JA["app_agree"] in terms.text
    csrf = await portal.csrf()
    base = f"/account/applications/{app_id}"

    unagreed = await portal.http.post(f"{base}/revocation/input", data={"csrf_token": csrf})
    assert unagreed.status_code == 422 and 'id="revocation-agree-err"' in unagreed.text
    form = await portal.http.post(f"{base}/revocation/input", data={"csrf_token": csrf, "agree_terms": "on"})
    assert form.status_code == 200
    for words in (JA["rv_input_title"], JA["rv_input_intro"], JA["rv_input_warning"], JA["rv_required_note"],
                  "申込区分", "契約コード", code, "サーバ名(Common Name)", "www.tanto.example.jp", "申請組織名",
                  "Example KK"):
        assert words in form.text, words
    radios = re.findall(r'<input type="radio" name="reason" value="([a-z_]+)"', form.text)
    assert radios == ["content_change", "switching", "cessation", "key_compromise"]
    for reason in radios:
        assert JA[f"app_reason_{reason}"] in form.text

    missing = await portal.http.post(f"{base}/revocation/confirm", data={"csrf_token": csrf})
    assert missing.status_code == 422 and 'id="f-reason-err"' in missing.text
    assert JA["rv_reason_missing"] in missing.text
    confirm = await portal.http.post(f"{base}/revocation/confirm", data={"csrf_token": csrf, "reason": "cessation"})
    assert confirm.status_code == 200 and JA["rv_confirm_title"] in confirm.text
    assert "取消理由" in confirm.text and JA["app_reason_cessation"] in confirm.text
    assert _hidden(confirm.text)["reason"] == "cessation"
    back = await portal.http.post(f"{base}/revoke", data={**_hidden(confirm.text), "step": "back"})
    assert back.status_code == 200 and 'value="cessation" id="reason-cessation" checked' in back.text
    assert portal.count() == 1  # nothing is filed before 「確認」

    done = await portal.http.post(f"{base}/revoke", data={**_hidden(confirm.text), "step": "apply"})
    assert done.status_code == 303, done.text
    found = re.fullmatch(r"/account/applications/(\d+)/revocation/done", done.headers["location"])
    assert found, done.headers["location"]
    revocation_id = int(found.group(1))
    finished = await portal.http.get(done.headers["location"])
    for words in ("失効申請が完了しました。", "内容を確認後、電話にて最終確認をさせていただきます。",
                  "内容確認後に弊社より登録担当者へ連絡し、最終確認をいたします。"):
        assert words in finished.text
    assert (await portal.http.get(f"/account/applications/{app_id}/revocation/done")).status_code == 404

    # The phone check calls the 登録担当者 (the technical contact is someone else).
    call = await portal.task("revocation_phone_confirmation", revocation_id)
    assert (call["facts"]["contact_name"], call["facts"]["contact_phone"]) == (REGISTRANT["name"], REGISTRANT["phone"])
    waiting = await portal.http.get(f"/account/applications/{app_id}")
    assert 'id="revocation-waiting"' in waiting.text and "revoke" not in _menu(waiting.text)
    again = await portal.http.get(f"{base}/revocation")
    assert again.status_code == 409 and JA["err_revocation_pending"] in again.text

    confirmed = await portal.staff.post(f"/api/v1/tasks/{call['id']}/complete", json={"outcome": "confirmed"})
    assert confirmed.status_code == 200, confirmed.text
    await portal.until(revocation_id, "completed")
    revoked = await portal.http.get(f"/account/applications/{app_id}")
    assert 'id="revoked"' in revoked.text and "ステータス：<strong>失効</strong>" in revoked.text
    assert JA["app_reason_cessation"] in re.search(r'id="revoked-reason">(.*?)</p>', revoked.text).group(1)
    assert 'id="download"' not in revoked.text and JA["detail_revoked_no_download"] in revoked.text
    assert "revoke" not in _menu(revoked.text) and "reissue" not in _menu(revoked.text)
    pem = await portal.http.get(f"/api/v1/applications/{app_id}/certificate")
    assert pem.status_code == 409 and pem.json()["error"] == "already_revoked"
    english = await portal.http.get(f"/account/applications/{app_id}?lang=en")
    assert EN["detail_revoked"] in english.text and EN["app_reason_cessation"] in english.text
    record = await portal.http.get(f"/account/applications/{revocation_id}?lang=en")
    assert EN["app_type_revocation"] in record.text and EN["app_reason_cessation"] in record.text


async def test_reissue_through_the_manual_screens_and_the_detail_names_the_replacement(portal: Portal) -> None:
    app_id, _ = _issued(portal, "www.saihakko.example.jp")
    base = f"/account/applications/{app_id}"
    chosen = await portal.http.get(f"{base}/next", params={"action": "reissue"})
    assert chosen.status_code == 303 and chosen.headers["location"] == f"{base}/reissue"
    terms = await portal.http.get(f"{base}/reissue")
    assert terms.status_code == 200 and JA["ri_terms_title"] in terms.text and "25日" in terms.text
    csrf = await portal.csrf()
    form = await portal.http.post(f"{base}/reissue/input", data={"csrf_token": csrf, "agree_terms": "on"})
    assert form.status_code == 200 and JA["ri_input_title"] in form.text and JA["app_reissue_intro"] in form.text
    # The manual's choice, in its order and words, and its note.
    assert re.findall(r'name="revoke_previous" value="([a-z_]+)"', form.text) == ["after_two_weeks", "immediately"]
    for key in ("app_reissue_previous", "app_reissue_after_two_weeks", "app_reissue_immediately"):
        assert JA[key] in form.text
    assert html.escape(JA["app_reissue_note"], quote=False) in form.text

    bad = await portal.http.post(f"{base}/reissue/confirm", data={"csrf_token": csrf, "csr": "not a csr"})
    assert bad.status_code == 422 and 'id="f-csr-err"' in bad.text and 'id="f-revoke_previous-err"' in bad.text
    assert "ParseError" not in bad.text and "not a csr</textarea>" in bad.text
    csr = make_csr("www.saihakko.example.jp")
    confirm = await portal.http.post(f"{base}/reissue/confirm",
                                     data={"csrf_token": csrf, "csr": csr, "revoke_previous": "immediately"})
    assert confirm.status_code == 200 and JA["ri_confirm_title"] in confirm.text
    for words in ("www.saihakko.example.jp", JA["app_reissue_immediately"], "Example KK", "佐藤 花子", "山田 太郎"):
        assert words in confirm.text, words
    back = await portal.http.post(f"{base}/reissue", data={**_hidden(confirm.text), "step": "back"})
    assert back.status_code == 200 and "BEGIN CERTIFICATE REQUEST" in back.text
    assert 'value="immediately" id="previous-immediately" checked' in back.text
    assert portal.count() == 1

    done = await portal.http.post(f"{base}/reissue", data={**_hidden(confirm.text), "step": "apply"})
    assert done.status_code == 303, done.text
    found = re.fullmatch(r"/account/applications/(\d+)/reissue/done", done.headers["location"])
    assert found, done.headers["location"]
    reissue_id = int(found.group(1))
    finished = await portal.http.get(done.headers["location"])
    assert JA["ri_done"] in finished.text and f'href="{base}"' in finished.text

    await portal.until(reissue_id, "issued")
    for _ in range(200):  # 「再発行と同時に失効する」: the previous certificate goes at once
        previous = await portal.http.get(base)
        if 'id="revoked"' in previous.text:
            break
        await asyncio.sleep(0.05)
    assert f'id="replaced-{reissue_id}"' in previous.text
    assert f'href="/account/applications/{reissue_id}"' in previous.text
    assert JA["detail_crl_superseded"] in previous.text and 'id="download"' not in previous.text
    new = await portal.http.get(f"/account/applications/{reissue_id}")
    assert JA["app_reissue_immediately"] in new.text and f'href="{base}"' in new.text
    assert 'id="download"' in new.text


async def test_the_pull_down_and_the_screens_refuse_what_the_rules_refuse(portal: Portal) -> None:
    # Issued 26 days ago: past the 25-day window.
    app_id, _ = _issued(portal, "www.old.example.jp", portal.settings.reissue_window + timedelta(days=1))
    base = f"/account/applications/{app_id}"
    detail = await portal.http.get(base)
    assert "reissue" not in _menu(detail.text) and 'id="reissue"' not in detail.text and "revoke" in _menu(detail.text)
    for path in (f"{base}/reissue", f"{base}/next?action=reissue"):
        refused = await portal.http.get(path)
        assert refused.status_code == 409 and "弊社までご連絡ください" in refused.text, path
    csrf = await portal.csrf()
    late = await portal.http.post(f"{base}/reissue", data={"csrf_token": csrf, "csr": make_csr("www.old.example.jp"),
                                                           "revoke_previous": "immediately"})
    assert late.status_code == 409 and portal.count() == 1
    # 解約 is the contract's section of the detail page; 申請取消 is refused once issued.
    terminate = await portal.http.get(f"{base}/next", params={"action": "terminate"})
    assert terminate.status_code == 303 and terminate.headers["location"] == f"{base}#contract"
    cancel = await portal.http.get(f"{base}/next", params={"action": "cancel"})
    assert cancel.status_code == 409 and JA["err_not_cancellable"] in cancel.text
    unknown = await portal.http.get(f"{base}/next", params={"action": "everything"})
    assert unknown.status_code == 422 and JA["detail_action_missing"] in unknown.text

    # CSRF on every POST; another customer's record is as missing as one that does not exist.
    for path in ("revocation/input", "revocation/confirm", "revoke", "reissue/input", "reissue/confirm"):
        assert (await portal.http.post(f"{base}/{path}", data={"reason": "cessation"})).status_code == 403, path
    other_csrf = await portal.csrf(portal.other)
    for path in ("revocation", "reissue", "next?action=revoke"):
        assert (await portal.other.get(f"{base}/{path}")).status_code == 404, path
    foreign = await portal.other.post(f"{base}/revoke", data={"csrf_token": other_csrf, "reason": "cessation"})
    assert foreign.status_code == 404 and portal.count() == 1
