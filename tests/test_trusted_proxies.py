"""Issue 14, finding 1: the client-certificate header is believed only from a trusted proxy.

The certificate in the header is public data (no private key): whoever may set the header may
log in as its holder. Both apps are driven as uvicorn serves them in production (httpx's
ASGITransport with the connection's peer address chosen), with CERTDESK_CUSTOMER_CLIENT_CERT=bound.
"""

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from api import client_certs
from api.app import create_app
from api.login_account import create_account_app
from ca import authority
from domain.settings import Settings, SettingsError, load_settings
from store import accounts
from store.db import session_scope
from store.models import CustomerSession, LoginEvent, LoginUser

PROXY = "172.28.44.43"  # nginx's fixed address in docker-compose.yml
STRANGER = "203.0.113.7"


@dataclass
class Bound:
    settings: Settings
    customer: accounts.NewCustomer
    pem: str  # the login certificate bound to the customer and held by a login user


@pytest.fixture
def bound(settings: Settings, engine: Engine) -> Iterator[Bound]:
    settings = settings.model_copy(update={"customer_client_cert": "bound", "trusted_proxies": f"{PROXY}, 10.9.0.0/16",
                                           "login_max_failures": 100})  # these tests are not about throttling
    authority.ensure_hierarchy(engine, settings)
    issued = authority.issue_login(engine, settings, "login:proxy", "Kato Jiro", "test")
    customer = accounts.create_customer(engine, "Proxy Test KK", "it@proxy.example.jp", timedelta(days=30))
    accounts.bind_client_certificate(engine, customer.access_key, issued.serial)
    tenant_id, _ = accounts.create_tenant(engine, "Example Shop")
    with session_scope(engine) as s:
        s.add(LoginUser(tenant_id=tenant_id, user_id="u-1", email="u1@example.jp", certificate_name="Kato Jiro",
                        certificate_serial=issued.serial))
    yield Bound(settings, customer, issued.pem)


def client(app: object, peer: str, **kwargs: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40123))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="https://certdesk.test", **kwargs)  # type: ignore[arg-type]


def sessions_of(engine: Engine, customer: accounts.NewCustomer) -> int:
    with session_scope(engine) as s:
        return len(s.exec(select(CustomerSession).where(CustomerSession.customer_id == customer.id)).all())


async def test_the_api_believes_the_header_only_from_a_trusted_proxy(bound: Bound, engine: Engine,
                                                                      caplog: pytest.LogCaptureFixture,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_certs, "_warned", set())
    header = {bound.settings.client_cert_header: quote(bound.pem, safe="")}
    body = {"access_key": bound.customer.access_key, "password": bound.customer.initial_password}
    app = create_app(bound.settings)
    caplog.set_level(logging.WARNING, "certdesk.client_certs")

    async def api(http: httpx.AsyncClient, extra: dict[str, str]) -> httpx.Response:
        return await http.post("/api/v1/session", json=body, headers={**header, **extra})

    async def form(http: httpx.AsyncClient, extra: dict[str, str]) -> httpx.Response:
        return await http.post("/login", headers={**header, **extra, "origin": "https://certdesk.test"},
                               data={**body, "next": "/account"})

    # X-Forwarded-For naming the proxy changes nothing: the connection's own peer decides.
    for peer, extra in [(STRANGER, {}), (STRANGER, {"x-forwarded-for": PROXY}), ("127.0.0.1", {}), ("::1", {})]:
        async with client(app, peer) as http:
            answers = [await api(http, extra), await form(http, extra)]
        assert [r.status_code for r in answers] == [401, 401], peer
        assert answers[0].json()["error"] == "invalid" and not answers[1].cookies, peer
    assert sessions_of(engine, bound.customer) == 0
    # Logged once per peer, naming the peer and never the header's content.
    warnings = [r.getMessage() for r in caplog.records if r.name == "certdesk.client_certs"]
    assert len(warnings) == 3 and all("not a trusted proxy" in w for w in warnings)
    assert sum(STRANGER in w for w in warnings) == 1
    assert not any("BEGIN" in w or "%2D" in w or "MII" in w for w in warnings)

    for peer in (PROXY, f"::ffff:{PROXY}", "10.9.3.4"):
        async with client(app, peer) as http:
            assert (await api(http, {})).status_code == 200, peer
            assert (await form(http, {})).status_code == 303, peer
    assert sessions_of(engine, bound.customer) == 6


