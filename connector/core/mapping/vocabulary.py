"""The words `mappings init` recognizes on a site: field names, option values, statuses.

Each table is an explicit vocabulary, not a guess: an option or status whose words are not here
(and do not spell a connector value) is written as a `# TODO` line for the admin to place.
Words are compared after `normal()`: case-folded, a leading "1 - " dropped (ServiceNow choice
labels), punctuation as spaces ("Extensive / Widespread" -> "extensive widespread").
"""

from __future__ import annotations

import re

from connector.core.model import Status

_NUMBERED = re.compile(r"^\s*\d+\s*-\s*")
_PUNCT = re.compile(r"[^0-9a-z']+")


def normal(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", _NUMBERED.sub("", text).casefold()).split())


# Change attribute -> field ids (system fields, ServiceNow columns) and display names to look
# for, in order of preference. JSM's change fields and the sandbox's names are both listed.
JIRA_FIELDS: dict[str, tuple[str, ...]] = {
    "title": ("summary",),
    "description": ("description",),
    "change_type": ("Change type",),
    "risk": ("Change risk", "Risk"),
    "change_class": ("Impact", "Change impact"),
    "affected_systems": ("Affected systems",),
    "affected_services": ("components",),
    "departments": ("Affected departments", "Departments"),
    "rollback_plan": ("Rollback plan", "Backout plan"),
    "implementation_plan": ("Implementation plan",),
    "test_plan": ("Test plan",),
    "justification": ("Justification",),
    "operational_impact": ("Operational impact",),
    "expected_downtime_minutes": ("Expected downtime (minutes)", "Expected downtime"),
    "security.level": ("Security impact",),
    "security.categories": ("InfoSec categories",),
    "security.notes": ("Security notes",),
    "customer_facing": ("Customer facing",),
    "audiences": ("Audiences",),
    "release": ("fixVersions",),
    "labels": ("labels",),
    "links": ("issuelinks",),
    "planned_start": ("Planned start", "Change start date"),
    "planned_end": ("Planned end", "Change completion date"),
    "actual_start": ("Actual start",),
    "actual_end": ("Actual end",),
    "created": ("created",),
    "updated": ("updated",),
    "requester": ("reporter",),
    "assignee": ("assignee",),
    "implementer": ("Implementer",),
    "emergency_approver": ("Emergency approver",),
    "approvals": ("Approvals",),
    "cab_decision": ("CAB decision",),
    "standard_template": ("Standard change template",),
    "outcome": ("resolution",),
}

# Fields whose type alone says what they are, used when no name matches and the site has one.
JIRA_KINDS: dict[str, tuple[str, ...]] = {"approvals": ("array:sd-approvals", "sd-approvals")}

SERVICENOW_FIELDS: dict[str, tuple[str, ...]] = {
    "title": ("short_description",),
    "description": ("description",),
    "change_type": ("type",),
    "risk": ("risk",),
    "change_class": ("impact",),
    "affected_systems": ("u_affected_systems", "Affected systems"),
    "affected_services": ("cmdb_ci",),
    "departments": ("u_affected_departments", "Affected departments"),
    "rollback_plan": ("backout_plan",),
    "implementation_plan": ("implementation_plan",),
    "test_plan": ("test_plan",),
    "justification": ("justification",),
    "operational_impact": ("risk_impact_analysis",),
    "expected_downtime_minutes": ("u_expected_downtime", "Expected downtime"),
    "security.level": ("u_security_impact", "Security impact"),
    "security.categories": ("u_infosec_categories", "InfoSec categories"),
    "security.notes": ("u_security_notes", "Security notes"),
    "customer_facing": ("u_customer_facing", "Customer facing"),
    "audiences": ("u_audiences", "Audiences"),
    "release": ("u_release", "Release"),
    "planned_start": ("start_date",),
    "planned_end": ("end_date",),
    "actual_start": ("work_start",),
    "actual_end": ("work_end",),
    "created": ("sys_created_on",),
    "updated": ("sys_updated_on",),
    "requester": ("requested_by",),
    "assignee": ("assigned_to",),
    "implementer": ("assigned_to",),
    "emergency_approver": ("u_emergency_approver", "Emergency approver"),
    "cab_decision": ("cab_recommendation",),
    "standard_template": ("std_change_producer_version",),
    "outcome": ("close_code",),
}

# ServiceNow columns read when the first one is empty (`source = [first, then]`).
SERVICENOW_FALLBACKS: dict[str, tuple[str, ...]] = {"requester": ("opened_by",)}

# Change attribute -> option words -> connector value. Words that spell a connector value
# ("data sharing" -> "data-sharing") need no entry.
_DECLINED = {"won't do": "", "declined": "", "rejected": "", "cancelled": "", "canceled": ""}
VALUES: dict[str, dict[str, str | bool]] = {
    "risk": {"medium": "moderate", "critical": "very-high", "very high": "very-high"},
    "change_class": {
        "extensive widespread": "major",
        "significant large": "major",
        "moderate limited": "minor",
        "minor localized": "minor",
        "significant": "major",
        "moderate": "minor",
        "high": "major",
        "medium": "minor",
        "low": "minor",
    },
    "cab_decision": {
        "approved": "approve",
        "rejected": "reject",
        "deferred": "defer",
        "more information": "more-info",
        "more info": "more-info",
    },
    "outcome": {
        "done": "successful",
        "successful": "successful",
        "successful issues": "successful",
        "unsuccessful": "failed",
        "rolled back": "rolled-back",
        **_DECLINED,
    },
    "customer_facing": {"yes": True, "no": False, "true": True, "false": False},
}

# Status words -> connector status, checked against the status category where there is one.
STATUSES: dict[str, Status] = {
    "draft": Status.DRAFT,
    "new": Status.DRAFT,
    "open": Status.DRAFT,
    "planning": Status.DRAFT,
    "needs information": Status.AWAITING_INFO,
    "needs info": Status.AWAITING_INFO,
    "waiting for customer": Status.AWAITING_INFO,
    "awaiting approval": Status.AWAITING_APPROVAL,
    "waiting for approval": Status.AWAITING_APPROVAL,
    "awaiting cab approval": Status.AWAITING_APPROVAL,
    "assess": Status.AWAITING_APPROVAL,
    "authorize": Status.AWAITING_APPROVAL,
    "approved": Status.APPROVED,
    "scheduled": Status.SCHEDULED,
    "awaiting implementation": Status.SCHEDULED,
    "implementing": Status.IMPLEMENTING,
    "implement": Status.IMPLEMENTING,
    "in progress": Status.IMPLEMENTING,
    "review": Status.REVIEW,
    "in review": Status.REVIEW,
    "post implementation review": Status.REVIEW,
    "closed": Status.CLOSED,
    "done": Status.CLOSED,
    "completed": Status.CLOSED,
    "resolved": Status.CLOSED,
    "declined": Status.REJECTED,
    "rejected": Status.REJECTED,
    "canceled": Status.CANCELLED,
    "cancelled": Status.CANCELLED,
}
DONE_STATUSES = frozenset({Status.CLOSED, Status.REJECTED, Status.CANCELLED})

# The connector status each worker action moves a ticket to.
ACTION_TO: dict[str, Status] = {
    "needs_info": Status.AWAITING_INFO,
    "resubmit": Status.AWAITING_APPROVAL,
    "approved": Status.APPROVED,
    "scheduled": Status.SCHEDULED,
    "rejected": Status.REJECTED,
    "cancelled": Status.CANCELLED,
    "drift": Status.AWAITING_APPROVAL,
}
# Actions a site's workflow may not offer at all: a mapping leaves them out (nothing moves).
OPTIONAL_MOVES = frozenset({"resubmit", "drift"})
# Resolutions a transition into a done status may need, per action, in order of preference.
RESOLUTIONS: dict[str, tuple[str, ...]] = {
    "rejected": ("declined", "rejected", "won't do"),
    "cancelled": ("won't do", "cancelled", "canceled", "declined"),
}
