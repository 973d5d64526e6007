"""Domain validations as people see them (S-2 認証待ち): the rows of an application for the
customer's page and the vetting desk, the customer's choice of method, and what the desk
compares the application with (the customer's account and saved profile).

The rows themselves are written by the DomainValidation workflow's activities
(``activities/vetting.py``); the changes made here are the customer's choice of method, which
keeps the Random Value (the next check simply looks for it the new way), and the constructed
email's link (BR 3.2.2.4.4): found by its token's hash, its wrong entries counted and locked.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from domain.vetting import dcv
from store import audit
from store.db import session_scope
from store.models import Application, Customer, DomainValidation, utcnow

APPLICATION_SUBJECT = "application:"  # a task's ``subject`` for an application (workflows/server_cert_application.py)
EMAIL_MAX_ATTEMPTS = 5  # wrong values entered on a constructed email's link before it stops working


class NotFound(Exception):
    """No such validation on this customer's application."""


class NotPending(Exception):
    """The validation is no longer waiting for the customer: its method cannot change."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


def _ordered(app: Application | None, rows: list[DomainValidation]) -> list[DomainValidation]:
    """In the order of the application's names (the certificate's), any others after them."""
    order = {name: i for i, name in enumerate(app.names)} if app is not None else {}
    return sorted(rows, key=lambda r: (order.get(r.name, len(order)), r.id or 0))


def of_application(engine: Engine, application_id: int) -> list[DomainValidation]:
    """The application's validations, one per name, in the certificate's order."""
    with session_scope(engine) as s:
        app = s.get(Application, application_id)
        rows = list(s.exec(select(DomainValidation).where(DomainValidation.application_id == application_id)
                           .order_by(col(DomainValidation.id))).all())
    return _ordered(app, rows)


def own(engine: Engine, customer_id: int, application_id: int, validation_id: int) -> DomainValidation | None:
    """The validation when it belongs to this customer's application; else None (as if missing)."""
    with session_scope(engine) as s:
        row = s.get(DomainValidation, validation_id)
    if row is None or row.customer_id != customer_id or row.application_id != application_id:
        return None
    return row


def change_method(engine: Engine, actor: str, customer_id: int, application_id: int, validation_id: int,
                  method: str, address: str = "") -> DomainValidation:
    """The customer's choice of method for a pending validation (the value stays); audited.

    ``NotFound`` for another's or a missing validation, ``NotPending`` once it has been
    validated or has expired. Choosing the method it already has changes nothing, except for
    constructed email (``address``, already checked by the caller): another address, or the same
    one once its link has locked, is a new choice (a new mail, a new link; the old link dies).
    Leaving constructed email kills its link and brings the ADN back to the name itself.
    """
    with session_scope(engine) as s:
        row = s.exec(select(DomainValidation).where(DomainValidation.id == validation_id).with_for_update()).first()
        if row is None or row.customer_id != customer_id or row.application_id != application_id:
            raise NotFound()
        if row.state != "pending":
            raise NotPending(row.state)
        before, subject = row.method, f"{APPLICATION_SUBJECT}{application_id}"
        if method == dcv.Method.CONSTRUCTED_EMAIL:
            if before == method and row.email_address == address and row.email_attempts < EMAIL_MAX_ATTEMPTS:
                return row
            row.method, row.email_address, row.validated_domain = method, address, address.partition("@")[2]
            row.email_generation += 1
            row.email_token_hash, row.email_attempts, row.email_sent_at = None, 0, None
            s.add(row)
            audit.record(s, actor, "dcv.email_address_chosen", subject, name=row.name, validation=row.id,
                         address=address, generation=row.email_generation, previous=before)
        elif before != method:
            row.method, row.validated_domain = method, dcv.authorization_domain(row.name)
            row.email_token_hash = None
            s.add(row)
            audit.record(s, actor, "dcv.method_changed", subject, name=row.name, validation=row.id, method=method,
                         previous=before)
        return row


