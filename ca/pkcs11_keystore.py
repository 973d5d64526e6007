"""CA keys on a PKCS#11 token (CERTDESK_CA_KEYSTORE=pkcs11): an HSM, or SoftHSM2 to try it.

Each root's and issuing CA's key pair is generated on the token, private and sensitive, not
extractable, able to sign and nothing else; the token signs. A key is labelled
``{ca}-{32 hex digits of the SHA-256 of its public key}`` and its CKA_ID is the certificate's
subject key identifier, so a key only ever pairs with certificates of its own public key (and
PKCS#11 tools pair them the usual way). Keys are found by that label and accepted only if the
token says they were made there and never left it (CKA_LOCAL, CKA_NEVER_EXTRACTABLE,
CKA_ALWAYS_SENSITIVE) and they sign for the certificate's public key.

The PIN (CERTDESK_PKCS11_PIN) logs in once per process; it is never logged or shown.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast
from urllib.parse import quote

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pydantic import SecretStr

from ca.token_key import TokenEcKey
from domain.pki.errors import CaConfigurationError
from domain.pki.hierarchy import CaSigner
from domain.pki.lint import CaPrivateKey
from domain.settings import Settings

log = logging.getLogger("certdesk.ca")

T = TypeVar("T")
CURVES = ("secp256r1", "secp384r1")  # what domain/pki/hierarchy.py gives its roots and issuing CAs
_LABEL = re.compile(r"^(?P<name>.+)-(?P<fp>[0-9a-f]{32})$")
# What must be true of a CA key the token holds: made there, never readable, signs only.
PROTECTED = {Attribute.LOCAL: True, Attribute.NEVER_EXTRACTABLE: True, Attribute.ALWAYS_SENSITIVE: True,
             Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.PRIVATE: True}
# The session is gone (token removed, HSM restarted): open a new one and try once more.
_LOST = (p11.SessionHandleInvalid, p11.SessionClosed, p11.DeviceRemoved, p11.TokenNotPresent,
         p11.UserNotLoggedIn, p11.KeyHandleInvalid, p11.ObjectHandleInvalid)


def key_label(name: str, public: ec.EllipticCurvePublicKey) -> str:
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"{name}-{hashlib.sha256(spki).hexdigest()[:32]}"


def key_id(public: ec.EllipticCurvePublicKey) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(public).digest


class Token:
    """One logged-in read/write session per token and process. A PKCS#11 session runs one
    operation at a time, so every use holds the lock (signing takes a millisecond or two)."""

    def __init__(self, module: Path, label: str, pin: str) -> None:
        self.module, self.label = module, label
        self._pin = SecretStr(pin)  # kept to log in again after a lost session; never shown
        self._lock = threading.Lock()
        self._session: pkcs11.Session | None = None
        self._keys: dict[str, pkcs11.PrivateKey] = {}

    def same_pin(self, pin: str) -> bool:
        return hmac.compare_digest(self._pin.get_secret_value().encode(), pin.encode())

    def _open(self) -> pkcs11.Session:
        try:
            token = pkcs11.lib(str(self.module)).get_token(token_label=self.label)
        except p11.NoSuchToken:
            raise CaConfigurationError(f"no PKCS#11 token labelled {self.label!r} in {self.module}; "
                                       "is CERTDESK_PKCS11_TOKEN right?") from None
        except p11.PKCS11Error as exc:
            raise CaConfigurationError(f"the PKCS#11 module {self.module} cannot be used "
                                       f"({type(exc).__name__}); is CERTDESK_PKCS11_MODULE right?") from None
        try:
            return token.open(rw=True, user_pin=self._pin.get_secret_value())
        except p11.UserAlreadyLoggedIn:
            return token.open(rw=True)  # logged in already (login is per process, not per session)
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.PinExpired, p11.PinLocked) as exc:
            raise CaConfigurationError(f"the PKCS#11 token {self.label!r} refused the PIN ({type(exc).__name__}); "
                                       "is CERTDESK_PKCS11_PIN right?") from None
        except p11.PKCS11Error as exc:
            raise CaConfigurationError(f"cannot open the PKCS#11 token {self.label!r} ({type(exc).__name__})") \
                from None

    def run(self, action: Callable[[pkcs11.Session], T]) -> T:
        with self._lock:
            for attempt in (1, 2):
                if self._session is None:
                    self._session = self._open()
                try:
                    return action(self._session)
                except _LOST:
                    self._session, self._keys = None, {}
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

    def private_key(self, session: pkcs11.Session, label: str) -> pkcs11.PrivateKey:
        """The private key labelled ``label`` (cached per session), or NoSuchKey."""
        if label not in self._keys:
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label=label)
            self._keys[label] = key  # type: ignore[assignment]
        return self._keys[label]

    def sign_digest(self, label: str, digest: bytes) -> bytes:
        try:
            return self.run(lambda s: self.private_key(s, label).sign(digest, mechanism=Mechanism.ECDSA))
        except p11.PKCS11Error as exc:
            raise CaConfigurationError(f"the PKCS#11 token {self.label!r} did not sign with {label} "
                                       f"({type(exc).__name__})") from None


_tokens: dict[tuple[Path, str], Token] = {}
_tokens_lock = threading.Lock()


def _token(module: Path, label: str, pin: str) -> Token:
    with _tokens_lock:
        token = _tokens.get((module, label))
        if token is None:
            token = _tokens[(module, label)] = Token(module, label, pin)
        elif not token.same_pin(pin):
            # The token is logged in for this process already; a second PIN could not be checked.
            raise CaConfigurationError(f"the PKCS#11 token {label!r} is open in this process with another "
                                       "CERTDESK_PKCS11_PIN")
        return token


def _unprotected(key: pkcs11.PrivateKey) -> list[str]:
    values = key.get_attributes(list(PROTECTED))
    return [f"CKA_{a.name}={str(wanted).lower()}" for a, wanted in PROTECTED.items() if bool(values.get(a)) != wanted]


class Pkcs11Keystore:
    def __init__(self, token: Token) -> None:
        self.token = token

    @classmethod
    def from_settings(cls, settings: Settings) -> Pkcs11Keystore:
        missing = [f"CERTDESK_{n.upper()}" for n in ("pkcs11_module", "pkcs11_token", "pkcs11_pin")
                   if not getattr(settings, n)]
        if settings.pkcs11_pin is not None and not settings.pkcs11_pin.get_secret_value():
            missing.append("CERTDESK_PKCS11_PIN")
        if missing:
            raise CaConfigurationError(f"CERTDESK_CA_KEYSTORE=pkcs11 needs {', '.join(sorted(set(missing)))}")
        module = Path(settings.pkcs11_module or "")
        if not module.is_file():
            raise CaConfigurationError(f"the PKCS#11 module {module} does not exist; is CERTDESK_PKCS11_MODULE right?")
        pin = settings.pkcs11_pin.get_secret_value() if settings.pkcs11_pin else ""
        return cls(_token(module, settings.pkcs11_token or "", pin))

    @property
    def location(self) -> str:
        return f"pkcs11:token={quote(self.token.label, safe='')}"  # RFC 7512

    def new_key(self, name: str, curve: ec.EllipticCurve) -> CaPrivateKey:
        if curve.name not in CURVES:
            raise CaConfigurationError(f"CA keys on a token are EC {' or '.join(CURVES)}, not {curve.name}")

        def generate(session: pkcs11.Session) -> tuple[str, ec.EllipticCurvePublicKey]:
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve.name)}, local=True)
            # Labelled by the public key, known only once made: a pending label until then.
            public_obj, private_obj = params.generate_keypair(
                label=f"{name}-pending-{secrets.token_hex(8)}", store=True,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                private_template={Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
                public_template={Attribute.PRIVATE: False})
            loaded = serialization.load_der_public_key(encode_ec_public_key(public_obj))
            wrong = _unprotected(private_obj) + ([] if isinstance(loaded, ec.EllipticCurvePublicKey) else ["EC"])
            if wrong:
                private_obj.destroy()
                public_obj.destroy()
                raise CaConfigurationError(f"the PKCS#11 token {self.token.label!r} made a key without "
                                           f"{', '.join(wrong)} as asked; not used")
            public = cast(ec.EllipticCurvePublicKey, loaded)  # anything else was refused above
            label = key_label(name, public)
            for obj in (public_obj, private_obj):
                obj[Attribute.ID] = key_id(public)
                obj[Attribute.LABEL] = label
            return label, public

        label, public = self._run(generate)
        log.info("made the key of %s on PKCS#11 token %s: %s", name, self.token.label, label)
        return TokenEcKey(self.token, label, public)

    def keep(self, name: str, cert_pem: str, key: CaPrivateKey) -> None:
        """Nothing to write: the key was made on the token. A key from elsewhere is refused, never imported."""
        if not (isinstance(key, TokenEcKey) and key.label == key_label(name, _public_key(name, cert_pem))):
            raise CaConfigurationError(f"the key of CA {name!r} was not made on the PKCS#11 token {self.token.label!r}")

    def has(self, name: str, cert_pem: str) -> bool:
        label = key_label(name, _public_key(name, cert_pem))
        return bool(self._run(lambda s: list(s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                                                             Attribute.LABEL: label}))))

    def names(self) -> list[str]:
        labels = self._run(lambda s: [o[Attribute.LABEL] for o in s.get_objects({
            Attribute.CLASS: ObjectClass.PRIVATE_KEY})])
        return sorted({m["name"] for m in map(_LABEL.match, labels) if m})

    def signer(self, name: str, cert_pem: str) -> CaSigner:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        public = _public_key(name, cert_pem)
        label = key_label(name, public)

        def find(session: pkcs11.Session) -> list[str]:
            try:
                return _unprotected(self.token.private_key(session, label))
            except p11.NoSuchKey:
                raise CaConfigurationError(f"the key of CA {name!r} ({label}) is not on the PKCS#11 token "
                                           f"{self.token.label!r}; is CERTDESK_PKCS11_TOKEN right?") from None

        wrong = self._run(find)
        if wrong:
            raise CaConfigurationError(f"the key of CA {name!r} on the PKCS#11 token lacks {', '.join(wrong)}: "
                                       "it may have been imported or be readable; not used")
        key = TokenEcKey(self.token, label, public)
        probe = b"certdesk: does this key belong to " + cert.fingerprint(hashes.SHA256())
        key.sign(probe, ec.ECDSA(hashes.SHA256()))  # verified against the certificate's public key
        return CaSigner(name, cert, key)

    def check(self, certificates: dict[str, str]) -> None:
        for name, cert_pem in certificates.items():
            self.signer(name, cert_pem)

    def _run(self, action: Callable[[pkcs11.Session], T]) -> T:
        try:
            return self.token.run(action)
        except p11.PKCS11Error as exc:
            raise CaConfigurationError(f"the PKCS#11 token {self.token.label!r} failed ({type(exc).__name__})") \
                from None


def _public_key(name: str, cert_pem: str) -> ec.EllipticCurvePublicKey:
    public = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise CaConfigurationError(f"CA {name!r} has a {type(public).__name__}; keys on a token are EC")
    return public
