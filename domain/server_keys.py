"""Keys derived from the server's passphrase (CERTDESK_CA_PASSPHRASE), one per purpose, and the
AES-GCM seal that binds what it encrypts to its context (a row, a key id)."""

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


def derive(passphrase: str, purpose: bytes) -> bytes:
    """A 256-bit key for ``purpose`` alone (never the passphrase itself)."""
    return hmac.new(passphrase.encode(), purpose, hashlib.sha256).digest()


def seal(key: bytes, plain: bytes, context: bytes) -> bytes:
    """Nonce and ciphertext; opens only under ``key`` with the same ``context``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plain, context)


def unseal(key: bytes, sealed: bytes, context: bytes) -> bytes:
    """What ``seal`` sealed; ``cryptography``'s ``InvalidTag`` for another key or context."""
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
