"""The instance's own description of its tables: `sys_dictionary` and `sys_choice` rows.

Both are generated from `schema.py`, so what the dictionary says is what the Table API serves:
one collection row per table (element empty, internal_type "collection") and one row per
column with its `internal_type` (the glide type name), `reference` (the referenced table),
`choice` ("1": a dropdown with -- None --) and `column_label`; one `sys_choice` row per choice
value with its `label`, `sequence` and `inactive` flag, in the order the form lists them.
As on an instance, a column change_request inherits from task is described under name=task,
and `state` has choices of both (change_request's own override task's): a reader asks for
`nameINchange_request,task` and lets the child win.
"""

from __future__ import annotations

from collections.abc import Iterator

from connector.sandbox.catalog import sys_id_for
from connector.sandbox.servicenow.columns import Column, Kind
from connector.sandbox.servicenow.schema import TABLES

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
# change_request extends task: these columns (and their choices) are defined on task, so their
# dictionary and choice rows carry name=task. change_request overrides the choices of `state`
# (task's own are the generic ones below); a reader must merge the hierarchy, child first.
TASK_COLUMNS = frozenset(
    {
        *("sys_id", "sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by"),
        *("sys_mod_count", "sys_tags", "sys_class_name", "sys_domain", "sys_domain_path"),
        *("number", "short_description", "description", "state", "approval", "active"),
        *("assigned_to", "assignment_group", "cmdb_ci", "business_service", "company"),
        *("comments", "work_notes", "comments_and_work_notes", "priority", "impact", "urgency"),
        *("opened_at", "opened_by", "closed_at", "closed_by", "work_start", "work_end"),
        *("watch_list", "work_notes_list", "approval_history", "approval_set", "close_notes"),
        *("due_date", "escalation", "contact_type", "location", "parent", "order", "made_sla"),
        *("knowledge", "upon_approval", "upon_reject", "reassignment_count", "follow_up"),
        *("group_list", "additional_assignee_list", "activity_due", "sla_due", "time_worked"),
        *("business_duration", "calendar_duration", "correlation_id", "correlation_display"),
        *("expected_start", "user_input", "delivery_plan", "delivery_task", "contract"),
        *("route_reason", "service_offering", "task_effective_number", "universal_request"),
    }
)
TASK_STATE = {
    "-5": "Pending",
    "1": "Open",
    "2": "Work in Progress",
    "3": "Closed Complete",
    "4": "Closed Incomplete",
    "7": "Closed Skipped",
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


def owner(table_name: str, element: str) -> str:
    """The table that defines a column: task for the columns change_request inherits."""
    return "task" if table_name == "change_request" and element in TASK_COLUMNS else table_name


def dictionary_rows(stamp: str) -> Iterator[Row]:
    for table_name in DESCRIBED:
        schema = TABLES[table_name]
        yield _entry(table_name, "", stamp, internal="collection", text=label(table_name))
        if table_name == "change_request":
            yield _entry("task", "", stamp, internal="collection", text="Task")
        for name, column in sorted(schema.columns.items()):
            internal = internal_type(name, column)
            yield _entry(owner(table_name, name), name, stamp, internal=internal, column=column)


def _entry(
    table_name: str,
    element: str,
    stamp: str,
    *,
    internal: str,
    column: Column | None = None,
    text: str = "",
) -> Row:
    row: Row = {
        "sys_id": sys_id_for(f"sys_dictionary:{table_name}.{element}"),
        "name": table_name,
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
            # change_request defines its own state choices; task's are below.
            name = table_name if element == "state" else owner(table_name, element)
            yield from _choices(name, element, column.choices, stamp)
    yield from _choices("task", "state", TASK_STATE, stamp)


def _choices(table_name: str, element: str, choices: dict[str, str], stamp: str) -> Iterator[Row]:
    for k, (value, text) in enumerate(choices.items()):
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
