"""ServiceNow work-note markers, as pure values: the `[cc:<marker>]` tag ending a note and the
markers a change's journal holds.

The adapter (servicenow.py) writes a note with its tag, reads the markers from the journal
fields every page of changes carries, and remembers them per change (the newest `REMEMBERED`
changes), so a marker check costs no call; a note is found again by its reference
`<sys_id>/<journal field>/<marker>`.
"""

from __future__ import annotations

import re
from typing import Any

JOURNAL_FIELDS = ("work_notes", "comments")
_MARKER = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_TAGS = re.compile(r"\[cc:([A-Za-z0-9._:-]{1,100})\]")
REMEMBERED = 2_500  # changes whose journal markers are kept (as `jira_seen.CACHE_ISSUES`)


def marker_tag(marker: str) -> str:
    """The tag that ends a work note written with `marker`: `[cc:<marker>]`."""
    if not _MARKER.match(marker):
        raise ValueError(f"marker {marker!r}: use letters, digits and . _ : - (at most 100)")
    return f"[cc:{marker}]"


def remember(known: dict[str, dict[str, str]], sys_id: str, values: dict[str, str]) -> None:
    """Keep `values` for `sys_id`, newest last; the oldest make room past `REMEMBERED`."""
    known.pop(sys_id, None)
    if len(known) >= REMEMBERED:
        del known[next(iter(known))]
    known[sys_id] = values


def refreshed(known: dict[str, dict[str, str]], sys_id: str) -> bool:
    """Make what is kept for `sys_id` the newest (so reading others in does not push it out);
    False when nothing is kept for it."""
    values = known.pop(sys_id, None)
    if values is None:
        return False
    known[sys_id] = values
    return True


def journal_markers(row: dict[str, Any]) -> dict[str, str]:
    """{marker: journal field} of the `[cc:<marker>]` tags in a row's journal fields' display
    values (the entries, newest first; a value cell carries its display_value)."""
    out: dict[str, str] = {}
    for field in JOURNAL_FIELDS:
        cell = row.get(field)
        text = cell.get("display_value") if isinstance(cell, dict) else cell
        for tag in _TAGS.findall(str(text or "")):
            out.setdefault(tag, field)
    return out


def note_ref(sys_id: str, field: str, marker: str) -> str:
    return f"{sys_id}/{field}/{marker}"
