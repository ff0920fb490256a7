"""The sandbox's ServiceNow encoded-query parser and evaluator (pure)."""

from __future__ import annotations

import pytest

from connector.sandbox.servicenow.query import (
    Condition,
    FieldKind,
    OrderBy,
    parse,
    select,
)

Row = dict[str, str]

KINDS: dict[str, FieldKind] = {
    "number": "string",
    "state": "number",
    "risk": "number",
    "type": "string",
    "short_description": "string",
    "sys_updated_on": "date",
    "assigned_to": "string",
    "sys_id": "string",
}


class DictFields:
    """Rows are plain dicts; a field the dict schema lacks is unknown (None)."""

    def kind(self, field: str) -> FieldKind | None:
        return KINDS.get(field)

    def value(self, row: Row, field: str) -> str:
        return row.get(field, "")


ROWS: list[Row] = [
    {
        "sys_id": "a1",
        "number": "CHG0030001",
        "state": "-5",
        "risk": "4",
        "type": "normal",
        "short_description": "Upgrade payments-api",
        "sys_updated_on": "2026-11-21 10:00:00",
        "assigned_to": "u1",
    },
    {
        "sys_id": "b2",
        "number": "CHG0030002",
        "state": "-3",
        "risk": "2",
        "type": "emergency",
        "short_description": "Rotate certs",
        "sys_updated_on": "2026-11-21 09:59:59",
        "assigned_to": "",
    },
    {
        "sys_id": "c3",
        "number": "CHG0030003",
        "state": "3",
        "risk": "1",
        "type": "standard",
        "short_description": "Patch OS on mail-relay",
        "sys_updated_on": "2026-11-21 10:00:01",
        "assigned_to": "u2",
    },
    {
        "sys_id": "d4",
        "number": "CHG0030004",
        "state": "10",
        "risk": "3",
        "type": "normal",
        "short_description": "Add DNS record",
        "sys_updated_on": "2026-11-20 23:00:00",
        "assigned_to": "u1",
    },
]


def numbers(query: str) -> list[str]:
    return [row["number"][-1] for row in select(ROWS, parse(query), DictFields())]


def test_parse_splits_groups_clauses_and_order() -> None:
    q = parse("stateIN-5,-4^risk=1^ORrisk=2^NQactive=false^ORDERBYDESCsys_updated_on^ORDERBYsys_id")
    assert q.order == (OrderBy("sys_updated_on", descending=True), OrderBy("sys_id"))
    assert q.groups == (
        (
            (Condition("state", "IN", "-5,-4"),),
            (Condition("risk", "=", "1"), Condition("risk", "=", "2")),
        ),
        ((Condition("active", "=", "false"),),),
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["1", "2", "3", "4"]),
        ("type=normal", ["1", "4"]),
        ("type=NORMAL", ["1", "4"]),  # string equality is case-insensitive, as on the instance
        ("type!=normal", ["2", "3"]),
        ("stateIN-5,-4", ["1"]),
        ("stateNOT IN-5,3", ["2", "4"]),
        ("short_descriptionSTARTSWITHrot", ["2"]),
        ("short_descriptionCONTAINSpayments", ["1"]),
        ("short_descriptionLIKEmail", ["3"]),
        ("short_descriptionDOESNOTCONTAINpayments", ["2", "3", "4"]),
        ("assigned_toISEMPTY", ["2"]),
        ("assigned_toISNOTEMPTY", ["1", "3", "4"]),
        ("type=normal^assigned_to=u1", ["1", "4"]),
        ("type=emergency^ORtype=standard", ["2", "3"]),
        ("type=normal^risk=4^ORrisk=1", ["1"]),
        ("type=emergency^NQrisk=1^NQstate=10", ["2", "3", "4"]),
    ],
)
def test_conditions(query: str, expected: list[str]) -> None:
    assert numbers(query) == expected


def test_integer_columns_compare_numerically() -> None:
    # As text "10" < "3"; as the integer column it is, 10 > 3.
    assert numbers("state>3") == ["4"]
    assert numbers("state>=-3") == ["2", "3", "4"]
    assert numbers("state<0") == ["1", "2"]
    assert numbers("risk<=2") == ["2", "3"]
    assert numbers("state=-5.0") == ["1"]


def test_dates_compare_at_second_precision() -> None:
    assert numbers("sys_updated_on>=2026-11-21 10:00:00") == ["1", "3"]
    assert numbers("sys_updated_on>2026-11-21 10:00:00") == ["3"]
    assert numbers("sys_updated_on<2026-11-21 10:00:00") == ["2", "4"]
    assert numbers("sys_updated_on=2026-11-21 09:59:59") == ["2"]


def test_date_generate_values() -> None:
    query = "sys_updated_on>=javascript:gs.dateGenerate('2026-11-21','10:00:00')"
    assert numbers(query) == ["1", "3"]
    between = (
        "sys_updated_onBETWEENjavascript:gs.dateGenerate('2026-11-21','00:00:00')"
        "@javascript:gs.dateGenerate('2026-11-21','10:00:00')"
    )
    assert numbers(between) == ["1", "2"]


def test_invalid_parts_are_silently_ignored() -> None:
    # An unknown field widens the result instead of failing, as a real instance does.
    assert numbers("no_such_field=1") == ["1", "2", "3", "4"]
    assert numbers("no_such_field=1^type=normal") == ["1", "4"]
    assert numbers("type=emergency^ORno_such_field=1") == ["2"]
    assert numbers("this is not a condition^type=standard") == ["3"]
    assert numbers("sys_updated_on>javascript:gs.daysAgo(3)") == ["1", "2", "3", "4"]
    assert numbers("ORDERBYno_such_field") == ["1", "2", "3", "4"]


def test_order_by_several_fields() -> None:
    assert numbers("ORDERBYsys_updated_on") == ["4", "2", "1", "3"]
    assert numbers("ORDERBYDESCsys_updated_on") == ["3", "1", "2", "4"]
    assert numbers("ORDERBYtype^ORDERBYDESCrisk") == ["2", "1", "4", "3"]
    assert numbers("ORDERBYDESCstate") == ["4", "3", "2", "1"]  # numeric, not "3" > "10"
    assert numbers("ORDERBYassigned_to^ORDERBYDESCnumber") == ["2", "4", "1", "3"]


def test_order_is_insertion_order_without_orderby() -> None:
    assert numbers("risk>0") == ["1", "2", "3", "4"]


def test_pysnc_style_query() -> None:
    # What pysnc sends: conditions, then the encoded query, then its default ORDERBYsys_id.
    q = "type=normal^ORtype=emergency^sys_updated_on>=2026-11-21 00:00:00^ORDERBYsys_id"
    assert numbers(q) == ["1", "2"]
