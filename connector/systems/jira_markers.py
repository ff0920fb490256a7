"""Sync markers of one Jira issue, as pure values: the `change-connector` issue property.

The property (one per issue, JSON, invisible to users, read with every search page through the
search `properties` parameter) holds every note the connector left on the issue:

    {"v": 1, "notes": {<marker>: {"ref": <comment id | null>, "fp": <content fingerprint>,
                                  "state": "pending" | "done"}}}

A note's marker is set `pending` before its comment is posted and `done`, with the comment id,
after (see `jira_notes`; on Cloud a page's markers go in bulk); a `pending` marker, left by a
crash between the two, is the one case where the comments themselves must be read (each comment
also carries the marker in its own `change-connector` property). A `done` marker without a
comment id (`ref` null) was written by an earlier version, which added public notes through an
issue edit. Jira caps a property at 32 KB: the oldest `done` markers of versioned notes (a
marker ending in a content fingerprint, one per version of a note) go first, then other `done`
markers; a `pending` marker, and the one being written, are never dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

PROPERTY_KEY = "change-connector"
VERSION = 1
LIMIT_BYTES = 32_000  # Jira refuses a value over 32768 bytes; keep a margin for its encoding

State = Literal["pending", "done"]
_VERSIONED = re.compile(r":[0-9a-f]{16}$")


@dataclass(frozen=True)
class NoteMark:
    """Where a note is (`ref`: the comment id; None while pending, or until it is recorded)
    and what it says (`fp`)."""

    ref: str | None
    fp: str
    state: State

    @property
    def pending(self) -> bool:
        return self.state == "pending"


Notes = Mapping[str, NoteMark]


def parse(raw: Any) -> dict[str, NoteMark]:
    """The notes of a property value; an absent or foreign value, or a bad entry, reads as none
    (an entry that cannot be read is no marker: the note is checked on the ticket instead)."""
    if (
        not isinstance(raw, dict)
        or raw.get("v") != VERSION
        or not isinstance(raw.get("notes"), dict)
    ):
        return {}
    notes: dict[str, NoteMark] = {}
    for marker, entry in raw["notes"].items():
        if not isinstance(entry, dict) or entry.get("state") not in ("pending", "done"):
            continue
        ref = entry.get("ref")
        notes[str(marker)] = NoteMark(
            ref=None if ref is None else str(ref),
            fp=str(entry.get("fp") or ""),
            state=entry["state"],
        )
    return notes


def pending(notes: Notes, marker: str, *, fp: str) -> dict[str, NoteMark]:
    """The notes with `marker` about to be posted."""
    return {**notes, marker: NoteMark(ref=None, fp=fp, state="pending")}


def done(notes: Notes, marker: str, *, ref: str | None, fp: str) -> dict[str, NoteMark]:
    """The notes with `marker` posted (or edited) as comment `ref` with content `fp`; `ref`
    None: posted by the request that writes this value, its comment id not known yet."""
    return {**notes, marker: NoteMark(ref=ref, fp=fp, state="done")}


def with_refs(notes: Notes, known: Notes) -> dict[str, NoteMark]:
    """`notes` with the comment ids `known` holds for the same note and content, where
    `notes` lacks them (a property read back before Jira was told the id)."""
    return {
        m: (
            known[m]
            if n.ref is None and not n.pending and m in known and known[m].fp == n.fp
            else n
        )
        for m, n in notes.items()
    }


def value(notes: Notes, *, keep: str, limit: int = LIMIT_BYTES) -> dict[str, Any]:
    """The property value for `notes`, pruned under `limit` bytes; `keep` is never pruned."""
    kept = dict(notes)
    for marker in _prune_order(kept, keep=keep):
        if _size(kept) <= limit:
            break
        del kept[marker]
    if _size(kept) > limit:
        raise ValueError(f"the {PROPERTY_KEY} property cannot be kept under {limit} bytes")
    return _value(kept)


def _prune_order(notes: Notes, *, keep: str) -> list[str]:
    """Done markers, versioned ones first, each group oldest comment first."""
    candidates = [m for m, mark in notes.items() if mark.state == "done" and m != keep]
    return sorted(candidates, key=lambda m: (_VERSIONED.search(m) is None, _age(notes[m].ref), m))


def _age(ref: str | None) -> tuple[int, str]:
    # Jira's comment ids grow with time; a ref that is not a number sorts first, and a note
    # whose id is not recorded yet (a recent post) last.
    if ref is None:
        return (1 << 62, "")
    return (int(ref), "") if ref.isdigit() else (-1, ref)


def _value(notes: Notes) -> dict[str, Any]:
    return {
        "v": VERSION,
        "notes": {m: {"ref": n.ref, "fp": n.fp, "state": n.state} for m, n in notes.items()},
    }


def _size(notes: Notes) -> int:
    return len(json.dumps(_value(notes), separators=(",", ":")).encode())
