"""Devices (L-4, manual 付録 1 and 3): 追加 with the contract's limit, 変更, 削除 → revoked in OCSP.

The rules as tables; then the whole path on the time-skipping server: the account pages over
the real local HTTPS port with real client certificates from real PKCS#12 downloads, the
added device's own L-1 registration (OTP by mail, the user's secret question), the tenant API,
OCSP from the web app, and the migration that makes each user's certificate the first device.
"""

import json
import re
import ssl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from alembic import command
from alembic.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12
from cryptography.x509 import ocsp
from sqlalchemy import Engine, text
from sqlmodel import col, select

from api.login_account import create_account_app
from ca import authority
from certdesk.client_cert_port import account_port_server, dev_tls_certificate
from domain import devices as d
from domain.pki.hierarchy import CLIENT_CA
from domain.settings import Settings
from processes.client import Processes
from processes.connection import TemporalHandle
from store import accounts, certificates
from store import devices as store_devices
from store.db import MIGRATIONS_DIR, make_engine, session_scope
from store.models import AuditEvent, Device, Enrollment, LoginUser
from tests.conftest import free_port, serving
from tests.login_service import Service
from tests.stack import run_cli, stack_env
from tests.test_login_certificates import download_url_of, register, token_of

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
INVITATION = "端末追加のご案内（ログイン用電子証明書）"
GUIDE = "電子証明書ダウンロードのご案内"


# --- the rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("email", "confirm", "device_type", "problems"), [
    ("a@example.jp", "a@example.jp", "pc", {}),
    ("ａ＠example.jp", "a@EXAMPLE.jp", "tablet", {}),  # the same address once normalised
    ("a@example.jp", None, "smartphone", {}),  # 変更: no confirmation field
    ("a@example.jp", "b@example.jp", "pc", {"email_confirm": "device_err_email_confirm"}),
    ("not-an-address", "not-an-address", "pc", {"email": "device_err_email"}),
    ("a@example.jp", "a@example.jp", "watch", {"device_type": "device_err_device_type"}),
    ("", "", "", {"email": "device_err_email", "device_type": "device_err_device_type"}),
])
def test_form(email: str, confirm: str | None, device_type: str, problems: dict[str, str]) -> None:
    form, found = d.check_form(email, confirm, device_type)
    assert found == problems
    assert (form is None) == bool(problems)


@pytest.mark.parametrize(("counted", "limit", "may"), [(0, 1, True), (1, 1, False), (2, 3, True), (3, 3, False),
                                                        (4, 3, False)])
def test_limit(counted: int, limit: int, may: bool) -> None:
    assert d.may_add(counted, limit) is may


@pytest.mark.parametrize(("has_cert", "ended", "removed", "state", "counts"), [
    (True, True, False, d.ACTIVE, True), (False, False, False, d.PENDING, True),
    (False, True, False, d.UNFINISHED, False), (True, True, True, d.REMOVED, False),
])
def test_states(has_cert: bool, ended: bool, removed: bool, state: str, counts: bool) -> None:
    assert d.state_of(has_cert, ended, removed) == state
    assert d.counts_toward_limit(state) is counts


@pytest.mark.parametrize(("max_devices", "methods", "problems"), [
    (3, ["certificate"], {}), (None, None, {}), (1, ["certificate", "otp", "certificate+otp"], {}),
    (0, None, {"max_devices": "device_err_max_devices"}), (101, None, {"max_devices": "device_err_max_devices"}),
    (None, [], {"login_methods": "device_err_login_methods"}),
    (None, ["password"], {"login_methods": "device_err_login_methods"}),
])
def test_contract_rules(max_devices: int | None, methods: list[str] | None, problems: dict[str, str]) -> None:
    assert d.contract_problems(max_devices, methods) == problems


# --- end to end ----------------------------------------------------------------------------------

@pytest.fixture
async def account_port(service: Service) -> AsyncIterator[str]:
    settings = service.settings.model_copy(update={"tls_port": free_port()})
    app = create_account_app(settings)
    app.state.processes = Processes(TemporalHandle(settings, service.env.client), settings)  # the test's server
    async with serving(account_port_server(app, settings, service.engine)):
        yield f"https://127.0.0.1:{settings.tls_port}"


