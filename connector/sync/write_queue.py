"""Writes side by side across ledger pages: a rolling queue of per-ticket groups.

The executor hands over its pending actions page by page (ledger order) and how to apply one.
Items are grouped by ticket; a group runs on one thread, in order, so a ticket never has two
writes in flight and its writes land in the order they were planned. Threads do not wait for a
page to finish: the next page is read while the current one's last groups run, and its groups
join the queue at once, so every thread stays busy until the ledger is done.

Batches. The items taken into the queue at one time form a batch (usually one ledger page).
`before(batch)` runs before any of its items, `after(batch, results)` once all of them have run
(also when a stop left some unapplied: `results` then lacks them). While a batch is between
those two calls it owns its tickets: an item of a later page whose ticket a running batch owns
waits, with its ticket's later items, for a later batch. So a hook may write to every ticket of
its batch (one bulk call before, one after) without racing a write on any of them.

A run keeps no result past its batch: it returns how many results came out as each
`tally(result)` (a count of outcomes, say), so its memory stays a few batches deep however many
items the ledger holds.

A failure stops the round: no group starts after it, each running group stops after its
current item, no page is read any more, and the first error is raised once the threads are
done (every batch begun has had its `after`). With one thread, everything runs in the caller's
thread, page after page.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def no_hook(*args: object) -> None:
    return None


def itself(result: object) -> Hashable:
    assert isinstance(result, Hashable)
    return result


@dataclass
class _Batch(Generic[T, R]):
    items: list[T]
    tickets: list[str]
    groups_left: int
    results: list[R] = field(default_factory=list)


@dataclass
class WriteQueue(Generic[T, R]):
    """Runs `apply` on every item of `pages` (see the module docstring); counts the results by
    `tally`."""

    key: Callable[[T], str]  # the ticket an item writes to
    apply: Callable[[T], R]
    workers: int = 1
    # Read another page when fewer items than this wait to start (a page's worth: the next
    # page is in before the threads run dry).
    refill_at: int = 500
    before: Callable[[Sequence[T]], None] = no_hook
    after: Callable[[Sequence[T], Sequence[R]], None] = no_hook
    tally: Callable[[R], Hashable] = itself
    name: str = "write"

    def run(self, pages: Iterator[Sequence[T]]) -> Counter[Hashable]:
        if self.workers <= 1:
            return self._serial(pages)
        return _Rolling(self, pages).run()

    def _serial(self, pages: Iterator[Sequence[T]]) -> Counter[Hashable]:
        results: Counter[Hashable] = Counter()
        for page in pages:
            if not page:
                continue
            self.before(page)
            done: list[R] = []
            try:
                for item in page:
                    done.append(self.apply(item))
            finally:
                results.update(map(self.tally, done))
                self.after(page, done)
        return results


class _Rolling(Generic[T, R]):
    """The state of one run with threads; every field is guarded by `cond`."""

    def __init__(self, queue: WriteQueue[T, R], pages: Iterator[Sequence[T]]) -> None:
        self.q = queue
        self.pages = pages
        self.cond = threading.Condition()
        self.waiting: OrderedDict[str, list[T]] = OrderedDict()  # read, in no batch yet
        self.waiting_items = 0
        self.owned: set[str] = set()  # tickets of the batches between before and after
        self.ready: deque[tuple[_Batch[T, R], list[T]]] = deque()  # groups not started
        self.unstarted = 0  # items in `ready`
        self.batches = 0  # begun, `after` not yet called
        self.finished: list[_Batch[T, R]] = []  # all groups done, `after` not yet called
        self.exhausted = False
        self.closing = False
        self.errors: list[BaseException] = []
        self.results: Counter[Hashable] = Counter()

    # -- the caller's thread: reads pages, forms batches, runs the hooks ---------------------

    def run(self) -> Counter[Hashable]:
        threads = [
            threading.Thread(target=self._work, name=f"{self.q.name}-{i}", daemon=True)
            for i in range(self.q.workers)
        ]
        for thread in threads:
            thread.start()
        try:
            self._dispatch()
        except BaseException as exc:  # a page that cannot be read, a hook that failed
            with self.cond:
                self.errors.append(exc)
            self._drain()
        finally:
            with self.cond:
                self.closing = True
                self.cond.notify_all()
            for thread in threads:
                thread.join()
        if self.errors:
            raise self.errors[0]
        return self.results

    def _dispatch(self) -> None:
        while True:
            self._close_finished()
            with self.cond:
                if self.errors:
                    break
                if self.exhausted and not self.waiting and self.batches == 0:
                    return
                want_page = not self.exhausted and self.unstarted + self.waiting_items < (
                    self.q.refill_at
                )
                free = [t for t in self.waiting if t not in self.owned]
                want_batch = bool(free) and self.unstarted < self.q.refill_at
                if not (want_page or want_batch or self.finished):
                    self.cond.wait()
                    continue
            if want_page:
                self._read_page()
            elif want_batch:
                self._begin(free)
        self._drain()

    def _read_page(self) -> None:
        page = next(self.pages, None)
        with self.cond:
            if page is None:
                self.exhausted = True
                return
            for item in page:
                self.waiting.setdefault(self.q.key(item), []).append(item)
            self.waiting_items += len(page)

    def _begin(self, tickets: list[str]) -> None:
        with self.cond:
            groups = [self.waiting.pop(t) for t in tickets]
            items = [item for group in groups for item in group]
            self.waiting_items -= len(items)
            self.owned.update(tickets)
            self.batches += 1
        batch: _Batch[T, R] = _Batch(items, tickets, groups_left=len(groups))
        try:
            self.q.before(items)
        except BaseException:
            with self.cond:  # nothing of it ran: its tickets are free again
                self.owned.difference_update(tickets)
                self.batches -= 1
            raise
        with self.cond:
            self.ready.extend((batch, group) for group in groups)
            self.unstarted += len(items)
            self.cond.notify_all()

    def _close_finished(self) -> None:
        """`after` for each batch whose groups are all done, then its tickets are free."""
        while True:
            with self.cond:
                if not self.finished:
                    return
                batch = self.finished.pop(0)
            try:
                self.q.after(batch.items, batch.results)
            finally:
                with self.cond:
                    self.owned.difference_update(batch.tickets)
                    self.batches -= 1

    def _drain(self) -> None:
        """After a failure: no group starts any more; wait for the running ones and close
        every batch begun (each gets its `after`)."""
        with self.cond:
            while self.ready:  # dropped, never started: their actions stay pending
                batch, group = self.ready.popleft()
                self.unstarted -= len(group)
                self._group_done(batch, [])
        while True:
            try:
                self._close_finished()
            except BaseException as exc:
                with self.cond:
                    self.errors.append(exc)
            with self.cond:
                if self.batches == 0:
                    return
                if not self.finished:
                    self.cond.wait()

    # -- the writing threads ----------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self.cond:
                while not self.ready and not self.closing:
                    self.cond.wait()
                if not self.ready:
                    return
                batch, group = self.ready.popleft()
                self.unstarted -= len(group)
                self.cond.notify_all()  # the dispatcher may read the next page now
            done: list[R] = []
            for item in group:
                with self.cond:
                    if self.errors:  # a failure elsewhere: the rest stays pending
                        break
                try:
                    done.append(self.q.apply(item))
                except BaseException as exc:
                    with self.cond:
                        self.errors.append(exc)
                    break
            with self.cond:
                self._group_done(batch, done)
                self.cond.notify_all()

    def _group_done(self, batch: _Batch[T, R], done: list[R]) -> None:
        batch.results += done
        self.results.update(map(self.q.tally, done))
        batch.groups_left -= 1
        if batch.groups_left == 0:
            self.finished.append(batch)
