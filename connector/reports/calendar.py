"""The published change calendar read from the store: `change-connector calendar` and
`GET /calendar.ics` both call `calendar_ics` (the text itself is built by the pure
`core.calendar_feed`).

Reads the store only, like every report; deleted tickets are left out. The period is given in
days of the policy's time zone (`--from` / `--until`, `from` / `until`): from 00:00 of the first
to 24:00 of the last; without them, from `DEFAULT_DAYS_BACK` days ago to `DEFAULT_DAYS_AHEAD`
days ahead, which is what a subscribed calendar app wants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from connector.core.calendar_feed import Period, build_calendar
from connector.core.model import Change
from connector.core.user_input import BadInput, parse_day
from connector.reports.summary import day_span
from connector.settings import Settings
from connector.store import Store

DEFAULT_DAYS_BACK = 30
DEFAULT_DAYS_AHEAD = 365


def calendar_period(
    settings: Settings,
    *,
    now: datetime,
    first: str | None = None,
    last: str | None = None,
    source: str | None = None,
    system: str | None = None,
    names: tuple[str, str, str, str] = ("--from", "--until", "--source", "--system"),
) -> Period:
    """The period and filters, checked: a bad day or an unknown source is `BadInput` naming
    the option (`names`: how the caller spells from, until, source and system)."""
    if source is not None and source not in settings.sources:
        known = ", ".join(sorted(settings.sources)) or "none configured"
        raise BadInput(f"{names[2]}: no source named {source!r} (known: {known})")
    if system is not None and not system.strip():
        raise BadInput(f"{names[3]}: empty")
    zone = settings.policy.zone()
    today = now.astimezone(zone).date()
    start = parse_day(first, names[0]) if first else today - timedelta(days=DEFAULT_DAYS_BACK)
    end = parse_day(last, names[1]) if last else _default_end(start, today)
    span = day_span(start, end, zone)
    if span is None:
        raise BadInput(f"{names[1]}: {end} is before {names[0]} {start}")
    return Period(since=span[0], until=span[1], source=source, system=system)


def _default_end(start: date, today: date) -> date:
    return max(start, today) + timedelta(days=DEFAULT_DAYS_AHEAD)


def calendar_ics(settings: Settings, store: Store, *, period: Period, now: datetime) -> str:
    """The VCALENDAR text of the stored changes and the configured policy."""
    changes = _stored(settings, store, period.source)
    return build_calendar(changes, settings.policy, period=period, stamp=now)


def calendar_etag(text: str) -> str:
    """The HTTP entity tag of a calendar: its text without the DTSTAMP lines (the policy's
    events are stamped with the moment of the build), so an unchanged calendar keeps its tag."""
    kept = "\r\n".join(line for line in text.split("\r\n") if not line.startswith("DTSTAMP:"))
    return '"' + hashlib.sha256(kept.encode()).hexdigest()[:32] + '"'


def _stored(settings: Settings, store: Store, source: str | None) -> Iterator[Change]:
    for name in [source] if source is not None else sorted(settings.sources):
        live = set(store.change_keys(name))
        for data in store.iter_changes(name):
            change = Change.from_json(data)
            if change.key in live:
                yield change
