"""One poll cycle of one source: cursor window -> pages -> pipeline -> records + cursor.

The window starts a look-back before the stored cursor (Jira: a minute-precision JQL literal in
the API user's time zone; ServiceNow: seconds in UTC) and results arrive ordered by (updated,
key). Each page is normalized as it arrives; a batch of pages (`batch_size` tickets) is
processed and recorded with the advanced cursor in one transaction (fewer, larger transactions
cost less per ticket); the cursor never passes the cycle's start. Planned actions are applied
after the scan (and any left by an earlier, interrupted cycle before it): the tickets with a
move first, then, once the moved tickets are read again and their windows' partners evaluated
again, the others. Only one worker polls a source at a time (the store's source lock); actions
are claimed one by one in the ledger, so workers share safely.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.core.cursor import Cursor, jql_since, servicenow_since
from connector.core.errors import ConnectorError, TicketDeleted
from connector.core.mapping import RawTicket
from connector.core.planner import Plan
from connector.reports.answers import basis, stored_prefix
from connector.store import Tx
from connector.sync import second
from connector.sync.executor import Executor, Outcome
from connector.sync.page import Normalized, PageResult
from connector.sync.pipeline import Pipeline, Share
from connector.sync.reader import batched, read_ahead, read_all, ticket_id, ticket_key
from connector.sync.runtime import SourceRuntime

MAX_RECHECK_ROUNDS = 100  # of page_size changes each: a bound, not an expected figure
HELD_SLICE = 10_000  # held keys read at once (see `_settle_held`)
MAX_HELD_SLICES = 1_000  # a bound, not an expected figure
MAX_SETTLE_ROUNDS = 3  # needs info -> resubmitted -> approved -> scheduled at most


@dataclass
class PollStats:
    source: str
    polled: bool = True  # False: another worker holds this source
    seen: int = 0
    changed: int = 0
    planned: int = 0
    written: int = 0
    skipped: list[str] = field(default_factory=list)
    reevaluated: int = 0  # stored changes evaluated again (policy changed, review due, answers)
    moved: int = 0  # tickets re-read after this cycle moved them in their workflow
    failed: str | None = None  # why applying stopped early (the actions stay pending)
    write_failures: list[str] = field(default_factory=list)  # writes refused: ticket, what, why
    # Planned writes withheld (observe mode, changes before the cut-off), as each ticket's last
    # evaluation in the cycle planned them: one evaluated twice counts once. Kept per ticket
    # (where not 0) while a later step of the cycle may evaluate the ticket again, summed once
    # none can: a site's every ticket does not stay in memory for a count.
    withheld_by_ticket: dict[str, int] = field(default_factory=dict)
    withheld_final: int = 0
    plans: list[Plan] = field(default_factory=list)  # kept only in a dry run, for printing

    @property
    def withheld(self) -> int:
        return self.withheld_final + sum(self.withheld_by_ticket.values())

    def withhold(self, counts: Mapping[str, int], *, final: Container[str] = ()) -> None:
        """A step's withheld writes per ticket; `final`: tickets no later step evaluates."""
        for key, count in counts.items():
            if key in final:
                self.withheld_by_ticket.pop(key, None)
                self.withheld_final += count
            elif count:
                self.withheld_by_ticket[key] = count
            else:
                self.withheld_by_ticket.pop(key, None)


