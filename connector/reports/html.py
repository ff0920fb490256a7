"""The compliance report as one self-contained HTML file: inline CSS, charts as inline SVG, no
scripts, fonts or images to fetch, so it opens offline and can be attached to an audit.

The page is `templates/report.html.j2` rendered with autoescaping: ticket text (titles, names,
keys) is always escaped, and a change's url becomes a link only when it is http(s). The charts
are pure functions returning SVG markup; every text placed in them is escaped here.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup, escape

from connector.reports.context import stamp
from connector.reports.model import NA, NO, YES, ReportRow
from connector.reports.summary import Summary

TEMPLATES = Path(__file__).parent / "templates"
EMPTY = "no changes in this period"
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f")
TYPE_COLOURS = {"standard": "#59a14f", "normal": "#4e79a7", "emergency": "#e15759"}
# Request-to-approval lead time histogram: label, upper bound in hours (exclusive).
BUCKETS = (
    ("< 1 d", 24.0),
    ("1-3 d", 72.0),
    ("3-7 d", 168.0),
    ("1-2 w", 336.0),
    ("> 2 w", math.inf),
)
ANSWER_CLASS = {YES: "yes", NO: "no", NA: "na", "done": "yes", "overdue": "no", "pending": "warn"}
CHART_TITLES = ("Changes per week by type", "Lead time, request to approval", "Exceptions")


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
    page = (
        environment()
        .get_template("report.html.j2")
        .render(
            summary=summary,
            columns=COLUMNS if rows else (),
            table=Markup(TABLE),
            anchors=anchors(rows, summary),
            charts=charts,
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


# --- charts: pure functions returning inline SVG -------------------------------------------


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    t = escape(title)
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{t}"><title>{t}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, cls: str = "", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    css = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{css}{extra}>{escape(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'


def _rect(x: float, y: float, w: float, h: float, tip: str = "", **attrs: str) -> str:
    extra = "".join(f' {k}="{escape(v)}"' for k, v in attrs.items())
    box = f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"{extra}'
    return f"{box}><title>{escape(tip)}</title></rect>" if tip else f"{box}/>"


def empty_chart(title: str, message: str = EMPTY) -> Markup:
    return _svg(640, 120, title, [_text(320, 64, message, "empty", text_anchor="middle")])


def _nice_step(top: int) -> int:
    for magnitude in (1, 10, 100, 1000, 10000, 100000):
        for step in (1, 2, 5):
            if top / (step * magnitude) <= 5:
                return step * magnitude
    return max(1, math.ceil(top / 5))


def stacked_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],  # name, colour, one count per category
    *,
    x_title: str,
    legend: bool = True,
) -> Markup:
    """Vertical bars, one per category, stacked by series; y axis in counts."""
    width, height = 640, 280
    left, right, top, bottom = 44, (150 if legend else 16), 16, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[2][i] for s in series) for i in range(len(categories))]
    step = _nice_step(max(totals, default=0) or 1)
    y_max = step * max(1, math.ceil(max(totals, default=0) / step))
    body: list[str] = []
    for tick in range(0, y_max + 1, step):
        y = top + plot_h - tick / y_max * plot_h
        body.append(_line(left, y, left + plot_w, y, "gridline"))
        body.append(_text(left - 6, y + 4, str(tick), "tick", text_anchor="end"))
    slot = plot_w / max(1, len(categories))
    bar = min(48.0, slot * 0.7)
    label_every = max(1, math.ceil(len(categories) * 72 / plot_w))
    for i, category in enumerate(categories):
        x, base = left + i * slot + (slot - bar) / 2, float(top + plot_h)
        for name, colour, counts in series:
            if counts[i] <= 0:
                continue
            h = counts[i] / y_max * plot_h
            base -= h
            body.append(_rect(x, base, bar, h, f"{category}, {name}: {counts[i]}", fill=colour))
        if i % label_every == 0:
            body.append(
                _text(x + bar / 2, top + plot_h + 16, category, "tick", text_anchor="middle")
            )
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h, "axis"))
    body.append(_text(left + plot_w / 2, height - 12, x_title, "label", text_anchor="middle"))
    mid = top + plot_h / 2
    rotate = f"rotate(-90 12 {mid:.1f})"
    body.append(_text(12, mid, "changes", "label", text_anchor="middle", transform=rotate))
    if legend:
        for j, (name, colour, _) in enumerate(series):
            y = top + 4 + j * 20
            body.append(_rect(width - right + 16, y, 12, 12, fill=colour))
            body.append(_text(width - right + 34, y + 10, name, "legend"))
    return _svg(width, height, title, body)


def weekly_chart(weekly: Mapping[str, Mapping[str, int]]) -> Markup:
    """Changes per week (the week's Monday), stacked by change type."""
    title = CHART_TITLES[0]
    if not any(sum(c.values()) for c in weekly.values()):
        return empty_chart(title)
    weeks = sorted(weekly)
    totals: dict[str, int] = {}
    for counts in weekly.values():
        for kind, n in counts.items():
            totals[kind] = totals.get(kind, 0) + n
    kinds = sorted(totals, key=lambda k: (-totals[k], k))
    spare = [c for c in PALETTE if c not in TYPE_COLOURS.values()]
    others = iter(spare * len(kinds))
    series = [
        (kind, TYPE_COLOURS.get(kind) or next(others), [weekly[w].get(kind, 0) for w in weeks])
        for kind in kinds
    ]
    return stacked_chart(title, weeks, series, x_title="week starting")


def lead_time_buckets(rows: Sequence[ReportRow]) -> dict[str, int]:
    """How many rows' request-to-approval lead times fall in each bucket (rows without none)."""
    uppers = [upper for _, upper in BUCKETS]
    counts = [0] * len(BUCKETS)
    for r in rows:
        if (hours := r.hours_request_to_approval) is not None:
            counts[bisect.bisect_right(uppers, hours)] += 1
    return {label: n for (label, _), n in zip(BUCKETS, counts, strict=True)}


def lead_time_chart(rows: Sequence[ReportRow]) -> Markup:
    title = CHART_TITLES[1]
    if not rows:
        return empty_chart(title)
    counts = lead_time_buckets(rows)
    if not any(counts.values()):
        return empty_chart(title, "no approved changes in this period")
    series = [("changes", PALETTE[0], list(counts.values()))]
    return stacked_chart(title, list(counts), series, x_title="request to approval", legend=False)


def exceptions_chart(exceptions: Mapping[str, Sequence[str]]) -> Markup:
    """One horizontal bar per exception kind, with its count."""
    title = CHART_TITLES[2]
    if not exceptions:
        return empty_chart(title)
    width, left, row_h, top = 640, 190, 26, 8
    plot_w = width - left - 60
    most = max(len(refs) for refs in exceptions.values()) or 1
    body: list[str] = []
    for i, (kind, refs) in enumerate(exceptions.items()):
        y, n = top + i * row_h, len(refs)
        body.append(_text(left - 8, y + 15, kind, "tick", text_anchor="end"))
        w = n / most * plot_w
        if n:
            body.append(_rect(left, y + 3, w, row_h - 8, f"{kind}: {n}", **{"class": "exception"}))
        body.append(_text(left + w + 6, y + 15, str(n), "count" if n else "count zero"))
    height = top * 2 + row_h * len(exceptions)
    return _svg(width, height, title, body)
