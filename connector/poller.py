"""One poll cycle of one source: cursor window -> pages -> pipeline -> records + cursor.

The window starts a look-back before the stored cursor (Jira: a minute-precision JQL literal in
the API user's time zone; ServiceNow: seconds in UTC) and results arrive ordered by (updated,
key). Each page is processed and recorded with the advanced cursor in one transaction; the
cursor never passes the cycle's start nor a ticket whose actions failed. Only one worker polls
a source at a time (the store's source lock), so several workers share sources safely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connector.cursor import Cursor, jql_since, servicenow_since
from connector.pipeline import PageResult, Pipeline
from connector.reader import batched, read_all
from connector.runtime import SourceRuntime
from connector.store import Tx


@dataclass
class PollStats:
    source: str
    polled: bool = True  # False: another worker holds this source
    seen: int = 0
    changed: int = 0
    written: int = 0
    skipped: list[str] = field(default_factory=list)
    failed: str | None = None
    plans: list[object] = field(default_factory=list)


def since_clause(rt: SourceRuntime, cursor: Cursor) -> str:
    start = cursor.window_start(timedelta(minutes=rt.settings.lookback_minutes))
    if start is None:
        return ""
    if rt.is_jira:
        return jql_since(start, rt.user_time_zone)
    return servicenow_since(start)


def poll(
    rt: SourceRuntime,
    *,
    pipeline: Pipeline,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_page: Callable[[PageResult], None] = lambda page: None,
) -> PollStats:
    stats = PollStats(source=rt.name)
    with rt.store.try_source_lock(rt.name) as mine:
        if not mine:
            stats.polled = False
            return stats
        _cycle(rt, pipeline, clock(), stats, on_page)
    return stats


def _cycle(rt: SourceRuntime, pipeline: Pipeline, cycle_start: datetime, stats: PollStats,
           on_page: Callable[[PageResult], None]) -> None:
    cursor = Cursor.loads(rt.store.cursor(rt.name))

    def record_cursor(tx: Tx, page: PageResult) -> None:
        nonlocal cursor
        cursor = cursor.advanced(seen=page.max_updated, cycle_start=cycle_start)
        tx.set_cursor(rt.name, cursor.dumps())

    raws = read_all(rt.adapter, rt.mapping, since=since_clause(rt, cursor))
    for page in batched(raws, rt.settings.page_size):
        result = pipeline.process(page, record_cursor=record_cursor)
        stats.seen += result.seen
        stats.changed += len(result.changed)
        stats.written += result.writes
        stats.skipped += result.skipped
        stats.plans += [p for p in result.plans if not p.empty]
        on_page(result)
        if result.failed:
            stats.failed = result.failed
            return
