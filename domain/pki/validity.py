"""Subscriber certificate validity caps (CA/B Forum BR 6.3.2, ballot SC-081)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

# (first issuance date the cap applies to, maximum validity in days), newest first.
_CAPS: tuple[tuple[date, int], ...] = (
    (date(2029, 3, 15), 47),
    (date(2027, 3, 15), 100),
    (date(2026, 3, 15), 200),
)
_ORIGINAL_CAP = 398


def max_validity_days(issued_on: date) -> int:
    """Maximum subscriber certificate validity in days for a certificate issued on `issued_on`."""
    if isinstance(issued_on, datetime):
        issued_on = issued_on.date()
    for starts, days in _CAPS:
        if issued_on >= starts:
            return days
    return _ORIGINAL_CAP


def validity_days(not_before: datetime, catalog_days: int) -> int:
    """Days actually granted: the catalog's, but one under the BR cap so linters never warn."""
    if catalog_days < 1:
        raise ValueError(f"catalog validity must be at least one day, got {catalog_days}")
    return min(catalog_days, max_validity_days(not_before.date()) - 1)


def server_validity(not_before: datetime, catalog_days: int) -> datetime:
    """notAfter for a server certificate.

    RFC 5280 validity includes both notBefore and notAfter, so N days of validity ends one
    second before notBefore + N days.
    """
    return not_before + timedelta(days=validity_days(not_before, catalog_days)) - timedelta(seconds=1)
