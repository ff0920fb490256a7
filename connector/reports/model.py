"""The compliance report's view model: one row per change, and the period's summary.

Pure: built from evaluated changes (the policy's verdict over the stored change, with its board
decisions and approval bases) and a few facts read from the store (the change as approved, the
notes posted). Renderers (`render.py`, the HTML template) read only these values. Every answer a
row gives is "yes", "no" or "n.a." so spreadsheets and GRC tools can filter on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from connector.core.model import Change, ChangeType, Status
from connector.core.policy import Evaluation, Severity
from connector.core.policy.approvals import EMERGENCY, ApprovalState, same_person

YES, NO, NA = "yes", "no", "n.a."
IMPLEMENTED = {Status.IMPLEMENTING, Status.REVIEW, Status.CLOSED}


@dataclass(frozen=True)
class ApproverLine:
    name: str
    group: str
    decision: str
    decided_at: datetime | None

    def text(self) -> str:
        # ISO 8601 to the minute with its offset: every time says its zone.
        when = f" {self.decided_at.isoformat(timespec='minutes')}" if self.decided_at else ""
        group = f" ({self.group})" if self.group else ""
        return f"{self.name}{group} {self.decision}{when}"


class ReportRow(NamedTuple):
    """One change in the report. A named tuple: a report holds 100,000 of them, built straight
    from stored answers without a dict or a per-field setattr each."""

    source: str
    key: str
    title: str
    url: str
    change_type: str
    change_class: str
    risk: str
    status: str
    outcome: str
    requester: str
    implementer: str
    approvers: tuple[ApproverLine, ...]
    created: datetime
    # Emergency changes: the named emergency approver's approval (the board reviews later).
    approved_at: datetime | None
    implemented_at: datetime | None
    implemented_end: datetime | None
    board_reviewed_at: datetime | None  # emergency changes: the board's retroactive review
    approved_before_implemented: str
    separation_of_duties: str
    required_complete_at_approval: str
    affected_systems: tuple[str, ...]
    affected_services: tuple[str, ...]
    security_impact: str
    infosec_categories: tuple[str, ...]
    rollback_plan: str
    freeze_findings: tuple[str, ...]
    freeze_violation: bool  # planned inside a freeze without being an emergency
    conflicts_with: tuple[str, ...]
    emergency_review: str
    notice_met: str
    release_notes_posted: str
    open_findings: tuple[str, ...]
    finding_messages: tuple[str, ...]  # "rule: message" per open finding
    incidents: tuple[str, ...]  # linked incidents (link targets)
    hours_request_to_approval: float | None
    hours_approval_to_implementation: float | None
    hours_implementation_to_board_review: float | None
    hours_to_restore: float | None  # failed or rolled back, with an incident or rollback

    def flat(self) -> dict[str, Any]:
        """Every field, lists joined with "; " and times in ISO 8601 (CSV)."""
        out = self._asdict()
        out["approvers"] = "; ".join(a.text() for a in self.approvers)
        for name in ROW_LISTS:
            out[name] = "; ".join(out[name])
        for name in ROW_TIMES:
            value = out[name]
            out[name] = "" if value is None else value.isoformat()
        for name in OPTIONAL:
            if out[name] is None:
                out[name] = ""
        return out

    def as_json(self) -> dict[str, Any]:
        """Every field by name, approvers as objects (orjson writes times in ISO 8601)."""
        return self._asdict()


# Field names in order; a shallow read of them is what renderers need (no deep copies).
ROW_FIELDS: tuple[str, ...] = ReportRow._fields
ROW_LISTS = (
    "affected_systems",
    "affected_services",
    "infosec_categories",
    "freeze_findings",
    "conflicts_with",
    "open_findings",
    "finding_messages",
    "incidents",
)
ROW_TIMES = ("created", "approved_at", "implemented_at", "implemented_end", "board_reviewed_at")
OPTIONAL = (
    "hours_request_to_approval",
    "hours_approval_to_implementation",
    "hours_implementation_to_board_review",
    "hours_to_restore",
)


def row_for(
    change: Change,
    evaluation: Evaluation,
    *,
    approved_snapshot: Change | None,
    snapshot_evaluation: Evaluation | None,
    notes_posted: bool | None,
    notice: str | None = None,
) -> ReportRow:
    """`notice`: yes / no / pending from the notes actually posted (None: judge by the
    policy's notice finding)."""
    state = evaluation.approvals
    emergency_at, reviewed_at = _emergency_times(change, state)
    if change.change_type is ChangeType.EMERGENCY:
        approved_at = emergency_at if state.complete else None
    else:
        approved_at = state.approved_at if state.complete else None
    rules = sorted({f.rule for f in evaluation.findings})
    incidents = tuple(link.target for link in change.links if _incident(link.relation, link.target))
    return ReportRow(
        source=change.source.instance,
        key=change.key,
        title=change.title,
        url=change.url,
        change_type=change.change_type.value if change.change_type else "",
        change_class=change.effective_class,
        risk=change.risk.value if change.risk else "",
        status=change.status.value,
        outcome=change.outcome.value if change.outcome else "",
        requester=_name(change.requester),
        implementer=_name(change.implementer),
        approvers=_approvers(change, evaluation),
        created=change.created,
        approved_at=approved_at,
        implemented_at=change.actual_start,
        implemented_end=change.actual_end,
        board_reviewed_at=reviewed_at,
        approved_before_implemented=_before(change, evaluation, approved_at),
        separation_of_duties=NO if state.self_approved else (YES if state.counted else NA),
        required_complete_at_approval=_complete_at_approval(
            approved_snapshot, snapshot_evaluation, evaluation
        ),
        affected_systems=change.affected_systems,
        affected_services=change.affected_services,
        security_impact=change.security.level.value if change.security.level else "",
        infosec_categories=tuple(c.value for c in change.security.categories),
        rollback_plan=YES if change.rollback_plan.strip() else NO,
        freeze_findings=tuple(f.subject for f in evaluation.findings if f.rule == "freeze"),
        freeze_violation=any(
            f.rule == "freeze" and f.severity is Severity.BLOCK for f in evaluation.findings
        ),
        conflicts_with=tuple(
            f.subject for f in evaluation.findings if f.rule == "schedule-conflict"
        ),
        emergency_review=_emergency_review(change, evaluation),
        notice_met=notice if notice is not None else _notice(change, evaluation),
        release_notes_posted=NA if notes_posted is None else (YES if notes_posted else NO),
        open_findings=tuple(rules),
        finding_messages=tuple(f"{f.rule}: {f.message}" for f in evaluation.findings),
        incidents=incidents,
        hours_request_to_approval=_hours(change.created, approved_at),
        hours_approval_to_implementation=_hours(approved_at, change.actual_start),
        hours_implementation_to_board_review=_hours(change.actual_start, reviewed_at),
        hours_to_restore=_restore(change, incidents),
    )


def _emergency_times(
    change: Change, state: ApprovalState
) -> tuple[datetime | None, datetime | None]:
    """An emergency change's two approvals: the named emergency approver's (the earliest of
    theirs) and the board's retroactive review (the latest counted approval by anyone else)."""
    if change.change_type is not ChangeType.EMERGENCY:
        return None, None
    named: list[datetime] = []
    board: list[datetime] = []
    for a in state.counted:
        if a.decided_at is not None:
            mine = same_person(change.emergency_approver, a.approver)
            (named if mine else board).append(a.decided_at)
    return (min(named) if named else None), (max(board) if board else None)


_FAILED = frozenset({"failed", "rolled-back"})


def _incident(relation: str, target: str) -> bool:
    text = f"{relation} {target}".casefold()
    return "incident" in text or target.upper().startswith("INC")


def _restore(change: Change, incidents: tuple[str, ...]) -> float | None:
    """Hours from the start of a failed change to the end of its recovery (its recorded end),
    when a rollback or an incident is linked to it; None otherwise."""
    outcome = change.outcome.value if change.outcome else ""
    if outcome not in _FAILED or (outcome != "rolled-back" and not incidents):
        return None
    return _hours(change.actual_start, change.actual_end)


def _name(person: Any) -> str:
    return "" if person is None else (person.name or person.id)


def _approvers(change: Change, ev: Evaluation) -> tuple[ApproverLine, ...]:
    state = ev.approvals
    seen = [*state.counted, *(a for a, _ in state.self_approved)]
    if state.rejection is not None:
        seen.append(state.rejection)
    pending = [a for a in change.approvals if a.decision.value == "pending"]
    return tuple(
        ApproverLine(_name(a.approver), a.group, a.decision.value, a.decided_at)
        for a in [*seen, *pending]
    )


def _before(change: Change, ev: Evaluation, approved_at: datetime | None) -> str:
    """`approved_at`: the approval that let the change go ahead (for an emergency, its named
    approver's, not the board's review afterwards)."""
    if change.status not in IMPLEMENTED and change.actual_start is None:
        return NA
    if ev.has("unauthorized") or not ev.approvals.complete:
        return NO
    start = change.actual_start
    if approved_at is None or start is None:
        return YES if not ev.approvals.needs else NA  # pre-approved, or no start recorded
    return YES if approved_at <= start else NO


def _complete_at_approval(
    snapshot: Change | None, snapshot_ev: Evaluation | None, ev: Evaluation
) -> str:
    if snapshot is not None and snapshot_ev is not None:
        return NO if snapshot_ev.has("required-fields") else YES
    if not ev.approvals.complete:
        return NA
    return NO if ev.has("required-fields") else YES


def _emergency_review(change: Change, ev: Evaluation) -> str:
    if change.change_type is not ChangeType.EMERGENCY or change.status not in IMPLEMENTED:
        return NA
    if ev.has("emergency-review-overdue"):
        return "overdue"
    if ev.has("emergency-review-due"):
        return "pending"
    # No review finding: done once closed; without recorded times no deadline runs, so an open
    # change is still waiting for its reviews.
    if EMERGENCY not in ev.approvals.needs:
        return NA
    return "done" if change.status is Status.CLOSED else "pending"


def _notice(change: Change, ev: Evaluation) -> str:
    if not change.customer_facing:
        return NA
    return NO if ev.has("notice-lead-time") else YES


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return round((end - start).total_seconds() / 3600, 1)
