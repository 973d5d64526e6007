"""The vetting desk's checks as activities: record one, and read what approval stands on.

The application workflow keeps ``ApprovalFacts`` in its state so that the ``approve`` decision's
update validator (synchronous, no I/O) can refuse it with the checklist's reasons. Dates travel
as ISO-8601 strings; ``facts(at)`` turns them back into the checklist's input.
"""

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from domain.vetting.checklist import DomainFacts, VettingFacts
from domain.vetting.checks import EV_CHECKS
from domain.vetting.dcv import Method
from store import vetting_checks
from store.models import utcnow


@dataclass
class VettingCheckEntry:
    application_id: int
    check_key: str  # the workflow's update id: a retry records once
    check: str  # domain.vetting.checks.CHECKS
    source: str
    reference: str
    outcome: str  # confirmed | not_confirmed
    note: str
    actor: str


@dataclass
class DomainStanding:
    name: str
    validated_at: str | None = None
    method: str | None = None
    validated_domain: str | None = None
    caa_permitted: bool | None = None


@dataclass
class ApprovalFacts:
    level: str
    domains: list[DomainStanding] = field(default_factory=list)
    organization_source: str | None = None
    organization_verified_at: str | None = None
    phone_callback_at: str | None = None
    ev_checks: list[str] = field(default_factory=list)  # the EV checks that count

    def facts(self, issuance_at: datetime) -> VettingFacts:
        """The checklist's input for an issuance at ``issuance_at``."""
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return VettingFacts(
            level=self.level, issuance_at=issuance_at,
            domains=tuple(DomainFacts(d.name, when(d.validated_at), Method(d.method) if d.method else None,
                                      d.validated_domain, d.caa_permitted) for d in self.domains),
            organization_source=self.organization_source,
            organization_verified_at=when(self.organization_verified_at),
            phone_callback_at=when(self.phone_callback_at),
            ev_operational_existence="ev_operational_existence" in self.ev_checks,
            ev_legal_existence="ev_legal_existence" in self.ev_checks,
            ev_signer_authority="ev_signer_authority" in self.ev_checks)

    @classmethod
    def of(cls, facts: VettingFacts) -> "ApprovalFacts":
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return cls(
            level=facts.level,
            domains=[DomainStanding(d.name, iso(d.validated_at), d.method.value if d.method else None,
                                    d.validated_domain, d.caa_permitted) for d in facts.domains],
            organization_source=facts.organization_source,
            organization_verified_at=iso(facts.organization_verified_at),
            phone_callback_at=iso(facts.phone_callback_at),
            ev_checks=[c for c in EV_CHECKS if getattr(facts, c)])


class VettingCheckActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    def _facts(self, application_id: int) -> ApprovalFacts:
        try:
            return ApprovalFacts.of(vetting_checks.approval_standing(self.ctx.engine, application_id, utcnow()).facts)
        except vetting_checks.NoApplication:
            raise ApplicationError("the application no longer exists", non_retryable=True) from None

    @activity.defn(name="approval_facts")
    def approval_facts(self, application_id: int) -> ApprovalFacts:
        return self._facts(application_id)

    @activity.defn(name="record_vetting_check")
    def record_check(self, entry: VettingCheckEntry) -> ApprovalFacts:
        """Keeps the check (idempotent on its key); what approval stands on now."""
        try:
            vetting_checks.record(self.ctx.engine, entry.check_key, entry.application_id, entry.check,
                                  entry.source, entry.reference, entry.outcome, entry.note, entry.actor)
        except vetting_checks.NoApplication:
            raise ApplicationError("the application no longer exists", non_retryable=True) from None
        return self._facts(entry.application_id)
