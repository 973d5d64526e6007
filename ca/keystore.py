"""Where the signing CAs' private keys live: encrypted PKCS#8 files in CERTDESK_CA_KEY_DIR.

Apart from the database on purpose: the web process reads the database but is never given
this folder, so it cannot sign a certificate or a CRL even with the passphrase. Each file is
named after its CA and its certificate's fingerprint, so a key is only ever paired with the
certificate it belongs to, and a hierarchy created twice at the same moment cannot mix keys.
"""

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from domain.pki.errors import CaConfigurationError


def _fingerprint(cert_pem: str) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return cert.fingerprint(hashes.SHA256()).hex()[:32]


class KeyStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str, cert_pem: str) -> Path:
        return self.directory / f"{name}-{_fingerprint(cert_pem)}.key"

    def has(self, name: str, cert_pem: str) -> bool:
        return self.path(name, cert_pem).exists()

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
