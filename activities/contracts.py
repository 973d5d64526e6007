"""The contract's life (S-3, S-5): establishment, look-ups, 更新のご案内, renewal, 解約 and the end.

Each is idempotent on a business key: a reminder mails once per contract and key (its topic, the
date it warns of, the days before); a renewal moves the term only from the end it names; ending,
filing and withdrawing look at the row's state first.
"""

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from ca import authority
from domain.catalog import CATALOG
from domain.contract_life import (
    ACTIVE,
    AUTO,
    CANCELLED,
    CERTIFICATE,
    DEFAULT_LADDER,
    ENDED,
    ENDING,
    Term,
    cancel_cutoff,
    needs_replacement,
)
from domain.pki.hierarchy import TLS_CA
from domain.settings import Settings
from store import audit
from store import contracts as records
from store.db import session_scope
from store.models import Application, Contract, Customer, utcnow


@dataclass
class ContractTerms:
    """The configured timing of every contract's timers (settings), carried in the workflow's input."""

    reminder_days: list[int] = field(default_factory=lambda: list(DEFAULT_LADDER))
    cancel_cutoff_days: int = 30


def contract_terms(settings: Settings) -> ContractTerms:
    return ContractTerms(list(settings.contract_reminder_days), settings.contract_cancel_cutoff_days)


@dataclass
class ContractRef:
    contract_id: int
    code: str
    terms: ContractTerms


@dataclass
class ContractFacts:
    state: str
    contract_type: str
    term_start: str  # ISO-8601 UTC
    term_end: str
    certificate_serial: str
    certificate_not_before: str
    certificate_not_after: str
    renewal_filed: bool = False  # a 更新申請 of this contract is in progress or done


@dataclass
class ContractReminder:
    contract_id: int
    topic: str  # certificate | term
    target: str  # ISO-8601: what it warns of
    days: int


@dataclass
class ContractChange:
    contract_id: int
    actor: str
    term_end: str = ""  # the term it is about: a retry after the change changes nothing


def _facts(s: Session, row: Contract) -> ContractFacts:
    return ContractFacts(row.state, row.contract_type, row.term_start.isoformat(), row.term_end.isoformat(),
                         row.certificate_serial, row.certificate_not_before.isoformat(),
                         row.certificate_not_after.isoformat(),
                         records.renewal_filed(s, row.application_id, row.term_start))


class ContractActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    def _contract(self, s: Session, contract_id: int) -> Contract:
        row = s.get(Contract, contract_id)
        if row is None:
            raise ApplicationError(f"contract {contract_id} no longer exists", non_retryable=True)
        return row

    @activity.defn(name="establish_contract")
    def establish_contract(self, application_id: int) -> ContractRef | None:
        """The contract an issued new application establishes; None for a record that establishes none."""
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, application_id)
            row = records.establish(s, app) if app is not None else None
            if row is None:
                return None
            return ContractRef(int(row.id or 0), row.code, contract_terms(self.ctx.settings))

    @activity.defn(name="contract_takes_certificate")
    def take_certificate(self, application_id: int) -> str:
        """A replacement's (or reissue's) certificate is now the contract's: the code of the contract
        to tell, or "" when the record belongs to none that lives."""
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, application_id)
            row = records.take_certificate(s, app, "workflow") if app is not None else None
            return row.code if row is not None else ""

    @activity.defn(name="contract_facts")
    def contract_facts(self, contract_id: int) -> ContractFacts:
        with session_scope(self.ctx.engine) as s:
            return _facts(s, self._contract(s, contract_id))

    @activity.defn(name="send_contract_reminder")
    def send_contract_reminder(self, req: ContractReminder) -> str:
        """更新のご案内 (or the certificate's 差し替え), unless it has become moot or the customer said no:
        ``sent`` (now or by an earlier attempt), ``moot`` or ``opted_out``."""
        with session_scope(self.ctx.engine) as s:
            row = self._contract(s, req.contract_id)
            facts = _facts(s, row)
            target = datetime.fromisoformat(req.target)
            if req.topic == CERTIFICATE:
                moot = (row.certificate_not_after != target or row.state not in (ACTIVE, ENDING)
                        or not needs_replacement(row.certificate_not_after, row.term_end))
            else:
                moot = row.term_end != target or row.state != ACTIVE or facts.renewal_filed
            customer = s.get(Customer, row.customer_id)
            wanted = records.renewal_notices_on(s, row.customer_id)
            context = self._context(row, customer) | {"days": str(req.days)}
            key = f"contract:{row.code}:{req.topic}:{target.date().isoformat()}:{req.days}"
            if moot or not wanted or customer is None:
                outcome = "moot" if moot else "opted_out"
                audit.record(s, "timer", "contract.reminder_skipped", f"contract:{row.code}", key=key, why=outcome)
                return outcome
        template = f"contract_{req.topic}_reminder" + ("_auto" if req.topic != CERTIFICATE
                                                        and row.contract_type == AUTO else "")
        MailActivities(self.ctx).send_email(MailRequest(key, customer.email, template, self.ctx.settings.language,
                                                        context))
        return "sent"

    def _context(self, row: Contract, customer: Customer | None) -> dict[str, str]:
        settings = self.ctx.settings
        zone = ZoneInfo(settings.timezone)
        app_names = ""
        with session_scope(self.ctx.engine) as s:
            app = s.get(Application, row.current_application_id)
            app_names = app.names[0] if app is not None and app.names else ""
        return {
            "organization": customer.organization if customer else "",
            "contract_code": row.code,
            "product": CATALOG[row.product].name(settings.language) if row.product in CATALOG else row.product,
            "server_name": app_names,
            "term_end": row.term_end.astimezone(zone).date().isoformat(),
            "certificate_expires": row.certificate_not_after.astimezone(zone).date().isoformat(),
            "cancel_by": cancel_cutoff(row.term_end, settings.contract_cancel_cutoff_days).astimezone(zone)
            .date().isoformat(),
            "detail_url": f"{settings.resolved_public_url}/account/applications/{row.application_id}",
        }

    def _mail(self, row: Contract, event: str, occasion: str) -> None:
        with session_scope(self.ctx.engine) as s:
            customer = s.get(Customer, row.customer_id)
        if customer is None:
            return
        MailActivities(self.ctx).send_email(MailRequest(
            f"contract:{row.code}:{event}:{occasion}", customer.email, f"contract_{event}",
            self.ctx.settings.language, self._context(row, customer)))

    @activity.defn(name="renew_contract")
    def renew_contract(self, change: ContractChange) -> ContractFacts:
        """The next term, from the end of the one named (automatic renewal, or a filed 更新申請)."""
        with session_scope(self.ctx.engine) as s:
            row = self._contract(s, change.contract_id)
            if row.term_end == datetime.fromisoformat(change.term_end) and row.state == ACTIVE:
                term = Term(row.term_start, row.term_end).following(row.term_months)
                row.term_start, row.term_end, row.terms, row.updated_at = term.start, term.end, row.terms + 1, utcnow()
                s.add(row)
                audit.record(s, change.actor, "contract.renewed", f"contract:{row.code}", term=row.terms,
                             term_start=term.start.isoformat(), term_end=term.end.isoformat())
            facts, snapshot = _facts(s, row), Contract.model_validate(row.model_dump())
        self._mail(snapshot, "renewed", change.term_end)
        return facts

    @activity.defn(name="end_contract")
    def end_contract(self, change: ContractChange) -> None:
        """The term ended without a renewal (or after 解約): the certificate is left to expire."""
        with session_scope(self.ctx.engine) as s:
            row = self._contract(s, change.contract_id)
            if row.state in (ENDED, CANCELLED):
                return
            row.state, row.ended_at, row.updated_at = ENDED, utcnow(), utcnow()
            s.add(row)
            audit.record(s, change.actor, "contract.ended", f"contract:{row.code}", term_end=row.term_end.isoformat())
            snapshot = Contract.model_validate(row.model_dump())
        self._mail(snapshot, "ended", change.term_end)

    @activity.defn(name="file_contract_cancellation")
    def file_cancellation(self, change: ContractChange) -> None:
        """解約 at the term's end: the contract is ending; it can be withdrawn until the cut-off."""
        with session_scope(self.ctx.engine) as s:
            row = self._contract(s, change.contract_id)
            if row.state != ACTIVE:
                return
            row.state, row.end_requested_at, row.updated_at = ENDING, utcnow(), utcnow()
            s.add(row)
            audit.record(s, change.actor, "contract.cancellation_filed", f"contract:{row.code}",
                         term_end=row.term_end.isoformat())
            snapshot = Contract.model_validate(row.model_dump())
        self._mail(snapshot, "cancellation_filed", snapshot.end_requested_at.isoformat()
                   if snapshot.end_requested_at else "")

    @activity.defn(name="withdraw_contract_cancellation")
    def withdraw_cancellation(self, change: ContractChange) -> None:
        with session_scope(self.ctx.engine) as s:
            row = self._contract(s, change.contract_id)
            if row.state != ENDING:
                return
            row.state, row.end_requested_at, row.updated_at = ACTIVE, None, utcnow()
            s.add(row)
            audit.record(s, change.actor, "contract.cancellation_withdrawn", f"contract:{row.code}")

    @activity.defn(name="cancel_contract_now")
    def cancel_now(self, change: ContractChange) -> None:
        """解約 at once: the certificate is revoked (cessationOfOperation) and the contract ends today."""
        with session_scope(self.ctx.engine) as s:
            row = self._contract(s, change.contract_id)
            serial, code = row.certificate_serial, row.code
        try:
            authority.revoke(self.ctx.engine, self.ctx.settings, TLS_CA, serial, "cessationOfOperation", change.actor)
        except (LookupError, ValueError) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
        with session_scope(self.ctx.engine) as s:
            row = self._contract(s, change.contract_id)
            if row.state == CANCELLED:
                return
            row.state, row.end_requested_at, row.ended_at, row.updated_at = CANCELLED, utcnow(), utcnow(), utcnow()
            s.add(row)
            audit.record(s, change.actor, "contract.cancelled", f"contract:{code}", serial=serial)
            snapshot = Contract.model_validate(row.model_dump())
        self._mail(snapshot, "cancelled", "now")
