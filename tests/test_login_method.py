"""L-5 (付録 2): the login method, the authenticator app's enrolment, and the OTP check logins use."""

import base64
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pyotp
import pytest
from sqlalchemy import Engine, update
from sqlmodel import col, select

from api.login_account import create_account_app
from domain import totp as t
from domain.pki.hierarchy import CLIENT_CA
from domain.settings import Settings
from processes.client import Processes
from processes.connection import TemporalHandle
from store import accounts, certificates, totp
from store.db import session_scope
from store.models import AuditEvent, LoginTotp, LoginUser, Tenant, utcnow
from tests.login_service import Service
from tests.stack import run_cli, stack_env
from tests.test_login_account import CSRF, _holder


def _user(engine: Engine, user_id: str = "u-1") -> int:
    tenant_id, _ = accounts.create_tenant(engine, f"Shop of {user_id}")
    with session_scope(engine) as s:
        user = LoginUser(tenant_id=tenant_id, user_id=user_id, email=f"{user_id}@example.jp",
                         certificate_name="Kato Jiro")
        s.add(user)
        s.flush()
        return int(user.id or 0)


def _enrolled(engine: Engine, settings: Settings, login_user_id: int) -> str:
    totp.configure(engine, settings)
    with session_scope(engine) as s:
        secret = totp.start_enrolment(s, login_user_id)
    with session_scope(engine) as s:
        # The first code confirms; it is then used, as by a login.
        assert totp.confirm_enrolment(s, login_user_id, pyotp.TOTP(secret).at(utcnow() - timedelta(seconds=30)))
    return secret


def test_secret_is_sealed_at_rest_and_bound_to_its_user(settings: Settings, engine: Engine) -> None:
    uid = _user(engine)
    secret = _enrolled(engine, settings, uid)
    with session_scope(engine) as s:
        row = s.get(LoginTotp, uid)
        assert row is not None and row.secret_sealed is not None and row.pending_sealed is None
        assert secret not in row.secret_sealed
        key = t.seal_key("test passphrase")
        assert t.unseal(key, uid, row.secret_sealed) == secret
        assert t.unseal(key, uid + 1, row.secret_sealed) is None  # copied to another row: opens nothing
        assert t.unseal(t.seal_key("another"), uid, row.secret_sealed) is None
        assert not any(secret in str(e.details) for e in s.exec(select(AuditEvent)).all())


def test_check_code_accepts_once_and_locks_after_the_limit(settings: Settings, engine: Engine) -> None:
    uid = _user(engine)
    secret = _enrolled(engine, settings, uid)
    code = pyotp.TOTP(secret).now()
    with session_scope(engine) as s:
        assert totp.check_code(s, uid, code)
    with session_scope(engine) as s:
        assert not totp.check_code(s, uid, code)  # the same code again (RFC 6238 §5.2)
        assert totp.state(s, uid).failures == 1
    with session_scope(engine) as s:
        # An earlier step's code after a later one was accepted: refused too.
        assert not totp.check_code(s, uid, pyotp.TOTP(secret).at(utcnow() - timedelta(seconds=30)))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(settings.secret_answer_max_attempts - 2):
        with session_scope(engine) as s:
            assert not totp.check_code(s, uid, wrong)
    with session_scope(engine) as s:
        assert totp.state(s, uid).locked
        # Locked: even the right next code is refused.
        assert not totp.check_code(s, uid, pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30)))
        locks = s.exec(select(AuditEvent).where(AuditEvent.action == "login_user.otp_locked")).all()
        assert len(locks) == 1
    with session_scope(engine) as s:
        assert totp.unlock(s, uid, "staff:desk")
    with session_scope(engine) as s:
        assert totp.check_code(s, uid, pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30)))
        assert totp.state(s, uid) == totp.State(True, False, 0)


def test_a_failure_counts_even_when_the_caller_rolls_back(settings: Settings, engine: Engine) -> None:
    uid = _user(engine)
    secret = _enrolled(engine, settings, uid)
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 1) % 1_000_000:06d}"
    try:
        with session_scope(engine) as s:
            assert not totp.check_code(s, uid, wrong)
            raise LookupError("the caller answers with an error")
    except LookupError:
        pass
    with session_scope(engine) as s:
        assert totp.state(s, uid).failures == 1


