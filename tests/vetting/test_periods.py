"""BR 4.2.1 reuse periods on both sides of every SC-081 date, counted to the second, and Random Value life."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.vetting.periods import (
    domain_reuse_days,
    identity_reusable,
    identity_reuse_days,
    random_value_days,
    random_value_expired,
    validation_reusable,
)

JST = timezone(timedelta(hours=9))
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("issued_on", "days"),
    [
        (date(2021, 6, 2), 398),
        (date(2026, 3, 14), 398),
        (date(2026, 3, 15), 200),
        (date(2027, 3, 14), 200),
        (date(2027, 3, 15), 100),
        (date(2029, 3, 14), 100),
        (date(2029, 3, 15), 10),
        (date(2040, 1, 1), 10),
        (datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC), 398),
        (datetime(2026, 3, 15, 0, 0, 0, tzinfo=UTC), 200),
        # BR dates are 00:00 UTC: 09:00 in Tokyo on 15 March is still the 15th in UTC, 08:59 is not.
        (datetime(2026, 3, 15, 8, 59, 59, tzinfo=JST), 398),
        (datetime(2026, 3, 15, 9, 0, 0, tzinfo=JST), 200),
    ],
)
def test_domain_reuse_days(issued_on: date, days: int) -> None:
    assert domain_reuse_days(issued_on) == days


@pytest.mark.parametrize(
    ("issued_on", "days"),
    [
        (date(2024, 1, 1), 825),
        (date(2026, 3, 14), 825),
        (date(2026, 3, 15), 398),
        (date(2040, 1, 1), 398),
        (datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC), 825),
        (datetime(2026, 3, 15, tzinfo=UTC), 398),
    ],
)
def test_identity_reuse_days(issued_on: date, days: int) -> None:
    assert identity_reuse_days(issued_on) == days


# (issuance, age of the validation at issuance, reusable?): "within N days prior to issuing" keeps
# exactly N days and drops one second more.
@pytest.mark.parametrize(
    ("issuance_at", "age", "reusable"),
    [
        (datetime(2026, 3, 14, 12, tzinfo=UTC), timedelta(days=398), True),
        (datetime(2026, 3, 14, 12, tzinfo=UTC), timedelta(days=398) + SECOND, False),
        (datetime(2026, 3, 15, tzinfo=UTC), timedelta(days=200), True),
        (datetime(2026, 3, 15, tzinfo=UTC), timedelta(days=200) + SECOND, False),
        (datetime(2026, 3, 15, tzinfo=UTC), timedelta(days=201), False),
        (datetime(2027, 3, 14, 23, 59, 59, tzinfo=UTC), timedelta(days=200), True),
        (datetime(2027, 3, 15, tzinfo=UTC), timedelta(days=100), True),
        (datetime(2027, 3, 15, tzinfo=UTC), timedelta(days=100) + SECOND, False),
        (datetime(2029, 3, 14, 23, 59, 59, tzinfo=UTC), timedelta(days=100), True),
        (datetime(2029, 3, 15, tzinfo=UTC), timedelta(days=10), True),
        (datetime(2029, 3, 15, tzinfo=UTC), timedelta(days=10) + SECOND, False),
        (datetime(2029, 3, 15, tzinfo=UTC), timedelta(0), True),
        # A validation stamped after the issuance (clock error) backs nothing.
        (datetime(2026, 12, 4, tzinfo=UTC), -SECOND, False),
    ],
)
def test_validation_reusable(issuance_at: datetime, age: timedelta, reusable: bool) -> None:
    assert validation_reusable(issuance_at - age, issuance_at) is reusable


@pytest.mark.parametrize(
    ("issuance_at", "age", "reusable"),
    [
        (datetime(2026, 3, 14, 12, tzinfo=UTC), timedelta(days=825), True),
        (datetime(2026, 3, 14, 12, tzinfo=UTC), timedelta(days=825) + SECOND, False),
        (datetime(2026, 3, 15, tzinfo=UTC), timedelta(days=398), True),
        (datetime(2026, 3, 15, tzinfo=UTC), timedelta(days=398) + SECOND, False),
        (datetime(2026, 3, 15, tzinfo=UTC), timedelta(days=500), False),
        (datetime(2026, 12, 4, tzinfo=UTC), -SECOND, False),
    ],
)
def test_identity_reusable(issuance_at: datetime, age: timedelta, reusable: bool) -> None:
    assert identity_reusable(issuance_at - age, issuance_at) is reusable


@pytest.mark.parametrize(
    ("now", "days"),
    [
        (date(2026, 12, 4), 30),
        (date(2029, 3, 14), 30),
        # From 2029-03-15 the domain reuse period (10 days) is shorter than 30 days and wins.
        (date(2029, 3, 15), 10),
    ],
)
def test_random_value_days(now: date, days: int) -> None:
    assert random_value_days(now) == days


@pytest.mark.parametrize(
    ("created_at", "age", "expired"),
    [
        (datetime(2026, 12, 4, 10, tzinfo=UTC), timedelta(0), False),
        (datetime(2026, 12, 4, 10, tzinfo=UTC), timedelta(days=30), False),
        (datetime(2026, 12, 4, 10, tzinfo=UTC), timedelta(days=30) + SECOND, True),
        # Answered on 2029-03-14 a 30-day-old value still counts; on 2029-03-15 only 10 days do.
        (datetime(2029, 2, 12, tzinfo=UTC), timedelta(days=30), False),
        (datetime(2029, 2, 13, tzinfo=UTC), timedelta(days=30), True),
        (datetime(2029, 3, 15, tzinfo=UTC), timedelta(days=10), False),
        (datetime(2029, 3, 15, tzinfo=UTC), timedelta(days=10) + SECOND, True),
    ],
)
def test_random_value_expired(created_at: datetime, age: timedelta, expired: bool) -> None:
    assert random_value_expired(created_at, created_at + age) is expired
