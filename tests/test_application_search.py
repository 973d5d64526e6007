"""お申込一覧 and its 検索 (S-10): the rules as tables, the SQL on SQLite and PostgreSQL (records
dated in the past: the 75-month rule, current vs past contracts), and the JSON API and pages over
real http (422 naming the parameter, the search screen's messages next to their fields)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from api import customer_auth
from api.app import create_app
from domain import application_search as rules
from domain.application_search import Query
from domain.messages import catalogue
from domain.pki.hierarchy import TLS_CA
from domain.settings import Settings
from store import accounts
from store import application_search as search
from store.db import session_scope
from store.models import Application, CertificateRecord, Contract

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
TZ = "Asia/Tokyo"
PASSWORD = "a much better passphrase"


# --- the rules -------------------------------------------------------------------------------------

def test_an_empty_query_is_the_current_list_newest_first() -> None:
    query, problems = rules.parse({})
    assert problems == {} and query == Query()
    assert (query.view, query.sort, query.order, query.page, query.per_page) == ("current", "created", "desc", 1, 20)
    assert not query.is_search() and query.params() == {}


@pytest.mark.parametrize(("params", "problems"), [
    ({"view": "old"}, {"view": "search_choice"}),
    ({"date_field": "issued"}, {"date_field": "search_choice"}),
    ({"date_from": "2026-13-01"}, {"date_from": "search_date"}),
    ({"date_from": "2026-1-1"}, {"date_from": "search_date"}),
    ({"date_to": "yesterday"}, {"date_to": "search_date"}),
    ({"date_from": "2026-12-05", "date_to": "2026-12-04"}, {"date_to": "search_date_order"}),
    ({"type": "upgrade"}, {"type": "search_choice"}),
    ({"product": "dv"}, {"product": "search_choice"}),
    ({"download": "yes"}, {"download": "search_choice"}),
    ({"server_type": "apache2"}, {"server_type": "search_choice"}),
    ({"field1": "password"}, {"field1": "search_choice"}),
    ({"text1": "example"}, {"field1": "search_field_missing"}),
    ({"field2": "domain", "text2": "a\nb"}, {"text2": "search_text"}),
    ({"field1": "domain", "text1": "x" * 101}, {"text1": "search_text"}),
    ({"sort": "password"}, {"sort": "search_choice"}),
    ({"order": "up"}, {"order": "search_choice"}),
    ({"page": "0"}, {"page": "search_number"}),
    ({"page": "-1"}, {"page": "search_number"}),
    ({"page": "１"}, {"page": "search_number"}),  # a full-width digit is not a page number
    ({"per_page": "101"}, {"per_page": "search_number"}),
    ({"customer_id": "7"}, {"customer_id": "search_unknown"}),
])
def test_each_bad_parameter_is_named_with_its_code(params: dict[str, str], problems: dict[str, str]) -> None:
    assert rules.parse(params)[1] == problems


def test_a_full_query_reads_back_as_its_parameters() -> None:
    params = {"view": "past", "date_field": "updated", "date_from": "2026-01-01", "date_to": "2026-06-30",
              "type": "reissue", "product": "ev", "download": "not_downloaded", "server_type": "nginx",
              "field1": "organization", "text1": " 50%_off ", "field2": "domain", "text2": "shop",
              "sort": "validity", "order": "asc", "page": "3", "per_page": "50", "lang": "en"}
    query, problems = rules.parse(params)
    assert problems == {} and query.is_search()
    assert query.texts() == [("organization", "50%_off"), ("domain", "shop")]
    assert query.date_from == date(2026, 1, 1) and query.offset() == 100
    assert rules.parse(query.params())[0] == query


@pytest.mark.parametrize(("now", "cutoff"), [
    (datetime(2026, 12, 5, tzinfo=UTC), datetime(2020, 9, 5, tzinfo=UTC)),
    (datetime(2026, 5, 31, tzinfo=UTC), datetime(2020, 2, 29, tzinfo=UTC)),  # no 31 Feb: the month's last day
    (datetime(2027, 3, 1, tzinfo=UTC), datetime(2020, 12, 1, tzinfo=UTC)),
])
def test_the_75_month_cutoff_counts_calendar_months(now: datetime, cutoff: datetime) -> None:
    assert rules.listing_cutoff(now) == cutoff


@pytest.mark.parametrize(("issued_at", "listed"), [
    (None, True),  # never issued: always listed
    (datetime(2020, 9, 5, 0, 0, 1, tzinfo=UTC), True),  # 74 months and 30 days ago
    (datetime(2020, 9, 5, tzinfo=UTC), False),  # exactly 75 months: no longer 「75ヶ月未満」
    (datetime(2019, 1, 1, tzinfo=UTC), False),
])
def test_a_certificate_issued_75_months_ago_is_not_listed(issued_at: datetime | None, listed: bool) -> None:
    assert rules.is_listed(issued_at, datetime(2026, 12, 5, tzinfo=UTC)) is listed


@pytest.mark.parametrize(("contract_state", "status", "view"), [
    ("active", "issued", "current"), ("ending", "issued", "current"),
    ("ended", "issued", "past"), ("cancelled", "issued", "past"),
    ("active", "cancelled", "current"),  # a withdrawn renewal of a contract in force: that contract's record
    ("ended", "received", "past"),
    (None, "received", "current"), (None, "documents_pending", "current"), (None, "issued", "current"),
    (None, "rejected", "past"), (None, "cancelled", "past"), (None, "returned", "past"),
])
def test_a_records_view_follows_its_contract(contract_state: str | None, status: str, view: str) -> None:
    assert rules.view_of(contract_state, status) == view


def test_day_bounds_are_days_in_the_business_time_zone() -> None:
    low, high = rules.day_bounds(date(2026, 12, 1), date(2026, 12, 5), TZ)
    assert low == datetime(2026, 11, 30, 15, 0, tzinfo=UTC) and high == datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
    assert rules.day_bounds(None, None, TZ) == (None, None)


@pytest.mark.parametrize(("text", "pattern"), [
    ("shop", "%shop%"), ("50%_off", "%50\\%\\_off%"), ("a\\b", "%a\\\\b%"), ("ABC", "%abc%")])
def test_like_metacharacters_are_literals(text: str, pattern: str) -> None:
    assert search.like_pattern(text) == pattern


# --- the SQL, on each database ---------------------------------------------------------------------

@dataclass
class World:
    engine: Engine
    customer: int
    other: int
    ids: dict[str, int]

    def find(self, **params: str) -> list[str]:
        query, problems = rules.parse(params)
        assert problems == {}
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[r.id] for r in search.search(self.engine, self.customer, query, NOW, TZ).rows]


def _record(s: Any, customer: int, created: datetime, **fields: Any) -> Application:
    fields.setdefault("type", "new")
    fields.setdefault("product", "ov")
    fields.setdefault("status", "issued" if fields.get("issued_at") else "received")
    app = Application(customer_id=customer, csr_pem="csr", created_at=created, updated_at=created,
                      names=fields.pop("names", ["www.example.co.jp"]),
                      organization={"name": fields.pop("org", "Example 株式会社")}, contacts={}, **fields)
    s.add(app)
    s.flush()
    return app


def _contract(s: Any, app: Application, state: str, not_before: datetime, days: int = 397) -> None:
    serial = f"{int(app.id or 0):x}0a"
    app.certificate_serial, app.contract_code = serial, f"C{int(app.id or 0):07d}"
    app.updated_at = not_before + timedelta(seconds=1)  # as set, not now (any other change moves it to now)
    s.add(CertificateRecord(serial=serial, issuer=TLS_CA, request_key=f"application-{app.id}", kind="server",
                            display_name=app.names[0], names=app.names, state="issued", not_before=not_before,
                            not_after=not_before + timedelta(days=days)))
    s.add(Contract(code=app.contract_code, customer_id=app.customer_id, product=app.product, contract_type="fixed",
                   term_start=not_before, term_end=not_before + timedelta(days=365), state=state,
                   application_id=int(app.id or 0), current_application_id=int(app.id or 0),
                   certificate_serial=serial, certificate_not_before=not_before,
                   certificate_not_after=not_before + timedelta(days=days)))


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    from domain.contract_life import add_months

    me = accounts.create_customer(engine, "Example 株式会社", "it@example.co.jp", timedelta(days=30)).id
    them = accounts.create_customer(engine, "Other KK", "it@other.example.jp", timedelta(days=30)).id
    ids: dict[str, int] = {}
    with session_scope(engine) as s:
        def add(key: str, created: datetime, **fields: Any) -> Application:
            app = _record(s, me, created, **fields)
            ids[key] = int(app.id or 0)
            return app

        # In force, issued 74 months ago (a long contract): listed.
        old = add_months(NOW, -74)
        kept = add("kept", old, issued_at=old, server_type="apache", downloaded_at=old + timedelta(days=1))
        _contract(s, kept, "active", old)
        # Issued 76 months ago, its contract still marked active: the 75-month rule drops it anyway.
        gone = add_months(NOW, -76)
        _contract(s, add("too_old", gone, issued_at=gone), "active", gone)
        # An ended contract and its line (a reissue, then the reissue's revocation): past, all three.
        two_years = NOW - timedelta(days=730)
        ended = add("ended", two_years, issued_at=two_years, product="ev", org="50%_off 商店",
                    names=["shop.example.jp", "www.shop.example.jp"], coupon="CP_1")
        _contract(s, ended, "ended", two_years)
        reissue = add("ended_reissue", two_years + timedelta(days=3), type="reissue", product="ev",
                      parent_id=ended.id, issued_at=two_years + timedelta(days=3), names=["shop.example.jp"])
        add("ended_revocation", two_years + timedelta(days=9), type="revocation", product="ev",
            parent_id=reissue.id, status="completed", names=["shop.example.jp"])
        # In force now, a 担当者変更 of it, and records that made no contract (yet).
        recent = NOW - timedelta(days=40)
        live = add("live", recent, issued_at=recent, server_type="nginx", org="50xxoff 商店")
        _contract(s, live, "ending", recent, days=90)
        add("contact_change", NOW - timedelta(days=2), type="contact_change", parent_id=live.id)
        add("received", NOW - timedelta(days=1), coupon="CP%1")
        add("pending", NOW - timedelta(hours=20), status="documents_pending", product="ev")
        add("cancelled", NOW - timedelta(days=5), status="cancelled")
        theirs = _record(s, them, NOW - timedelta(hours=1))
        ids["theirs"] = int(theirs.id or 0)
    yield World(engine, me, them, ids)


CURRENT = ["pending", "received", "contact_change", "live", "kept"]
PAST = ["cancelled", "ended_revocation", "ended_reissue", "ended"]


def test_the_list_shows_current_contracts_and_past_ones_apart(world: World) -> None:
    assert world.find() == CURRENT  # newest first; the 76-month-old one and another's never
    assert world.find(view="past") == PAST
    assert sorted(world.find(view="all")) == sorted(CURRENT + PAST)


def test_a_record_shows_its_lines_contract(world: World) -> None:
    result = search.search(world.engine, world.customer, Query(view="all", per_page=100), NOW, TZ)
    rows = {r.id: r for r in result.rows}
    assert rows[world.ids["contact_change"]].contract_code == f"C{world.ids['live']:07d}"
    assert rows[world.ids["ended_revocation"]].contract_code == f"C{world.ids['ended']:07d}"
    assert rows[world.ids["ended_revocation"]].view == "past" and rows[world.ids["received"]].view == "current"
    live = rows[world.ids["live"]]
    assert live.not_after is not None and live.not_before is not None and live.not_after - live.not_before == \
        timedelta(days=90)
    with session_scope(world.engine) as s:  # the line is set on insert, however deep
        assert s.get(Application, world.ids["ended_revocation"]).line_id == world.ids["ended"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("params", "found"), [
    ({"type": "contact_change"}, ["contact_change"]),
    ({"product": "ev"}, ["pending"]),
    ({"view": "past", "product": "ev"}, ["ended_revocation", "ended_reissue", "ended"]),
    ({"download": "downloaded"}, ["kept"]),
    ({"download": "not_downloaded"}, ["pending", "received", "contact_change", "live"]),
    ({"server_type": "nginx"}, ["live"]),
    ({"field1": "organization", "text1": "50%_off"}, []),  # literal: not 50xxoff
    ({"view": "past", "field1": "organization", "text1": "50%_off"}, ["ended"]),
    ({"field1": "organization", "text1": "商店"}, ["live"]),
    ({"view": "all", "field1": "domain", "text1": "WWW.SHOP"}, ["ended"]),  # any name, any case
    ({"view": "all", "field1": "domain", "text1": "shop", "field2": "contract_code", "text2": "C"},
     ["ended_revocation", "ended_reissue", "ended"]),  # かつ: both
    ({"field1": "coupon", "text1": "CP%"}, ["received"]),
    ({"view": "past", "field1": "coupon", "text1": "CP_"}, ["ended"]),
    ({"date_from": "2026-12-04", "date_to": "2026-12-04"}, ["pending", "received"]),
    ({"date_from": "2026-12-05"}, []),
    ({"date_field": "updated", "date_to": "2026-11-30"}, ["live", "kept"]),
])
def test_each_filter(world: World, params: dict[str, str], found: list[str]) -> None:
    assert world.find(**params) == found


def test_the_update_date_moves_with_a_change(world: World) -> None:
    with session_scope(world.engine) as s:
        app = s.get(Application, world.ids["kept"])
        assert app is not None
        app.downloaded_at = datetime.now(UTC)
    assert world.find(date_field="updated", date_from=datetime.now(UTC).date().isoformat()) == ["kept"]


@pytest.mark.parametrize(("sort", "ascending"), [
    ("created", ["kept", "live", "contact_change", "received", "pending"]),
    ("product", ["pending", "kept", "live", "contact_change", "received"]),  # ev before ov, then by id
    ("status", ["pending", "kept", "live", "contact_change", "received"]),
    ("type", ["contact_change", "kept", "live", "received", "pending"]),
    ("validity", ["kept", "live", "contact_change", "received", "pending"]),  # by issuance; none last
    ("contract_code", ["kept", "live", "contact_change", "received", "pending"]),  # the line's; none last
])
def test_every_column_sorts_both_ways(world: World, sort: str, ascending: list[str]) -> None:
    assert world.find(sort=sort, order="asc") == ascending
    descending = world.find(sort=sort, order="desc")
    assert sorted(descending) == sorted(ascending) and descending != ascending


def test_pages(world: World) -> None:
    query = Query(per_page=2, page=3)
    result = search.search(world.engine, world.customer, query, NOW, TZ)
    assert (result.total, result.pages, result.page) == (5, 3, 3)
    assert [r.id for r in result.rows] == [world.ids["kept"]]
    assert search.search(world.engine, world.other, Query(), NOW, TZ).total == 1


def test_the_count_stops_at_its_limit(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "COUNT_LIMIT", 3)
    result = search.search(world.engine, world.customer, Query(per_page=2), NOW, TZ)
    assert (result.total, result.more, result.pages, len(result.rows)) == (3, True, 2, 2)
    assert search.search(world.engine, world.customer, Query(view="past", per_page=2, type="new"), NOW, TZ).more \
        is False


# --- the API and the pages over http ---------------------------------------------------------------

async def test_the_api_and_the_pages(engine: Engine, settings: Settings) -> None:
    new = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, PASSWORD, token)
    token, _ = customer_auth.login(engine, settings, new.access_key, PASSWORD)
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        ids = [int(_record(s, new.id, now - timedelta(days=i), org=f"Shop {i}").id or 0) for i in range(25)]
        ended = _record(s, new.id, now - timedelta(days=400), issued_at=now - timedelta(days=400))
        _contract(s, ended, "ended", now - timedelta(days=400))
        old = _record(s, new.id, now - timedelta(days=31 * 76), issued_at=now - timedelta(days=31 * 76))
        ended_id, old_id = int(ended.id or 0), int(old.id or 0)
    bearer = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                                 base_url="http://portal.test") as http:
        first = await http.get("/api/v1/applications", headers=bearer)
        assert first.status_code == 200 and [a["id"] for a in first.json()] == ids[:20]
        assert (first.headers["x-total-count"], first.headers["x-pages"]) == ("25", "2")
        assert first.json()[0]["view"] == "current" and first.json()[0]["type"] == "new"
        second = await http.get("/api/v1/applications?page=2", headers=bearer)
        assert [a["id"] for a in second.json()] == ids[20:]
        past = await http.get("/api/v1/applications?view=past", headers=bearer)
        assert [a["id"] for a in past.json()] == [ended_id]  # the 76-month-old one in neither list
        every = await http.get("/api/v1/applications?view=all&per_page=100", headers=bearer)
        assert old_id not in {a["id"] for a in every.json()} and len(every.json()) == 26
        found = await http.get("/api/v1/applications", params={"field1": "organization", "text1": "shop 1"},
                               headers=bearer)
        assert sorted(a["id"] for a in found.json()) == sorted([ids[1], *ids[10:20]])

        bad = await http.get("/api/v1/applications?sort=password&page=0&date_from=x", headers=bearer)
        assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"
        assert {f["field"] for f in bad.json()["fields"]} == {"sort", "page", "date_from"}
        english = await http.get("/api/v1/applications?view=later&lang=en", headers=bearer)
        assert english.json()["fields"] == [{"field": "view", "message": catalogue("en")["list_err_search_choice"]}]
        assert (await http.get("/api/v1/applications")).status_code == 401

        http.cookies.set("certdesk_customer", token)
        page = await http.get("/account/applications")
        t = catalogue("ja")
        assert page.status_code == 200 and t["list_intro"] in page.text and t["list_current_note"] in page.text
        for column in ("list_col_created", "list_col_product", "list_col_status", "list_col_type",
                       "list_col_validity", "list_col_contract_code"):
            assert f"△{t[column]}</a>" in page.text or f"▼{t[column]}</a>" in page.text
        assert "1/2頁 25件数" in page.text and 'id="page-next"' in page.text
        assert "(ov)" not in page.text and t["product_ov"] in page.text
        past_page = await http.get("/account/applications?view=past")
        assert t["list_past_note"] in past_page.text and f'data-id="{ended_id}"' in past_page.text
        assert f'data-id="{ids[0]}"' not in past_page.text
        form = await http.get("/account/applications/search?lang=en")
        assert form.status_code == 200 and catalogue("en")["list_search_title"] in form.text
        refused = await http.get("/account/applications?date_from=2026-02-30&field1=domain&text1=a&lang=ja")
        assert refused.status_code == 422 and 'id="f-date_from-err"' in refused.text
        assert t["list_err_search_date"] in refused.text and 'value="a"' in refused.text
