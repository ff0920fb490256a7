"""The rules: one small pure function each, keyed by a stable id (config and reports use it).

A rule reads the change and the `Facts` (context + approval analysis) and returns findings whose
message tells the requester exactly what to add or change. Severities: `block` stops the change
from moving on (and counts as an exception in reports), `warn` is reported only; the policy may
override either per rule id. The rules on what a change states (required fields, InfoSec
categories, standard templates) are completeness.py's; `RULES` keys them with the others.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from connector.core.memo import per_object
from connector.core.model import CabDecision, Change, ChangeType, Status
from connector.core.policy.approvals import EMERGENCY
from connector.core.policy.calendar import fits_maintenance, freeze_overlap
from connector.core.policy.completeness import (
    infosec_categories,
    required_fields,
    standard_template,
)
from connector.core.policy.config import Freeze, MaintenanceWindow, PolicySettings
from connector.core.policy.facts import COVERED, Facts
from connector.core.policy.findings import Finding, Severity

Rule = Callable[[Change, Facts], list[Finding]]

TERMINAL = {Status.CLOSED, Status.REJECTED, Status.CANCELLED}
DROPPED = {Status.REJECTED, Status.CANCELLED}
IMPLEMENTED = {Status.IMPLEMENTING, Status.REVIEW, Status.CLOSED}


def separation_of_duties(change: Change, f: Facts) -> list[Finding]:
    return [
        Finding(
            rule="separation-of-duties",
            severity=Severity.BLOCK,
            message=(
                f"{approval.approver.name or approval.approver.id} approved a change they are "
                f"the {role} of: that approval does not count. Ask an approver who is neither "
                "the requester nor the implementer."
            ),
            subject=approval.approver.id,
        )
        for approval, role in f.approvals.self_approved
    ]


def approval_drift(change: Change, f: Facts) -> list[Finding]:
    if not f.drifted or f.basis is None:
        return []
    names = ", ".join(COVERED[name] for name in f.drifted)
    when = _fmt(f.basis.recorded_at, f)
    again = (
        "the board to decide again: its decision field already says approve, so record the new "
        f"decision with `change-connector cab decide {change.key} --decision approve`"
        if f.approvals.by_decision_field
        else "the approvers to approve the change again"
    )
    return [
        Finding(
            rule="approval-drift",
            severity=Severity.BLOCK,
            message=(
                f"Changed after approval ({when}): {names}. The approval no longer counts; ask "
                f"{again}."
            ),
            subject=",".join(f.drifted),
        )
    ]


@per_object
def _freezes(policy: PolicySettings) -> tuple[tuple[Freeze, ZoneInfo, frozenset[str]], ...]:
    return tuple(
        (frz, policy.zone(frz.time_zone), frozenset(frz.systems)) for frz in policy.freezes
    )


def freeze(change: Change, f: Facts) -> list[Finding]:
    start, end = change.planned_start, change.planned_end
    if start is None or end is None or change.status in DROPPED:
        return []
    emergency = change.change_type is ChangeType.EMERGENCY
    out = []
    for frz, zone, systems in _freezes(f.policy):
        if systems and systems.isdisjoint(change.affected_systems):
            continue
        hit = freeze_overlap(frz, zone, start=start, end=end)
        if hit is None:
            continue
        span = f"{_fmt(hit[0], f)} to {_fmt(hit[1], f)}"
        message = (
            f"The planned window falls in the freeze {frz.name!r} ({span}); allowed because "
            "this is an emergency change."
            if emergency
            else f"The planned window falls in the freeze {frz.name!r} ({span}): move it "
            "outside the freeze, or raise the change as an emergency with a named approver."
        )
        severity = Severity.WARN if emergency else Severity.BLOCK
        out.append(Finding(rule="freeze", severity=severity, message=message, subject=frz.name))
    return out


def schedule_conflict(change: Change, f: Facts) -> list[Finding]:
    start, end = change.planned_start, change.planned_end
    if start is None or end is None or change.status in TERMINAL:
        return []
    systems, key = change.affected_systems, change.key
    hits: dict[str, list[str]] = {}
    for w in f.ctx.windows:
        # The most selective tests first: the pipeline passes the windows on this change's
        # systems, few of them approved and overlapping.
        if w.approved and w.start < end and start < w.end and w.key != key and w.system in systems:
            hits.setdefault(w.key, []).append(w.system)
    return [
        Finding(
            rule="schedule-conflict",
            severity=Severity.WARN,
            message=(
                f"The planned window overlaps approved change {other} on "
                f"{', '.join(sorted(set(on)))}: move one of them or agree the order with its "
                "owner."
            ),
            subject=other,
        )
        for other, on in sorted(hits.items())
    ]


def maintenance_window(change: Change, f: Facts) -> list[Finding]:
    start, end = change.planned_start, change.planned_end
    if start is None or end is None or change.status in TERMINAL:
        return []
    out = []
    by_system = _maintenance(f.policy)
    if not by_system:
        return []
    for system in change.affected_systems:
        windows = by_system.get(system, ())
        if windows and not any(fits_maintenance(w, z, start=start, end=end) for w, z in windows):
            out.append(
                Finding(
                    rule="maintenance-window",
                    severity=Severity.WARN,
                    message=f"The planned window is outside every maintenance window of {system}.",
                    subject=system,
                )
            )
    return out


@per_object
def _maintenance(
    policy: PolicySettings,
) -> dict[str, tuple[tuple[MaintenanceWindow, ZoneInfo], ...]]:
    """The maintenance windows of each system that has any, with their zones."""
    out: dict[str, list[tuple[MaintenanceWindow, ZoneInfo]]] = {}
    for w in policy.maintenance_windows:
        for system in dict.fromkeys(w.systems):
            out.setdefault(system, []).append((w, policy.zone(w.time_zone)))
    return {system: tuple(windows) for system, windows in out.items()}


def notice_deadlines(change: Change, f: Facts) -> list[datetime]:
    """The notice deadlines that can still change the verdict: those of a live customer-facing
    change not yet approved (once approved, its approval time decides, not the clock)."""
    if (
        not change.customer_facing
        or change.planned_start is None
        or change.status in TERMINAL
        or f.approvals.approved_at is not None
    ):
        return []
    start = change.planned_start
    return [
        start - timedelta(days=f.policy.notice_days[a])
        for a in change.audiences
        if a in f.policy.notice_days
    ]


def notice_lead_time(change: Change, f: Facts) -> list[Finding]:
    if not change.customer_facing or change.planned_start is None or change.status in TERMINAL:
        return []
    told_by = f.approvals.approved_at or f.ctx.now  # notice goes out once the change is approved
    out = []
    for audience in change.audiences:
        days = f.policy.notice_days.get(audience)
        if days is None or told_by <= change.planned_start - timedelta(days=days):
            continue
        out.append(
            Finding(
                rule="notice-lead-time",
                severity=Severity.WARN,
                message=(
                    f"{audience.value} must be told {days:g} days before the change "
                    f"(by {_fmt(change.planned_start - timedelta(days=days), f)}); that date is "
                    "past. Move the planned start or agree a shorter notice."
                ),
                subject=audience.value,
            )
        )
    return out


def unauthorized(change: Change, f: Facts) -> list[Finding]:
    if change.status not in IMPLEMENTED:
        return []
    state = f.approvals
    late = (
        change.change_type is not ChangeType.EMERGENCY
        and state.approved_at is not None
        and change.actual_start is not None
        and state.approved_at > change.actual_start
    )
    if state.complete and not late:
        return []
    if late:
        why = "was approved only after its implementation started"
    else:
        what = ", ".join(state.missing) or "the approval it needs (it was rejected)"
        why = f"reached {change.status.value} without {what}"
    return [
        Finding(
            rule="unauthorized",
            severity=Severity.BLOCK,
            message=f"Unauthorized change: it {why}. Stop or roll back, and seek approval.",
            subject=change.status.value,
        )
    ]


def emergency_review_due(change: Change, f: Facts) -> datetime | None:
    """When the retroactive CAB review and the post-implementation review are due."""
    if change.change_type is not ChangeType.EMERGENCY or change.status not in IMPLEMENTED:
        return None
    done = change.actual_end or change.actual_start or change.planned_end
    if done is None:
        return None
    return done + timedelta(days=f.policy.approvals.emergency_review_days)


def emergency_review_open(change: Change, f: Facts) -> list[str]:
    """What an implemented emergency change still owes: the CAB review, the closing review."""
    open_items = []
    if EMERGENCY in f.approvals.needs and not _cab_reviewed(f):
        open_items.append("a retroactive CAB review")
    if change.status is not Status.CLOSED:
        open_items.append("a post-implementation review (close the change when it is done)")
    return open_items


def emergency_review(change: Change, f: Facts) -> list[Finding]:
    due = emergency_review_due(change, f)
    if due is None:
        return []
    open_items = emergency_review_open(change, f)
    if not open_items:
        return []
    todo = " and ".join(open_items)
    if f.ctx.now >= due:
        return [
            Finding(
                rule="emergency-review-overdue",
                severity=Severity.BLOCK,
                message=f"Emergency change: {todo} were due by {_fmt(due, f)} and are overdue.",
                subject="review",
            )
        ]
    return [
        Finding(
            rule="emergency-review-due",
            severity=Severity.WARN,
            message=f"Emergency change: {todo} are due by {_fmt(due, f)}.",
            subject="review",
        )
    ]


def _cab_reviewed(f: Facts) -> bool:
    groups = {g.casefold() for g in f.policy.approvals.cab_groups}
    return f.approvals.cab is CabDecision.APPROVE or any(
        a.group.casefold() in groups for a in f.approvals.counted
    )


def _fmt(moment: datetime, f: Facts) -> str:
    return moment.astimezone(f.policy.zone()).strftime("%Y-%m-%d %H:%M %Z")


RULES: dict[str, Rule] = {
    "required-fields": required_fields,
    "infosec-categories": infosec_categories,
    "standard-template": standard_template,
    "separation-of-duties": separation_of_duties,
    "approval-drift": approval_drift,
    "freeze": freeze,
    "schedule-conflict": schedule_conflict,
    "maintenance-window": maintenance_window,
    "notice-lead-time": notice_lead_time,
    "unauthorized": unauthorized,
    "emergency-review": emergency_review,
}
