"""The HTML compliance report: one self-contained page (nothing fetched, no scripts), one inline
SVG per chart, ticket text escaped, only http(s) links, and an empty state. Pure: rows and
summaries are built here."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from connector.reports.charts import (
    EMPTY,
    exceptions_chart,
    lead_time_buckets,
    lead_time_chart,
    weekly_chart,
)
from connector.reports.html import COLUMNS, safe_url, to_html
from connector.reports.model import ApproverLine, ReportRow
from connector.reports.render import render
from connector.reports.summary import Summary, exception_messages, summarize
from connector.reports.table import ANSWER_CLASS

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'


def make_row(**changes: Any) -> ReportRow:
    values: dict[str, Any] = {
        "source": "jira-prod",
        "key": "CHG-1",
        "title": "Rotate the load balancer certificates",
        "url": "https://jira.example.com/browse/CHG-1",
        "change_type": "normal",
        "change_class": "minor",
        "risk": "low",
        "status": "closed",
        "outcome": "successful",
        "requester": "Alice Example",
        "implementer": "Bob Builder",
        "approvers": (ApproverLine("Carol Approver", "CAB", "approved", T0 + 5 * DAY / 24),),
        "created": T0,
        "approved_at": T0 + timedelta(hours=5),
        "implemented_at": T0 + DAY,
        "implemented_end": T0 + DAY + timedelta(hours=1),
        "board_reviewed_at": None,
        "affected_systems": ("edge-lb",),
        "affected_services": ("checkout",),
        "approved_before_implemented": "yes",
        "separation_of_duties": "yes",
        "required_complete_at_approval": "yes",
        "security_impact": "low",
        "infosec_categories": ("network",),
        "rollback_plan": "yes",
        "freeze_findings": (),
        "freeze_violation": False,
        "conflicts_with": (),
        "emergency_review": "n.a.",
        "notice_met": "n.a.",
        "release_notes_posted": "yes",
        "open_findings": (),
        "finding_messages": (),
        "incidents": (),
        "hours_request_to_approval": 5.0,
        "hours_approval_to_implementation": 19.0,
        "hours_implementation_to_board_review": None,
        "hours_to_restore": None,
    }
    values.update(changes)
    return ReportRow(**values)


def summary_of(rows: list[ReportRow]) -> Summary:
    return summarize(rows, since=T0, until=T0 + 28 * DAY, generated_at=T0 + 29 * DAY)


@pytest.fixture
def rows() -> list[ReportRow]:
    return [
        make_row(),
        make_row(
            key="CHG-2",
            title=HOSTILE_TITLE,
            url="javascript:alert(document.cookie)",
            change_type="emergency",
            created=T0 + 8 * DAY,
            separation_of_duties="no",
            rollback_plan="no",
            emergency_review="overdue",
            hours_request_to_approval=100.0,
        ),
        make_row(
            source="snow-prod",
            key="CHG0030003",
            title=HOSTILE_ATTR,
            requester=HOSTILE_TITLE,
            url="http://snow.example.com/change_request.do?sys_id=3&a=b",
            change_type="standard",
            status="implementing",
            outcome="",
            created=T0 + 15 * DAY,
            approved_at=None,
            approved_before_implemented="no",
            separation_of_duties="n.a.",
            hours_request_to_approval=None,
            hours_approval_to_implementation=None,
        ),
    ]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(document: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Collect()
    parser.feed(document)
    parser.close()
    return parser.tags


def svgs(document: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", document, flags=re.S)


def assert_self_contained(document: str) -> None:
    assert document.startswith("<!DOCTYPE html>")
    assert document.count("<html") == 1 and document.rstrip().endswith("</html>")
    lowered = document.lower()
    for needle in ('src="http', "<link", "<script", "@import", "url(", "<iframe", "<img"):
        assert needle not in lowered, needle
    for tag, attrs in parse(document):
        assert tag not in ("script", "link", "img", "iframe", "object", "embed", "image", "use")
        assert not any(name.startswith("on") or name in ("src", "srcset") for name in attrs)


def test_one_self_contained_document(rows: list[ReportRow]) -> None:
    document = to_html(rows, summary_of(rows))
    assert_self_contained(document)
    assert "<style>" in document


def test_one_svg_per_chart_each_well_formed(rows: list[ReportRow]) -> None:
    charts = svgs(to_html(rows, summary_of(rows)))
    assert len(charts) == 3
    for chart in charts:
        ET.fromstring(chart)  # well-formed: every text inside is escaped
        assert "<rect" in chart


def test_header_and_summary_tables(rows: list[ReportRow]) -> None:
    document = to_html(rows, summary_of(rows))
    assert "2026-11-02" in document and "2026-11-30" in document  # period
    assert "2026-12-01 09:00 UTC" in document  # generated
    assert '<strong class="total">3</strong>' in document
    for caption in ("By source", "By type", "By status", "Closed changes, outcome"):
        assert f"<caption>{caption}</caption>" in document
    assert "52.5 h" in document  # median request -> approval of 5 h and 100 h
    assert "19 h" in document


def test_median_lead_times_not_available() -> None:
    row = make_row(hours_request_to_approval=None, hours_approval_to_implementation=None)
    document = to_html([row], summary_of([row]))
    lead = document[document.index("Median lead times") :]
    assert lead.count('class="num na">n.a.</td>') >= 2


def test_every_change_key_and_column(rows: list[ReportRow]) -> None:
    document = to_html(rows, summary_of(rows))
    for row in rows:
        assert row.key in document
    header = document[document.index('<section class="changes">') :]
    for name in COLUMNS:
        assert f'<span class="c" role="columnheader">{name}</span>' in header
    assert "carry every field of every change" in header
    assert "Carol Approver (CAB) approved 2026-11-02T14:00+00:00" in document


def test_key_links_to_its_url_only_when_http(rows: list[ReportRow]) -> None:
    document = to_html(rows, summary_of(rows))
    hrefs = [attrs.get("href") for tag, attrs in parse(document) if tag == "a"]
    assert "https://jira.example.com/browse/CHG-1" in hrefs
    assert "http://snow.example.com/change_request.do?sys_id=3&a=b" in hrefs  # unescaped by parser
    assert "http://snow.example.com/change_request.do?sys_id=3&amp;a=b" in document
    assert not any(h and "javascript" in h.lower() for h in hrefs)
    assert 'href="javascript' not in document.lower()
    assert '<span class="c key">CHG-2</span>' in document  # still shown, as text


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://jira.example.com/browse/X-1", True),
        ("HTTP://example.com/", True),
        ("  https://example.com/x  ", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox(1)", False),
        ("//evil.example.com/", False),
        ("/relative/path", False),
        ("http:///nohost", False),
        ("", False),
    ],
)
def test_safe_url(url: str, safe: bool) -> None:
    assert (safe_url(url) is not None) is safe


def test_hostile_ticket_text_is_escaped(rows: list[ReportRow]) -> None:
    hostile_type = make_row(key="CHG-9", change_type="<b onmouseover=alert(1)>x</b>")
    all_rows = [*rows, hostile_type]
    document = to_html(all_rows, summary_of(all_rows))
    assert HOSTILE_TITLE not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert HOSTILE_ATTR not in document
    assert "<img" not in document
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in document
    assert "<b onmouseover" not in document  # in the tables and in the chart's legend
    assert svgs(document)[0].count("&lt;b onmouseover=alert(1)&gt;x&lt;/b&gt;") >= 2
    assert_self_contained(document)


def test_exceptions_counts_and_refs(rows: list[ReportRow]) -> None:
    summary = summary_of(rows)
    assert len(summary.exceptions["missing rollback plan"]) == 1
    document = to_html(rows, summary)
    section = document[document.index('<section class="exceptions">') :]
    section = section[: section.index("</section>")]
    assert re.search(r"self-approved</th>\s*<td class=\"num no\">1</td>", section)
    assert re.search(r"late notice</th>\s*<td class=\"num na\">0</td>", section)
    assert '<a href="#change-2">jira-prod:CHG-2</a>' in section
    assert '<a href="#change-3">snow-prod:CHG0030003</a>' in section  # unauthorized
    assert 'id="change-2"' in document
    chart = svgs(document)[2]
    assert ">self-approved</text>" in chart and ">overdue emergency review</text>" in chart
    counts = re.findall(r'class="count(?: zero)?">(\d+)</text>', chart)
    assert counts == [str(len(refs)) for refs in summary.exceptions.values()]


def test_answer_cells_are_coloured(rows: list[ReportRow]) -> None:
    document = to_html(rows, summary_of(rows))
    assert '<span class="c answer yes">yes</span>' in document
    assert '<span class="c answer no">no</span>' in document
    assert '<span class="c answer na">n.a.</span>' in document
    assert "<dt>emergency review</dt><dd>overdue</dd>" in document
    assert 'class="c answer yes">Alice Example' not in document


def test_zero_rows_empty_state() -> None:
    summary = summary_of([])
    document = to_html([], summary)
    assert_self_contained(document)
    charts = svgs(document)
    assert len(charts) == 3
    assert all(EMPTY in chart for chart in charts)
    assert "No changes in this period." in document
    assert '<strong class="total">0</strong>' in document
    assert "<tr id=" not in document
    for chart in charts:
        ET.fromstring(chart)


def test_render_dispatches_to_html(rows: list[ReportRow]) -> None:
    summary = summary_of(rows)
    assert render("html", rows, summary) == to_html(rows, summary)


def test_weekly_chart_stacks_types_per_week() -> None:
    weekly = {"2026-11-02": {"normal": 2, "emergency": 1}, "2026-11-09": {"<x>": 3}}
    chart = weekly_chart(weekly)
    ET.fromstring(chart)
    tips = re.findall(r"<title>([^<]*)</title></rect>", chart)
    assert tips == ["2026-11-02, normal: 2", "2026-11-02, emergency: 1", "2026-11-09, &lt;x&gt;: 3"]
    for label in ("2026-11-02", "2026-11-09", "week starting", "changes"):
        assert f">{label}</text>" in chart
    assert ">&lt;x&gt;</text>" in chart  # legend
    assert weekly_chart({}).count(EMPTY) == 1


def test_lead_time_buckets_edges() -> None:
    hours = [None, 0.5, 23.9, 24.0, 71.9, 72.0, 167.9, 168.0, 335.9, 336.0, 2000.0]
    rows = [make_row(key=f"K-{i}", hours_request_to_approval=h) for i, h in enumerate(hours)]
    assert lead_time_buckets(rows) == {
        "< 1 d": 2,
        "1-3 d": 2,
        "3-7 d": 2,
        "1-2 w": 2,
        "> 2 w": 2,
    }
    chart = lead_time_chart(rows)
    ET.fromstring(chart)
    assert ">&lt; 1 d</text>" in chart and ">&gt; 2 w</text>" in chart


def test_lead_time_chart_without_approvals() -> None:
    chart = lead_time_chart([make_row(hours_request_to_approval=None)])
    assert "no approved changes in this period" in chart
    assert EMPTY in lead_time_chart([])


def test_exceptions_chart_escapes_kinds() -> None:
    chart = exceptions_chart({"<kind>": ["a:1", "a:2"], "other": []})
    ET.fromstring(chart)
    assert ">&lt;kind&gt;</text>" in chart
    assert "<title>&lt;kind&gt;: 2</title>" in chart
    assert chart.count("<rect") == 1


def test_environment_built_once() -> None:
    from connector.reports.html import environment

    assert environment() is environment()
    assert environment().autoescape is True
    row = make_row()._replace(title="x")
    to_html([row], summary_of([row]))
    assert environment.cache_info().currsize == 1


class _Rows(HTMLParser):
    """The change list: its header texts and, per change, each closed cell's (text, class) and
    the text of its evidence."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.head: list[str] = []
        self.rows: list[list[tuple[str, str]]] = []
        self.evidence: list[str] = []
        self._cell: str | None = None
        self._depth = 0
        self._where = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        css = dict(attrs).get("class") or ""
        if tag == "span" and dict(attrs).get("role") == "columnheader":
            self.head.append("")
            self._where = "head"
        elif tag == "details":
            self.rows.append([])
            self.evidence.append("")
        elif tag == "summary":
            self._where = "summary"
        elif tag == "span" and self._where == "summary" and css.startswith("c "):
            self.rows[-1].append(("", css.split()[-1]))
            self._where = "cell"
        elif tag == "div" and css == "evidence":
            self._where = "evidence"

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._where == "head":
            self._where = ""
        elif tag == "span" and self._where == "cell":
            self._where = "summary"
        elif tag in ("summary", "details"):
            self._where = ""

    def handle_data(self, data: str) -> None:
        if self._where == "head":
            self.head[-1] += data
        elif self._where == "cell":
            text, css = self.rows[-1][-1]
            self.rows[-1][-1] = (text + data, css)
        elif self._where == "evidence":
            self.evidence[-1] += data + " "


def test_each_change_row_shows_its_key_columns_and_expands_to_its_evidence(
    rows: list[ReportRow],
) -> None:
    table = _Rows()
    table.feed(to_html(rows, summary_of(rows)))
    assert table.head == list(COLUMNS)
    assert len(table.rows) == len(table.evidence) == len(rows)
    for row, cells, evidence in zip(rows, table.rows, table.evidence, strict=True):
        texts = [text for text, _ in cells]
        assert texts[:7] == [
            row.key,
            row.source,
            row.title,
            f"{row.change_type} / {row.change_class}",
            row.status,
            row.approved_before_implemented,
            row.separation_of_duties,
        ]
        assert cells[0][1] == "key"
        assert cells[5][1] == ANSWER_CLASS.get(row.approved_before_implemented, "answer")
        for kind, message in exception_messages(row):
            assert kind in texts[7] and message in evidence
        for message in row.finding_messages:
            assert message in evidence
        for approver in row.approvers:
            assert approver.name in evidence