def client(base: str, svc: Service, cert: tuple[str, str] | None, lang: str = "ja") -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=str(dev_tls_certificate(svc.settings.data_dir)[0]))
    if cert:
        context.load_cert_chain(*cert)
    return httpx.AsyncClient(base_url=base, verify=context, headers={"accept-language": lang})


async def download(svc: Service, password: str, tmp: Path, name: str, count: int) -> tuple[str, tuple[str, str]]:
    """The ``count``-th download guide's PKCS#12: (serial, (cert file, key file))."""
    token = download_url_of(await svc.wait_for_mail(GUIDE, count))
    p12 = await svc.http.post(f"/api/v1/downloads/{token}", json={"download_password": password})
    assert p12.status_code == 200, p12.text
    key, cert, _ = pkcs12.load_key_and_certificates(p12.content, password.encode())
    assert key is not None and cert is not None
    cert_file, key_file = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(Encoding.PEM))
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return format(cert.serial_number, "x"), (str(cert_file), str(key_file))


async def first_device(svc: Service, tmp: Path, user_id: str = "u-77") -> tuple[str, tuple[str, str]]:
    invitation = await svc.invite(user_id=user_id, name="Suzuki Ichiro")
    password = await register(svc, invitation, answer="Tama")
    return await download(svc, password, tmp, "first", 1)


async def add_device(me: httpx.AsyncClient, email: str, device_type: str = "smartphone") -> httpx.Response:
    """追加 → 確認 → 登録, as the pages are used."""
    form = await me.get("/account/devices/add")
    if form.status_code != 200:
        return form
    csrf = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    confirm = await me.post("/account/devices/add/confirm", data={
        "csrf_token": csrf, "email": email, "email_confirm": email, "device_type": device_type})
    assert confirm.status_code == 200 and email in confirm.text, confirm.text
    return await me.post("/account/devices/add", data={"csrf_token": csrf, "email": email,
                                                         "device_type": device_type})


def invitation_of(mail_body: str) -> tuple[str, str]:
    url = re.search(r"https?://\S+/enroll/\S+", mail_body)
    otp = re.search(r"ワンタイムパスワード\s+(\d+)", mail_body)
    assert url and otp, mail_body
    return token_of(url.group(0)), otp.group(1)


def _leaf(cert_path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(cert_path).read_bytes())


async def ask_ocsp(svc: Service, cert_path: str) -> ocsp.OCSPCertStatus:
    """What the web app's OCSP responder says of the certificate in ``cert_path``."""
    leaf = _leaf(cert_path)
    issuer = certificates.ca_certificate(svc.engine, CLIENT_CA)
    assert issuer is not None
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    answer = await svc.http.post("/ocsp", content=request.public_bytes(Encoding.DER),
                                 headers={"content-type": "application/ocsp-request"})
    return ocsp.load_der_ocsp_response(answer.content).certificate_status


