"""BR validity caps on both sides of each SC-081 boundary, and the one-day-under issuance rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.pki.validity import max_validity_days, server_validity, validity_days


@pytest.mark.parametrize(
    ("issued_on", "cap"),
    [
        (date(2024, 1, 1), 398),
        (date(2026, 3, 14), 398),
        (date(2026, 3, 15), 200),
        (date(2027, 3, 14), 200),
        (date(2027, 3, 15), 100),
        (date(2029, 3, 14), 100),
        (date(2029, 3, 15), 47),
        (date(2040, 1, 1), 47),
        (datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC), 398),
        (datetime(2026, 3, 15, 0, 0, 0, tzinfo=UTC), 200),
    ],
)
def test_max_validity_days(issued_on: date, cap: int) -> None:
    assert max_validity_days(issued_on) == cap


@pytest.mark.parametrize(
    ("not_before", "catalog_days", "granted"),
    [
        (datetime(2025, 6, 1, 12, tzinfo=UTC), 365, 365),
        (datetime(2025, 6, 1, 12, tzinfo=UTC), 398, 397),
        (datetime(2025, 6, 1, 12, tzinfo=UTC), 730, 397),
        (datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC), 398, 397),
        (datetime(2026, 3, 15, tzinfo=UTC), 398, 199),
        (datetime(2026, 3, 15, tzinfo=UTC), 90, 90),
        (datetime(2027, 3, 15, tzinfo=UTC), 365, 99),
        (datetime(2029, 3, 15, tzinfo=UTC), 365, 46),
        (datetime(2029, 3, 15, tzinfo=UTC), 1, 1),
    ],
)
def test_server_validity(not_before: datetime, catalog_days: int, granted: int) -> None:
    not_after = server_validity(not_before, catalog_days)
    assert validity_days(not_before, catalog_days) == granted
    # RFC 5280 counts both ends, so the period is notAfter - notBefore + 1 second.
    assert not_after - not_before + timedelta(seconds=1) == timedelta(days=granted)
    assert granted < max_validity_days(not_before)


@pytest.mark.parametrize("catalog_days", [0, -5])
def test_catalog_days_must_be_positive(catalog_days: int) -> None:
    with pytest.raises(ValueError, match="at least one day"):
        server_validity(datetime(2026, 5, 1, tzinfo=UTC), catalog_days)
