"""Account pages with the login certificate (L-2) over the real local HTTPS port.

The certificate comes out of a real registration and download; the HTTPS listener asks for
it and verifies it against the login CA; after revocation it no longer logs in.
"""

import re
import ssl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12
from sqlalchemy import Engine
from sqlmodel import select

from api.login_account import create_account_app
from ca import authority
from certdesk.client_cert_port import account_port_server, dev_tls_certificate
from domain.pki.profiles import LOGIN_DAYS
from domain.settings import Settings
from store import accounts
from store.db import session_scope
from store.models import AuditEvent, EndUserSession, LoginEvent, LoginUser, utcnow
from tests.conftest import free_port, serving
from tests.login_service import Service
from tests.test_client_cert_port import self_signed
from tests.test_login_certificates import download_url_of, register

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _downloaded(svc: Service, tmp: Path) -> tuple[str, tuple[str, str]]:
    """A registered user's certificate serial and (cert file, key file) from the real PKCS#12."""
    invitation = await svc.invite(user_id="u-77", name="Suzuki Ichiro")
    password = await register(svc, invitation, answer="Tama")
    token = download_url_of(await svc.wait_for_mail("電子証明書ダウンロードのご案内"))
    p12 = await svc.http.post(f"/api/v1/downloads/{token}", json={"download_password": password})
    key, cert, _ = pkcs12.load_key_and_certificates(p12.content, password.encode())
    assert key is not None and cert is not None
    cert_file, key_file = tmp / "me.crt", tmp / "me.key"
    cert_file.write_bytes(cert.public_bytes(Encoding.PEM))
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return format(cert.serial_number, "x"), (str(cert_file), str(key_file))


@pytest.fixture
async def account_port(service: Service) -> AsyncIterator[str]:  # noqa: F811
    settings = service.settings.model_copy(update={"tls_port": free_port()})
    async with serving(account_port_server(create_account_app(settings), settings, service.engine)):
        yield f"https://127.0.0.1:{settings.tls_port}"


def _client(base: str, settings_dir: Path, cert: tuple[str, str] | None) -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=str(dev_tls_certificate(settings_dir)[0]))
    if cert:
        context.load_cert_chain(*cert)
    return httpx.AsyncClient(base_url=base, verify=context, headers={"accept-language": "ja"})


async def test_certificate_logs_in_changes_secret_and_after_revocation_is_refused(
    service: Service, account_port: str, tmp_path: Path  # noqa: F811
) -> None:
    svc = service
    serial, cert = await _downloaded(svc, tmp_path)
    data_dir = svc.settings.data_dir

    async with _client(account_port, data_dir, None) as anonymous:
        refused = await anonymous.get("/account")
        assert refused.status_code == 401 and "電子証明書が提示されませんでした" in refused.text
        # A header sent by the client is not a certificate.
        spoofed = await anonymous.get("/api/v1/me", headers={svc.settings.client_cert_header: "x"})
        assert spoofed.status_code == 401

    async with _client(account_port, data_dir, cert) as me:
        page = await me.get("/account")
        assert page.status_code == 200, page.text
        assert "u-77" in page.text and "Suzuki Ichiro" in page.text and serial in page.text
        assert "母親の旧姓は？" in page.text  # the question, never the answer
        info = (await me.get("/api/v1/me")).json()
        assert info["user_id"] == "u-77" and info["status"] == "issued"
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]

        wrong = await me.post("/account/secret", data={"csrf_token": csrf, "current_answer": "Pochi",
                                                       "question_id": "birth_town", "answer": "Kyoto"})
        assert wrong.status_code == 400 and "一致しません" in wrong.text
        no_csrf = await me.post("/account/secret", data={"current_answer": "tama", "question_id": "birth_town",
                                                         "answer": "Kyoto"})
        assert no_csrf.status_code == 403
        changed = await me.post("/account/secret", data={"csrf_token": csrf, "current_answer": " TAMA ",
                                                         "question_id": "birth_town", "answer": "Kyoto"})
        assert changed.status_code == 200 and "変更しました" in changed.text
        assert "生まれた町の名前は？" in (await me.get("/account")).text

        # Page views in one session are one login; logging out ends it, the next visit is another.
        assert len((await me.get("/api/v1/me/logins")).json()) == 1
        assert (await me.post("/account/logout", data={"csrf_token": csrf})).status_code == 200
        history = await me.get("/account/history")
        assert history.text.count("UTC</td>") == 2 and "127.0.0.1" in history.text

    with session_scope(svc.engine) as s:
        assert len(s.exec(select(LoginEvent)).all()) == 2
        details = " ".join(str(a.details) for a in s.exec(select(AuditEvent)).all())
    assert "kyoto" not in details.lower() and "tama" not in details.lower()

    revoked = await svc.http.post(f"/api/v1/login-certificates/{serial}/revoke", headers=svc.tenant,
                                  json={"reason": "keyCompromise"})
    assert revoked.status_code == 200
    async with _client(account_port, data_dir, cert) as me:
        after = await me.get("/account")
        assert after.status_code == 403 and "失効" in after.text


