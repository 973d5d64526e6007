"""The CA store on a real database: hierarchy once, issuance once per request, revocation, CRLs."""

import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from ca import authority
from domain.pki import errors as pki_errors
from domain.pki import hierarchy
from domain.pki.key_encryption import open_login_key
from domain.pki.lint import LintProfile, lint_certificate, lint_crl
from domain.pki.profiles import OrganisationSubject
from domain.settings import Settings
from store import certificates
from store import passphrase as store_passphrase
from store.db import session_scope
from store.models import AuditEvent, CaRecord, CertificateRecord

PUBLIC = "http://pki.certdesk-test.com"
SUBJECT = OrganisationSubject("JP", "Example KK", "Tokyo", "Chiyoda-ku")


def make_csr(*names: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM).decode()


@pytest.fixture
def pki_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": PUBLIC, "ca_passphrase": SecretStr("test passphrase 123")})


@pytest.fixture
def ready(engine: Engine, pki_settings: Settings) -> tuple[Engine, Settings]:
    assert authority.ensure_hierarchy(engine, pki_settings) is True
    return engine, pki_settings


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(Encoding.PEM).decode()


def _stored_key(settings: Settings, row: CaRecord) -> str:
    """A signing CA's key is a file in the key store; only a responder's is in its row."""
    if row.name in hierarchy.SIGNING_CAS:
        assert row.key_pem is None
        path = authority.key_store(settings).path(row.name, row.cert_pem)
        assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
        return path.read_text()
    assert row.key_pem is not None
    return row.key_pem


def test_hierarchy_is_created_once_with_encrypted_keys(ready: tuple[Engine, Settings]) -> None:
    engine, settings = ready
    assert authority.ensure_hierarchy(engine, settings) is False
    with session_scope(engine) as s:
        rows = s.exec(select(CaRecord)).all()
    assert sorted(r.name for r in rows) == sorted(hierarchy.HIERARCHY)
    for row in rows:
        key_pem = _stored_key(settings, row)
        assert "ENCRYPTED" in key_pem
        with pytest.raises((TypeError, ValueError)):
            serialization.load_pem_private_key(key_pem.encode(), password=None)
    der = {n: certificates.ca_certificate(engine, n).public_bytes(Encoding.DER) for n in hierarchy.HIERARCHY}
    for name, profile in [("tls-root", LintProfile.ROOT_CA), ("server-ca", LintProfile.TLS_ISSUING_CA),
                          ("server-ocsp", LintProfile.OCSP_RESPONDER),
                          ("client-root", LintProfile.ROOT_CA), ("login-ca", LintProfile.NON_TLS_CA),
                          ("login-ocsp", LintProfile.PKIX)]:
        assert lint_certificate(der[name], profile) == [], (name, profile)
    described = {d.name: d for d in certificates.describe_hierarchy(engine)}
    assert described["server-ca"].issuer == described["tls-root"].subject
    assert described["login-ca"].issuer == described["client-root"].subject
    assert described["tls-root"].subject != described["client-root"].subject


def test_keys_kept_in_the_database_move_to_the_key_store_once(ready: tuple[Engine, Settings]) -> None:
    engine, settings = ready
    keys = authority.key_store(settings)
    with session_scope(engine) as s:  # a hierarchy from before the key store: keys in the rows
        for row in s.exec(select(CaRecord)).all():
            if row.name in hierarchy.SIGNING_CAS:
                row.key_pem = keys.path(row.name, row.cert_pem).read_text()
                keys.path(row.name, row.cert_pem).unlink()
                s.add(row)
    assert authority.ensure_hierarchy(engine, settings) is False
    with session_scope(engine) as s:
        rows = s.exec(select(CaRecord)).all()
        moved = s.exec(select(AuditEvent).where(AuditEvent.action == "ca.keys_moved")).all()
    for row in rows:
        _stored_key(settings, row)
    assert len(moved) == 1 and sorted(moved[0].details["names"]) == sorted(hierarchy.SIGNING_CAS)
    authority._signers.clear()
    assert authority.signer(engine, settings, "server-ca").certificate == certificates.ca_certificate(engine,
                                                                                                      "server-ca")
    authority.ensure_hierarchy(engine, settings)
    with session_scope(engine) as s:
        assert len(s.exec(select(AuditEvent).where(AuditEvent.action == "ca.keys_moved")).all()) == 1


