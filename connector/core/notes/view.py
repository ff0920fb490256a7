"""A change as one audience may see it: the values the note templates (and the ADF builder) get.

Templates never see a `Change`: only a `ChangeView`, whose `internal` part exists for the
internal audience alone. So no template, built-in or an admin's, can put a rollback plan, a
requester or a ticket link into a customer-facing note. Values are raw ticket text (escaping is
the renderer's job) with whitespace tidied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from connector.core.model import Audience, Change, SecurityLevel
from connector.core.notes.guidance import (
    CATEGORY_LABELS,
    GENERAL_GUIDANCE,
    GUIDANCE,
    SIGNIFICANT_LEVELS,
    security_relevant,
)

SUMMARY_LIMIT = 500
UNSCHEDULED = "to be scheduled"
NOT_STATED = "not stated"
UNTITLED = "Untitled change"

_PARAGRAPHS = re.compile(r"\n[ \t]*\n")
_SPACES = re.compile(r"[ \t]+")
# Characters kept in a ticket link; everything else is percent-encoded, so the link cannot end
# early or carry markup (no brackets, pipes, parentheses, quotes, spaces or backslashes).
_URL_SAFE = ":/?#@!$&*+,;=%-._~"


def is_internal(audience: Audience) -> bool:
    """Only engineering reads internal notes (rollback and implementation plans, people, links)."""
    return audience is Audience.ENGINEERING


@dataclass(frozen=True)
class Entry:
    """One InfoSec entry: what the change means for users' security, and what they should do."""

    label: str
    meaning: str
    action: str


@dataclass(frozen=True)
class Internal:
    key: str
    url: str  # an http(s) url, percent-encoded; "" when the change has none
    requester: str
    implementation_plan: str
    rollback_plan: str
    security_notes: str


@dataclass(frozen=True)
class ChangeView:
    title: str
    summary: str  # "what changes": the first paragraph of the description (or the title)
    window: str
    systems: str
    services: str
    impact: str
    downtime: str
    security: bool  # whether the InfoSec section is shown
    security_level: str  # "" unless assessed above none
    entries: tuple[Entry, ...]
    internal: Internal | None


VIEW_TYPES = frozenset({ChangeView, Internal, Entry})  # what a template reads fields of


def view(change: Change, audience: Audience) -> ChangeView:
    level = change.security.level
    return ChangeView(
        title=one_line(change.title) or UNTITLED,
        summary=shorten(first_paragraph(change.description) or one_line(change.title)),
        window=window(change.planned_start, change.planned_end),
        systems=listing(change.affected_systems),
        services=listing(change.affected_services),
        impact=block(change.operational_impact) or NOT_STATED,
        downtime=downtime(change.expected_downtime_minutes),
        security=security_relevant(change),
        security_level=level.value if level and level is not SecurityLevel.NONE else "",
        entries=entries(change),
        internal=internal(change) if is_internal(audience) else None,
    )


def entries(change: Change) -> tuple[Entry, ...]:
    found = tuple(
        Entry(CATEGORY_LABELS[c], *GUIDANCE[c]) for c in dict.fromkeys(change.security.categories)
    )
    if not found and change.security.level in SIGNIFICANT_LEVELS:
        return (Entry("Security", *GENERAL_GUIDANCE),)
    return found


def internal(change: Change) -> Internal:
    person = change.requester
    return Internal(
        key=change.key,
        url=safe_url(change.url),
        requester=(person.name.strip() or person.id) if person else NOT_STATED,
        implementation_plan=block(change.implementation_plan) or NOT_STATED,
        rollback_plan=block(change.rollback_plan) or NOT_STATED,
        security_notes=block(change.security.notes),
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


def block(text: str) -> str:
    """Lines stripped of trailing space, at most one blank line in a row, no outer blank lines."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def first_paragraph(text: str) -> str:
    """The first non-empty paragraph, its lines kept, runs of spaces made one."""
    for para in _PARAGRAPHS.split(text.replace("\r\n", "\n")):
        lines = [_SPACES.sub(" ", line).strip() for line in para.split("\n")]
        if any(lines):
            return "\n".join(line for line in lines if line)
    return ""


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" \n,;:.-") + "…"


def when(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def window(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return UNSCHEDULED
    if end is None:
        return f"from {when(start)}"
    return f"{when(start)} to {when(end)}"


def listing(values: tuple[str, ...]) -> str:
    named = [one_line(v) for v in values if v.strip()]
    return ", ".join(dict.fromkeys(named)) or NOT_STATED


def downtime(minutes: float | None) -> str:
    if minutes is None:
        return NOT_STATED
    total = round(minutes)
    if total <= 0:
        return "none expected" if minutes == 0 else "less than a minute"
    hours, rest = divmod(total, 60)
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    parts += [f"{rest} minute{'s' * (rest != 1)}"] if rest else []
    return "about " + " ".join(parts)


def safe_url(url: str) -> str:
    """The url if absolute http(s) (percent-encoded so no markup can close it early), else ""."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return quote(url, safe=_URL_SAFE)