def test_no_authenticator_app_means_no_code_and_nothing_counted(settings: Settings, engine: Engine) -> None:
    uid = _user(engine)
    totp.configure(engine, settings)
    with session_scope(engine) as s:
        assert not totp.check_code(s, uid, "123456")
        totp.start_enrolment(s, uid)
    with session_scope(engine) as s:
        assert not totp.check_code(s, uid, "123456")  # pending, not confirmed
        assert totp.state(s, uid) == totp.State(False, False, 0)


def test_a_wrong_first_code_keeps_the_enrolment_pending(settings: Settings, engine: Engine) -> None:
    uid = _user(engine)
    totp.configure(engine, settings)
    with session_scope(engine) as s:
        secret = totp.start_enrolment(s, uid)
    right = pyotp.TOTP(secret).now()
    with session_scope(engine) as s:
        assert not totp.confirm_enrolment(s, uid, f"{(int(right) + 1) % 1_000_000:06d}")
        assert totp.pending_secret(s, uid) == secret
    with session_scope(engine) as s:
        assert totp.confirm_enrolment(s, uid, right)
        assert totp.pending_secret(s, uid) is None and totp.state(s, uid).enrolled


# --- the pages (付録 2): select → 次へ → confirm → 実行, over the account app ---------------------

SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')


@pytest.fixture
async def account(service: Service) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:  # noqa: F811
    settings = service.settings.model_copy(update={"trusted_proxies": "127.0.0.1"})  # ASGITransport's
    app = create_account_app(settings)
    app.state.processes = Processes(TemporalHandle(settings, service.env.client), settings)
    pem = _holder(settings, service.engine, "u-5")
    with session_scope(service.engine) as s:
        s.exec(update(Tenant).where(col(Tenant.name) == "Shop of u-5").values(login_methods="certificate,otp"))

    def browser(lang: str = "ja") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://account.test",
                                 headers={settings.client_cert_header: quote(pem, safe=""), "accept-language": lang,
                                          "origin": "https://account.test"})
    yield browser


def _method(engine: Engine) -> str:
    with session_scope(engine) as s:
        return s.exec(select(LoginUser).where(LoginUser.user_id == "u-5")).one().login_method


async def test_switch_to_otp_and_back(service: Service, account: Callable[[str], httpx.AsyncClient]) -> None:
    engine = service.engine
    async with account("ja") as me:
        page = await me.get("/account/login-method")
        assert page.status_code == 200 and "ログイン方法の変更" in page.text and 'value="otp"' in page.text
        assert 'value="certificate+otp"' not in page.text  # not in this contract
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]

        refused = await me.post("/account/login-method", data={"csrf_token": csrf, "method": "certificate+otp"})
        assert refused.status_code == 422 and "ご契約内容で選択できる" in refused.text
        same = await me.post("/account/login-method", data={"csrf_token": csrf, "method": "certificate"})
        assert same.status_code == 422 and "現在と同じ" in same.text

        confirm = await me.post("/account/login-method", data={"csrf_token": csrf, "method": "otp"})
        assert confirm.status_code == 200 and "実行" in confirm.text
        assert 'src="data:image/svg+xml;base64,' in confirm.text
        secret = SECRET.search(confirm.text).group(1)  # type: ignore[union-attr]
        right = pyotp.TOTP(secret).now()
        wrong = await me.post("/account/login-method/execute",
                              data={"csrf_token": csrf, "method": "otp", "code": f"{(int(right) + 1) % 10**6:06d}"})
        assert wrong.status_code == 400 and "一致しません" in wrong.text
        assert SECRET.search(wrong.text).group(1) == secret  # type: ignore[union-attr]  # the same app to confirm
        assert _method(engine) == "certificate"

        done = await me.post("/account/login-method/execute", data={"csrf_token": csrf, "method": "otp", "code": right})
        assert done.status_code == 200 and "ログイン方法を変更しました" in done.text
        assert _method(engine) == "otp"
        mail = await service.wait_for_mail("ログイン方法変更のお知らせ")
        assert "ワンタイムパスワード" in mail.body and "u-5" in mail.body

        # The certificate is not revoked: it still opens these pages, and switches back.
        back = await me.post("/account/login-method", data={"csrf_token": csrf, "method": "certificate"})
        assert back.status_code == 200 and 'name="code"' not in back.text
        done = await me.post("/account/login-method/execute", data={"csrf_token": csrf, "method": "certificate"})
        assert done.status_code == 200 and _method(engine) == "certificate"
        await service.wait_for_mail("ログイン方法変更のお知らせ", count=2)

    with session_scope(engine) as s:
        user = s.exec(select(LoginUser).where(LoginUser.user_id == "u-5")).one()
        cert = certificates.known_certificate(s, CLIENT_CA, user.certificate_serial or "")
        assert cert.state == "issued"
        changes = s.exec(select(AuditEvent).where(AuditEvent.action == "login_user.login_method_changed")).all()
        assert [c.details["method"] for c in changes] == ["otp", "certificate"]
        assert not any(secret in str(e.details) for e in s.exec(select(AuditEvent)).all())


