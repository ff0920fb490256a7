"""Pipeline reads of other changes' planned windows: the ones near a batch's, and partners.

The policy's schedule-conflict rule needs, for each change, the approved windows overlapping
its own; a moved approved window makes the changes whose windows overlap it due again. Both
read the stored windows near the batch's (`Store.windows_near`): on each span's system, the
ones starting within the longest window of that system before it. That longest window is read
once a pass and grown by every window the pass evaluates or records (each passes here first),
so the reads of a poll cycle reach back far enough for what its earlier pages stored.
Reading the rows between a page's earliest start and latest end instead made each page read
nearly every stored window: the cost of a ticket grew with the number of tickets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial

from connector.core.model import Change
from connector.core.policy import Window
from connector.core.windows import Entry, WindowIndex, entries
from connector.store import Store, WindowRow

Span = tuple[str, datetime, datetime]  # system, start, end
FEW_SPANS = 6  # spans read one by one (see `_near_read`): a ticket or two of a webhook


class Neighbours:
    """The window reads of one source's pipeline."""

    def __init__(self, store: Store, source: str) -> None:
        self.store = store
        self.source = source
        self._reach: dict[str, timedelta] | None = None

    def rows(self, changes: Sequence[Change]) -> list[WindowRow]:
        """The approved windows stored near these changes' own (only approved windows
        conflict: `rules.schedule_conflict`); the changes' own (newer) windows are the
        evaluation's to add (`evaluation.Judge`)."""
        spans = [(s, b, e) for c in changes for s, b, e, _held in entries(c)]
        return self._near_read(spans, approved_only=True)() if spans else []

    def window_keys(self, changes: Sequence[Change]) -> dict[str, set[Entry]]:
        rows = self.store.windows_of(self.source, [c.key for c in changes])
        out: dict[str, set[Entry]] = {}
        for r in rows:
            out.setdefault(r.change_key, set()).add((r.system, r.starts_at, r.ends_at, r.approved))
        return out

    def partners_read(
        self,
        moved: Sequence[Change],
        before: Mapping[str, set[Entry]],
        *,
        not_due_at: datetime | None = None,
    ) -> Callable[[], set[str]]:
        """Changes whose window overlaps the old or new approved window of a change that moved
        (a window that is not approved conflicts with nothing, so its move changes no other
        change's findings); `not_due_at`: those not due for a recheck then (a pass evaluating
        what is due evaluates the others anyway; on a first sync, that is every one). Read when
        the returned function is called: what the read needs of this object is taken now, so
        the call may run later on another thread (the one that records the batch, which holds
        the interpreter less), while this one goes on."""
        spans: list[Entry] = []
        for change in moved:
            spans += [e for e in (*entries(change), *before.get(change.key, set())) if e[3]]
        if not spans:
            return set
        read = self._near_read(
            [(s, b, e) for s, b, e, _held in spans], approved_only=False, not_due_at=not_due_at
        )
        keys = {c.key for c in moved}

        def partners() -> set[str]:
            rows = read()
            if not rows:
                return set()
            # The moved spans indexed: the rows near them are checked against them by bisection.
            moved_spans = WindowIndex(
                Window(key="", system=s, start=b, end=e, approved=h) for s, b, e, h in spans
            )
            near = {r.change_key for r in rows if moved_spans.on(r.system, r.starts_at, r.ends_at)}
            return near - keys

        return partners

    def _near_read(
        self, spans: Sequence[Span], *, approved_only: bool, not_due_at: datetime | None = None
    ) -> Callable[[], list[WindowRow]]:
        """Stored windows that may overlap any of `spans` (callers filter the exact overlaps),
        read when the returned function is called (the longest windows as they are now). A few
        spans (a webhook's ticket) before the pass has read the longest windows:
        the overlaps of each span themselves, which costs less than reading the longest windows
        (a scan of every stored window); those are few, and not left out by `not_due_at` (it
        only spares reading what the caller evaluates anyway)."""
        if self._reach is None and len(spans) <= FEW_SPANS:
            return partial(self._overlapping, dict.fromkeys(spans), approved_only=approved_only)
        if self._reach is None:
            self._reach = self.store.window_reach(self.source)
        self.reach(spans)
        return partial(
            self.store.windows_near,
            self.source,
            spans,
            reach=dict(self._reach),
            approved_only=approved_only,
            not_due_at=not_due_at,
        )

    def _overlapping(self, spans: Iterable[Span], *, approved_only: bool) -> list[WindowRow]:
        rows = [
            row
            for system, start, end in spans
            for row in self.store.windows_overlapping(
                self.source, systems=[system], start=start, end=end
            )
            if row.approved or not approved_only
        ]
        return list({(r.change_key, r.system): r for r in rows}.values())

    def reach(self, spans: Sequence[Span]) -> None:
        """Grow the longest windows read this pass by these spans: every window the pipeline
        records passes here first, so later reads of the pass reach back far enough for them
        too (none read yet: the read, later, finds them stored)."""
        if self._reach is None:
            return
        for system, start, end in spans:
            if end - start > self._reach.get(system, timedelta(0)):
                self._reach[system] = end - start

    def refresh(self) -> None:
        """Read the longest stored windows again at the next read."""
        self._reach = None
