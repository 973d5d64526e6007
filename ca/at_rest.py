"""What a CA process checks and sets before it opens its data: a passphrase in production, and
files only its own user can read (files 0600, folders 0700).

The data directory holds the database, the key store, the development passphrase and Temporal's
database; copying any of it must need the machine's account, not just a backup's read access.
"""

import os
from pathlib import Path

from sqlalchemy.engine import make_url

from domain.pki.errors import CaConfigurationError
from domain.settings import Settings
from store import passphrase

FILE_MODE, DIR_MODE = 0o600, 0o700


def require_passphrase(settings: Settings) -> None:
    """Production never falls back to a passphrase stored beside the data it protects."""
    if settings.production and not passphrase.configured(settings):
        raise CaConfigurationError(
            "CERTDESK_CA_PASSPHRASE must be set in production: without it the CA keys would be encrypted "
            "with a passphrase kept in the data directory, so a copy of that directory is a copy of the CA")


def _folder(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)


def _file(path: Path) -> None:
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    os.chmod(path, FILE_MODE)


def sqlite_file(settings: Settings) -> Path | None:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def secure(settings: Settings) -> None:
    """From now on this process creates files 0600 and folders 0700 (SQLite's -wal and -shm files
    take the database's mode); what exists already is set so too."""
    os.umask(0o077)
    _folder(settings.data_dir)
    _folder(settings.resolved_ca_key_dir)
    for key_file in settings.resolved_ca_key_dir.iterdir():
        os.chmod(key_file, FILE_MODE)
    database = sqlite_file(settings)
    if database is not None:
        for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
            if path == database or path.exists():
                _file(path)
    stored = settings.data_dir / passphrase.FILE_NAME
    if stored.exists():
        os.chmod(stored, FILE_MODE)


def prepare(settings: Settings) -> None:
    """Start-up of ``certdesk up`` and ``python -m certdesk.worker``: refuse, then secure."""
    require_passphrase(settings)
    secure(settings)
