"""The passphrase that encrypts private keys at rest (CA keys, undelivered login keys) and keys link
tokens and the hashes of one-time and download passwords."""

import os
import secrets

from domain.pki.errors import CaConfigurationError
from domain.secret_hashing import HashingKeys
from domain.settings import Settings

FILE_NAME = "ca-passphrase"  # development only: a random passphrase in the data directory


def configured(settings: Settings) -> bool:
    return settings.ca_passphrase is not None and bool(settings.ca_passphrase.get_secret_value())


def passphrase(settings: Settings) -> str:
    """CERTDESK_CA_PASSPHRASE; a development stack without one gets a random one in its data dir."""
    if settings.ca_passphrase is not None and configured(settings):
        return settings.ca_passphrase.get_secret_value()
    if settings.production:
        raise CaConfigurationError("CERTDESK_CA_PASSPHRASE must be set in production")
    path = settings.data_dir / FILE_NAME
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def hashing_keys(settings: Settings) -> HashingKeys:
    """The keys of ``domain.secret_hashing`` (configuration, never in the database they protect)."""
    return HashingKeys.from_passphrase(passphrase(settings))
