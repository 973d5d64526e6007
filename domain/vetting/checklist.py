"""What the vetting desk's ``approve`` needs (S-2 審査): one list of what is still missing.

Each refusal is a code for the message catalogue; a refusal about one name ends in ``:<name>``
(``domain_not_validated:www.example.com``). OV needs the organization, the phone callback and every
name validated; EV adds the three EV checks. CAA is not asked for at approval: it is looked at from
every perspective right after it, just before signing (BR 3.2.2.8), and a refusal sends the
application back to the review; ``caa=True`` lists its last result too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.vetting.dcv import Method, covers, method_allows, method_retired
from domain.vetting.periods import identity_reusable, validation_reusable

LEVELS = ("ov", "ev")  # domain.catalog.Product.level


@dataclass(frozen=True)
class DomainFacts:
    """One name of the certificate and what vetting knows about it."""

    name: str  # as it goes into the certificate: www.example.com or *.example.com
    validated_at: datetime | None = None  # when domain control was last confirmed
    method: Method | None = None
    validated_domain: str | None = None  # the ADN actually validated; None: the name itself
    caa_permitted: bool | None = None  # the last CAA decision for this name; None: not checked


@dataclass(frozen=True)
class VettingFacts:
    level: str  # ov | ev
    issuance_at: datetime  # when the certificate would be issued; every reuse period counts back from it
    domains: tuple[DomainFacts, ...]
    organization_source: str | None = None  # where the organization was verified (e.g. "nta_corporate_number")
    organization_verified_at: datetime | None = None
    phone_callback_at: datetime | None = None  # BR 3.2.5; 4.2.1 lets it be reused like identity data
    ev_operational_existence: bool = False
    ev_legal_existence: bool = False
    ev_signer_authority: bool = False


def _validation_refusals(d: DomainFacts, issuance_at: datetime) -> list[str]:
    if d.validated_at is None or d.method is None:
        return ["domain_not_validated"]
    refusals = []
    if method_allows(d.method, d.name) is not None:
        refusals.append("domain_method_not_allowed")
    elif not covers(d.method, d.validated_domain or d.name, d.name):
        refusals.append("domain_not_covered")
    if method_retired(d.method, issuance_at):
        refusals.append("domain_method_retired")
    elif not validation_reusable(d.validated_at, issuance_at):
        refusals.append("domain_validation_expired")
    return refusals


def _domain_refusals(d: DomainFacts, issuance_at: datetime, caa: bool) -> list[str]:
    refusals = [f"{code}:{d.name}" for code in _validation_refusals(d, issuance_at)]
    if not caa:
        return refusals
    if d.caa_permitted is None:
        refusals.append(f"caa_not_checked:{d.name}")
    elif not d.caa_permitted:
        refusals.append(f"caa_refused:{d.name}")
    return refusals


def approval_refusals(facts: VettingFacts, caa: bool = False) -> list[str]:
    """Everything that stops approval, in the desk's order; an empty list means it may be approved."""
    if facts.level not in LEVELS:
        raise ValueError(f"unknown validation level {facts.level!r}")
    refusals = [] if facts.domains else ["no_domains"]
    for d in facts.domains:
        refusals += _domain_refusals(d, facts.issuance_at, caa)
    if not facts.organization_source or facts.organization_verified_at is None:
        refusals.append("organization_not_verified")
    elif not identity_reusable(facts.organization_verified_at, facts.issuance_at):
        refusals.append("organization_validation_expired")
    if facts.phone_callback_at is None:
        refusals.append("phone_callback_missing")
    elif not identity_reusable(facts.phone_callback_at, facts.issuance_at):
        refusals.append("phone_callback_expired")
    if facts.level == "ev":
        for done, code in (
            (facts.ev_operational_existence, "ev_operational_existence_missing"),
            (facts.ev_legal_existence, "ev_legal_existence_missing"),
            (facts.ev_signer_authority, "ev_signer_authority_missing"),
        ):
            if not done:
                refusals.append(code)
    return refusals
