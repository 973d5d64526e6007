"""Temporal unreachable: every call that starts a server certificate process answers 503 and keeps nothing.

A record whose workflow never started would wait forever ("申込受付" with nobody to move it),
so the record goes again and the customer is told to retry; pages say it as a page.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from api import customer_auth
from api.app import create_app
from ca import authority
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import Application, AuditEvent, utcnow
from tests.test_certificate_authority import SUBJECT, make_csr

ORG = {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"}
CONTACTS = {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"}}


@dataclass
class Down:
    http: httpx.AsyncClient
    auth: dict[str, str]
    customer_id: int
    issued_id: int
    csrf: str
    cookie: str


@pytest.fixture
async def down(settings: Settings, engine: Engine) -> AsyncIterator[Down]:
    settings = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})  # nothing listens there
    authority.ensure_hierarchy(engine, settings)
    new = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, "a much better passphrase", token)
    cookie, page_principal = customer_auth.login(engine, settings, new.access_key, "a much better passphrase")
    cert = authority.issue_server(engine, settings, "unavailable:issued", make_csr("www.example.co.jp"), SUBJECT, 90,
                                  "test")
    with session_scope(engine) as s:  # an application issued earlier, by a worker that has since gone
        issued = Application(customer_id=new.id, type="new", product="ov", csr_pem="-", names=["www.example.co.jp"],
                             organization=ORG, contacts=CONTACTS, status="issued", certificate_serial=cert.serial,
                             issued_at=utcnow() - timedelta(days=1), workflow_id="application-issued",
                             contract_code="C-UNAVAILABLE")
        s.add(issued)
        s.flush()
        issued_id = int(issued.id or 0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                                 base_url="http://portal.test") as http:
        yield Down(http, {"authorization": f"Bearer {token}"}, new.id, issued_id, page_principal.csrf_token, cookie)


def _counts(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as s:
        apps = s.exec(select(func.count()).select_from(Application)).one()
        started = s.exec(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.in_(("application.received", "application.revocation_requested",  # type: ignore[attr-defined]
                                   "application.reissue_requested")))).one()
        discarded = s.exec(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "application.not_started")).one()
    return apps, started - discarded


JSON_CALLS = [
    ("new", "/api/v1/applications",
     lambda d: {"type": "new", "product": "ov", "csr": make_csr("new.example.co.jp"), "agree_terms": True,
                "organization": ORG, "contacts": CONTACTS}),
    ("revoke", "/api/v1/applications/{id}/revoke", lambda d: {"reason": "cessation"}),
    ("key compromise", "/api/v1/applications/{id}/revoke", lambda d: {"reason": "key_compromise"}),
    ("reissue", "/api/v1/applications/{id}/reissue",
     lambda d: {"csr": make_csr("www.example.co.jp"), "revoke_previous": "immediately"}),
]


@pytest.mark.parametrize(("what", "path", "body"), JSON_CALLS, ids=[c[0] for c in JSON_CALLS])
async def test_json_calls_answer_503_and_keep_nothing(down: Down, engine: Engine, what: str, path: str,
                                                     body: object) -> None:
    before = _counts(engine)
    r = await down.http.post(path.format(id=down.issued_id), json=body(down), headers=down.auth)  # type: ignore[operator]
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "unavailable" and r.headers["retry-after"]
    assert _counts(engine) == before  # no record left that no workflow will ever move
    # The refusal does not stick: the same call is allowed again (the page still offers it).
    detail = await down.http.get(f"/api/v1/applications/{down.issued_id}", headers=down.auth)
    assert detail.json()["status"] == "issued"


PAGE_CALLS = [
    ("new", "/account/apply", lambda d: {"product": "ov", "csr": make_csr("page.example.co.jp"), "agree_terms": "on",
                                         "organization.name": "Example KK", "organization.country": "JP",
                                         "organization.state": "Tokyo", "organization.locality": "Chiyoda-ku",
                                         "contacts.registrant.name": "佐藤 花子",
                                         "contacts.registrant.email": "sato@example.co.jp",
                                         "contacts.registrant.phone": "03-1234-5679",
                                         "contacts.technical.name": "山田 太郎",
                                         "contacts.technical.email": "yamada@example.co.jp",
                                         "contacts.technical.phone": "03-1234-5678"}),
    ("revoke", "/account/applications/{id}/revoke", lambda d: {"reason": "content_change"}),
    ("reissue", "/account/applications/{id}/reissue",
     lambda d: {"csr": make_csr("www.example.co.jp"), "revoke_previous": "after_two_weeks"}),
]


@pytest.mark.parametrize(("what", "path", "form"), PAGE_CALLS, ids=[c[0] for c in PAGE_CALLS])
async def test_pages_say_so_in_the_persons_language_and_keep_nothing(down: Down, engine: Engine, what: str,
                                                                     path: str, form: object) -> None:
    before = _counts(engine)
    r = await down.http.post(path.format(id=down.issued_id), data={**form(down), "csrf_token": down.csrf},  # type: ignore[operator]
                             headers={"accept": "text/html", "cookie": f"certdesk_customer={down.cookie}"})
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("text/html")
    assert "ただいま処理できません" in r.text and "{" not in r.text.split("<main>")[1][:500]
    assert _counts(engine) == before
