"""The change calendar as iCalendar text: approved changes' planned windows, the policy's freezes
and its maintenance windows, for `change-connector calendar` and `GET /calendar.ics`.

Pure: the shell reads the stored changes and passes them in with the policy, the period and the
moment of the build; this returns the VCALENDAR text (RFC 5545). UIDs are stable (a change's is
its source and key), so a subscribed calendar app updates an event instead of adding another.

- A change is published while it holds its window (approved, scheduled, implementing: the
  window index's `HOLDS_WINDOW`) and has both ends of a planned window inside the period.
- A one-off freeze is one event. A recurring freeze is one event with an RRULE, anchored in the
  freeze's zone (VTIMEZONE included), when an RRULE says exactly what the policy means; the few
  it cannot (a monthly freeze on the 29th-31st, one whose length changes with the month, a
  yearly one on 29 February) are expanded into one event per occurrence in the period.
- A maintenance window is a weekly RRULE from its first day in the period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from connector.core import ical
from connector.core.model import Change
from connector.core.policy.calendar import _shift, occurrences
from connector.core.policy.config import Freeze, MaintenanceWindow, PolicySettings
from connector.core.windows import HOLDS_WINDOW

PRODID = "-//change-connector//change calendar//EN"
UID_DOMAIN = "change-connector"
# VTIMEZONE transitions are written this far past the period, for the RRULEs' later occurrences.
ZONE_YEARS_AHEAD = 5
_RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_FREQ = {"weekly": "WEEKLY", "monthly": "MONTHLY", "yearly": "YEARLY"}


@dataclass(frozen=True)
class Period:
    """What the feed covers: [since, until), and optionally one source's changes and what
    touches one system."""

    since: datetime
    until: datetime
    source: str | None = None
    system: str | None = None


def build_calendar(
    changes: Iterable[Change], policy: PolicySettings, *, period: Period, stamp: datetime
) -> str:
    """The VCALENDAR text. `stamp`: DTSTAMP of the policy's events (a change's is its
    `updated`, so the text of an unchanged change stays the same)."""
    events: list[str] = []
    zones: dict[str, tuple[ZoneInfo, datetime]] = {}
    for change in sorted(changes, key=lambda c: (c.source.instance, c.key)):
        if _published(change, period):
            events.extend(_change_event(change))
    for freeze in policy.freezes:
        if period.system is None or not freeze.systems or period.system in freeze.systems:
            events.extend(_freeze_events(freeze, policy, period, stamp, zones))
    # A window's UID is its content's digest (a window listed twice is one event).
    for window in dict.fromkeys(policy.maintenance_windows):
        if period.system is None or period.system in window.systems:
            events.extend(_maintenance_event(window, policy, period, stamp, zones))
    head = [
        ical.prop("BEGIN", "VCALENDAR"),
        ical.prop("VERSION", "2.0"),
        ical.text("PRODID", PRODID),
        ical.prop("CALSCALE", "GREGORIAN"),
        ical.text("X-WR-CALNAME", "Change calendar"),
    ]
    timezones: list[str] = []
    for zone, earliest in sorted(zones.values(), key=lambda z: z[0].key):
        ahead = period.until + timedelta(days=366 * ZONE_YEARS_AHEAD)
        timezones.extend(ical.vtimezone(zone, since=earliest - timedelta(days=1), until=ahead))
    return "".join([*head, *timezones, *events, ical.prop("END", "VCALENDAR")])


def _published(change: Change, period: Period) -> bool:
    start, end = change.planned_start, change.planned_end
    if start is None or end is None or change.status not in HOLDS_WINDOW:
        return False
    if period.source is not None and change.source.instance != period.source:
        return False
    if period.system is not None and period.system not in change.affected_systems:
        return False
    return start < period.until and period.since < end


def change_uid(change: Change) -> str:
    return f"change-{_slug(change.source.instance)}-{_slug(change.key)}@{UID_DOMAIN}"


def _change_event(change: Change) -> Iterator[str]:
    assert change.planned_start is not None and change.planned_end is not None
    systems = ", ".join(change.affected_systems) or "-"
    description = (
        f"{change.source.instance} {change.key}: {change.status.value}, "
        f"{change.effective_class} change\nSystems: {systems}"
    )
    if change.risk is not None:
        description += f"\nRisk: {change.risk.value}"
    yield ical.prop("BEGIN", "VEVENT")
    yield ical.text("UID", change_uid(change))
    yield ical.prop("DTSTAMP", ical.utc(change.updated))
    yield ical.prop("LAST-MODIFIED", ical.utc(change.updated))
    yield ical.prop("DTSTART", ical.utc(change.planned_start))
    yield ical.prop("DTEND", ical.utc(change.planned_end))
    yield ical.text("SUMMARY", f"{change.key} {change.title}".strip())
    yield ical.text("DESCRIPTION", description)
    if change.url:
        yield ical.prop("URL", _uri(change.url))
    categories = ["Change", change.effective_class, change.source.instance]
    yield _categories([*categories, *change.affected_systems])
    yield ical.prop("STATUS", "CONFIRMED")
    yield ical.prop("END", "VEVENT")


def freeze_uid(freeze: Freeze) -> str:
    digest = hashlib.sha256(f"{freeze.name}\n{freeze.start.isoformat()}".encode()).hexdigest()
    return f"freeze-{_slug(freeze.name)}-{digest[:12]}@{UID_DOMAIN}"


def _freeze_events(
    freeze: Freeze,
    policy: PolicySettings,
    period: Period,
    stamp: datetime,
    zones: dict[str, tuple[ZoneInfo, datetime]],
) -> Iterator[str]:
    zone = policy.zone(freeze.time_zone)
    systems = ", ".join(freeze.systems) or "every system"
    common = [
        ical.prop("DTSTAMP", ical.utc(stamp)),
        ical.text("SUMMARY", f"Freeze: {freeze.name}"),
        ical.text("DESCRIPTION", f"Change freeze on {systems}"),
        _categories(["Freeze", *freeze.systems]),
        ical.prop("TRANSP", "OPAQUE"),
    ]
    spans = occurrences(freeze, zone, until=period.until, since=period.since)
    if freeze.recurrence != "none" and _rrule_exact(freeze, zone):
        first, end = next(occurrences(freeze, zone, until=datetime.max.replace(tzinfo=UTC)))
        if first >= period.until:
            return
        length = end.astimezone(first.tzinfo).replace(tzinfo=None) - first.replace(tzinfo=None)
        yield ical.prop("BEGIN", "VEVENT")
        yield ical.text("UID", freeze_uid(freeze))
        yield _start(first, zones)
        yield ical.prop("DURATION", ical.duration(length))
        yield ical.prop("RRULE", f"FREQ={_FREQ[freeze.recurrence]}")
        yield from common
        yield ical.prop("END", "VEVENT")
        return
    for start, end in spans:
        if not (start < period.until and period.since < end):
            continue
        uid = freeze_uid(freeze)
        if freeze.recurrence != "none":  # one event per occurrence, each its own UID
            uid = uid.replace("@", f"-{ical.utc(start)}@")
        yield ical.prop("BEGIN", "VEVENT")
        yield ical.text("UID", uid)
        yield ical.prop("DTSTART", ical.utc(start))
        yield ical.prop("DTEND", ical.utc(end))
        yield from common
        yield ical.prop("END", "VEVENT")


def _rrule_exact(freeze: Freeze, zone: ZoneInfo) -> bool:
    """Whether FREQ=<recurrence> with a fixed wall-clock DURATION gives exactly the occurrences
    `policy.calendar` computes: no day clamped into a short month, the same length each time."""
    if freeze.recurrence == "weekly":
        return True
    first, end = next(occurrences(freeze, zone, until=datetime.max.replace(tzinfo=UTC)))
    start_wall = first.replace(tzinfo=None)
    end_wall = end.astimezone(first.tzinfo).replace(tzinfo=None)
    if freeze.recurrence == "monthly" and max(start_wall.day, end_wall.day) > 28:
        return False
    if any(d.month == 2 and d.day == 29 for d in (start_wall, end_wall)):
        return False
    length = end_wall - start_wall
    cycle = 48 if freeze.recurrence == "monthly" else 8  # a leap-year cycle and more
    return all(
        _shift(end_wall, freeze.recurrence, n) - _shift(start_wall, freeze.recurrence, n) == length
        for n in range(cycle)
    )


def _start(first: datetime, zones: dict[str, tuple[ZoneInfo, datetime]]) -> str:
    """DTSTART in the zone's wall clock with its TZID; a fixed offset as UTC (recurring in UTC
    is then what the policy means, since the offset never changes)."""
    tz = first.tzinfo
    if isinstance(tz, ZoneInfo) and tz.key not in ("UTC", "Etc/UTC"):
        known = zones.get(tz.key)
        if known is None or first < known[1]:
            zones[tz.key] = (tz, first)
        return ical.prop("DTSTART", ical.local(first), tzid=tz.key)
    return ical.prop("DTSTART", ical.utc(first))


def _maintenance_event(
    window: MaintenanceWindow,
    policy: PolicySettings,
    period: Period,
    stamp: datetime,
    zones: dict[str, tuple[ZoneInfo, datetime]],
) -> Iterator[str]:
    zone = policy.zone(window.time_zone)
    numbers = sorted({d.number for d in window.days})
    day = _first_day(period.since.astimezone(zone).date(), numbers)
    opens = datetime.combine(day, window.start, tzinfo=zone)
    closes = datetime.combine(day, window.end, tzinfo=zone)
    if closes <= opens:
        closes += timedelta(days=1)
    if opens >= period.until:
        return
    length = closes.replace(tzinfo=None) - opens.replace(tzinfo=None)
    systems = ", ".join(window.systems)
    digest = hashlib.sha256(window.model_dump_json().encode()).hexdigest()[:12]
    byday = ",".join(_RRULE_DAYS[n] for n in numbers)
    yield ical.prop("BEGIN", "VEVENT")
    yield ical.text("UID", f"maintenance-{digest}@{UID_DOMAIN}")
    yield ical.prop("DTSTAMP", ical.utc(stamp))
    yield _start(opens, zones)
    yield ical.prop("DURATION", ical.duration(length))
    yield ical.prop("RRULE", f"FREQ=WEEKLY;BYDAY={byday}")
    yield ical.text("SUMMARY", f"Maintenance window: {systems}")
    yield ical.text("DESCRIPTION", f"Changes to {systems} may be made in this window")
    yield _categories(["Maintenance window", *window.systems])
    yield ical.prop("TRANSP", "TRANSPARENT")
    yield ical.prop("END", "VEVENT")


def _first_day(day: date, numbers: list[int]) -> date:
    while day.weekday() not in numbers:
        day += timedelta(days=1)
    return day


def _categories(names: Iterable[str]) -> str:
    unique = [n for n in dict.fromkeys(names) if n]
    return ical.prop("CATEGORIES", ",".join(ical.escape_text(n) for n in unique))


def _uri(url: str) -> str:
    """A URI value takes no TEXT escaping; characters a content line cannot hold are
    percent-encoded (a ticket URL has none, but the config's base URL is the user's)."""
    return "".join(
        c if 0x20 < ord(c) < 0x7F else "".join(f"%{b:02X}" for b in c.encode()) for c in url
    )


def _slug(value: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in value)