async def test_add_with_limit_change_delete_and_the_deleted_certificate_no_longer_logs_in(
    service: Service, account_port: str, tmp_path: Path
) -> None:
    svc = service
    first_serial, first_cert = await first_device(svc, tmp_path)
    contract = await svc.http.put("/api/v1/contract", headers=svc.tenant, json={"max_devices": 2})
    assert contract.status_code == 200 and contract.json() == {"max_devices": 2, "login_methods": ["certificate"]}
    bad = await svc.http.put("/api/v1/contract", headers=svc.tenant, json={"max_devices": 0, "login_methods": []})
    assert bad.status_code == 422 and {f["field"] for f in bad.json()["fields"]} == {"max_devices", "login_methods"}

    async with client(account_port, svc, first_cert) as me:
        account = await me.get("/account")
        assert 'href="/account/devices"' in account.text
        listed = await me.get("/account/devices")
        assert listed.status_code == 200 and first_serial in listed.text and "2 台まで" in listed.text
        form = await me.get("/account/devices/add")
        csrf = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        # Bad input: a clear message next to its field, and nothing is stored.
        mismatch = await me.post("/account/devices/add/confirm", data={
            "csrf_token": csrf, "email": "phone@example.jp", "email_confirm": "phone@example.com", "device_type": ""})
        assert mismatch.status_code == 422
        assert "メールアドレスとメールアドレス確認が一致しません" in mismatch.text
        assert "端末種別を選択してください" in mismatch.text
        no_csrf = await me.post("/account/devices/add", data={"email": "phone@example.jp", "device_type": "pc"})
        assert no_csrf.status_code == 403

        added = await add_device(me, "phone@example.jp")
        assert added.status_code == 200 and "phone@example.jp 宛てに" in added.text, added.text
        assert "登録手続き中" in added.text
        # The limit: one certificate and one registration under way fill a contract of two.
        full = await add_device(me, "tablet@example.jp", "tablet")
        assert full.status_code == 409 and "上限（2 台）" in full.text
    with session_scope(svc.engine) as s:
        assert len(s.exec(select(Device)).all()) == 2

    # The new device registers as in L-1: the OTP from its own mail, the user's secret question.
    mail = await svc.wait_for_mail(INVITATION)
    assert "phone@example.jp" in mail.recipients
    token, otp = invitation_of(mail.body)
    step = await svc.http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": otp})
    assert step.status_code == 200, step.text
    question = step.json()["questions"][0]["id"]  # the one the first registration chose
    wrong = await svc.http.post(f"/api/v1/enroll/{token}/secret", json={"question_id": question, "answer": "Pochi"})
    assert wrong.status_code == 400 and "一致しません" in wrong.json()["message"]
    secret = await svc.http.post(f"/api/v1/enroll/{token}/secret", json={"question_id": question, "answer": "tama"})
    assert secret.status_code == 200, secret.text
    phone_serial, phone_cert = await download(svc, secret.json()["download_password"], tmp_path, "phone", 2)
    assert phone_serial != first_serial

    with session_scope(svc.engine) as s:
        user = s.exec(select(LoginUser).where(LoginUser.user_id == "u-77")).one()
        assert user.certificate_serial == first_serial  # the primary stays; the new one is added
        assert user.question_id == question
    assert await ask_ocsp(svc, first_cert[0]) == ocsp.OCSPCertStatus.GOOD
    assert await ask_ocsp(svc, phone_cert[0]) == ocsp.OCSPCertStatus.GOOD

    # Both devices log in, each with its own key.
    async with client(account_port, svc, phone_cert, "en") as phone:
        page = await phone.get("/account/devices")
        assert page.status_code == 200 and "In use (this device)" in page.text
        mine = (await phone.get("/api/v1/me/devices")).json()
        assert [x["status"] for x in mine["devices"]] == ["active", "active"] and mine["max_devices"] == 2
    phone_id = mine["devices"][1]["id"]
    first_id = mine["devices"][0]["id"]

    async with client(account_port, svc, first_cert) as me:
        page = await me.get("/account/devices")
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        # 変更: email and type.
        bad = await me.post(f"/account/devices/{phone_id}/edit", data={"csrf_token": csrf, "email": "x",
                                                                       "device_type": "tablet"})
        assert bad.status_code == 422 and "メールアドレスを正しく入力してください" in bad.text
        changed = await me.post(f"/account/devices/{phone_id}/edit", data={
            "csrf_token": csrf, "email": "tablet@example.jp", "device_type": "tablet"})
        assert changed.status_code == 200 and "変更しました" in changed.text and "タブレット" in changed.text
        # The device in use does not delete itself.
        itself = await me.post(f"/account/devices/{first_id}/delete", data={"csrf_token": csrf})
        assert itself.status_code == 409 and "削除できません" in itself.text
        # 削除: confirmation, then the certificate is revoked at once.
        confirm = await me.get(f"/account/devices/{phone_id}/delete")
        assert confirm.status_code == 200 and "直ちに失効" in confirm.text and phone_serial in confirm.text
        deleted = await me.post(f"/account/devices/{phone_id}/delete", data={"csrf_token": csrf})
        assert deleted.status_code == 200 and "失効しました" in deleted.text, deleted.text
        assert phone_serial not in deleted.text

    assert await ask_ocsp(svc, phone_cert[0]) == ocsp.OCSPCertStatus.REVOKED
    assert await ask_ocsp(svc, first_cert[0]) == ocsp.OCSPCertStatus.GOOD
    async with client(account_port, svc, phone_cert) as phone:
        refused = await phone.get("/account")
        assert refused.status_code == 403
    async with client(account_port, svc, first_cert) as me:
        assert (await me.get("/account")).status_code == 200  # the other device is unaffected

    with session_scope(svc.engine) as s:
        actions = [a.action for a in s.exec(select(AuditEvent).where(AuditEvent.action.startswith("device."))).all()]
        assert {"device.added", "device.changed", "device.removed"} <= set(actions)
        details = " ".join(str(a.details) for a in s.exec(select(AuditEvent)).all()).lower()
    assert "tama" not in details and otp not in details


