"""The webhook drain: inbox items -> re-read each ticket by key -> the same pipeline as polling.

Items are claimed with a lease (PostgreSQL: FOR UPDATE SKIP LOCKED), so several workers drain
one inbox without taking the same item. Deliveries for one ticket collapse into one re-read.
A failed re-read goes back to the inbox with its attempt count; the poller would catch the
ticket anyway, since a webhook is only a hint. A re-read that finds the ticket deleted (a Jira
delete event, a deleted ServiceNow record) records it as deleted once and is not retried.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connector.core.errors import ConnectorError, TicketDeleted
from connector.core.keys import is_key
from connector.core.skips import DELETED, DROPPED, OUT_OF_SCOPE, reason_of
from connector.sync.executor import Outcome
from connector.sync.poller import PollStats, settle
from connector.sync.runtime import SourceRuntime


@dataclass
class DrainStats:
    claimed: int = 0
    tickets: int = 0
    changed: int = 0
    written: int = 0
    failed: int = 0
    out_of_scope: int = 0  # tickets the webhook named that are not changes in scope
    deleted: int = 0  # tickets found deleted and recorded as such
    # per source, for the counters: (source, changed|unchanged) and (source, skip reason)
    synced: Counter[tuple[str, str]] = field(default_factory=Counter)
    skips: Counter[tuple[str, str]] = field(default_factory=Counter)


def drain(
    runtimes: Mapping[str, SourceRuntime],
    *,
    worker: str,
    batch: int,
    lease_seconds: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DrainStats:
    if not runtimes:
        return DrainStats()  # no source configured: nothing could be re-read
    store = next(iter(runtimes.values())).store
    items = store.inbox_claim(worker, limit=batch, lease_seconds=lease_seconds, now=clock())
    stats = DrainStats(claimed=len(items))
    by_ticket: dict[tuple[str, str], list[int]] = defaultdict(list)
    for item in items:
        runtime = runtimes.get(item.source)
        if (
            runtime is not None
            and item.ticket_key
            and is_key(runtime.settings.kind, item.ticket_key)
        ):
            by_ticket[(item.source, item.ticket_key)].append(item.id)
        else:
            # a source removed from the config since, or a key the intake of an older version
            # let in: never put into a request
            store.inbox_done([item.id])
            stats.skips[(item.source, DROPPED)] += 1
    touched: set[str] = set()
    for (source, key), ids in by_ticket.items():
        runtime = runtimes[source]
        try:
            raw = runtime.fetch(key)
            stats.out_of_scope += raw is None
            result = runtime.pipeline().process([raw] if raw is not None else [])
        except TicketDeleted as exc:
            # Gone for good: recorded once, and the delivery has served (never retried).
            stats.deleted += store.mark_deleted(
                source=source, change_key=key, reason=exc.message, actor=worker
            )
            stats.skips[(source, DELETED)] += 1
            store.inbox_done(ids)
            continue
        except ConnectorError as exc:
            stats.failed += len(ids)
            for item_id in ids:
                store.inbox_failed(item_id, error=exc.message[:500])
            continue
        store.inbox_done(ids)  # recorded with its planned actions: the hint has served
        stats.tickets += 1
        stats.changed += len(result.changed)
        if raw is None:
            stats.skips[(source, OUT_OF_SCOPE)] += 1
        for message in result.skipped:
            stats.skips[(source, reason_of(message))] += 1
        if raw is not None and not result.skipped:
            stats.synced[(source, "changed" if result.changed else "unchanged")] += 1
        if result.planned:
            touched.add(source)
    for source in sorted(touched):
        runtime = runtimes[source]
        executor = runtime.executor(worker=worker, lease_seconds=lease_seconds)
        try:
            applied = executor.apply_pending(source)
        except ConnectorError:
            continue  # left pending in the ledger; the next poll or drain applies it
        stats.written += applied[Outcome.WRITTEN]
        moved = PollStats(source=source)
        settle(runtime, runtime.pipeline(), executor, moved)
        stats.written += moved.written
    return stats
