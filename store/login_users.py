"""Finding a login certificate service user (``LoginUser``) from what they present."""

from sqlmodel import Session, select

from store.models import LoginUser


def user_for_certificate(s: Session, serial: str) -> LoginUser | None:
    """The user whose certificate (lowercase hex serial, already verified against the login CA and our
    revocation records) this is; None for a certificate no user holds any more."""
    return s.exec(select(LoginUser).where(LoginUser.certificate_serial == serial)).first()
