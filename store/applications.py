"""Application records (S-2, S-10): created by the API for a process, read by pages and API alike."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Engine
from sqlmodel import col, select

from domain.application_actions import ApplicationFacts
from domain.pki.hierarchy import TLS_CA
from store import audit
from store import contracts as contract_records
from store.certificates import ca_certificate, certificate_record
from store.db import session_scope
from store.models import Application, CertificateRecord


def create(engine: Engine, actor: str, action: str, details: dict[str, Any], workflow_id_of: Callable[[int], str],
           **fields: Any) -> Application:
    """A new record with its workflow's id (derived from the record's own id), audited as ``action``."""
    with session_scope(engine) as s:
        app = Application(**fields)
        s.add(app)
        s.flush()
        app.workflow_id = workflow_id_of(int(app.id or 0))
        audit.record(s, actor, action, f"application:{app.id}", **details)
        return app


def discard_unstarted(engine: Engine, application_id: int) -> None:
    """Its process could not be started: the record goes, so nothing waits for a workflow that never ran."""
    with session_scope(engine) as s:
        app = s.get(Application, application_id)
        if app is not None:
            audit.record(s, "system", "application.not_started", f"application:{app.id}", type=app.type)
            s.delete(app)


def own(engine: Engine, customer_id: int, application_id: int) -> Application | None:
    """The customer's record; another customer's is as missing as one that does not exist."""
    with session_scope(engine) as s:
        app = s.get(Application, application_id)
    return app if app is not None and app.customer_id == customer_id else None


def of_customer(engine: Engine, customer_id: int) -> list[Application]:
    with session_scope(engine) as s:
        return list(s.exec(select(Application).where(Application.customer_id == customer_id)
                           .order_by(col(Application.created_at).desc(), col(Application.id).desc())).all())


def certificate(engine: Engine, app: Application) -> CertificateRecord | None:
    if not app.certificate_serial:
        return None
    with session_scope(engine) as s:
        return certificate_record(s, TLS_CA, app.certificate_serial)


def facts(engine: Engine, app: Application) -> ApplicationFacts:
    """What the rules of ``domain.application_actions`` need to know about this record."""
    cert = certificate(engine, app)
    with session_scope(engine) as s:
        children = s.exec(select(Application).where(Application.parent_id == app.id)).all()
    contract = contract_records.of_application(engine, app)
    line: list[Application] = []
    if contract is not None:
        with session_scope(engine) as s:  # every record of the contract's line that is still open
            line = list(s.exec(select(Application).where(
                Application.customer_id == app.customer_id,
                col(Application.status).not_in(("issued", "completed", "rejected", "cancelled", "returned")))).all())
            line = [a for a in line if contract_records.code_of(s, a) == contract.code]
    return ApplicationFacts(
        type=app.type, status=app.status, product=app.product, issued_at=app.issued_at,
        has_certificate=cert is not None and cert.der is not None,
        certificate_revoked=cert is not None and cert.state == "revoked",
        reissued=any(c.type == "reissue" for c in children),
        revocation_waiting=any(c.type == "revocation" and c.status == "received" for c in children),
        contract_state=contract.state if contract else "", contract_type=contract.contract_type if contract else "",
        contract_current=contract is not None and contract.current_application_id == app.id,
        certificate_not_after=contract.certificate_not_after if contract else None,
        term_end=contract.term_end if contract else None,
        replacing=any(a.type in ("replacement", "switch") for a in line),
        renewing=contract is not None and _renewal_filed(engine, contract.application_id, contract.term_start),
        contact_changing=any(a.type == "contact_change" for a in line))


def _renewal_filed(engine: Engine, establishing_id: int, term_start: datetime) -> bool:
    with session_scope(engine) as s:
        return contract_records.renewal_filed(s, establishing_id, term_start)


def delayed_revocations(engine: Engine, parent_id: int) -> list[str]:
    """The workflows of reissues of this record still waiting to revoke it later."""
    with session_scope(engine) as s:
        return list(s.exec(select(Application.workflow_id).where(
            Application.parent_id == parent_id, Application.type == "reissue",
            Application.reason == "after_two_weeks")).all())


def followers(engine: Engine, app: Application) -> list[Application]:
    """The records that point at this one (reissues, replacements, switches, revocations), oldest first:
    what the detail page says replaced or revoked its certificate."""
    with session_scope(engine) as s:
        return list(s.exec(select(Application).where(Application.parent_id == app.id)
                           .order_by(col(Application.created_at), col(Application.id))).all())


def certificate_chain_pem(engine: Engine, app: Application) -> bytes:
    """The issued certificate and its issuing CA, PEM."""
    cert = certificate(engine, app)
    if cert is None or cert.der is None:
        raise LookupError(f"application {app.id} has no stored certificate")
    issuer = ca_certificate(engine, TLS_CA)
    chain = issuer.public_bytes(Encoding.PEM) if issuer is not None else b""
    return x509.load_der_x509_certificate(cert.der).public_bytes(Encoding.PEM) + chain
