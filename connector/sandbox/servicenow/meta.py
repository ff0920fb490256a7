"""The instance's own description of its tables: `sys_dictionary` and `sys_choice` rows.

Both are generated from `schema.py`, so what the dictionary says is what the Table API serves:
one collection row per table (element empty, internal_type "collection") and one row per
column with its `internal_type` (the glide type name), `reference` (the referenced table),
`choice` ("1": a dropdown with -- None --) and `column_label`; one `sys_choice` row per choice
value with its `label`, `sequence` and `inactive` flag, in the order the form lists them.
"""

from __future__ import annotations

from collections.abc import Iterator

from connector.sandbox.catalog import sys_id_for
from connector.sandbox.servicenow.schema import TABLES, Column, Kind, TableSchema

Row = dict[str, str]

# The tables whose dictionary and choices the sandbox publishes.
DESCRIBED = ("change_request", "sysapproval_approver")

_LABELS = {
    "sys_id": "Sys ID",
    "cmdb_ci": "Configuration item",
    "std_change_producer_version": "Standard change template version",
    "start_date": "Planned start date",
    "end_date": "Planned end date",
    "work_start": "Actual start",
    "work_end": "Actual end",
    "backout_plan": "Backout plan",
    "comments": "Additional comments",
    "comments_and_work_notes": "Comments and Work notes",
    "sysapproval": "Approval for",
    "u_expected_downtime": "Expected downtime (minutes)",
}
# Choice values a release retired: still in sys_choice, flagged inactive, never offered.
_INACTIVE = {("change_request", "phase", "open")}


def label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    return name.removeprefix("u_").replace("_", " ").capitalize()


def internal_type(name: str, column: Column) -> str:
    if name == "comments_and_work_notes":
        return "journal_list"  # displays the other journals; takes no input
    match column.kind:
        case Kind.INT_CHOICE:
            return "integer"
        case Kind.CHOICE:
            return "string"
    return str(column.kind)


def dictionary_rows(stamp: str) -> Iterator[Row]:
    for table_name in DESCRIBED:
        schema = TABLES[table_name]
        yield _entry(schema, "", stamp, internal="collection", text=label(table_name))
        for name, column in sorted(schema.columns.items()):
            yield _entry(schema, name, stamp, internal=internal_type(name, column), column=column)


def _entry(
    schema: TableSchema,
    element: str,
    stamp: str,
    *,
    internal: str,
    column: Column | None = None,
    text: str = "",
) -> Row:
    row: Row = {
        "sys_id": sys_id_for(f"sys_dictionary:{schema.name}.{element}"),
        "name": schema.name,
        "element": element,
        "column_label": text or label(element),
        "internal_type": internal,
        "sys_created_on": stamp,
        "sys_updated_on": stamp,
        "sys_created_by": "admin",
        "sys_updated_by": "admin",
    }
    if column is not None and column.ref:
        row["reference"] = column.ref
    if column is not None and column.choices:
        row["choice"] = "1"
    if internal in ("string", "journal_input", "journal_list"):
        row["max_length"] = "4000" if internal != "string" or column is None else "100"
    return row


def choice_rows(stamp: str) -> Iterator[Row]:
    for table_name in DESCRIBED:
        for element, column in sorted(TABLES[table_name].columns.items()):
            for k, (value, text) in enumerate(column.choices.items()):
                row: Row = {
                    "sys_id": sys_id_for(f"sys_choice:{table_name}.{element}.{value}"),
                    "name": table_name,
                    "element": element,
                    "value": value,
                    "label": text,
                    "sequence": str(k * 10),
                    "sys_created_on": stamp,
                    "sys_updated_on": stamp,
                    "sys_created_by": "admin",
                    "sys_updated_by": "admin",
                }
                if (table_name, element, value) in _INACTIVE:
                    row["inactive"] = "true"
                yield row
