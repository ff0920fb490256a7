"""Build the compliance report from the store (never from the ticket systems).

For every configured source, the stored changes active in the period (created before its end,
updated after its start) are evaluated again with the configured policy over what the store holds
(board decisions, approval bases, the window index), as `policy backtest` does; the change as its
approvers saw it comes from the approval basis snapshot. The result is the view model of
`model.py`, which every renderer reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from connector.communications import INTERNAL, PUBLIC, notices
from connector.model import Change
from connector.pipeline import utcnow
from connector.policy import Context, evaluate
from connector.reader import batched
from connector.reports.model import ReportRow, Summary, row_for, summarize
from connector.runtime import offline_pipeline
from connector.settings import Settings, SourceSettings
from connector.store import Store, StoredRow


def build_report(
    settings: Settings,
    store: Store,
    *,
    since: datetime,
    until: datetime,
    sources: Sequence[str] = (),
    types: Sequence[str] = (),
    clock: Callable[[], datetime] = utcnow,
) -> tuple[list[ReportRow], Summary]:
    rows: list[ReportRow] = []
    for name, source in settings.sources.items():
        if sources and name not in sources:
            continue
        rows += _source_rows(settings, store, name, source, since, until, types, clock)
    rows.sort(key=lambda r: (r.created, r.source, r.key))
    return rows, summarize(rows, since=since, until=until, generated_at=clock())


def _source_rows(
    settings: Settings,
    store: Store,
    name: str,
    source: SourceSettings,
    since: datetime,
    until: datetime,
    types: Sequence[str],
    clock: Callable[[], datetime],
) -> list[ReportRow]:
    pipeline = offline_pipeline(name, source, store, policy=settings.policy, clock=clock)
    out: list[ReportRow] = []
    now = clock()
    for chunk in batched(_active(store, name, since, until, types), 500):
        rows = {row.key: row for row, _ in chunk}
        page = list(rows)
        bases = store.approval_bases(name, page)
        posted = _posted(store, name, page)
        told = store.ledger_first_applied(source=name, ticket_keys=page, action=PUBLIC)
        evaluated = pipeline.reevaluate_rows(rows, [change for _, change in chunk]).evaluated
        for item in evaluated:
            change = item.change
            snapshot = next((b for b in reversed(bases.get(change.key, [])) if b.snapshot), None)
            approved = (
                Change.from_json(snapshot.snapshot) if snapshot and snapshot.snapshot else None
            )
            approved_ev = (
                evaluate(approved, Context(now=snapshot.recorded_at, policy=settings.policy))
                if approved is not None and snapshot is not None
                else None
            )
            out.append(
                row_for(
                    change,
                    item.evaluation,
                    approved_snapshot=approved,
                    snapshot_evaluation=approved_ev,
                    notes_posted=posted.get(change.key),
                    notice=_notice(
                        settings,
                        change,
                        told.get(change.key),
                        item.evaluation.approvals.approved_at,
                        now,
                    ),
                )
            )
    return out


def _posted(store: Store, source: str, keys: list[str]) -> dict[str, bool]:
    """Per change with a release note planned: whether one reached the ticket."""
    out: dict[str, bool] = {}
    for purpose in (INTERNAL, PUBLIC):
        for key, entry in store.ledger_latest(
            source=source, ticket_keys=keys, action=purpose
        ).items():
            out[key] = out.get(key, False) or entry.state == "applied"
    return out


def _active(
    store: Store, source: str, since: datetime, until: datetime, types: Sequence[str]
) -> Iterator[tuple[StoredRow, Change]]:
    """Stored changes active in the period (created before its end, updated after its start),
    of the given types or classes; each row read and parsed once."""
    wanted = set(types)
    for row in store.iter_stored(source):
        change = Change.from_json(row.data)
        if change.created > until or change.updated < since:
            continue
        if wanted and not {change.effective_class, str(change.change_type)} & wanted:
            continue
        yield row, change


def _notice(
    settings: Settings,
    change: Change,
    told_at: datetime | None,
    approved_at: datetime | None,
    now: datetime,
) -> str:
    """yes / no / pending / n.a. from the notice each customer audience was owed. With release
    notes off, the earliest the connector could have told them is the approval."""
    owed = notices(
        change,
        notice_days=settings.policy.notice_days,
        settings=settings.release_notes,
        told_at=told_at if settings.release_notes.enabled else approved_at,
        now=now,
    )
    if not owed:
        return "n.a."
    states = {n.status for n in owed}
    if states & {"late", "missed"}:
        return "no"
    return "pending" if "pending" in states else "yes"
