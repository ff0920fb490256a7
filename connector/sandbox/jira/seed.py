"""Scenario changes -> Jira issues: the neutral `SeedChange` rendered as a JSM change site does.

Most changes land in project CHG, every tenth past the planted ones in OPS; issue ids start
at 10001 in scenario order. Values use the catalog's option names (docs/raw-shapes.md), so
the default Jira mapping normalizes them back to the scenario's meaning.
"""

from __future__ import annotations

import gc
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.jira.store import Approval, Store
from connector.sandbox.scenario import Planted, SeedApproval, SeedChange

STATUS_NAMES = {
    "draft": "Draft",
    "awaiting-info": "Needs Information",
    "awaiting-approval": "Awaiting Approval",
    "approved": "Approved",
    "scheduled": "Scheduled",
    "implementing": "Implementing",
    "review": "Review",
    "closed": "Closed",
    "rejected": "Declined",
    "cancelled": "Canceled",
}
# The resolution each done status is entered with; a closed change's depends on its outcome.
RESOLUTIONS = {"Closed": "Done", "Declined": "Declined", "Canceled": "Won't Do"}
OUTCOME_RESOLUTIONS = {"successful": "Done", "failed": "Failed", "rolled-back": "Rolled back"}
_RISK = {"low": "Low", "moderate": "Medium", "high": "High", "very-high": "Critical"}
_SECURITY = {"none": "None", "low": "Low", "medium": "Medium", "high": "High"}
_INFOSEC = {
    "data-sharing": "Data sharing",
    "security-configuration": "Security configuration",
    "user-access": "User access",
    "system-usage": "System usage",
}
_AUDIENCES = {
    "all-users": "All users",
    "admins": "Admins",
    "account-owners": "Account owners",
    "security": "Security",
    "engineering": "Engineering",
}
_CAB = {"approve": "Approve", "reject": "Reject", "defer": "Defer", "more-info": "More information"}
_DECISIONS = {"approved": "approved", "rejected": "declined", "pending": "pending"}


def project_of(change: SeedChange) -> str:
    return (
        "OPS"
        if change.planted is None and change.index >= len(Planted) and change.index % 10 == 9
        else "CHG"
    )


def _impact(change: SeedChange) -> str:
    # Two option names per class, so mappings must map both (chosen by index, deterministic).
    if change.change_class == "major":
        return "Major" if change.index % 2 == 0 else "Significant"
    return "Minor" if change.index % 2 == 0 else "Moderate"


def _text(value: str) -> str | None:
    return value or None


def _resolution(change: SeedChange, status: str) -> str | None:
    if status == "Closed" and change.outcome:
        return OUTCOME_RESOLUTIONS[change.outcome]
    return RESOLUTIONS.get(status)


def fields_for(change: SeedChange, store: Store) -> dict[str, Any]:
    status = STATUS_NAMES[change.status]
    return {
        "summary": change.title,
        "description": _text(change.description),
        "issuetype": "Change",
        "status": status,
        "priority": "Medium",
        "reporter": change.requester,
        "creator": change.requester,
        "assignee": change.assignee,
        "labels": list(change.labels),
        "fixVersions": [change.release] if change.release else [],
        "resolution": _resolution(change, status),
        "resolutiondate": change.updated if status in RESOLUTIONS else None,
        "created": change.created,
        "updated": change.updated,
        "duedate": None,
        "environment": None,
        "customfield_10100": change.change_type.capitalize(),
        "customfield_10101": _RISK[change.risk],
        "customfield_10102": _impact(change),
        "customfield_10103": list(change.affected_systems),
        "customfield_10104": list(change.departments),
        "customfield_10105": _text(change.rollback_plan),
        "customfield_10106": _text(change.implementation_plan),
        "customfield_10107": _text(change.test_plan),
        "customfield_10108": _text(change.justification),
        "customfield_10109": _SECURITY.get(change.security_level or ""),
        "customfield_10110": [_INFOSEC[c] for c in change.infosec_categories],
        "customfield_10111": _text(change.security_notes),
        "customfield_10112": _text(change.operational_impact),
        "customfield_10113": None
        if change.downtime_minutes is None
        else float(change.downtime_minutes),
        "customfield_10114": "Yes" if change.customer_facing else "No",
        "customfield_10115": [_AUDIENCES[a] for a in change.audiences],
        "customfield_10116": change.planned_start,
        "customfield_10117": change.planned_end,
        "customfield_10118": change.actual_start,
        "customfield_10119": change.actual_end,
        "customfield_10120": change.implementer,
        "customfield_10121": change.emergency_approver,
        "customfield_10122": [
            _approval(a, change.created, n, store) for n, a in enumerate(change.approvals)
        ],
        "customfield_10123": _CAB.get(change.cab_decision or ""),
        "customfield_10124": _text(change.standard_template),
    }


# The approval's `name` is the approving group ("CAB", "Security", ...): the default mapping
# reads it as the group, the same group ServiceNow's sysapproval_approver rows name.
def _approval(a: SeedApproval, created: datetime, n: int, store: Store) -> Approval:
    store.next_approval_id += 1
    opened = created + timedelta(minutes=5 + n)
    if a.decided_at is not None:
        opened = min(opened, a.decided_at)
    return Approval(
        id=store.next_approval_id,
        name=a.group,
        approver=a.approver,
        decision=_DECISIONS[a.decision],
        created=opened,
        completed=a.decided_at if a.decision != "pending" else None,
    )


def seed(store: Store, changes: list[SeedChange]) -> None:
    # A bulk load allocates millions of containers and frees none: cyclic GC passes over
    # them are pure overhead (about half the time at 100,000 issues).
    enabled = gc.isenabled()
    gc.disable()
    try:
        for change in changes:
            store.add(project_of(change), fields_for(change, store))
    finally:
        if enabled:
            gc.enable()
