"""The window index: which systems a change's planned window blocks, and when two overlap.

Pure. The pipeline stores a change's index rows with its evaluation, reads the rows of other
changes on the same systems into the policy's `Context` (schedule conflicts), and, when a
change's rows move, evaluates again the changes whose windows overlap the old or the new ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

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


def overlaps(row: Entry, spans: Iterable[Entry]) -> bool:
    """Whether an index row shares a system and some time with any of `spans`."""
    system, start, end, _ = row
    return any(s == system and start < e and b < end for s, b, e, _ in spans)
