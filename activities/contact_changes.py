"""担当者変更申請 (S-5; manual 003 section 2.4): what staff are shown, and what their decision does.

The record (type ``contact_change``) carries the full new set of contacts; the contract's own
contacts change only here, when staff approve, so the revocation phone check keeps calling the
contacts on file until then.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.mail import MailActivities, MailRequest
from domain.messages import translator
from domain.profile import CONTACT_FIELDS, ROLES, changed_roles
from store import audit
from store import contracts as contract_records
from store.db import session_scope
from store.models import Application, Contract, Customer, utcnow

MAIL_TEMPLATES = {"completed": "contact_change_completed", "rejected": "contact_change_rejected"}


@dataclass
class ContactChangeFacts:
    title: str
    facts: dict[str, str] = field(default_factory=dict)  # what the desk shows: each role before and after
    roles: list[str] = field(default_factory=list)  # the roles the change touches, as the task opened


@dataclass
class ContactChangeDecision:
    application_id: int
    actor: str
    note: str = ""


def _line(contact: dict[str, Any] | None) -> str:
    """One contact as staff read it on the task (the phone first: it is what they will call)."""
    if not contact:
        return "-"
    parts = [str(contact.get(f.name, "")) for f in CONTACT_FIELDS if f.input != "checkbox"]
    return " / ".join(p for p in parts if p) or "-"


class ContactChangeActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    def _record(self, s: Session, application_id: int) -> tuple[Application, Contract]:
        app = s.get(Application, application_id)
        if app is None or app.type != "contact_change":
            raise ApplicationError("the contact change record no longer exists", type="not_found",
                                   non_retryable=True)
        code = contract_records.code_of(s, app)
        row = s.exec(select(Contract).where(Contract.code == code)).first() if code else None
        if row is None:
            raise ApplicationError("the contact change belongs to no contract", type="no_contract",
                                   non_retryable=True)
        return app, row

    @activity.defn(name="contact_change_facts")
    def contact_change_facts(self, application_id: int) -> ContactChangeFacts:
        """The task's title and facts: every role as it is on the contract and as asked."""
        with session_scope(self.ctx.engine) as s:
            app, row = self._record(s, application_id)
            customer = s.get(Customer, app.customer_id)
            before, after = dict(row.contacts), dict(app.contacts)
        facts = {"contract_code": row.code, "customer": f"customer:{app.customer_id}",
                 "organization": customer.organization if customer else "",
                 "changed": ", ".join(changed_roles(before, after)) or "-"}
        for role in ROLES:
            facts[f"{role}_before"], facts[f"{role}_after"] = _line(before.get(role)), _line(after.get(role))
        return ContactChangeFacts(f"{app.names[0] if app.names else row.code} ({row.code})", facts,
                                  changed_roles(before, after))

    @activity.defn(name="apply_contact_change")
    def apply_contact_change(self, decision: ContactChangeDecision) -> None:
        """The contract takes the record's contacts and the record is completed (once: a retry finds it done)."""
        with session_scope(self.ctx.engine) as s:
            app, row = self._record(s, decision.application_id)
            if app.status == "completed":
                return
            roles = changed_roles(dict(row.contacts), dict(app.contacts))
            row.contacts, row.updated_at = dict(app.contacts), utcnow()
            app.status = "completed"
            s.add(row)
            s.add(app)
            # The audit names the roles, never the people's details.
            audit.record(s, decision.actor, "contract.contacts_changed", f"contract:{row.code}",
                         application_id=app.id, roles=roles)
            audit.record(s, decision.actor, "application.status", f"application:{app.id}", previous="received",
                         status="completed", note="")

    @activity.defn(name="reject_contact_change")
    def reject_contact_change(self, decision: ContactChangeDecision) -> None:
        """The record is rejected with the reason; the contract keeps its contacts."""
        with session_scope(self.ctx.engine) as s:
            app, _ = self._record(s, decision.application_id)
            if app.status == "rejected":
                return
            previous, app.status, app.note = app.status, "rejected", decision.note
            s.add(app)
            audit.record(s, decision.actor, "application.status", f"application:{app.id}", previous=previous,
                         status="rejected", note=decision.note)

    @activity.defn(name="mail_contact_change")
    def mail_contact_change(self, application_id: int, event: str, roles: list[str]) -> None:
        """completed | rejected: the customer hears of it once; ``roles``: those the change touches."""
        language = self.ctx.settings.language
        t = translator(language)
        with session_scope(self.ctx.engine) as s:
            app, row = self._record(s, application_id)
            customer = s.get(Customer, app.customer_id)
            if customer is None:
                return
            context = {"organization": customer.organization, "application_id": str(app.id),
                       "server_name": app.names[0] if app.names else "", "contract_code": row.code,
                       "note": app.note or "",
                       "roles": ("、" if language == "ja" else ", ").join(t(f"profile_role_{r}") for r in roles)
                       or "-"}
            recipient = customer.email
        MailActivities(self.ctx).send_email(MailRequest(
            business_key=f"contact-change:{application_id}:{event}", recipient=recipient,
            template=MAIL_TEMPLATES[event], language=language, context=context))
