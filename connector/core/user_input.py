"""What a user types: calendar days within a supported range, and free text that can be stored.

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


class BadInput(ValueError):
    """A value a user gave that cannot be used; the message is one line naming where."""


def parse_day(text: str, what: str) -> date:
    """`YYYY-MM-DD` (or an ISO date-time, whose day is taken) within the supported range."""
    shown = repr(text[:_MAX_TEXT] + ("..." if len(text) > _MAX_TEXT else ""))
    try:
        if len(text) > _MAX_TEXT:
            raise ValueError
        day = datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{what}: {shown} is not a date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput(f"{what}: {shown} is out of range ({FIRST_DAY} to {LAST_DAY})")
    return day


#: Longest free text (a board note, a name) taken from the command line.
MAX_TEXT = 10_000


def check_text(text: str, what: str) -> str:
    """`text` if the store can keep it: no NUL or other control characters but tab and newline,
    no undecodable bytes (lone surrogates), at most `MAX_TEXT` characters."""
    if len(text) > MAX_TEXT:
        raise BadInput(f"{what}: longer than {MAX_TEXT} characters")
    if any((ord(c) < 32 and c not in "\t\n") or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise BadInput(f"{what}: has control characters or bytes that are not UTF-8")
    return text
