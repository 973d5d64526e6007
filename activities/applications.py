"""Server certificate applications: status, issuance against the vetted record, customer mail."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from ca import authority
from domain.catalog import CATALOG
from domain.contract_life import certificate_days
from domain.contracts import certificate_subject, contract_code, establishes_contract
from domain.messages import translator
from domain.pki.errors import CsrError, LintError
from domain.pki.hierarchy import TLS_CA
from domain.settings import Settings
from domain.vetting.dcv import WELL_KNOWN_PATH, Method, dns_record_name, validation_file_name
from domain.vetting.periods import validation_reusable
from store import audit
from store import contracts as contract_records
from store.db import session_scope
from store.models import Application, Contract, Customer, DomainValidation, Task, utcnow


@dataclass
class StatusChange:
    application_id: int
    status: str
    actor: str
    note: str = ""


@dataclass
class ApplicationRef:
    application_id: int
    request_key: str  # the workflow id: one certificate per application, ever
    actor: str
    vetted: bool = False  # every name validated and CAA checked from all perspectives (issue 13 on)


@dataclass
class RevokeForApplication:
    application_id: int  # the revocation (or reissue) record
    serial: str
    reason: str  # RFC 5280 name
    actor: str
    status: str = "completed"  # what the record says afterwards


class ApplicationActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="set_application_status")
    def set_application_status(self, change: StatusChange) -> None:
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, change.application_id)
            if app is None or app.status == change.status:
                return
            previous, app.status = app.status, change.status
            app.note = change.note or app.note
            s.add(app)
            audit.record(s, change.actor, "application.status", f"application:{app.id}", previous=previous,
                         status=change.status, note=change.note)

    @activity.defn(name="issue_application_certificate")
    def issue_application_certificate(self, ref: ApplicationRef) -> str:
        """Issues the certificate of an approved application (once) and assigns its contract code."""
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, ref.application_id)
            if app is None:
                raise ApplicationError("the application no longer exists", non_retryable=True)
            csr, org, product = app.csr_pem, dict(app.organization), CATALOG[app.product]
            if ref.vetted:
                _refuse_unless_vetted(s, app)
            days = product.validity_days
            if app.type in ("replacement", "switch"):
                # Inside its contract: never past the contract's end (domain/contract_life.py says by how
                # much); a switch carries the previous certificate's remaining validity (「有効期間も引き継ぎます」).
                contract = s.exec(select(Contract).where(Contract.code == contract_records.code_of(s, app))).first()
                if contract is not None:
                    ends = contract.certificate_not_after if app.type == "switch" else contract.term_end
                    days = certificate_days(utcnow(), days, ends)
        try:
            subject = certificate_subject(org, product.level)
            issued = authority.issue_server(self.ctx.engine, self.ctx.settings, ref.request_key, csr, subject,
                                            days, ref.actor)
        except (CsrError, LintError, ValueError) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, ref.application_id)
            if app is None:
                raise ApplicationError("the application no longer exists", non_retryable=True)
            if app.status != "issued":
                app.certificate_serial, app.status, app.issued_at = issued.serial, "issued", utcnow()
                if establishes_contract(app.type):
                    app.contract_code = app.contract_code or contract_code(int(app.id or 0))
                s.add(app)
                audit.record(s, ref.actor, "application.issued", f"application:{app.id}", serial=issued.serial,
                             contract_code=app.contract_code)
        return issued.serial

    @activity.defn(name="revoke_application_certificate")
    def revoke_application_certificate(self, req: RevokeForApplication) -> bool:
        """Revokes once (a second call changes nothing) and publishes the CRL; marks the record."""
        try:
            changed = authority.revoke(self.ctx.engine, self.ctx.settings, TLS_CA, req.serial, req.reason, req.actor)
        except (LookupError, ValueError) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
        self.set_application_status(StatusChange(req.application_id, req.status, req.actor))
        return changed

    @activity.defn(name="schedule_previous_revocation")
    def schedule_previous_revocation(self, application_id: int, at: str) -> None:
        """Shown on the detail page: when the previous certificate will be revoked."""
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, application_id)
            if app is not None and app.revoke_previous_at is None:
                app.revoke_previous_at = datetime.fromisoformat(at)
                s.add(app)
                audit.record(s, "workflow", "application.previous_revocation_scheduled", f"application:{app.id}",
                             at=at)

    @activity.defn(name="close_application_tasks")
    def close_application_tasks(self, workflow_id: str, actor: str) -> int:
        """A cancelled application leaves no task behind in anyone's inbox."""
        with session_scope(self.ctx.engine) as s:
            tasks = s.exec(select(Task).where(Task.workflow_id == workflow_id, Task.state != "done")).all()
            for task in tasks:
                task.state, task.outcome, task.completed_by, task.completed_at = "done", "cancelled", actor, utcnow()
                s.add(task)
                audit.record(s, actor, "task.cancelled", task.subject, task_id=task.id)
            return len(tasks)

    @activity.defn(name="mail_application_event")
    def mail_application_event(self, application_id: int, event: str, occasion: str = "") -> None:
        """received | issued | rejected | documents_requested | revoked | revocation_rejected |
        reissue_revocation_reminder | dcv_reminder: the customer hears of each once (per ``occasion``, for
        an event that recurs)."""
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, application_id)
            customer = s.get(Customer, app.customer_id) if app else None
            if app is None or customer is None:
                return
            context = {"organization": customer.organization, "application_id": str(app.id),
                       "product": CATALOG[app.product].name(self.ctx.settings.language),
                       "server_name": app.names[0] if app.names else "", "note": app.note or "",
                       "contract_code": app.contract_code or "", "serial": app.certificate_serial or "",
                       "revoke_on": _local_date(app.revoke_previous_at, self.ctx.settings.timezone),
                       "application_type": translator(self.ctx.settings.language)(f"app_type_{app.type}"),
                       "received_on": _local_date(app.created_at, self.ctx.settings.timezone)}
            if event.startswith("dcv_"):
                context |= self._pending_domains(s, application_id)
        MailActivities(self.ctx).send_email(MailRequest(
            business_key=f"application:{application_id}:{event}" + (f":{occasion}" if occasion else ""),
            recipient=customer.email,
            template=f"application_{event}", language=self.ctx.settings.language, context=context))

    def _pending_domains(self, s: Session, application_id: int) -> dict[str, Any]:
        """What the customer still has to place, and where, for a domain validation mail."""
        settings = self.ctx.settings
        t = translator(settings.language)
        rows = s.exec(select(DomainValidation).where(DomainValidation.application_id == application_id,
                                                     DomainValidation.state == "pending")).all()
        # A constructed email's value goes only to the mailbox it was sent to, never to the customer.
        pending = [{"name": r.name, "value": None if r.method == Method.CONSTRUCTED_EMAIL else r.random_value,
                    "instruction": t(f"dcv_instruction_{r.method}").format(where=_where(settings, r))} for r in rows]
        ends = min((r.expires_at for r in rows), default=None)
        return {"pending": pending, "expires_on": _local_date(ends, settings.timezone)}


