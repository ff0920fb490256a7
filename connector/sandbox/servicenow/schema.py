"""The sandbox instance's dictionary: tables, column types, choice labels and default values.

This is what `sys_dictionary` and `sys_choice` are on a real instance (a column's kinds and the
fields every table has are columns.py's). The store keeps every
value as the string the Table API returns; the column kind says how queries compare it
(numbers, dates) and how its display value is rendered (choice labels, reference display
names, dates in the caller's time zone, journal history).
"""

from __future__ import annotations

from connector.sandbox.servicenow.columns import (
    SYS_COLUMNS,
    Column,
    Kind,
    TableSchema,
    journal,
    reference,
    typed,
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
    **SYS_COLUMNS,
    **{name: Column() for name in _STRINGS},
    **{name: typed(Kind.DATETIME) for name in _DATES},
    **{name: typed(Kind.BOOLEAN) for name in _BOOLEANS},
    **{name: reference("sys_user") for name in _USER_REFS},
    **{name: Column(Kind.GLIDE_LIST, ref="sys_user") for name in _USER_LISTS},
    "cab_date": typed(Kind.DATE),
    "state": typed(Kind.INT_CHOICE, STATE_LABELS),
    "approval": typed(Kind.CHOICE, APPROVAL_LABELS),
    "type": typed(
        Kind.CHOICE, {"standard": "Standard", "normal": "Normal", "emergency": "Emergency"}
    ),
    "risk": typed(Kind.INT_CHOICE, _RISK),
    "impact": typed(Kind.INT_CHOICE, _IMPACT),
    "urgency": typed(Kind.INT_CHOICE, _IMPACT),
    "priority": typed(Kind.INT_CHOICE, _PRIORITY),
    "escalation": typed(
        Kind.INT_CHOICE, {"0": "Normal", "1": "Moderate", "2": "High", "3": "Overdue"}
    ),
    "scope": typed(
        Kind.INT_CHOICE,
        {"1": "Very Large", "2": "Large", "3": "Medium", "4": "Small", "5": "Very Small"},
    ),
    "reassignment_count": typed(Kind.INTEGER),
    "u_expected_downtime": typed(Kind.INTEGER),
    "phase": typed(Kind.CHOICE, {"requested": "Requested", "open": "Open"}),
    "phase_state": typed(Kind.CHOICE, {"open": "Open", "on_hold": "On Hold"}),
    "close_code": typed(
        Kind.CHOICE,
        {
            "successful": "Successful",
            "successful_issues": "Successful with issues",
            "unsuccessful": "Unsuccessful",
        },
    ),
    "conflict_status": typed(
        Kind.CHOICE, {"Not Run": "Not Run", "Conflict": "Conflict", "No Conflict": "No Conflict"}
    ),
    "contact_type": typed(
        Kind.CHOICE, {"phone": "Phone", "email": "Email", "self-service": "Self-service"}
    ),
    "upon_approval": typed(
        Kind.CHOICE,
        {"proceed": "Proceed to Next Task", "wait": "Wait for a User to Close this task"},
    ),
    "upon_reject": typed(
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
    "u_security_impact": typed(
        Kind.CHOICE, {"none": "None", "low": "Low", "medium": "Medium", "high": "High"}
    ),
    "assignment_group": reference("sys_user_group"),
    "group_list": Column(Kind.GLIDE_LIST, ref="sys_user_group"),
    "cmdb_ci": reference("cmdb_ci"),
    "business_service": reference("cmdb_ci"),
    "service_offering": reference("cmdb_ci"),
    "u_affected_systems": Column(Kind.GLIDE_LIST, ref="cmdb_ci"),
    "std_change_producer_version": reference("std_change_producer_version"),
    "company": reference("core_company"),
    "location": reference("cmn_location"),
    "contract": reference("ast_contract"),
    "parent": reference("task"),
    "delivery_plan": reference("sc_cat_item_delivery_plan"),
    "delivery_task": reference("sc_cat_item_delivery_task"),
    "on_hold_task": Column(Kind.GLIDE_LIST, ref="task"),
    "universal_request": reference("task"),
    "sys_domain": Column(),  # a reference to sys_user_group on a real instance; "global" here
    "comments": journal("Additional comments"),
    "work_notes": journal("Work notes"),
    "comments_and_work_notes": journal(""),  # read-only view of both journals
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
    **SYS_COLUMNS,
    "sysapproval": reference("task"),
    "document_id": Column(),
    "source_table": Column(),
    "approver": reference("sys_user"),
    "group": reference("sys_user_group"),
    "state": typed(Kind.CHOICE, APPROVAL_LABELS),
    "comments": journal("Comments"),
    "due_date": typed(Kind.DATETIME),
    "expected_start": typed(Kind.DATETIME),
    "order": typed(Kind.INTEGER),
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
        {
            **SYS_COLUMNS,
            "element_id": Column(),
            "name": Column(),
            "element": Column(),
            "value": Column(),
        },
        "value",
        {"sys_mod_count": "0"},
    ),
    "sys_user": TableSchema(
        "sys_user",
        {
            **SYS_COLUMNS,
            "user_name": Column(),
            "name": Column(),
            "first_name": Column(),
            "last_name": Column(),
            "email": Column(),
            "time_zone": Column(),
            "active": typed(Kind.BOOLEAN),
            "locked_out": typed(Kind.BOOLEAN),
            "title": Column(),
            "roles": Column(),
        },
        "name",
        {"active": "true", "locked_out": "false", "sys_mod_count": "0"},
    ),
    "sys_user_group": TableSchema(
        "sys_user_group",
        {
            **SYS_COLUMNS,
            "name": Column(),
            "description": Column(),
            "active": typed(Kind.BOOLEAN),
            "manager": reference("sys_user"),
            "email": Column(),
        },
        "name",
        {"active": "true", "sys_mod_count": "0"},
    ),
    "cmdb_ci": TableSchema(
        "cmdb_ci",
        {
            **SYS_COLUMNS,
            "name": Column(),
            "sys_class_name": Column(),
            "operational_status": typed(
                Kind.INT_CHOICE, {"1": "Operational", "2": "Non-Operational"}
            ),
            "u_departments": Column(),
        },
        "name",
        {"operational_status": "1", "sys_mod_count": "0"},
    ),
    "std_change_producer_version": TableSchema(
        "std_change_producer_version",
        {**SYS_COLUMNS, "name": Column(), "version": typed(Kind.INTEGER)},
        "name",
        {"version": "1", "sys_mod_count": "0"},
    ),
    "sys_choice": TableSchema(
        "sys_choice",
        {
            **SYS_COLUMNS,
            "name": Column(),
            "element": Column(),
            "language": Column(),
            "value": Column(),
            "label": Column(),
            "sequence": typed(Kind.INTEGER),
            "inactive": typed(Kind.BOOLEAN),
            "dependent_value": Column(),
        },
        "label",
        {"language": "en", "inactive": "false", "sys_mod_count": "0"},
    ),
    "sys_dictionary": TableSchema(
        "sys_dictionary",
        {
            **SYS_COLUMNS,
            "name": Column(),
            "element": Column(),
            "column_label": Column(),
            "internal_type": Column(),
            "reference": Column(),
            "choice": typed(
                Kind.INT_CHOICE,
                {
                    "0": "-- None --",
                    "1": "Dropdown with -- None --",
                    "3": "Dropdown without -- None --",
                },
            ),
            "max_length": typed(Kind.INTEGER),
            "mandatory": typed(Kind.BOOLEAN),
            "read_only": typed(Kind.BOOLEAN),
            "active": typed(Kind.BOOLEAN),
        },
        "column_label",
        {"choice": "0", "mandatory": "false", "read_only": "false", "active": "true"},
    ),
}
# `task` is the parent of change_request: a reference to task reads through to the change.
TABLE_ALIASES = {"task": "change_request"}
