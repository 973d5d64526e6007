"""Keys and files at rest (issue 14, finding 6): a strong KDF, no start in production without a
passphrase, files 0600 and folders 0700."""

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from ca import at_rest, authority
from domain.pki.errors import CaConfigurationError
from domain.pki.hierarchy import SIGNING_CAS, encrypt_key
from domain.pki.key_encryption import (
    PBKDF2_ITERATIONS,
    WRAPPED_ITERATIONS,
    kdf_iterations,
    open_login_key,
    seal_login_key,
)
from domain.settings import Settings
from store import passphrase
from store.db import session_scope
from store.models import CaRecord
from store.signers import decrypt

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    """``at_rest.prepare`` sets the process's umask (as ``certdesk up`` does): give it back."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_encrypted_with_pbkdf2_at_600000_iterations() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = encrypt_key(key, "correct horse")
    assert PBKDF2_ITERATIONS >= 600_000 and kdf_iterations(pem) == PBKDF2_ITERATIONS
    loaded = serialization.load_pem_private_key(pem.encode(), b"correct horse")
    assert loaded.private_numbers() == key.private_numbers()  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(pem.encode(), b"wrong horse")
    # OpenSSL reads it as plain PKCS#8 too (a key can leave certdesk with standard tools).
    opened = subprocess.run(["openssl", "pkey", "-passin", "pass:correct horse", "-noout"], input=pem.encode(),
                            capture_output=True)
    assert opened.returncode == 0, opened.stderr


def test_keys_written_before_with_the_old_kdf_are_still_read(engine: Engine, settings: Settings) -> None:
    authority.ensure_hierarchy(engine, settings)
    with session_scope(engine) as s:
        row = s.get(CaRecord, "login-ca")
        assert row is not None
        cert_pem = row.cert_pem
    signer = authority.signer(engine, settings, "login-ca")
    old = signer.private_key.private_bytes(  # what encrypt_key wrote before: PBKDF2 at 2,048 iterations
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"test passphrase")).decode()
    assert kdf_iterations(old) < 10_000
    assert decrypt("login-ca", cert_pem, old, "test passphrase").private_key.public_key() == \
        signer.private_key.public_key()


def test_the_hierarchy_is_stored_with_the_strong_kdf_in_private_files(engine: Engine, settings: Settings) -> None:
    at_rest.prepare(settings)
    authority.ensure_hierarchy(engine, settings)
    key_dir = settings.resolved_ca_key_dir
    files = sorted(key_dir.iterdir())
    assert len(files) == len(SIGNING_CAS)
    assert _mode(key_dir) == 0o700 and _mode(settings.data_dir) == 0o700
    for path in files:
        assert _mode(path) == 0o600, path
        assert kdf_iterations(path.read_text()) == PBKDF2_ITERATIONS, path
    with session_scope(engine) as s:  # the OCSP responders' keys, in the database
        responders = [r.key_pem for r in s.exec(select(CaRecord)).all() if r.key_pem]
    assert responders and all(kdf_iterations(k) == PBKDF2_ITERATIONS for k in responders)


def test_files_and_folders_are_made_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # noqa: S103 (a folder left open before, to be closed)
    (data / "certdesk.db").write_text("")
    os.chmod(data / "certdesk.db", 0o644)
    (data / "certdesk.db-wal").write_text("")
    os.chmod(data / "certdesk.db-wal", 0o644)
    settings = Settings(data_dir=data)  # development: no passphrase configured
    at_rest.prepare(settings)
    passphrase.passphrase(settings)  # development: a random one, stored in the data dir
    stored = data / passphrase.FILE_NAME
    for path in (data / "certdesk.db", data / "certdesk.db-wal", stored):
        assert _mode(path) == 0o600, path
    for path in (data, settings.resolved_ca_key_dir):
        assert _mode(path) == 0o700, path
    created = data / "later.txt"  # what the process creates from now on is private too
    created.write_text("x")
    assert _mode(created) == 0o600


def test_production_without_a_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaConfigurationError, match="CERTDESK_CA_PASSPHRASE must be set in production"):
        at_rest.prepare(Settings(data_dir=tmp_path, production=True))
    at_rest.prepare(Settings(data_dir=tmp_path, production=True, ca_passphrase=SecretStr("a long phrase")))
    assert not (tmp_path / passphrase.FILE_NAME).exists()


@pytest.mark.parametrize("command", [["-m", "certdesk.cli", "up"], ["-m", "certdesk.worker"]])
def test_up_and_the_worker_refuse_to_start_in_production_without_a_passphrase(tmp_path: Path,
                                                                             command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}
    env.update(CERTDESK_PRODUCTION="true", CERTDESK_DATA_DIR=str(tmp_path / "var"))
    started = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=60)
    assert started.returncode != 0
    assert "CERTDESK_CA_PASSPHRASE must be set in production" in started.stdout + started.stderr
    assert not (tmp_path / "var" / "certdesk.db").exists() and not (tmp_path / "var" / "ca-keys").exists()


def test_undelivered_login_keys_are_sealed_under_a_wrapping_key_and_old_ones_still_open() -> None:
    """seal_login_key stretches the passphrase once per process, not once per key; a key sealed the
    old way (600,000 rounds on the passphrase itself) still opens, and a wrong passphrase opens neither."""
    key = ec.generate_private_key(ec.SECP256R1())
    sealed = seal_login_key(key, "correct horse")
    assert kdf_iterations(sealed) == WRAPPED_ITERATIONS
    old = encrypt_key(key, "correct horse")
    for pem in (sealed, old):
        assert open_login_key(pem, "correct horse").private_numbers() == key.private_numbers()  # type: ignore[union-attr]
        with pytest.raises(ValueError):
            open_login_key(pem, "wrong horse")
    with pytest.raises(ValueError):  # the passphrase alone does not open the new seal: the wrapping key does
        serialization.load_pem_private_key(sealed.encode(), b"correct horse")
