"""Finding a login certificate service user (``LoginUser``) from what they present."""

from sqlmodel import Session, select

from store.devices import device_for_serial
from store.models import LoginUser


def user_for_certificate(s: Session, serial: str) -> LoginUser | None:
    """The user whose certificate (lowercase hex serial, already verified against the login CA and our
    revocation records) this is; None for a certificate no user holds any more.

    Any live device's certificate finds its user (L-4); a deleted device's never does, even
    before its revocation is seen. A user without device rows (made before them) is found by
    the certificate on the user's own row."""
    device = device_for_serial(s, serial)
    if device is not None:
        return s.get(LoginUser, device.login_user_id) if device.removed_at is None else None
    return s.exec(select(LoginUser).where(LoginUser.certificate_serial == serial)).first()
