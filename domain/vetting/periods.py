"""How long vetting stays good: data reuse (BR 4.2.1) and the life of a Random Value (BR 3.2.2.4).

Numbers from the TLS Baseline Requirements v2.3.0 (2026-09-07); the dated rows came with ballot
SC-081 (v2.1.5). BR 1.6.4: a date in these tables means 00:00:00 UTC, so the issuance time is
read in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

# BR 4.2.1 "Domain Name and IP Address validation data reuse periods":
# (first issuance date the period applies to, maximum days), newest first.
_DOMAIN_REUSE: tuple[tuple[date, int], ...] = (
    (date(2029, 3, 15), 10),
    (date(2027, 3, 15), 100),
    (date(2026, 3, 15), 200),
)
_DOMAIN_REUSE_BEFORE = 398

# BR 4.2.1 "Subject Identity Information validation data reuse periods": organization data and,
# as 4.2.1 says, "validation of authority" too (the phone callback of BR 3.2.5).
_IDENTITY_REUSE: tuple[tuple[date, int], ...] = ((date(2026, 3, 15), 398),)
_IDENTITY_REUSE_BEFORE = 825

# BR 3.2.2.4.4, 3.2.2.4.7 and 3.2.2.4.18: a Random Value is good for no more than 30 days from
# its creation. 3.2.2.4.7 adds "or, if the Applicant submitted the request, the reuse period of
# 4.2.1"; certdesk reads "SHALL not use after 30 days; or <reuse period>" as two limits that both
# hold, so the earlier one wins (it matters from 2029-03-15, when the reuse period is 10 days).
# That satisfies every reading, including "the longer of" (cabforum/servercert#655).
RANDOM_VALUE_DAYS = 30


def utc_day(at: date | datetime) -> date:
    """The calendar day a BR date table looks at: the UTC day of a datetime (BR 1.6.4)."""
    if isinstance(at, datetime):
        return (at.astimezone(UTC) if at.tzinfo else at).date()
    return at


def _dated(table: tuple[tuple[date, int], ...], before: int, at: date | datetime) -> int:
    day = utc_day(at)
    for starts, days in table:
        if day >= starts:
            return days
    return before


def domain_reuse_days(issued_on: date | datetime) -> int:
    """Days a completed domain (or IP address) validation may be reused for a certificate issued then."""
    return _dated(_DOMAIN_REUSE, _DOMAIN_REUSE_BEFORE, issued_on)


def identity_reuse_days(issued_on: date | datetime) -> int:
    """Days organization (Subject Identity) validation data may be reused for a certificate issued then."""
    return _dated(_IDENTITY_REUSE, _IDENTITY_REUSE_BEFORE, issued_on)


def _within(days: int, start: datetime, end: datetime) -> bool:
    # "within the maximum number of days prior to issuing": exactly N days before still counts.
    # A validation stamped after the issuance is a clock error, never a reason to issue.
    return start <= end and end - start <= timedelta(days=days)


def validation_reusable(validated_at: datetime, issuance_at: datetime) -> bool:
    """True when a domain validation completed at ``validated_at`` may back an issuance at ``issuance_at``."""
    return _within(domain_reuse_days(issuance_at), validated_at, issuance_at)


def identity_reusable(verified_at: datetime, issuance_at: datetime) -> bool:
    """True when organization data (or a callback) verified at ``verified_at`` may back that issuance."""
    return _within(identity_reuse_days(issuance_at), verified_at, issuance_at)


def random_value_days(now: date | datetime) -> int:
    """How long a Random Value created now may be answered: 30 days, or the reuse period if shorter."""
    return min(RANDOM_VALUE_DAYS, domain_reuse_days(now))


def random_value_expired(created_at: datetime, now: datetime) -> bool:
    """True once a Random Value created at ``created_at`` may no longer be accepted at ``now``."""
    return now - created_at > timedelta(days=random_value_days(now))
