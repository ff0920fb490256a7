"""The HTML report's change rows (`connector.reports.table.Rows`, which caches the parts that
repeat and formats times inline) agree with the straightforward rows in `reference_report`:
the same markup for hostile text, unsafe links, exceptions, every optional value missing, in
UTC and in a zone with daylight saving time, closed and expanded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from reference_report import Rows as ReferenceRows
from test_report_html import HOSTILE_ATTR, HOSTILE_TITLE, T0, make_row

from connector.reports.model import NO, ApproverLine, ReportRow
from connector.reports.table import Rows

ROWS: list[ReportRow] = [
    make_row(),
    make_row(key="CHG-2", title=HOSTILE_TITLE, requester=HOSTILE_ATTR, url="javascript:alert(1)"),
    make_row(key="CHG-3", url=f"https://jira.example.com/browse/{HOSTILE_ATTR}"),
    make_row(key="CHG-4", url="", approvers=(), approved_at=None, implemented_at=None),
    make_row(
        key="CHG-5",
        approved_before_implemented=NO,
        separation_of_duties=NO,
        rollback_plan=NO,
        status="implementing",
        freeze_violation=True,
        freeze_findings=("Year-end <freeze>",),
        conflicts_with=("CHG-1", "CHG-2"),
        emergency_review="overdue",
        notice_met=NO,
        open_findings=("freeze", "unauthorized"),
        finding_messages=(
            "freeze: The planned window falls in the freeze 'Year-end'.",
            "unauthorized: It started without approval & <no> review.",
            "notice-lead-time: Told late.",
        ),
        incidents=("INC-7",),
        outcome="failed",
        board_reviewed_at=T0 + timedelta(days=3),
        hours_request_to_approval=None,
        hours_approval_to_implementation=None,
    ),
    make_row(
        key="CHG-6",
        approvers=(
            ApproverLine("Dan 'D' O<b>", "", "rejected", None),
            ApproverLine("Eve", "Security & Risk", "pending", T0 + timedelta(days=200)),
        ),
        affected_systems=(),
        affected_services=(),
        infosec_categories=(),
        security_impact="",
        implemented_end=None,
        hours_request_to_approval=0.5,
        hours_approval_to_implementation=1234.25,
    ),
    make_row(key="CHG-7", change_type="", status="review", source="sn-prod"),
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize("expanded", [False, True])
def test_rows_are_the_reference_rows(zone: str, expanded: bool) -> None:
    rows = ROWS * 2  # the second time through, the cached parts are used
    fast = Rows(rows, zone=zone, expanded=expanded)
    reference = ReferenceRows(rows, zone=zone, expanded=expanded)
    for i, r in enumerate(rows, 1):
        assert fast.html(i, r) == reference.html(i, r), r.key
    assert fast.filters == reference.filters
