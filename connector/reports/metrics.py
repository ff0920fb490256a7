"""Delivery metrics per service, per system and per source, by week: how often change goes out,
how fast, how often it fails and how fast it recovers (DORA's four keys), the emergency share
and a change success score.

Pure. A change counts in the week (Monday, in the report's time zone) its implementation
started, under each service and system it names ("(none)" when it names none):

- implemented: changes whose implementation started that week;
- median hours request -> approval and approval -> implementation (of those with both times;
  for an emergency the named approver's approval);
- change failure rate: failed or rolled back / implemented;
- median hours to restore: from the start of a failed or rolled-back change to its recorded end,
  where a rollback or an incident is linked to it;
- emergency share: emergency changes / implemented;
- success score: the mean of the points of each recorded outcome (`ScoreWeights`; by default
  ServiceNow's: +3 successful, -5 unsuccessful; a rollback counts as unsuccessful), None when no
  outcome is recorded.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from connector.reports.model import ReportRow

NONE = "(none)"
TOTAL = "all weeks"
DEFAULT_WEIGHTS: dict[str, float] = {"successful": 3.0, "rolled-back": -5.0, "failed": -5.0}
_FAILED = frozenset({"failed", "rolled-back"})


@dataclass(frozen=True)
class Cell:
    implemented: int
    failed: int
    emergency: int
    median_hours_request_to_approval: float | None
    median_hours_approval_to_implementation: float | None
    change_failure_rate: float | None
    median_hours_to_restore: float | None
    emergency_share: float | None
    success_score: float | None


@dataclass(frozen=True)
class Metrics:
    weights: dict[str, float]  # outcome -> points of the success score
    by_service: dict[str, dict[str, Cell]]  # service -> week (Monday) or TOTAL -> cell
    by_system: dict[str, dict[str, Cell]]
    by_source: dict[str, dict[str, Cell]]


class _Acc:
    """What one (group, week) gathers before its cell is computed."""

    __slots__ = ("emergency", "failed", "impl", "n", "points", "req", "restore", "scored")

    def __init__(self) -> None:
        self.n = self.failed = self.emergency = self.scored = 0
        self.points = 0.0
        self.req: list[float] = []
        self.impl: list[float] = []
        self.restore: list[float] = []

    def add(self, r: ReportRow, weights: Mapping[str, float]) -> None:
        self.n += 1
        if r.outcome in _FAILED:
            self.failed += 1
        if r.change_class == "emergency":
            self.emergency += 1
        if r.outcome in weights:
            self.scored += 1
            self.points += weights[r.outcome]
        if r.hours_request_to_approval is not None:
            self.req.append(r.hours_request_to_approval)
        if r.hours_approval_to_implementation is not None:
            self.impl.append(r.hours_approval_to_implementation)
        if r.hours_to_restore is not None:
            self.restore.append(r.hours_to_restore)

    def merge(self, other: _Acc) -> None:
        self.n += other.n
        self.failed += other.failed
        self.emergency += other.emergency
        self.scored += other.scored
        self.points += other.points
        self.req += other.req
        self.impl += other.impl
        self.restore += other.restore

    def cell(self) -> Cell:
        n = self.n
        return Cell(
            implemented=n,
            failed=self.failed,
            emergency=self.emergency,
            median_hours_request_to_approval=_median(self.req),
            median_hours_approval_to_implementation=_median(self.impl),
            change_failure_rate=round(self.failed / n, 3) if n else None,
            median_hours_to_restore=_median(self.restore),
            emergency_share=round(self.emergency / n, 3) if n else None,
            success_score=round(self.points / self.scored, 2) if self.scored else None,
        )


def delivery_metrics(
    rows: Sequence[ReportRow],
    *,
    utc_offset: timedelta = timedelta(0),
    weights: Mapping[str, float] | None = None,
) -> Metrics:
    """`utc_offset`: the report zone's offset, so weeks start on its Mondays."""
    points = dict(DEFAULT_WEIGHTS if weights is None else weights)
    groups: dict[str, dict[tuple[str, str], _Acc]] = {"service": {}, "system": {}, "source": {}}
    for r in rows:
        start = r.implemented_at
        if start is None:
            continue
        day = (start + utc_offset).toordinal()
        week = date.fromordinal(day - (day + 6) % 7).isoformat()
        names = {
            "service": r.affected_services or (NONE,),
            "system": r.affected_systems or (NONE,),
            "source": (r.source,),
        }
        for kind, keys in names.items():
            table = groups[kind]
            for name in dict.fromkeys(keys):
                acc = table.get((name, week))
                if acc is None:
                    acc = table[(name, week)] = _Acc()
                acc.add(r, points)
    out = {kind: _cells(table) for kind, table in groups.items()}
    return Metrics(
        weights=points,
        by_service=out["service"],
        by_system=out["system"],
        by_source=out["source"],
    )


def _cells(table: dict[tuple[str, str], _Acc]) -> dict[str, dict[str, Cell]]:
    """Each name's weeks, then its total over them (the weeks' accumulations merged)."""
    totals: dict[str, _Acc] = {}
    for (name, _), acc in table.items():
        totals.setdefault(name, _Acc()).merge(acc)
    table = {**table, **{(name, TOTAL): acc for name, acc in totals.items()}}
    out: dict[str, dict[str, Cell]] = {}
    for name, week in sorted(table, key=lambda s: (s[0], s[1] == TOTAL, s[1])):
        out.setdefault(name, {})[week] = table[(name, week)].cell()
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None
