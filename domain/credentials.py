"""Secrets people type or scripts hold: generation, hashing, verification.

Passwords (chosen or initial) are hashed with argon2id. API keys carry 256 random
bits, so a SHA-256 digest stores them safely and lets each request verify in
microseconds; the key id in front finds the row without a scan. Which hash each other
kind of secret gets (one-time and download passwords, secret answers): ``domain.secret_hashing``.
"""

import hashlib
import hmac
import math
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are RFC 9106's low-memory profile of argon2id.
_hasher = PasswordHasher()

# No look-alikes (0/O, 1/l/I) in passwords read out over the phone or from paper.
_READABLE = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
API_KEY_PREFIX = "cdk"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_initial_password(length: int = 16) -> str:
    return "".join(secrets.choice(_READABLE) for _ in range(length))


def new_download_password() -> str:
    """A PKCS#12 download password of at least 112 bits (P-4), read off a screen and typed once.

    Four groups of five readable characters: 20 * log2(57) = 116.7 bits.
    """
    groups = ("".join(secrets.choice(_READABLE) for _ in range(5)) for _ in range(4))
    return "-".join(groups)


def secret_bits(length: int, alphabet_size: int = len(_READABLE)) -> float:
    return length * math.log2(alphabet_size)


def new_access_key() -> str:
    """The portal's 8-digit access key (no leading zero, so it survives spreadsheets)."""
    return str(secrets.randbelow(90_000_000) + 10_000_000)


def new_api_key() -> tuple[str, str, str]:
    """Returns (full key shown once, key id, digest to store)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"{API_KEY_PREFIX}_{key_id}_{secret}", key_id, api_key_digest(secret)


def api_key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(key: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def api_key_matches(stored_digest: str, secret: str) -> bool:
    return hmac.compare_digest(stored_digest, api_key_digest(secret))
