"""CA keys on a PKCS#11 token (issue 14, finding 6), against a real SoftHSM2 token made here.

CI installs SoftHSM2 (.ci/install-softhsm); without it these tests fail, never skip.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11 import exceptions as p11
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from ca import authority
from ca.keystore import keystore
from ca.pkcs11_keystore import Pkcs11Keystore, key_label
from ca.token_key import TokenEcKey
from domain.pki.errors import CaConfigurationError
from domain.pki.hierarchy import CLIENT_CA, CLIENT_OCSP, SIGNING_CAS, TLS_CA, TLS_OCSP, TLS_ROOT, encrypt_key
from domain.pki.profiles import OrganisationSubject
from domain.settings import Settings
from store import certificates
from store.db import session_scope
from store.models import AuditEvent, CaRecord

ROOT = Path(__file__).resolve().parent.parent
TOKEN, PIN, SO_PIN = "certdesk-test", "4711-pin-0815", "so-pin-12345678"
MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
           "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so")
SUBJECT = OrganisationSubject("JP", "Example KK", "Tokyo", "Chiyoda-ku")


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh SoftHSM2 token in a temp dir; SOFTHSM2_CONF points at it for this process."""
    util = shutil.which("softhsm2-util")
    module = next((m for m in MODULES if Path(m).is_file()), None)
    if util is None or module is None:
        pytest.fail("SoftHSM2 is not installed (softhsm2-util and libsofthsm2.so): run .ci/install-softhsm")
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    made = subprocess.run([util, "--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN, "--pin", PIN],
                          env={**os.environ, **env}, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ.update(env)  # read by the module when it is first initialised, in this process
    yield {"module": module, **env}
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before


@pytest.fixture
def hsm_settings(settings: Settings, softhsm: dict[str, str]) -> Iterator[Settings]:
    authority._signers.clear()
    yield settings.model_copy(update={"ca_keystore": "pkcs11", "pkcs11_module": Path(softhsm["module"]),
                                      "pkcs11_token": TOKEN, "pkcs11_pin": SecretStr(PIN)})
    authority._signers.clear()


def _csr(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM).decode()


def _pem(engine: Engine, name: str) -> str:
    return certificates.ca_certificate(engine, name).public_bytes(Encoding.PEM).decode()


def _store(settings: Settings) -> Pkcs11Keystore:
    store = keystore(settings)
    assert isinstance(store, Pkcs11Keystore)
    return store


def test_the_hierarchy_signs_on_the_token_and_no_key_file_is_written(engine: Engine, hsm_settings: Settings) -> None:
    assert authority.ensure_hierarchy(engine, hsm_settings) is True
    assert authority.publish_missing_crls(engine, hsm_settings)
    key_dir = hsm_settings.resolved_ca_key_dir
    assert not key_dir.exists() or list(key_dir.iterdir()) == []
    assert list(hsm_settings.data_dir.rglob("*.key")) == []
    with session_scope(engine) as s:
        rows = {r.name: r for r in s.exec(select(CaRecord)).all()}
        created = s.exec(select(AuditEvent).where(AuditEvent.action == "ca.hierarchy_created")).one()
    for name in SIGNING_CAS:
        assert rows[name].key_pem is None
    for name in (TLS_OCSP, CLIENT_OCSP):  # the responders' keys stay encrypted in their rows
        assert "ENCRYPTED PRIVATE KEY" in (rows[name].key_pem or "")
    assert created.details["key_store"] == f"pkcs11:token={TOKEN}"
    assert _store(hsm_settings).location == f"pkcs11:token={TOKEN}"
    for name in SIGNING_CAS:
        assert _store(hsm_settings).has(name, rows[name].cert_pem)

    ca = {n: certificates.ca_certificate(engine, n) for n in rows}
    ca[TLS_ROOT].verify_directly_issued_by(ca[TLS_ROOT])
    ca[TLS_CA].verify_directly_issued_by(ca[TLS_ROOT])
    ca[TLS_OCSP].verify_directly_issued_by(ca[TLS_CA])  # the OCSP responder certificate
    ca[CLIENT_OCSP].verify_directly_issued_by(ca[CLIENT_CA])
    assert isinstance(ca[TLS_ROOT].signature_hash_algorithm, hashes.SHA384)  # P-384 root: SHA-384 (BR 7.1.3.2)

    server = authority.issue_server(engine, hsm_settings, "req-hsm-1", _csr("www.example.com"), SUBJECT, 365, "test")
    issued = x509.load_pem_x509_certificate(server.pem.encode())
    issued.verify_directly_issued_by(ca[TLS_CA])
    login = authority.issue_login(engine, hsm_settings, "req-hsm-2", "Taro Yamada", "test")
    x509.load_pem_x509_certificate(login.pem.encode()).verify_directly_issued_by(ca[CLIENT_CA])

    assert authority.revoke(engine, hsm_settings, TLS_CA, server.serial, "keyCompromise", "test")
    crl = certificates.latest_crl(engine, TLS_CA)
    assert crl is not None
    crl_cert = x509.load_der_x509_crl(crl.der)
    assert crl_cert.is_signature_valid(ca[TLS_CA].public_key())  # type: ignore[arg-type]
    assert not crl_cert.is_signature_valid(ca[CLIENT_CA].public_key())  # type: ignore[arg-type]
    assert crl_cert.get_revoked_certificate_by_serial_number(issued.serial_number) is not None
    arl = certificates.latest_crl(engine, TLS_ROOT)
    assert arl is not None and x509.load_der_x509_crl(arl.der).is_signature_valid(
        ca[TLS_ROOT].public_key())  # type: ignore[arg-type]


def test_ocsp_responses_can_be_signed_by_a_token_key(engine: Engine, hsm_settings: Settings) -> None:
    authority.ensure_hierarchy(engine, hsm_settings)
    server = authority.issue_server(engine, hsm_settings, "req-hsm-3", _csr("ocsp.example.com"), SUBJECT, 365, "t")
    issued = x509.load_pem_x509_certificate(server.pem.encode())
    ca = authority.signer(engine, hsm_settings, TLS_CA)
    assert isinstance(ca.private_key, TokenEcKey)
    this_update = issued.not_valid_before_utc
    response = ocsp.OCSPResponseBuilder().add_response(
        cert=issued, issuer=ca.certificate, algorithm=hashes.SHA256(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=this_update, next_update=this_update + timedelta(days=1), revocation_time=None,
        revocation_reason=None).responder_id(ocsp.OCSPResponderEncoding.HASH, ca.certificate).sign(
        ca.private_key, hashes.SHA256())
    ca.certificate.public_key().verify(  # type: ignore[call-arg]
        response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))  # type: ignore[arg-type]


def test_the_keys_cannot_leave_the_token(engine: Engine, hsm_settings: Settings) -> None:
    authority.ensure_hierarchy(engine, hsm_settings)
    store = _store(hsm_settings)
    labels = {}
    for name in SIGNING_CAS:
        cert = certificates.ca_certificate(engine, name)
        labels[name] = (key_label(name, cert.public_key()),  # type: ignore[arg-type]
                        x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest)  # type: ignore[arg-type]

    def inspect(session: pkcs11.Session) -> None:
        wrapper = session.generate_key(KeyType.AES, 256, capabilities=pkcs11.MechanismFlag.WRAP)
        for name, (label, ski) in labels.items():
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            attrs = key.get_attributes([Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.NEVER_EXTRACTABLE,
                                        Attribute.ALWAYS_SENSITIVE, Attribute.LOCAL, Attribute.PRIVATE,
                                        Attribute.DECRYPT, Attribute.DERIVE, Attribute.UNWRAP, Attribute.ID])
            assert attrs[Attribute.SENSITIVE] and not attrs[Attribute.EXTRACTABLE], name
            assert attrs[Attribute.NEVER_EXTRACTABLE] and attrs[Attribute.ALWAYS_SENSITIVE], name
            assert attrs[Attribute.LOCAL] and attrs[Attribute.PRIVATE], name  # made on the token, behind the PIN
            assert not (attrs[Attribute.DECRYPT] or attrs[Attribute.DERIVE] or attrs[Attribute.UNWRAP]), name
            assert attrs[Attribute.ID] == ski, name  # pairs with the certificate's subject key identifier
            with pytest.raises(p11.AttributeSensitive):
                key[Attribute.VALUE]
            with pytest.raises((p11.KeyUnextractable, p11.KeyNotWrappable)):
                wrapper.wrap_key(key, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)

    store.token.run(inspect)
    ca_key = authority.signer(engine, hsm_settings, TLS_CA).private_key
    for leak in (lambda: ca_key.private_numbers(), lambda: encrypt_key(ca_key, "a passphrase")):
        with pytest.raises(TypeError, match="cannot leave"):
            leak()
    assert store.names() == sorted(SIGNING_CAS)


def test_a_restarted_worker_finds_its_keys_on_the_token(engine: Engine, hsm_settings: Settings) -> None:
    authority.ensure_hierarchy(engine, hsm_settings)
    authority._signers.clear()
    assert authority.ensure_hierarchy(engine, hsm_settings) is False  # checks each key signs for its certificate
    ca = authority.signer(engine, hsm_settings, CLIENT_CA)
    assert isinstance(ca.private_key, TokenEcKey) and ca.private_key.public_key() == ca.certificate.public_key()
    login = authority.issue_login(engine, hsm_settings, "req-hsm-4", "Hanako Sato", "test")
    x509.load_pem_x509_certificate(login.pem.encode()).verify_directly_issued_by(ca.certificate)


def test_a_hierarchy_whose_keys_are_not_on_the_token_is_refused(engine: Engine, settings: Settings,
                                                                hsm_settings: Settings) -> None:
    assert authority.ensure_hierarchy(engine, settings) is True  # the file store
    authority._signers.clear()
    with pytest.raises(CaConfigurationError, match="CERTDESK_PKCS11_TOKEN"):
        authority.ensure_hierarchy(engine, hsm_settings)
    with pytest.raises(CaConfigurationError, match="is not on the PKCS#11 token"):
        authority.signer(engine, hsm_settings, TLS_CA)
    with session_scope(engine) as s:  # keys from before the key store: never imported into a token
        row = s.get(CaRecord, TLS_CA)
        assert row is not None
        row.key_pem = authority.key_store(settings).read(TLS_CA, row.cert_pem)  # type: ignore[attr-defined]
        s.add(row)
    with pytest.raises(CaConfigurationError, match="not on the token"):
        authority.ensure_hierarchy(engine, hsm_settings)


def test_settings_are_named_and_the_pin_never_shown(hsm_settings: Settings, softhsm: dict[str, str]) -> None:
    for update, named in (({"pkcs11_pin": None}, "CERTDESK_PKCS11_PIN"),
                          ({"pkcs11_token": None, "pkcs11_module": None},
                           "CERTDESK_PKCS11_MODULE, CERTDESK_PKCS11_TOKEN"),
                          ({"pkcs11_module": Path("/nonexistent/libnothing.so")}, "CERTDESK_PKCS11_MODULE"),
                          ({"pkcs11_token": "no-such-token"}, "CERTDESK_PKCS11_TOKEN")):
        with pytest.raises(CaConfigurationError, match=named):
            keystore(hsm_settings.model_copy(update=update)).names()
    # A wrong PIN, in a fresh process (this one is logged in to the token already).
    script = ("import sys; from pathlib import Path; from pydantic import SecretStr; "
              "from ca.keystore import keystore; from domain.settings import Settings\n"
              "s = Settings(data_dir=Path(sys.argv[1]), ca_keystore='pkcs11', pkcs11_module=Path(sys.argv[2]), "
              "pkcs11_token=sys.argv[3], pkcs11_pin=SecretStr(sys.argv[4]))\n"
              "keystore(s).names()\n")
    wrong = "wrong-pin-9876"
    run = subprocess.run([sys.executable, "-c", script, str(hsm_settings.data_dir), softhsm["module"], TOKEN, wrong],
                         cwd=ROOT, env={**os.environ, "SOFTHSM2_CONF": softhsm["SOFTHSM2_CONF"]},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "CaConfigurationError" in run.stderr and "CERTDESK_PKCS11_PIN" in run.stderr, run.stderr
    assert wrong not in run.stderr + run.stdout
