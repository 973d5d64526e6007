"""The vetting desk's recorded checks and what an application's approval stands on (S-2 審査).

``record`` keeps one check (idempotent on its key); ``approval_facts`` reads everything the
checklist (``domain.vetting.checklist``) needs from the records — the domain validations, the
checks of this application and the reusable ones of the same customer's earlier applications —
so the workflow's validator and the desk's page judge from the same facts.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.catalog import CATALOG
from domain.vetting import checks
from domain.vetting.checklist import DomainFacts, VettingFacts
from domain.vetting.dcv import Method
from store import audit
from store.db import session_scope
from store.models import Application, DomainValidation, VettingCheck


class NoApplication(Exception):
    """The application does not exist (any more)."""


@dataclass(frozen=True)
class Standing:
    """What approval stands on: the checklist's facts and, per check, what counts and whence."""

    facts: VettingFacts
    counting: dict[str, checks.CountingCheck]


def _recorded(s: Session, app: Application) -> list[checks.RecordedCheck]:
    rows = s.exec(select(VettingCheck).where(VettingCheck.customer_id == app.customer_id)).all()
    return [checks.RecordedCheck(r.check, r.outcome, r.checked_at, r.organization, r.application_id, r.source)
            for r in rows]


def _domains(s: Session, app: Application) -> tuple[DomainFacts, ...]:
    rows = {r.name: r for r in s.exec(select(DomainValidation).where(
        DomainValidation.application_id == app.id)).all()}
    domains = []
    for name in app.names:
        row = rows.get(name)
        validated = (row is not None and row.state == "validated" and row.validated_at is not None
                     and row.method in tuple(Method))
        if row is None or not validated:
            domains.append(DomainFacts(name, caa_permitted=row.caa_permitted if row else None))
            continue
        domains.append(DomainFacts(name, row.validated_at, Method(row.method), row.validated_domain,
                                   row.caa_permitted))
    return tuple(domains)


def standing(s: Session, application_id: int, issuance_at: datetime) -> Standing:
    app = s.get(Application, application_id)
    if app is None:
        raise NoApplication(application_id)
    recorded = _recorded(s, app)
    counting = {c: found for c in checks.CHECKS
                if (found := checks.counting(c, application_id, app.organization, recorded, issuance_at))}
    product = CATALOG.get(app.product)
    org = counting.get("organization")
    facts = VettingFacts(
        level=product.level if product else "ov", issuance_at=issuance_at, domains=_domains(s, app),
        organization_source=org.source if org else None,
        organization_verified_at=org.checked_at if org else None,
        phone_callback_at=c.checked_at if (c := counting.get("phone_callback")) else None,
        ev_operational_existence="ev_operational_existence" in counting,
        ev_legal_existence="ev_legal_existence" in counting,
        ev_signer_authority="ev_signer_authority" in counting)
    return Standing(facts, counting)


def approval_standing(engine: Engine, application_id: int, issuance_at: datetime) -> Standing:
    with session_scope(engine) as s:
        return standing(s, application_id, issuance_at)


def record(engine: Engine, check_key: str, application_id: int, check: str, source: str, reference: str,
           outcome: str, note: str, actor: str) -> VettingCheck:
    """Keeps one check (once per ``check_key``: a retry finds the first) and audits it."""
    with session_scope(engine) as s:
        existing = s.exec(select(VettingCheck).where(VettingCheck.check_key == check_key)).first()
        if existing is not None:
            return existing
        app = s.get(Application, application_id)
        if app is None:
            raise NoApplication(application_id)
        row = VettingCheck(check_key=check_key, customer_id=app.customer_id, application_id=application_id,
                           check=check, source=source, reference=reference.strip(), outcome=outcome,
                           note=note.strip(), organization=checks.identity(app.organization), checked_by=actor)
        s.add(row)
        s.flush()
        audit.record(s, actor, "vetting.check_recorded", f"application:{application_id}", check=check,
                     source=source, outcome=outcome, check_id=row.id)
        return row


def of_application(engine: Engine, application_id: int) -> list[VettingCheck]:
    """This application's recorded checks, oldest first."""
    with session_scope(engine) as s:
        return list(s.exec(select(VettingCheck).where(VettingCheck.application_id == application_id)
                           .order_by(col(VettingCheck.checked_at), col(VettingCheck.id))).all())


def as_json(row: VettingCheck) -> dict[str, Any]:
    return {"id": row.id, "check": row.check, "source": row.source, "reference": row.reference,
            "outcome": row.outcome, "note": row.note, "checked_by": row.checked_by,
            "checked_at": row.checked_at.isoformat()}
