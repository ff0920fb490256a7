"""The compliance report as one self-contained HTML file: inline CSS, charts as inline SVG, no
scripts, fonts or images to fetch, so it opens offline and can be attached to an audit.

The page is `templates/report.html.j2` rendered with autoescaping: ticket text (titles, names,
keys) is always escaped, and a change's url becomes a link only when it is http(s). The charts
(`charts.py`) are pure functions returning SVG markup; the change list is `table.py`'s. The
same page, its evidence expanded, is what `pdf.py` prints.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

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
from connector.reports.deployments import UNAUTHORIZED, messages_for
from connector.reports.metrics import TOTAL
from connector.reports.model import NA, ReportRow
from connector.reports.summary import Summary, exception_messages
from connector.reports.table import COLUMNS, Rows, html_text, safe_url

__all__ = ["COLUMNS", "environment", "html_text", "safe_url", "to_html"]

TEMPLATES = Path(__file__).parent / "templates"


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


def to_html(rows: Sequence[ReportRow], summary: Summary, *, printable: bool = False) -> str:
    """The page; `printable`: every change's evidence expanded and the filters left out (the
    PDF report prints this)."""
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
    table = Rows(rows, zone=summary.time_zone, expanded=printable)
    page = (
        environment()
        .get_template("report.html.j2")
        .render(
            summary=summary,
            columns=COLUMNS if rows else (),
            table=Markup(TABLE),
            exceptions=listed_exceptions(rows, summary),
            charts=charts,
            metrics=metrics,
            deployments=summary.deployments,
            total_week=TOTAL,
            filters=table.filters,
            printable=printable,
        )
    )
    if not rows:
        return page
    # The change list goes in last, joined once with the page: at 100,000 changes it is most
    # of the page, and every copy of it costs.
    head, tail = page.split(TABLE, 1)
    return "\n".join([head, *(table.html(i, r) for i, r in enumerate(rows, 1)), tail])


# Where the change rows go: a comment, which escaped ticket text can never spell.
TABLE = "<!-- change rows -->"


def listed_exceptions(
    rows: Sequence[ReportRow], summary: Summary
) -> dict[str, list[tuple[str, str, list[str]]]]:
    """Per exception kind: (ref, anchor of its row, the messages for that kind)."""
    wanted = {ref for refs in summary.exceptions.values() for ref in refs}
    found: dict[str, tuple[str, ReportRow]] = {}
    for i, r in enumerate(rows, 1):
        ref = f"{r.source}:{r.key}"
        if ref in wanted:
            found[ref] = (f"change-{i}", r)
    out: dict[str, list[tuple[str, str, list[str]]]] = {}
    for kind, refs in summary.exceptions.items():
        out[kind] = []
        for ref in refs:
            anchor, row = found.get(ref, ("", None))
            if kind == UNAUTHORIZED:
                messages = messages_for(ref, summary.deployments)
            else:
                messages = [m for k, m in exception_messages(row) if k == kind] if row else []
            out[kind].append((ref, anchor, messages))
    return out


def hours(value: float | None) -> str:
    return NA if value is None else f"{value:g} h"


def pct(value: float | None) -> str:
    return NA if value is None else f"{value * 100:.1f}%"
