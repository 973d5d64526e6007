"""Durations as operators write them: plain seconds or ISO-8601 (``P14D``, ``PT30S``).

A demo shrinks "two weeks" to seconds by setting ``CERTDESK_DELAYED_REVOCATION=20``.
"""

import re
from datetime import timedelta

_ISO = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(value: object) -> timedelta:
    """Parse seconds (int, float or numeric string) or an ISO-8601 duration without years/months.

    Years and months are refused: their length depends on the date, and a policy
    duration must mean the same thing on every day.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected seconds or an ISO-8601 duration such as P14D or PT30S")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            match = _ISO.match(text)
            if not match or text.upper() in ("P", "PT") or text.upper().endswith("T"):
                raise ValueError(
                    f"{text!r} is not a duration: use seconds or ISO-8601 such as P14D or PT30S"
                )
            parts = {k: float(v) for k, v in match.groupdict().items() if v}
            return timedelta(**parts)
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """ISO-8601 for display (``P14D``, ``PT30S``)."""
    total = int(value.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    out = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return out if out != "P" else "PT0S"