def test_a_missing_key_store_is_named(ready: tuple[Engine, Settings], tmp_path: Path) -> None:
    engine, settings = ready
    authority._signers.clear()
    elsewhere = settings.model_copy(update={"ca_key_dir": tmp_path / "no-such-dir"})
    with pytest.raises(pki_errors.CaConfigurationError, match="CERTDESK_CA_KEY_DIR"):
        authority.signer(engine, elsewhere, "server-ca")
    with pytest.raises(pki_errors.CaConfigurationError, match="does not sign"):
        authority.signer(engine, settings, "server-ocsp")


def test_wrong_passphrase_is_named_and_secret_never_shown(ready: tuple[Engine, Settings]) -> None:
    engine, settings = ready
    wrong = settings.model_copy(update={"ca_passphrase": SecretStr("not the passphrase"),
                                        "database_url": settings.database_url})
    authority._signers.clear()
    with pytest.raises(pki_errors.CaConfigurationError, match="CERTDESK_CA_PASSPHRASE") as err:
        authority.signer(engine, wrong, "server-ca")
    assert "not the passphrase" not in str(err.value)
    authority._signers.clear()


def test_production_requires_a_passphrase_and_a_public_url(engine: Engine, settings: Settings) -> None:
    with pytest.raises(pki_errors.CaConfigurationError, match="CERTDESK_CA_PASSPHRASE"):
        store_passphrase.passphrase(settings.model_copy(update={"production": True, "ca_passphrase": None}))
    prod = settings.model_copy(update={"production": True, "ca_passphrase": SecretStr("x" * 20),
                                       "public_url": "http://127.0.0.1:8000"})
    with pytest.raises(pki_errors.CaConfigurationError, match="CERTDESK_PUBLIC_URL"):
        authority.ensure_hierarchy(engine, prod)
    with session_scope(engine) as s:
        assert s.exec(select(CaRecord)).all() == []  # refused, nothing written


def test_development_stack_tolerates_only_its_own_internal_host(engine: Engine, settings: Settings) -> None:
    dev = settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    assert authority.non_public_url_host(dev) == "127.0.0.1"
    assert authority.ensure_hierarchy(engine, dev)
    issued = authority.issue_server(engine, dev, "dev-1", make_csr("www.example.co.jp"), SUBJECT, 199, "test")
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    findings = lint_certificate(cert.public_bytes(Encoding.DER), LintProfile.OV)
    assert findings and all("127.0.0.1" in (f.message or "") for f in findings)
    assert authority.non_public_url_host(dev.model_copy(update={"public_url": PUBLIC})) is None


