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
from datetime import datetime
from urllib.parse import urlsplit

from connector.policy.config import zone_info
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
    return Filters(
        sources=tuple(sorted({r.source for r in rows})),
        types=tuple(sorted({r.change_type or "unknown" for r in rows})),
        statuses=tuple(sorted({r.status for r in rows})),
    )


class Rows:
    """Renders rows for one report: its filters and time zone."""

    def __init__(self, rows: Sequence[ReportRow], *, zone: str, expanded: bool = False) -> None:
        self.filters = filters(rows)
        self._zone = None if zone == "UTC" else zone_info(zone)
        self._open = " open" if expanded else ""
        self._classes: dict[tuple[str, str, str], str] = {}

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
        return (
            f'<details id="change-{i}" class="change {classes}"{self._open}><summary>'
            f"{_key(r.key, r.url)}{_cell('src', r.source)}"
            f'<span class="c title">{html_text(r.title)}</span>'
            f"{_cell('type', f'{r.change_type} / {r.change_class}')}{_cell('status', r.status)}"
            f"{_answer(r.approved_before_implemented)}{_answer(r.separation_of_duties)}"
            f'<span class="c exc">{kinds}</span></summary>'
            f'<div class="evidence">{self._evidence(r, raised)}</div></details>'
        )

    def _evidence(self, r: ReportRow, raised: list[tuple[str, str]]) -> str:
        t = self._time
        exceptions = "".join(
            f'<li class="exception"><b>{html_text(k)}</b>: {html_text(m)}</li>' for k, m in raised
        )
        said = {m for _, m in raised}
        findings = "".join(
            f"<li>{html_text(m)}</li>"
            for m in r.finding_messages
            if m.partition(": ")[2] not in said
        )
        approvers = "".join(
            f"<li>{html_text(a.name)}{f' ({html_text(a.group)})' if a.group else ''} "
            f"{a.decision} {t(a.decided_at)}</li>"
            for a in r.approvers
        )
        link = _link(r.url)
        return (
            f'<div class="ev-block"><h4>Exceptions and findings</h4><ul>'
            f"{exceptions}{findings or '<li>no open findings</li>'}</ul></div>"
            f'<div class="ev-block"><h4>Approvals</h4><ul>{approvers or "<li>none</li>"}</ul>'
            f"<dl>{_at('approved', t(r.approved_at))}{_at('board review', t(r.board_reviewed_at))}"
            f"{_dd('required fields complete at approval', r.required_complete_at_approval)}"
            f"{_dd('requester', r.requester)}{_dd('implementer', r.implementer)}</dl></div>"
            f'<div class="ev-block"><h4>Checks</h4><dl>{_dd("risk", r.risk)}'
            f"{_dd('security impact', r.security_impact or 'not assessed')}"
            f"{_dd('infosec categories', ', '.join(r.infosec_categories))}"
            f"{_dd('rollback plan', r.rollback_plan)}"
            f"{_text('freezes', '; '.join(r.freeze_findings))}"
            f"{_text('conflicts with', ', '.join(r.conflicts_with))}"
            f"{_dd('emergency review', r.emergency_review)}{_dd('notice met', r.notice_met)}"
            f"{_dd('release notes posted', r.release_notes_posted)}</dl></div>"
            f'<div class="ev-block"><h4>Implementation</h4><dl>{_at("created", t(r.created))}'
            f"{_at('implemented', t(r.implemented_at))}{_at('ended', t(r.implemented_end))}"
            f"{_dd('outcome', r.outcome)}{_text('incidents', ', '.join(r.incidents))}"
            f"{_dd('systems', ', '.join(r.affected_systems))}"
            f"{_dd('services', ', '.join(r.affected_services))}"
            f"{_at('request to approval', _h(r.hours_request_to_approval))}"
            f"{_at('approval to implementation', _h(r.hours_approval_to_implementation))}"
            f"</dl>{link}</div>"
        )

    def _time(self, at: datetime | None) -> str:
        """ISO 8601 to the minute with the zone's offset."""
        if at is None:
            return ""
        return (at if self._zone is None else at.astimezone(self._zone)).isoformat("T", "minutes")


# Values that repeat from change to change (answers, options, people): each made once.
@functools.lru_cache(maxsize=8192)
def _dd(name: str, value: str) -> str:
    return f"<dt>{name}</dt><dd>{html_text(value)}</dd>" if value else ""


def _text(name: str, value: str) -> str:
    """Free text (ticket text, which rarely repeats)."""
    return f"<dt>{name}</dt><dd>{html_text(value)}</dd>" if value else ""


def _at(name: str, value: str) -> str:
    """A time or a number: nothing to escape."""
    return f"<dt>{name}</dt><dd>{value}</dd>" if value else ""


def _h(hours: float | None) -> str:
    return "" if hours is None else f"{hours:g} h"


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


def _key(key: str, url: str) -> str:
    origin = _ORIGIN.match(url.strip())
    if origin is None or not _safe_origin(origin.group()):
        return f'<span class="c key">{html_text(key)}</span>'
    return (
        f'<span class="c key"><a href="{html_text(url.strip())}" rel="noopener noreferrer">'
        f"{html_text(key)}</a></span>"
    )


def _link(url: str) -> str:
    origin = _ORIGIN.match(url.strip())
    if origin is None or not _safe_origin(origin.group()):
        return ""
    safe = html_text(url.strip())
    return f'<p class="link"><a href="{safe}" rel="noopener noreferrer">{safe}</a></p>'


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