@pytest.mark.parametrize("case", ["expired", "not_yours", "foreign", "garbage"])
async def test_certificates_that_do_not_log_in(case: str, settings: Settings, engine: Engine) -> None:
    """Behind a production TLS terminator: the header is trusted only as far as the CA's records go."""
    authority.ensure_hierarchy(engine, settings)
    tenant_id, _ = accounts.create_tenant(engine, "Example Shop")
    when = utcnow() - timedelta(days=LOGIN_DAYS + 1) if case == "expired" else None
    issued = authority.issue_login(engine, settings, f"key-{case}", "Kato Jiro", "test", now=when)
    with session_scope(engine) as s:
        s.add(LoginUser(tenant_id=tenant_id, user_id="u-9", email="u9@example.jp", certificate_name="Kato Jiro",
                        certificate_serial=None if case == "not_yours" else issued.serial))
    stranger = self_signed(ec.generate_private_key(ec.SECP256R1()), utcnow() + timedelta(days=1))
    pems = {"foreign": stranger.public_bytes(Encoding.PEM).decode(), "garbage": "not a certificate"}
    pem = pems.get(case, issued.pem)
    app = create_account_app(settings.model_copy(update={"trusted_proxies": "127.0.0.1"}))  # ASGITransport's
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://account.test") as http:
        page = await http.get("/account", headers={settings.client_cert_header: quote(pem, safe="")})
        api = await http.get("/api/v1/me", headers={settings.client_cert_header: quote(pem, safe=""),
                                                    "accept-language": "en"})
    assert page.status_code == 403
    assert api.status_code == 403 and api.json()["error"] == ("certificate_unknown" if case == "not_yours"
                                                              else "certificate_invalid")
    with session_scope(engine) as s:
        assert not s.exec(select(LoginEvent)).all()  # no login happened


def _holder(settings: Settings, engine: Engine, user_id: str) -> str:
    """A login user of a new tenant with a fresh login certificate; its PEM."""
    tenant_id, _ = accounts.create_tenant(engine, f"Shop of {user_id}")
    issued = authority.issue_login(engine, settings, f"key-{user_id}", "Kato Jiro", "test")
    with session_scope(engine) as s:
        s.add(LoginUser(tenant_id=tenant_id, user_id=user_id, email=f"{user_id}@example.jp",
                        certificate_name="Kato Jiro", certificate_serial=issued.serial))
    return issued.pem


async def test_cookieless_calls_are_one_login_per_certificate_session(settings: Settings, engine: Engine) -> None:
    """Finding 8: a script calling the API with its certificate and no cookie logs in once, not per call."""
    authority.ensure_hierarchy(engine, settings)
    mine, theirs = _holder(settings, engine, "u-1"), _holder(settings, engine, "u-2")
    app = create_account_app(settings.model_copy(update={"trusted_proxies": "127.0.0.1"}))

    def logins(user_id: str) -> int:
        with session_scope(engine) as s:
            user = s.exec(select(LoginUser).where(LoginUser.user_id == user_id)).one()
            return len(s.exec(select(LoginEvent).where(LoginEvent.login_user_id == user.id)).all())

    async def call(pem: str, path: str = "/api/v1/me") -> httpx.Response:
        # A new client each time: nothing is kept between calls, as with curl.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://account.test",
                                     headers={settings.client_cert_header: quote(pem, safe="")}) as http:
            return (await http.get(path)).raise_for_status()

    for path in ("/api/v1/me", "/api/v1/me/logins", "/account", "/account/history", "/api/v1/me"):
        await call(mine, path)
    await call(theirs)
    assert (logins("u-1"), logins("u-2")) == (1, 1)
    assert len((await call(mine, "/api/v1/me/logins")).json()) == 1

    # Logging out ends the certificate's session: the next call is a new login.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://account.test",
                                 headers={settings.client_cert_header: quote(mine, safe="")}) as browser:
        page = await browser.get("/account")
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        assert (await browser.post("/account/logout", data={"csrf_token": csrf},
                                   headers={"origin": "https://account.test"})).status_code == 200
    await call(mine)
    await call(mine)
    assert (logins("u-1"), logins("u-2")) == (2, 1)
    with session_scope(engine) as s:
        assert len(s.exec(select(EndUserSession)).all()) == 2  # one live session per holder, not per call
