"""Where the signing CAs' private keys live: CERTDESK_CA_KEYSTORE chooses.

``file`` (the default): encrypted PKCS#8 files in CERTDESK_CA_KEY_DIR. Apart from the database on
purpose: the web process reads the database but is never given this folder, so it cannot sign a
certificate or a CRL even with the passphrase. Each file is named after its CA and its
certificate's fingerprint, so a key is only ever paired with the certificate it belongs to, and a
hierarchy created twice at the same moment cannot mix keys.

``pkcs11``: a PKCS#11 token (ca/pkcs11_keystore.py); the keys are made on it and never leave it.

The delegated OCSP responders' keys are in neither: they stay encrypted in their database rows.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from domain.pki.errors import CaConfigurationError
from domain.pki.hierarchy import CaSigner, encrypt_key, software_key
from domain.pki.lint import CaPrivateKey
from domain.settings import Settings
from store.passphrase import passphrase
from store.signers import decrypt


class Keystore(Protocol):
    """What the CA needs of a key store: make a CA's key, keep it with its certificate, sign with it."""

    @property
    def location(self) -> str:
        """Where the keys are, for the audit trail and messages (never a secret)."""

    def new_key(self, name: str, curve: ec.EllipticCurve) -> CaPrivateKey:
        """A new key pair for CA ``name`` (its certificate is not made yet)."""

    def keep(self, name: str, cert_pem: str, key: CaPrivateKey) -> None:
        """Keeps ``key`` as the key of ``cert_pem``; once, before the CA's row is committed."""

    def has(self, name: str, cert_pem: str) -> bool: ...

    def names(self) -> list[str]:
        """The CAs that have a key here."""

    def signer(self, name: str, cert_pem: str) -> CaSigner:
        """The CA ready to sign; its key must match its certificate."""

    def check(self, certificates: dict[str, str]) -> None:
        """At start-up: raises CaConfigurationError unless each CA named can be signed for."""


def fingerprint(cert_pem: str) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return cert.fingerprint(hashes.SHA256()).hex()[:32]


class FileKeystore:
    def __init__(self, directory: Path, secret: Callable[[], str]) -> None:
        self.directory = directory
        self._secret = secret  # the passphrase, asked for only when a key is written or read

    @property
    def location(self) -> str:
        return str(self.directory)

    def path(self, name: str, cert_pem: str) -> Path:
        return self.directory / f"{name}-{fingerprint(cert_pem)}.key"

    def has(self, name: str, cert_pem: str) -> bool:
        return self.path(name, cert_pem).exists()

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted({p.name.rsplit("-", 1)[0] for p in self.directory.glob("*.key")})

    def new_key(self, name: str, curve: ec.EllipticCurve) -> CaPrivateKey:
        return software_key(name, curve)

    def keep(self, name: str, cert_pem: str, key: CaPrivateKey) -> None:
        self.write(name, cert_pem, encrypt_key(key, self._secret()))

    def signer(self, name: str, cert_pem: str) -> CaSigner:
        return decrypt(name, cert_pem, self.read(name, cert_pem), self._secret())

    def check(self, certificates: dict[str, str]) -> None:
        """Nothing: the folder is read when a key first signs (the web process never has it)."""

    def write(self, name: str, cert_pem: str, key_pem: str) -> Path:
        """Writes once (0600 in a 0700 folder); an existing file for the same certificate stands."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path(name, cert_pem)
        if target.exists():
            return target
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key_pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        return target

    def read(self, name: str, cert_pem: str) -> str:
        path = self.path(name, cert_pem)
        try:
            return path.read_text()
        except OSError as exc:
            raise CaConfigurationError(f"the key of CA {name!r} cannot be read from {path} "
                                       f"({exc.strerror or type(exc).__name__}); is CERTDESK_CA_KEY_DIR right?") \
                from None


def keystore(settings: Settings) -> Keystore:
    """The key store CERTDESK_CA_KEYSTORE names."""
    if settings.ca_keystore == "pkcs11":
        from ca.pkcs11_keystore import Pkcs11Keystore  # loads the token's module only when chosen

        return Pkcs11Keystore.from_settings(settings)
    return FileKeystore(settings.resolved_ca_key_dir, lambda: passphrase(settings))
