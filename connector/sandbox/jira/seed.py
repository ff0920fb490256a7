"""Scenario changes -> Jira issues: the neutral `SeedChange` rendered as a JSM change site does.

Most changes land in project CHG, every tenth past the planted ones in OPS; issue ids start
at 10001 in scenario order. Values use JSM's and the catalog's option names
(docs/raw-shapes.md), keyed by the instance's field ids, so the default Jira mapping (which
names the fields) normalizes them back to the scenario's meaning. The site's other custom
fields (Rank, Sprint, story points...) get plausible values too.
"""

from __future__ import annotations

import gc
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.jira.fieldset import FieldSet
from connector.sandbox.jira.store import Approval, Store
from connector.sandbox.scenario_model import Planted, SeedApproval, SeedChange

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
    # JSM's Impact options, two per change class, so mappings must map both (by index).
    if change.change_class == "major":
        return "Extensive / Widespread" if change.index % 2 == 0 else "Significant / Large"
    return "Minor / Localized" if change.index % 2 == 0 else "Moderate / Limited"


def _text(value: str) -> str | None:
    return value or None


def _resolution(change: SeedChange, status: str) -> str | None:
    if status == "Closed" and change.outcome:
        return OUTCOME_RESOLUTIONS[change.outcome]
    return RESOLUTIONS.get(status)


def fields_for(change: SeedChange, store: Store, fs: FieldSet, *, cloud: bool) -> dict[str, Any]:
    status = STATUS_NAMES[change.status]
    custom = {
        "Change type": change.change_type.capitalize(),
        "Change risk": _RISK[change.risk],
        "Change reason": _REASONS[change.index % len(_REASONS)],
        "Impact": _impact(change),
        "Urgency": _URGENCY[change.risk],
        "Change start date": change.planned_start,
        "Change completion date": change.planned_end,
        "Affected services": None,
        "Approvals": [
            _approval(a, change.created, n, store) for n, a in enumerate(change.approvals)
        ],
        "Approvers": None,
        "Pending reason": "More info required" if status == "Needs Information" else None,
        "Request Type": None,
        "Affected systems": list(change.affected_systems),
        "Affected departments": list(change.departments),
        "Rollback plan": _text(change.rollback_plan),
        "Implementation plan": _text(change.implementation_plan),
        "Test plan": _text(change.test_plan),
        "Justification": _text(change.justification),
        "Security impact": _SECURITY.get(change.security_level or ""),
        "InfoSec categories": [_INFOSEC[c] for c in change.infosec_categories],
        "Security notes": _text(change.security_notes),
        "Operational impact": _text(change.operational_impact),
        "Expected downtime (minutes)": None
        if change.downtime_minutes is None
        else float(change.downtime_minutes),
        "Customer facing": "Yes" if change.customer_facing else "No",
        "Audiences": [_AUDIENCES[a] for a in change.audiences],
        "Actual start": change.actual_start,
        "Actual end": change.actual_end,
        "Implementer": change.implementer,
        "Emergency approver": change.emergency_approver,
        "CAB decision": _CAB.get(change.cab_decision or ""),
        "Standard change template": _text(change.standard_template),
        **site_fields(change, cloud=cloud),
    }
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
        **{fs.id_of(name): value for name, value in custom.items()},
    }


def site_fields(change: SeedChange, *, cloud: bool) -> dict[str, Any]:
    """Plausible values for the site's non-change fields: a mapping that reads one of these
    ids by mistake reads a rank, a sprint or story points, not nothing."""
    n = change.index
    sprint = _SPRINTS[n % len(_SPRINTS)] if n % 3 else None
    out: dict[str, Any] = {
        "Rank": f"0|i{n:05x}:",
        "Sprint": None if sprint is None else [dict(sprint)],
        "Start date": (change.planned_start - timedelta(days=1)).date().isoformat()
        if change.planned_start is not None and n % 2
        else None,
        "Team": _TEAMS[n % len(_TEAMS)] if cloud else {"id": 1 + n % 3, "title": "Platform"},
        "Story Points": float(_POINTS[n % len(_POINTS)]) if n % 4 else None,
        "Flagged": ["Impediment"] if n % 17 == 5 else [],
    }
    if cloud:
        out["Story point estimate"] = float(_POINTS[(n + 2) % len(_POINTS)])
    else:
        out["Epic Link"] = f"CHG-{1 + n % 7}" if n % 5 == 0 and n > 10 else None
    return out


_REASONS = ("Repair", "Upgrade", "Maintenance", "New functionality", "Other")
_URGENCY = {"low": "Low", "moderate": "Medium", "high": "High", "very-high": "Critical"}
_POINTS = (1, 2, 3, 5, 8, 13)
_SPRINTS = tuple(
    {
        "id": 30 + i,
        "name": f"OPS Sprint {30 + i}",
        "state": state,
        "boardId": 4,
        "goal": "",
        "startDate": f"2026-11-{2 + 14 * i:02d}T09:00:00.000Z",
        "endDate": f"2026-11-{16 + 14 * i:02d}T09:00:00.000Z"
        if i < 1
        else "2026-12-14T09:00:00.000Z",
    }
    for i, state in enumerate(("closed", "active"))
)
_TEAMS = tuple(
    {
        "id": f"{i}b9f2c1e-7d4a-4f0e-9c3b-5a6d7e8f90{i:02d}",
        "name": name,
        "avatarUrl": "",
        "isVisible": True,
        "isVerified": False,
        "title": name,
        "isShared": True,
    }
    for i, name in enumerate(("Platform", "Payments", "Site Reliability"))
)


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


def seed(store: Store, changes: list[SeedChange], fs: FieldSet, *, cloud: bool) -> None:
    # A bulk load allocates millions of containers and frees none: cyclic GC passes over
    # them are pure overhead (about half the time at 100,000 issues).
    enabled = gc.isenabled()
    gc.disable()
    try:
        for change in changes:
            store.add(project_of(change), fields_for(change, store, fs, cloud=cloud))
    finally:
        if enabled:
            gc.enable()
