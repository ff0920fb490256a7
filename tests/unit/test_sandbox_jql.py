"""The sandbox's JQL subset: parsing, minute precision in the caller's zone, order, errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from connector.sandbox.jira.jql import JqlError, parse

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KNOWN = {
    "project": ["CHG", "OPS"],
    "status": ["Draft", "Awaiting Approval", "Closed"],
    "issuetype": ["Change"],
    "resolution": ["Done"],
}


@dataclass
class Row:
    project: str
    number: int
    status: str = "Draft"
    updated: datetime = NOW
    created: datetime = NOW
    issuetype: str = "Change"
    resolution: str | None = None
    labels: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.project}-{self.number}"

    @property
    def updated_ms(self) -> int:
        return int(self.updated.timestamp() * 1000)

    @property
    def created_ms(self) -> int:
        return int(self.created.timestamp() * 1000)


def q(text: str, tz: ZoneInfo = LA):
    return parse(text, tz=tz, now=NOW, known=KNOWN)


def test_minute_precision_in_the_callers_zone() -> None:
    # 10:00:30.250 UTC is 02:00:30 in Los Angeles in November (UTC-8).
    row = Row("CHG", 1, updated=datetime(2026, 11, 21, 10, 0, 30, 250000, tzinfo=UTC))
    assert q('updated >= "2026-11-21 02:00"').matches(row)
    assert not q('updated > "2026-11-21 02:00"').matches(row)
    assert q('updated <= "2026-11-21 02:00"').matches(row)
    assert q('updated = "2026-11-21 02:00"').matches(row)
    assert not q('updated < "2026-11-21 02:00"').matches(row)
    assert q('updated > "2026-11-21 01:59"').matches(row)
    # Read in UTC the same literal is eight hours earlier: a worker that forgets the zone
    # polls the wrong window.
    assert not q('updated >= "2026-11-21 10:01"').matches(row)
    assert q('updated >= "2026-11-21 10:00"', ZoneInfo("UTC")).matches(row)
    assert not q('updated >= "2026-11-21 10:00"').matches(row)


def test_date_formats_and_relative_dates() -> None:
    row = Row("CHG", 1, created=datetime(2026, 11, 21, 8, 0, tzinfo=UTC))  # 00:00 in LA
    assert q('created >= "2026/11/21 00:00"').matches(row)
    assert q('created >= "2026-11-21"').matches(row)
    assert not q("created < 2026-11-21").matches(row)
    assert q("updated >= -5m").matches(Row("CHG", 2, updated=NOW))
    assert not q("updated >= -5m").matches(
        Row("CHG", 2, updated=datetime(2026, 11, 21, 11, 54, tzinfo=UTC))
    )


def test_fields_operators_and_boolean_logic() -> None:
    rows = [
        Row("CHG", 1, "Draft"),
        Row("CHG", 2, "Closed", resolution="Done"),
        Row("OPS", 1, "Awaiting Approval", labels=("urgent",)),
    ]
    cases = {
        "project = CHG": ["CHG-1", "CHG-2"],
        "project in (chg, OPS) AND status != Closed": ["CHG-1", "OPS-1"],
        'status = "Awaiting Approval"': ["OPS-1"],
        "status not in (Draft, Closed)": ["OPS-1"],
        "key = CHG-2": ["CHG-2"],
        "key in (CHG-1, OPS-1)": ["CHG-1", "OPS-1"],
        "issuetype = Change and resolution is EMPTY": ["CHG-1", "OPS-1"],
        "(project = OPS OR status = Closed) AND NOT labels = urgent": ["CHG-2"],
        "labels in (urgent)": ["OPS-1"],
    }
    for text, expected in cases.items():
        assert [r.key for r in rows if q(text).matches(r)] == expected, text


def test_order_by_is_numeric_aware_and_stable() -> None:
    rows = [Row("CHG", 10), Row("CHG", 9), Row("OPS", 1), Row("CHG", 100)]
    assert [r.key for r in q("project in (CHG, OPS) ORDER BY key ASC").sort(rows)] == [
        "CHG-9",
        "CHG-10",
        "CHG-100",
        "OPS-1",
    ]
    t = datetime(2026, 11, 20, tzinfo=UTC)
    rows = [Row("CHG", 2, updated=t), Row("CHG", 1, updated=NOW), Row("CHG", 3, updated=t)]
    ordered = q("project = CHG ORDER BY updated DESC, key ASC").sort(rows)
    assert [r.key for r in ordered] == ["CHG-1", "CHG-2", "CHG-3"]
    assert [r.key for r in q("project = CHG").sort(rows)] == ["CHG-3", "CHG-2", "CHG-1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("project = ", "Error in the JQL Query: Expecting either a value"),
        ("project CHG", "Error in the JQL Query: Expecting operator"),
        ("project = CHG status = Draft", "Error in the JQL Query: Expecting either 'OR' or 'AND'"),
        ("(project = CHG", "Error in the JQL Query: Expecting ')'"),
        ("colour = red", "Field 'colour' does not exist"),
        ("status = Drafted", "The value 'Drafted' does not exist for the field 'status'."),
        ('updated >= "21/11/2026"', "Date value '21/11/2026' for field 'updated' is invalid."),
        ("project = CHG ORDER BY colour", "Field 'colour' does not exist"),
    ],
)
def test_errors_carry_jiras_messages(text: str, message: str) -> None:
    with pytest.raises(JqlError) as caught:
        q(text)
    assert str(caught.value).startswith(message)


def test_order_only_query_is_unbounded() -> None:
    assert q("ORDER BY key").where is None
    assert q("").where is None
