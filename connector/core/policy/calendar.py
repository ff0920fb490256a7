"""Calendar arithmetic of the policy: freeze occurrences and maintenance windows, in local time.

Freezes and maintenance windows are declared in wall-clock time of a zone, so a weekly freeze
"Friday 18:00 to Monday 06:00, Europe/Berlin" stays at 18:00 across daylight saving changes.
Everything here is pure: given a planned window (aware datetimes), which freeze occurrence does it
touch, and does it fit inside one maintenance window.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from connector.core.memo import per_object
from connector.core.policy.config import Freeze, MaintenanceWindow, Weekday

# A recurring freeze is expanded this many occurrences at most per look-up, counted from the
# first occurrence that can reach the window (not from the freeze's first occurrence ever).
MAX_OCCURRENCES = 600

_WEEK = timedelta(weeks=1)


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """A config datetime as an aware one: naive means wall-clock time in `zone`."""
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _shift(moment: datetime, recurrence: str, n: int) -> datetime:
    if recurrence == "weekly":
        return moment + timedelta(weeks=n)
    months = n * (12 if recurrence == "yearly" else 1)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _first_candidate(recurrence: str, first: datetime, length: timedelta, since: datetime) -> int:
    """An occurrence number at or before the first occurrence that ends after `since` (all
    wall-clock times), so a freeze declared years ago is not walked from its beginning."""
    if since <= first:
        return 0
    if recurrence == "weekly":
        return max(0, (since - first - length) // _WEEK - 1)
    months = (since.year - first.year) * 12 + since.month - first.month
    months -= length.days // 28 + 2  # an occurrence may begin that many months earlier
    return max(0, months // 12 if recurrence == "yearly" else months)


@dataclass(frozen=True)
class _Shape:
    """A freeze in a zone: its first occurrence, aware and in wall-clock time."""

    start: datetime
    end: datetime
    first: datetime  # wall-clock start
    last: datetime  # wall-clock end
    length: timedelta  # wall-clock length


@per_object
def _shapes(freeze: Freeze) -> dict[ZoneInfo, _Shape]:
    return {}


def _shape(freeze: Freeze, zone: ZoneInfo) -> _Shape:
    shapes = _shapes(freeze)
    shape = shapes.get(zone)
    if shape is None:
        start, end = _local(freeze.start, zone), _local(freeze.end, zone)
        first = start.replace(tzinfo=None)
        length = end.astimezone(start.tzinfo).replace(tzinfo=None) - first
        shape = shapes[zone] = _Shape(start, end, first, end.replace(tzinfo=None), length)
    return shape


def occurrences(
    freeze: Freeze, zone: ZoneInfo, *, until: datetime, since: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """The freeze's (start, end) occurrences that start before `until`, in order; with `since`,
    possibly without some of those that end before it."""
    shape = _shape(freeze, zone)
    if freeze.recurrence == "none":
        yield shape.start, shape.end
        return
    # Shift in wall-clock time, then attach the zone again: DST keeps the local hour.
    recurrence, first, last, length = freeze.recurrence, shape.first, shape.last, shape.length
    start_zone, end_zone = shape.start.tzinfo, shape.end.tzinfo
    n0 = 0
    if since is not None:
        wall_since = since.astimezone(start_zone).replace(tzinfo=None)
        n0 = _first_candidate(recurrence, first, length, wall_since)
    for n in range(n0, n0 + MAX_OCCURRENCES):
        s = _shift(first, recurrence, n).replace(tzinfo=start_zone)
        if s >= until:
            return
        e = _shift(last, recurrence, n).replace(tzinfo=end_zone)
        if e <= s:
            # Both ends clamped into a short month (the 30th to the 31st in February): the
            # occurrence keeps its wall-clock length instead of vanishing.
            e = (s.replace(tzinfo=None) + length).replace(tzinfo=start_zone)
        yield s, e


def freeze_overlap(
    freeze: Freeze, zone: ZoneInfo, *, start: datetime, end: datetime
) -> tuple[datetime, datetime] | None:
    """The first occurrence of `freeze` that overlaps [start, end), if any."""
    if freeze.recurrence == "none":
        shape = _shape(freeze, zone)
        return (shape.start, shape.end) if shape.start < end and start < shape.end else None
    for s, e in occurrences(freeze, zone, until=end, since=start):
        if s < end and start < e:
            return s, e
    return None


@lru_cache(maxsize=256)
def _day_numbers(days: tuple[Weekday, ...]) -> frozenset[int]:
    return frozenset(d.number for d in days)


def fits_maintenance(
    window: MaintenanceWindow, zone: ZoneInfo, *, start: datetime, end: datetime
) -> bool:
    """Whether [start, end) lies inside one occurrence of the maintenance window."""
    local_start = start.astimezone(zone)
    days = _day_numbers(window.days)
    for back in (0, 1):  # an occurrence that began the day before may run past midnight
        day = (local_start - timedelta(days=back)).date()
        if day.weekday() not in days:
            continue
        opens = datetime.combine(day, window.start, tzinfo=zone)
        closes = datetime.combine(day, window.end, tzinfo=zone)
        if closes <= opens:
            closes += timedelta(days=1)
        if opens <= start and end <= closes:
            return True
    return False
