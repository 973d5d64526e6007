"""Table tests for the Japanese business calendar (S-11 reset promise, T-3 due dates)."""

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from domain.business_calendar import BusinessCalendar, _jp_holidays

CAL = BusinessCalendar()
JST = timezone(timedelta(hours=9))


def d(text: str) -> date:
    return date.fromisoformat(text)


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("day", "expected", "why"),
    [
        ("2026-06-05", True, "ordinary Friday"),
        ("2026-06-06", False, "Saturday"),
        ("2026-06-07", False, "Sunday"),
        ("2027-04-29", False, "Showa Day"),
        ("2027-04-30", True, "Friday between Showa Day and the weekend"),
        ("2027-05-03", False, "Constitution Day"),
        ("2027-05-04", False, "Greenery Day"),
        ("2027-05-05", False, "Children's Day"),
        ("2027-05-06", True, "first day after Golden Week"),
        ("2026-05-06", False, "substitute holiday for Constitution Day on a Sunday"),
        ("2027-03-22", False, "substitute holiday for the vernal equinox on a Sunday"),
        ("2026-09-22", False, "national holiday sandwiched between two holidays"),
        ("2026-12-28", True, "last business day of the year"),
        ("2026-12-29", False, "company closure starts"),
        ("2026-12-31", False, "company closure"),
        ("2027-01-01", False, "New Year's Day (holiday and closure)"),
        ("2027-01-03", False, "company closure ends (and Sunday)"),
        ("2027-01-04", True, "first business day of the year"),
        ("2027-01-11", False, "Coming of Age Day"),
    ],
)
def test_is_business_day(day: str, expected: bool, why: str) -> None:
    assert CAL.is_business_day(d(day)) is expected, why


@pytest.mark.parametrize(
    ("start", "n", "expected", "why"),
    [
        ("2026-06-05", 3, "2026-06-10", "Friday + 3 is Wednesday"),
        ("2026-06-05", 1, "2026-06-08", "Friday + 1 is Monday"),
        ("2026-06-06", 1, "2026-06-08", "a Saturday start counts from the next business day"),
        ("2026-06-06", 3, "2026-06-10", "Saturday + 3 is Wednesday"),
        ("2027-04-28", 1, "2027-04-30", "skips Showa Day"),
        ("2027-04-30", 1, "2027-05-06", "skips the weekend and May 3-5"),
        ("2027-04-28", 3, "2027-05-07", "straight through Golden Week"),
        ("2026-05-01", 1, "2026-05-07", "skips the substitute holiday on May 6"),
        ("2027-03-19", 1, "2027-03-23", "skips the Monday substitute holiday"),
        ("2026-09-18", 1, "2026-09-24", "Silver Week: Sep 21-23 are all holidays"),
        ("2026-12-28", 1, "2027-01-04", "year-end closure"),
        ("2026-12-25", 3, "2027-01-05", "Friday before the closure + 3"),
        ("2026-12-30", 1, "2027-01-04", "a start inside the closure"),
        ("2026-06-05", 0, "2026-06-05", "n == 0 on a business day is that day"),
        ("2026-06-06", 0, "2026-06-08", "n == 0 rolls a weekend forward"),
        ("2027-01-04", -1, "2026-12-28", "counting backwards skips the closure"),
        ("2026-06-10", -3, "2026-06-05", "Wednesday - 3 is Friday"),
    ],
)
def test_business_days_from(start: str, n: int, expected: str, why: str) -> None:
    assert CAL.business_days_from(d(start), n) == d(expected), why


@pytest.mark.parametrize(
    ("start", "n", "expected", "why"),
    [
        (
            "2026-06-05T10:30:00+09:00",
            3,
            "2026-06-10T10:30:00+09:00",
            "inside hours: same local time, Friday + 3 is Wednesday",
        ),
        (
            "2026-06-05T01:30:00+00:00",
            3,
            "2026-06-10T10:30:00+09:00",
            "a UTC start inside Tokyo business hours keeps the Tokyo wall-clock time",
        ),
        ("2026-06-05T09:00:00+09:00", 1, "2026-06-08T09:00:00+09:00", "opening time is inside hours"),
        ("2026-06-05T18:00:00+09:00", 1, "2026-06-08T18:00:00+09:00", "closing time is inside hours"),
        ("2026-06-05T07:00:00+09:00", 1, "2026-06-08T18:00:00+09:00", "before opening: end of hours"),
        ("2026-06-05T19:00:00+09:00", 1, "2026-06-08T18:00:00+09:00", "after closing: end of hours"),
        ("2026-06-06T10:00:00+09:00", 1, "2026-06-08T18:00:00+09:00", "Saturday: end of Monday"),
        ("2027-05-04T11:00:00+09:00", 1, "2027-05-06T18:00:00+09:00", "holiday start: end of hours"),
        ("2026-12-28T15:00:00+09:00", 1, "2027-01-04T15:00:00+09:00", "across the year-end closure"),
        (
            "2026-11-30T16:00:00+00:00",
            1,
            "2026-12-02T18:00:00+09:00",
            "already Tue Dec 1 01:00 in Tokyo: counts from Dec 1, outside hours",
        ),
        (
            "2026-06-05T10:30:15.250000+09:00",
            2,
            "2026-06-09T10:30:15.250000+09:00",
            "seconds and microseconds are kept",
        ),
    ],
)
def test_add_business_days(start: str, n: int, expected: str, why: str) -> None:
    result = CAL.add_business_days(dt(start), n)
    assert result == dt(expected), why
    assert result.utcoffset() == timedelta(hours=9), "the result is in the calendar's zone"


