"""Account info (S-9, アカウント情報登録): the JSON API and the form → confirm → save pages."""

import copy
import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from api import customer_auth
from api.app import create_app
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import AuditEvent, CustomerProfile

NEW_PASSWORD = "correct horse battery"
URL = "/api/v1/account/profile"

VALID: dict[str, Any] = {
    "reseller_code": "R-1234",
    "organization": {
        "name": "サンプル株式会社", "name_kana": "サンプルカブシキガイシャ", "registration_number": "0100-01-123456",
        "country": "JP", "state": "東京都", "locality": "渋谷区", "address": "神宮前1-2-3",
        "postal_code": "150-0001", "current_address": "", "current_postal_code": "", "phone": "03-1234-5678",
    },
    "contacts": {
        "technical": {
            "name": "山田 太郎", "department": "情報システム部", "postal_code": "150-0001", "address": "神宮前1-2-3",
            "phone": "03-1234-5678", "fax": "03-1234-5679", "email": "yamada@example.co.jp",
            "renewal_notice": True,
        },
    },
}


@pytest.fixture
async def http(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as client:
        yield client


def _customer(engine: Engine, settings: Settings, org: str = "サンプル株式会社") -> tuple[int, str]:
    """A customer who has changed the initial password; (id, bearer token)."""
    new = accounts.create_customer(engine, org, "it@example.co.jp", timedelta(days=30))
    _, first = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, first, new.initial_password, NEW_PASSWORD, None)
    token, _ = customer_auth.login(engine, settings, new.access_key, NEW_PASSWORD)
    return new.id, token


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _saved_events(engine: Engine, customer_id: int) -> list[AuditEvent]:
    with session_scope(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == "customer.profile_saved",
                                                    AuditEvent.subject == f"customer:{customer_id}")
                           .order_by(AuditEvent.id)).all())


def _stored(engine: Engine, customer_id: int) -> CustomerProfile | None:
    with session_scope(engine) as s:
        return s.get(CustomerProfile, customer_id)


