"""Recording a batch on a thread of its own while the caller prepares the next.

A batch's transaction spends much of its time in the database driver (SQLite executes and
commits with the interpreter lock released), so a poll cycle's next batch can be read from the
store, compared and evaluated meanwhile. One batch is recorded at a time, in the order given:
`submit` waits for the batch before (and raises what it raised) before handing over the next,
so a batch whose transaction failed is never followed by a later one (a later batch's cursor
would pass the tickets of the one that failed). A batch that reads what the batch being
recorded writes (the same tickets) waits for it first (`settle_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor


class WriteBehind:
    """The recording thread of one pipeline, for one poll cycle's passes."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record")
        self._pending: Future[None] | None = None
        self._keys: frozenset[str] = frozenset()

    def submit(self, record: Callable[[], None], *, keys: Collection[str]) -> None:
        """Run `record` (one batch's transaction, over the changes `keys`) once the batch
        before is recorded; what that one raised is raised here instead."""
        self.wait()
        self._pending = self._thread.submit(record)
        self._keys = frozenset(keys)

    def settle_for(self, keys: Collection[str]) -> None:
        """Wait for the batch being recorded if it holds any of these changes."""
        if self._pending is not None and not self._keys.isdisjoint(keys):
            self.wait()

    def wait(self) -> None:
        """Wait until every batch submitted is recorded; raise what its recording raised."""
        pending, self._pending, self._keys = self._pending, None, frozenset()
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the last batch, then stop the thread (what the batch raised is raised)."""
        try:
            self.wait()
        finally:
            self._thread.shutdown(wait=True)
