"""Business-day arithmetic for workflows.

Counted from ``workflow.now()`` (passed in), but run as an activity: the answer is recorded in
the workflow's history, so a later ``holidays`` release that adds or moves a holiday can never
make a replay of a promise already made come out differently. (It also keeps the holiday
tables, which read locale settings when built, out of the workflow sandbox.)
"""

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity

from domain.business_calendar import CalendarSpec


@dataclass
class DeadlineRequest:
    start: str  # ISO-8601, the workflow's now
    business_days: list[int]
    calendar: CalendarSpec = field(default_factory=CalendarSpec)


@dataclass
class Deadlines:
    moments: list[str]  # ISO-8601, one per requested count
    local_dates: list[str]  # the same, as calendar dates in the calendar's zone (what customers are told)


@activity.defn(name="business_deadlines")
def business_deadlines(req: DeadlineRequest) -> Deadlines:
    cal = req.calendar.to_calendar()
    start = datetime.fromisoformat(req.start)
    moments = [cal.add_business_days(start, n) for n in req.business_days]
    return Deadlines([m.isoformat() for m in moments], [cal.local_date(m).isoformat() for m in moments])
