"""The webhook intake's group commit: one thread writes the queued deliveries to the inbox, a
batch per transaction, and answers each waiting request once its batch has committed.

`webhooks.build_app` makes one `InboxWriter` per app and the intake awaits `add` before it answers
202, so a delivery is only acknowledged once stored; a slow or locked database stalls only the
requests waiting for it, never the event loop.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from contextlib import suppress

from connector.core.errors import TransientError
from connector.store import Store
from connector.store.inbox import Intake, IntakeLimits, NewDelivery

#: Deliveries one inbox transaction takes at most.
MAX_BATCH = 256


_Waiter = tuple[NewDelivery, asyncio.AbstractEventLoop, "asyncio.Future[Intake]"]


class InboxWriter:
    """Group commit: one thread writes queued deliveries to the inbox, a batch per transaction.

    `add` is awaited by the request handler and resolves once the delivery's transaction has
    committed: "accepted", "duplicate" or "full" (not stored: the inbox holds the most pending
    rows allowed); a store outage raises `TransientError`. A
    batch that fails for any other reason is retried one delivery per transaction, so one bad
    delivery cannot refuse its neighbours.
    """

    def __init__(
        self, store: Store, *, limits: IntakeLimits = IntakeLimits(), max_batch: int = MAX_BATCH
    ) -> None:
        self.store = store
        self.limits = limits
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Waiter | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def add(self, delivery: NewDelivery) -> Intake:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Intake] = loop.create_future()
        self._start()
        self._queue.put((delivery, loop, future))
        return await future

    def close(self) -> None:
        """Write what is queued, then stop the thread (it starts again on the next `add`)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Waiter]) -> None:
        outcomes: list[Intake | BaseException]
        try:
            deliveries = [d for d, _, _ in batch]
            outcomes = list(self.store.inbox_intake(deliveries, limits=self.limits))
        except TransientError as exc:
            outcomes = [exc] * len(batch)
        except Exception as exc:
            if len(batch) > 1:
                for one in batch:
                    self._write([one])
                return
            outcomes = [exc]
        for (_, loop, future), outcome in zip(batch, outcomes, strict=True):
            # RuntimeError: the loop has closed, so nobody waits for this answer.
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, outcome)


def _settle(future: asyncio.Future[Intake], outcome: Intake | BaseException) -> None:
    if future.done():  # the request was cancelled (client gone); the row stays, deduped
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
