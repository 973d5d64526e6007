"""A contract's life (S-3, S-5, S-12; manual 003 sections 2.2, 2.4): terms, the certificates inside
them, the 「更新のご案内」 ladder, automatic renewal and 解約. Pure rules; the ``Contract`` workflow
keeps the timers they describe.

A contract lives for years; a certificate inside it at most the BR maximum (199 days now, 99 from
2027-03-15, 46 from 2029-03-15). So a term holds several certificates: each is replaced before it
expires, and the term itself ends (期間固定タイプ) or renews (自動契約更新タイプ).
"""

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.pki.validity import validity_days

FIXED, AUTO = "fixed", "auto"  # 期間固定タイプ, 自動契約更新タイプ
CONTRACT_TYPES = (FIXED, AUTO)
ACTIVE, ENDING, ENDED, CANCELLED = "active", "ending", "ended", "cancelled"
STATES = (ACTIVE, ENDING, ENDED, CANCELLED)
# What a reminder is about: the certificate expiring inside the term (証明書の差し替え), or the term ending.
CERTIFICATE, TERM = "certificate", "term"
DEFAULT_LADDER = (90, 60, 30, 14, 7, 1)  # days before, as the CA's 更新のご案内 go out
# A replacement certificate may outlive the term by this much (a fixed term whose renewal comes late
# keeps a working certificate for the overlap; the BR cap still applies).
TERM_OVERRUN_DAYS = 0


def workflow_id(code: str) -> str:
    """The contract's process: one per contract, continuing as new at each term or certificate."""
    return f"contract-{code}"


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, or the month's last day when it has none (1/31 + 1 → 2/28)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Term:
    """One term of a contract: ``start`` included, ``end`` excluded."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime, months: int) -> "Term":
        if months < 1:
            raise ValueError(f"a term is at least one month, got {months}")
        return cls(start, add_months(start, months))

    def following(self, months: int) -> "Term":
        """The next term: it starts when this one ends, so no day paid for is lost."""
        return Term.of(self.end, months)


@dataclass(frozen=True)
class Reminder:
    topic: str  # CERTIFICATE | TERM
    target: datetime  # the moment it warns of: the certificate's notAfter, or the term's end
    days: int  # how many days before
    at: datetime

    @property
    def key(self) -> str:
        """Names this reminder for good: one e-mail per contract and key, across restarts and retries."""
        return f"{self.topic}:{self.target.date().isoformat()}:{self.days}"


def ladder(topic: str, target: datetime, days: Sequence[int], known_since: datetime) -> list[Reminder]:
    """The reminders for ``target`` from ``known_since`` (when the target became known: the
    certificate's issuance, the term's start), earliest first. Steps whose moment had passed by
    then are not sent late, except the nearest of them, sent at once: a certificate that lives 10
    days gets its 14-day notice at issuance, its 7-day and 1-day notices, never a 90-day notice."""
    steps = sorted({d for d in days if d > 0}, reverse=True)
    due = [Reminder(topic, target, d, target - timedelta(days=d)) for d in steps]
    ahead = [r for r in due if r.at >= known_since]
    missed = [r for r in due if r.at < known_since]
    if missed and known_since < target:
        return [Reminder(topic, target, missed[-1].days, known_since), *ahead]
    return ahead


def needs_replacement(certificate_not_after: datetime, term_end: datetime) -> bool:
    """The certificate expires (a day or more) before the contract does: the contract asks for the
    next one. A certificate cut at the term's end (``certificate_days``) needs none."""
    return certificate_not_after + timedelta(days=1) < term_end


def certificate_days(not_before: datetime, product_days: int, term_end: datetime,
                     overrun_days: int = TERM_OVERRUN_DAYS) -> int:
    """The validity a certificate of this contract gets: the product's, capped by the BR (one day
    under the maximum) and by the contract's end (plus ``overrun_days``), at least one day."""
    left = (term_end + timedelta(days=overrun_days) - not_before).total_seconds() / 86400
    return max(1, min(validity_days(not_before, product_days), int(left)))


def cancel_cutoff(term_end: datetime, cutoff_days: int) -> datetime:
    """解約 of an automatic contract must be filed before this to stop the next term."""
    return term_end - timedelta(days=cutoff_days)


def renews(contract_type: str, state: str) -> bool:
    """Whether the contract starts another term by itself when this one ends."""
    return contract_type == AUTO and state == ACTIVE


def cancel_refusal(contract_type: str, state: str, now: datetime, term_end: datetime, cutoff_days: int,
                   at_once: bool) -> str | None:
    """Why 解約 cannot be filed now (an error code), or None. At once (with revocation) is always
    possible while the contract lives; at the term's end only for an automatic contract, before
    the cut-off."""
    if state not in (ACTIVE, ENDING):
        return "contract_not_active"
    if at_once:
        return None
    if contract_type != AUTO:
        return "contract_fixed_term"  # a fixed term ends by itself: nothing to cancel
    if state == ENDING:
        return "contract_already_ending"
    if now >= cancel_cutoff(term_end, cutoff_days):
        return "contract_cutoff_passed"
    return None


def withdraw_refusal(state: str, now: datetime, term_end: datetime, cutoff_days: int) -> str | None:
    """Why a filed 解約 can no longer be withdrawn, or None."""
    if state != ENDING:
        return "contract_not_ending"
    if now >= cancel_cutoff(term_end, cutoff_days):
        return "contract_cutoff_passed"
    return None
