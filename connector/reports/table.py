"""The HTML report's change list: one row per change with a few key columns, expanding (a
`<details>` element, no script) to the change's full evidence: the exceptions and findings with
their messages, approvals with their times, the checks, implementation and outcome, and links.

Rows carry classes the filters select on (`filters()`): s<i> source, t<i> type, u<i> status,
and x when the change shows an exception. The page's CSS hides the rows a checked filter
excludes, so filtering works offline with scripts forbidden.

Pure; every value from a ticket is escaped. A report holds 100,000 rows: each is one f-string,
and cells that repeat (options, answers) are made once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from operator import attrgetter
from urllib.parse import urlsplit

from connector.core.policy.config import zone_info
from connector.reports.model import NA, NO, YES, ReportRow
from connector.reports.summary import exception_messages, may_raise

ANSWER_CLASS = {YES: "yes", NO: "no", NA: "na", "done": "yes", "overdue": "no", "pending": "warn"}
# The columns a row shows closed (the rest is in its evidence, and in the CSV and JSON reports).
COLUMNS = (
    "key",
    "source",
    "title",
    "type / class",
    "status",
    "approved before implemented",
    "separation of duties",
    "exceptions",
)


@dataclass(frozen=True)
class Filters:
    """Each filter's values in order; a row's class names the index of its value."""

    sources: tuple[str, ...]
    types: tuple[str, ...]
    statuses: tuple[str, ...]

    def of(self, r: ReportRow) -> str:
        return (
            f"s{self.sources.index(r.source)} t{self.types.index(r.change_type or 'unknown')} "
            f"u{self.statuses.index(r.status)}"
        )


def filters(rows: Sequence[ReportRow]) -> Filters:
    # Each set made in C over one field (100,000 rows), the type's "" named once afterwards.
    types = {t or "unknown" for t in set(map(attrgetter("change_type"), rows))}
    return Filters(
        sources=tuple(sorted(set(map(attrgetter("source"), rows)))),
        types=tuple(sorted(types)),
        statuses=tuple(sorted(set(map(attrgetter("status"), rows)))),
    )


class Rows:
    """Renders rows for one report: its filters and time zone.

    100,000 rows per report: a row is a few f-strings with its values read once, and the parts
    that repeat from change to change (the checks block, the systems and outcome lines, the
    cells of options and answers) are made once per distinct value."""

    def __init__(self, rows: Sequence[ReportRow], *, zone: str, expanded: bool = False) -> None:
        self.filters = filters(rows)
        self._zone = None if zone == "UTC" else zone_info(zone)
        self._open = " open" if expanded else ""
        self._classes: dict[tuple[str, str, str], str] = {}
        self._checks: dict[tuple[object, ...], str] = {}
        self._where: dict[tuple[object, ...], str] = {}

    def html(self, i: int, r: ReportRow) -> str:
        slot = (r.source, r.change_type, r.status)
        classes = self._classes.get(slot)
        if classes is None:
            classes = self._classes[slot] = self.filters.of(r)
        raised = exception_messages(r) if may_raise(r) else []
        if raised:
            classes += " x"
            kinds = html_text(", ".join(dict.fromkeys(kind for kind, _ in raised)))
        else:
            kinds = ""
        url = r.url.strip()
        origin = _ORIGIN.match(url)
        href = html_text(url) if origin is not None and _safe_origin(origin.group()) else None
        key = html_text(r.key)
        if href is None:
            key_cell, link = f'<span class="c key">{key}</span>', ""
        else:
            key_cell = (
                f'<span class="c key"><a href="{href}" rel="noopener noreferrer">{key}</a></span>'
            )
            link = f'<p class="link"><a href="{href}" rel="noopener noreferrer">{href}</a></p>'
        return (
            f'<details id="change-{i}" class="change {classes}"{self._open}><summary>'
            f"{key_cell}{_cell('src', r.source)}"
            f'<span class="c title">{html_text(r.title)}</span>'
            f"{_cell('type', f'{r.change_type} / {r.change_class}')}{_cell('status', r.status)}"
            f"{_answer(r.approved_before_implemented)}{_answer(r.separation_of_duties)}"
            f'<span class="c exc">{kinds}</span></summary>'
            f'<div class="evidence">{self._evidence(r, raised, link)}</div></details>'
        )

    def _evidence(self, r: ReportRow, raised: list[tuple[str, str]], link: str) -> str:
        t = self._time
        if raised:
            exceptions = "".join(
                [
                    f'<li class="exception"><b>{html_text(k)}</b>: {html_text(m)}</li>'
                    for k, m in raised
                ]
            )
            said = {m for _, m in raised}
            findings = "".join(
                [
                    f"<li>{html_text(m)}</li>"
                    for m in r.finding_messages
                    if m.partition(": ")[2] not in said
                ]
            )
        else:
            exceptions = ""
            findings = "".join([f"<li>{html_text(m)}</li>" for m in r.finding_messages])
        approvers = "".join(
            [
                f"<li>{html_text(a.name)}{f' ({html_text(a.group)})' if a.group else ''} "
                f"{a.decision} {t(a.decided_at)}</li>"
                for a in r.approvers
            ]
        )
        # Times and hours inline (six a row): to the minute with the zone's offset.
        z = self._zone
        at = r.approved_at
        approved = "" if at is None else _AT.format("approved", _minutes(at, z))
        at = r.board_reviewed_at
        reviewed = "" if at is None else _AT.format("board review", _minutes(at, z))
        at = r.implemented_at
        implemented = "" if at is None else _AT.format("implemented", _minutes(at, z))
        at = r.implemented_end
        ended = "" if at is None else _AT.format("ended", _minutes(at, z))
        h = r.hours_request_to_approval
        to_approval = "" if h is None else f"<dt>request to approval</dt><dd>{h:g} h</dd>"
        h = r.hours_approval_to_implementation
        to_start = "" if h is None else f"<dt>approval to implementation</dt><dd>{h:g} h</dd>"
        return (
            f'<div class="ev-block"><h4>Exceptions and findings</h4><ul>'
            f"{exceptions}{findings or '<li>no open findings</li>'}</ul></div>"
            f'<div class="ev-block"><h4>Approvals</h4><ul>{approvers or "<li>none</li>"}</ul>'
            f"<dl>{approved}{reviewed}"
            f"{_dd('required fields complete at approval', r.required_complete_at_approval)}"
            f"{_dd('requester', r.requester)}{_dd('implementer', r.implementer)}</dl></div>"
            f"{self._checks_block(r)}"
            f'<div class="ev-block"><h4>Implementation</h4><dl><dt>created</dt>'
            f"<dd>{_minutes(r.created, z)}</dd>{implemented}{ended}{self._where_lines(r)}"
            f"{to_approval}{to_start}</dl>{link}</div>"
        )

    def _checks_block(self, r: ReportRow) -> str:
        """The checks: the same few answers and options over and over, made once each."""
        slot = (
            r.risk,
            r.security_impact,
            r.infosec_categories,
            r.rollback_plan,
            r.freeze_findings,
            r.conflicts_with,
            r.emergency_review,
            r.notice_met,
            r.release_notes_posted,
        )
        made = self._checks.get(slot)
        if made is None:
            made = self._checks[slot] = (
                f'<div class="ev-block"><h4>Checks</h4><dl>{_dd("risk", r.risk)}'
                f"{_dd('security impact', r.security_impact or 'not assessed')}"
                f"{_dd('infosec categories', ', '.join(r.infosec_categories))}"
                f"{_dd('rollback plan', r.rollback_plan)}"
                f"{_text('freezes', '; '.join(r.freeze_findings))}"
                f"{_text('conflicts with', ', '.join(r.conflicts_with))}"
                f"{_dd('emergency review', r.emergency_review)}{_dd('notice met', r.notice_met)}"
                f"{_dd('release notes posted', r.release_notes_posted)}</dl></div>"
            )
        return made

    def _where_lines(self, r: ReportRow) -> str:
        """Outcome, incidents, systems and services (repeating too), made once each."""
        slot = (r.outcome, r.incidents, r.affected_systems, r.affected_services)
        made = self._where.get(slot)
        if made is None:
            made = self._where[slot] = (
                f"{_dd('outcome', r.outcome)}{_text('incidents', ', '.join(r.incidents))}"
                f"{_dd('systems', ', '.join(r.affected_systems))}"
                f"{_dd('services', ', '.join(r.affected_services))}"
            )
        return made

    def _time(self, at: datetime | None) -> str:
        """ISO 8601 to the minute with the zone's offset."""
        return "" if at is None else _minutes(at, self._zone)


