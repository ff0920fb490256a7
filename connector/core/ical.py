"""iCalendar (RFC 5545) text primitives for the published change calendar: escaping, folding,
date-time values and the VTIMEZONE of a zone.

Pure string building, no I/O: `calendar_feed` assembles its components from these. Lines end in
CRLF and are folded at 75 octets (never inside a UTF-8 sequence), as RFC 5545 section 3.1 says.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

CRLF = "\r\n"
_LIMIT = 75  # octets per line, CRLF excluded


def escape_text(value: str) -> str:
    """A TEXT value (section 3.3.11): backslash, semicolon, comma and newlines escaped."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.replace("\n", "\\n")


def fold(line: str) -> str:
    """One content line, folded (section 3.1): continuation lines begin with a space."""
    data = line.encode()
    if len(data) <= _LIMIT:
        return line + CRLF
    parts: list[str] = []
    start, limit = 0, _LIMIT
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a UTF-8 continuation byte
            end -= 1
        parts.append(data[start:end].decode())
        start, limit = end, _LIMIT - 1  # the leading space counts
    return (CRLF + " ").join(parts) + CRLF


def prop(name: str, value: str, **params: str) -> str:
    """A folded content line NAME;PARAM=VALUE:value (the value already escaped as its type
    needs; parameter values here are zone names and types, which need no quoting)."""
    head = name + "".join(f";{key.upper()}={val}" for key, val in params.items())
    return fold(f"{head}:{value}")


def text(name: str, value: str) -> str:
    return prop(name, escape_text(value))


def utc(moment: datetime) -> str:
    """A DATE-TIME in UTC form (section 3.3.5, FORM #2)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def local(moment: datetime) -> str:
    """A DATE-TIME in local form, to go with a TZID parameter (FORM #3)."""
    return moment.strftime("%Y%m%dT%H%M%S")


def duration(length: timedelta) -> str:
    """A DURATION (section 3.3.6): whole days nominal (they follow the wall clock across a
    daylight saving change), the rest exact."""
    seconds = int(length.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    clock += f"{secs}S" if secs else ""
    if clock or not days:
        out += "T" + (clock or "0S")
    return out


def _offset(delta: timedelta | None) -> str:
    seconds = int((delta or timedelta()).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def transitions(zone: ZoneInfo, *, since: datetime, until: datetime) -> list[datetime]:
    """The UTC instants in [since, until) at which `zone`'s offset changes (found a day at a
    time, then to the second by bisection)."""
    found: list[datetime] = []
    step = timedelta(days=1)
    at = since.astimezone(UTC)
    offset = at.astimezone(zone).utcoffset()
    while at < until:
        nxt = at + step
        if nxt.astimezone(zone).utcoffset() != offset:
            low, high = at, nxt
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                if mid.astimezone(zone).utcoffset() == offset:
                    low = mid
                else:
                    high = mid
            found.append(high.replace(microsecond=0))
            offset = nxt.astimezone(zone).utcoffset()
        at = nxt
    return found


def vtimezone(zone: ZoneInfo, *, since: datetime, until: datetime) -> Iterable[str]:
    """The VTIMEZONE of `zone` valid from `since` to `until`: its offset at `since`, then one
    observance per transition (section 3.6.5; DTSTART in the offset in force before it)."""
    first = since.astimezone(zone)
    yield prop("BEGIN", "VTIMEZONE")
    yield text("TZID", zone.key)
    kind = "DAYLIGHT" if first.dst() else "STANDARD"
    now = _offset(first.utcoffset())
    yield from _observance(kind, local(first), now, now, first.tzname() or "")
    for instant in transitions(zone, since=since, until=until):
        before = (instant - timedelta(seconds=1)).astimezone(zone)
        after = instant.astimezone(zone)
        wall = (instant + (before.utcoffset() or timedelta())).replace(tzinfo=None)
        kind = "DAYLIGHT" if after.dst() else "STANDARD"
        old, new = _offset(before.utcoffset()), _offset(after.utcoffset())
        yield from _observance(kind, local(wall), old, new, after.tzname() or "")
    yield prop("END", "VTIMEZONE")


def _observance(kind: str, start: str, old: str, new: str, name: str) -> Iterable[str]:
    yield prop("BEGIN", kind)
    yield prop("DTSTART", start)
    yield prop("TZOFFSETFROM", old)
    yield prop("TZOFFSETTO", new)
    if name:
        yield text("TZNAME", name)
    yield prop("END", kind)