async def test_tenant_lists_and_removes_devices(service: Service, account_port: str, tmp_path: Path) -> None:
    svc = service
    first_serial, first_cert = await first_device(svc, tmp_path, "u-88")
    async with client(account_port, svc, first_cert) as me:
        assert (await add_device(me, "pad@example.jp", "tablet")).status_code == 200
    await svc.wait_for_mail(INVITATION)

    listed = await svc.http.get("/api/v1/users/u-88/devices", headers=svc.tenant)
    assert listed.status_code == 200
    devices = listed.json()["devices"]
    assert [(x["device_type"], x["status"]) for x in devices] == [("pc", "active"), ("tablet", "pending")]
    assert devices[0]["certificate"]["serial"] == first_serial
    assert (await svc.http.get("/api/v1/users/u-88/devices", headers=svc.other)).status_code == 404

    # The pending device: its registration ends, nothing to revoke.
    pending = await svc.http.delete(f"/api/v1/users/u-88/devices/{devices[1]['id']}", headers=svc.tenant)
    assert pending.status_code == 200 and pending.json()["status"] == "removed"
    assert (await svc.http.delete(f"/api/v1/users/u-88/devices/{devices[1]['id']}",
                                  headers=svc.tenant)).status_code == 404
    # The tenant may remove the only device: its certificate is revoked, it no longer logs in.
    other = await svc.http.delete(f"/api/v1/users/u-88/devices/{devices[0]['id']}", headers=svc.other)
    assert other.status_code == 404
    gone = await svc.http.delete(f"/api/v1/users/u-88/devices/{devices[0]['id']}", headers=svc.tenant)
    assert gone.status_code == 200 and gone.json()["certificate"]["status"] == "revoked"
    assert await ask_ocsp(svc, first_cert[0]) == ocsp.OCSPCertStatus.REVOKED
    async with client(account_port, svc, first_cert) as me:
        assert (await me.get("/account")).status_code == 403


def test_cli_sets_the_contract(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "var")
    assert run_cli(env, "tenant", "create", "CLI Shop").returncode == 0
    shown = run_cli(env, "tenant", "contract", "CLI Shop", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout) == {"max_devices": 3, "login_methods": ["certificate"]}
    done = run_cli(env, "tenant", "contract", "CLI Shop", "--max-devices", "5", "--login-methods",
                   "certificate,certificate+otp", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"max_devices": 5, "login_methods": ["certificate", "certificate+otp"]}
    refused = run_cli(env, "tenant", "contract", "CLI Shop", "--max-devices", "0", "--login-methods", "password")
    assert refused.returncode == 2 and "between 1 and 100" in refused.stderr and "login_methods" in refused.stderr
    assert run_cli(env, "tenant", "contract", "No Shop", "--max-devices", "2").returncode == 1


