"""Renderers of the compliance report: CSV and JSON keep every field (spreadsheets, GRC tools),
Markdown gives the summary, the exceptions and one line per change; HTML is in `html.py`.

Text quoted from tickets is escaped for each format (CSV cells that a spreadsheet would run as a
formula are prefixed with a quote; Markdown markup characters are backslash-escaped).
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import orjson

from connector.reports.bulk import collector_paused
from connector.reports.context import stamp
from connector.reports.model import OPTIONAL, ROW_FIELDS, ROW_LISTS, ROW_TIMES, ReportRow
from connector.reports.sections import (
    context_lines,
    deployments_lines,
    heading,
    md_cell,
    metrics_lines,
)
from connector.reports.summary import Summary

__all__ = ["FORMATS", "md_cell", "render"]

FORMATS = ("csv", "json", "md", "html")


def render(fmt: str, rows: Sequence[ReportRow], summary: Summary) -> str:
    with collector_paused():
        if fmt == "csv":
            return to_csv(rows, summary)
        if fmt == "json":
            return to_json(rows, summary)
        if fmt == "md":
            return to_markdown(rows, summary)
        from connector.reports.html import to_html

        return to_html(rows, summary)


def to_csv(rows: Sequence[ReportRow], summary: Summary | None = None) -> str:
    """One line per change under a header; above it, when a summary is given, its context as
    `#` comment lines (read with e.g. pandas' `comment="#"`)."""
    out = io.StringIO()
    if summary is not None:
        out.write("".join(f"# {line}\n" for line in csv_preamble(summary)))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ROW_FIELDS)
    writer.writerows(csv_values(row) for row in rows)
    return out.getvalue()


# A cell starting with one of these is a formula to a spreadsheet: ticket text must not run.
_FORMULA = frozenset("=+-@\t\r")
# The fields that carry text from a ticket or the config; the others are answers, options,
# ISO times, numbers and rule ids, which never start with one of those.
_FREE_TEXT = tuple(
    ROW_FIELDS.index(name)
    for name in (
        *("source", "key", "title", "url", "requester", "implementer", "approvers"),
        *("freeze_findings", "conflicts_with"),
    )
)


def csv_values(row: ReportRow) -> list[Any]:
    """The row's `flat()` values in field order, free text that a spreadsheet would run as a
    formula prefixed with a quote. (`flat()`'s values, made in place in a list: no dict per
    row at 100,000 rows.)"""
    values: list[Any] = list(row)
    values[_APPROVERS] = "; ".join([a.text() for a in row.approvers])
    for i in _LISTS:
        values[i] = "; ".join(values[i])
    for i in _TIMES:
        value = values[i]
        values[i] = "" if value is None else value.isoformat()
    for i in _OPTIONAL_AT:
        if values[i] is None:
            values[i] = ""
    for i in _FREE_TEXT:
        text = values[i]
        if text and text[0] in _FORMULA:
            values[i] = "'" + text
    return values


_APPROVERS = ROW_FIELDS.index("approvers")
_LISTS = tuple(ROW_FIELDS.index(name) for name in ROW_LISTS)
_TIMES = tuple(ROW_FIELDS.index(name) for name in ROW_TIMES)
_OPTIONAL_AT = tuple(ROW_FIELDS.index(name) for name in OPTIONAL)


def csv_preamble(summary: Summary) -> list[str]:
    """The summary's heading, context and metrics as plain lines (empty ones left out)."""
    lines = ["Change report", *heading(summary)]
    if summary.context is not None:
        lines += context_lines(summary.context, summary.time_zone)
    if summary.metrics is not None:
        lines += metrics_lines(summary.metrics)
    lines += deployments_lines(summary.deployments, summary.time_zone)
    return [line for line in lines if line]


def summary_dict(summary: Summary) -> dict[str, Any]:
    data = asdict(summary)
    for key in ("since", "until", "generated_at"):
        data[key] = getattr(summary, key).isoformat()
    data["period"] = {
        "first_day": summary.first_day.isoformat(),
        "last_day": summary.last_day.isoformat(),
        "time_zone": summary.time_zone,
        "applied_as": "[first_day 00:00, the day after last_day 00:00) in time_zone",
    }
    return data


def to_json(rows: Sequence[ReportRow], summary: Summary) -> str:
    """{"summary": ..., "changes": [...]}: every field of every change, approvers as objects,
    times in ISO 8601 (orjson writes a row's fields in their order, times as `isoformat`
    does), in one call: at 100,000 changes one buffer beats a string per change."""
    changes = [row.as_json() for row in rows]
    data = {"summary": summary_dict(summary), "changes": changes}
    return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE).decode()


def to_markdown(rows: Sequence[ReportRow], summary: Summary) -> str:
    s = summary
    lines = [
        f"# Change report {s.first_day} to {s.last_day} ({s.time_zone})",
        "",
        *heading(s),
        "",
        "## Summary",
        "",
        f"- By source: {_counts(s.by_source)}",
        f"- By type: {_counts(s.by_type)}",
        f"- By status: {_counts(s.by_status)}",
        f"- Median lead time, request to approval: {_h(s.median_hours_request_to_approval)}",
        f"- Median lead time, approval to implementation: "
        f"{_h(s.median_hours_approval_to_implementation)}",
        f"- Closed changes: {_counts(s.outcomes)}",
        "",
        "## Exceptions",
        "",
    ]
    for kind, refs in s.exceptions.items():
        lines.append(f"- {kind}: {len(refs)}" + (f" ({', '.join(refs)})" if refs else ""))
    if s.context is not None:
        lines += ["", *context_lines(s.context, s.time_zone)]
    if s.metrics is not None:
        lines += ["", *metrics_lines(s.metrics)]
    lines += ["", *deployments_lines(s.deployments, s.time_zone)]
    lines += [
        "",
        "## Changes",
        "",
        "| source | key | type | status | approvers | approved | implemented | "
        "approved before implemented | board review | separation of duties | rollback plan | "
        "security | emergency review | findings |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    zone = s.time_zone
    # Cells repeat from change to change (sources, types, people, finding messages): each
    # distinct text is escaped once per report.
    cell = functools.lru_cache(maxsize=None)(md_cell)
    for r in rows:
        key = f"[{md_cell(r.key)}]({r.url})" if r.url else md_cell(r.key)
        lines.append(
            "| "
            + " | ".join(
                [
                    cell(r.source),
                    key,
                    cell(f"{r.change_type} / {r.change_class}"),
                    r.status,
                    cell("; ".join([a.text() for a in r.approvers])) or "-",
                    stamp(r.approved_at, zone) or "-",
                    stamp(r.implemented_at, zone) or "-",
                    r.approved_before_implemented,
                    stamp(r.board_reviewed_at, zone) or "-",
                    r.separation_of_duties,
                    r.rollback_plan,
                    cell(r.security_impact or "not assessed"),
                    r.emergency_review,
                    cell("; ".join(r.finding_messages)) or "-",
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"


def _h(hours: float | None) -> str:
    return "n.a." if hours is None else f"{hours:g} h"
