"""The window index: which systems a change's planned window blocks, and when two overlap.

Pure. The pipeline stores a change's index rows with its evaluation, reads the rows of other
changes on the same systems into the policy's `Context` (schedule conflicts), and, when a
change's rows move, evaluates again the changes whose windows overlap the old or the new ones.
`WindowIndex` hands each change only the windows that overlap its own: a batch's read spans
the windows of all its changes, and handing each change all of them made evaluation grow
with the number of changes stored.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from connector.core.model import Change, Status
from connector.core.policy import Window

# A change's window blocks its systems from the moment it is approved until it is implemented.
# A window index row: (system, start, end, holds the window).
Entry = tuple[str, datetime, datetime, bool]

HOLDS_WINDOW = {Status.APPROVED, Status.SCHEDULED, Status.IMPLEMENTING}
NO_WINDOW = {Status.CLOSED, Status.REJECTED, Status.CANCELLED}


def entries(change: Change) -> set[Entry]:
    """The window index rows of a change: (system, start, end, holds the window)."""
    start, end = change.planned_start, change.planned_end
    if start is None or end is None or change.status in NO_WINDOW:
        return set()
    held = change.status in HOLDS_WINDOW
    return {(system, start, end, held) for system in change.affected_systems}


def windows_of(change: Change) -> Iterable[Window]:
    for system, start, end, held in sorted(entries(change)):
        yield Window(key=change.key, system=system, start=start, end=end, approved=held)


class WindowIndex:
    """Windows by system, sorted by start: the ones overlapping a span, found by bisection."""

    def __init__(self, windows: Iterable[Window]) -> None:
        by_system: dict[str, list[Window]] = {}
        for window in windows:
            by_system.setdefault(window.system, []).append(window)
        self._starts: dict[str, list[datetime]] = {}
        self._windows: dict[str, list[Window]] = {}
        # The longest window of a system bounds how early an overlapping one can start.
        self._longest: dict[str, timedelta] = {}
        for system, found in by_system.items():
            found.sort(key=lambda w: w.start)
            self._windows[system] = found
            self._starts[system] = [w.start for w in found]
            self._longest[system] = max(w.end - w.start for w in found)

    def overlapping(self, change: Change) -> list[Window]:
        """The windows on the change's systems that share some time with its planned window
        (none when it has none: only those can conflict with it)."""
        start, end = change.planned_start, change.planned_end
        if start is None or end is None:
            return []
        return [w for system in change.affected_systems for w in self.on(system, start, end)]

    def on(self, system: str, start: datetime, end: datetime) -> list[Window]:
        """The windows on `system` that share some time with [start, end)."""
        found: Sequence[Window] = self._windows.get(system, ())
        if not found:
            return []
        starts = self._starts[system]
        first = bisect_left(starts, start - self._longest[system])
        last = bisect_left(starts, end)
        return [w for w in found[first:last] if w.end > start]
