"""The sandbox instance's dictionary: tables, column types, choice labels and default values.

This is what `sys_dictionary` and `sys_choice` are on a real instance. The store keeps every
value as the string the Table API returns; the column kind says how queries compare it
(numbers, dates) and how its display value is rendered (choice labels, reference display
names, dates in the caller's time zone, journal history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATETIME = "glide_date_time"
    DATE = "glide_date"
    CHOICE = "choice"  # string value with a label
    INT_CHOICE = "integer_choice"  # integer value with a label (state, risk, impact)
    REFERENCE = "reference"
    GLIDE_LIST = "glide_list"  # comma-separated sys_ids of `ref`
    JOURNAL = "journal_input"  # write-only: a write appends to sys_journal_field


@dataclass(frozen=True)
class Column:
    kind: Kind = Kind.STRING
    ref: str = ""  # referenced table, for REFERENCE and GLIDE_LIST
    choices: dict[str, str] = field(default_factory=dict)
    journal_label: str = ""  # how the journal display names this field, e.g. "Work notes"

    @property
    def numeric(self) -> bool:
        return self.kind in (Kind.INTEGER, Kind.INT_CHOICE)


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: dict[str, Column]
    display: str  # the column whose value is the record's display value
    defaults: dict[str, str]  # values a new row starts with (others are "")


# Fields of every table; sys_id and the audit columns are maintained by the store.
_SYS: dict[str, Column] = {
    "sys_id": Column(),
    "sys_created_on": Column(Kind.DATETIME),
    "sys_created_by": Column(),
    "sys_updated_on": Column(Kind.DATETIME),
    "sys_updated_by": Column(),
    "sys_mod_count": Column(Kind.INTEGER),
    "sys_tags": Column(),
}
SYSTEM_MANAGED = frozenset(
    {"sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count"}
)

STATE_LABELS = {
    "-5": "New",
    "-4": "Assess",
    "-3": "Authorize",
    "-2": "Scheduled",
    "-1": "Implement",
    "0": "Review",
    "3": "Closed",
    "4": "Canceled",
}
APPROVAL_LABELS = {
    "not requested": "Not Yet Requested",
    "requested": "Requested",
    "approved": "Approved",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "not_required": "No Longer Required",
    "duplicate": "Duplicate",
}
_RISK = {"1": "Very High", "2": "High", "3": "Moderate", "4": "Low"}
_IMPACT = {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"}
_PRIORITY = {
    "1": "1 - Critical",
    "2": "2 - High",
    "3": "3 - Moderate",
    "4": "4 - Low",
    "5": "5 - Planning",
}


def _c(kind: Kind, choices: dict[str, str] | None = None) -> Column:
    return Column(kind, choices=choices or {})


def _ref(table: str) -> Column:
    return Column(Kind.REFERENCE, ref=table)


def _journal(label: str) -> Column:
    return Column(Kind.JOURNAL, journal_label=label)


_STRINGS = (
    "approval_history",
    "business_duration",
    "calendar_duration",
    "cab_recommendation",
    "category",
    "change_plan",
    "close_notes",
    "correlation_display",
    "correlation_id",
    "description",
    "implementation_plan",
    "backout_plan",
    "justification",
    "number",
    "on_hold_reason",
    "reason",
    "review_comments",
    "review_status",
    "risk_impact_analysis",
    "route_reason",
    "short_description",
    "sys_class_name",
    "sys_domain_path",
    "task_effective_number",
    "test_plan",
    "time_worked",
    "user_input",
    "u_affected_departments",
    "u_security_notes",
    "u_release",
    "order",
)
_DATES = (
    "activity_due",
    "approval_set",
    "closed_at",
    "due_date",
    "end_date",
    "expected_start",
    "follow_up",
    "opened_at",
    "requested_by_date",
    "review_date",
    "sla_due",
    "start_date",
    "work_end",
    "work_start",
    "conflict_last_run",
)
_BOOLEANS = (
    "active",
    "cab_required",
    "knowledge",
    "made_sla",
    "on_hold",
    "outside_maintenance_schedule",
    "production_system",
    "unauthorized",
    "u_customer_facing",
)
_USER_REFS = (
    "assigned_to",
    "cab_delegate",
    "closed_by",
    "opened_by",
    "requested_by",
    "u_emergency_approver",
)
_USER_LISTS = ("additional_assignee_list", "watch_list", "work_notes_list")

CHANGE_COLUMNS: dict[str, Column] = {
    **_SYS,
    **{name: Column() for name in _STRINGS},
    **{name: _c(Kind.DATETIME) for name in _DATES},
    **{name: _c(Kind.BOOLEAN) for name in _BOOLEANS},
    **{name: _ref("sys_user") for name in _USER_REFS},
    **{name: Column(Kind.GLIDE_LIST, ref="sys_user") for name in _USER_LISTS},
    "cab_date": _c(Kind.DATE),
    "state": _c(Kind.INT_CHOICE, STATE_LABELS),
    "approval": _c(Kind.CHOICE, APPROVAL_LABELS),
    "type": _c(Kind.CHOICE, {"standard": "Standard", "normal": "Normal", "emergency": "Emergency"}),
    "risk": _c(Kind.INT_CHOICE, _RISK),
    "impact": _c(Kind.INT_CHOICE, _IMPACT),
    "urgency": _c(Kind.INT_CHOICE, _IMPACT),
    "priority": _c(Kind.INT_CHOICE, _PRIORITY),
    "escalation": _c(
        Kind.INT_CHOICE, {"0": "Normal", "1": "Moderate", "2": "High", "3": "Overdue"}
    ),
    "scope": _c(
        Kind.INT_CHOICE,
        {"1": "Very Large", "2": "Large", "3": "Medium", "4": "Small", "5": "Very Small"},
    ),
    "reassignment_count": _c(Kind.INTEGER),
    "u_expected_downtime": _c(Kind.INTEGER),
    "phase": _c(Kind.CHOICE, {"requested": "Requested", "open": "Open"}),
    "phase_state": _c(Kind.CHOICE, {"open": "Open", "on_hold": "On Hold"}),
    "close_code": _c(
        Kind.CHOICE,
        {
            "successful": "Successful",
            "successful_issues": "Successful with issues",
            "unsuccessful": "Unsuccessful",
        },
    ),
    "conflict_status": _c(
        Kind.CHOICE, {"Not Run": "Not Run", "Conflict": "Conflict", "No Conflict": "No Conflict"}
    ),
    "contact_type": _c(
        Kind.CHOICE, {"phone": "Phone", "email": "Email", "self-service": "Self-service"}
    ),
    "upon_approval": _c(
        Kind.CHOICE,
        {"proceed": "Proceed to Next Task", "wait": "Wait for a User to Close this task"},
    ),
    "upon_reject": _c(
        Kind.CHOICE, {"cancel": "Cancel all future Tasks", "goto": "Go to a previous Task"}
    ),
    # Several choices in one string column (comma-separated values), as a form's slush bucket
    # keeps them; the choice list says which values there are.
    "u_infosec_categories": Column(
        Kind.STRING,
        choices={
            "data_sharing": "Data sharing",
            "security_configuration": "Security configuration",
            "user_access": "User access",
            "system_usage": "System usage",
        },
    ),
    "u_audiences": Column(
        Kind.STRING,
        choices={
            "all_users": "All users",
            "admins": "Admins",
            "account_owners": "Account owners",
            "security": "Security",
            "engineering": "Engineering",
        },
    ),
    "u_security_impact": _c(
        Kind.CHOICE, {"none": "None", "low": "Low", "medium": "Medium", "high": "High"}
    ),
    "assignment_group": _ref("sys_user_group"),
    "group_list": Column(Kind.GLIDE_LIST, ref="sys_user_group"),
    "cmdb_ci": _ref("cmdb_ci"),
    "business_service": _ref("cmdb_ci"),
    "service_offering": _ref("cmdb_ci"),
    "u_affected_systems": Column(Kind.GLIDE_LIST, ref="cmdb_ci"),
    "std_change_producer_version": _ref("std_change_producer_version"),
    "company": _ref("core_company"),
    "location": _ref("cmn_location"),
    "contract": _ref("ast_contract"),
    "parent": _ref("task"),
    "delivery_plan": _ref("sc_cat_item_delivery_plan"),
    "delivery_task": _ref("sc_cat_item_delivery_task"),
    "on_hold_task": Column(Kind.GLIDE_LIST, ref="task"),
    "universal_request": _ref("task"),
    "sys_domain": Column(),  # a reference to sys_user_group on a real instance; "global" here
    "comments": _journal("Additional comments"),
    "work_notes": _journal("Work notes"),
    "comments_and_work_notes": _journal(""),  # read-only view of both journals
}

CHANGE_DEFAULTS: dict[str, str] = {
    "active": "true",
    "approval": "not requested",
    "cab_required": "false",
    "category": "Other",
    "conflict_status": "Not Run",
    "contact_type": "self-service",
    "escalation": "0",
    "impact": "3",
    "knowledge": "false",
    "made_sla": "true",
    "on_hold": "false",
    "outside_maintenance_schedule": "false",
    "phase": "requested",
    "phase_state": "open",
    "priority": "4",
    "production_system": "false",
    "reassignment_count": "0",
    "risk": "3",
    "scope": "3",
    "state": "-5",
    "sys_class_name": "change_request",
    "sys_domain": "global",
    "sys_domain_path": "/",
    "sys_mod_count": "0",
    "type": "normal",
    "unauthorized": "false",
    "upon_approval": "proceed",
    "upon_reject": "cancel",
    "urgency": "3",
    "u_customer_facing": "false",
}

APPROVER_COLUMNS: dict[str, Column] = {
    **_SYS,
    "sysapproval": _ref("task"),
    "document_id": Column(),
    "source_table": Column(),
    "approver": _ref("sys_user"),
    "group": _ref("sys_user_group"),
    "state": _c(Kind.CHOICE, APPROVAL_LABELS),
    "comments": _journal("Comments"),
    "due_date": _c(Kind.DATETIME),
    "expected_start": _c(Kind.DATETIME),
    "order": _c(Kind.INTEGER),
}

TABLES: dict[str, TableSchema] = {
    "change_request": TableSchema("change_request", CHANGE_COLUMNS, "number", CHANGE_DEFAULTS),
    "sysapproval_approver": TableSchema(
        "sysapproval_approver",
        APPROVER_COLUMNS,
        "sysapproval",
        {"state": "requested", "source_table": "change_request", "sys_mod_count": "0"},
    ),
    "sys_journal_field": TableSchema(
        "sys_journal_field",
        {**_SYS, "element_id": Column(), "name": Column(), "element": Column(), "value": Column()},
        "value",
        {"sys_mod_count": "0"},
    ),
    "sys_user": TableSchema(
        "sys_user",
        {
            **_SYS,
            "user_name": Column(),
            "name": Column(),
            "first_name": Column(),
            "last_name": Column(),
            "email": Column(),
            "time_zone": Column(),
            "active": _c(Kind.BOOLEAN),
            "locked_out": _c(Kind.BOOLEAN),
            "title": Column(),
            "roles": Column(),
        },
        "name",
        {"active": "true", "locked_out": "false", "sys_mod_count": "0"},
    ),
    "sys_user_group": TableSchema(
        "sys_user_group",
        {
            **_SYS,
            "name": Column(),
            "description": Column(),
            "active": _c(Kind.BOOLEAN),
            "manager": _ref("sys_user"),
            "email": Column(),
        },
        "name",
        {"active": "true", "sys_mod_count": "0"},
    ),
    "cmdb_ci": TableSchema(
        "cmdb_ci",
        {
            **_SYS,
            "name": Column(),
            "sys_class_name": Column(),
            "operational_status": _c(Kind.INT_CHOICE, {"1": "Operational", "2": "Non-Operational"}),
            "u_departments": Column(),
        },
        "name",
        {"operational_status": "1", "sys_mod_count": "0"},
    ),
    "std_change_producer_version": TableSchema(
        "std_change_producer_version",
        {**_SYS, "name": Column(), "version": _c(Kind.INTEGER)},
        "name",
        {"version": "1", "sys_mod_count": "0"},
    ),
    "sys_choice": TableSchema(
        "sys_choice",
        {
            **_SYS,
            "name": Column(),
            "element": Column(),
            "language": Column(),
            "value": Column(),
            "label": Column(),
            "sequence": _c(Kind.INTEGER),
            "inactive": _c(Kind.BOOLEAN),
            "dependent_value": Column(),
        },
        "label",
        {"language": "en", "inactive": "false", "sys_mod_count": "0"},
    ),
    "sys_dictionary": TableSchema(
        "sys_dictionary",
        {
            **_SYS,
            "name": Column(),
            "element": Column(),
            "column_label": Column(),
            "internal_type": Column(),
            "reference": Column(),
            "choice": _c(
                Kind.INT_CHOICE,
                {
                    "0": "-- None --",
                    "1": "Dropdown with -- None --",
                    "3": "Dropdown without -- None --",
                },
            ),
            "max_length": _c(Kind.INTEGER),
            "mandatory": _c(Kind.BOOLEAN),
            "read_only": _c(Kind.BOOLEAN),
            "active": _c(Kind.BOOLEAN),
        },
        "column_label",
        {"choice": "0", "mandatory": "false", "read_only": "false", "active": "true"},
    ),
}
# `task` is the parent of change_request: a reference to task reads through to the change.
TABLE_ALIASES = {"task": "change_request"}
