"""One change's evidence sheet (HTML, one printed page) for the sample pack: what was asked, who
approved when, separation of duties, required fields at approval, freeze and conflict checks,
implementation and outcome, its deployments, the notes the connector posted, and the change's
audit links.

Pure: values in, HTML text out (`templates/sheet.html.j2`, autoescaped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.reports.context import stamp
from connector.reports.deployments import DeploymentLine
from connector.reports.html import environment, safe_url
from connector.reports.model import ReportRow


def evidence_sheet(
    row: ReportRow,
    *,
    planned: tuple[Any, Any],
    actions: Sequence[dict[str, Any]],
    audit: Sequence[Any],
    zone: str,
    deployments: Sequence[DeploymentLine] = (),
) -> str:
    """`planned`: the planned window (start, end); `actions`: the ledger's entries with
    action, state, planned_at, applied_at, remote_ref; `audit`: the change's audit links;
    `deployments`: the change's deployments in the period."""
    start, end = planned
    window = f"{stamp(start, zone)} to {stamp(end, zone)}" if start and end else "not stated"
    return (
        environment()
        .get_template("sheet.html.j2")
        .render(
            r=row,
            url=safe_url(row.url) or "",
            planned=window,
            actions=actions,
            audit=audit,
            zone=zone,
            deployments=deployments,
        )
    )
