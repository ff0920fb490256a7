"""Process tickets: normalize -> unchanged? -> evaluate -> plan -> record (then apply, audit).

Polling and the webhook drain both hand pages of raw tickets to `Pipeline.process`, so the two
paths converge. A ticket whose fingerprint equals the stored one stops at step 2: that is what
keeps the connector's own comments and labels from re-triggering it, and what makes a second
pass over the same batch plan nothing and write nothing. The changes, their evaluation (open
findings, the next time the verdict may change by itself, the window index, approval bases),
their planned actions (the ledger is the outbox) and, for polling, the advanced cursor are
recorded in one transaction; the executor applies the planned actions afterwards. A crash
anywhere therefore means "do it again" (or "apply what was planned"), never "skip it". A poll
cycle hands over batches of pages normalized as they arrived (`Normalized`), and within
`recording_behind` each batch's transaction runs on a thread of its own while the next batch
is prepared, in order, one at a time (`write_behind`).

`reevaluate` runs stored changes through the policy again without reading the ticket: when a
review falls due, the policy changes, a board decides, or a change whose window overlaps moved.
Evaluating and planning (`evaluation.Judge`) do no I/O: the pipeline reads what they need
(`reads`). What a batch is on its way through is in `page`.
`reevaluate_each` shares a large pass with a second process, which evaluates and records some of
its chunks while this one does the others (`parallel`, `second`); while it lives, a poll cycle's
changes without a window are recorded as read and evaluated there (`second.Lending`).

In a poll cycle (`hold=True`) a change with a window may still gain or lose a conflicting
partner on a later page, so it is not evaluated on the page: the page records it as read
(change, windows; its stored evaluation stays until then) and makes it due, with the partners
of the windows that moved, in the same transaction; the cycle then evaluates what is due once,
after its last page, and plans each ticket's actions once from its final state. A crash in
between leaves them due. Windows are read near each change's own (`Store.windows_near`),
reaching back by the longest stored window of the system, read once a pass.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from connector.core.communications import ReleaseNotesSettings
from connector.core.errors import SkipRecord
from connector.core.gate import Gate
from connector.core.mapping import Mapping as FieldMapping
from connector.core.mapping import RawTicket, normalize
from connector.core.model import Change, Source
from connector.core.notify.settings import NotifyChannel
from connector.core.planner import Capabilities
from connector.core.policy import PolicySettings
from connector.core.windows import entries
from connector.store import Store, StoredRow, Tx
from connector.sync.evaluation import Judge, Verdict
from connector.sync.neighbours import Neighbours
from connector.sync.page import Normalized, PageResult, utcnow
from connector.sync.reads import drop_posted, reads_for
from connector.sync.recording import Evaluated, Recorder, record_action
from connector.sync.second import Given, Lending, Recipe, SecondProcess, Share
from connector.sync.write_behind import WriteBehind

__all__ = ["Evaluated", "Pipeline", "Share", "record_action"]


@dataclass
class Pipeline:
    store: Store
    source: Source
    mapping: FieldMapping
    base_url: str
    policy: PolicySettings
    caps: Capabilities
    clock: Callable[[], datetime] = utcnow
    dry_run: bool = False  # plan only: record nothing
    release_notes: ReleaseNotesSettings = field(default_factory=ReleaseNotesSettings)
    # Chat channels to plan notifications for (empty: none; see runtime.posts_notifications).
    notify: tuple[NotifyChannel, ...] = ()
    # Which planned writes the source may make (observe mode, old changes): the rest are
    # withheld in the plan, never recorded in the ledger.
    gate: Gate = field(default_factory=Gate)
    # The stored windows near a batch's (and the longest per system, read once a pass).
    _near: Neighbours = field(init=False, repr=False)
    # Sharing `reevaluate_each`'s chunks with a second process (see `parallel`).
    _second: SecondProcess | None = field(default=None, init=False, repr=False)
    # A scan's changes without a window, given to that process as they are recorded.
    _lending: Lending | None = field(default=None, init=False, repr=False)
    # Recording a batch while the next is prepared (see `recording_behind`).
    _behind: WriteBehind | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._near = Neighbours(self.store, self.source.instance)

    @property
    def _judge(self) -> Judge:
        return Judge(
            policy=self.policy,
            caps=self.caps,
            release_notes=self.release_notes,
            notify=self.notify,
            gate=self.gate,
            dry_run=self.dry_run,
        )

    def process(
        self,
        raws: Sequence[RawTicket] | Normalized,
        *,
        record_cursor: Callable[[Tx, PageResult], None] | None = None,
        force: bool = False,
        hold: bool = False,
    ) -> PageResult:
        """Normalize a page (unless `normalize` did); evaluate and plan the tickets that changed
        (all when `force`). `hold`: leave the planning of changes with a window, and the
        partners' evaluation, to the caller's pass over what is due (see the module
        docstring)."""
        read = raws if isinstance(raws, Normalized) else self.normalize(raws)
        result = PageResult(seen=read.seen, skipped=list(read.skipped))
        changes = read.changes
        if not hold:  # its partners are evaluated here, from what the store holds now
            self.settled()
        elif self._behind is not None:  # a ticket read again reads its last version stored
            self._behind.settle_for([c.key for c in changes])
        if self._lending is not None:  # ... and its last version's evaluation there
            self._lending.settle_for([c.key for c in changes])
        stored = self.store.stored_changes(self.source.instance, [c.key for c in changes])
        for change in changes:
            if result.max_updated is None or change.updated > result.max_updated:
                result.max_updated = change.updated
        prints = {c.key: c.fingerprint() for c in changes}
        fresh = [
            c
            for c in changes
            if force or (row := stored.get(c.key)) is None or row.fingerprint != prints[c.key]
        ]
        result.changed = fresh
        before = self._near.window_keys(fresh)
        # Held: a change with a window is recorded from its page as read, and evaluated once,
        # from its final state, when the cycle evaluates what is due after its last page. With
        # a second process to lend them to, so is every other change, evaluated there meanwhile.
        lend = self._lending is not None and self._lending.second.ready
        held = [c for c in fresh if lend or entries(c)] if hold and not self.dry_run else []
        keys = {c.key for c in held}
        result.held = len(held)
        self._evaluate(
            [c for c in fresh if c.key not in keys], stored, result, synced=True, prints=prints
        )
        if not self.dry_run:
            moved = {c.key for c in fresh if entries(c) != before.get(c.key, set())}
            # Held, the partners already due are evaluated with the held changes: not read.
            # Their conflict findings depend on these windows. They are made due in the same
            # transaction, so a crash before they are evaluated leaves them to the next cycle's
            # rechecks instead of losing them. A partner on this page but unchanged (read again
            # after a crash or in the look-back window) was not evaluated with it. Held, they
            # are read by the transaction, which may run behind (`_others`).
            partners = self._near.partners_read(
                [c for c in fresh if c.key in moved],
                before,
                not_due_at=self.clock() if hold else None,
            )
            others = partial(_others, partners, fresh={c.key for c in fresh})
            # Later reads of the pass reach back far enough for the held changes' windows too.
            self._near.reach([(s, b, e) for c in held for s, b, e, _ in entries(c)])
            if hold:
                unevaluated = [(c, stored.get(c.key), prints[c.key]) for c in held]
                due = sorted(keys)
                self._record(result, record_cursor, recheck=due, held=unevaluated, others=others)
                if self._lending is not None:  # the batch before is recorded by now
                    lent = [c.key for c in held if lend and not entries(c)]
                    self._lending.recorded(now=self.clock(), then=lent)
                    result.shares = self._lending.shares()
                return result
            # Now, not behind: the partners are evaluated against this page's windows.
            partnered = others()
            self._transaction(result, record_cursor, recheck=partnered, held=())
            if partnered:
                result.evaluated += self.reevaluate(partnered).evaluated
        return result

    def reevaluate(
        self, keys: Sequence[str], *, extra_steps: Mapping[str, Sequence[str]] | None = None
    ) -> PageResult:
        """Evaluate stored changes again; `extra_steps`: moves asked for per ticket key."""
        return self.reevaluate_rows(*self._read_stored(keys), extra_steps=extra_steps)

    def reevaluate_rows(
        self,
        stored: Mapping[str, StoredRow],
        changes: Sequence[Change],
        *,
        extra_steps: Mapping[str, Sequence[str]] | None = None,
    ) -> PageResult:
        """The same, for stored rows the caller has already read and parsed."""
        result = self._evaluate_stored(stored, changes, extra_steps=extra_steps or {})
        if not self.dry_run:
            self._record(result, None)
        return result

    @contextmanager
    def parallel(self, *, when: bool = True) -> Iterator[None]:
        """Within this block (when `when`), `reevaluate_each` shares its chunks with a second
        process (`second.SecondProcess`) opened on this pipeline's store and settings: for a
        pass with many changes to evaluate, where starting a process costs less than it saves.
        Not for a store no other process can open (SQLite in memory)."""
        shared = self.store.shared_between_threads
        if not when or self.dry_run or self._second is not None or not shared:
            yield
            return
        self._second = SecondProcess(Recipe.of(self))
        self._lending = Lending(self._second)
        try:
            yield
        finally:
            second, self._second, self._lending = self._second, None, None
            if second is not None:
                second.close()

    def lent(self) -> list[Share]:
        """Wait for what the second process evaluated of a scan's batches (`process`); what
        it did not take stays due. Before the pass over what is due."""
        return self._lending.shares(wait=True) if self._lending is not None else []

    @contextmanager
    def recording_behind(self) -> Iterator[None]:
        """Within this block, each batch is recorded on a thread of its own while the caller
        prepares the next (`write_behind`); a pass of `process(hold=True)` or
        `reevaluate_each` calls, each batch on other tickets or waiting for the one before.
        The caller calls `settled` before reading what the batches wrote (what is due, the
        cursor); the block ends once the last batch is recorded."""
        if self.dry_run or self._behind is not None:
            yield
            return
        behind = self._behind = WriteBehind()
        try:
            yield
        except BaseException:
            self._behind = None
            # The caller's error is the one to raise: a batch whose recording failed as well
            # rolled back whole, and its tickets are read again from the cursor before it.
            with suppress(Exception):
                behind.close()
            raise
        self._behind = None
        behind.close()

    def settled(self) -> None:
        """Wait until every batch handed over is recorded (raising what its recording raised)."""
        if self._behind is not None:
            self._behind.wait()

    def share(self, keys: Sequence[str]) -> Share:
        """`reevaluate` these keys, as a poll cycle counts them."""
        return Share.of(keys, self.reevaluate(keys).evaluated)

    def reevaluate_each(self, chunks: Iterable[Sequence[str]]) -> Iterator[Share]:
        """`share` each chunk of keys, as each is done. In a `parallel` block the second
        process takes a chunk while it holds fewer than `second.QUEUE`, and this process does
        the others, and any the second one does not finish."""
        given: deque[Given] = deque()
        for keys in chunks:
            while given and given[0].done:
                yield self._taken(given.popleft())
            taken = self._second.take(keys, now=self.clock()) if self._second else None
            if taken is None:
                yield self.share(keys)
            else:
                given.append(taken)
        while given:
            yield self._taken(given.popleft())

    def _taken(self, given: Given) -> Share:
        share = given.share()
        return self.share(given.keys) if share is None else share

    def refresh_answers(self, keys: Sequence[str]) -> PageResult:
        """Take the report's answers of stored changes again under the current settings. Where
        the evaluation comes out as stored, only the answers are written; a change whose
        findings or recheck time differ is recorded in full, as a recheck would."""
        stored, changes = self._read_stored(keys)
        result = self._evaluate_stored(stored, changes)
        if self.dry_run:
            return result
        same: list[Evaluated] = []
        differ: list[Evaluated] = []
        for item in result.evaluated:
            (same if _as_stored(item, stored[item.change.key]) else differ).append(item)
        with self.store.transaction() as tx:
            tx.set_reports(
                source=self.source.instance, reports={item.change.key: item.report for item in same}
            )
        result.evaluated = differ
        if differ:
            self._record(result, None)
        return result

    # -- evaluate and plan (no writes) ---------------------------------------------------------

    def _read_stored(self, keys: Sequence[str]) -> tuple[dict[str, StoredRow], list[Change]]:
        """The stored rows of these keys, and their changes parsed (keys not stored: none)."""
        stored = self.store.stored_changes(self.source.instance, keys)
        return stored, [Change.from_json(stored[k].data) for k in keys if k in stored]

    def _evaluate_stored(
        self,
        stored: Mapping[str, StoredRow],
        changes: Sequence[Change],
        *,
        extra_steps: Mapping[str, Sequence[str]] | None = None,
    ) -> PageResult:
        result = PageResult(seen=len(changes))
        prints = {key: row.fingerprint for key, row in stored.items()}
        self._evaluate(
            changes, stored, result, synced=False, prints=prints, extra_steps=extra_steps
        )
        return result

    def normalize(self, raws: Sequence[RawTicket]) -> Normalized:
        """Step 1 for a page of tickets as read (a ticket the mapping cannot read is skipped,
        with the line that says why)."""
        out: list[Change] = []
        skipped: list[str] = []
        for raw in raws:
            try:
                out.append(
                    normalize(raw, mapping=self.mapping, source=self.source, base_url=self.base_url)
                )
            except SkipRecord as exc:
                skipped.append(exc.message)
        return Normalized(seen=len(raws), changes=out, skipped=skipped)

    def _evaluate(
        self,
        changes: Sequence[Change],
        stored: Mapping[str, StoredRow],
        result: PageResult,
        *,
        synced: bool,
        prints: Mapping[str, str],
        extra_steps: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if not changes:
            return
        reads = reads_for(
            self.store,
            self._near,
            changes,
            now=self.clock(),
            release_notes=self.release_notes,
            prints=prints,
            extra_steps=extra_steps,
        )
        verdicts = self._judge.judge(changes, reads)
        self._add(result, changes, verdicts, stored=stored, synced=synced, prints=prints)

    def _add(
        self,
        result: PageResult,
        changes: Sequence[Change],
        verdicts: Sequence[Verdict],
        *,
        stored: Mapping[str, StoredRow],
        synced: bool,
        prints: Mapping[str, str],
    ) -> None:
        """Add the judged changes to `result`, as the pipeline records them."""
        for change, verdict in zip(changes, verdicts, strict=True):
            row = stored.get(change.key)
            result.evaluated.append(
                Evaluated(
                    change=change,
                    evaluation=verdict.evaluation,
                    plan=verdict.plan,
                    synced=synced,
                    previous=row.data if row else None,
                    previous_findings=row.findings if row else None,
                    fingerprint=prints[change.key],
                    findings=verdict.findings,
                    report=verdict.report,
                )
            )
        if self.notify:
            drop_posted(self.store, result.evaluated, start=len(result.evaluated) - len(changes))

    def refresh(self) -> None:
        """Read the longest stored windows again at the next evaluation: windows another
        worker stored since are then reached (a poll cycle calls it before its last pass)."""
        self._near.refresh()

    # -- record ----------------------------------------------------------------------------------

    def _record(
        self,
        result: PageResult,
        record_cursor: Callable[[Tx, PageResult], None] | None,
        *,
        recheck: Sequence[str] = (),
        held: Sequence[tuple[Change, StoredRow | None, str]] = (),
        others: Callable[[], list[str]] | None = None,
    ) -> None:
        """Record the evaluated changes, and the `held` ones (change, stored row, fingerprint)
        as read, without an evaluation (see `process`), in one transaction: now, or on the
        recording thread (`recording_behind`); `others`: more changes made due, read by the
        transaction."""
        record = partial(
            self._transaction, result, record_cursor, recheck=recheck, held=held, others=others
        )
        if self._behind is None:
            record()
            return
        keys = [e.change.key for e in result.evaluated] + [c.key for c, _, _ in held]
        self._behind.submit(record, keys=keys)

    def _transaction(
        self,
        result: PageResult,
        record_cursor: Callable[[Tx, PageResult], None] | None,
        *,
        recheck: Sequence[str],
        held: Sequence[tuple[Change, StoredRow | None, str]],
        others: Callable[[], list[str]] | None = None,
    ) -> None:
        if others is not None:
            recheck = [*others(), *recheck]
        with self.store.transaction() as tx:
            recorder = Recorder(source=self.source.instance)
            bases = recorder.record_bases(tx, result.evaluated)
            with tx.bulk():  # one statement each for the page's changes, evaluations, windows
                for item in result.evaluated:
                    recorder.record(tx, item, bases=bases)
                for change, row, fingerprint in held:
                    recorder.record_read(
                        tx, change, previous=row.data if row else None, fingerprint=fingerprint
                    )
            # After the records: a held change of this page is due whatever its evaluation said.
            tx.recheck(source=self.source.instance, change_keys=recheck, at=self.clock())
            for line in result.skipped:
                recorder.audit(tx, None, "ticket.skipped", reason=line)
            if record_cursor is not None:
                record_cursor(tx, result)


def _others(partners: Callable[[], set[str]], *, fresh: set[str]) -> list[str]:
    """The partners of a batch's moved windows that are not of the batch, in key order."""
    return sorted(partners() - fresh)


def _as_stored(item: Evaluated, row: StoredRow) -> bool:
    """Whether an evaluation of a stored change comes out as the one stored with it."""
    return row.findings == item.findings and row.recheck_at == item.evaluation.recheck_at
