"""The deployment gate's snapshot reads: what every gate decision may need, read in bulk once per
store generation, so a gate answer does not read the store per request.

`gate_generation()` says whether anything was committed since it was last asked (any table, any
process: SQLite's `PRAGMA data_version` on a connection of its own that never writes, which
changes whenever another connection commits; PostgreSQL: the current transaction snapshot,
`pg_current_snapshot()`, the same exactly while no transaction commits). A snapshot read after
a generation was taken is at least as new as that generation; the caller (`sync.gate_memo`)
keeps it until the generation moves, so a decision never sees data older than the last commit
before its request. Where no such signal exists (in-memory SQLite) `gate_generation()` is None
and the gate reads per request (`gate_reads`).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

from sqlalchemy import select

from connector.store.base import StoreBase, transient_errors
from connector.store.policy_reads import _board, _window
from connector.store.records import BasisRow, BoardRow, WindowRow
from connector.store.schema import approval_bases, board_decisions, change_windows, changes


@dataclass(frozen=True, slots=True)
class GateSnapshot:
    """Every live change ((source, key, fingerprint, Change JSON) ordered by source, then JSON
    text, the order the per-request reads hand candidates in) with the policy inputs of all
    changes, keyed by (source, change key)."""

    changes: list[tuple[str, str, str, str]]
    board: dict[tuple[str, str], list[BoardRow]]
    bases: dict[tuple[str, str], list[BasisRow]]
    windows: dict[str, list[WindowRow]]  # by source


_CHANGES = (
    select(changes.c.source, changes.c.key, changes.c.fingerprint, changes.c.data)
    .where(changes.c.deleted_at.is_(None))
    .order_by(changes.c.source, changes.c.data)
)
_BOARD = select(board_decisions).order_by(board_decisions.c.decided_at, board_decisions.c.id)
# Not the bases' snapshots (a change's whole JSON each): the gate does not read them.
_BASES = select(
    approval_bases.c.source,
    approval_bases.c.change_key,
    approval_bases.c.approvals_digest,
    approval_bases.c.covered,
    approval_bases.c.recorded_at,
).order_by(approval_bases.c.recorded_at, approval_bases.c.approvals_digest)
_WINDOWS = select(change_windows).order_by(
    change_windows.c.starts_at, change_windows.c.change_key, change_windows.c.system
)


_PG_SNAPSHOT = "SELECT pg_current_snapshot()::text"


class GateSnapshotMixin(StoreBase):
    _generation_conn: sqlite3.Connection | None = None
    _generation_lock = threading.Lock()

    def gate_generation(self) -> str | None:
        """A value that changes whenever anything was committed to the store since it was last
        read (None: this store cannot tell; read per request)."""
        url = self._engine.url
        if url.get_backend_name() == "postgresql":
            # Two equal snapshots see exactly the same committed transactions.
            with self._read() as conn:
                return str(conn.exec_driver_sql(_PG_SNAPSHOT).scalar_one())
        database = url.database
        if not database or database == ":memory:" or url.query.get("uri"):
            return None
        with self._generation_lock, transient_errors():
            if self._generation_conn is None:
                # A connection of its own, never used to write: data_version moves with every
                # commit of any other connection, in this process or another.
                self._generation_conn = sqlite3.connect(
                    database, check_same_thread=False, isolation_level=None
                )
            row = self._generation_conn.execute("PRAGMA data_version").fetchone()
        return str(row[0])

    def gate_snapshot(self) -> GateSnapshot:
        """Every live change and the policy inputs of all changes, in one read transaction."""
        board: dict[tuple[str, str], list[BoardRow]] = {}
        bases: dict[tuple[str, str], list[BasisRow]] = {}
        windows: dict[str, list[WindowRow]] = {}
        with self._read() as conn:
            rows = [
                (str(r.source), str(r.key), str(r.fingerprint), str(r.data))
                for r in conn.execute(_CHANGES)
            ]
            for r in conn.execute(_BOARD):
                board.setdefault((r.source, r.change_key), []).append(_board(r))
            for r in conn.execute(_BASES):
                basis = BasisRow(str(r.approvals_digest), r.covered, r.recorded_at)
                bases.setdefault((r.source, r.change_key), []).append(basis)
            for r in conn.execute(_WINDOWS):
                windows.setdefault(r.source, []).append(_window(r))
        return GateSnapshot(changes=rows, board=board, bases=bases, windows=windows)

    def close_generation(self, *, forget: bool = False) -> None:
        """Close the generation's connection (`forget`: in a forked child, drop the parent's
        without closing it)."""
        if forget:
            # No lock: in a forked child it may be held by a parent's thread that is not here;
            # the child gets a lock of its own.
            self._generation_conn = None
            self._generation_lock = threading.Lock()
            return
        with self._generation_lock:
            conn, self._generation_conn = self._generation_conn, None
        if conn is not None:
            conn.close()
