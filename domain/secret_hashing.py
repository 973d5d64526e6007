"""Secrets hashed by what they are (issue 18). One pair of functions per kind; every stored form
names its scheme, so a verifier knows what it holds and whether to store a fresh one.

- Random secrets of at least 112 bits (download passwords): nobody can search 2^112 candidates,
  however fast each guess is, so a fast keyed hash is as safe as argon2 and costs microseconds:
  ``blake2b-256$<key id>$<hex>``.
- Short codes that lock after a few tries (one-time passwords): ~27 bits are searched in seconds
  by anything fast, and argon2 only makes that minutes. What protects them at rest is a key the
  database does not hold: ``hmac-sha256$<key id>$<hex>`` under a key derived from the server's
  passphrase (configuration), so a stolen database alone gives nothing to search against.
- Human-chosen secrets (passwords, secret answers): argon2id (``domain.credentials``), slow on
  purpose. Callers in the web process run it off the event loop (``api.hashing_pool``).

Before issue 18 one-time passwords and download passwords were argon2id too: those hashes keep
verifying (slowly; ``is_slow`` tells a caller to use the pool), and the verdict says ``rehash``.
Key ids name the derived key; a hash under another key (a changed passphrase) no longer verifies.
"""

import hashlib
import hmac
from dataclasses import dataclass

from domain import credentials, server_keys

CODE_SCHEME = "hmac-sha256"
RANDOM_SCHEME = "blake2b-256"
_ARGON2 = "$argon2"


@dataclass(frozen=True)
class HashingKeys:
    """Keys of their own for each kind, derived from the server's passphrase (never the passphrase)."""

    codes: bytes
    random: bytes

    @classmethod
    def from_passphrase(cls, passphrase: str) -> "HashingKeys":
        root = server_keys.derive(passphrase, b"certdesk secret hashing v1")
        return cls(codes=hmac.new(root, b"short codes", hashlib.sha256).digest(),
                   random=hmac.new(root, b"random secrets", hashlib.sha256).digest())


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rehash: bool = False  # right, but stored by an older scheme or cost: store a fresh hash if convenient


def key_id(key: bytes) -> str:
    """Names a key in stored hashes without revealing it (8 hex digits of its digest)."""
    return hashlib.sha256(b"certdesk key id\0" + key).hexdigest()[:8]


def is_slow(stored: str) -> bool:
    """An argon2 hash: verifying it costs tens of milliseconds of CPU and memory."""
    return stored.startswith(_ARGON2)


def _keyed(scheme: str, key: bytes, secret: str) -> str:
    data = secret.encode()
    if scheme == CODE_SCHEME:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.blake2b(data, key=key, digest_size=32).hexdigest()


def _hash(scheme: str, key: bytes, secret: str) -> str:
    return f"{scheme}${key_id(key)}${_keyed(scheme, key, secret)}"


def _verify(scheme: str, key: bytes, stored: str, secret: str) -> Verdict:
    if is_slow(stored):
        ok = credentials.verify_password(stored, secret)
        return Verdict(ok, rehash=ok)
    parts = stored.split("$")
    if len(parts) != 3 or parts[0] != scheme or parts[1] != key_id(key):
        return Verdict(False)
    return Verdict(hmac.compare_digest(parts[2], _keyed(scheme, key, secret)))


# --- short codes that lock: one-time passwords -------------------------------------------------

def hash_code(keys: HashingKeys, code: str) -> str:
    return _hash(CODE_SCHEME, keys.codes, code)


def verify_code(keys: HashingKeys, stored: str, code: str) -> Verdict:
    return _verify(CODE_SCHEME, keys.codes, stored, code)


# --- random secrets of at least 112 bits: download passwords ------------------------------------

def hash_random(keys: HashingKeys, secret: str) -> str:
    return _hash(RANDOM_SCHEME, keys.random, secret)


def verify_random(keys: HashingKeys, stored: str, secret: str) -> Verdict:
    return _verify(RANDOM_SCHEME, keys.random, stored, secret)


# --- human-chosen secrets: passwords, secret answers ---------------------------------------------

def hash_chosen(secret: str) -> str:
    return credentials.hash_password(secret)


def verify_chosen(stored: str, secret: str) -> Verdict:
    ok = credentials.verify_password(stored, secret)
    return Verdict(ok, rehash=ok and credentials.needs_rehash(stored))
