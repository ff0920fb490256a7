"""Calendar days a user names (CLI options, report API parameters), within a supported range.

Days outside [`FIRST_DAY`, `LAST_DAY`] are refused with one line rather than clamped: a report
"until 9999-12-31" would otherwise overflow the date arithmetic of a period's end, and a day that
far out is a typo more often than a wish.
"""

from __future__ import annotations

from datetime import date, datetime

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
#: Longest text read as a day (a date, or a date-time whose day is taken).
_MAX_TEXT = 40


class BadDay(ValueError):
    """A day that cannot be read or is out of range; the message is one line."""


def parse_day(text: str, what: str) -> date:
    """`YYYY-MM-DD` (or an ISO date-time, whose day is taken) within the supported range."""
    shown = repr(text[:_MAX_TEXT] + ("..." if len(text) > _MAX_TEXT else ""))
    try:
        if len(text) > _MAX_TEXT:
            raise ValueError
        day = datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
    except ValueError:
        raise BadDay(f"{what}: {shown} is not a date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadDay(f"{what}: {shown} is out of range ({FIRST_DAY} to {LAST_DAY})")
    return day
