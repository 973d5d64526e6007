"""certdesk as an OpenID Connect provider (issue 19), end to end: a tenant's website (tests/oidc_rp.py, a
real relying party) logs a user in through Chromium with the login certificate installed, over the
real client-certificate port; the main app serves discovery, JWKS, token, userinfo and revocation;
the signing keys come from the real OidcKeyRotation workflow on the time-skipping server.
"""
# ruff: noqa: F811

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from authlib.integrations.base_client.errors import OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from playwright.async_api import Browser, Page
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.login_account import create_account_app
from certdesk.client_cert_port import account_port_server
from certdesk.servers import embedded_server
from domain import oidc as d
from domain.settings import Settings
from store.db import session_scope
from store.models import Device, LoginEvent, LoginUser, OidcSigningKey, utcnow
from store.passphrase import passphrase
from tests.browser import TIMEOUT_MS, browser  # noqa: F401
from tests.conftest import free_port, serving
from tests.login_service import Service
from tests.oidc_rp import RelyingParty
from tests.test_login_account import _downloaded
from workflows.oidc_keys import OidcKeyRotation


@dataclass
class Stack:
    svc: Service
    main: str
    account: str
    rp: RelyingParty
    cert: tuple[str, str]
    serial: str

    async def rotate(self, name: str) -> None:
        # Not skipping time while it runs: the registration's long timers would otherwise move the clock.
        with self.svc.env.auto_time_skipping_disabled():
            await self.svc.env.client.execute_workflow(OidcKeyRotation.run, id=f"oidc-key-rotation-{name}",
                                                       task_queue=self.svc.settings.task_queue)

    async def client(self, headers: dict[str, str], **body: object) -> httpx.Response:
        return await self.svc.http.post("/api/v1/clients", headers=headers, json=body)

    async def page(self, browser: Browser, with_cert: bool = True) -> Page:
        certs = [{"origin": self.account, "certPath": self.cert[0], "keyPath": self.cert[1]}] if with_cert else []
        context = await browser.new_context(locale="ja-JP", ignore_https_errors=True, client_certificates=certs)
        context.set_default_timeout(TIMEOUT_MS)
        return await context.new_page()


@pytest.fixture
async def stack(service: Service, tmp_path: Path) -> AsyncIterator[Stack]:
    svc = service
    serial, cert = await _downloaded(svc, tmp_path)
    main_port, rp_port = free_port(), free_port()
    settings = svc.settings.model_copy(update={"api_port": main_port, "tls_port": free_port(),
                                               "public_url": f"http://127.0.0.1:{main_port}"})
    main = embedded_server(uvicorn.Config(create_app(settings, svc.env.client), host="127.0.0.1", port=main_port,
                                          log_level="warning", lifespan="off"))
    account = account_port_server(create_account_app(settings), settings, svc.engine)
    base = f"http://127.0.0.1:{main_port}"
    created = await svc.http.post("/api/v1/clients", headers=svc.tenant,
                                  json={"redirect_uris": [f"http://127.0.0.1:{rp_port}/callback"], "name": "shop"})
    assert created.status_code == 201, created.text
    rp = RelyingParty(base, created.json()["client_id"], created.json()["client_secret"],
                      f"http://127.0.0.1:{rp_port}")
    s = Stack(svc, base, f"https://127.0.0.1:{settings.tls_port}", rp, cert, serial)
    await s.rotate("first")
    async with serving(main), serving(account), serving(rp.server(rp_port)):
        await rp.discover()
        yield s


async def _login(stack: Stack, page: Page, hold: bool = False) -> str:
    await page.goto(f"{stack.rp.base_url}/login" + ("?hold=1" if hold else ""))
    if await page.locator("#allow").count():
        await page.click("#allow")
    await page.wait_for_selector("#result")
    return await page.inner_text("#result")


