"""Contract rows (S-3, S-5): made from the application that establishes them, read for pages, the
desk and the ``Contract`` workflow's look-ups."""

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.catalog import CATALOG
from domain.contract_life import ACTIVE, ENDING, Term, workflow_id
from domain.contracts import establishes_contract
from domain.pki.hierarchy import TLS_CA
from store import audit, certificates
from store.db import session_scope
from store.models import Application, Contract, CustomerProfile, utcnow


def establish(s: Session, app: Application) -> Contract | None:
    """The contract the application's first certificate establishes (once: the code is unique);
    None for a record that establishes none, or before it has its certificate."""
    if not establishes_contract(app.type) or not app.contract_code or not app.certificate_serial:
        return None
    existing = s.exec(select(Contract).where(Contract.code == app.contract_code)).first()
    if existing is not None:
        return existing
    cert = certificates.known_certificate(s, TLS_CA, app.certificate_serial)
    product = CATALOG[app.product]
    not_before = cert.not_before or app.issued_at or utcnow()
    term = Term.of(not_before, product.term_months)
    profile = s.get(CustomerProfile, app.customer_id)
    row = Contract(code=app.contract_code, customer_id=app.customer_id, product=app.product,
                   contract_type=product.contract_type, term_months=product.term_months, term_start=term.start,
                   term_end=term.end, application_id=int(app.id or 0), current_application_id=int(app.id or 0),
                   certificate_serial=cert.serial, certificate_not_before=not_before,
                   certificate_not_after=cert.not_after or not_before, contacts=dict(app.contacts),
                   reseller_code=profile.reseller_code if profile else "", workflow_id=workflow_id(app.contract_code))
    s.add(row)
    s.flush()
    audit.record(s, "workflow", "contract.established", f"contract:{row.code}", application_id=app.id,
                 contract_type=row.contract_type, term_start=term.start.isoformat(), term_end=term.end.isoformat())
    return row


def establish_missing(engine: Engine) -> int:
    """Contracts for issued applications made before contracts were kept (start-up reconciliation)."""
    made = 0
    with session_scope(engine) as s:
        known = set(s.exec(select(Contract.code)).all())
        apps = s.exec(select(Application).where(col(Application.contract_code).is_not(None),
                                                Application.status == "issued")).all()
        for app in apps:
            if app.contract_code not in known and establish(s, app) is not None:
                made += 1
    return made


def live(engine: Engine) -> list[tuple[int, str, int]]:
    """(id, code, customer id) of every contract whose workflow should be running."""
    with session_scope(engine) as s:
        rows = s.exec(select(Contract.id, Contract.code, Contract.customer_id).where(
            col(Contract.state).in_((ACTIVE, ENDING)))).all()
        return [(int(i or 0), c, int(k)) for i, c, k in rows]


def of_application(engine: Engine, app: Application) -> Contract | None:
    """The contract an application record belongs to (its own, or its parent's)."""
    with session_scope(engine) as s:
        code = app.contract_code
        if code is None and app.parent_id:
            parent = s.get(Application, app.parent_id)
            code = parent.contract_code if parent else None
        return s.exec(select(Contract).where(Contract.code == code)).first() if code else None


def expiring(engine: Engine, now: datetime, days: int = 30) -> list[Contract]:
    """Live contracts whose certificate expires within ``days`` (the desk's list), soonest first."""
    with session_scope(engine) as s:
        return list(s.exec(select(Contract).where(
            col(Contract.state).in_((ACTIVE, ENDING)),
            col(Contract.certificate_not_after) <= now + timedelta(days=days),
            col(Contract.certificate_not_after) > now).order_by(col(Contract.certificate_not_after))).all())


def renewal_notices_on(s: Session, customer_id: int) -> bool:
    profile = s.get(CustomerProfile, customer_id)
    return profile.renewal_notices if profile is not None else True
