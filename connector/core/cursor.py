"""The poll cursor: a typed low-water mark with a look-back (pure; no I/O, no clock).

The cursor says "every ticket updated before this instant is recorded". Search results are
eventually consistent (and Jira's JQL dates only minute-precise), so a ticket updated at t may
only become visible up to `lookback` later; after a scan that began at S, only what was updated
before S - lookback is surely seen. Hence the cursor advances, page by page, to the newest
update recorded but never past S - lookback, and to S - lookback once the whole scan has
completed. The next window starts at the cursor: re-reading what the look-back covers costs
nothing downstream, because tickets whose (key, fingerprint) are already stored are skipped
(the boundary dedupe). The poller commits the cursor in the same transaction as the batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime

from connector.core.model import Frozen


class Cursor(Frozen):
    high_water: AwareDatetime | None = None

    def window_start(self) -> datetime | None:
        return self.high_water

    def advanced(
        self, *, seen: datetime | None, cycle_start: datetime, lookback: timedelta
    ) -> Cursor:
        """After recording tickets up to `seen` in a scan that began at `cycle_start`."""
        if seen is None:
            return self
        return self._to(min(seen, cycle_start - lookback))

    def completed(self, *, cycle_start: datetime, lookback: timedelta) -> Cursor:
        """After a scan that began at `cycle_start` read every page."""
        return self._to(cycle_start - lookback)

    def _to(self, candidate: datetime) -> Cursor:
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
