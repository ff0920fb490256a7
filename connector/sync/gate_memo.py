"""Deployment gates, fast path: the stored changes and their policy inputs held in memory per
store generation, so a gate decision costs the decision alone, not a store read.

`GateMemo.view(generation)` answers with a `GateView` loaded at or after `generation` (see
`store.gate_snapshot`): every live change parsed once (a change whose stored JSON did not change
since the previous generation is not parsed again), indexed by key and by the systems of its
planned windows, with its board decisions, approval bases and other changes' windows as the
policy takes them. The caller reads the generation after the question arrived, so an answer never
rests on data older than the last commit before it: any write (another process's too) moves the
generation and the next question loads a new view. `GateView.evaluate` decides exactly as
`gates.evaluate` does from per-request reads (same candidates in the same order, same `Context`).
Stores that cannot tell a generation (in-memory SQLite) and stores with more than `VIEW_LIMIT`
changes are read per request (`gates.evaluate`); so is PostgreSQL by the gate front (its
generation moves with any transaction on the server).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import blake2b
from typing import Any, TypeVar

from connector.core.deploy import Deployment, GateDecision, decide, find_change
from connector.core.model import Change
from connector.core.policy import ApprovalBasis, BoardDecision, Context, Window
from connector.core.policy.facts import covered_fields
from connector.settings import Settings
from connector.store import Store
from connector.store.records import BasisRow, BoardRow, WindowRow
from connector.sync.gates import basis_of, board_of, window_of

#: Above this many stored changes a view costs more memory and load time than it saves.
VIEW_LIMIT = 20_000

_Id = tuple[str, str]  # (source, key)


@dataclass(frozen=True, slots=True)
class _Entry:
    source: str
    change: Change
    covered: dict[str, str]  # its covered_fields, computed once per stored JSON text
    order: int  # position among all live changes by (source, JSON text): the reads' order
    board: tuple[BoardDecision, ...]
    bases: tuple[ApprovalBasis, ...]


@dataclass(frozen=True, slots=True)
class GateView:
    """One generation of the store, as the gate reads it."""

    generation: str
    by_key: dict[str, list[_Entry]]  # ordered by source
    by_system: dict[str, list[_Entry]]  # live changes with a planned window on the system
    windows: dict[tuple[str, str], list[tuple[tuple[datetime, str, str], Window]]]
    # Per entry (by id): other changes' windows overlapping its own, built at its first decision.
    overlaps: dict[int, list[Window]] = field(default_factory=dict)

    def evaluate(
        self, *, settings: Settings, deployment: Deployment, now: datetime
    ) -> GateDecision:
        """`gates.evaluate` answered from this view."""
        deploy = settings.deploy
        entry = None
        if deploy.gated(deployment.environment) or deployment.change_key:
            entry = self._choose(deployment, deploy.systems_of(deployment.service), settings)
        if entry is None:
            context = Context(now=now, policy=settings.policy)
            change = None
        else:
            change = entry.change
            overlaps = self.overlaps.get(id(entry))
            if overlaps is None:
                overlaps = self.overlaps[id(entry)] = self._windows(change)
            context = Context(
                now=now,
                policy=settings.policy,
                windows=overlaps,
                board=entry.board,
                bases=entry.bases,
                covered=entry.covered,
            )
        return decide(
            deployment=deployment, change=change, context=context, settings=deploy, now=now
        )

    def _choose(
        self, deployment: Deployment, systems: Sequence[str], settings: Settings
    ) -> _Entry | None:
        key = deployment.change_key
        if key:
            entries = self.by_key.get(key, [])
        else:
            found = {id(e): e for s in set(systems) for e in self.by_system.get(s, ())}
            entries = sorted(found.values(), key=lambda e: e.order)
        change = find_change([e.change for e in entries], deployment, settings.deploy)
        return next((e for e in entries if e.change is change), None)

    def _windows(self, change: Change) -> list[Window]:
        """Other changes' windows on `change`'s systems that overlap its planned window."""
        start, end = change.planned_start, change.planned_end
        if start is None or end is None or not change.affected_systems:
            return []
        source = change.source.instance
        hits = [
            (order, window)
            for system in set(change.affected_systems)
            for order, window in self.windows.get((source, system), ())
            if window.start < end and window.end > start and window.key != change.key
        ]
        hits.sort(key=_first)
        return [window for _, window in hits]


R = TypeVar("R")
B = TypeVar("B")


def _reuse(row: R, before: dict[R, B], now: dict[R, B], build: Callable[[R], B]) -> B:
    """What `row` was built into for the previous view, else built now; kept for the next."""
    built = before.get(row)
    if built is None:
        built = build(row)
    now[row] = built
    return built


def _window_of(item: tuple[str, WindowRow]) -> Window:
    return window_of(item[1])


def _first(hit: tuple[tuple[datetime, str, str], Window]) -> tuple[datetime, str, str]:
    return hit[0]


class GateMemo:
    """The current `GateView` of a store, reloaded when the store's generation moves."""

    def __init__(self, store: Store, *, limit: int = VIEW_LIMIT) -> None:
        self.store, self.limit = store, limit
        self._view: GateView | None = None
        self._too_big: str | None = None  # the generation found above the limit
        # By a 128-bit digest of the stored JSON text (the text itself would double the memory).
        self._parsed: dict[bytes, tuple[Change, dict[str, str]]] = {}
        # The previous view's policy inputs by their rows: a reload builds only what changed.
        self._boards: dict[BoardRow, BoardDecision] = {}
        self._bases: dict[BasisRow, ApprovalBasis] = {}
        self._windows: dict[tuple[str, WindowRow], Window] = {}
        self._lock = threading.Lock()

    def current(self, generation: str | None) -> GateView | None:
        """The view of `generation` if it is loaded (cheap: no store access)."""
        view = self._view
        return view if view is not None and view.generation == generation else None

    def view(self, generation: str | None) -> GateView | None:
        """A view loaded at or after `generation` was read (None: read per request)."""
        if generation is None:
            return None
        with self._lock:
            view = self.current(generation)
            if view is not None or self._too_big == generation:
                return view
            if self.store.count_changes() > self.limit:
                self._too_big, self._view, self._parsed = generation, None, {}
                return None
            self._view = view = self._load(generation)
            return view

    def _load(self, generation: str) -> GateView:
        snap = self.store.gate_snapshot()
        parsed: dict[bytes, tuple[Change, dict[str, str]]] = {}
        boards: dict[BoardRow, BoardDecision] = {}
        bases: dict[BasisRow, ApprovalBasis] = {}
        windows_built: dict[tuple[str, WindowRow], Window] = {}
        no_rows: list[Any] = []

        def board_rows(source: str, key: str) -> list[BoardRow]:
            return snap.board.get((source, key), no_rows)

        def basis_rows(source: str, key: str) -> list[BasisRow]:
            return snap.bases.get((source, key), no_rows)

        by_key: dict[str, list[_Entry]] = {}
        by_system: dict[str, list[_Entry]] = {}
        entries: dict[_Id, _Entry] = {}
        for order, (source, key, _fingerprint, data) in enumerate(snap.changes):
            digest = blake2b(data.encode(), digest_size=16).digest()
            known = self._parsed.get(digest)
            if known is None:
                change = Change.from_json(data)
                known = (change, covered_fields(change))
            parsed[digest] = known
            entry = _Entry(
                source=source,
                change=known[0],
                covered=known[1],
                order=order,
                board=tuple(
                    _reuse(b, self._boards, boards, board_of) for b in board_rows(source, key)
                ),
                bases=tuple(
                    _reuse(b, self._bases, bases, basis_of) for b in basis_rows(source, key)
                ),
            )
            entries[source, key] = entry
            by_key.setdefault(key, []).append(entry)
        for same_key in by_key.values():
            same_key.sort(key=lambda e: e.source)
        windows: dict[tuple[str, str], list[tuple[tuple[datetime, str, str], Window]]] = {}
        for source, rows in snap.windows.items():
            for r in rows:
                windows.setdefault((source, r.system), []).append(
                    (
                        (r.starts_at, r.change_key, r.system),
                        _reuse((source, r), self._windows, windows_built, _window_of),
                    )
                )
                live = entries.get((source, r.change_key))
                if live is not None:
                    by_system.setdefault(r.system, []).append(live)
        self._parsed, self._boards, self._bases, self._windows = (
            parsed,
            boards,
            bases,
            windows_built,
        )
        return GateView(generation=generation, by_key=by_key, by_system=by_system, windows=windows)