def test_migration_makes_each_certificate_the_first_device(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))

    def upgrade(to: str) -> None:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, to)

    upgrade("0019")
    with engine.begin() as c:
        c.execute(text("INSERT INTO tenant (name, api_key_id, api_key_digest, created_at) "
                       "VALUES ('Old Shop', 'k1', 'd1', '2026-01-01 00:00:00')"))
        tenant_id = c.execute(text("SELECT id FROM tenant WHERE name = 'Old Shop'")).scalar()
        for user_id, serial in (("u-1", "abc1"), ("u-2", None)):
            c.execute(text("INSERT INTO login_user (tenant_id, user_id, email, certificate_name, language, "
                           "certificate_serial, created_at, updated_at) VALUES (:t, :u, :e, 'N', 'ja', :s, "
                           "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"),
                      {"t": tenant_id, "u": user_id, "e": f"{user_id}@example.jp", "s": serial})
    upgrade("0020")
    with engine.connect() as c:
        rows = c.execute(text("SELECT email, device_type, certificate_serial, removed_at FROM device")).all()
        contract = c.execute(text("SELECT max_devices, login_methods FROM tenant")).one()
    assert [tuple(r) for r in rows] == [("u-1@example.jp", "pc", "abc1", None)]
    assert tuple(contract) == (d.DEFAULT_MAX_DEVICES, "certificate")
    engine.dispose()


async def test_a_new_invitation_leaves_the_device_alone_and_its_reissue_stays_on_it(
    service: Service, account_port: str, tmp_path: Path
) -> None:
    svc = service
    first_serial, first_cert = await first_device(svc, tmp_path, "u-99")
    async with client(account_port, svc, first_cert) as me:
        assert (await add_device(me, "phone@example.jp")).status_code == 200
        assert (await me.get("/api/v1/me/devices")).json()["devices"][0]["last_login_at"] is not None
    token, otp = invitation_of((await svc.wait_for_mail(INVITATION)).body)
    # The website invites the user anew meanwhile: that does not replace the device's registration.
    await svc.invite(user_id="u-99", name="Suzuki Ichiro")
    step = await svc.http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": otp})
    assert step.status_code == 200, step.text
    secret = await svc.http.post(f"/api/v1/enroll/{token}/secret",
                                 json={"question_id": step.json()["questions"][0]["id"], "answer": "Tama"})
    assert secret.status_code == 200, secret.text
    phone_serial, _ = await download(svc, secret.json()["download_password"], tmp_path, "phone", 2)

    # The tenant reissues the phone's certificate: the new one is the phone's, the first device's stays.
    started = await svc.http.post(f"/api/v1/login-certificates/{phone_serial}/reissue", headers=svc.tenant,
                                  json={"revoke_old": "immediately"})
    assert started.status_code == 201, started.text
    guide = await svc.wait_for_mail("証明書再発行手順のご案内")
    reissue = re.search(r"/reissue/(\S+)", guide.body).group(1)  # type: ignore[union-attr]
    answer = await svc.http.post(f"/api/v1/reissue/{reissue}/answer", json={"answer": "Tama"})
    assert answer.status_code == 200, answer.text
    new_serial, new_cert = await download(svc, answer.json()["download_password"], tmp_path, "phone2", 3)
    listed = (await svc.http.get("/api/v1/users/u-99/devices", headers=svc.tenant)).json()["devices"]
    assert [(x["email"], x["certificate"]["serial"]) for x in listed] == [
        ("u-99@example.jp", first_serial), ("phone@example.jp", new_serial)]
    with session_scope(svc.engine) as s:
        assert s.exec(select(LoginUser).where(LoginUser.user_id == "u-99")).one().certificate_serial == first_serial
    assert await ask_ocsp(svc, new_cert[0]) == ocsp.OCSPCertStatus.GOOD
    async with client(account_port, svc, new_cert) as phone:
        assert (await phone.get("/account")).status_code == 200


