"""Shared plumbing of the `Store` parts: the engine, the clock, and how transactions begin.

Every public store method runs in exactly one short transaction obtained here:

- `_write()` begins a write transaction (SQLite `BEGIN IMMEDIATE`; PostgreSQL READ COMMITTED)
  that commits when the block ends and rolls back on any exception, so nothing is half-written.
- `_read()` begins a read-only (deferred) transaction.

Database outages (`OperationalError`: server down, connection lost, SQLite busy past its timeout)
become `TransientError`, so callers retry later without importing SQLAlchemy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from connector.core.errors import TransientError
from connector.store.audit import AuditKeying
from connector.store.engine import is_sqlite, write_options
from connector.store.wakeup import InboxBell

T = TypeVar("T")

STREAM_BATCH = 500  # rows fetched per round trip when a query is streamed
#: Keys per IN (...) list of a page read; far below SQLite's bound-parameter limit. A power of
#: two: the lists are lengthened to one (`in_list`).
IN_CHUNK = 512


def utcnow() -> datetime:
    return datetime.now(UTC)


def chunks(values: Collection[str]) -> Iterator[list[str]]:
    """`values` without duplicates, in lists of at most IN_CHUNK (one IN (...) list each),
    each lengthened by `in_list`."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), IN_CHUNK):
        yield in_list(unique[start : start + IN_CHUNK])


def in_list(values: Sequence[T]) -> list[T]:
    """`values` lengthened to a power of two by repeating the last (the same IN (...) test).

    An IN list of n values is n placeholders, so each length is a statement of its own, which
    SQLite prepares anew and the driver keeps (up to 128 a connection, the larger the longer
    the list: ~80 KB for a page's keys). Lists of a power of two long make at most
    log2(IN_CHUNK) + 1 texts of a query, where lists of every length up to a page's made one per
    length seen: on a site of 20,000 tickets, 3 MB of prepared statements on one connection."""
    items = list(values)
    if len(items) > 1:
        items += [items[-1]] * ((1 << (len(items) - 1).bit_length()) - len(items))
    return items


def pow2_runs(values: Sequence[T], *, most: int) -> Iterator[Sequence[T]]:
    """`values` in consecutive runs whose lengths are powers of two, none longer than `most`
    (a power of two), the longest first: a statement given a run per execution has one SQL
    text per length, so a connection prepares and keeps at most log2(`most`) + 1 of them."""
    start = 0
    while start < len(values):
        size = min(most, 1 << ((len(values) - start).bit_length() - 1))
        yield values[start : start + size]
        start += size


@contextmanager
def transient_errors() -> Iterator[None]:
    """Turn database outages into `TransientError` (callers retry later)."""
    try:
        yield
    except OperationalError as exc:
        raise TransientError(f"database unavailable: {exc.orig or exc}") from exc


class StoreBase:
    """Engine, lock namespace and clock shared by the store's mixins."""

    def __init__(self, engine: Engine, *, namespace: str, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._namespace = namespace
        self._clock = clock
        self._memory_locks: dict[str, threading.Lock] = {}  # in-memory SQLite only
        self._audit_keying = AuditKeying()
        # rung when the intake commits a delivery: the drain loop waits on it (wakeup.py)
        self._inbox_bell = InboxBell()

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self._engine)

    def _now(self, now: datetime | None = None) -> datetime:
        value = self._clock() if now is None else now
        if value.tzinfo is None:
            raise ValueError("the store takes timezone-aware datetimes only")
        return value.astimezone(UTC)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with (
            transient_errors(),
            self._engine.connect().execution_options(**write_options()) as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with transient_errors(), self._engine.connect() as conn, conn.begin():
            yield conn

    def _stream(self, query: Any) -> Generator[Any, None, None]:
        """Rows of `query` in batches; closing the generator early closes the server cursor."""
        with self._read() as conn:
            options = {"stream_results": True, "yield_per": STREAM_BATCH}
            result = conn.execution_options(**options).execute(query)
            try:
                yield from result
            finally:
                result.close()