async def test_without_trusted_proxies_the_header_is_never_believed(bound: Bound, engine: Engine) -> None:
    settings = bound.settings.model_copy(update={"trusted_proxies": ""})
    header = {settings.client_cert_header: quote(bound.pem, safe="")}
    body = {"access_key": bound.customer.access_key, "password": bound.customer.initial_password}
    for peer in (PROXY, "127.0.0.1"):
        async with client(create_app(settings), peer) as http:
            assert (await http.post("/api/v1/session", json=body, headers=header)).status_code == 401
        async with client(create_account_app(settings), peer) as http:
            assert (await http.get("/api/v1/me", headers=header)).status_code == 401
    assert sessions_of(engine, bound.customer) == 0


async def test_the_account_app_believes_the_header_only_from_a_trusted_proxy(bound: Bound, engine: Engine) -> None:
    header = {bound.settings.client_cert_header: quote(bound.pem, safe=""), "accept-language": "en"}
    app = create_account_app(bound.settings)
    for peer in (STRANGER, "127.0.0.1", "10.8.255.255", "not-an-address"):
        async with client(app, peer, headers={**header, "x-forwarded-for": PROXY}) as http:
            me, page = await http.get("/api/v1/me"), await http.get("/account")
        assert (me.status_code, me.json()["error"]) == (401, "certificate_no_certificate"), peer
        assert page.status_code == 401 and "u-1" not in page.text, peer
    with session_scope(engine) as s:
        assert s.exec(select(LoginEvent)).all() == []

    async with client(app, PROXY, headers={**header, "x-forwarded-for": "198.51.100.20"}) as http:
        me = await http.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["user_id"] == "u-1"
    with session_scope(engine) as s:
        # The login history names the person's address, as the trusted proxy passed it on.
        assert [e.address for e in s.exec(select(LoginEvent)).all()] == ["198.51.100.20"]


async def test_a_bound_account_without_its_certificate_is_refused_alike_for_any_password(bound: Bound) -> None:
    """The refusal confirms neither the password nor that the access key exists or is bound."""
    app = create_app(bound.settings)
    key, right = bound.customer.access_key, bound.customer.initial_password
    attempts = [(key, right), (key, "wrong password 1"), ("99999999", right)]
    for lang in ("ja", "en"):
        for peer, header in [(PROXY, {}), (STRANGER, {bound.settings.client_cert_header: quote(bound.pem)})]:
            async with client(app, peer, headers={"accept-language": lang, **header}) as http:
                api = [await http.post("/api/v1/session", json={"access_key": k, "password": p})
                       for k, p in attempts]
                form = [await http.post("/login", headers={"origin": "https://certdesk.test"},
                                        data={"access_key": k, "password": p, "next": "/account"})
                        for k, p in attempts]
            assert len({(r.status_code, r.text) for r in api}) == 1, [r.text for r in api]
            assert api[0].status_code == 401 and api[0].json()["error"] == "invalid"
            alerts = {(r.status_code, re.search(r'role="alert">([^<]*)<', r.text).group(1))  # type: ignore[union-attr]
                      for r in form}
            assert len(alerts) == 1 and next(iter(alerts))[0] == 401
            assert api[0].json()["message"] == next(iter(alerts))[1]
            assert ("証明書" if lang == "ja" else "certificate") in api[0].json()["message"]


def test_trusted_proxies_must_be_addresses() -> None:
    assert load_settings(trusted_proxies=" 172.28.44.43 ,fd00::/8").trusted_proxy_networks[0].num_addresses == 1
    assert load_settings().trusted_proxy_networks == ()
    with pytest.raises(SettingsError, match="CERTDESK_TRUSTED_PROXIES.*nginx"):
        load_settings(trusted_proxies="172.28.44.43,nginx")
