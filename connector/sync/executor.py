"""Step 5 of the pipeline: apply planned actions, each at most once, whatever fails or repeats.

The pipeline records planned actions in the ledger (the outbox) in the same transaction as the
changes and the cursor; nothing is written to a ticket while a search is being paged, so the
connector's own writes cannot shift the pages under it. Then, for every pending action: (1)
claim its idempotency key in the ledger (compare-and-set with a lease: one worker wins, and a
dead worker's claim expires); (2) look for the action's marker on the ticket itself (the Jira
issue's marker property, read with the ticket; a tag inside the ServiceNow work note) and write
only when it is absent (a note edited in place: when its content differs); (3)
record `applied` with the remote reference; (4) append the audit row. A crash between (2) and
(3) is healed by (2) on the next attempt, and a lost database by the marker: the ledger is the
fast path, the ticket is the truth.

Chat notifications (kind NOTIFY) follow the same claim / record / audit steps, but a chat
channel cannot be asked what it already shows, so there is no step (2): the claim is marked
"sending" just before each request goes out (after any rate-limit wait, and unmarked when the
answer proves nothing was posted, e.g. a 429 before its retry), so the post is at most
once. Whoever takes over a claim still marked "sending" (the worker died mid-post), or gets
an answer that does not prove the post failed (a timeout, a 5xx), records the action as
`uncertain` and never posts it again; a refusal that proves nothing was posted (4xx, 429
after the retries, no connection) is recorded as failed and retried later like any other
action. Without a notifier (notifications switched off for this runtime) NOTIFY actions are
left pending.

Writes run side by side on up to `concurrency` threads (the source's `write_concurrency`), one
ticket per thread at a time (connector/sync/write_queue.py): a ticket's actions run in ledger
order on one thread, so a ticket never has two writes in flight and its writes land in the
order they were planned; the next ledger page is read while the current one's last tickets are
written, so no thread waits for a page's slowest ticket. Every step above is the same on each
thread (the ledger's claim is safe across threads as across processes), and the threads share
the source's adapter, hence its one rate limiter: a 429 or the rate-limit headers pause every
thread's calls (connector/systems/ratelimit.py). A transient error stops the round as before:
no ticket starts after it, each running one stops
after its current action, and the first error is raised once they have.

Before and after each batch the writer is handed the batch's notes: Jira Cloud sets their
markers in bulk there, outside the threads, while the batch owns its tickets
(connector/systems/jira_notes.py).

The fence (connector/store/ledger.py): no claim while another action of the ticket is claimed
under a lease not lapsed by `grace_seconds` (twice the source's HTTP timeout); no request of
an action after its lease (connector/systems/http.py `calls_until`); and after a lapsed claim
the writer forgets what it read of the ticket, so the check before writing reads it again.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from loguru import logger

from connector.core.errors import ConnectorError, PermanentError, TicketDeleted
from connector.core.planner import TRANSITION, Action, ActionKind
from connector.store import Store
from connector.sync.write_queue import WriteQueue
from connector.systems.http import calls_until
from connector.systems.writers import Note, PlannedNote


class TicketWriter(Protocol):
    """What the executor needs of a ticket system (see connector/systems/writers.py)."""

    edits_in_place: bool

    def find_note(self, ticket: str, *, marker: str) -> Note | None: ...

    def post_note(
        self, ticket: str, *, body: str, marker: str, fingerprint: str, internal: bool = True
    ) -> str: ...

    def edit_note(
        self, ticket: str, ref: str, *, body: str, marker: str, fingerprint: str
    ) -> None: ...

    def move(self, ticket: str, steps: Sequence[str], *, reason: str = "") -> bool: ...

    def set_label(self, ticket: str, label: str, *, present: bool) -> bool: ...

    def recall(self, tickets: Sequence[str]) -> None:
        """Read again, in bulk, what the checks before writing need of tickets not read lately."""
        ...

    def before_notes(self, notes: Sequence[PlannedNote]) -> None: ...

    def after_notes(self, notes: Sequence[PlannedNote]) -> None: ...

    def forget(self, ticket: str) -> None:
        """Drop what was read of the ticket: its next check reads it again."""
        ...


class Notifier(Protocol):
    """What the executor needs to post a chat notification (connector/systems/chat.py)."""

    def post(self, name: str, body: str, *, delivery: str, mark: Callable[[bool], None]) -> str: ...


class ClaimLost(ConnectorError):
    """Another worker took the claim over (this one outlived its lease): do not post."""


#: Pending actions read, and applied as one batch, at once. A batch's tickets are read again
#: before its writes where the adapter no longer holds them (`TicketWriter.recall`): a few
#: batches in flight are fewer than it holds (2,500), so none is pushed out before its write.
LEDGER_PAGE = 500

#: A chat post's ledger reference while its request is under way, and once its fate is unknown.
SENDING = "sending"
UNCERTAIN = "uncertain"


class Outcome(StrEnum):
    WRITTEN = "written"  # this worker wrote it now
    FOUND = "found"  # the marker was already on the ticket: recorded, nothing written
    HELD = "held"  # another worker holds the claim
    SUPERSEDED = "superseded"  # a newer version of this note was planned: nothing written
    FAILED = "failed"  # refused for good (recorded in the ledger and the audit trail)
    DELETED = "deleted"  # the ticket is gone: recorded as deleted, its actions dropped
    UNCERTAIN = "uncertain"  # a chat post that may have landed: recorded, never posted again
    DEFERRED = "deferred"  # a chat post while notifications are off here: left pending


@dataclass(frozen=True)
class Applied:
    action: Action
    outcome: Outcome
    remote_ref: str | None = None


@dataclass(frozen=True)
class Failure:
    """A write that failed: which ticket, which action, and the system's reason."""

    source: str
    ticket_key: str
    kind: str
    purpose: str
    error: str

    @property
    def line(self) -> str:
        what = self.kind if self.purpose == self.kind else f"{self.kind} ({self.purpose})"
        return f"{self.source} {self.ticket_key}: {what} failed: {self.error}"


