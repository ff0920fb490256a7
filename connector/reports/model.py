"""The compliance report's view model: one row per change, and the period's summary.

Pure: built from evaluated changes (the policy's verdict over the stored change, with its board
decisions and approval bases) and a few facts read from the store (the change as approved, the
notes posted). Renderers (`render.py`, the HTML template) read only these values. Every answer a
row gives is "yes", "no" or "n.a." so spreadsheets and GRC tools can filter on it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, NamedTuple

from connector.model import Change, ChangeType, Status
from connector.policy import Evaluation, Severity
from connector.policy.approvals import EMERGENCY

YES, NO, NA = "yes", "no", "n.a."
IMPLEMENTED = {Status.IMPLEMENTING, Status.REVIEW, Status.CLOSED}


@dataclass(frozen=True)
class ApproverLine:
    name: str
    group: str
    decision: str
    decided_at: datetime | None

    def text(self) -> str:
        # str() of a datetime is its ISO form with a space: "YYYY-MM-DD HH:MM" is its head.
        when = f" {str(self.decided_at)[:16]}" if self.decided_at else ""
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
    approved_at: datetime | None
    implemented_at: datetime | None
    approved_before_implemented: str
    separation_of_duties: str
    required_complete_at_approval: str
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
    hours_request_to_approval: float | None
    hours_approval_to_implementation: float | None

    def flat(self) -> dict[str, Any]:
        """Every field, lists joined with "; " and times in ISO 8601 (CSV)."""
        out = self._asdict()
        out["approvers"] = "; ".join(a.text() for a in self.approvers)
        for name in ROW_LISTS:
            out[name] = "; ".join(out[name])
        for name in ROW_TIMES:
            value = out[name]
            out[name] = "" if value is None else value.isoformat()
        for name in _OPTIONAL:
            if out[name] is None:
                out[name] = ""
        return out

    def as_json(self) -> dict[str, Any]:
        """Every field by name, approvers as objects (orjson writes times in ISO 8601)."""
        return self._asdict()


# Field names in order; a shallow read of them is what renderers need (no deep copies).
ROW_FIELDS: tuple[str, ...] = ReportRow._fields
ROW_LISTS = ("infosec_categories", "freeze_findings", "conflicts_with", "open_findings")
ROW_TIMES = ("created", "approved_at", "implemented_at")
_OPTIONAL = ("hours_request_to_approval", "hours_approval_to_implementation")


@dataclass(frozen=True)
class Summary:
    since: datetime
    until: datetime
    generated_at: datetime
    total: int
    by_source: dict[str, int]
    by_type: dict[str, int]
    by_status: dict[str, int]
    exceptions: dict[str, list[str]]  # kind -> "source:key"
    median_hours_request_to_approval: float | None
    median_hours_approval_to_implementation: float | None
    outcomes: dict[str, int]  # closed changes: successful, failed, rolled-back, not recorded
    weekly: dict[str, dict[str, int]] = field(default_factory=dict)  # week -> type -> count


EXCEPTIONS = (
    "unauthorized",
    "self-approved",
    "missing rollback plan",
    "freeze violation",
    "overdue emergency review",
    "late notice",
)
APPROVED_OR_LATER = {"approved", "scheduled", "implementing", "review", "closed"}


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
    approved_at = state.approved_at if state.complete else None
    rules = sorted({f.rule for f in evaluation.findings})
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
        approved_before_implemented=_before(change, evaluation),
        separation_of_duties=NO if state.self_approved else (YES if state.counted else NA),
        required_complete_at_approval=_complete_at_approval(
            approved_snapshot, snapshot_evaluation, evaluation
        ),
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
        hours_request_to_approval=_hours(change.created, approved_at),
        hours_approval_to_implementation=_hours(approved_at, change.actual_start),
    )


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


def _before(change: Change, ev: Evaluation) -> str:
    if change.status not in IMPLEMENTED and change.actual_start is None:
        return NA
    if ev.has("unauthorized") or not ev.approvals.complete:
        return NO
    at, start = ev.approvals.approved_at, change.actual_start
    if at is None or start is None:
        return YES if not ev.approvals.needs else NA  # pre-approved, or no start recorded
    # An emergency goes ahead on its approver's word: the policy reviews it afterwards, and
    # the report agrees with the policy.
    emergency = change.change_type is ChangeType.EMERGENCY
    return YES if at <= start or emergency else NO


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


def summarize(
    rows: Sequence[ReportRow], *, since: datetime, until: datetime, generated_at: datetime
) -> Summary:
    """Counts, exceptions, medians and the weekly series, in one pass over the rows."""
    exceptions: dict[str, list[str]] = {kind: [] for kind in EXCEPTIONS}
    by_source: dict[str, int] = {}
    by_type: dict[str, int] = {}
    by_status: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    weekly: dict[tuple[int, str], int] = {}  # (ordinal of the week's Monday, type) -> count
    closed = Status.CLOSED.value
    for r in rows:
        if (
            r.approved_before_implemented == NO
            or r.separation_of_duties == NO
            or r.rollback_plan == NO
            or r.freeze_violation
            or r.emergency_review == "overdue"
            or r.notice_met == NO
        ):
            ref = f"{r.source}:{r.key}"
            for kind in _exceptions(r):
                exceptions[kind].append(ref)
        kind = r.change_type or "unknown"
        by_source[r.source] = by_source.get(r.source, 0) + 1
        by_type[kind] = by_type.get(kind, 0) + 1
        by_status[r.status] = by_status.get(r.status, 0) + 1
        if r.status == closed:
            outcome = r.outcome or "not recorded"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        day = r.created.toordinal()
        week = (day - (day + 6) % 7, kind)
        weekly[week] = weekly.get(week, 0) + 1
    weeks: dict[str, dict[str, int]] = {}
    for (monday, kind), n in sorted(weekly.items()):
        weeks.setdefault(date.fromordinal(monday).isoformat(), {})[kind] = n
    return Summary(
        since=since,
        until=until,
        generated_at=generated_at,
        total=len(rows),
        by_source=by_source,
        by_type=by_type,
        by_status=by_status,
        exceptions=exceptions,
        median_hours_request_to_approval=_median([r.hours_request_to_approval for r in rows]),
        median_hours_approval_to_implementation=_median(
            [r.hours_approval_to_implementation for r in rows]
        ),
        outcomes=outcomes,
        weekly=weeks,
    )


def _exceptions(r: ReportRow) -> list[str]:
    """The exception kinds (of `EXCEPTIONS`) one row shows."""
    out = []
    if r.approved_before_implemented == NO:
        out.append("unauthorized")
    if r.separation_of_duties == NO:
        out.append("self-approved")
    if r.rollback_plan == NO and r.status in APPROVED_OR_LATER:
        out.append("missing rollback plan")
    if r.freeze_violation:
        out.append("freeze violation")
    if r.emergency_review == "overdue":
        out.append("overdue emergency review")
    if r.notice_met == NO:
        out.append("late notice")
    return out


def day_span(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime] | None:
    """A report period: [first 00:00, the day after last 00:00) in `zone`, in UTC; None when
    the last day comes before the first."""
    start = datetime.combine(first, time(0, 0), zone)
    end = datetime.combine(last, time(0, 0), zone) + timedelta(days=1)
    return None if end <= start else (start.astimezone(UTC), end.astimezone(UTC))


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None
