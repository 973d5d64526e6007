"""更新申請 (S-3; manual 003 section 2.2) end to end on the time-skipping server.

A 期間固定タイプ contract established by an issued application (its rows as the first issuance
leaves them, its ``Contract`` workflow running with the real worker); the renewal is filed through
the API or the pages, vetted by the real ``ServerCertApplication`` (the customer's domain validation
and the desk's organization checks reused within their periods, CAA asked of a real DNS server by
every perspective), approved on the desk, issued; then a year passes with ``env.sleep``.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api import customer_auth, staff_auth
from api.app import create_app
from ca import authority
from certdesk.worker import build_worker
from domain import profile as profiles
from domain.catalog import CATALOG
from domain.contracts import certificate_subject, contract_code
from domain.messages import catalogue
from domain.settings import Settings
from processes import contracts as contract_process
from store import accounts, vetting_checks
from store import contracts as records
from store.db import session_scope
from store.models import Application, AuditEvent, Contract, CustomerProfile, DomainValidation, utcnow
from tests.conftest import vetting_network
from tests.test_certificate_authority import make_csr
from tests.test_contract_lifecycle import contract_row, reminders, start, until
from tests.vetting_checks import OV_CHECKS

JA, EN = catalogue("ja"), catalogue("en")
NAME = "www.keiyaku.example.jp"
PASSWORD = "a much better passphrase"
ORG = {"name": "契約株式会社", "country": "JP", "state": "東京都", "locality": "千代田区",
       "registration_number": "5010401089998", "phone": "03-1234-5678"}
CONTACTS = {"technical": {"name": "山田 太郎", "email": "yamada@keiyaku.example.jp", "phone": "03-1234-5678"},
            "contract": {"name": "鈴木 一郎", "email": "suzuki@keiyaku.example.jp", "phone": "03-1234-9999"}}
VETTED = profiles.validate({"organization": ORG, "contacts": CONTACTS}).document()
RESELLER = "R-20931"
# The body of POST /api/v1/applications/{id}/renewal (the new application's shape).
BODY = {"product": "ov", "agree_terms": True, "coupon": "CP-7", "organization": ORG, "contacts": CONTACTS}


@dataclass
class World:
    env: WorkflowEnvironment
    engine: Engine
    settings: Settings
    mail_dir: Path
    http: httpx.AsyncClient
    customer_id: int
    bearer: dict[str, str]
    cookie: dict[str, str]  # a browser's session (the pages)
    csrf: str
    staff: dict[str, str]

    def renewals(self) -> list[Application]:
        with session_scope(self.engine) as s:
            return list(s.exec(select(Application).where(Application.type == "renewal")).all())

    async def page(self, method: str, path: str, lang: str = "ja", **form: str) -> httpx.Response:
        headers = {**self.cookie, "accept": "text/html", "accept-language": lang}
        if method == "GET":
            return await self.http.get(path, headers=headers)
        return await self.http.post(path, data={"csrf_token": self.csrf, **form}, headers=headers)


@pytest.fixture
async def world(time_skipping_env: WorkflowEnvironment, settings: Settings, engine: Engine,
                smtp_sink: tuple[int, Path]) -> AsyncIterator[World]:
    authority.ensure_hierarchy(engine, settings)
    new = accounts.create_customer(engine, ORG["name"], "it@keiyaku.example.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, PASSWORD, token)
    cookie, principal = customer_auth.login(engine, settings, new.access_key, PASSWORD)
    with session_scope(engine) as s:  # account info: the 特約店コード the renewal fills in
        s.add(CustomerProfile(customer_id=new.id, reseller_code=RESELLER, organization=VETTED["organization"],
                              contacts=VETTED["contacts"]))
    accounts.create_staff(engine, "sato", "supervisor", password=PASSWORD)
    staff_token, _ = staff_auth.login(engine, settings, "sato", PASSWORD)
    async with vetting_network(time_skipping_env.client, settings, customer_places_values=False) as (vetting, _):
        async with (build_worker(time_skipping_env.client, vetting),
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(vetting, time_skipping_env.client)),
                                      base_url="http://portal.test") as http):
            yield World(time_skipping_env, engine, vetting, smtp_sink[1], http, new.id,
                        {"authorization": f"Bearer {token}"}, {"cookie": f"certdesk_customer={cookie}"},
                        principal.csrf_token, {"authorization": f"Bearer {staff_token}"})


def issued_contract(w: World, product: str = "ov", into_term: timedelta = timedelta(0)) -> tuple[int, int, str]:
    return contract_for(w.engine, w.settings, w.customer_id, product, into_term)


def contract_for(engine: Engine, settings: Settings, customer_id: int, product: str = "ov",
                 into_term: timedelta = timedelta(0)) -> tuple[int, int, str]:
    """The customer's issued new application, a validated domain and confirmed organization checks
    (reusable now) and the contract it established, ``into_term`` into its term: (record, contract, code)."""
    csr = make_csr(NAME)
    with session_scope(engine) as s:
        app = Application(customer_id=customer_id, type="new", product=product, status="approved", csr_pem=csr,
                          names=[NAME], organization=VETTED["organization"], contacts=VETTED["contacts"])
        s.add(app)
        s.flush()
        app_id = int(app.id or 0)
    issued = authority.issue_server(engine, settings, f"application-{app_id}", csr,
                                    certificate_subject(ORG, CATALOG[product].level), CATALOG[product].validity_days,
                                    "staff:test")
    now = utcnow()
    with session_scope(engine) as s:
        app = s.get(Application, app_id)
        assert app is not None
        app.status, app.certificate_serial, app.issued_at = "issued", issued.serial, now
        app.contract_code = contract_code(app_id)
        s.add(DomainValidation(customer_id=customer_id, application_id=app_id, name=NAME, validated_domain=NAME,
                               random_value="the-first-applications-value-aaaa", state="validated",
                               created_at=now - timedelta(hours=2), expires_at=now + timedelta(days=29),
                               validated_at=now - timedelta(hours=1)))
        row = records.establish(s, app)
        assert row is not None
        row.term_start, row.term_end = row.term_start - into_term, row.term_end - into_term
        s.add(row)
        contract_id, code = int(row.id or 0), row.code
    for i, check in enumerate(OV_CHECKS):
        vetting_checks.record(engine, f"first-{app_id}-{i}", app_id, check["check"], check["source"],
                              check.get("reference", ""), check["outcome"], check.get("note", ""), "staff:sato")
    return app_id, contract_id, code


async def renew(w: World, app_id: int, **body: object) -> httpx.Response:
    return await w.http.post(f"/api/v1/applications/{app_id}/renewal",
                             json={**BODY, "csr": make_csr(NAME), **body}, headers=w.bearer)


async def review_task(w: World, app_id: int) -> dict:
    for _ in range(400):
        tasks = (await w.http.get("/api/v1/tasks?state=open&kind=application_review", headers=w.staff)).json()
        mine = [t for t in tasks if t["subject"] == f"application:{app_id}"]
        if mine:
            return mine[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no review task for application {app_id}")


async def status(w: World, app_id: int, wanted: str) -> dict:
    detail: dict = {}
    for _ in range(400):
        detail = (await w.http.get(f"/api/v1/applications/{app_id}", headers=w.bearer)).json()
        if detail["status"] == wanted:
            return detail
        await asyncio.sleep(0.05)
    raise AssertionError(f"application {app_id} never became {wanted}: {detail}")


# --- the renewal's life --------------------------------------------------------------------------

async def test_a_renewal_is_vetted_issued_and_the_next_term_starts_at_the_old_end(world: World) -> None:
    w = world
    # 85 days before the term's end (on both clocks: the reuse periods are the wall clock's).
    first_id, contract_id, code = issued_contract(w, into_term=timedelta(days=280))
    old = contract_row(w.engine, contract_id)
    assert timedelta(days=84) < old.term_end - utcnow() < timedelta(days=86)
    await start(w.env, w.settings, contract_id, code)
    # The first 更新のご案内 (90 days before the end) goes out.
    await until(w.env, lambda: reminders(w.mail_dir, code)[("term", 90)] == 1, "the 90-day 更新のご案内")

    filed = await renew(w, first_id)
    assert filed.status_code == 201, filed.text
    record = filed.json()
    assert (record["type"], record["parent_id"], record["product"], record["names"]) == (
        "renewal", first_id, "ov", [NAME])
    with session_scope(w.engine) as s:
        stored = s.get(Application, record["id"])
        assert stored is not None and stored.coupon == "CP-7" and stored.workflow_id == f"application-{record['id']}"
        assert stored.organization == VETTED["organization"] and set(stored.contacts) == {"technical", "contract"}
        assert records.renewal_filed(s, old.application_id, old.term_start)
    # Filed once: a second 更新申請 is refused with the rule's message, and nothing more is kept.
    again = await renew(w, first_id)
    assert again.status_code == 409 and again.json()["error"] == "renewal_in_progress"
    assert again.json()["message"] == JA["err_renewal_in_progress"]
    assert len(w.renewals()) == 1

    # The term's ladder is quiet from now on (the workflow looked again when told).
    for _ in range(200):
        shown = await contract_process.status(world_processes(w), code)
        if not shown.next_reminder.startswith("term"):
            break
        await asyncio.sleep(0.05)
    assert not shown.next_reminder.startswith("term"), shown

    # Vetting as a new application: the domain validation and the organization checks are reused.
    task = await review_task(w, record["id"])
    with session_scope(w.engine) as s:
        dcv = s.exec(select(DomainValidation).where(DomainValidation.application_id == record["id"])).one()
    assert dcv.state == "validated" and dcv.evidence[0]["reused"]
    checks = (await w.http.get(f"/api/v1/tasks/{task['id']}/checks", headers=w.staff)).json()
    assert checks["missing"] == [] and {v["reused_from_application"] for v in checks["counting"].values()} == {
        first_id}
    approved = await w.http.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "approve"},
                                 headers=w.staff)
    assert approved.status_code == 200, approved.text
    issued = await status(w, record["id"], "issued")

    # Its certificate is the contract's current one; the term is still the old one.
    for _ in range(200):
        if contract_row(w.engine, contract_id).current_application_id == record["id"]:
            break
        await asyncio.sleep(0.05)
    now = contract_row(w.engine, contract_id)
    assert (now.current_application_id, now.certificate_serial) == (record["id"], issued["serial"])
    assert (now.term_start, now.term_end, now.terms) == (old.term_start, old.term_end, 1)

    # The old term's end: the contract renews (no day paid for is lost) instead of ending.
    await w.env.sleep(timedelta(days=90))
    await until(w.env, lambda: contract_row(w.engine, contract_id).terms == 2, "the renewed term")
    renewed = contract_row(w.engine, contract_id)
    assert renewed.state == "active" and renewed.term_start == old.term_end and renewed.term_end > old.term_end
    term_mails = {k: n for k, n in reminders(w.mail_dir, code).items() if k[0] == "term"}
    assert term_mails == {("term", 90): 1}  # none after the renewal was filed
    with session_scope(w.engine) as s:
        actions = [e.action for e in s.exec(select(AuditEvent).where(AuditEvent.subject == f"contract:{code}"))]
    assert "contract.renewed" in actions and "contract.ended" not in actions


def world_processes(w: World):  # type: ignore[no-untyped-def]
    """The app's own way to Temporal (the contract's query, as the detail page asks it)."""
    transport = w.http._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.processes  # type: ignore[attr-defined]


async def test_refused_for_an_automatic_contract_and_from_a_record_no_longer_current(world: World) -> None:
    w = world
    auto_id, _, _ = issued_contract(w, "ov_auto")
    refused = await renew(w, auto_id)
    assert refused.status_code == 409 and refused.json()["error"] == "contract_renews_itself"
    assert refused.json()["message"] == JA["err_contract_renews_itself"]
    english = await w.http.post(f"/api/v1/applications/{auto_id}/renewal", json={**BODY, "csr": make_csr(NAME)},
                                headers={**w.bearer, "accept-language": "en"})
    assert english.status_code == 409 and english.json()["message"] == EN["err_contract_renews_itself"]

    first_id, contract_id, _ = issued_contract(w)
    with session_scope(w.engine) as s:  # a reissue took over the contract's certificate
        reissue = Application(customer_id=w.customer_id, type="reissue", product="ov", status="issued", csr_pem="-",
                              names=[NAME], organization=ORG, parent_id=first_id)
        s.add(reissue)
        s.flush()
        row = s.get(Contract, contract_id)
        assert row is not None
        row.current_application_id = int(reissue.id or 0)
        s.add(row)
    former = await renew(w, first_id)
    assert former.status_code == 409 and former.json()["error"] == "not_current_certificate"
    page = await w.page("GET", f"/account/applications/{first_id}")
    assert 'id="renew"' not in page.text
    refused_page = await w.page("GET", f"/account/applications/{first_id}/renewal")
    assert refused_page.status_code == 409 and JA["err_not_current_certificate"] in refused_page.text
    assert w.renewals() == []


async def test_bad_input_names_its_fields_and_keeps_nothing(world: World) -> None:
    w = world
    first_id, _, _ = issued_contract(w)
    bad = await renew(w, first_id, product="ev", agree_terms=False, csr="not a csr",
                      contacts={"technical": {"name": "山田 太郎", "email": "nobody", "phone": "03-1234-5678"}})
    assert bad.status_code == 422, bad.text
    fields = {f["field"]: f["message"] for f in bad.json()["fields"]}
    assert set(fields) == {"product", "agree_terms", "csr.csr", "contacts.technical.email"}
    assert fields["product"] == JA["val_renewal_product"] and fields["csr.csr"] == JA["csr_unparsable"]
    assert w.renewals() == []
    # Left out: the previous application's organization and contacts (「前年度に申請された情報」).
    filed = await w.http.post(f"/api/v1/applications/{first_id}/renewal", headers=w.bearer,
                              json={"product": "ov", "agree_terms": True, "csr": make_csr(NAME)})
    assert filed.status_code == 201, filed.text
    (record,) = w.renewals()
    assert record.organization == VETTED["organization"] and record.contacts == VETTED["contacts"]


def esc(text: str) -> str:
    """A message as the page's HTML carries it (Jinja's escaping)."""
    return str(escape(text))


# --- the screens ---------------------------------------------------------------------------------

def _value(page: str, name: str) -> str | None:
    found = re.search(rf'<input id="[^"]*" name="{re.escape(name)}" value="([^"]*)"', page)
    return found.group(1) if found else None


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_the_screens_in_the_manuals_order(world: World, lang: str) -> None:
    w, t = world, (JA if lang == "ja" else EN)
    first_id, _, _ = issued_contract(w)
    base = f"/account/applications/{first_id}"

    detail = await w.page("GET", base, lang)
    assert 'id="renew"' in detail.text and esc(t["renewal_entry_button"]) in detail.text
    terms = await w.page("GET", f"{base}/renewal", lang)
    assert terms.status_code == 200
    assert esc(t["renewal_step_terms"]) in terms.text and esc(t["renewal_agree"]) in terms.text
    # Not agreed: the agreement again, with its message.
    unagreed = await w.page("POST", f"{base}/renewal/basic", lang)
    assert unagreed.status_code == 422 and esc(t["val_agree_terms"]) in unagreed.text

    basic = await w.page("POST", f"{base}/renewal/basic", lang, agree_terms="on")
    assert basic.status_code == 200
    assert f"<h1>{esc(t['renewal_title'])} — {esc(t['renewal_step_basic'])}</h1>" in basic.text
    assert re.search(rf'<input id="f-reseller_code" type="text" value="{RESELLER}" readonly', basic.text)
    assert esc(t["renewal_reseller_note"]) in basic.text
    assert 'value="ov" checked' in basic.text and 'value="ev"' not in basic.text and 'value="ov_auto"' not in basic.text

    org = await w.page("POST", f"{base}/renewal/organization", lang, agree_terms="on", product="ov", coupon="CP-7")
    assert org.status_code == 200 and esc(t["renewal_prefilled_note"]) in org.text
    assert _value(org.text, "organization.name") == ORG["name"]
    assert _value(org.text, "organization.registration_number") == ORG["registration_number"]
    assert _value(org.text, "contacts.technical.email") == CONTACTS["technical"]["email"]
    assert _value(org.text, "contacts.contract.name") == CONTACTS["contract"]["name"]
    assert _value(org.text, "contacts.registrant.name") == ""
    assert 'name="reseller_code"' not in org.text  # never taken from the form

    form = {"agree_terms": "on", "product": "ov", "coupon": "CP-7",
            **{k: v for k, v in profiles.to_form(VETTED).items() if not k.endswith("renewal_notice")}}
    form.pop("reseller_code")
    # A bad CSR: its message next to the field, in the person's language; nothing stored.
    bad = await w.page("POST", f"{base}/renewal/confirm", lang, **form, csr="not a csr")
    assert bad.status_code == 422
    assert re.search(r'<textarea id="f-csr"[^>]*aria-invalid="true" aria-describedby="f-csr-err"', bad.text)
    assert f'<span class="field-error" id="f-csr-err">{esc(t["csr_unparsable"])}</span>' in bad.text
    assert _value(bad.text, "organization.name") == ORG["name"]  # what was entered stays
    refused = await w.page("POST", f"{base}/renewal", lang, **form, csr="not a csr", step="apply")
    assert refused.status_code == 422 and w.renewals() == []

    csr = make_csr(NAME)
    confirm = await w.page("POST", f"{base}/renewal/confirm", lang, **form, csr=csr)
    assert confirm.status_code == 200 and esc(t["renewal_confirm_intro"]) in confirm.text and RESELLER in confirm.text
    assert w.renewals() == []
    back = await w.page("POST", f"{base}/renewal", lang, **form, csr=csr, step="back")
    assert back.status_code == 200 and esc(t["renewal_prefilled_note"]) in back.text and w.renewals() == []

    done = await w.page("POST", f"{base}/renewal", lang, **form, csr=csr, step="apply")
    assert done.status_code == 303, done.text
    (record,) = w.renewals()
    assert done.headers["location"] == f"{base.rsplit('/', 1)[0]}/{record.id}/renewal/done"
    assert (record.parent_id, record.product, record.coupon, record.names) == (first_id, "ov", "CP-7", [NAME])
    completion = await w.page("GET", done.headers["location"], lang)
    assert esc(t["renewal_done_title"]) in completion.text
    assert f'href="/account/applications/{record.id}"' in completion.text
    # Filed: the detail page no longer offers it.
    assert 'id="renew"' not in (await w.page("GET", base, lang)).text
