"""Creating accounts (operator CLI now; the staff desk later). Secrets are returned once, stored hashed."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from domain import credentials
from domain import throttle as throttle_policy
from domain.email_address import NotAnEmailAddress, normalise_email
from store import audit, certificates, throttle
from store.db import session_scope
from store.models import Customer, StaffUser, Tenant, utcnow

STAFF_ROLES = ("support", "supervisor")
OPERATOR = "operator"  # the audit actor for the command line


class AccountError(ValueError):
    """Bad input for an account; nothing was written."""


@dataclass(frozen=True)
class NewCustomer:
    id: int
    access_key: str
    initial_password: str
    password_version: int
    password_expires_at: datetime


def _email(address: str) -> str:
    """The address alone, normalised (domain.email_address: the one rule); ``AccountError`` otherwise."""
    try:
        return normalise_email(address)
    except NotAnEmailAddress:
        raise AccountError(f"{address!r} is not an email address") from None


def create_tenant(engine: Engine, name: str) -> tuple[int, str]:
    name = name.strip()
    if not name or len(name) > 200:
        raise AccountError("tenant name must be 1 to 200 characters")
    key, key_id, digest = credentials.new_api_key()
    try:
        with session_scope(engine) as s:
            tenant = Tenant(name=name, api_key_id=key_id, api_key_digest=digest)
            s.add(tenant)
            s.flush()
            audit.record(s, OPERATOR, "tenant.created", f"tenant:{tenant.id}", name=name)
            return int(tenant.id or 0), key
    except IntegrityError:
        raise AccountError(f"a tenant named {name!r} already exists") from None


# The portal's own tenant: the login certificates of customers' persons in charge (S-12) are
# registered under it, as any website's users are. Its API key is never given to anyone.
PORTAL_TENANT = "certdesk portal"


def portal_tenant_id(engine: Engine) -> int:
    """The portal's tenant, made the first time it is needed (a concurrent maker may win)."""
    for _ in range(2):
        with session_scope(engine) as s:
            found = s.exec(select(Tenant.id).where(Tenant.name == PORTAL_TENANT)).first()
        if found is not None:
            return int(found)
        try:
            return create_tenant(engine, PORTAL_TENANT)[0]
        except AccountError:
            continue  # made at the same moment elsewhere: read it
    raise AccountError("the portal's tenant could not be made")


def create_customer(engine: Engine, organization: str, email: str, initial_password_ttl: timedelta,
                    now: datetime | None = None) -> NewCustomer:
    organization, email = organization.strip(), email.strip()
    if not organization or len(organization) > 200:
        raise AccountError("organization must be 1 to 200 characters")
    email = _email(email)
    password = credentials.new_initial_password()
    expires = (now or utcnow()) + initial_password_ttl
    for _ in range(20):  # access keys are random; retry the rare collision
        try:
            with session_scope(engine) as s:
                customer = Customer(access_key=credentials.new_access_key(), organization=organization,
                                    email=email, password_hash=credentials.hash_password(password),
                                    password_expires_at=expires)
                s.add(customer)
                s.flush()
                audit.record(s, OPERATOR, "customer.created", f"customer:{customer.id}",
                             organization=organization, email=email)
                return NewCustomer(int(customer.id or 0), customer.access_key, password, 1, expires)
        except IntegrityError:
            continue
    raise AccountError("could not find a free access key; try again")


def create_staff(engine: Engine, username: str, role: str, password: str | None = None,
                 email: str | None = None) -> str:
    username = username.strip()
    if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AccountError("username must be 1 to 64 letters, digits, '.', '-' or '_'")
    if role not in STAFF_ROLES:
        raise AccountError(f"role must be one of {', '.join(STAFF_ROLES)}")
    if email is not None:
        email = _email(email)
    if password is not None and not 12 <= len(password) <= 128:
        raise AccountError("password must be 12 to 128 characters")
    password = password or credentials.new_initial_password(20)
    try:
        with session_scope(engine) as s:
            staff = StaffUser(username=username, role=role, email=email,
                              password_hash=credentials.hash_password(password))
            s.add(staff)
            s.flush()
            audit.record(s, OPERATOR, "staff.created", f"staff:{staff.id}", username=username, role=role)
    except IntegrityError:
        raise AccountError(f"staff user {username!r} already exists") from None
    return password


@dataclass(frozen=True)
class ResetTarget:
    id: int
    access_key: str
    organization: str


def _email_digest(address: str) -> bytes:
    return hashlib.sha256(address.strip().lower().encode()).digest()


def reset_target(engine: Engine, access_key: str, email: str | None = None) -> ResetTarget | None:
    """The customer a password reset is asked for: the one with ``access_key`` (and, given ``email``,
    that address, compared without regard to case). None when there is none.

    The same work whether the key exists and the address matches or not (issue 14): one lookup and
    the two addresses' digests compared in constant time, a made-up address standing in for a
    missing account's, so the answer's timing tells nothing about either.
    """
    with session_scope(engine) as s:
        customer = s.exec(select(Customer).where(Customer.access_key == access_key)).first()
        target = ResetTarget(int(customer.id or 0), customer.access_key, customer.organization) if customer else None
        stored = customer.email if customer else "nobody@reset.invalid"
    if email is None:
        return target
    same = hmac.compare_digest(_email_digest(stored), _email_digest(email))
    return target if same else None


def unlock(engine: Engine, kind: str, name: str, actor: str = OPERATOR) -> bool:
    """Ends the login lock of a staff member (``kind="staff"``, a username) or a customer
    (``"customer"``, an access key) and forgets their failures: for the desk's supervisor and
    ``certdesk staff unlock``. Whether it was locked; ``AccountError`` when there is no such account.
    """
    name = name.strip()
    model, column, what = ((StaffUser, StaffUser.username, "staff user") if kind == throttle_policy.STAFF
                           else (Customer, Customer.access_key, "customer with access key"))
    with session_scope(engine) as s:
        account = s.exec(select(model).where(column == name)).first()
        if account is None:
            raise AccountError(f"no {what} {name!r}")
        key = throttle_policy.name_key(kind, name)
        was_locked = throttle.wait_seconds(engine, [key]) > 0
        throttle.forget(engine, key)
        audit.record(s, actor, f"{kind}.unlocked", f"{kind}:{account.id}", name=name, was_locked=was_locked)
    return was_locked


def customers_awaiting_expiry(engine: Engine) -> list[tuple[int, int, datetime]]:
    """(id, password version, expiry) of every initial password still live: each needs its timer."""
    with session_scope(engine) as s:
        rows = s.exec(select(Customer).where(Customer.password_is_initial, ~Customer.password_expired)).all()
        return [(int(c.id or 0), c.password_version, c.password_expires_at) for c in rows
                if c.password_expires_at is not None]


def bind_client_certificate(engine: Engine, access_key: str, serial: str) -> None:
    """Binds an issued, unrevoked login certificate to the customer as their second factor."""
    from domain.pki.hierarchy import CLIENT_CA

    serial = serial.strip().lower().removeprefix("0x").replace(":", "").lstrip("0") or "0"
    with session_scope(engine) as s:
        customer = s.exec(select(Customer).where(Customer.access_key == access_key)).first()
        if customer is None:
            raise AccountError(f"no customer with access key {access_key!r}")
        cert = certificates.certificate_record(s, CLIENT_CA, serial)
        if cert is None or cert.state != "issued":
            raise AccountError(f"{serial} is not an issued, unrevoked login certificate")
        customer.client_cert_serial = serial
        s.add(customer)
        audit.record(s, OPERATOR, "customer.client_certificate_bound", f"customer:{customer.id}", serial=serial)