async def test_english_pages_and_a_contract_that_offers_nothing(
        service: Service, account: Callable[[str], httpx.AsyncClient]) -> None:
    async with account("en") as me:
        page = await me.get("/account/login-method")
        assert "Change login method" in page.text and "One-time password" in page.text
        with session_scope(service.engine) as s:
            s.exec(update(Tenant).where(col(Tenant.name) == "Shop of u-5").values(login_methods="certificate"))
        page = await me.get("/account/login-method")
        assert "does not allow changing" in page.text and 'name="method"' not in page.text
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        refused = await me.post("/account/login-method", data={"csrf_token": csrf, "method": "otp"})
        assert refused.status_code == 422 and "Choose a login method your contract allows" in refused.text
    assert _method(service.engine) == "certificate"


async def test_between_otp_methods_the_enrolled_app_is_asked_and_locks(
        service: Service, account: Callable[[str], httpx.AsyncClient]) -> None:
    engine = service.engine
    with session_scope(engine) as s:
        s.exec(update(Tenant).where(col(Tenant.name) == "Shop of u-5")
               .values(login_methods="certificate,otp,certificate+otp"))
        uid = int(s.exec(select(LoginUser).where(LoginUser.user_id == "u-5")).one().id or 0)
        s.exec(update(LoginUser).where(col(LoginUser.id) == uid).values(login_method="otp"))
    secret = _enrolled(engine, service.settings, uid)
    async with account("ja") as me:
        page = await me.get("/account/login-method")
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        confirm = await me.post("/account/login-method", data={"csrf_token": csrf, "method": "certificate+otp"})
        assert 'name="code"' in confirm.text and "totp-qr" not in confirm.text  # its code, no new QR code
        wrong = f"{(int(pyotp.TOTP(secret).now()) + 1) % 10**6:06d}"
        for _ in range(service.settings.secret_answer_max_attempts):
            answer = await me.post("/account/login-method/execute",
                                   data={"csrf_token": csrf, "method": "certificate+otp", "code": wrong})
            assert answer.status_code == 400
        assert "ロックされています" in answer.text and 'name="code"' not in answer.text
        assert _method(engine) == "otp"
        # Locked, the certificate alone still switches back (support unlocks the app).
        done = await me.post("/account/login-method/execute", data={"csrf_token": csrf, "method": "certificate"})
        assert done.status_code == 200 and _method(engine) == "certificate"
        locked = await me.post("/account/login-method", data={"csrf_token": csrf, "method": "otp"})
        assert "ロックされています" in locked.text and "totp-qr" not in locked.text


