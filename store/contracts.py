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


def code_of(s: Session, app: Application) -> str | None:
    """The contract code of the record's line: its own, or the nearest parent's (a reissue of a
    replacement of the first certificate belongs to the first certificate's contract)."""
    seen: set[int] = set()
    current: Application | None = app
    while current is not None and current.contract_code is None and current.parent_id \
            and current.parent_id not in seen:
        seen.add(current.parent_id)
        current = s.get(Application, current.parent_id)
    return current.contract_code if current is not None else None


def of_application(engine: Engine, app: Application) -> Contract | None:
    """The contract an application record belongs to (its own, or its line's)."""
    with session_scope(engine) as s:
        code = code_of(s, app)
        return s.exec(select(Contract).where(Contract.code == code)).first() if code else None


def take_certificate(s: Session, app: Application, actor: str) -> Contract | None:
    """The record's newly issued certificate becomes its contract's current one (a replacement or a
    reissue); None when it belongs to no live contract. Idempotent."""
    code = code_of(s, app)
    row = s.exec(select(Contract).where(Contract.code == code)).first() if code else None
    if row is None or row.state not in (ACTIVE, ENDING) or not app.certificate_serial:
        return None
    if row.certificate_serial != app.certificate_serial:
        cert = certificates.known_certificate(s, TLS_CA, app.certificate_serial)
        previous = row.certificate_serial
        row.current_application_id, row.certificate_serial = int(app.id or 0), cert.serial
        row.certificate_not_before = cert.not_before or utcnow()
        row.certificate_not_after = cert.not_after or row.certificate_not_before
        row.updated_at = utcnow()
        s.add(row)
        audit.record(s, actor, "contract.certificate_replaced", f"contract:{row.code}", application_id=app.id,
                     serial=cert.serial, previous=previous)
        if app.type == "switch" and app.product != row.product:  # 別サービスへ切り替え: the contract's service too
            before, row.product = row.product, app.product
            row.contract_type = CATALOG[app.product].contract_type
            audit.record(s, actor, "contract.switched", f"contract:{row.code}", product=app.product, previous=before,
                         contract_type=row.contract_type)
    return row


def expiring(engine: Engine, now: datetime, days: int = 30) -> list[Contract]:
    """Live contracts whose certificate expires within ``days`` (the desk's list), soonest first."""
    with session_scope(engine) as s:
        return list(s.exec(select(Contract).where(
            col(Contract.state).in_((ACTIVE, ENDING)),
            col(Contract.certificate_not_after) <= now + timedelta(days=days),
            col(Contract.certificate_not_after) > now).order_by(col(Contract.certificate_not_after))).all())


def renewal_filed(s: Session, establishing_id: int, term_start: datetime) -> bool:
    """A 更新申請 of the contract's current term (a renewal record of its establishing application made
    since the term began), in progress or done. The next term asks for its own."""
    return s.exec(select(Application.id).where(
        Application.parent_id == establishing_id, Application.type == "renewal",
        col(Application.created_at) >= term_start,
        col(Application.status).not_in(("rejected", "cancelled", "returned")))).first() is not None


def renewal_notices_on(s: Session, customer_id: int) -> bool:
    profile = s.get(CustomerProfile, customer_id)
    return profile.renewal_notices if profile is not None else True
