"""The deployment gate's reads: everything one gate decision needs from the store, in one read
transaction of statements built once (a gate answer is on a pipeline's critical path).

The candidates a deployment may belong to (changes with its key in any source, else the live
changes with a planned window on one of the service's systems, from the window index) are handed
to the caller's `choose`, which picks the change (pure: `core.deploy.find_change`); then the
chosen change's policy inputs are read: board decisions, approval bases, and other changes'
windows that overlap its own on its systems, as the pipeline reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, bindparam, select

from connector.store.base import StoreBase
from connector.store.policy_reads import _basis, _board, _window
from connector.store.records import BasisRow, BoardRow, WindowRow
from connector.store.schema import approval_bases, board_decisions, change_windows, changes


@dataclass(frozen=True, slots=True)
class GateTarget:
    """The change a deployment belongs to, as the gate's reads need it."""

    source: str
    key: str
    systems: tuple[str, ...]  # its affected systems
    window: tuple[datetime, datetime] | None  # its planned window


@dataclass(frozen=True, slots=True)
class GateContext:
    """What the policy reads about one change besides the change: board decisions and approval
    bases (oldest first), and other changes' windows on its systems that overlap its own."""

    board: list[BoardRow]
    bases: list[BasisRow]
    windows: list[WindowRow]


# The gate's reads are built once (a gate answer is on a pipeline's critical path): statements
# with bound parameters, so SQLAlchemy builds nothing per request and reuses its compiled form.
_LIVE = changes.c.deleted_at.is_(None)
_BY_KEY = (
    select(changes.c.source, changes.c.data)
    .where(changes.c.key == bindparam("key"), _LIVE)
    .order_by(changes.c.source)
)
_ON_SYSTEMS = (
    select(changes.c.source, changes.c.data)
    .where(
        changes.c.source == change_windows.c.source,
        changes.c.key == change_windows.c.change_key,
        change_windows.c.system.in_(bindparam("systems", expanding=True)),
        _LIVE,
    )
    .distinct()
    .order_by(changes.c.source, changes.c.data)
)


def _of_change(table: Table, *order: ColumnElement[Any]) -> Select[Any]:
    """The rows of `table` on one change (bound `source`, `key`), in `order`."""
    return (
        select(table)
        .where(table.c.source == bindparam("source"), table.c.change_key == bindparam("key"))
        .order_by(*order)
    )


_BOARD = _of_change(board_decisions, board_decisions.c.decided_at, board_decisions.c.id)
_BASES = _of_change(approval_bases, approval_bases.c.recorded_at, approval_bases.c.approvals_digest)
_WINDOWS = (
    select(change_windows)
    .where(
        change_windows.c.source == bindparam("source"),
        change_windows.c.system.in_(bindparam("systems", expanding=True)),
        change_windows.c.starts_at < bindparam("end"),
        change_windows.c.ends_at > bindparam("start"),
        change_windows.c.change_key != bindparam("key"),
    )
    .order_by(change_windows.c.starts_at, change_windows.c.change_key, change_windows.c.system)
)


class GateReadsMixin(StoreBase):
    def gate_read(
        self,
        *,
        key: str | None,
        systems: Sequence[str],
        choose: Callable[[list[tuple[str, str]]], GateTarget | None],
    ) -> GateContext | None:
        """Everything a gate decision reads, in one transaction: the live changes a deployment
        may belong to ((source, Change JSON): those with `key` in any source, else those with a
        planned window on one of `systems`), handed to `choose`, and the policy's inputs of the
        change it chose (None: it chose none)."""
        with self._read() as conn:
            if key:
                rows = conn.execute(_BY_KEY, {"key": key})
            elif systems:
                rows = conn.execute(_ON_SYSTEMS, {"systems": list(systems)})
            else:
                rows = None
            target = choose([(str(s), str(d)) for s, d in rows] if rows is not None else [])
            if target is None:
                return None
            params: dict[str, Any] = {"source": target.source, "key": target.key}
            board = [_board(r) for r in conn.execute(_BOARD, params)]
            bases = [_basis(r) for r in conn.execute(_BASES, params)]
            windows: list[WindowRow] = []
            if target.window is not None and target.systems:
                start, end = (self._now(t) for t in target.window)
                params |= {"systems": list(target.systems), "start": start, "end": end}
                windows = [_window(r) for r in conn.execute(_WINDOWS, params)]
        return GateContext(board=board, bases=bases, windows=windows)
