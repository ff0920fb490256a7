"""The period's summary: counts, exceptions, median lead times and the weekly series, with
the report's context (`context.py`) and delivery metrics (`metrics.py`) attached by the builder.

Pure. A period is [first day 00:00, the day after the last 00:00) in the configured time zone;
the summary keeps it as two instants and gives back its days as given.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from connector.core.model import Status
from connector.core.policy.config import zone_info
from connector.reports.context import ReportContext
from connector.reports.deployments import DeploymentLine
from connector.reports.metrics import Metrics
from connector.reports.model import NO, ReportRow


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
    time_zone: str = "UTC"  # the period's days and every time shown are in this zone
    context: ReportContext | None = None
    metrics: Metrics | None = None
    # every deployment heard of in the period (the store's evidence), oldest first
    deployments: tuple[DeploymentLine, ...] = ()

    @property
    def first_day(self) -> date:
        """The period's first day, as given (in the report's time zone)."""
        return self.since.astimezone(zone_info(self.time_zone)).date()

    @property
    def last_day(self) -> date:
        """The period's last day, as given: the period ends at the next day's 00:00."""
        end = self.until.astimezone(zone_info(self.time_zone))
        return (end - timedelta(days=1)).date() if end.time() == time(0) else end.date()


EXCEPTIONS = (
    "unauthorized",
    "self-approved",
    "missing rollback plan",
    "freeze violation",
    "overdue emergency review",
    "late notice",
)
APPROVED_OR_LATER = {"approved", "scheduled", "implementing", "review", "closed"}


def summarize(
    rows: Sequence[ReportRow],
    *,
    since: datetime,
    until: datetime,
    generated_at: datetime,
    time_zone: str = "UTC",
) -> Summary:
    """Counts, exceptions, medians and the weekly series, in one pass over the rows."""
    exceptions: dict[str, list[str]] = {kind: [] for kind in EXCEPTIONS}
    by_source: dict[str, int] = {}
    by_type: dict[str, int] = {}
    by_status: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    weekly: dict[tuple[int, str], int] = {}  # (ordinal of the week's Monday, type) -> count
    closed = Status.CLOSED.value
    # Weeks start on Monday in the report's zone (its offset at the start of the period).
    offset = since.astimezone(zone_info(time_zone)).utcoffset() or timedelta(0)
    for r in rows:
        if may_raise(r):
            ref = f"{r.source}:{r.key}"
            for kind in exception_kinds(r):
                exceptions[kind].append(ref)
        kind = r.change_type or "unknown"
        by_source[r.source] = by_source.get(r.source, 0) + 1
        by_type[kind] = by_type.get(kind, 0) + 1
        by_status[r.status] = by_status.get(r.status, 0) + 1
        if r.status == closed:
            outcome = r.outcome or "not recorded"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        day = (r.created + offset).toordinal()
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
        time_zone=time_zone,
    )


def exception_kinds(r: ReportRow) -> list[str]:
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


# The policy's finding behind each exception kind; the report's own words when there is none
# (e.g. an emergency approved only after it started, which the policy reviews afterwards).
_EXCEPTION_RULES = {
    "unauthorized": "unauthorized",
    "self-approved": "separation-of-duties",
    "missing rollback plan": "required-fields",
    "freeze violation": "freeze",
    "overdue emergency review": "emergency-review-overdue",
    "late notice": "notice-lead-time",
}
EXCEPTION_TEXT = {
    "unauthorized": "It was implemented without the approval it needed before it started.",
    "self-approved": "Its requester or implementer approved it (separation of duties).",
    "missing rollback plan": "It states no rollback plan.",
    "freeze violation": "It is planned inside a freeze without being an emergency.",
    "overdue emergency review": "Its emergency reviews are overdue.",
    "late notice": "Customers were not told with the notice the policy asks for.",
}


def exception_messages(r: ReportRow) -> list[tuple[str, str]]:
    """(kind, message) per exception the row shows: the messages of the policy's findings
    behind it, else the report's own words."""
    out: list[tuple[str, str]] = []
    for kind in exception_kinds(r):
        rule = _EXCEPTION_RULES[kind]
        found = [m[len(rule) + 2 :] for m in r.finding_messages if m.startswith(rule + ": ")]
        if not found and kind == "unauthorized" and r.approved_at and r.implemented_at:
            found = [
                f"Approved {r.approved_at.isoformat(timespec='minutes')}, after its "
                f"implementation started {r.implemented_at.isoformat(timespec='minutes')}."
            ]
        out += [(kind, message) for message in found or [EXCEPTION_TEXT[kind]]]
    return out


def may_raise(r: ReportRow) -> bool:
    """A cheap test before `exception_kinds` (most rows raise nothing)."""
    return (
        r.approved_before_implemented == NO
        or r.separation_of_duties == NO
        or r.rollback_plan == NO
        or r.freeze_violation
        or r.emergency_review == "overdue"
        or r.notice_met == NO
    )
