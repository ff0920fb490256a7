"""The executor's concurrent writes over a real store (SQLite and PostgreSQL): tickets side by
side, each ticket's writes one at a time and in ledger order, each write once; a transient error
stops the round (nothing of that ticket after it is tried) and the next round does the rest.
The fence: a ticket with a claim of another worker is not written until that claim's lease and
the grace after it have passed, then it is read again first; no request of a write goes out
after its own lease ran out."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from store_fixtures import fixture_open_store, fixture_store, fixture_store_url  # noqa: F401

from connector.core.errors import LeaseExpired, TransientError
from connector.core.planner import Action, ActionKind
from connector.store import Store
from connector.sync.executor import Executor, Outcome
from connector.sync.recording import record_action
from connector.systems import http
from connector.systems.writers import Note, PlannedNote

SOURCE = "acme-jira"
TICKETS = [f"T{n:02}" for n in range(12)]
LABELS = ["a", "b", "c"]


class SlowWriter:
    """Each label write takes 20 ms; what ran when, on which ticket, is kept."""

    edits_in_place = True

    def __init__(self, fail_on: str | None = None) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, float, float]] = []  # ticket, label, start, end
        self.in_flight: dict[str, int] = {}
        self.overlaps: list[str] = []
        self.fail_on = fail_on
        self.forgotten: list[tuple[str, int]] = []  # ticket, writes made before

    def set_label(self, ticket: str, label: str, *, present: bool) -> bool:
        with self.lock:
            self.in_flight[ticket] = self.in_flight.get(ticket, 0) + 1
            if self.in_flight[ticket] > 1:
                self.overlaps.append(ticket)
        start = time.monotonic()
        try:
            if f"{ticket}:{label}" == self.fail_on:
                self.fail_on = None
                raise TransientError(f"{ticket}: 503")
            time.sleep(0.02)
            return True
        finally:
            with self.lock:
                self.in_flight[ticket] -= 1
                self.calls.append((ticket, label, start, time.monotonic()))

    def find_note(self, ticket: str, *, marker: str) -> Note | None:  # pragma: no cover
        raise AssertionError("labels only")

    def post_note(self, ticket: str, **_: object) -> str:  # pragma: no cover
        raise AssertionError("labels only")

    def edit_note(self, ticket: str, ref: str, **_: object) -> None:  # pragma: no cover
        raise AssertionError("labels only")

    def move(self, ticket: str, steps: Sequence[str], *, reason: str = "") -> bool:
        raise AssertionError("labels only")  # pragma: no cover

    def recall(self, tickets: Sequence[str]) -> None:
        """Nothing to read again: this writer holds every ticket."""

    def before_notes(self, notes: Sequence[PlannedNote]) -> None:  # pragma: no cover
        raise AssertionError("labels only")

    def after_notes(self, notes: Sequence[PlannedNote]) -> None:  # pragma: no cover
        raise AssertionError("labels only")

    def forget(self, ticket: str) -> None:
        with self.lock:
            self.forgotten.append((ticket, len(self.calls)))


def plan(store: Store) -> None:
    with store.transaction() as tx:
        for ticket in TICKETS:
            for i, label in enumerate(LABELS):
                key = f"k-{ticket}-{i}"  # ledger order within a moment: by key
                action = Action(
                    kind=ActionKind.LABEL,
                    source=SOURCE,
                    ticket_key=ticket,
                    native_id=f"id-{ticket}",
                    purpose=f"label-{label}",
                    content_fingerprint=label * 8,
                    idempotency_key=key,
                    marker=f"label-{label}",
                    label=label,
                )
                assert record_action(tx, action)


def executor(store: Store, writer: SlowWriter, **fence: Any) -> Executor:
    return Executor(
        store=store,
        writer=writer,  # type: ignore[arg-type]
        worker="w1",
        lease_seconds=60,
        concurrency=4,
        **fence,
    )


def most_at_once(calls: list[tuple[str, str, float, float]]) -> int:
    events = sorted([(c[2], 1) for c in calls] + [(c[3], -1) for c in calls])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_tickets_side_by_side_each_ticket_in_order_each_write_once(store: Store) -> None:
    plan(store)
    writer = SlowWriter()
    outcomes = executor(store, writer).apply_pending(SOURCE)
    assert outcomes == {Outcome.WRITTEN: len(TICKETS) * len(LABELS)}
    assert writer.overlaps == []
    assert 2 <= most_at_once(writer.calls) <= 4
    for ticket in TICKETS:
        assert [
            c[1] for c in sorted(writer.calls, key=lambda c: c[2]) if c[0] == f"id-{ticket}"
        ] == LABELS
    assert store.ledger_pending(source=SOURCE, now=datetime.now(UTC)) == []
    assert executor(store, writer).apply_pending(SOURCE) == {}


def test_a_transient_error_stops_the_round_and_the_next_round_does_the_rest(store: Store) -> None:
    plan(store)
    writer = SlowWriter(fail_on="id-T03:a")
    first = executor(store, writer)
    with pytest.raises(TransientError, match="T03"):
        first.apply_pending(SOURCE)
    # nothing of that ticket after its failed write was tried
    assert [c[1] for c in writer.calls if c[0] == "id-T03"] == ["a"]
    assert [f.ticket_key for f in first.failures] == ["T03"]
    left = store.ledger_pending(source=SOURCE, now=datetime.now(UTC))
    assert {e.idempotency_key for e in left} >= {"k-T03-0", "k-T03-1", "k-T03-2"}
    done_first = len(writer.calls) - 1
    second = executor(store, writer).apply_pending(SOURCE)
    assert second == {Outcome.WRITTEN: len(TICKETS) * len(LABELS) - done_first}
    written = [(c[0], c[1]) for c in writer.calls if (c[0], c[1]) != ("id-T03", "a")]
    assert len(written) == len(set(written))  # no write twice
    assert writer.overlaps == []
    assert store.ledger_pending(source=SOURCE, now=datetime.now(UTC)) == []


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def fenced_executor(store: Store, writer: SlowWriter, clock: Clock) -> Executor:
    return executor(store, writer, grace_seconds=20, clock=clock)


def test_a_dead_workers_claim_fences_its_ticket_until_lease_and_grace_have_passed(
    store: Store,
) -> None:
    plan(store)
    clock = Clock()
    # a worker claimed T03's second label and died: its write may still be in flight
    assert store.ledger_claim(
        "k-T03-1",
        source=SOURCE,
        ticket_key="T03",
        action="label-b",
        content_fingerprint="b" * 8,
        worker="w0",
        lease_seconds=60,
        now=clock(),
    )
    writer = SlowWriter()
    clock.at(1)
    first = fenced_executor(store, writer, clock).apply_pending(SOURCE)
    assert first == {Outcome.WRITTEN: (len(TICKETS) - 1) * 3, Outcome.HELD: 2}
    assert [c for c in writer.calls if c[0] == "id-T03"] == []
    clock.at(79)  # the lease has run out, the grace after it not yet
    assert fenced_executor(store, writer, clock).apply_pending(SOURCE) == {Outcome.HELD: 2}
    assert [c for c in writer.calls if c[0] == "id-T03"] == []
    assert writer.forgotten == []
    clock.at(81)
    last = fenced_executor(store, writer, clock).apply_pending(SOURCE)
    assert last == {Outcome.WRITTEN: 3}
    t03 = sorted((c for c in writer.calls if c[0] == "id-T03"), key=lambda c: c[2])
    assert [c[1] for c in t03] == LABELS
    # read again before its first write: what was read before the lapse may be stale
    assert writer.forgotten[0] == ("id-T03", (len(TICKETS) - 1) * 3)
    assert store.ledger_pending(source=SOURCE, now=clock()) == []


class LateWriter(SlowWriter):
    """T05's label write makes two requests; the lease runs out between them."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.sent: list[str] = []

    def set_label(self, ticket: str, label: str, *, present: bool) -> bool:
        def request() -> bool:
            self.sent.append(f"{ticket}:{label}")
            return True

        http.call(request, source=SOURCE, what="read labels")
        if ticket == "id-T05":
            self.clock.at(61)
        return http.call(request, source=SOURCE, what="edit labels")


def test_no_request_of_a_write_goes_out_after_its_lease_ran_out(store: Store) -> None:
    plan(store)
    clock = Clock()
    writer = LateWriter(clock)
    run = fenced_executor(store, writer, clock)
    run.concurrency = 1
    with pytest.raises(LeaseExpired, match="lease ran out"):
        run.apply_pending(SOURCE)
    assert writer.sent.count("id-T05:a") == 1  # its read; the edit was not sent
    assert [f.ticket_key for f in run.failures] == ["T05"]
    entry = store.ledger_get("k-T05-0")
    assert entry is not None and entry.state == "failed"  # tried again later