def _where(settings: Settings, row: DomainValidation) -> str:
    if row.method == Method.CONSTRUCTED_EMAIL:
        return row.email_address or f"admin@{row.validated_domain}"
    if row.method == Method.HTTP_FILE:
        return f"http://{row.validated_domain}{WELL_KNOWN_PATH}{validation_file_name(row.random_value)}"
    return dns_record_name(row.validated_domain, settings.dcv_label)


# BR 3.2.2.8: CAA is checked as part of issuance; a check older than this is looked at again.
CAA_FRESH = timedelta(hours=8)


def _refuse_unless_vetted(s: Session, app: Application) -> None:
    """The last line before signing: every name validated within its reuse period, and CAA
    permitting it, looked at within CAA_FRESH. (The workflow checked both just before.)"""
    now = utcnow()
    rows = {r.name: r for r in s.exec(select(DomainValidation).where(DomainValidation.application_id == app.id))}
    for name in app.names:
        row = rows.get(name)
        if row is None or row.state != "validated" or row.validated_at is None \
                or not validation_reusable(row.validated_at, now):
            raise ApplicationError(f"{name}: domain control is not validated", type="domain_not_validated",
                                   non_retryable=True)
        if row.caa_permitted is not True or row.caa_checked_at is None or now - row.caa_checked_at > CAA_FRESH:
            raise ApplicationError(f"{name}: CAA does not permit issuance ({row.caa_result or 'not checked'})",
                                   type="caa_not_permitted", non_retryable=True)


def _local_date(value: datetime | None, timezone: str) -> str:
    return value.astimezone(ZoneInfo(timezone)).date().isoformat() if value else ""
