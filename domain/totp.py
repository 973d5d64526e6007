"""One-time passwords from an authenticator app (L-5, 付録 2): RFC 6238 TOTP, 6 digits, 30 s steps.

Pure rules: the secret, the enrolment QR code, which time-step a code belongs to, and the seal
that keeps the secret encrypted at rest (AES-256-GCM under a key of its own derived from the CA
passphrase, bound to the login user's row id). The counting and the replay check (RFC 6238
§5.2: a code is accepted once) are ``store.totp``'s.
"""

import base64
import hmac
import io
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg
from cryptography.exceptions import InvalidTag

from domain import server_keys

STEP_SECONDS = 30
DIGITS = 6
# One step either side: a phone's clock a little off, or a code typed as it changes (RFC 6238 §5.2).
WINDOW = 1
NONCE_BYTES = server_keys.NONCE_BYTES


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226 §4 recommends 160), what the authenticator app stores."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI the QR code carries (Key Uri Format of the authenticator apps)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account,
                                                                                     issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """The QR code as an SVG ``data:`` URI, shown by an ``<img>`` (the CSP allows ``img-src data:``)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=4)
    out = io.BytesIO()
    image.save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def step_at(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def normalise_code(code: str) -> str:
    """Digits only: a code typed as "123 456" or with full-width digits is the same code."""
    return "".join(str(int(c)) for c in code if c.isdecimal())


def matching_step(secret: str, code: str, at: datetime, window: int = WINDOW) -> int | None:
    """The time-step whose code ``code`` is, within ``window`` steps of ``at``; None when none is."""
    code = normalise_code(code)
    if len(code) != DIGITS:
        return None
    now = step_at(at)
    found = None
    for step in range(now - window, now + window + 1):  # every step compared: no early exit to time
        if hmac.compare_digest(code_at_step(secret, step), code):
            found = step if found is None else found
    return found


def seal_key(passphrase: str) -> bytes:
    """A key of its own for TOTP secrets, derived from the CA passphrase (as ``enrollment.link_key``)."""
    return server_keys.derive(passphrase, b"certdesk totp secrets v1")


def _context(login_user_id: int) -> bytes:
    return f"login_user:{login_user_id}".encode()


def seal(key: bytes, login_user_id: int, secret: str) -> str:
    """The secret encrypted for one user's row (a sealed secret copied to another row opens nothing)."""
    return base64.b64encode(server_keys.seal(key, secret.encode(), _context(login_user_id))).decode()


def unseal(key: bytes, login_user_id: int, sealed: str) -> str | None:
    """The secret, or None when it was sealed under another key or for another user."""
    raw = base64.b64decode(sealed)
    if len(raw) <= NONCE_BYTES:
        return None
    try:
        return server_keys.unseal(key, raw, _context(login_user_id)).decode()
    except InvalidTag:
        return None
