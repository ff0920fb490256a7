"""The rolling write queue: tickets side by side across pages, one ticket's items one at a time
and in order; threads do not wait for a page's slowest ticket; batch hooks own their tickets;
a failure stops the round."""

from __future__ import annotations

import gc
import threading
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest

from connector.sync.write_queue import WriteQueue

Item = tuple[str, int]  # (ticket, n-th item of that ticket)


class Recorder:
    """Applies items, keeping what ran, in which order, and any two items of one ticket (or
    an item and a hook of a batch owning its ticket) that overlapped."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy: dict[str, int] = {}
        self.overlaps: list[str] = []
        self.order: list[Item] = []
        self.threads: set[str] = set()

    def enter(self, ticket: str) -> None:
        with self.lock:
            self.busy[ticket] = self.busy.get(ticket, 0) + 1
            if self.busy[ticket] > 1:
                self.overlaps.append(ticket)

    def leave(self, ticket: str) -> None:
        with self.lock:
            self.busy[ticket] -= 1

    def apply(self, item: Item) -> Item:
        self.enter(item[0])
        try:
            with self.lock:
                self.order.append(item)
                self.threads.add(threading.current_thread().name)
            return item
        finally:
            self.leave(item[0])


def pages_of(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def spread(tickets: int, per_ticket: int) -> list[Item]:
    """Items interleaved across tickets, so each ticket's items straddle pages."""
    return [(f"T{t}", n) for n in range(per_ticket) for t in range(tickets)]


@pytest.mark.parametrize("workers", [1, 4])
def test_every_item_once_each_ticket_in_order_never_two_at_once(workers: int) -> None:
    items = spread(tickets=9, per_ticket=7)
    rec = Recorder()
    queue = WriteQueue(key=lambda i: i[0], apply=rec.apply, workers=workers, refill_at=10)
    results = queue.run(pages_of(items, 10))
    assert results == Counter(items)
    assert sorted(rec.order) == sorted(items)
    assert rec.overlaps == []
    for t in range(9):
        assert [n for ticket, n in rec.order if ticket == f"T{t}"] == list(range(7))
    if workers == 1:  # everything in the caller's thread
        assert rec.threads == {threading.current_thread().name}


def test_threads_do_not_wait_for_a_pages_slowest_ticket() -> None:
    """The slow ticket of page 1 finishes only once page 2's items have run: a queue that
    waited for page 1 to finish before reading page 2 would never release it."""
    released = threading.Event()
    second_page = [("B1", 0), ("B2", 0), ("B3", 0)]
    ran: list[Item] = []

    def apply(item: Item) -> Item:
        if item == ("SLOW", 0):
            assert released.wait(30), "page 2 did not start while page 1's slow ticket ran"
        ran.append(item)
        if all(i in ran for i in second_page):
            released.set()
        return item

    pages = iter([[("SLOW", 0), ("A1", 0), ("A2", 0)], second_page])
    queue = WriteQueue(key=lambda i: i[0], apply=apply, workers=2, refill_at=3)
    assert queue.run(pages).total() == 6
    assert ran.index(("SLOW", 0)) == 5


def test_a_batch_owns_its_tickets_from_before_to_after() -> None:
    items = spread(tickets=6, per_ticket=5)
    rec = Recorder()
    open_batches: list[set[str]] = []
    calls: list[tuple[str, int]] = []
    lock = threading.Lock()

    def before(batch: Sequence[Item]) -> None:
        tickets = {t for t, _ in batch}
        with lock:
            for other in open_batches:
                assert not tickets & other, "two open batches own one ticket"
            open_batches.append(tickets)
            calls.append(("before", len(batch)))
        for ticket in tickets:  # a bulk write on each of its tickets
            rec.enter(ticket)
            rec.leave(ticket)

    def after(batch: Sequence[Item], results: Sequence[Item]) -> None:
        tickets = {t for t, _ in batch}
        assert sorted(results) == sorted(batch)  # all of it ran
        for ticket in tickets:
            rec.enter(ticket)
            rec.leave(ticket)
        with lock:
            open_batches.remove(tickets)
            calls.append(("after", len(batch)))

    queue = WriteQueue(
        key=lambda i: i[0], apply=rec.apply, workers=3, refill_at=4, before=before, after=after
    )
    assert queue.run(pages_of(items, 4)) == Counter(items)
    assert rec.overlaps == []
    assert open_batches == []
    befores = [n for what, n in calls if what == "before"]
    assert sum(befores) == len(items)
    assert sorted(befores) == sorted(n for what, n in calls if what == "after")
    for t in range(6):
        assert [n for ticket, n in rec.order if ticket == f"T{t}"] == list(range(5))


@pytest.mark.parametrize("workers", [1, 3])
def test_a_failure_stops_the_round_and_every_batch_begun_is_closed(workers: int) -> None:
    items = spread(tickets=5, per_ticket=4)
    tried: list[Item] = []
    closed: list[int] = []
    begun: list[int] = []

    def apply(item: Item) -> Item:
        tried.append(item)
        if item == ("T2", 1):
            raise RuntimeError("503")
        return item

    queue = WriteQueue(
        key=lambda i: i[0],
        apply=apply,
        workers=workers,
        refill_at=5,
        before=lambda batch: begun.append(len(batch)),
        after=lambda batch, results: closed.append(len(batch)),
    )
    with pytest.raises(RuntimeError, match="503"):
        queue.run(pages_of(items, 5))
    # nothing of the failed ticket after its failure; not every item was tried
    assert ("T2", 2) not in tried and ("T2", 3) not in tried
    assert len(tried) < len(items)
    assert sorted(begun) == sorted(closed)


def test_a_page_that_cannot_be_read_stops_the_round_after_the_running_batches() -> None:
    closed: list[int] = []

    def pages() -> Iterator[list[Item]]:
        yield [("A", 0), ("B", 0)]
        raise ConnectionError("database gone")

    queue = WriteQueue(
        key=lambda i: i[0],
        apply=lambda item: item,
        workers=2,
        refill_at=1,
        after=lambda batch, results: closed.append(len(batch)),
    )
    with pytest.raises(ConnectionError):
        queue.run(pages())
    assert closed == [2]


class Result:
    def __init__(self, item: Item) -> None:
        self.item = item


@pytest.mark.parametrize("workers", [1, 3])
def test_a_run_holds_its_results_a_few_batches_deep_and_counts_them(workers: int) -> None:
    """A run over a large ledger must not keep every result (each holds its action)."""
    refs: list[weakref.ref[Result]] = []
    alive: list[int] = []

    def apply(item: Item) -> Result:
        result = Result(item)
        refs.append(weakref.ref(result))
        return result

    def after(batch: Sequence[Item], results: Sequence[Result]) -> None:
        gc.collect()
        alive.append(sum(ref() is not None for ref in refs))

    items = spread(tickets=5, per_ticket=40)
    queue = WriteQueue(
        key=lambda i: i[0],
        apply=apply,
        workers=workers,
        refill_at=5,
        after=after,
        tally=lambda result: result.item[0],
    )
    assert queue.run(pages_of(items, 5)) == Counter({f"T{t}": 40 for t in range(5)})
    assert len(refs) == len(items) and max(alive) <= 4 * 5
