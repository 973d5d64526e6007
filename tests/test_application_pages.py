"""Customer application pages on the dev server: お申込一覧, 詳細, 新規申請, 申請取消, 失効申請."""

import asyncio
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import select

from api import customer_auth
from api.app import create_app
from ca import authority
from domain.messages import catalogue
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import Application
from tests.test_certificate_authority import make_csr
from tests.vetting_checks import record_checks

PASSWORD = "correct horse battery"
PROFILE = {
    "reseller_code": "",
    "organization": {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"},
    "contacts": {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"}},
}


@dataclass
class Pages:
    customer: httpx.AsyncClient
    other: httpx.AsyncClient
    staff: httpx.AsyncClient
    app: FastAPI


def _login(engine: Engine, settings: Settings, org: str, email: str) -> str:
    new = accounts.create_customer(engine, org, email, timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, "a much better passphrase", token)
    return token


def _client(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test")
    if token:
        client.cookies.set("certdesk_customer", token)
    return client


@pytest.fixture
async def pages(local_stack: Settings, engine: Engine) -> AsyncIterator[Pages]:
    settings = local_stack
    authority.ensure_hierarchy(engine, settings)
    accounts.create_staff(engine, "sato", "support", password=PASSWORD)
    app = create_app(settings)
    async with (_client(app, _login(engine, settings, "Example KK", "it@example.co.jp")) as customer,
                _client(app, _login(engine, settings, "Other KK", "it@other.example.co.jp")) as other,
                _client(app) as staff):
        session = (await staff.post("/api/v1/staff/session", json={"username": "sato", "password": PASSWORD})).json()
        staff.headers["authorization"] = f"Bearer {session['token']}"
        for client in (customer, other):
            saved = await client.put("/api/v1/account/profile", json=PROFILE,
                                     headers={"x-csrf-token": await _csrf(client)})
            assert saved.status_code == 200, saved.text
        yield Pages(customer, other, staff, app)


async def _csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/account")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _hidden(page: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: html.unescape(value) for name, value in fields}


def _form(csrf: str, csr: str, **overrides: str) -> dict[str, str]:
    return {"csrf_token": csrf, "product": "ov", "agree_terms": "on", "csr": csr, "coupon": "",
            "organization.name": "Example KK", "organization.country": "JP", "organization.state": "Tokyo",
            "organization.locality": "Chiyoda-ku", "contacts.registrant.name": "佐藤 花子",
            "contacts.registrant.email": "sato@example.co.jp", "contacts.registrant.phone": "03-1234-0000",
            "contacts.technical.name": "山田 太郎",
            "contacts.technical.email": "yamada@example.co.jp", "contacts.technical.phone": "03-1234-5678",
            **overrides}


async def _apply(client: httpx.AsyncClient, *names: str) -> int:
    """新規申請 through the pages: form → confirm → apply; the new detail page's id."""
    form = await client.get("/account/apply")
    assert form.status_code == 200
    csrf = await _csrf(client)
    csr = make_csr(*(names or ("www.example.co.jp",)))
    confirm = await client.post("/account/apply/confirm", data=_form(csrf, csr))
    assert confirm.status_code == 200, confirm.text
    hidden = _hidden(confirm.text)
    assert hidden["product"] == "ov" and "BEGIN CERTIFICATE REQUEST" in hidden["csr"]
    done = await client.post("/account/apply", data={**hidden, "step": "apply"})
    assert done.status_code == 303, done.text
    found = re.fullmatch(r"/account/applications/(\d+)\?done=applied", done.headers["location"])
    assert found, done.headers["location"]
    return int(found.group(1))


async def _task(p: Pages, application_id: int, kind: str) -> dict:
    for _ in range(200):
        tasks = (await p.staff.get(f"/api/v1/tasks?state=open&kind={kind}")).json()
        mine = [t for t in tasks if t["subject"] == f"application:{application_id}"]
        if mine:
            return mine[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} task for application {application_id}")


async def _status(client: httpx.AsyncClient, application_id: int, wanted: str) -> None:
    status = None
    for _ in range(200):
        status = (await client.get(f"/api/v1/applications/{application_id}")).json()["status"]
        if status == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"application {application_id} never became {wanted}: {status}")


async def _issued(p: Pages) -> int:
    app_id = await _apply(p.customer)
    task = await _task(p, app_id, "application_review")
    await record_checks(p.staff, task["id"])
    done = await p.staff.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "approve"})
    assert done.status_code == 200, done.text
    await _status(p.customer, app_id, "issued")
    return app_id


def _rows(page: str) -> dict[int, str]:
    return {int(i): row for i, row in re.findall(r'<tr data-id="(\d+)"(.*?)</tr>', page, re.S)}


