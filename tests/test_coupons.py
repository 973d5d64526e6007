"""Coupons (クーポン管理): staff issue them to a customer, the customer sees them (code, discount,
validity, used or not) and picks one in 新規申請's pull-down; an application may use only the
customer's own unused coupon inside its validity, and only once."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import select

from domain import coupons as rules
from domain.messages import catalogue
from store import coupons as records
from store.db import session_scope
from store.models import Application, Coupon, Customer
from tests import test_application_pages as base
from tests.test_application_pages import Pages, _csrf, _form, _hidden
from tests.test_certificate_authority import make_csr

pages = base.pages  # the fixture
JA, EN = catalogue("ja"), catalogue("en")
NOW = datetime(2027, 4, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(("used", "start", "end", "customer", "refusal", "state"), [
    (False, NOW - DAY, NOW + DAY, 1, None, "usable"),
    (True, NOW - DAY, NOW + DAY, 1, "used", "used"),
    (False, NOW - 2 * DAY, NOW, 1, "expired", "expired"),  # the end itself is outside
    (False, NOW + DAY, NOW + 2 * DAY, 1, "not_yet_valid", "not_yet_valid"),
    (False, NOW - DAY, NOW + DAY, 2, "unknown", "usable"),  # another customer's reveals nothing
    (True, NOW - 2 * DAY, NOW - DAY, 1, "used", "used"),  # used stays used after its end
])
def test_rules(used: bool, start: datetime, end: datetime, customer: int, refusal: str | None, state: str) -> None:
    facts = rules.CouponFacts("CP-1", 1, start, end, used)
    assert rules.state(facts, NOW) == state
    assert rules.refusal(facts, customer, NOW) == refusal
    assert rules.refusal(None, 1, NOW) == "unknown"


def test_code_and_validity_rules() -> None:
    assert rules.code_problem("SPRING-2027") is None and rules.code_problem("A" * 40) is None
    assert {rules.code_problem(c) for c in ("", "-X", "A" * 41, "クーポン", "a b")} == {"code"}
    assert rules.validity_problem(NOW, NOW) == "validity" and rules.validity_problem(NOW, NOW + DAY) is None


def _access_key(engine: Engine, organization: str) -> str:
    with session_scope(engine) as s:
        return s.exec(select(Customer).where(Customer.organization == organization)).one().access_key


async def _issue(pages: Pages, access_key: str, code: str, **extra: str) -> dict:  # type: ignore[type-arg]
    until = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    made = await pages.staff.post("/api/v1/staff/coupons", json={"access_key": access_key, "code": code,
                                                                 "valid_until": until, **extra})
    assert made.status_code == 201, made.text
    return made.json()


async def test_staff_issue_and_the_customer_sees_them(pages: Pages, engine: Engine) -> None:
    mine, theirs = _access_key(engine, "Example KK"), _access_key(engine, "Other KK")
    made = await _issue(pages, mine, "SPRING-2027", description="初年度 20% 割引")
    assert made["state"] == "usable" and made["application_id"] is None
    past = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    await pages.staff.post("/api/v1/staff/coupons", json={  # already over: listed as expired
        "access_key": mine, "code": "OLD-1", "valid_from": past, "valid_until": (datetime.now(UTC) - DAY).isoformat()})
    await _issue(pages, theirs, "THEIRS-1")

    again = await pages.staff.post("/api/v1/staff/coupons", json={"access_key": theirs, "code": "SPRING-2027",
                                                                  "valid_until": made["valid_until"]})
    assert again.status_code == 409 and again.json()["error"] == "coupon_exists"
    bad = await pages.staff.post("/api/v1/staff/coupons", headers={"accept-language": "en"}, json={
        "access_key": mine, "code": "bad code", "valid_from": made["valid_until"], "valid_until": past})
    assert bad.status_code == 422
    assert bad.json()["fields"] == [{"field": "code", "message": EN["coupon_issue_code"]},
                                    {"field": "valid_until", "message": EN["coupon_issue_validity"]}]
    nobody = await pages.staff.post("/api/v1/staff/coupons", json={"access_key": "00000000", "code": "X-1",
                                                                   "valid_until": made["valid_until"]})
    assert nobody.status_code == 404
    refused = await pages.customer.post("/api/v1/staff/coupons", json={"access_key": mine, "code": "SELF-1",
                                                                       "valid_until": made["valid_until"]},
                                        headers={"x-csrf-token": await _csrf(pages.customer)})
    assert refused.status_code in (401, 403)  # a customer issues none

    listed = await pages.customer.get("/api/v1/account/coupons")
    assert [(c["code"], c["state"]) for c in listed.json()] == [("SPRING-2027", "usable"), ("OLD-1", "expired")]
    for lang, t in (("ja", JA), ("en", EN)):
        page = await pages.customer.get(f"/account/coupons?lang={lang}")
        assert page.status_code == 200 and 'href="/account/coupons"' in page.text  # the sidebar's item
        assert "SPRING-2027" in page.text and "初年度 20% 割引" in page.text and "THEIRS-1" not in page.text
        assert f"<td>{escape(t['coupon_state_expired'])}</td>" in page.text
    form = await pages.customer.get("/account/apply")
    options = re.findall(r'<option value="([^"]*)"', form.text[form.text.index('id="f-coupon"'):])
    assert options[:2] == ["", "SPRING-2027"] and "OLD-1" not in options and "THEIRS-1" not in options


async def test_an_application_uses_its_own_coupon_once(pages: Pages, engine: Engine) -> None:
    mine, theirs = _access_key(engine, "Example KK"), _access_key(engine, "Other KK")
    await _issue(pages, mine, "CP-1", description="10% off")
    await _issue(pages, theirs, "THEIRS-1")
    csrf = await _csrf(pages.customer)
    confirm = await pages.customer.post("/account/apply/confirm",
                                        data=_form(csrf, make_csr("www.example.co.jp"), coupon="CP-1"))
    assert confirm.status_code == 200 and 'id="confirm-coupon">CP-1 — 10% off<' in confirm.text
    done = await pages.customer.post("/account/apply", data={**_hidden(confirm.text), "step": "apply"})
    assert done.status_code == 303, done.text
    app_id = int(re.search(r"/account/applications/(\d+)", done.headers["location"]).group(1))  # type: ignore[union-attr]
    with session_scope(engine) as s:
        coupon = s.exec(select(Coupon).where(Coupon.code == "CP-1")).one()
        assert coupon.application_id == app_id and s.get(Application, app_id).coupon == "CP-1"  # type: ignore[union-attr]
    listed = (await pages.customer.get("/api/v1/account/coupons")).json()
    assert listed[0]["state"] == "used" and listed[0]["application_id"] == app_id

    # Used, another's, unknown: refused next to the field, in the page's language, nothing stored.
    for code, why in (("CP-1", "used"), ("THEIRS-1", "unknown"), ("NOPE-1", "unknown")):
        for lang, t in (("ja", JA), ("en", EN)):
            page = await pages.customer.post(f"/account/apply/confirm?lang={lang}",
                                             data=_form(csrf, make_csr("shop.example.co.jp"), coupon=code))
            assert page.status_code == 422
            assert f'id="f-coupon-err">{escape(t[f"coupon_refused_{why}"])}</span>' in page.text
    api = await pages.customer.post("/api/v1/applications", headers={"x-csrf-token": csrf}, json={
        "product": "ov", "agree_terms": True, "csr": make_csr("api.example.co.jp"), "coupon": "CP-1"})
    assert api.status_code == 422 and api.json()["fields"][0]["field"] == "coupon"
    with session_scope(engine) as s:
        assert len(s.exec(select(Application)).all()) == 1


def test_a_coupon_is_claimed_once_and_given_back_when_the_process_never_started(engine: Engine) -> None:
    from datetime import timedelta as td

    from store import accounts

    new = accounts.create_customer(engine, "Claim KK", "it@claim.example.co.jp", td(days=30))
    now = datetime.now(UTC)
    coupon = records.issue(engine, "staff:sato", new.access_key, "ONCE-1", "", now - DAY, now + DAY)
    with session_scope(engine) as s:
        apps = [Application(customer_id=coupon.customer_id, type="new", product="ov", csr_pem="") for _ in range(2)]
        s.add_all(apps)
        s.flush()
        first, second = (int(a.id or 0) for a in apps)
    assert records.claim(engine, "customer:x", "ONCE-1", coupon.customer_id, first)
    assert not records.claim(engine, "customer:x", "ONCE-1", coupon.customer_id, second)
    assert not records.claim(engine, "customer:x", "ONCE-1", coupon.customer_id + 1, second)
    records.release(engine, first)
    assert records.claim(engine, "customer:x", "ONCE-1", coupon.customer_id, second)
    records.release(engine, second)
    assert not records.claim(engine, "customer:x", "ONCE-1", coupon.customer_id, second, now + 2 * DAY)  # expired
    assert records.claim(engine, "customer:x", "ONCE-1", coupon.customer_id, second, now)
