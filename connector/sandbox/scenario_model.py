"""What the sandbox's seeded world is made of: a seed change, its approvals, the named exceptions
planted among them, and the fixed people and instants of the scenario.

`scenario.generate` draws the tickets; the simulators (jira/, servicenow/) render these values into
their raw shapes, and the demo and tests name the planted exceptions and the freeze exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

# Seeded timestamps are laid out before this instant, so a given seed is reproducible.
DEFAULT_BASE_TIME = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

# The freeze the demo policy declares; planted change FREEZE_VIOLATION is scheduled inside it.
FREEZE_START = datetime(2026, 12, 18, 0, 0, tzinfo=UTC)
FREEZE_END = datetime(2027, 1, 4, 0, 0, tzinfo=UTC)

REQUESTERS = ("alice", "bob")
APPROVERS = ("carol", "dave")
SECURITY_APPROVER = "erin"
EMERGENCY_APPROVER = "frank"
IMPLEMENTERS = ("bob", "alice")


class Planted(StrEnum):
    """Exceptions planted at fixed positions, one each, for tests and reports to find."""

    SELF_APPROVAL = "self-approval"
    UNAUTHORIZED = "implemented-without-approval"
    FREEZE_VIOLATION = "freeze-violation"
    OVERDUE_EMERGENCY_REVIEW = "overdue-emergency-review"
    CONFLICT_A = "conflict-a"
    CONFLICT_B = "conflict-b"


@dataclass(frozen=True)
class SeedApproval:
    approver: str  # login
    group: str  # "CAB", "Security", "Emergency", "Change approvers"
    decision: str  # pending | approved | rejected
    decided_at: datetime | None
    comment: str = ""


@dataclass(frozen=True)
class SeedChange:
    index: int
    title: str
    description: str
    change_type: str  # standard | normal | emergency
    change_class: str  # minor | major
    risk: str  # low | moderate | high | very-high
    affected_systems: tuple[str, ...]
    departments: tuple[str, ...]
    rollback_plan: str
    implementation_plan: str
    test_plan: str
    justification: str
    security_level: str | None  # none | low | medium | high | None (not assessed)
    infosec_categories: tuple[str, ...]
    security_notes: str
    operational_impact: str
    downtime_minutes: int | None
    customer_facing: bool
    audiences: tuple[str, ...]
    planned_start: datetime | None
    planned_end: datetime | None
    actual_start: datetime | None
    actual_end: datetime | None
    requester: str
    assignee: str | None
    implementer: str | None
    emergency_approver: str | None
    standard_template: str
    approvals: tuple[SeedApproval, ...]
    cab_decision: str | None  # approve | reject | defer | more-info
    status: str  # a connector Status value
    outcome: str | None  # successful | failed | rolled-back for closed changes, else None
    release: str
    created: datetime
    updated: datetime
    planted: Planted | None = None
    labels: tuple[str, ...] = field(default=())