def _with(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of doc with the dotted path set (or removed, for value ...)."""
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return doc


# --- JSON API ---------------------------------------------------------------------------------------

async def test_unsaved_profile_is_blank_with_the_organization_then_round_trips(
    http: httpx.AsyncClient, engine: Engine, settings: Settings
) -> None:
    customer_id, token = _customer(engine, settings, "ラウンド株式会社")
    first = await http.get(URL, headers=_bearer(token))
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    blank = first.json()
    assert blank["organization"]["name"] == "ラウンド株式会社" and blank["organization"]["country"] == "JP"
    assert blank["organization"]["state"] == "" and blank["contacts"] == {} and blank["reseller_code"] == ""

    saved = await http.put(URL, json=VALID, headers=_bearer(token))
    assert saved.status_code == 200, saved.text
    assert saved.json() == VALID
    assert (await http.get(URL, headers=_bearer(token))).json() == VALID

    changed = _with(VALID, "contacts.technical.phone", "03-9999-0000")
    assert (await http.put(URL, json=changed, headers=_bearer(token))).json() == changed
    events = _saved_events(engine, customer_id)
    assert [e.details for e in events] == [
        {"created": True, "sections": ["reseller_code", "organization", "contacts.technical"]},
        {"created": False, "sections": ["contacts.technical"]},
    ]
    assert events[0].actor == f"customer:{customer_id}"
    for secret in ("山田", "yamada@", "03-1234", "神宮前", "R-1234"):  # names of sections, never the data
        assert secret not in str([e.details for e in events])

    # A contact can be dropped by leaving it out (or null); the document is replaced as a whole.
    dropped = _with(VALID, "contacts", {"technical": None})
    assert (await http.put(URL, json=dropped, headers=_bearer(token))).json()["contacts"] == {}


BAD_INPUT = [
    # (dotted path, bad value or ... to leave it out, the field the error must name)
    ("organization.name", "", "organization.name"),
    ("organization.name", "   ", "organization.name"),
    ("organization.name", "株" * 201, "organization.name"),
    ("organization.state", ..., "organization.state"),
    ("organization.locality", "", "organization.locality"),
    ("organization.country", "", "organization.country"),
    ("organization.country", "XX", "organization.country"),
    ("organization.country", "JPN", "organization.country"),
    ("organization.postal_code", "1500001x", "organization.postal_code"),
    ("organization.postal_code", "15-00001", "organization.postal_code"),
    ("organization.current_postal_code", "150-00011", "organization.current_postal_code"),
    ("organization.phone", "03(1234)5678", "organization.phone"),
    ("organization.phone", "03-1234", "organization.phone"),
    ("organization.phone", "tel:0312345678", "organization.phone"),
    ("organization.name_kana", "さんぷる", "organization.name_kana"),
    ("organization.registration_number", "ABC-123", "organization.registration_number"),
    ("organization.registration_number", "6010401089998", "organization.registration_number"),  # bad check digit
    ("organization.address", "1行目\n2行目", "organization.address"),
    ("organization.nickname", "x", "organization.nickname"),
    ("organization", ..., "organization"),
    ("reseller_code", "R" * 41, "reseller_code"),
    ("contacts.technical.name", "", "contacts.technical.name"),
    ("contacts.technical.phone", ..., "contacts.technical.phone"),
    ("contacts.technical.email", "", "contacts.technical.email"),
    ("contacts.technical.email", "yamada@@example.co.jp", "contacts.technical.email"),
    ("contacts.technical.email", "yamada@localhost", "contacts.technical.email"),
    ("contacts.technical.email", "yamada taro@example.co.jp", "contacts.technical.email"),
    ("contacts.technical.email", "yamada@example.c", "contacts.technical.email"),
    ("contacts.technical.fax", "fax", "contacts.technical.fax"),
    ("contacts.technical.postal_code", "ABC-DEFG", "contacts.technical.postal_code"),
    ("contacts.technical.department", "部" * 101, "contacts.technical.department"),
    ("contacts.registrant", {"department": "総務部"}, "contacts.registrant.name"),
    ("contacts.sales", VALID["contacts"]["technical"], "contacts.sales"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_INPUT, ids=[f"{p}={str(v)[:12]}" for p, v, _ in BAD_INPUT])
async def test_each_bad_field_is_named_and_nothing_is_saved(
    http: httpx.AsyncClient, engine: Engine, settings: Settings, path: str, value: Any, field: str
) -> None:
    customer_id, token = _customer(engine, settings)
    before = _with(VALID, "reseller_code", "BEFORE")
    assert (await http.put(URL, json=before, headers=_bearer(token))).status_code == 200

    r = await http.put(URL, json=_with(VALID, path, value), headers=_bearer(token))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input"
    assert field in [f["field"] for f in body["fields"]], body
    assert all(f["message"] for f in body["fields"]) and field in body["message"]
    assert (await http.get(URL, headers=_bearer(token))).json() == before  # unchanged
    assert len(_saved_events(engine, customer_id)) == 1


async def test_a_contact_given_needs_name_email_and_phone(
    http: httpx.AsyncClient, engine: Engine, settings: Settings
) -> None:
    _, token = _customer(engine, settings)
    r = await http.put(URL, json=_with(VALID, "contacts.administrative", {}), headers=_bearer(token))
    assert r.status_code == 422
    named = {f["field"] for f in r.json()["fields"]}
    assert named == {f"contacts.administrative.{n}" for n in ("name", "phone", "email")}


async def test_full_width_input_is_normalised(http: httpx.AsyncClient, engine: Engine, settings: Settings) -> None:
    _, token = _customer(engine, settings)
    typed = copy.deepcopy(VALID)
    typed["organization"].update(
        name="  サンプル株式会社　", name_kana="ｻﾝﾌﾟﾙｶﾌﾞｼｷｶﾞｲｼｬ", registration_number="０１００－０１－１２３４５６",
        country="ｊｐ", postal_code="〒１５０ー０００１", current_postal_code="１５００００１",
        phone="０３－１２３４－５６７８",
    )
    typed["contacts"]["technical"].update(
        phone="０３−１２３４−５６７８", fax="０３‐１２３４‐５６７９", email="ｙａｍａｄａ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ",
        postal_code="１５０－０００１",
    )
    r = await http.put(URL, json=typed, headers=_bearer(token))
    assert r.status_code == 200, r.text
    expected = _with(VALID, "organization.current_postal_code", "150-0001")
    assert r.json() == expected
    assert (await http.get(URL, headers=_bearer(token))).json() == expected


async def test_customers_only_reach_their_own_profile(
    http: httpx.AsyncClient, engine: Engine, settings: Settings
) -> None:
    a_id, a = _customer(engine, settings, "エー株式会社")
    b_id, b = _customer(engine, settings, "ビー株式会社")
    assert (await http.put(URL, json=VALID, headers=_bearer(a))).status_code == 200

    seen_by_b = await http.get(f"{URL}?customer_id={a_id}", headers=_bearer(b))
    assert seen_by_b.json()["organization"]["name"] == "ビー株式会社" and seen_by_b.json()["contacts"] == {}
    b_doc = _with(VALID, "organization.name", "ビー株式会社")
    assert (await http.put(f"{URL}?customer_id={a_id}", json=b_doc, headers=_bearer(b))).status_code == 200

    assert (await http.get(URL, headers=_bearer(a))).json() == VALID
    assert (await http.get(URL, headers=_bearer(b))).json() == b_doc
    assert _stored(engine, a_id).organization["name"] == "サンプル株式会社"  # type: ignore[union-attr]
    assert _stored(engine, b_id).organization["name"] == "ビー株式会社"  # type: ignore[union-attr]


async def test_initial_password_must_be_changed_first(
    http: httpx.AsyncClient, engine: Engine, settings: Settings
) -> None:
    new = accounts.create_customer(engine, "初期株式会社", "it@example.co.jp", timedelta(days=30))
    token, _ = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    for r in (await http.get(URL, headers=_bearer(token)),
              await http.put(URL, json=VALID, headers=_bearer(token))):
        assert r.status_code == 403 and r.json()["error"] == "password_change_required"
    assert _stored(engine, new.id) is None

    http.cookies.set("certdesk_customer", token)
    page = await http.get("/account/profile")
    assert page.status_code == 303 and page.headers["location"] == "/account/password"


async def test_no_credentials_no_profile(http: httpx.AsyncClient, engine: Engine, settings: Settings) -> None:
    _customer(engine, settings)
    assert (await http.get(URL)).status_code == 401
    assert (await http.put(URL, json=VALID)).status_code == 401
    assert (await http.get(URL, headers=_bearer("not-a-token"))).status_code == 401
    page = await http.get("/account/profile")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    posted = await http.post("/account/profile", data={"organization.name": "x"})
    assert posted.status_code == 303
    with session_scope(engine) as s:
        assert s.exec(select(CustomerProfile)).all() == []


# --- pages -------------------------------------------------------------------------------------------

def _hidden(page: str) -> dict[str, str]:
    return {html.unescape(n): html.unescape(v)
            for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def _form(doc: dict[str, Any]) -> dict[str, str]:
    values = {"reseller_code": doc["reseller_code"]}
    values.update({f"organization.{k}": v for k, v in doc["organization"].items()})
    for role, contact in doc["contacts"].items():
        for k, v in contact.items():
            if v is True:
                values[f"contacts.{role}.{k}"] = "on"
            elif v is not False:
                values[f"contacts.{role}.{k}"] = v
    return values


async def test_form_confirm_save_with_a_cookie_session(
    http: httpx.AsyncClient, engine: Engine, settings: Settings
) -> None:
    customer_id, token = _customer(engine, settings, "画面株式会社")
    http.cookies.set("certdesk_customer", token)

    form = await http.get("/account/profile")
    assert form.status_code == 200, form.text
    assert "アカウント情報登録入力画面" in form.text and "特約店コード" in form.text and "技術担当者情報" in form.text
    assert 'name="organization.name" value="画面株式会社"' in form.text
    csrf = _hidden(form.text)["csrf_token"]

    # Errors: each field marked, the input kept, status 422, nothing saved.
    bad = _form(VALID) | {"csrf_token": csrf, "organization.postal_code": "150-00", "contacts.technical.email": "x@"}
    refused = await http.post("/account/profile/confirm", data=bad)
    assert refused.status_code == 422
    assert "郵便番号は「150-0001」の形式" in refused.text and "メールアドレスの形式が正しくありません" in refused.text
    assert 'id="f-organization-postal_code" name="organization.postal_code" value="150-00"' in refused.text
    assert 'aria-invalid="true" aria-describedby="f-contacts-technical-email-err"' in refused.text
    assert _stored(engine, customer_id) is None

    # Confirm: normalised values shown and carried in hidden fields; contacts left blank are not registered.
    typed = _form(VALID) | {"csrf_token": csrf, "organization.postal_code": "１５０ー０００１",
                            "organization.address": "<b>神宮前</b>", "contacts.registrant.name": "  "}
    confirm = await http.post("/account/profile/confirm", data=typed)
    assert confirm.status_code == 200, confirm.text
    assert "アカウント情報登録確認画面" in confirm.text and "登録なし" in confirm.text
    assert "&lt;b&gt;神宮前&lt;/b&gt;" in confirm.text and "<b>神宮前" not in confirm.text
    hidden = _hidden(confirm.text)
    assert hidden["organization.postal_code"] == "150-0001" and hidden["csrf_token"] == csrf
    assert not any(k.startswith("contacts.registrant") for k in hidden)
    assert _stored(engine, customer_id) is None

    # 戻る: the form again with what was entered.
    back = await http.post("/account/profile", data=hidden | {"step": "back"})
    assert back.status_code == 200 and 'value="150-0001"' in back.text and _stored(engine, customer_id) is None

    # Without the CSRF token (or with another), nothing is saved.
    no_csrf = {k: v for k, v in hidden.items() if k != "csrf_token"} | {"step": "save"}
    assert (await http.post("/account/profile", data=no_csrf)).status_code == 403
    assert (await http.post("/account/profile", data=no_csrf | {"csrf_token": "forged"})).status_code == 403
    assert _stored(engine, customer_id) is None

    saved = await http.post("/account/profile", data=hidden | {"step": "save"})
    assert saved.status_code == 303 and saved.headers["location"] == "/account/profile/saved"
    done = await http.get(saved.headers["location"])
    assert done.status_code == 200 and "アカウント情報登録完了" in done.text

    expected = _with(VALID, "organization.address", "<b>神宮前</b>")
    http.cookies.clear()
    assert (await http.get(URL, headers=_bearer(token))).json() == expected
    assert len(_saved_events(engine, customer_id)) == 1
    http.cookies.set("certdesk_customer", token)
    again = await http.get("/account/profile")
    assert 'name="contacts.technical.email" value="yamada@example.co.jp"' in again.text
    assert 'name="contacts.technical.renewal_notice" checked' in again.text

    english = await http.post("/account/profile/confirm?lang=en", data=bad)
    assert english.status_code == 422 and "Account information: entry" in english.text
    assert "Enter a postal code like 150-0001" in english.text


async def test_cookie_session_json_put_needs_the_csrf_header(
    http: httpx.AsyncClient, engine: Engine, settings: Settings
) -> None:
    customer_id, token = _customer(engine, settings)
    http.cookies.set("certdesk_customer", token)
    assert (await http.put(URL, json=VALID)).status_code == 403
    assert _stored(engine, customer_id) is None
    csrf = _hidden((await http.get("/account/profile")).text)["csrf_token"]
    assert (await http.put(URL, json=VALID, headers={"x-csrf-token": csrf})).status_code == 200


async def test_tampered_hidden_fields_are_checked_again(
    http: httpx.AsyncClient, engine: Engine, settings: Settings
) -> None:
    customer_id, token = _customer(engine, settings)
    http.cookies.set("certdesk_customer", token)
    csrf = _hidden((await http.get("/account/profile")).text)["csrf_token"]
    tampered = _form(VALID) | {"csrf_token": csrf, "step": "save", "organization.phone": "call me"}
    r = await http.post("/account/profile", data=tampered)
    assert r.status_code == 422 and "電話番号は数字とハイフンで入力してください" in r.text
    assert _stored(engine, customer_id) is None