@dataclass
class Executor:
    store: Store
    writer: TicketWriter
    worker: str
    lease_seconds: float = 300.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    moved: set[str] = field(default_factory=set)  # tickets whose workflow state this wrote
    # Told of every action tried, with its outcome (an Outcome value, or "error": a transient
    # failure, left pending): the running worker's log line and counters per write.
    observe: Callable[[Action, str], None] | None = None
    notifier: Notifier | None = None  # posts NOTIFY actions; None: they stay pending
    # Why nothing may be written at all (observe mode): pending actions stay in the ledger.
    hold: str | None = None
    failures: list[Failure] = field(default_factory=list)  # the writes that failed, in order
    # Which ledger rows (ticket, action) this executor applies: a command about one ticket or
    # one release applies its own writes only, not the worker's other pending or failed ones.
    only: Callable[[str, str], bool] | None = None
    # The writes that failed through this executor: one cycle applies pending actions after
    # each of its steps, and a refused write is tried once per cycle, not once per step.
    tried: set[str] = field(default_factory=set)
    # Tickets written at once (each ticket's own actions one at a time, in order); 1: serially.
    concurrency: int = 1
    # How long after a claim's lease ran out its holder may still have a write in flight: the
    # ticket is not written by anyone before (at least the source's HTTP timeout).
    grace_seconds: float = 0.0
    # `observe` and the bookkeeping above are shared by the writing threads
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply_pending(
        self, source: str, *, limit: int | None = None, moving: bool = False
    ) -> Counter[Outcome]:
        """Apply every pending action of `source`, page by page in ledger order (`limit` a
        page, `LEDGER_PAGE` unless given); counts the outcomes. Stops early (raising) on a
        transient error: the rest stays pending. `moving`: only the tickets with a move still
        to do, each with all its actions (its notes go out with its move, in ledger order;
        a ticket's actions on a later ledger page than its move, read once the move is made,
        are left to the next apply)."""
        limit = limit or LEDGER_PAGE
        if self.hold is not None:
            return Counter()
        queue: WriteQueue[Action, Applied] = WriteQueue(
            key=lambda action: action.native_id,  # by the ticket the writes go to
            apply=self._apply,
            workers=self.concurrency,
            refill_at=limit,
            before=self._before_batch,
            after=self._after_batch,
            tally=lambda applied: applied.outcome,
            name=f"write-{source}",
        )
        counts = queue.run(self._pending(source, limit, moving=moving))
        return Counter({Outcome(str(outcome)): n for outcome, n in counts.items()})

    def _pending(self, source: str, limit: int, *, moving: bool) -> Iterator[list[Action]]:
        """The pending actions of `source` this executor applies, a ledger page at a time."""
        after = None
        while batch := self.store.ledger_pending(
            source=source,
            now=self.clock(),
            limit=limit,
            after=after,
            grace_seconds=self.grace_seconds,
            tickets_with=(TRANSITION,) if moving else (),
        ):
            yield [
                Action.model_validate_json(entry.payload)
                for entry in batch
                if entry.payload is not None
                and (self.only is None or self.only(entry.ticket_key, entry.action))
                and entry.idempotency_key not in self.tried
            ]
            after = (batch[-1].created_at, batch[-1].idempotency_key)

    def _before_batch(self, actions: Sequence[Action]) -> None:
        # Writes follow the scan: on a large site the page a ticket came with is long gone.
        tickets = {a.native_id for a in actions if a.kind is not ActionKind.NOTIFY}
        if tickets:
            self.writer.recall(sorted(tickets))
        if notes := self._planned_notes(actions):
            self.writer.before_notes(notes)

    def _after_batch(self, actions: Sequence[Action], _applied: Sequence[Applied]) -> None:
        if notes := self._planned_notes(actions):
            self.writer.after_notes(notes)

    def _planned_notes(self, actions: Sequence[Action]) -> list[PlannedNote]:
        edits = self.writer.edits_in_place
        return [
            PlannedNote(
                a.native_id,
                note_marker(a, versioned=not (a.edit_in_place and edits)),
                a.content_fingerprint,
            )
            for a in actions
            if a.kind is ActionKind.NOTE
        ]

    def _apply(self, action: Action) -> Applied:
        if action.kind is ActionKind.NOTIFY and self.notifier is None:
            return Applied(action, Outcome.DEFERRED)
        key, now = action.idempotency_key, self.clock()
        claim = self.store.ledger_claim(
            key,
            source=action.source,
            ticket_key=action.ticket_key,
            action=action.purpose,
            content_fingerprint=action.content_fingerprint,
            worker=self.worker,
            lease_seconds=self.lease_seconds,
            now=now,
            grace_seconds=self.grace_seconds,
        )
        if claim is None:
            self._observe(action, Outcome.HELD)
            return Applied(action, Outcome.HELD)
        # No request of this action goes out once its lease has run out.
        with calls_until(now + timedelta(seconds=self.lease_seconds), clock=self.clock):
            return self._claimed(action, lapsed=claim.lapsed, sending=claim.remote_ref == SENDING)

    def _claimed(self, action: Action, *, lapsed: bool, sending: bool) -> Applied:
        """The action, once claimed: written unless the ticket shows it done already."""
        if action.kind is ActionKind.NOTIFY:
            return self._notify(action, sending=sending)
        try:
            if lapsed:  # a dead worker's write may have landed since the ticket was read
                self.writer.forget(action.native_id)
            newer = self._newer(action)
            outcome, ref = (Outcome.SUPERSEDED, newer) if newer else self._write(action)
        except TicketDeleted as exc:
            return self._deleted(action, exc.message)
        except PermanentError as exc:
            self._failed(action, exc.message)
            self._observe(action, Outcome.FAILED)
            return Applied(action, Outcome.FAILED)
        except Exception as exc:  # transient or unexpected: release the claim, stop this round
            self._failed(action, str(exc))
            self._observe(action, "error")
            raise
        if outcome is Outcome.WRITTEN and action.kind is ActionKind.TRANSITION:
            with self._lock:
                self.moved.add(action.ticket_key)
        return self._applied(action, outcome, ref)

    def _applied(self, action: Action, outcome: Outcome, ref: str, **detail: str) -> Applied:
        """Record how the action ended (`SUPERSEDED`: not written, `ref` the newer version's
        key, never tried again; otherwise applied, `ref` what it wrote or found)."""
        if outcome is Outcome.SUPERSEDED:
            self.store.ledger_superseded(action.idempotency_key, newer=ref, worker=self.worker)
        else:
            self.store.ledger_applied(action.idempotency_key, remote_ref=ref, worker=self.worker)
        self._audit(
            action,
            outcome.value,
            remote_ref=ref,
            content_fingerprint=action.content_fingerprint,
            **detail,
        )
        self._observe(action, outcome)
        return Applied(action, outcome, ref)

    def _observe(self, action: Action, outcome: str) -> None:
        if self.observe is not None:
            with self._lock:  # the observer (log line, counters) need not be thread-safe
                self.observe(action, str(outcome))

    def _notify(self, action: Action, *, sending: bool) -> Applied:
        """Post a chat notification at most once (see the module docstring)."""
        key, notifier = action.idempotency_key, self.notifier
        assert notifier is not None  # checked by _apply before claiming
        if sending:
            why = "an earlier attempt stopped while posting it; not posted again"
            return self._uncertain(action, why)

        def mark(on: bool) -> None:
            ref = SENDING if on else None
            if not self.store.ledger_mark(key, worker=self.worker, remote_ref=ref) and on:
                raise ClaimLost(f"{action.ticket_key} {action.purpose}: claim taken over")

        try:
            ref = notifier.post(action.channel, action.body, delivery=key, mark=mark)
        except ClaimLost:
            return Applied(action, Outcome.HELD)
        except ConnectorError as exc:
            if getattr(exc, "maybe_applied", False):
                return self._uncertain(action, exc.message)
            mark(False)
            logger.warning("{} {}: not posted: {}", action.ticket_key, action.purpose, exc.message)
            self._failed(action, exc.message)
            self._observe(action, Outcome.FAILED)
            return Applied(action, Outcome.FAILED)
        except Exception as exc:  # a bug after the request may have gone out: keep the mark
            self._failed(action, f"unexpected {type(exc).__name__}")
            raise
        logger.info("{} {}: posted", action.ticket_key, action.purpose)
        return self._applied(action, Outcome.WRITTEN, ref)

    def _uncertain(self, action: Action, why: str) -> Applied:
        logger.warning(
            "{} {}: may or may not have been posted ({}); not posted again",
            action.ticket_key,
            action.purpose,
            why,
        )
        return self._applied(action, Outcome.UNCERTAIN, UNCERTAIN, error=why[:500])

    def _newer(self, action: Action) -> str | None:
        """The key of a newer planned version of this note, if any: writing an outdated text
        first (then editing it, or posting again) would only be noise on the ticket."""
        if action.kind is not ActionKind.NOTE or not action.edit_in_place:
            return None
        latest = self.store.ledger_latest(
            source=action.source, ticket_keys=[action.ticket_key], action=action.purpose
        ).get(action.ticket_key)
        if latest is None or latest.idempotency_key == action.idempotency_key:
            return None
        return latest.idempotency_key

    def _write(self, action: Action) -> tuple[Outcome, str]:
        """Check the ticket, then write only what is not there yet."""
        ticket, writer = action.native_id, self.writer
        if action.kind is ActionKind.TRANSITION:
            moved = writer.move(ticket, action.steps, reason=action.reason)
            return (Outcome.WRITTEN if moved else Outcome.FOUND), ",".join(action.steps)
        if action.kind is ActionKind.LABEL:
            changed = writer.set_label(ticket, action.label, present=action.present)
            return (Outcome.WRITTEN if changed else Outcome.FOUND), action.label
        if action.kind is ActionKind.NOTIFY:  # pragma: no cover - _apply routes these
            raise AssertionError("chat notifications are posted by _notify")
        marker = note_marker(action, versioned=not (action.edit_in_place and writer.edits_in_place))
        fingerprint = action.content_fingerprint
        found = writer.find_note(ticket, marker=marker)
        if found is None:
            ref = writer.post_note(
                ticket,
                body=action.body,
                marker=marker,
                fingerprint=fingerprint,
                internal=action.internal,
            )
            return Outcome.WRITTEN, ref
        if marker == action.marker and _differs(found, action):
            writer.edit_note(
                ticket, found.ref, body=action.body, marker=marker, fingerprint=fingerprint
            )
            return Outcome.WRITTEN, found.ref
        return Outcome.FOUND, found.ref

    def _deleted(self, action: Action, reason: str) -> Applied:
        """The ticket was deleted since this was planned: recorded once as deleted (which drops
        this action and the ticket's others), never retried as a failure."""
        self.tried.add(action.idempotency_key)
        if not self.store.mark_deleted(
            source=action.source, change_key=action.ticket_key, reason=reason, actor=self.worker
        ):
            # recorded already (its actions were dropped then) or never stored: drop this one
            self.store.ledger_dropped(
                action.idempotency_key, error=reason[:500], worker=self.worker
            )
        logger.info("{} {}: the ticket is deleted; not written", action.ticket_key, action.purpose)
        self._observe(action, Outcome.DELETED)
        return Applied(action, Outcome.DELETED)

    def _failed(self, action: Action, error: str) -> None:
        failure = Failure(
            source=action.source,
            ticket_key=action.ticket_key,
            kind=action.kind.value,
            purpose=action.purpose,
            error=error[:500],
        )
        with self._lock:
            self.tried.add(action.idempotency_key)
            self.failures.append(failure)
        self.store.ledger_failed(action.idempotency_key, error=error[:500], worker=self.worker)
        self._audit(action, "failed", error=error[:500])

    def _audit(self, action: Action, outcome: str, **detail: str) -> None:
        """The audit link of an action's outcome: what it was for, its key, and `detail`."""
        self.store.append_audit(
            source=action.source,
            ticket_key=action.ticket_key,
            event=f"action.{action.kind.value}.{outcome}",
            actor=self.worker,
            detail={
                "purpose": action.purpose,
                "idempotency_key": action.idempotency_key,
                **detail,
            },
        )


def note_marker(action: Action, *, versioned: bool = True) -> str:
    """The marker left on the ticket: the purpose alone for a note edited in place; where
    every version is a note of its own, purpose plus the version: its key where it names the
    version it follows (content that comes back is a new note), else its content."""
    if not versioned:
        return action.marker
    version = action.idempotency_key[-16:] if action.follows else action.content_fingerprint[:16]
    return f"{action.marker}:{version}"


def _differs(found: Note, action: Action) -> bool:
    """Whether a note edited in place says something else than the action: by the fingerprint
    it was written with where the system keeps one, else by its text."""
    if found.fingerprint is not None:
        return found.fingerprint != action.content_fingerprint
    return _text(found.body) != _text(action.body)


def _text(body: str) -> str:
    """Bodies compare without trailing blanks (a ticket system may trim them)."""
    return "\n".join(line.rstrip() for line in body.strip().splitlines())
