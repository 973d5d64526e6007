"""The detail page offers exactly what the API accepts: a walk over record states × actions.

Each record is put in the database as a process would have left it; Temporal is unreachable,
so an action the API accepts gets as far as starting (or moving) its workflow and answers 503
having kept nothing, while one it refuses answers 409 with the rule's code — the same rule
(domain.application_actions) the page asked before it drew its forms.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from api import customer_auth
from api.app import create_app
from ca import authority
from domain.application_actions import ACTIONS
from domain.contracts import contract_code
from domain.settings import Settings
from store import accounts
from store import contracts as contract_records
from store.db import session_scope
from store.models import Application, Contract, utcnow
from tests.test_certificate_authority import SUBJECT, make_csr

ORG = {"name": "Example KK", "country": "JP", "state": "Tokyo", "locality": "Chiyoda-ku"}
CONTACTS = {"technical": {"name": "山田 太郎", "email": "yamada@example.co.jp", "phone": "03-1234-5678"}}
# A 更新申請 as the API takes it (the renewal work defines the body; the CSR is added per record).
RENEWAL = {"product": "ov", "agree_terms": True, "organization": ORG, "contacts": CONTACTS}
# The page's element for each action (the download is a link, the others forms).
MARKERS = {"download": 'id="download"', "cancel": 'id="cancel"', "reissue": 'id="reissue"', "revoke": 'id="revoke"',
           "replace": 'id="replace"', "renew": 'id="renew"', "contact_change": 'id="contact-change"',
           "switch": 'id="switch"'}
PULL_DOWN = ("renew", "revoke", "reissue", "contact_change", "cancel")  # the detail page's pull-down (manual 詳細画面)


@dataclass
class Desk:
    http: httpx.AsyncClient
    engine: Engine
    settings: Settings
    customer_id: int
    auth: dict[str, str]
    cookie: str


@pytest.fixture
async def desk(settings: Settings, engine: Engine) -> AsyncIterator[Desk]:
    settings = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    authority.ensure_hierarchy(engine, settings)
    new = accounts.create_customer(engine, "Example KK", "it@example.co.jp", timedelta(days=30))
    token, principal = customer_auth.login(engine, settings, new.access_key, new.initial_password)
    customer_auth.change_password(engine, principal, new.initial_password, "a much better passphrase", token)
    cookie, _ = customer_auth.login(engine, settings, new.access_key, "a much better passphrase")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                                 base_url="http://portal.test") as http:
        yield Desk(http, engine, settings, new.id, {"authorization": f"Bearer {token}"}, cookie)


def _record(d: Desk, key: str, *, type: str = "new", status: str = "issued", product: str = "ov",  # noqa: A002
            age: timedelta = timedelta(days=1), revoked: bool = False, parent_id: int | None = None) -> int:
    serial = None
    if status == "issued" or type == "revocation":
        cert = authority.issue_server(d.engine, d.settings, f"agree:{key}", make_csr(f"{key}.example.co.jp"),
                                      SUBJECT, 90, "test")
        serial = cert.serial
        if revoked:
            authority.revoke(d.engine, d.settings, "server-ca", serial, "cessationOfOperation", "test")
    with session_scope(d.engine) as s:
        app = Application(customer_id=d.customer_id, type=type, product=product, csr_pem="-",
                          names=[f"{key}.example.co.jp"], organization=ORG, contacts=CONTACTS, status=status,
                          certificate_serial=serial, parent_id=parent_id, workflow_id=f"agree-{key}",
                          issued_at=utcnow() - age if status == "issued" else None,
                          reason="after_two_weeks" if type == "reissue" else None)
        s.add(app)
        s.flush()
        return int(app.id or 0)


def _states(d: Desk) -> dict[str, int]:
    states = {
        "received": _record(d, "received", status="received"),
        "documents_pending": _record(d, "pending", status="documents_pending"),
        "issued": _record(d, "issued"),
        "issued_past_window": _record(d, "old", age=d.settings.reissue_window + timedelta(hours=1)),
        "issued_revoked": _record(d, "revoked", revoked=True),
        "rejected": _record(d, "rejected", status="rejected"),
        "cancelled": _record(d, "cancelled", status="cancelled"),
        "ev_reissue": _record(d, "ev", type="reissue", product="ev"),
        "ov_reissue": _record(d, "ovr", type="reissue"),
    }
    reissued = _record(d, "reissued")
    _record(d, "reissued-child", type="reissue", status="received", parent_id=reissued)
    waiting = _record(d, "waiting")
    _record(d, "waiting-child", type="revocation", status="received", parent_id=waiting)
    states |= {"reissued": reissued, "revocation_waiting": waiting,
               "revocation_record": _record(d, "revocation", type="revocation", status="received")}
    return states | _contract_states(d)


def _contract(d: Desk, key: str, product: str = "ov", state: str = "active", term_days: int = 365) -> int:
    """An issued new application and the contract it established (its certificate expires in 90
    days, before the term ends unless ``term_days`` says otherwise); returns the record's id."""
    app_id = _record(d, key, product=product)
    with session_scope(d.engine) as s:
        app = s.get(Application, app_id)
        assert app is not None
        app.contract_code = contract_code(app_id)
        row = contract_records.establish(s, app)
        assert row is not None
        row.state, row.term_end = state, row.term_start + timedelta(days=term_days)
        s.add(row)
    return app_id