async def test_temporal_down_adds_and_deletes_nothing(settings: Settings, engine: Engine) -> None:
    """Behind a production TLS terminator (the verified certificate in the trusted header), with
    Temporal unreachable: 追加 and 削除 answer 503 and leave every row and certificate as it was."""
    authority.ensure_hierarchy(engine, settings)
    tenant_id, _ = accounts.create_tenant(engine, "Example Shop")
    issued = authority.issue_login(engine, settings, "key-down-1", "Kato Jiro", "test")
    other = authority.issue_login(engine, settings, "key-down-2", "Kato Jiro", "test")
    with session_scope(engine) as s:
        user = LoginUser(tenant_id=tenant_id, user_id="u-9", email="u9@example.jp", certificate_name="Kato Jiro",
                         certificate_serial=issued.serial)
        s.add(user)
        s.flush()
        s.add(Device(login_user_id=int(user.id or 0), email="u9@example.jp", device_type="pc",
                     certificate_serial=issued.serial))
        s.add(Device(login_user_id=int(user.id or 0), email="pad@example.jp", device_type="tablet",
                     certificate_serial=other.serial))
    down = settings.model_copy(update={"trusted_proxies": "127.0.0.1", "temporal_address": "127.0.0.1:1"})
    headers = {settings.client_cert_header: quote(issued.pem, safe=""), "accept": "text/html"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_account_app(down)),
                                 base_url="https://account.test", headers=headers) as http:
        page = await http.get("/account/devices")
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        pad = (await http.get("/api/v1/me/devices")).json()["devices"][1]["id"]
        added = await http.post("/account/devices/add", data={"csrf_token": csrf, "email": "phone@example.jp",
                                                               "device_type": "smartphone"})
        assert added.status_code == 503 and "{" not in added.text.split("<body", 1)[-1][:200]
        deleted = await http.post(f"/account/devices/{pad}/delete", data={"csrf_token": csrf})
        assert deleted.status_code == 503
    with session_scope(engine) as s:
        rows = s.exec(select(Device).order_by(col(Device.id))).all()  # PostgreSQL keeps no order without one
        assert [(r.email, r.removed_at) for r in rows] == [("u9@example.jp", None), ("pad@example.jp", None)]
        assert not s.exec(select(Enrollment)).all()
        assert certificates.known_certificate(s, CLIENT_CA, other.serial).state == "issued"


async def test_a_device_deleted_while_its_certificate_is_handed_over_does_not_keep_it(
    service: Service, account_port: str, tmp_path: Path
) -> None:
    """The deletion lands between the registration's last look and the download (its replace came
    too late): the download still hands the file over, and the certificate is revoked at once."""
    svc = service
    _, first_cert = await first_device(svc, tmp_path, "u-66")
    async with client(account_port, svc, first_cert) as me:
        assert (await add_device(me, "late@example.jp")).status_code == 200
        device_id = (await me.get("/api/v1/me/devices")).json()["devices"][1]["id"]
    token, otp = invitation_of((await svc.wait_for_mail(INVITATION)).body)
    step = await svc.http.post(f"/api/v1/enroll/{token}/otp", json={"one_time_password": otp})
    secret = await svc.http.post(f"/api/v1/enroll/{token}/secret",
                                 json={"question_id": step.json()["questions"][0]["id"], "answer": "Tama"})
    assert secret.status_code == 200, secret.text
    await svc.wait_for_mail(GUIDE, 2)
    with session_scope(svc.engine) as s:
        store_devices.mark_removed(s, device_id, "end_user:test")  # as 削除 does, without its replace
    late_serial, late_cert = await download(svc, secret.json()["download_password"], tmp_path, "late", 2)
    for _ in range(100):
        if await ask_ocsp(svc, late_cert[0]) == ocsp.OCSPCertStatus.REVOKED:
            break
        await svc.env.sleep(timedelta(seconds=1))
    assert await ask_ocsp(svc, late_cert[0]) == ocsp.OCSPCertStatus.REVOKED
    assert await ask_ocsp(svc, first_cert[0]) == ocsp.OCSPCertStatus.GOOD
    async with client(account_port, svc, late_cert) as late:
        assert (await late.get("/account")).status_code == 403