def test_add_business_days_date_agrees_with_business_days_from() -> None:
    # The date told to the customer and the timer behind it must never disagree.
    for hour in range(24):
        start = datetime(2026, 12, 25, hour, tzinfo=JST)
        assert CAL.add_business_days(start, 3).date() == CAL.business_days_from(start.date(), 3)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-11-30T16:00:00+00:00", "2026-12-01"),
        ("2026-11-30T14:59:59+00:00", "2026-11-30"),
        ("2026-12-01T00:30:00+09:00", "2026-12-01"),
        ("2026-12-31T20:00:00-05:00", "2027-01-01"),
    ],
)
def test_local_date(moment: str, expected: str) -> None:
    assert CAL.local_date(dt(moment)) == d(expected)


def test_local_date_follows_the_calendars_zone() -> None:
    utc_calendar = BusinessCalendar(timezone="UTC")
    assert utc_calendar.local_date(dt("2026-11-30T16:00:00+00:00")) == d("2026-11-30")


@pytest.mark.parametrize(
    "call",
    [
        lambda: CAL.add_business_days(datetime(2026, 6, 5, 10, 0), 1),
        lambda: CAL.local_date(datetime(2026, 6, 5, 10, 0)),
    ],
    ids=["add_business_days", "local_date"],
)
def test_naive_datetimes_are_refused(call) -> None:
    with pytest.raises(ValueError, match="naive"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: CAL.is_business_day(datetime(2026, 6, 5, 10, 0, tzinfo=UTC)),
        lambda: CAL.business_days_from(datetime(2026, 6, 5, 10, 0, tzinfo=UTC), 1),
    ],
    ids=["is_business_day", "business_days_from"],
)
def test_datetimes_are_not_dates(call) -> None:
    with pytest.raises(TypeError, match="local_date"):
        call()


@pytest.mark.parametrize("n", [0, -1])
def test_add_business_days_needs_a_positive_count(n: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CAL.add_business_days(datetime(2026, 6, 5, 10, 0, tzinfo=JST), n)


def test_defaults() -> None:
    assert CAL.timezone == "Asia/Tokyo"
    assert CAL.closure == ((12, 29), (1, 3))
    assert (CAL.business_start, CAL.business_end) == (time(9, 0), time(18, 0))
    assert CAL.zone.key == "Asia/Tokyo"


def test_custom_closure_and_hours() -> None:
    cal = BusinessCalendar(closure=((8, 13), (8, 16)), business_start=time(10), business_end=time(17))
    assert not cal.is_business_day(d("2027-08-13"))  # Obon closure, a Friday
    assert cal.is_business_day(d("2026-12-29"))  # no year-end closure any more
    assert cal.add_business_days(dt("2027-08-12T17:30:00+09:00"), 1) == dt("2027-08-17T17:00:00+09:00")


def test_no_closure() -> None:
    cal = BusinessCalendar(closure=None)
    assert cal.business_days_from(d("2026-12-28"), 1) == d("2026-12-29")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"business_start": time(18), "business_end": time(9)},
        {"business_start": time(9, tzinfo=UTC)},
        {"closure": ((2, 30), (3, 1))},
    ],
    ids=["zone", "hours-order", "aware-hours", "closure-date"],
)
def test_invalid_configuration_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(**kwargs)


def test_calendar_is_hashable_and_comparable() -> None:
    assert BusinessCalendar() == CAL
    assert hash(BusinessCalendar()) == hash(CAL)


def test_holidays_are_cached_per_year() -> None:
    _jp_holidays.cache_clear()
    for day in range(1, 32):
        CAL.is_business_day(date(2027, 5, day))
    info = _jp_holidays.cache_info()
    assert info.misses == 1
    assert info.hits >= 20  # weekdays of May 2027 after the first lookup
