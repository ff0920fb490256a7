"""The compliance report as one self-contained HTML file: inline CSS, charts as inline SVG, no
scripts, fonts or images to fetch, so it opens offline and can be attached to an audit.

The page is `templates/report.html.j2` rendered with autoescaping: ticket text (titles, names,
keys) is always escaped, and a change's url becomes a link only when it is http(s). The charts
are pure functions returning SVG markup; every text placed in them is escaped here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from connector.reports.charts import (
    CHART_TITLES,
    DELIVERY_TITLES,
    EMPTY,
    delivery_chart,
    empty_chart,
    exceptions_chart,
    failure_rate_chart,
    lead_time_chart,
    weekly_chart,
)
from connector.reports.context import stamp
from connector.reports.metrics import TOTAL
from connector.reports.model import NA, NO, YES, ReportRow
from connector.reports.summary import Summary

TEMPLATES = Path(__file__).parent / "templates"
ANSWER_CLASS = {YES: "yes", NO: "no", NA: "na", "done": "yes", "overdue": "no", "pending": "warn"}


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment, built once per process."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hours"] = hours
    env.filters["stamp"] = stamp
    env.filters["pct"] = pct
    return env


def to_html(rows: Sequence[ReportRow], summary: Summary) -> str:
    if rows:
        made = (
            weekly_chart(summary.weekly),
            lead_time_chart(rows),
            exceptions_chart(summary.exceptions),
        )
        charts = dict(zip(CHART_TITLES, made, strict=True))
    else:
        charts = {title: empty_chart(title, EMPTY) for title in CHART_TITLES}
    metrics = summary.metrics
    if metrics is not None:
        made_delivery = (delivery_chart(metrics), failure_rate_chart(metrics))
        charts |= dict(zip(DELIVERY_TITLES, made_delivery, strict=True))
    page = (
        environment()
        .get_template("report.html.j2")
        .render(
            summary=summary,
            columns=COLUMNS if rows else (),
            table=Markup(TABLE),
            anchors=anchors(rows, summary),
            charts=charts,
            metrics=metrics,
            total_week=TOTAL,
        )
    )
    if not rows:
        return page
    # The change table goes in last, joined once with the page: at 100,000 changes it is most
    # of the page, and every copy of it costs.
    head, tail = page.split(TABLE, 1)
    return "\n".join([head, *(row_html(i, r) for i, r in enumerate(rows, 1)), tail])


# Where the change rows go: a comment, which escaped ticket text can never spell.
TABLE = "<!-- change rows -->"


def anchors(rows: Sequence[ReportRow], summary: Summary) -> dict[str, str]:
    """The anchor of each change the exceptions list ("source:key" -> "change-i")."""
    listed = {tuple(ref.split(":", 1)) for refs in summary.exceptions.values() for ref in refs}
    return {
        f"{r.source}:{r.key}": f"change-{i}"
        for i, r in enumerate(rows, 1)
        if (r.source, r.key) in listed
    }


# The change table's columns: what a reader checks per change. The CSV and JSON reports keep
# every field (the url is the key's link; times and lead times are in the summary and charts).
COLUMNS = (
    "key",
    "source",
    "title",
    "change_type",
    "change_class",
    "risk",
    "status",
    "outcome",
    "requester",
    "approvers",
    "created",
    "approved_before_implemented",
    "separation_of_duties",
    "required_complete_at_approval",
    "security_impact",
    "rollback_plan",
    "freeze_findings",
    "conflicts_with",
    "emergency_review",
    "notice_met",
    "release_notes_posted",
    "open_findings",
)


def row_html(i: int, r: ReportRow) -> str:
    """One cell per column of `COLUMNS`, in order, each with the text of `ReportRow.flat()`
    (the key links to the change); answers are coloured, every value from a ticket escaped."""
    return (
        f'<tr id="change-{i}">{_key_td(r.key, r.url)}{_closed_td(r.source)}'
        f"<td>{html_text(r.title)}</td>"
        f"{_closed_td(r.change_type)}{_closed_td(r.change_class)}{_closed_td(r.risk)}"
        f"{_closed_td(r.status)}{_closed_td(r.outcome)}{_closed_td(r.requester)}"
        f"<td>{html_text('; '.join([a.text() for a in r.approvers]))}</td>"
        f"<td>{r.created.isoformat()}</td>"
        f"{_answer_td(r.approved_before_implemented)}{_answer_td(r.separation_of_duties)}"
        f"{_answer_td(r.required_complete_at_approval)}{_closed_td(r.security_impact)}"
        f"{_answer_td(r.rollback_plan)}{_list_td(r.freeze_findings)}"
        f"{_list_td(r.conflicts_with)}{_answer_td(r.emergency_review)}"
        f"{_answer_td(r.notice_met)}{_answer_td(r.release_notes_posted)}"
        f"{_list_td(r.open_findings)}</tr>"
    )


def html_text(text: str) -> str:
    """`markupsafe.escape` as a plain string: the same five characters, the same entities,
    without a Markup object per cell."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def _list_td(value: tuple[str, ...]) -> str:
    return f"<td>{html_text('; '.join(value))}</td>" if value else "<td></td>"


def _key_td(key: str, url: str) -> str:
    origin = _ORIGIN.match(url.strip())
    if origin is None or not _safe_origin(origin.group()):
        return f'<td class="key">{html_text(key)}</td>'
    return (
        f'<td class="key"><a href="{html_text(url.strip())}" rel="noopener noreferrer">'
        f"{html_text(key)}</a></td>"
    )


# Whether a url is a safe link depends on its scheme and host only: decided once per origin.
_ORIGIN = re.compile(r"[^:/?#]+://[^/?#]*")


@functools.lru_cache(maxsize=256)
def _safe_origin(origin: str) -> bool:
    return safe_url(origin) is not None


# Values that repeat from row to row (options, people, answers): each cell is made once.
@functools.lru_cache(maxsize=4096)
def _closed_td(value: str) -> str:
    return f"<td>{html_text(value)}</td>"


@functools.lru_cache(maxsize=64)
def _answer_td(value: str) -> str:
    css = ANSWER_CLASS.get(value, "")
    return f'<td class="{css}">{html_text(value)}</td>' if css else f"<td>{html_text(value)}</td>"


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


def hours(value: float | None) -> str:
    return NA if value is None else f"{value:g} h"


def pct(value: float | None) -> str:
    return NA if value is None else f"{value * 100:.1f}%"
