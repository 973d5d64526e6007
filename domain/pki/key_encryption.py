"""Private keys at rest: PKCS#8 ``EncryptedPrivateKeyInfo``, PBES2 with PBKDF2-HMAC-SHA256 at
600,000 iterations and AES-256-CBC.

The passphrase (CERTDESK_CA_PASSPHRASE) may be chosen by a person, so the key derivation must
make each guess cost: ``cryptography``'s ``BestAvailableEncryption`` uses PBKDF2 at 2,048
iterations and its PKCS#8 builder takes no round count, so the structure is written here
(RFC 8018). Any PKCS#8 reader opens it (``openssl pkcs8``, ``load_pem_private_key``), and keys
written before, with fewer iterations, are still read with the same passphrase.
"""

import base64
import functools
import hashlib
import os

from asn1crypto import algos, keys
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PBKDF2_ITERATIONS = 600_000  # OWASP's figure for PBKDF2-HMAC-SHA256


def _passphrase(passphrase: str | bytes) -> bytes:
    data = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if not data:
        raise ValueError("a non-empty passphrase is required to store private keys")
    return data


def encrypt_private_key(key: PrivateKeyTypes, passphrase: str | bytes,
                        iterations: int = PBKDF2_ITERATIONS) -> str:
    """The key as ``-----BEGIN ENCRYPTED PRIVATE KEY-----`` PEM."""
    plain = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    salt, iv = os.urandom(16), os.urandom(16)
    kek = hashlib.pbkdf2_hmac("sha256", _passphrase(passphrase), salt, iterations, 32)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    info = keys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": algos.EncryptionAlgorithm({"algorithm": "pbes2", "parameters": {
            "key_derivation_func": {"algorithm": "pbkdf2", "parameters": {
                "salt": algos.Pbkdf2Salt(name="specified", value=salt), "iteration_count": iterations,
                "prf": {"algorithm": "sha256"}}},
            "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv}}}),
        "encrypted_data": sealed})
    body = base64.encodebytes(info.dump()).decode("ascii").replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN ENCRYPTED PRIVATE KEY-----", *lines, "-----END ENCRYPTED PRIVATE KEY-----", ""])


def kdf_iterations(key_pem: str) -> int:
    """The PBKDF2 iteration count a stored key was encrypted with (0 when it is not PBES2/PBKDF2)."""
    lines = [line for line in key_pem.strip().splitlines() if not line.startswith("-----")]
    info = keys.EncryptedPrivateKeyInfo.load(base64.b64decode("".join(lines)))
    algorithm = info["encryption_algorithm"]
    if algorithm["algorithm"].native != "pbes2":
        return 0
    kdf = algorithm["parameters"]["key_derivation_func"]
    return int(kdf["parameters"]["iteration_count"].native) if kdf["algorithm"].native == "pbkdf2" else 0


# --- undelivered login keys -------------------------------------------------------------------
# A login certificate's key waits in the database, encrypted, until its one download. Stretching
# the passphrase for each key cost two PBKDF2 runs at 600,000 rounds per registration (~240 ms of
# CPU, the largest single cost of a registration: bench/e2e.py --profile). The passphrase is now
# stretched once per process into a 256-bit wrapping key, and each key is sealed under that key
# with a token round count: guessing the passphrase from a stolen row still costs the full
# 600,000 rounds per guess. Keys sealed before (600,000 rounds on the passphrase) still open.
_WRAP_SALT = b"certdesk undelivered login keys v1"
WRAPPED_ITERATIONS = 1_000  # the password is 256 random bits; rounds add nothing but cost


@functools.lru_cache(maxsize=4)
def _wrapping_key(passphrase: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", passphrase, _WRAP_SALT, PBKDF2_ITERATIONS, 32).hex().encode()


def seal_login_key(key: PrivateKeyTypes, passphrase: str | bytes) -> str:
    """An undelivered login key as encrypted PKCS#8 PEM, under the passphrase's wrapping key."""
    return encrypt_private_key(key, _wrapping_key(_passphrase(passphrase)), WRAPPED_ITERATIONS)


def open_login_key(key_pem: str, passphrase: str | bytes) -> PrivateKeyTypes:
    """The key ``seal_login_key`` (or, before it, ``encrypt_private_key`` on the passphrase) sealed."""
    secret = _passphrase(passphrase)
    if kdf_iterations(key_pem) == WRAPPED_ITERATIONS:
        secret = _wrapping_key(secret)
    return serialization.load_pem_private_key(key_pem.encode(), secret)