def poll(
    rt: SourceRuntime,
    *,
    pipeline: Pipeline,
    executor: Executor | None,
    on_page: Callable[[PageResult], None] = lambda page: None,
) -> PollStats:
    """One cycle of one source, top-down; the steps follow this function in this order.

    1. resume   apply what an earlier, interrupted cycle planned           `_apply` (executor)
    2. revisit  evaluate stored changes again: all when the policy changed, those whose
                verdict falls due by now, those without current answers   (pipeline.reevaluate)
    3. scan     read the cursor window page by page (reader), each page normalized as it
                arrives; each batch of pages goes through `pipeline.process`: unchanged? ->
                evaluate -> plan -> record,
                the advanced cursor in the same transaction (recording, cursor); changes with
                a window and the partners of moved windows are held: made due, and planned
                once after the last page from their final state                 `_settle_held`
                (with a second process, the changes without a window are held too and
                evaluated there as their batches are recorded: `second.Lending`)
    4. move     apply the actions of the tickets with a move to make, each ticket whole: its
                notes go out with its move, in ledger order              `_apply(moving=True)`
    5. settle   re-read the tickets this cycle moved; process them, evaluate the changes their
                moves made due (`_settle_held`), and apply as in 4; a few rounds    `settle`
    6. apply    everything else this cycle planned                         `_apply` (executor)
    The tickets that do not move are written last, once the moves are in: a findings note
    planned before a partner's move and again after it is written once, as it is last (a
    newer version of a note edited in place supersedes the older ones not yet written, see
    `recording.record_action`), not posted and then edited.
    A dry run (no executor) does 3 only, and records nothing.
    """
    stats = PollStats(source=rt.name)
    with rt.store.try_source_lock(rt.name) as mine:
        if not mine:
            stats.polled = False
            return stats
        _apply(executor, rt.name, stats)
        if executor is not None:
            revisit(rt, pipeline, stats)
        _scan(rt, pipeline, rt.clock(), stats, on_page)
        _apply(executor, rt.name, stats, moving=True)
        if executor is not None:
            settle(rt, pipeline, executor, stats, moving=True)
            _apply(executor, rt.name, stats)
            # A failed write is tried again in the same cycle: say it once.
            stats.write_failures = list(dict.fromkeys(f.line for f in executor.failures))
    return stats


def _apply(
    executor: Executor | None, source: str, stats: PollStats, *, moving: bool = False
) -> None:
    """Apply the pending actions (`moving`: only the tickets with a move to make, whole)."""
    if executor is None or stats.failed:
        return
    try:
        applied = executor.apply_pending(source, moving=moving)
    except ConnectorError as exc:
        stats.failed = exc.message
        return
    stats.written += applied[Outcome.WRITTEN]


def revisit(rt: SourceRuntime, pipeline: Pipeline, stats: PollStats) -> None:
    """Evaluate stored changes again when the policy changed, and those whose verdict falls
    due by now (a review deadline, a notice date), without reading their tickets."""
    digest = rt.policy_digest()
    if rt.store.policy_digest(rt.name) != digest:
        keys = rt.store.change_keys(rt.name)
        with pipeline.parallel(when=_many(rt, keys)):
            _reevaluate_each(pipeline, stats, keys, size=rt.settings.batch_size)
        with rt.store.transaction() as tx:
            tx.set_policy_digest(rt.name, digest)
    _evaluate_due(rt, pipeline, stats, now=rt.clock, rounds=MAX_RECHECK_ROUNDS)
    refresh_answers(rt, pipeline, stats)