async def test_a_tenant_site_logs_its_user_in_with_the_certificate(stack: Stack, browser: Browser) -> None:
    svc, rp = stack.svc, stack.rp
    assert rp.config["code_challenge_methods_supported"] == ["S256"]
    assert rp.config["response_types_supported"] == ["code"]  # no implicit flow
    page = await stack.page(browser)

    # The first time: the consent page names the tenant; then the website has a validated ID token.
    await page.goto(f"{rp.base_url}/login")
    assert "Example Shop" in await page.inner_text("body")
    await page.click("#allow")
    await page.wait_for_selector("#result")
    first = rp.logins[-1]
    assert first.claims is not None and first.header is not None and first.token is not None
    claims = first.claims
    assert claims["amr"] == ["x509"] and claims["acr"] == d.acr("certificate")
    assert claims["name"] == "Suzuki Ichiro" and claims["email"] == "u-77@example.jp"
    with session_scope(svc.engine) as s:
        user = s.exec(select(LoginUser).where(LoginUser.user_id == "u-77")).one()
        expected_sub = d.pairwise_sub(d.sub_key(passphrase(svc.settings)), user.tenant_id, "u-77")
    assert claims["sub"] == expected_sub and "u-77" not in claims["sub"]
    assert f"welcome {expected_sub}" in await page.inner_text("#result")

    # The second time no consent is asked; the same sub.
    assert (await _login(stack, page)).startswith("welcome")
    assert rp.logins[-1].claims["sub"] == expected_sub  # type: ignore[index]

    # userinfo with the access token; revoked, it no longer answers.
    token = rp.logins[-1].token["access_token"]  # type: ignore[index]
    async with httpx.AsyncClient() as http:
        info = await http.get(rp.config["userinfo_endpoint"], headers={"authorization": f"Bearer {token}"})
        assert info.status_code == 200 and info.json()["sub"] == expected_sub
        revoked = await http.post(rp.config["revocation_endpoint"], data={"token": token},
                                  auth=(rp.client_id, rp.client_secret))
        assert revoked.status_code == 200
        after = await http.get(rp.config["userinfo_endpoint"], headers={"authorization": f"Bearer {token}"})
        assert after.status_code == 401

    # Both logins are in the user's ログイン履歴 with the tenant's name.
    with session_scope(svc.engine) as s:
        events = s.exec(select(LoginEvent).where(LoginEvent.oidc_client_id.is_not(None))).all()  # type: ignore[union-attr]
        assert len(events) == 2 and all(e.certificate_serial == stack.serial for e in events)
        device = s.exec(select(Device).where(Device.certificate_serial == stack.serial)).one()
        assert device.last_login_at is not None and device.last_login_at >= max(e.at for e in events)
    await page.goto(f"{stack.account}/account/history")
    history = await page.inner_text("main") if await page.locator("main").count() else await page.inner_text("body")
    assert history.count("Example Shop") == 2
    listed = json.loads(await page.evaluate("fetch('/api/v1/me/logins').then(r => r.text())"))
    assert [entry["website"] for entry in listed].count("Example Shop") == 2

    # A replayed code is refused, and the tokens it gave are revoked.
    assert (await _login(stack, page)).startswith("welcome")
    used = rp.logins[-1]
    with pytest.raises(OAuthError) as replay:
        await rp.exchange(used.code, used.verifier)
    assert replay.value.error == "invalid_grant"
    async with httpx.AsyncClient() as http:
        gone = await http.get(rp.config["userinfo_endpoint"],
                              headers={"authorization": f"Bearer {used.token['access_token']}"})  # type: ignore[index]
        assert gone.status_code == 401

    # A missing or wrong PKCE verifier is refused.
    assert await _login(stack, page, hold=True) == "held"
    with pytest.raises(OAuthError) as wrong:
        await rp.exchange(rp.logins[-1].code, "x" * 50)
    assert wrong.value.error == "invalid_grant"
    assert await _login(stack, page, hold=True) == "held"
    with pytest.raises(OAuthError) as missing:
        await rp.exchange(rp.logins[-1].code, None)
    assert missing.value.error == "invalid_request"

    # A wrong redirect URI: certdesk says so itself and sends the browser nowhere.
    query = urlencode({"response_type": "code", "client_id": rp.client_id, "scope": "openid",
                       "redirect_uri": "https://evil.example/callback", "state": "s", "nonce": "n",
                       "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                       "code_challenge_method": "S256"})
    answer = await page.goto(f"{rp.config['authorization_endpoint']}?{query}")
    assert answer is not None and answer.status == 400 and page.url.startswith(stack.account)
    assert "ログイン要求が正しくありません" in await page.inner_text("#oidc-refused")

    # A request without PKCE goes back to the website as an error.
    no_pkce = urlencode({"response_type": "code", "client_id": rp.client_id, "scope": "openid",
                         "redirect_uri": rp.redirect_uri, "state": "s2"})
    async with httpx.AsyncClient(verify=False) as http:  # noqa: S501 (the dev port's self-signed certificate)
        refused = await http.get(f"{rp.config['authorization_endpoint']}?{no_pkce}")
        assert refused.status_code == 302 and "error=invalid_request" in refused.headers["location"]
        assert refused.headers["location"].startswith(rp.redirect_uri) and "state=s2" in refused.headers["location"]


async def test_another_tenants_site_and_a_revoked_certificate_are_refused(stack: Stack, browser: Browser) -> None:
    svc, rp = stack.svc, stack.rp
    other = await stack.client(svc.other, redirect_uris=[rp.redirect_uri])
    assert other.status_code == 201
    other_rp = RelyingParty(rp.issuer, other.json()["client_id"], other.json()["client_secret"], rp.base_url,
                            config=rp.config)
    page = await stack.page(browser)
    # Example Shop's user, at Other Shop's website: refused before any consent.
    async with other_rp.oauth() as client:
        url, _ = client.create_authorization_url(rp.config["authorization_endpoint"], code_verifier="v" * 50,
                                                 nonce="n")
    answer = await page.goto(url)
    assert answer is not None and answer.status == 403
    assert "このウェブサイト用ではありません" in await page.inner_text("#oidc-refused")

    # Revoked: no more logins anywhere.
    revoked = await svc.http.post(f"/api/v1/login-certificates/{stack.serial}/revoke", headers=svc.tenant,
                                  json={"reason": "keyCompromise"})
    assert revoked.status_code == 200
    await page.goto(f"{rp.base_url}/login")
    assert "失効" in await page.inner_text("#oidc-refused")
    assert not rp.logins

    # The client API: another tenant's clients are not listed; a bad redirect URI is said next to its field.
    listed = await svc.http.get("/api/v1/clients", headers=svc.tenant)
    assert [c["client_id"] for c in listed.json()] == [rp.client_id] and "client_secret" not in listed.json()[0]
    bad = await stack.client(svc.tenant, redirect_uris=["http://shop.example/cb"])
    assert bad.status_code == 422 and "redirect_uris" in bad.text


async def test_key_rotation_keeps_older_tokens_verifiable_until_they_expire(stack: Stack, browser: Browser) -> None:
    svc, rp = stack.svc, stack.rp
    page = await stack.page(browser)
    assert (await _login(stack, page)).startswith("welcome")
    old = rp.logins[-1]
    old_kid = old.header["kid"]  # type: ignore[index]

    await svc.env.sleep(d.ROTATE_AFTER + timedelta(hours=1))
    await stack.rotate("second")
    assert (await _login(stack, page)).startswith("welcome")
    new_kid = rp.logins[-1].header["kid"]  # type: ignore[index]
    assert new_kid != old_kid
    # The older ID token still verifies with the published keys.
    await rp.validate(old.token["id_token"], old.nonce)  # type: ignore[index]

    # Once every token the old key signed has expired, it leaves the JWKS.
    await svc.env.sleep(d.KEEP_AFTER_RETIREMENT + timedelta(hours=1))
    await stack.rotate("third")
    keys = (await rp.jwks()).as_dict()["keys"]
    assert {k["kid"] for k in keys} == {new_kid}
    with pytest.raises(JoseError):
        jwt.decode(old.token["id_token"], KeySet.import_key_set({"keys": keys}))  # type: ignore[index]
    with session_scope(svc.engine) as s:
        rows = s.exec(select(OidcSigningKey)).all()
        # The private key is sealed: no PEM in the database.
        assert len(rows) == 1 and b"PRIVATE KEY" not in rows[0].sealed_private_key


def test_sub_is_pairwise_and_stable() -> None:
    key = d.sub_key("passphrase")
    assert d.pairwise_sub(key, 1, "u-1") == d.pairwise_sub(key, 1, "u-1")
    assert d.pairwise_sub(key, 1, "u-1") != d.pairwise_sub(key, 2, "u-1")
    assert d.pairwise_sub(d.sub_key("other"), 1, "u-1") != d.pairwise_sub(key, 1, "u-1")


async def test_an_otp_only_user_logs_in_without_a_certificate(stack: Stack, browser: Browser) -> None:
    from domain import totp as totp_rules
    from store import totp

    svc, rp = stack.svc, stack.rp
    totp.configure(svc.engine, svc.settings)  # sealed as the account app unseals
    with session_scope(svc.engine) as s:
        tenant_id = s.exec(select(LoginUser).where(LoginUser.user_id == "u-77")).one().tenant_id
        user = LoginUser(tenant_id=tenant_id, user_id="u-otp", email="otp@example.jp", certificate_name="Otp Hanako",
                         login_method="otp")
        s.add(user)
        s.flush()
        user_id = int(user.id or 0)
        secret = totp.start_enrolment(s, user_id)
    step = totp_rules.step_at(utcnow())
    with session_scope(svc.engine) as s:
        assert totp.confirm_enrolment(s, user_id, totp_rules.code_at_step(secret, step - 1))

    page = await stack.page(browser, with_cert=False)
    await page.goto(f"{rp.base_url}/login")
    await page.fill("#tenant_user_id", "u-otp")
    await page.fill("#otp_code", "000000" if totp_rules.code_at_step(secret, step) != "000000" else "111111")
    await page.click("#allow")
    assert "正しくありません" in await page.inner_text("#oidc-error")
    assert not rp.logins
    await page.fill("#tenant_user_id", "u-otp")
    await page.fill("#otp_code", totp_rules.code_at_step(secret, step))
    await page.click("#allow")
    await page.wait_for_selector("#result")
    claims = rp.logins[-1].claims
    assert claims is not None and claims["amr"] == ["otp"] and claims["acr"] == d.acr("otp")
    assert claims["name"] == "Otp Hanako"
    with session_scope(svc.engine) as s:
        event = s.exec(select(LoginEvent).where(LoginEvent.login_user_id == user_id)).one()
        assert event.certificate_serial == "" and event.oidc_client_id is not None

    # Someone who only knows the user id guesses: the door slows them (429 after the free tries), and
    # their guesses never lock the user's authenticator (issue 14: no lockout turned on its owner).
    wrong = "000000" if totp_rules.code_at_step(secret, totp_rules.step_at(utcnow())) != "000000" else "111111"
    statuses = []
    for _ in range(svc.settings.login_max_failures + 2):
        await page.goto(f"{rp.base_url}/login")
        if not await page.locator("#tenant_user_id").count():
            statuses.append(429)
            break
        await page.fill("#tenant_user_id", "u-otp")
        await page.fill("#otp_code", wrong)
        async with page.expect_response(lambda r: r.request.method == "POST") as answer:
            await page.click("#allow")
        statuses.append((await answer.value).status)
    assert statuses[0] == 422 and statuses[-1] == 429, statuses
    with session_scope(svc.engine) as s:
        assert totp.state(s, user_id) == totp.State(enrolled=True, locked=False, failures=0)


def test_the_operator_registers_a_client(tmp_path: Path) -> None:
    import json

    from tests.stack import run_cli, stack_env

    env = stack_env(tmp_path / "var")
    assert run_cli(env, "tenant", "create", "Example Shop").returncode == 0
    added = run_cli(env, "tenant", "client", "add", "Example Shop", "--redirect-uri", "https://shop.example/cb",
                    "--redirect-uri", "https://shop.example/cb2", "--json")
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["client_id"].startswith("cdc_") and len(data["client_secret"]) > 30
    assert data["redirect_uris"] == ["https://shop.example/cb", "https://shop.example/cb2"]
    bad = run_cli(env, "tenant", "client", "add", "Example Shop", "--redirect-uri", "http://shop.example/cb")
    assert bad.returncode == 2 and "redirect_uris" in bad.stderr
    unknown = run_cli(env, "tenant", "client", "add", "Nobody", "--redirect-uri", "https://x.example/cb")
    assert unknown.returncode == 1 and "Nobody" in unknown.stderr


async def test_a_client_authenticates_with_private_key_jwt(stack: Stack) -> None:
    """No browser: the holder's own HTTPS client presents the certificate and answers the consent form."""
    import re
    import ssl

    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from joserfc.jwk import ECKey

    from certdesk.client_cert_port import dev_tls_certificate

    svc, rp = stack.svc, stack.rp
    key = ECKey.generate_key("P-256", private=True)
    added = await stack.client(svc.tenant, redirect_uris=[rp.redirect_uri], auth_method="private_key_jwt",
                               jwks={"keys": [key.as_dict(private=False)]})
    assert added.status_code == 201 and "client_secret" not in added.json()
    client_id = added.json()["client_id"]

    verifier, nonce = generate_token(48), generate_token(20)
    token_endpoint = rp.config["token_endpoint"]
    async with AsyncOAuth2Client(client_id, key, scope="openid", redirect_uri=rp.redirect_uri,
                                 code_challenge_method="S256", token_endpoint_auth_method="private_key_jwt") as oauth:
        oauth.register_client_auth_method(PrivateKeyJWT(token_endpoint, alg="ES256"))
        url, state = oauth.create_authorization_url(rp.config["authorization_endpoint"], code_verifier=verifier,
                                                    nonce=nonce)
        context = ssl.create_default_context(cafile=str(dev_tls_certificate(svc.settings.data_dir)[0]))
        context.load_cert_chain(*stack.cert)
        async with httpx.AsyncClient(verify=context, headers={"origin": stack.account}) as holder:
            consent = await holder.get(url)
            assert consent.status_code == 200, consent.text
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', consent.text))
            answer = await holder.post(f"{stack.account}/oidc/authorize", data={**fields, "decision": "allow"})
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(rp.redirect_uri) and f"state={state}" in location
        code = re.search(r"code=([^&]+)", location).group(1)  # type: ignore[union-attr]
        token = await oauth.fetch_token(token_endpoint, code=code, code_verifier=verifier)
    saved = rp.client_id
    rp.client_id = client_id  # the ID token's audience is this client
    try:
        _, claims = await rp.validate(token["id_token"], nonce)
    finally:
        rp.client_id = saved
    assert claims["amr"] == ["x509"] and "email" not in claims  # only the scope asked for

    # Each assertion once: the same one again is refused as client authentication.
    from authlib.oauth2.rfc7523 import private_key_jwt_sign

    assertion = private_key_jwt_sign(key, client_id, token_endpoint, alg="ES256")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier, "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    async with httpx.AsyncClient() as http:
        spent_code = await http.post(token_endpoint, data=form)
        assert spent_code.status_code == 400 and spent_code.json()["error"] == "invalid_grant"
        replayed = await http.post(token_endpoint, data=form)
        assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_client"


async def test_the_key_schedule_is_created_once_and_makes_a_key_at_once(local_env: WorkflowEnvironment,
                                                                         settings: Settings, engine: Engine) -> None:
    import uuid

    from certdesk.worker import build_worker
    from processes.client import Processes
    from processes.connection import TemporalHandle
    from processes.schedules import ensure_oidc_key_schedule
    from workflows.oidc_keys import INTERVAL, SCHEDULE_ID

    client = local_env.client
    settings = settings.model_copy(update={"task_queue": f"oidc-{uuid.uuid4().hex[:6]}"})
    handle = client.get_schedule_handle(SCHEDULE_ID)
    try:
        async with build_worker(client, settings):
            processes = Processes(TemporalHandle(settings, client), settings)
            assert await ensure_oidc_key_schedule(processes) is True
            assert await ensure_oidc_key_schedule(processes) is False
            described = await handle.describe()
            assert [i.every for i in described.schedule.spec.intervals] == [INTERVAL]
            assert described.schedule.action.workflow == "OidcKeyRotation"
            while not described.info.recent_actions:  # the run triggered at creation
                await asyncio.sleep(0.1)
                described = await handle.describe()
            run = client.get_workflow_handle(described.info.recent_actions[0].action.workflow_id,
                                             run_id=described.info.recent_actions[0].action.first_execution_run_id)
            assert (await run.result())["created"]  # untyped handle: the result as JSON
        with session_scope(engine) as s:
            assert len(s.exec(select(OidcSigningKey)).all()) == 1
    finally:
        await handle.delete()


async def test_a_user_whose_method_needs_both_presents_the_certificate_and_a_code(stack: Stack,
                                                                                  browser: Browser) -> None:
    from domain import totp as totp_rules
    from store import totp

    svc, rp = stack.svc, stack.rp
    totp.configure(svc.engine, svc.settings)
    with session_scope(svc.engine) as s:
        user = s.exec(select(LoginUser).where(LoginUser.user_id == "u-77")).one()
        user.login_method = "certificate+otp"
        s.add(user)
        user_id = int(user.id or 0)
        secret = totp.start_enrolment(s, user_id)
    step = totp_rules.step_at(utcnow())
    with session_scope(svc.engine) as s:
        assert totp.confirm_enrolment(s, user_id, totp_rules.code_at_step(secret, step - 1))
    wrong = "000000" if totp_rules.code_at_step(secret, step) != "000000" else "111111"

    # The certificate names the user; the code is asked as well, and a wrong one counts (they hold the certificate).
    page = await stack.page(browser)
    await page.goto(f"{rp.base_url}/login")
    assert await page.locator("#tenant_user_id").count() == 0
    await page.fill("#otp_code", wrong)
    await page.click("#allow")
    assert "正しくありません" in await page.inner_text("#oidc-error")
    with session_scope(svc.engine) as s:
        assert totp.state(s, user_id).failures == 1
    assert not rp.logins
    await page.fill("#otp_code", totp_rules.code_at_step(secret, step))
    await page.click("#allow")
    await page.wait_for_selector("#result")
    claims = rp.logins[-1].claims
    assert claims is not None and claims["amr"] == ["mfa", "otp", "x509"]
    assert claims["acr"] == d.acr("certificate+otp")

    # Without the certificate, a right code is not enough (told as a wrong code: nothing is revealed).
    bare = await stack.page(browser, with_cert=False)
    await bare.goto(f"{rp.base_url}/login")
    await bare.fill("#tenant_user_id", "u-77")
    await bare.fill("#otp_code", totp_rules.code_at_step(secret, step + 1))
    await bare.click("#allow")
    assert "正しくありません" in await bare.inner_text("#oidc-error")
    assert len(rp.logins) == 1