async def test_turning_otp_on_again_enrols_a_new_app(service: Service,
                                                     account: Callable[[str], httpx.AsyncClient]) -> None:
    """A phone lost (or replaced) while on the certificate: the next OTP method enrols afresh."""
    engine = service.engine
    with session_scope(engine) as s:
        uid = int(s.exec(select(LoginUser).where(LoginUser.user_id == "u-5")).one().id or 0)
    old = _enrolled(engine, service.settings, uid)
    async with account("ja") as me:
        page = await me.get("/account/login-method")
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        confirm = await me.post("/account/login-method", data={"csrf_token": csrf, "method": "otp"})
        new = SECRET.search(confirm.text).group(1)  # type: ignore[union-attr]
        assert new != old
        refused = await me.post("/account/login-method/execute",
                                data={"csrf_token": csrf, "method": "otp", "code": pyotp.TOTP(old).now()})
        assert refused.status_code == 400 and _method(engine) == "certificate"
        done = await me.post("/account/login-method/execute",
                             data={"csrf_token": csrf, "method": "otp", "code": pyotp.TOTP(new).now()})
        assert done.status_code == 200 and _method(engine) == "otp"
    with session_scope(engine) as s:
        row = s.get(LoginTotp, uid)
        assert row is not None and t.unseal(t.seal_key("test passphrase"), uid, row.secret_sealed or "") == new


def test_support_unlocks_with_the_command_line(settings: Settings, engine: Engine, database_url: str,
                                               tmp_path: Path) -> None:
    uid = _user(engine)
    secret = _enrolled(engine, settings, uid)
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 1) % 10**6:06d}"
    for _ in range(settings.secret_answer_max_attempts):
        with session_scope(engine) as s:
            assert not totp.check_code(s, uid, wrong)
    env = stack_env(tmp_path / "var", CERTDESK_DATABASE_URL=database_url)
    done = run_cli(env, "tenant", "unlock-otp", "Shop of u-1", "u-1")
    assert done.returncode == 0 and "unlocked" in done.stdout, done.stderr
    again = run_cli(env, "tenant", "unlock-otp", "Shop of u-1", "u-1")
    assert again.returncode == 0 and "was not locked" in again.stdout
    unknown = run_cli(env, "tenant", "unlock-otp", "Shop of u-1", "nobody")
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr
    with session_scope(engine) as s:
        assert totp.state(s, uid) == totp.State(True, False, 0)
        unlocked = s.exec(select(AuditEvent).where(AuditEvent.action == "login_user.otp_unlocked")).one()
        assert unlocked.actor == "operator"


# --- domain/totp.py ------------------------------------------------------------------------------

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()  # RFC 6238 Appendix B, SHA-1


@pytest.mark.parametrize(("unix", "code"), [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"),
                                            (2000000000, "279037")])
def test_rfc_6238_vectors(unix: int, code: str) -> None:
    """Appendix B's 8-digit values, as the 6 digits authenticator apps show (their last six)."""
    at = datetime.fromtimestamp(unix, UTC)
    assert t.code_at_step(RFC_SECRET, t.step_at(at)) == code
    assert t.matching_step(RFC_SECRET, code, at) == t.step_at(at)


def test_codes_within_one_step_either_side_and_typed_loosely() -> None:
    at = datetime.fromtimestamp(1111111109, UTC)
    step = t.step_at(at)
    for offset in (-1, 0, 1):
        assert t.matching_step(RFC_SECRET, t.code_at_step(RFC_SECRET, step + offset), at) == step + offset
    for far in (-2, 2):
        assert t.matching_step(RFC_SECRET, t.code_at_step(RFC_SECRET, step + far), at) is None
    assert t.matching_step(RFC_SECRET, "081 804", at) == step
    assert t.matching_step(RFC_SECRET, "０８１８０４", at) == step  # full-width digits from a Japanese IME
    assert t.matching_step(RFC_SECRET, "81804", at) is None and t.matching_step(RFC_SECRET, "", at) is None


def test_enrolment_qr_code() -> None:
    uri = t.provisioning_uri(RFC_SECRET, "u-1", "Example Shop")
    assert uri.startswith("otpauth://totp/Example%20Shop:u-1?") and f"secret={RFC_SECRET}" in uri
    data = t.qr_data_uri(uri)
    assert data.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(data.split(",", 1)[1]).startswith(b"<?xml")