def refresh_answers(rt: SourceRuntime, pipeline: Pipeline, stats: PollStats) -> None:
    """Take the report's answers again where they were taken under other settings (the
    release-note routes changed) or never (changes stored by an older version), once: a report
    reads stored answers, and evaluates every change without current ones again."""
    current = basis(rt.policy, rt.release_notes)
    if pipeline.dry_run or rt.store.answers_basis(rt.name) == current:
        return
    prefix, after = stored_prefix(current), ""
    while keys := rt.store.stale_answers(
        rt.name, prefix=prefix, after=after, limit=rt.settings.page_size
    ):
        stats.reevaluated += len(keys)
        stats.planned += pipeline.refresh_answers(keys).planned
        after = keys[-1]
    with rt.store.transaction() as tx:
        tx.set_answers_basis(rt.name, current)


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
    # The next batch's pages are read while this batch is processed, by a thread that only
    # reads, so the site computes the next page while this process normalizes the last one
    # (normalizing there too kept the site waiting for the next request that long); a batch's
    # cursor is committed with that batch, so a crash leaves the pages read since to be read
    # again.
    page_size, batch_size = rt.settings.page_size, rt.settings.batch_size
    read = read_ahead(batched(raws, page_size), depth=-(-batch_size // page_size))
    pages = (pipeline.normalize(page) for page in read)
    held = 0
    # Each batch is recorded while the next is read, compared and evaluated (`recording_behind`).
    with closing(read), ExitStack() as parallel, pipeline.recording_behind():
        for batch in _batches(pages, size=batch_size):
            result = pipeline.process(batch, record_cursor=record_cursor, hold=not pipeline.dry_run)
            before, held = held, held + result.held
            if _shares_from_here(rt, result, before=before, held=held):
                parallel.enter_context(pipeline.parallel())
            stats.seen += result.seen
            stats.changed += len(result.changed)
            stats.planned += result.planned
            stats.skipped += result.skipped
            stats.withhold(result.withheld_by_ticket)
            _lent(stats, result.shares)
            if pipeline.dry_run:  # a real run keeps counts only: memory must not grow with tickets
                stats.plans += [p for p in result.plans if p.actions or p.withheld]
            on_page(result)
        if not pipeline.dry_run:
            pipeline.settled()  # the last batch's cursor is in
            done = cursor.completed(cycle_start=cycle_start, lookback=lookback)
            if done != cursor:
                rt.store.set_cursor(rt.name, done.dumps())
            _lent(stats, pipeline.lent())  # before the pass: it evaluates what they left due
            _settle_held(rt, pipeline, stats)


def _shares_from_here(rt: SourceRuntime, result: PageResult, *, before: int, held: int) -> bool:
    """Whether the scan shares its work with a second process from this batch on: once enough
    are held for the pass after the last page to be shared (it starts now, beside the scan, so
    it is ready by then), or at the first full batch of changes if one was started ahead
    (`second.started_ahead`)."""
    if not rt.settings.parallel_from:
        return False
    if second.waiting() and len(result.changed) >= rt.settings.batch_size:
        return True
    return before < rt.settings.parallel_from <= held


def _batches(pages: Iterable[Normalized], *, size: int) -> Iterator[Normalized]:
    """Normalized pages joined into batches of at least `size` tickets, the last one what is
    left."""
    parts: list[Normalized] = []
    for page in pages:
        parts.append(page)
        if sum(p.seen for p in parts) >= size:
            yield Normalized.joined(parts)
            parts = []
    if parts:
        yield Normalized.joined(parts)


def _settle_held(rt: SourceRuntime, pipeline: Pipeline, stats: PollStats) -> None:
    """Evaluate what the scan made due (its changes with a window, the partners of windows
    that moved), once each, now that every page is in: their actions are planned here."""
    now = rt.clock()
    pipeline.refresh()  # windows another worker stored during the scan are reached too
    # A page at a time, in the order of their windows (`Store.due_by_window`): each batch reads
    # the stored windows near its own stretch of the calendar, and holds few changes at once.
    # The keys are read in slices until none is due at `now` (whatever fell due meanwhile, a
    # window's partner, included): an evaluated change is no longer due, so each slice starts
    # where the last one ended, and the keys held at once stay few whatever the site's size.
    # Where nothing is written (observe mode), nothing moves and no later step evaluates these
    # changes again: their withheld writes are summed, unless an evaluation left one due.
    final_at = now if rt.gate.observing else None
    last: list[str] = []
    keys = rt.store.due_by_window(rt.name, now=now, limit=HELD_SLICE)
    with pipeline.parallel(when=_many(rt, keys)):
        for _ in range(MAX_HELD_SLICES):
            if not keys or keys == last:  # none left, or only ones an evaluation left due
                break
            last = keys
            _reevaluate_each(pipeline, stats, keys, size=rt.settings.batch_size, final_at=final_at)
            pipeline.settled()  # what is due now, once the evaluations are in
            keys = rt.store.due_by_window(rt.name, now=now, limit=HELD_SLICE)


def _many(rt: SourceRuntime, keys: Sequence[str]) -> bool:
    """Whether a pass over these changes is shared with a second process (`parallel_from`)."""
    return 0 < rt.settings.parallel_from <= len(keys)


def _evaluate_due(
    rt: SourceRuntime,
    pipeline: Pipeline,
    stats: PollStats,
    *,
    now: Callable[[], datetime],
    rounds: int,
) -> None:
    """Evaluate the stored changes due for a recheck at `now()`, a page at a time."""
    for _ in range(rounds):
        due = rt.store.due_for_recheck(rt.name, now=now(), limit=rt.settings.page_size)
        if not due:
            break
        _reevaluate(pipeline, stats, due)


def _reevaluate(
    pipeline: Pipeline, stats: PollStats, keys: list[str], *, final_at: datetime | None = None
) -> None:
    """`final_at`: no later step evaluates these changes again, unless due by then."""
    _count(stats, pipeline.share(keys), final_at=final_at)


def _reevaluate_each(
    pipeline: Pipeline,
    stats: PollStats,
    keys: Sequence[str],
    *,
    size: int,
    final_at: datetime | None = None,
) -> None:
    """`_reevaluate` `size` of `keys` at a time (`Pipeline.reevaluate_each`)."""
    for share in pipeline.reevaluate_each(batched(keys, size)):
        _count(stats, share, final_at=final_at)


def _lent(stats: PollStats, shares: Sequence[Share]) -> None:
    for share in shares:
        stats.planned += share.planned
        stats.withhold(share.withheld)


def _count(stats: PollStats, share: Share, *, final_at: datetime | None) -> None:
    stats.reevaluated += len(share.keys)
    stats.planned += share.planned
    final = (
        set()
        if final_at is None
        else {k for k, at in share.recheck_at.items() if at is None or at > final_at}
    )
    stats.withhold(share.withheld, final=final)


def since_clause(rt: SourceRuntime, cursor: Cursor) -> str:
    start = cursor.window_start()
    if start is None:
        return ""
    if rt.is_jira:
        return jql_since(start, rt.user_time_zone)
    return servicenow_since(start)


def settle(
    rt: SourceRuntime,
    pipeline: Pipeline,
    executor: Executor,
    stats: PollStats,
    *,
    moving: bool = False,
) -> None:
    """Re-read the tickets this cycle moved, so the store holds where they are now and a
    next move (approved -> scheduled) happens in this cycle, not the next. A page of them at a
    time, as the scan reads: what is held in memory stays a page deep however many tickets the
    cycle moved, and the changes with a window and their partners are evaluated once, after
    the last page (`_settle_held`). Each round applies what it planned; `moving`: only the
    tickets with a move to make, the others' writes left to the caller (`poll` step 6)."""
    for _ in range(MAX_SETTLE_ROUNDS):
        keys = sorted(executor.moved)
        executor.moved.clear()
        if not keys or stats.failed:
            return
        for chunk in batched(keys, rt.settings.page_size):
            raws = _reread(rt, executor, stats, list(chunk))
            if raws is None:
                return
            stats.moved += len(raws)
            stats.planned += pipeline.process(raws, hold=True).planned
        _settle_held(rt, pipeline, stats)
        _apply(executor, rt.name, stats, moving=moving)


def _reread(
    rt: SourceRuntime, executor: Executor, stats: PollStats, keys: list[str]
) -> list[RawTicket] | None:
    """The moved tickets `keys` as they are now (None: reading failed, said in `stats`)."""
    try:
        raws = rt.fetch_many(keys)
    except ConnectorError as exc:
        stats.failed = exc.message
        return None
    read = {ticket_key(raw) for raw in raws} | {ticket_id(raw) for raw in raws}
    for key in (k for k in keys if k not in read):  # gone, out of scope, or renamed
        try:
            raw = rt.fetch(key)
        except TicketDeleted as exc:  # deleted since it was moved: recorded, not a failure
            rt.store.mark_deleted(
                source=rt.name, change_key=key, reason=exc.message, actor=executor.worker
            )
            continue
        except ConnectorError as exc:
            stats.failed = exc.message
            return None
        if raw is not None and ticket_id(raw) not in read:  # a Jira issue moved to
            raws.append(raw)  # another project answers under its new key: read already
    return raws
