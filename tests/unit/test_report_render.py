"""The CSV, JSON and Markdown renderers of the compliance report: every field of every row,
ticket text that a spreadsheet would run as a formula neutralised, Markdown markup escaped.
Pure: rows are built here."""

from __future__ import annotations

import csv
import io
import json

import pytest
from markupsafe import escape
from test_report_html import DAY, T0, make_row

from connector.reports.model import ROW_FIELDS, ApproverLine
from connector.reports.render import csv_values, md_cell, render
from connector.reports.summary import summarize
from connector.reports.table import html_text


def test_csv_keeps_every_field_and_neutralises_formulas() -> None:
    rows = [
        make_row(),
        make_row(
            key="CHG-2",
            title='=HYPERLINK("https://evil.example","click")',
            requester="+cmd|' /C calc'!A0",
            implementer="@SUM(1+1)",
            approvers=(ApproverLine("-2+3", "CAB", "approved", None),),
            freeze_findings=("=freeze",),
        ),
    ]
    summary = summarize(rows, since=T0, until=T0 + DAY, generated_at=T0 + DAY)
    text = render("csv", rows, summary)
    preamble = [line for line in text.splitlines() if line.startswith("#")]
    assert preamble[0] == "# Change report"
    assert any("Period 2026-11-02 to 2026-11-03 (UTC)" in line for line in preamble)
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    table = list(csv.reader(io.StringIO(body)))
    assert table[0] == list(ROW_FIELDS)
    plain, hostile = (dict(zip(ROW_FIELDS, line, strict=True)) for line in table[1:])
    assert plain == {k: str(v) for k, v in rows[0].flat().items()}
    assert hostile["title"] == "'" + rows[1].title
    assert hostile["requester"] == "'+cmd|' /C calc'!A0"
    assert hostile["implementer"] == "'@SUM(1+1)"
    assert hostile["approvers"] == "'-2+3 (CAB) approved"
    assert hostile["freeze_findings"] == "'=freeze"
    assert hostile["separation_of_duties"] == "yes"


def test_json_keeps_every_field_in_order() -> None:
    rows = [make_row(), make_row(key="CHG-2", approved_at=None)]
    summary = summarize(rows, since=T0, until=T0 + DAY, generated_at=T0 + DAY)
    data = json.loads(render("json", rows, summary))
    assert data["summary"]["total"] == 2
    first = data["changes"][0]
    assert list(first) == list(ROW_FIELDS)
    assert first["created"] == rows[0].created.isoformat()
    assert first["approvers"] == [
        {
            "name": "Carol Approver",
            "group": "CAB",
            "decision": "approved",
            "decided_at": rows[0].approvers[0].decided_at.isoformat(),
        }  # type: ignore[union-attr]
    ]
    assert data["changes"][1]["approved_at"] is None


def test_markdown_cells_escape_markup_on_one_line() -> None:
    assert md_cell("a | b\n*c* [d](e) `f` <g>") == r"a \| b \*c\* \[d\]\(e\) \`f\` \<g\>"
    assert md_cell("back\\slash") == "back\\\\slash"


def test_csv_values_are_the_flat_row_with_formulas_neutralised() -> None:
    """The CSV writes each row's values straight from the tuple; they are `flat()`'s."""
    rows = [
        make_row(),
        make_row(key="CHG-2", approved_at=None, implemented_at=None, approvers=()),
        make_row(
            key="-CHG-3",
            title="@x",
            approvers=(
                ApproverLine("a", "CAB", "approved", T0),
                ApproverLine("b", "", "pending", None),
            ),
            conflicts_with=("+y", "z"),
            hours_to_restore=None,
        ),
    ]
    for row in rows:
        expected = list(row.flat().values())
        for name in (
            *("source", "key", "title", "url", "requester", "implementer", "approvers"),
            *("freeze_findings", "conflicts_with"),
        ):
            i = ROW_FIELDS.index(name)
            if expected[i] and expected[i][0] in "=+-@\t\r":
                expected[i] = "'" + expected[i]
        assert csv_values(row) == expected


@pytest.mark.parametrize(
    "text", ["", "plain", "a & b", "<script>", "\"q\" 'a'", "&amp;", "x>y<z", "ü & ß"]
)
def test_html_text_is_markupsafe_escape(text: str) -> None:
    assert html_text(text) == str(escape(text))
