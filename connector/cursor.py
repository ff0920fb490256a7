"""The poll cursor: a typed high-water mark with a look-back window (pure; no I/O, no clock).

A poll cycle asks for tickets updated since `window_start` (the high-water mark minus a
look-back), because search results are eventually consistent and Jira's JQL dates are only
minute-precise: a ticket can become visible after a later one was already seen. Re-reading the
window costs nothing downstream, since tickets whose (updated, fingerprint) are already stored
are skipped (the boundary dedupe). The mark only moves forward, only after the batch that
justifies it is recorded (the poller commits it in the same transaction), and never past the
cycle's start, so clock skew cannot push it beyond what the cycle could have seen.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime

from connector.model import Frozen


class Cursor(Frozen):
    high_water: AwareDatetime | None = None

    def window_start(self, lookback: timedelta) -> datetime | None:
        return None if self.high_water is None else self.high_water - lookback

    def advanced(self, *, seen: datetime | None, cycle_start: datetime) -> Cursor:
        """The mark after recording tickets up to `seen`, capped at the cycle's start."""
        if seen is None:
            return self
        candidate = min(seen, cycle_start)
        if self.high_water is not None and candidate <= self.high_water:
            return self
        return Cursor(high_water=candidate)

    def dumps(self) -> str:
        return self.model_dump_json()

    @classmethod
    def loads(cls, text: str | None) -> Cursor:
        return cls() if not text else cls.model_validate_json(text)


def jql_since(start: datetime, time_zone: str) -> str:
    """`updated >= "yyyy-MM-dd HH:mm"` in the API user's zone, floored to the minute.

    Flooring widens the window by up to a minute; it never narrows it.
    """
    local = start.astimezone(ZoneInfo(time_zone))
    return f'updated >= "{local:%Y-%m-%d %H:%M}"'


def servicenow_since(start: datetime) -> str:
    """`sys_updated_on>=YYYY-MM-DD HH:MM:SS` in UTC, as the Table API reads plain dates."""
    from datetime import UTC

    return f"sys_updated_on>={start.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
