"""Seeding: the sandbox catalog and scenario changes as ServiceNow rows (docs/raw-shapes.md).

Reference data first (sys_user per catalog user, sys_user_group, cmdb_ci, the standard change
templates as std_change_producer_version), then each `SeedChange` as one `change_request` row
and one `sysapproval_approver` row per approval. Rows are sparse: columns equal to the table's
defaults are left out (see store.py), which keeps 100,000 seeded changes cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from connector.sandbox.catalog import (
    CI_BY_NAME,
    CONFIGURATION_ITEMS,
    SERVICENOW_ROLES,
    STANDARD_TEMPLATES,
    USERS,
    USERS_BY_LOGIN,
    sys_id_for,
)
from connector.sandbox.scenario_model import Planted, SeedApproval, SeedChange
from connector.sandbox.servicenow import meta
from connector.sandbox.servicenow.store import Row, Store, change_number, glide_time

GROUPS = ("CAB", "Security", "Emergency", "Change approvers")
SEED_USER = "admin"

# Neutral status -> (state, approval, on hold).
_STATUS: dict[str, tuple[str, str, bool]] = {
    "draft": ("-5", "not requested", False),
    "awaiting-info": ("-5", "not requested", True),
    "awaiting-approval": ("-3", "requested", False),
    "approved": ("-3", "approved", False),
    "scheduled": ("-2", "approved", False),
    "implementing": ("-1", "approved", False),
    "review": ("0", "approved", False),
    "closed": ("3", "approved", False),
    "rejected": ("-5", "rejected", False),
    "cancelled": ("4", "not requested", False),
}
_RISK = {"low": "4", "moderate": "3", "high": "2", "very-high": "1"}
_CAB = {"approve": "Approve", "reject": "Reject", "defer": "Defer", "more-info": "More information"}
_DECISION = {"pending": "requested", "approved": "approved", "rejected": "rejected"}
# A closed change's outcome -> (close_code, close_notes). The close codes have no "rolled back":
# a rolled-back change closes unsuccessful, and only its notes tell.
_CLOSE = {
    "successful": ("successful", "Implemented as planned."),
    "failed": ("unsuccessful", "Implementation failed."),
    "rolled-back": ("unsuccessful", "Rolled back."),
}


def user_id(login: str | None) -> str:
    return USERS_BY_LOGIN[login].sys_id if login else ""


def group_id(name: str) -> str:
    return sys_id_for(f"sys_user_group:{name}")


def template_id(name: str) -> str:
    return sys_id_for(f"std_change_producer_version:{name}")


def seed(store: Store, changes: list[SeedChange], now: datetime) -> None:
    for table, row in reference_rows(glide_time(now)):
        store.load(table, row)
    for change in changes:
        row = change_row(change)
        store.load("change_request", row)
        for k, approval in enumerate(change.approvals):
            store.load("sysapproval_approver", approver_row(change, row, k, approval))
            if approval.comment and approval.decided_at is not None:
                store.add_journal(
                    "sysapproval_approver",
                    approver_row_id(row, k),
                    "comments",
                    approval.comment,
                    approval.approver,
                    glide_time(approval.decided_at),
                )


def reference_rows(stamp: str) -> Iterator[tuple[str, Row]]:
    audit = {
        "sys_created_on": stamp,
        "sys_updated_on": stamp,
        "sys_created_by": SEED_USER,
        "sys_updated_by": SEED_USER,
    }
    for u in USERS:
        first, _, last = u.display_name.partition(" ")
        yield (
            "sys_user",
            {
                **audit,
                "sys_id": u.sys_id,
                "user_name": u.login,
                "name": u.display_name,
                "first_name": first,
                "last_name": last,
                "email": u.email,
                "time_zone": u.time_zone,
                "roles": ",".join(SERVICENOW_ROLES.get(u.login, ())),
            },
        )
    for name in GROUPS:
        yield (
            "sys_user_group",
            {
                **audit,
                "sys_id": group_id(name),
                "name": name,
                "description": f"{name} group",
                "email": f"{name.lower().replace(' ', '-')}@example.com",
            },
        )
    for ci in CONFIGURATION_ITEMS:
        yield (
            "cmdb_ci",
            {
                **audit,
                "sys_id": ci.sys_id,
                "name": ci.name,
                "sys_class_name": ci.ci_class,
                "u_departments": ",".join(ci.departments),
            },
        )
    for k, name in enumerate(STANDARD_TEMPLATES):
        # A template version's name is "<template> - <version>", and that is what a change's
        # std_change_producer_version displays; some templates have moved past version 1.
        version = str(k % 3 + 1)
        yield (
            "std_change_producer_version",
            {
                **audit,
                "sys_id": template_id(name),
                "name": f"{name} - {version}",
                "version": version,
            },
        )
    for row in meta.dictionary_rows(stamp):
        yield "sys_dictionary", row
    for row in meta.choice_rows(stamp):
        yield "sys_choice", row


def change_row(c: SeedChange) -> Row:
    number = change_number(c.index + 1)
    requester = USERS_BY_LOGIN[c.requester]
    row: Row = {
        "sys_id": sys_id_for(f"change_request:{number}"),
        "number": number,
        "task_effective_number": number,
        "short_description": c.title,
        "description": c.description,
        "type": c.change_type,
        "sys_created_on": glide_time(c.created),
        "opened_at": glide_time(c.created),
        "sys_created_by": requester.login,
        "sys_updated_on": glide_time(c.updated),
        "sys_updated_by": requester.login,
        "sys_mod_count": str(2 + len(c.approvals)),
        "requested_by": requester.sys_id,
        "opened_by": requester.sys_id,
        "assignment_group": group_id("CAB" if c.change_class == "major" else "Change approvers"),
    }
    row.update(_status_columns(c))
    row.update(_risk_columns(c))
    row.update(_plan_columns(c))
    row.update(_security_columns(c))
    row.update(_people_columns(c))
    return {k: v for k, v in row.items() if v != ""}


def _status_columns(c: SeedChange) -> Row:
    state, approval, on_hold = _STATUS[c.status]
    if c.planted is Planted.UNAUTHORIZED:
        approval = "not requested"  # implemented without ever asking: the planted exception
    decided = [a.decided_at for a in c.approvals if a.decided_at is not None]
    row: Row = {"state": state, "approval": approval}
    if on_hold:
        row.update(on_hold="true", on_hold_reason="Awaiting information", phase_state="on_hold")
    if approval == "approved" and decided:
        row["approval_set"] = glide_time(max(decided))
    if c.status in ("closed", "cancelled"):
        row.update(
            active="false",
            closed_at=glide_time(c.updated),
            closed_by=user_id(c.implementer or c.requester),
        )
    if c.status == "closed":
        code, notes = _CLOSE[c.outcome or "successful"]
        row.update(close_code=code, close_notes=notes)
    if c.cab_decision:
        row["cab_recommendation"] = _CAB[c.cab_decision]
    return row


def _risk_columns(c: SeedChange) -> Row:
    risk = _RISK[c.risk]
    # Major changes are high impact; minor ones medium when risky, else low.
    impact = "2" if c.risk in ("high", "very-high") else "3"
    impact = "1" if c.change_class == "major" else impact
    urgency = "1" if c.change_type == "emergency" else "2"
    # The instance's default priority lookup: impact + urgency - 1, capped at 5 (Planning).
    priority = str(min(5, int(impact) + int(urgency) - 1))
    return {
        "risk": risk,
        "impact": impact,
        "urgency": urgency,
        "priority": priority,
        "cab_required": "true" if c.change_class == "major" else "false",
        "production_system": "true" if c.customer_facing else "false",
    }


def _plan_columns(c: SeedChange) -> Row:
    ci_ids = [CI_BY_NAME[name].sys_id for name in c.affected_systems]
    return {
        "backout_plan": c.rollback_plan,
        "implementation_plan": c.implementation_plan,
        "test_plan": c.test_plan,
        "justification": c.justification,
        "risk_impact_analysis": c.operational_impact,
        "start_date": _when(c.planned_start),
        "end_date": _when(c.planned_end),
        "work_start": _when(c.actual_start),
        "work_end": _when(c.actual_end),
        "cab_date": (c.planned_start - timedelta(days=2)).strftime("%Y-%m-%d")
        if c.planned_start and c.change_class == "major"
        else "",
        "cmdb_ci": ci_ids[0] if ci_ids else "",
        "u_affected_systems": ",".join(ci_ids),
        "u_affected_departments": ",".join(c.departments),
        "u_expected_downtime": "" if c.downtime_minutes is None else str(c.downtime_minutes),
        "u_release": c.release,
        "std_change_producer_version": template_id(c.standard_template)
        if c.standard_template
        else "",
    }


def _security_columns(c: SeedChange) -> Row:
    return {
        "u_security_impact": c.security_level or "",
        "u_infosec_categories": ",".join(v.replace("-", "_") for v in c.infosec_categories),
        "u_security_notes": c.security_notes,
        "u_customer_facing": "true" if c.customer_facing else "false",
        "u_audiences": ",".join(v.replace("-", "_") for v in c.audiences),
    }


def _people_columns(c: SeedChange) -> Row:
    return {
        "assigned_to": user_id(c.assignee),
        "u_emergency_approver": user_id(c.emergency_approver),
    }


def approver_row_id(change: Row, k: int) -> str:
    return sys_id_for(f"sysapproval_approver:{change['number']}:{k}")


def approver_row(c: SeedChange, change: Row, k: int, a: SeedApproval) -> Row:
    asked = min(c.updated, c.created + timedelta(hours=1), a.decided_at or c.updated)
    decided = a.decided_at or asked
    return {
        "sys_id": approver_row_id(change, k),
        "sysapproval": change["sys_id"],
        "document_id": change["sys_id"],
        "approver": user_id(a.approver),
        "group": group_id(a.group),
        "state": _DECISION[a.decision],
        "order": str(k + 1),
        "sys_created_on": glide_time(asked),
        "sys_created_by": c.requester,
        "sys_updated_on": glide_time(decided),
        "sys_updated_by": a.approver if a.decided_at else c.requester,
        "sys_mod_count": "1" if a.decided_at else "0",
    }


def _when(moment: datetime | None) -> str:
    return glide_time(moment) if moment else ""
