"""The Japanese business calendar behind every promise made "in business days".

Pure: no Temporal, HTTP or database. A business day is a weekday that is neither a
Japanese national holiday (from the ``holidays`` package, which also yields the
substitute holidays 振替休日 and the sandwiched 国民の休日) nor inside the company's
year-end closure (default Dec 29 - Jan 3). Promises are made in the calendar's time
zone (default Asia/Tokyo), whatever zone the caller's clock runs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

# (month, day); a plain tuple keeps the dataclass hashable and easy to build from configuration.
MonthDay = tuple[int, int]

_SATURDAY = 5  # date.weekday(): Monday is 0


@lru_cache(maxsize=64)
def _jp_holidays(year: int) -> frozenset[date]:
    # Building a year of holidays is far slower than a set lookup, and a count of business
    # days walks day by day, so each year is computed once per process and shared by all
    # calendars (the national holidays do not depend on the company's settings).
    return frozenset(holidays.country_holidays("JP", years=year).keys())


def _require_plain_date(d: date, name: str) -> None:
    # datetime is a subclass of date; accepting one would silently use its (possibly UTC)
    # calendar date, which is exactly the mistake local_date() exists to prevent.
    if isinstance(d, datetime):
        raise TypeError(f"{name} must be a date, not a datetime; use local_date() first")


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days and hours of the company; immutable and safe to share."""

    timezone: str = "Asia/Tokyo"
    # Inclusive on both ends; may wrap around the new year (start later than end).
    # None means the company never closes beyond weekends and national holidays.
    closure: tuple[MonthDay, MonthDay] | None = ((12, 29), (1, 3))
    business_start: time = time(9, 0)
    business_end: time = time(18, 0)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Fail at construction (i.e. at start-up, from configuration) rather than on the
        # first customer request that needs a due date.
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone: {self.timezone!r}") from exc
        object.__setattr__(self, "_zone", zone)
        if self.business_start.tzinfo is not None or self.business_end.tzinfo is not None:
            raise ValueError("business hours are local wall-clock times; give them without tzinfo")
        if not self.business_start < self.business_end:
            raise ValueError("business_start must be earlier than business_end")
        if self.closure is not None:
            for month, day in self.closure:
                date(2000, month, day)  # a leap year, so Feb 29 is accepted; raises ValueError

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def local_date(self, dt: datetime) -> date:
        """The calendar date of an aware moment in the calendar's zone.

        2026-11-30T16:00Z is already 2026-12-01 in Tokyo; using the UTC date would
        make a promise one day short.
        """
        return self._to_local(dt).date()

    def is_business_day(self, d: date) -> bool:
        _require_plain_date(d, "d")
        if d.weekday() >= _SATURDAY:
            return False
        if d in _jp_holidays(d.year):
            return False
        return not self._in_closure(d)

    def business_days_from(self, start_date: date, n: int) -> date:
        """The n-th business day after start_date (start_date itself never counts).

        n == 0 rolls forward to the first business day on or after start_date; a
        negative n counts backwards (e.g. "remind one business day before the due date").
        start_date need not be a business day: Saturday + 1 is the next business day.
        """
        _require_plain_date(start_date, "start_date")
        if n == 0:
            d = start_date
            while not self.is_business_day(d):
                d += timedelta(days=1)
            return d
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        d = start_date
        while remaining:
            d += step
            if self.is_business_day(d):
                remaining -= 1
        return d

    def add_business_days(self, start: datetime, n: int) -> datetime:
        """The moment n business days after an aware start, in the calendar's zone.

        The date is always business_days_from(local_date(start), n), so a date shown
        to a customer and the timer behind it agree. The time of day:
        - start inside business hours of a business day: the same local time
          (a request at Fri 10:30 + 3 is due Wed 10:30);
        - otherwise (before opening, after closing, weekend, holiday, closure): the
          end of business hours, because nobody could have started work at the
          start's time of day, so the whole n-th business day is promised.
          This is deliberately conservative: Mon 07:00 + 1 is Tue 18:00, never
          earlier than n full business days, so a promise is not broken by rounding.
        """
        if n < 1:
            # n == 0 has no sensible meaning here (an after-hours start would land
            # before itself); callers wanting "now or next opening" should say so.
            raise ValueError("n must be at least 1 business day")
        local = self._to_local(start)
        due_date = self.business_days_from(local.date(), n)
        wall = local.time()
        inside_hours = self.is_business_day(local.date()) and self.business_start <= wall <= self.business_end
        due_time = wall if inside_hours else self.business_end
        return datetime.combine(due_date, due_time, tzinfo=self._zone)

    def _to_local(self, dt: datetime) -> datetime:
        # A naive datetime has no defined instant; guessing its zone is how a promise
        # drifts by nine hours, so refuse it outright.
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError("naive datetime: pass an aware datetime (e.g. datetime.now(UTC))")
        return dt.astimezone(self._zone)

    def _in_closure(self, d: date) -> bool:
        if self.closure is None:
            return False
        start, end = self.closure
        md = (d.month, d.day)
        if start <= end:
            return start <= md <= end
        # Wraps around the new year: Dec 29 .. Dec 31 or Jan 1 .. Jan 3.
        return md >= start or md <= end


@dataclass(frozen=True)
class CalendarSpec:
    """The calendar as plain strings, small enough to travel in a workflow's input."""

    timezone: str = "Asia/Tokyo"
    closure: str = "12-29/01-03"  # MM-DD/MM-DD, or "" for none
    hours: str = "09:00-18:00"

    def to_calendar(self) -> BusinessCalendar:
        try:
            closure = None
            if self.closure:
                start, end = (tuple(int(x) for x in part.split("-")) for part in self.closure.split("/"))
                closure = ((start[0], start[1]), (end[0], end[1]))
            opens, closes = (time.fromisoformat(x) for x in self.hours.split("-"))
        except (ValueError, IndexError) as exc:
            raise ValueError(f"bad business calendar {self!r}: {exc}") from None
        return _calendar(self.timezone, closure, opens, closes)


@lru_cache(maxsize=16)
def _calendar(timezone: str, closure: tuple[MonthDay, MonthDay] | None, opens: time, closes: time) -> BusinessCalendar:
    return BusinessCalendar(timezone, closure, opens, closes)
