"""One poll cycle of one source: cursor window -> pages -> pipeline -> records + cursor.

The window starts a look-back before the stored cursor (Jira: a minute-precision JQL literal in
the API user's time zone; ServiceNow: seconds in UTC) and results arrive ordered by (updated,
key). Each page is processed and recorded with the advanced cursor in one transaction; the
cursor never passes the cycle's start. Planned actions are applied after the scan (and any left
by an earlier, interrupted cycle before it). Only one worker polls a source at a time (the
store's source lock); actions are claimed one by one in the ledger, so workers share safely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connector.cursor import Cursor, jql_since, servicenow_since
from connector.errors import ConnectorError
from connector.executor import Executor, Outcome
from connector.pipeline import PageResult, Pipeline
from connector.planner import Plan
from connector.reader import batched, read_all
from connector.runtime import SourceRuntime
from connector.store import Tx


@dataclass
class PollStats:
    source: str
    polled: bool = True  # False: another worker holds this source
    seen: int = 0
    changed: int = 0
    planned: int = 0
    written: int = 0
    skipped: list[str] = field(default_factory=list)
    failed: str | None = None  # why applying stopped early (the actions stay pending)
    plans: list[Plan] = field(default_factory=list)  # kept only in a dry run, for printing


def since_clause(rt: SourceRuntime, cursor: Cursor) -> str:
    start = cursor.window_start()
    if start is None:
        return ""
    if rt.is_jira:
        return jql_since(start, rt.user_time_zone)
    return servicenow_since(start)


def poll(
    rt: SourceRuntime,
    *,
    pipeline: Pipeline,
    executor: Executor | None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_page: Callable[[PageResult], None] = lambda page: None,
) -> PollStats:
    """Resume what an earlier cycle planned, scan the window, then apply what it planned."""
    stats = PollStats(source=rt.name)
    with rt.store.try_source_lock(rt.name) as mine:
        if not mine:
            stats.polled = False
            return stats
        _apply(executor, rt.name, stats)
        _scan(rt, pipeline, clock(), stats, on_page)
        _apply(executor, rt.name, stats)
    return stats


def _apply(executor: Executor | None, source: str, stats: PollStats) -> None:
    if executor is None or stats.failed:
        return
    try:
        applied = executor.apply_pending(source)
    except ConnectorError as exc:
        stats.failed = exc.message
        return
    stats.written += applied[Outcome.WRITTEN]


def _scan(
    rt: SourceRuntime,
    pipeline: Pipeline,
    cycle_start: datetime,
    stats: PollStats,
    on_page: Callable[[PageResult], None],
) -> None:
    cursor = Cursor.loads(rt.store.cursor(rt.name))
    lookback = timedelta(minutes=rt.settings.lookback_minutes)

    def record_cursor(tx: Tx, page: PageResult) -> None:
        nonlocal cursor
        cursor = cursor.advanced(seen=page.max_updated, cycle_start=cycle_start, lookback=lookback)
        tx.set_cursor(rt.name, cursor.dumps())

    raws = read_all(rt.adapter, rt.mapping, since=since_clause(rt, cursor))
    for page in batched(raws, rt.settings.page_size):
        result = pipeline.process(page, record_cursor=record_cursor)
        stats.seen += result.seen
        stats.changed += len(result.changed)
        stats.planned += result.planned
        stats.skipped += result.skipped
        if pipeline.dry_run:  # a real run keeps counts only: memory must not grow with tickets
            stats.plans += [p for p in result.plans if not p.empty]
        on_page(result)
    if not pipeline.dry_run:
        done = cursor.completed(cycle_start=cycle_start, lookback=lookback)
        if done != cursor:
            rt.store.set_cursor(rt.name, done.dumps())
