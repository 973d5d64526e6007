"""Decrypted keys, once per process: a CA's (worker) or a delegated OCSP responder's (web)."""

import threading
from collections.abc import Callable, Iterator

from sqlalchemy import Engine

from domain.pki.errors import CaConfigurationError
from domain.pki.hierarchy import CaMaterial, CaSigner, load_signer


def decrypt(name: str, cert_pem: str, key_pem: str, passphrase: str) -> CaSigner:
    """The signer; a wrong passphrase is named, never shown."""
    try:
        return load_signer(CaMaterial(name, cert_pem, key_pem), passphrase)
    except ValueError:
        raise CaConfigurationError(f"cannot decrypt the key of {name!r}: wrong CERTDESK_CA_PASSPHRASE?") from None


class SignerCache:
    """Signers by (database, name): a key is decrypted the first time it signs, then kept."""

    def __init__(self) -> None:
        self._signers: dict[tuple[str, str], CaSigner] = {}
        self._lock = threading.Lock()

    def get(self, engine: Engine, name: str, load: Callable[[], CaSigner]) -> CaSigner:
        key = (str(engine.url), name)
        with self._lock:
            if key in self._signers:
                return self._signers[key]
        loaded = load()
        with self._lock:
            return self._signers.setdefault(key, loaded)

    def clear(self) -> None:
        """After a key is renewed (and in tests that make many hierarchies)."""
        with self._lock:
            self._signers.clear()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        with self._lock:
            return iter(list(self._signers))
