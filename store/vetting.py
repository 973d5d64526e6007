"""Domain validations as people see them (S-2 認証待ち): the rows of an application for the
customer's page and the vetting desk, the customer's choice of method, and what the desk
compares the application with (the customer's account and saved profile).

The rows themselves are written by the DomainValidation workflow's activities
(``activities/vetting.py``); the one change made here is the customer's choice of method,
which keeps the Random Value: the next check simply looks for it the new way.
"""

from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from store import audit
from store.db import session_scope
from store.models import Application, Customer, DomainValidation

APPLICATION_SUBJECT = "application:"  # a task's ``subject`` for an application (workflows/server_cert_application.py)


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
                  method: str) -> DomainValidation:
    """The customer's choice of method for a pending validation (the value stays); audited.

    ``NotFound`` for another's or a missing validation, ``NotPending`` once it has been
    validated or has expired. Choosing the method it already has changes nothing.
    """
    with session_scope(engine) as s:
        row = s.exec(select(DomainValidation).where(DomainValidation.id == validation_id).with_for_update()).first()
        if row is None or row.customer_id != customer_id or row.application_id != application_id:
            raise NotFound()
        if row.state != "pending":
            raise NotPending(row.state)
        if row.method != method:
            before, row.method = row.method, method
            s.add(row)
            audit.record(s, actor, "dcv.method_changed", f"{APPLICATION_SUBJECT}{application_id}", name=row.name,
                         validation=row.id, method=method, previous=before)
        return row


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
