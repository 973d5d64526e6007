"""An answer a person cannot get again, kept so that only the browser that asked can read it.

The download password is shown once (L-1, manual section 2 (3)). When the answer that carried it
is lost (a crash, a dropped connection) the same browser may ask again within a short window and
gets the same password. It is kept sealed (AES-256-GCM) under a key derived from the browser's
step cookie, which the server stores only as a hash or not at all: the database alone never
reveals it, and another browser's cookie opens nothing. The cookie is 192 random bits, so HKDF
is enough; a slow hash would add nothing.
"""

import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


@dataclass(frozen=True)
class SealedAnswer:
    """What the step answered, and what it was asked (a fingerprint, so a retry with another
    question or answer is not mistaken for the same step)."""

    download_password: str
    asked: str


def fingerprint(*asked: str) -> str:
    """A digest of what the person entered; kept only inside the seal."""
    return hashlib.sha256("\x00".join(asked).encode()).hexdigest()


def _key(browser_secret: str, context: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"certdesk answer seal {context}".encode())
    return AESGCM(hkdf.derive(browser_secret.encode()))


def seal(browser_secret: str, context: str, answer: SealedAnswer) -> bytes:
    """``context`` names the enrollment and step; it binds the seal to them."""
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps({"p": answer.download_password, "a": answer.asked}).encode()
    return nonce + _key(browser_secret, context).encrypt(nonce, plain, context.encode())


def unseal(browser_secret: str, context: str, sealed: bytes) -> SealedAnswer | None:
    """The answer, or None when this browser did not seal it (or it was sealed for another step)."""
    if len(sealed) <= NONCE_BYTES:
        return None
    try:
        plain = _key(browser_secret, context).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
    except InvalidTag:
        return None
    values = json.loads(plain)
    return SealedAnswer(str(values["p"]), str(values["a"]))
