"""Run bookkeeping and poll work sharing: table `runs` and per-source locks.

- `runs` (see schema.py) records every poll, drain and sync run with its counters, for the
  `status` command, health checks and reports.
- `try_source_lock(source)` lets several workers share the polling: only the holder polls that
  source. PostgreSQL: a session-level `pg_try_advisory_lock` held on a dedicated connection for
  the duration of the `with` block (released on exit, or by the server if the worker dies).
  SQLite: an exclusive, non-blocking `flock` on a file next to the database
  (`<db>.locks/<digest>.lock`), released by the kernel if the process dies; an in-memory SQLite
  database has a single process, so a per-store thread lock stands in.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text, update

from connector.store.base import StoreBase, transient_errors
from connector.store.engine import lock_key
from connector.store.records import RunInfo, RunKind, RunStatus
from connector.store.schema import runs


def _run(row: Any) -> RunInfo:
    return RunInfo(
        id=int(row.id),
        kind=row.kind,
        source=row.source,
        worker=row.worker,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        tickets_seen=int(row.tickets_seen),
        tickets_changed=int(row.tickets_changed),
        actions_applied=int(row.actions_applied),
        error=row.error,
    )


class RunsMixin(StoreBase):
    def run_start(self, *, kind: RunKind, source: str, worker: str) -> int:
        """Record the start of a run; returns its id for `run_finish`."""
        with self._write() as conn:
            result = conn.execute(
                insert(runs)
                .returning(runs.c.id)
                .values(
                    kind=kind,
                    source=source,
                    worker=worker,
                    started_at=self._now(),
                    status="running",
                    tickets_seen=0,
                    tickets_changed=0,
                    actions_applied=0,
                )
            )
            return int(result.scalar_one())

    def run_finish(
        self,
        run_id: int,
        *,
        status: RunStatus,
        tickets_seen: int,
        tickets_changed: int,
        actions_applied: int,
        error: str | None = None,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    finished_at=self._now(),
                    status=status,
                    tickets_seen=tickets_seen,
                    tickets_changed=tickets_changed,
                    actions_applied=actions_applied,
                    error=error,
                )
            )

    def last_runs(self, limit: int = 20) -> list[RunInfo]:
        """The newest runs first."""
        with self._read() as conn:
            query = select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
            return [_run(row) for row in conn.execute(query)]

    @contextmanager
    def try_source_lock(self, source: str) -> Iterator[bool]:
        """True inside the block if this worker may poll `source` now; False if another does."""
        if not self.is_sqlite:
            with self._pg_source_lock(source) as held:
                yield held
        elif (path := self._sqlite_lock_path(source)) is not None:
            with _file_lock(path) as held:
                yield held
        else:
            lock = self._memory_locks.setdefault(source, threading.Lock())
            held = lock.acquire(blocking=False)
            try:
                yield held
            finally:
                if held:
                    lock.release()

    @contextmanager
    def _pg_source_lock(self, source: str) -> Iterator[bool]:
        key = lock_key(self._namespace, f"source:{source}")
        with transient_errors(), self._engine.connect() as conn:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()  # the session lock outlives the transaction; don't idle in one
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()

    def _sqlite_lock_path(self, source: str) -> Path | None:
        database = self._engine.url.database
        if not database or database == ":memory:" or self._engine.url.query.get("uri"):
            return None
        digest = hashlib.sha256(source.encode()).hexdigest()[:24]
        return Path(f"{database}.locks") / f"{digest}.lock"


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
