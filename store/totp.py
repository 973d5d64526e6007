"""A login user's authenticator app (L-5): enrolment, and the check every OTP login goes through.

``check_code`` is what a login calls: it counts wrong codes and locks after
``settings.secret_answer_max_attempts`` of them in a row (as the secret answer locks: support
unlocks, ``unlock``), and accepts each time-step once (RFC 6238 §5.2), by a compare-and-set on
``last_step`` so that two requests racing with the same code cannot both pass.

The counts are written in a transaction of their own on the session's engine, so that a caller
answering a wrong code with an error (rolling its own session back) still counts it. On SQLite,
call it before writing anything in that session (a pending write holds the database's lock).

The seal key comes from the settings the app was built with (``configure``, called by the apps
at start); an engine nobody configured uses the environment's settings (``load_settings``).
"""

import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select

from domain import totp
from domain.settings import Settings, load_settings
from store import audit, passphrase
from store.db import session_scope
from store.models import LoginTotp, LoginUser, Tenant, utcnow


class _Config:
    def __init__(self, settings: Settings) -> None:
        self.settings, self.max_attempts = settings, settings.secret_answer_max_attempts
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:  # on first use: an app starts even before the passphrase is set
        if self._key is None:
            self._key = totp.seal_key(passphrase.passphrase(self.settings))
        return self._key


_configs: "weakref.WeakKeyDictionary[Engine, _Config]" = weakref.WeakKeyDictionary()


def configure(engine: Engine, settings: Settings) -> None:
    """Binds the seal key and the attempt limit of ``settings`` to ``engine`` (each app at start)."""
    _configs[engine] = _Config(settings)


def _config(engine: Engine) -> _Config:
    if engine not in _configs:
        configure(engine, load_settings())
    return _configs[engine]


def _engine(s: Session) -> Engine:
    bind = s.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


@dataclass(frozen=True)
class State:
    enrolled: bool  # a confirmed authenticator app
    locked: bool
    failures: int


def state(s: Session, login_user_id: int) -> State:
    row = s.get(LoginTotp, login_user_id)
    if row is None:
        return State(False, False, 0)
    return State(row.secret_sealed is not None, row.locked_at is not None, row.failures)


def check_code(s: Session, login_user_id: int, code: str, count: bool = True) -> bool:
    """Whether ``code`` is the user's current one-time password, not used before; a wrong or reused
    code is counted, and the limit's worth in a row locks (every later code is refused, uncounted).

    ``count=False`` for a guess by someone who named the user without holding anything of theirs
    (the OpenID Connect login without a certificate): the door's throttle slows those, and they must
    not be able to lock the user out (issue 14: no lockout turned on its owner)."""
    row = s.get(LoginTotp, login_user_id)
    if row is None or row.secret_sealed is None:
        return False  # no authenticator app: nothing to guess, nothing counted
    if row.locked_at is not None:
        return False
    engine = _engine(s)
    config = _config(engine)
    now = utcnow()
    secret = totp.unseal(config.key, login_user_id, row.secret_sealed)
    step = totp.matching_step(secret, code, now) if secret is not None else None
    accepted = step is not None and _accept(engine, login_user_id, step, now)
    if not accepted and count:
        _count_failure(engine, login_user_id, config.max_attempts, now)
    s.expire(row)  # the caller's session sees the new counts
    return accepted


def _accept(engine: Engine, login_user_id: int, step: int, now: datetime) -> bool:
    with session_scope(engine) as own:
        done = own.exec(update(LoginTotp)
                        .where(col(LoginTotp.login_user_id) == login_user_id, col(LoginTotp.locked_at).is_(None),
                               or_(col(LoginTotp.last_step).is_(None), col(LoginTotp.last_step) < step))
                        .values(last_step=step, failures=0, updated_at=now))
        return bool(done.rowcount)


def _count_failure(engine: Engine, login_user_id: int, limit: int, now: datetime) -> None:
    with session_scope(engine) as own:
        own.exec(update(LoginTotp).where(col(LoginTotp.login_user_id) == login_user_id)
                 .values(failures=col(LoginTotp.failures) + 1, updated_at=now))
        locked = own.exec(update(LoginTotp)
                          .where(col(LoginTotp.login_user_id) == login_user_id, col(LoginTotp.locked_at).is_(None),
                                 col(LoginTotp.failures) >= limit)
                          .values(locked_at=now))
        if locked.rowcount:
            audit.record(own, f"end_user:{login_user_id}", "login_user.otp_locked", f"login_user:{login_user_id}",
                         failures=limit)


def unlock(s: Session, login_user_id: int, actor: str) -> bool:
    """Support's unlock (the user's identity checked as for the secret answer); whether it was locked."""
    row = s.get(LoginTotp, login_user_id)
    if row is None or row.locked_at is None:
        return False
    row.locked_at, row.failures, row.updated_at = None, 0, utcnow()
    s.add(row)
    audit.record(s, actor, "login_user.otp_unlocked", f"login_user:{login_user_id}")
    return True


def unlock_user(s: Session, tenant_name: str, user_id: str, actor: str) -> bool:
    """``unlock`` for the tenant's user ``user_id`` (the operator's ``certdesk tenant unlock-otp``);
    LookupError when there is no such user."""
    user = s.exec(select(LoginUser).join(Tenant, col(Tenant.id) == col(LoginUser.tenant_id))
                  .where(col(Tenant.name) == tenant_name, col(LoginUser.user_id) == user_id)).first()
    if user is None:
        raise LookupError(f"no user {user_id!r} of tenant {tenant_name!r}")
    return unlock(s, int(user.id or 0), actor)


def start_enrolment(s: Session, login_user_id: int) -> str:
    """A new secret for the authenticator app, kept pending until its first code confirms it; the
    secret, to show as a QR code (never stored plain, logged or audited)."""
    secret = totp.new_secret()
    row = s.get(LoginTotp, login_user_id) or LoginTotp(login_user_id=login_user_id)
    row.pending_sealed, row.updated_at = totp.seal(_config(_engine(s)).key, login_user_id, secret), utcnow()
    s.add(row)
    return secret


def pending_secret(s: Session, login_user_id: int) -> str | None:
    """The secret being enrolled (to show its QR code again after a wrong first code)."""
    row = s.get(LoginTotp, login_user_id)
    if row is None or row.pending_sealed is None:
        return None
    return totp.unseal(_config(_engine(s)).key, login_user_id, row.pending_sealed)


def confirm_enrolment(s: Session, login_user_id: int, code: str) -> bool:
    """The pending secret becomes the user's when ``code`` is one of its codes: the app works. Wrong
    first codes are not counted (only a certificate holder gets here, and the secret is theirs)."""
    row = s.get(LoginTotp, login_user_id)
    secret = pending_secret(s, login_user_id)
    if row is None or secret is None:
        return False
    now = utcnow()
    step = totp.matching_step(secret, code, now)
    if step is None:
        return False
    row.secret_sealed, row.pending_sealed, row.confirmed_at = row.pending_sealed, None, now
    row.last_step, row.failures, row.locked_at, row.updated_at = step, 0, None, now
    s.add(row)
    return True