async def test_the_list_shows_own_applications_newest_first_with_the_documents_mark(pages: Pages) -> None:
    first = await _apply(pages.customer)
    theirs = await _apply(pages.other, "www.other.example.co.jp")
    second = await _apply(pages.customer, "shop.example.co.jp")
    task = await _task(pages, first, "application_review")
    asked = await pages.staff.post(f"/api/v1/tasks/{task['id']}/complete",
                                   json={"outcome": "request_documents", "note": "登記事項証明書"})
    assert asked.status_code == 200, asked.text
    await _status(pages.customer, first, "documents_pending")

    page = await pages.customer.get("/account/applications")
    assert page.status_code == 200
    for heading in ("▼お申込日", "△サービス", "△ステータス", "△お申込種別", "△証明書有効期間", "△契約コード"):
        assert f"{heading}</a></th>" in page.text  # the manual's columns, each sorting (api/application_list.py)
    for heading in ("サーバ名(コモンネーム)", "詳細"):
        assert f">{heading}</th>" in page.text
    rows = _rows(page.text)
    assert list(rows) == [second, first] and theirs not in rows  # newest first, own only
    assert ">!</strong>" in rows[first] and "書類提出待ち" in rows[first]
    assert ">!</strong>" not in rows[second] and "shop.example.co.jp" in rows[second]
    assert "新規発行" in rows[second] and f'href="/account/applications/{second}"' in rows[second]

    detail = await pages.customer.get(f"/account/applications/{first}")
    assert detail.status_code == 200 and "登記事項証明書" in detail.text and 'id="cancel"' in detail.text
    english = await pages.customer.get("/account/applications?lang=en")
    assert "Documents pending" in english.text and ">Server name (common name)</th>" in english.text


async def test_apply_form_is_prefilled_and_creates_the_application(pages: Pages, engine: Engine) -> None:
    form = await pages.customer.get("/account/apply")
    assert form.status_code == 200
    for value in ("Chiyoda-ku", "山田 太郎", "yamada@example.co.jp", 'name="agree_terms"', 'name="coupon"'):
        assert value in form.text
    csrf = await _csrf(pages.customer)
    back = await pages.customer.post("/account/apply", data={**_form(csrf, "typed csr", coupon="C-1"), "step": "back"})
    assert back.status_code == 200 and "typed csr</textarea>" in back.text and 'value="C-1"' in back.text
    app_id = await _apply(pages.customer, "www.example.co.jp", "example.co.jp")
    with session_scope(engine) as s:
        app = s.get(Application, app_id)
        assert app is not None and app.names == ["www.example.co.jp", "example.co.jp"]
        assert app.organization["locality"] == "Chiyoda-ku" and app.contacts["technical"]["name"] == "山田 太郎"
    detail = await pages.customer.get(f"/account/applications/{app_id}?done=applied")
    assert "お申込を受け付けました。" in detail.text and "www.example.co.jp" in detail.text


async def test_bad_input_is_shown_on_its_field_and_stores_nothing(pages: Pages, engine: Engine) -> None:
    csrf = await _csrf(pages.customer)
    bad = "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----"
    confirm = await pages.customer.post("/account/apply/confirm",
                                        data=_form(csrf, bad, **{"organization.state": "", "agree_terms": ""}))
    assert confirm.status_code == 422
    assert 'id="f-csr-err"' in confirm.text and 'id="f-organization-state-err"' in confirm.text
    assert 'id="f-agree_terms-err"' in confirm.text and "申請規約に同意してください。" in confirm.text
    submitted = await pages.customer.post("/account/apply", data={**_form(csrf, bad), "step": "apply"})
    assert submitted.status_code == 422 and 'id="f-csr-err"' in submitted.text
    with session_scope(engine) as s:
        assert s.exec(select(Application)).all() == []