def _minutes(at: datetime, zone: tzinfo | None) -> str:
    """ISO 8601 to the minute with the offset of `zone` (None: as it is, UTC)."""
    return (at if zone is None else at.astimezone(zone)).isoformat("T", "minutes")


_AT = "<dt>{}</dt><dd>{}</dd>"  # a time or a number: nothing to escape


# Values that repeat from change to change (answers, options, people): each made once.
@functools.lru_cache(maxsize=8192)
def _dd(name: str, value: str) -> str:
    return f"<dt>{name}</dt><dd>{html_text(value)}</dd>" if value else ""


def _text(name: str, value: str) -> str:
    """Free text (ticket text, which rarely repeats)."""
    return f"<dt>{name}</dt><dd>{html_text(value)}</dd>" if value else ""


def html_text(text: str) -> str:
    """`markupsafe.escape` as a plain string: the same five characters, the same entities,
    without a Markup object per cell (and most cells have none of them: given back as they
    are)."""
    if (
        "&" not in text
        and "<" not in text
        and ">" not in text
        and '"' not in text
        and "'" not in text
    ):
        return text
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


# Whether a url is a safe link depends on its scheme and host only: decided once per origin.
_ORIGIN = re.compile(r"[^:/?#]+://[^/?#]*")


@functools.lru_cache(maxsize=256)
def _safe_origin(origin: str) -> bool:
    return safe_url(origin) is not None


# Values that repeat from row to row (options, people, answers): each cell is made once.
@functools.lru_cache(maxsize=4096)
def _cell(kind: str, value: str) -> str:
    return f'<span class="c {kind}">{html_text(value)}</span>'


@functools.lru_cache(maxsize=64)
def _answer(value: str) -> str:
    css = ANSWER_CLASS.get(value, "")
    return f'<span class="c answer {css}">{html_text(value)}</span>'


def safe_url(url: str) -> str | None:
    """The url if it is an absolute http(s) url (anything else, e.g. `javascript:`, is no link)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url
