"""An EC private key that stays on a PKCS#11 token, in the shape ``cryptography`` signs with.

``CertificateBuilder.sign``, ``CertificateRevocationListBuilder.sign`` and
``OCSPResponseBuilder.sign`` accept any ``ec.EllipticCurvePrivateKey`` and call its ``sign``
with the TBS bytes (checked with cryptography 50): this one hashes them, has the token sign the
digest (CKM_ECDSA, so any hash works with any token), DER-encodes (r, s) and checks the result
with the public key before handing it out (a faulty token never yields a bad certificate).
Everything that would reveal the key raises.
"""

from __future__ import annotations

from typing import Any, NoReturn, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


class TokenSigner(Protocol):
    def sign_digest(self, label: str, digest: bytes) -> bytes:
        """The raw PKCS#11 ECDSA signature (r || s) of ``digest`` by the private key labelled ``label``."""


class TokenEcKey(ec.EllipticCurvePrivateKey):
    def __init__(self, token: TokenSigner, label: str, public: ec.EllipticCurvePublicKey) -> None:
        self._token = token
        self.label = label
        self._public = public

    def sign(self, data: utils.Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TypeError(f"the token key {self.label} signs with ECDSA only")
        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, utils.Prehashed):
            prehashed, digest = algorithm, bytes(data)
        else:
            h = hashes.Hash(algorithm)
            h.update(data)
            prehashed, digest = utils.Prehashed(algorithm), h.finalize()
        raw = self._token.sign_digest(self.label, digest)
        half = len(raw) // 2
        signature = utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        try:
            self._public.verify(signature, digest, ec.ECDSA(prehashed))
        except InvalidSignature:
            raise RuntimeError(f"the token's signature with {self.label} does not verify; not used") from None
        return signature

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.curve.key_size

    def _stays_on_the_token(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError(f"the private key {self.label} is on the PKCS#11 token and cannot leave it")

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        self._stays_on_the_token()

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        self._stays_on_the_token()

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        self._stays_on_the_token()

    def __copy__(self) -> TokenEcKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenEcKey:
        return self

    def __repr__(self) -> str:
        return f"<TokenEcKey {self.label} {self._public.curve.name}>"