async def test_cancel_from_the_detail_page(pages: Pages) -> None:
    app_id = await _apply(pages.customer)
    await _task(pages, app_id, "application_review")
    csrf = await _csrf(pages.customer)
    done = await pages.customer.post(f"/account/applications/{app_id}/cancel", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"].endswith(f"/{app_id}?done=cancelled")
    await _status(pages.customer, app_id, "cancelled")
    page = await pages.customer.get(done.headers["location"])
    assert "お申込を取り消しました。" in page.text and 'id="cancel"' not in page.text
    again = await pages.customer.post(f"/account/applications/{app_id}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409 and 'id="error"' in again.text


async def test_download_and_revoke_from_the_detail_page(pages: Pages) -> None:
    app_id = await _issued(pages)
    detail = await pages.customer.get(f"/account/applications/{app_id}")
    assert detail.status_code == 200 and 'id="revoke"' in detail.text and 'id="reissue"' in detail.text
    assert 'id="cancel"' not in detail.text and re.search(r"C\d{7}", detail.text)
    for action in ("revoke", "reissue"):  # the manual's pull-down offers them
        assert f'<option value="{action}" id="action-{action}">' in detail.text
    assert 'value="cancel"' not in detail.text
    pem = await pages.customer.get(f"/api/v1/applications/{app_id}/certificate")
    assert pem.status_code == 200 and pem.text.count("BEGIN CERTIFICATE") == 2

    # 失効申請: 規約同意 → 入力 (the four reasons) → 確認 → 完了 (tests/test_revocation_screens.py walks it in full).
    csrf = await _csrf(pages.customer)
    form = await pages.customer.post(f"/account/applications/{app_id}/revocation/input",
                                     data={"csrf_token": csrf, "agree_terms": "on"})
    for reason in ("content_change", "switching", "cessation", "key_compromise"):
        assert f'name="reason" value="{reason}"' in form.text
    for reason in ("content_change", "switching", "cessation", "key_compromise"):
        assert catalogue("ja")[f"app_reason_{reason}"] in form.text
    unknown = await pages.customer.post(f"/account/applications/{app_id}/revoke",
                                        data={"csrf_token": csrf, "reason": "because"})
    assert unknown.status_code == 422
    done = await pages.customer.post(f"/account/applications/{app_id}/revoke",
                                     data={"csrf_token": csrf, "reason": "cessation"})
    assert done.status_code == 303, done.text
    page = await pages.customer.get(done.headers["location"])
    assert "失効申請が完了しました。" in page.text
    detail = await pages.customer.get(f"/account/applications/{app_id}")
    assert 'id="revoke"' not in detail.text and 'id="revocation-waiting"' in detail.text
    twice = await pages.customer.post(f"/account/applications/{app_id}/revoke",
                                      data={"csrf_token": csrf, "reason": "cessation"})
    assert twice.status_code == 409 and "失効申請はすでに受け付けています" in twice.text
    rows = _rows((await pages.customer.get("/account/applications")).text)
    assert any("失効" in row for row in rows.values())


async def test_posts_without_csrf_are_refused(pages: Pages, engine: Engine) -> None:
    app_id = await _apply(pages.customer)
    csrf = await _csrf(pages.customer)
    form = _form(csrf, make_csr("www.example.co.jp"))
    del form["csrf_token"]
    assert (await pages.customer.post("/account/apply", data={**form, "step": "apply"})).status_code == 403
    assert (await pages.customer.post(f"/account/applications/{app_id}/cancel", data={})).status_code == 403
    assert (await pages.customer.post(f"/account/applications/{app_id}/revoke",
                                      data={"reason": "cessation", "csrf_token": "wrong"})).status_code == 403
    with session_scope(engine) as s:
        assert [a.id for a in s.exec(select(Application)).all()] == [app_id]
        assert s.get(Application, app_id).status != "cancelled"  # type: ignore[union-attr]


async def test_another_customers_application_is_not_found(pages: Pages) -> None:
    app_id = await _apply(pages.customer)
    assert (await pages.other.get(f"/account/applications/{app_id}")).status_code == 404
    csrf = await _csrf(pages.other)
    cancel = await pages.other.post(f"/account/applications/{app_id}/cancel", data={"csrf_token": csrf})
    assert cancel.status_code == 404
    async with _client(pages.app) as nobody:
        anonymous = await nobody.get(f"/account/applications/{app_id}")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


async def test_reissue_from_the_detail_page(pages: Pages) -> None:
    app_id = await _issued(pages)
    csrf = await _csrf(pages.customer)
    form = await pages.customer.post(f"/account/applications/{app_id}/reissue/input",
                                     data={"csrf_token": csrf, "agree_terms": "on"})
    for label in ("再発行と同時に失効する", "後日失効する"):
        assert label in form.text
    assert 'value="immediately"' in form.text and 'value="after_two_weeks"' in form.text
    bad = await pages.customer.post(f"/account/applications/{app_id}/reissue/confirm",
                                    data={"csrf_token": csrf, "csr": "not a csr", "revoke_previous": "immediately"})
    assert bad.status_code == 422 and 'id="f-csr-err"' in bad.text
    done = await pages.customer.post(f"/account/applications/{app_id}/reissue",
                                     data={"csrf_token": csrf, "csr": make_csr("www.example.co.jp"),
                                           "revoke_previous": "after_two_weeks"})
    assert done.status_code == 303, done.text
    found = re.fullmatch(r"/account/applications/(\d+)/reissue/done", done.headers["location"])
    assert found and int(found.group(1)) != app_id
    page = await pages.customer.get(done.headers["location"])
    assert "再発行申請が完了しました。" in page.text and "後日失効する" in page.text
    assert f'href="/account/applications/{app_id}"' in page.text