@dataclass(frozen=True)
class EmailLink:
    """What a constructed email's link names: its validation, and what its page shows."""

    validation_id: int
    application_id: int
    name: str
    address: str
    generation: int
    state: str  # the validation's: pending | validated | expired
    expires_at: datetime
    attempts: int
    random_value: str
    organization: str  # the applicant's

    @property
    def usable(self) -> str | None:
        """Why the link no longer takes a value (validated | expired | locked), or None."""
        if self.state != "pending":
            return "validated" if self.state == "validated" else "expired"
        if self.expires_at <= utcnow():
            return "expired"
        return "locked" if self.attempts >= EMAIL_MAX_ATTEMPTS else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def email_link(engine: Engine, token: str) -> EmailLink | None:
    """The link whose token this is (by its hash), while its validation still uses this mail; else None."""
    if not token or len(token) > 100:
        return None
    with session_scope(engine) as s:
        row = s.exec(select(DomainValidation).where(DomainValidation.email_token_hash == token_hash(token))).first()
        if row is None or row.method != dcv.Method.CONSTRUCTED_EMAIL or row.application_id is None:
            return None
        app, customer = s.get(Application, row.application_id), s.get(Customer, row.customer_id)
        organization = str((app.organization if app else {}).get("name") or (customer.organization
                                                                              if customer else ""))
        return EmailLink(int(row.id or 0), row.application_id, row.name, row.email_address or "",
                         row.email_generation, row.state, row.expires_at, row.email_attempts, row.random_value,
                         organization)


def wrong_email_value(engine: Engine, link: EmailLink) -> int:
    """Counts a wrong value entered on the link (while it is still this mail's); the count, audited."""
    with session_scope(engine) as s:
        row = s.exec(select(DomainValidation).where(DomainValidation.id == link.validation_id)
                     .with_for_update()).first()
        if row is None or row.email_generation != link.generation:
            return EMAIL_MAX_ATTEMPTS
        row.email_attempts = min(row.email_attempts + 1, EMAIL_MAX_ATTEMPTS)
        s.add(row)
        audit.record(s, "email_recipient", "dcv.email_wrong_value", f"{APPLICATION_SUBJECT}{link.application_id}",
                     name=row.name, validation=row.id, address=row.email_address, attempts=row.email_attempts)
        return row.email_attempts


def email_value_entered(engine: Engine, link: EmailLink, state: str, reason: str) -> None:
    """The recipient entered the right value and the workflow checked it; audited."""
    with session_scope(engine) as s:
        audit.record(s, "email_recipient", "dcv.email_value_entered", f"{APPLICATION_SUBJECT}{link.application_id}",
                     name=link.name, validation=link.validation_id, address=link.address, state=state, reason=reason)


def recheck_requested(engine: Engine, actor: str, application_id: int) -> None:
    """The customer asked for a look now (the signal has been taken); audited."""
    with session_scope(engine) as s:
        audit.record(s, actor, "dcv.recheck_requested", f"{APPLICATION_SUBJECT}{application_id}")


# --- the vetting desk ------------------------------------------------------------------------------

def application_of_subject(subject: str) -> int | None:
    """The application a task is about (``application:{id}``), else None."""
    prefix, _, rest = subject.partition(":")
    if f"{prefix}:" != APPLICATION_SUBJECT or not rest.isdigit():
        return None
    return int(rest)


def under_review(engine: Engine, application_id: int) -> tuple[Application, Customer, list[DomainValidation]] | None:
    """The application, its customer and its validations; None when the application is gone."""
    with session_scope(engine) as s:
        app = s.get(Application, application_id)
        customer = s.get(Customer, app.customer_id) if app is not None else None
        if app is None or customer is None:
            return None
        rows = list(s.exec(select(DomainValidation).where(DomainValidation.application_id == application_id)
                           .order_by(col(DomainValidation.id))).all())
    return app, customer, _ordered(app, rows)


def last_check(row: DomainValidation) -> dict[str, Any] | None:
    """The evidence of the last domain control check (not a CAA check, not a reuse), if any."""
    return next((e for e in reversed(row.evidence) if "check" in e), None)


def reused_from(row: DomainValidation) -> dict[str, Any] | None:
    """What the evidence says was reused (the earlier validation), if this one was."""
    return next((e for e in row.evidence if "reused" in e), None)