def test_server_issuance_is_once_per_request_key_and_lints_clean(
    ready: tuple[Engine, Settings], tmp_path: Path
) -> None:
    engine, settings = ready
    csr = make_csr("www.example.co.jp", "example.co.jp")
    first = authority.issue_server(engine, settings, "application:1", csr, SUBJECT, 199, "staff:sato")
    again = authority.issue_server(engine, settings, "application:1", csr, SUBJECT, 199, "staff:sato")
    assert again == first
    with session_scope(engine) as s:
        rows = s.exec(select(CertificateRecord)).all()
        issued_events = s.exec(select(AuditEvent).where(AuditEvent.action == "certificate.issued")).all()
    assert len(rows) == 1 and rows[0].state == "issued" and rows[0].display_name == "www.example.co.jp"
    assert len(issued_events) == 1
    cert = x509.load_pem_x509_certificate(first.pem.encode())
    assert format(cert.serial_number, "x") == first.serial == rows[0].serial
    assert lint_certificate(cert.public_bytes(Encoding.DER), LintProfile.OV) == []
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc) == timedelta(days=199) - timedelta(seconds=1)
    chain = tmp_path / "chain.pem"
    chain.write_text(_pem(certificates.ca_certificate(engine, "server-ca"))
                     + _pem(certificates.ca_certificate(engine, "tls-root")))
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(first.pem)
    root = tmp_path / "root.pem"
    root.write_text(_pem(certificates.ca_certificate(engine, "tls-root")))
    inter = tmp_path / "inter.pem"
    inter.write_text(_pem(certificates.ca_certificate(engine, "server-ca")))
    out = subprocess.run(["openssl", "verify", "-CAfile", str(root), "-untrusted", str(inter), "-purpose", "sslserver",
                          str(leaf)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith(": OK"), out.stdout + out.stderr


def test_retry_after_a_crash_between_reserve_and_store_signs_with_the_reserved_serial(
    ready: tuple[Engine, Settings],
) -> None:
    engine, settings = ready
    reserved = authority._reserve(engine, "application:crash", issuer="server-ca", kind="server", product="ov",
                           display_name="a.example.co.jp", names=["a.example.co.jp"])
    issued = authority.issue_server(engine, settings, "application:crash", make_csr("a.example.co.jp"), SUBJECT, 90,
                                    "t")
    assert issued.serial == reserved.serial
    with session_scope(engine) as s:
        assert len(s.exec(select(CertificateRecord)).all()) == 1


def test_concurrent_attempts_issue_one_certificate(ready: tuple[Engine, Settings]) -> None:
    engine, settings = ready
    csr = make_csr("b.example.co.jp")
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(
        authority.issue_server(engine, settings, "application:race", csr, SUBJECT, 90, "t").serial)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 4
    with session_scope(engine) as s:
        assert len(s.exec(select(CertificateRecord)).all()) == 1


def test_login_certificate_keeps_an_encrypted_key_and_is_client_auth(ready: tuple[Engine, Settings]) -> None:
    engine, settings = ready
    issued = authority.issue_login(engine, settings, "enrollment:1", "山田 太郎", "tenant:1")
    assert authority.issue_login(engine, settings, "enrollment:1", "山田 太郎", "tenant:1") == issued
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    assert cert.subject.rfc4514_string() == "CN=山田 太郎"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    with session_scope(engine) as s:
        row = s.exec(select(CertificateRecord).where(CertificateRecord.request_key == "enrollment:1")).one()
    assert row.private_key_pem and "ENCRYPTED" in row.private_key_pem
    assert lint_certificate(cert.public_bytes(Encoding.DER), LintProfile.PKIX) == []


@pytest.mark.parametrize("reason", ["unspecified", "keyCompromise", "superseded", "cessationOfOperation",
                                    "affiliationChanged", "privilegeWithdrawn"])
def test_revocation_publishes_a_clean_crl_with_the_reason(ready: tuple[Engine, Settings], reason: str) -> None:
    engine, settings = ready
    issued = authority.issue_server(engine, settings, f"app:{reason}", make_csr("c.example.co.jp"), SUBJECT, 90, "t")
    assert authority.revoke(engine, settings, "server-ca", issued.serial, reason, "staff:sato") is True
    row = certificates.latest_crl(engine, "server-ca")
    assert row is not None and row.entries == 1
    crl = x509.load_der_x509_crl(row.der)
    assert crl.is_signature_valid(certificates.ca_certificate(engine, "server-ca").public_key())
    entry = crl.get_revoked_certificate_by_serial_number(int(issued.serial, 16))
    assert entry is not None
    reasons = [e.value.reason.value for e in entry.extensions if isinstance(e.value, x509.CRLReason)]
    assert reasons == ([] if reason == "unspecified" else [reason])
    assert crl.next_update_utc - crl.last_update_utc <= timedelta(days=10)
    assert lint_crl(row.der, is_arl=False) == []


def test_revoking_twice_is_a_no_op_except_upgrading_to_key_compromise(ready: tuple[Engine, Settings]) -> None:
    engine, settings = ready
    issued = authority.issue_server(engine, settings, "app:twice", make_csr("d.example.co.jp"), SUBJECT, 90, "t")
    assert authority.revoke(engine, settings, "server-ca", issued.serial, "superseded", "timer")
    number = certificates.latest_crl(engine, "server-ca").number
    assert authority.revoke(engine, settings, "server-ca", issued.serial, "superseded", "timer") is False
    assert authority.revoke(engine, settings, "server-ca", issued.serial, "cessationOfOperation", "x") is False
    assert certificates.latest_crl(engine, "server-ca").number == number  # nothing changed, nothing republished
    assert authority.revoke(engine, settings, "server-ca", issued.serial, "keyCompromise", "staff:sato") is True
    crl = x509.load_der_x509_crl(certificates.latest_crl(engine, "server-ca").der)
    entry = crl.get_revoked_certificate_by_serial_number(int(issued.serial, 16))
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    with session_scope(engine) as s:
        row = s.exec(select(CertificateRecord).where(CertificateRecord.serial == issued.serial)).one()
    assert row.revoked_by == "timer"  # the first revocation's time and actor stand


@pytest.mark.parametrize(("serial", "reason", "error"), [
    ("abc123", "superseded", LookupError),
    (None, "certificateHold", ValueError),
    (None, "bogus", ValueError),
])
def test_bad_revocations_change_nothing(ready: tuple[Engine, Settings], serial: str | None, reason: str,
                                        error: type[Exception]) -> None:
    engine, settings = ready
    issued = authority.issue_server(engine, settings, "app:bad", make_csr("e.example.co.jp"), SUBJECT, 90, "t")
    with pytest.raises(error):
        authority.revoke(engine, settings, "server-ca", serial or issued.serial, reason, "t")
    with session_scope(engine) as s:
        assert s.exec(select(CertificateRecord)).one().state == "issued"


def test_crl_numbers_strictly_increase_and_roots_publish_arls(ready: tuple[Engine, Settings]) -> None:
    engine, settings = ready
    assert sorted(authority.publish_missing_crls(engine, settings)) == sorted(hierarchy.CRL_ISSUERS)
    assert authority.publish_missing_crls(engine, settings) == []
    numbers = [authority.publish_crl(engine, settings, "server-ca") for _ in range(3)]
    assert numbers == [2, 3, 4]
    arl = certificates.latest_crl(engine, "tls-root")
    assert arl is not None and lint_crl(arl.der, is_arl=True) == []


def test_login_pkcs12_uses_pbes2_aes256_pbkdf2_and_a_sha256_mac(
    ready: tuple[Engine, Settings], tmp_path: Path
) -> None:
    from domain.credentials import new_download_password
    from domain.pki.profiles import to_pkcs12

    engine, settings = ready
    issued = authority.issue_login(engine, settings, "enrollment:p12", "Suzuki Hanako", "tenant:1")
    with session_scope(engine) as s:
        row = s.exec(select(CertificateRecord).where(CertificateRecord.request_key == "enrollment:p12")).one()
    key = open_login_key(row.private_key_pem, store_passphrase.passphrase(settings))
    password = new_download_password()
    chain = [certificates.ca_certificate(engine, "login-ca")]
    bundle = tmp_path / "login.p12"
    bundle.write_bytes(to_pkcs12(x509.load_pem_x509_certificate(issued.pem.encode()), key, chain, password))
    out = subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", str(bundle), "-passin", f"pass:{password}"],
                         capture_output=True, text=True)
    info = out.stdout + out.stderr
    assert out.returncode == 0, info
    assert "MAC: sha256" in info  # the MAC key derivation keeps its default count (2048)
    assert "PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256" in info  # issue 18: 116-bit password
    wrong = subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", str(bundle), "-passin", "pass:wrong"],
                           capture_output=True, text=True)
    assert wrong.returncode != 0