def _contract_states(d: Desk) -> dict[str, int]:
    """Records within contracts: the current one, a former one, automatic, ended, being replaced."""
    current = _contract(d, "contract")
    former = _contract(d, "former")
    with session_scope(d.engine) as s:  # a reissue took over the contract's certificate
        row = s.exec(select(Contract).where(Contract.application_id == former)).one()
        row.current_application_id = _record(d, "former-reissue", type="reissue", parent_id=former)
        s.add(row)
    replacing = _contract(d, "replacing")
    _record(d, "replacing-child", type="replacement", status="reviewing", parent_id=replacing)
    return {"contract_current": current, "contract_former": former, "contract_auto": _contract(d, "auto", "ov_auto"),
            "contract_ended": _contract(d, "ended", state="ended"),
            "contract_outlived": _contract(d, "outlived", term_days=60), "contract_replacing": replacing}


async def _api(d: Desk, action: str, app_id: int) -> httpx.Response:
    base = f"/api/v1/applications/{app_id}"
    if action == "download":
        return await d.http.get(f"{base}/certificate", headers=d.auth)
    with session_scope(d.engine) as s:
        app = s.get(Application, app_id)
        assert app is not None
        names = list(app.names)
    path, body = {"cancel": ("cancel", None), "revoke": ("revoke", {"reason": "cessation"}),
                  "reissue": ("reissue", {"csr": make_csr("new.example.co.jp"), "revoke_previous": "immediately"}),
                  "replace": ("replacement", {"csr": make_csr(*names)}),
                  "renew": ("renewal", RENEWAL | {"csr": make_csr(*names)}),
                  "contact_change": ("contact-change", {"contacts": CONTACTS, "agree_terms": True}),
                  "switch": ("switch", {"product": "ev", "csr": make_csr(*names), "revoke_previous": "immediately",
                                        "agree_terms": True})}[action]
    return await d.http.post(f"{base}/{path}", json=body, headers=d.auth)


async def test_the_page_offers_exactly_what_the_api_accepts(desk: Desk) -> None:
    seen: dict[str, set[str]] = {}
    for state, app_id in _states(desk).items():
        page = await desk.http.get(f"/account/applications/{app_id}",
                                   headers={"cookie": f"certdesk_customer={desk.cookie}", "accept": "text/html"})
        assert page.status_code == 200, (state, page.text[:300])
        for action in ACTIONS:
            offered = MARKERS[action] in page.text
            if action in PULL_DOWN:  # 「更新、失効、解約、再発行、担当者変更、申請取消」 offers the same
                assert (f'<option value="{action}"' in page.text) == offered, (state, action)
            answer = await _api(desk, action, app_id)
            accepted = answer.status_code in (200, 503)  # 503: accepted, then Temporal (down) was asked
            assert offered == accepted, (state, action, answer.status_code, answer.text[:200])
            if not accepted:
                assert answer.status_code == 409 and answer.json()["message"], (state, action)
            if accepted:
                seen.setdefault(action, set()).add(state)
    # The walk covered every action both ways.
    assert set(seen) == set(ACTIONS)
    assert seen["reissue"] >= {"issued", "ov_reissue", "revocation_waiting"}
    assert seen["cancel"] == {"received", "documents_pending"}
    assert seen["revoke"] >= {"issued", "issued_past_window", "ev_reissue", "ov_reissue", "reissued"}
    assert seen["replace"] == {"contract_current", "contract_auto"}
    assert seen["renew"] == {"contract_current", "contract_outlived", "contract_replacing"}
    assert seen["contact_change"] == {"contract_current", "contract_auto", "contract_outlived", "contract_replacing"}
    assert seen["switch"] == {"contract_current", "contract_auto", "contract_outlived"}
