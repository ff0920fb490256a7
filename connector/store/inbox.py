"""The webhook inbox: durable, deduplicated deliveries that drain workers claim under a lease.

Persisted in table `inbox` (see schema.py). The webhook receiver adds a row and answers 202; drain
workers claim pending rows, re-read each ticket by key, and mark the row done or failed.

- Dedupe: `inbox_add` is `INSERT ... ON CONFLICT (source, delivery_id) DO NOTHING`, so a
  redelivered webhook is dropped even when two receivers race. Deliveries without an id are
  always kept (webhooks are hints; the pipeline is idempotent anyway).
- Intake fast path: `inbox_add_many` writes a batch of deliveries in one transaction (group
  commit for the webhook receiver) through the DBAPI cursor with SQL compiled once per store,
  since building and compiling a SQLAlchemy statement per delivery costs more than the insert.
- Claims: pending rows whose lease is free or expired are selected and leased to one worker in a
  single transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent workers skip each
  other's rows instead of waiting; SQLite: the whole claim runs under `BEGIN IMMEDIATE`). A
  worker that dies simply lets its lease expire and another worker takes the rows over.
- Replays: a delivery also carries the digest of its body (what the sender's signature covers);
  `inbox_intake` treats a body already received from the same source within the replay window
  as a duplicate whatever its delivery id, refuses deliveries while the pending rows reach the
  cap ("full": the receiver answers 429), and `inbox_purge` deletes processed rows after their
  retention, so the inbox cannot grow without bound.
- Wake-ups: a batch that stored a delivery rings the store's bell once committed, and on
  PostgreSQL sends a NOTIFY within its transaction, so a waiting drain starts at once, in this
  process or (`inbox_listen`) in any other; `inbox_wait` is what the drain waits on
  (inbox_wake.py, wakeup.py).
- Failures: `inbox_failed` puts a row back to pending with attempts + 1 (optionally not before
  `retry_at`); after `INBOX_MAX_ATTEMPTS` failed attempts it stays 'failed' for a person to see.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.core.errors import TransientError
from connector.store.base import StoreBase
from connector.store.records import INBOX_MAX_ATTEMPTS, InboxItem
from connector.store.schema import UTCDateTime, inbox
from connector.store.wakeup import channel


def _item(row: Any) -> InboxItem:
    return InboxItem(
        id=int(row.id),
        source=row.source,
        delivery_id=row.delivery_id,
        ticket_key=row.ticket_key,
        received_at=row.received_at,
        body=row.body,
        state=row.state,
        attempts=int(row.attempts),
        claimed_by=row.claimed_by,
        claimed_until=row.claimed_until,
        processed_at=row.processed_at,
        error=row.error,
    )


class NewDelivery(NamedTuple):
    """One delivery for `inbox_add_many`."""

    source: str
    delivery_id: str | None
    ticket_key: str | None
    body: str
    #: SHA-256 (hex) of the raw body as signed; None: not deduplicated on content.
    body_digest: str | None = None


class IntakeLimits(NamedTuple):
    """What `inbox_intake` enforces; None: no limit."""

    #: A body digest received from the same source within this window is a duplicate.
    replay_window: timedelta | None = None
    #: Pending rows at or over this refuse new deliveries ("full").
    max_pending: int | None = None
    #: How often the pending rows are counted again (see `InboxMixin._pending_count`).
    recount_seconds: float = 1.0


#: One delivery's fate: stored, dropped as already received, or refused (the inbox is full).
Intake = Literal["accepted", "duplicate", "full"]

_RECEIVED_AT = UTCDateTime()
_ADD_COLUMNS = (
    "source",
    "delivery_id",
    "ticket_key",
    "received_at",
    "body",
    "body_digest",
    "state",
    "attempts",
)


_Compiled = tuple[str, tuple[str, ...] | None]


def _count(cursor: Any) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row is not None else 0


class InboxMixin(StoreBase):
    _inbox_add_sql: _Compiled | None = None
    _inbox_seen_sql: _Compiled | None = None
    _inbox_pending_sql: _Compiled | None = None
    _inbox_known_sql: _Compiled | None = None
    #: The last pending count and when it was taken (time.monotonic()).
    _pending_seen: tuple[int, float] = (0, float("-inf"))

    def inbox_add(
        self,
        *,
        source: str,
        delivery_id: str | None,
        ticket_key: str | None,
        body: str,
        now: datetime | None = None,
    ) -> bool:
        """Enqueue one delivery; False if (source, delivery_id) was already received."""
        delivery = NewDelivery(source, delivery_id, ticket_key, body)
        return self.inbox_add_many([delivery], now=now)[0]

    def inbox_add_many(
        self, deliveries: Sequence[NewDelivery], *, now: datetime | None = None
    ) -> list[bool]:
        """Enqueue a batch in one transaction; per delivery, False if it was already received.

        Same semantics as `inbox_add` called once per delivery in order (a repeat within the
        batch is a duplicate too); all of the batch commits, or none of it.
        """
        return [o == "accepted" for o in self.inbox_intake(deliveries, now=now)]

    def inbox_intake(
        self,
        deliveries: Sequence[NewDelivery],
        *,
        limits: IntakeLimits = IntakeLimits(),
        now: datetime | None = None,
    ) -> list[Intake]:
        """Enqueue a batch in one transaction, with the receiver's limits; the fate of each.

        A duplicate is a delivery id already received from the source, or (with a replay
        window) a body digest received from the source within the window. While the pending
        rows reach `limits.max_pending`, deliveries are "full" and not stored.
        """
        if not deliveries:
            return []
        moment = self._now(now)
        dialect = self._engine.dialect
        received = _RECEIVED_AT.process_bind_param(moment, dialect)
        since = None
        if limits.replay_window is not None:
            since = _RECEIVED_AT.process_bind_param(moment - limits.replay_window, dialect)
        dbapi = dialect.loaded_dbapi
        with self._write() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                out = self._intake_rows(cursor, deliveries, limits, received=received, since=since)
                if "accepted" in out and not self.is_sqlite:
                    # delivered by PostgreSQL on commit only, to every listening process
                    cursor.execute(f"NOTIFY {channel(self._namespace)}")
            except dbapi.OperationalError as exc:  # what transient_errors() does
                raise TransientError(f"database unavailable: {exc}") from exc
            finally:
                cursor.close()
        if "accepted" in out:
            self._inbox_bell.ring()  # committed: the drain of this process may take it now
        return out

    def _intake_rows(
        self,
        cursor: Any,
        deliveries: Sequence[NewDelivery],
        limits: IntakeLimits,
        *,
        received: Any,
        since: Any,
    ) -> list[Intake]:
        pending = None
        if limits.max_pending is not None:
            pending = self._pending_count(cursor, limits.recount_seconds)
        out: list[Intake] = []
        for d in deliveries:
            if since is not None and d.body_digest is not None:
                seen = {"source": d.source, "body_digest": d.body_digest, "since": since}
                sql, order = self._seen_sql()
                cursor.execute(sql, seen if order is None else [seen[k] for k in order])
                if _count(cursor):
                    out.append("duplicate")
                    continue
            if pending is not None and pending >= (limits.max_pending or 0):
                # a redelivery of a stored id stays a duplicate: its sender may stop
                known = {"source": d.source, "delivery_id": d.delivery_id}
                sql, order = self._known_sql()
                cursor.execute(sql, known if order is None else [known[k] for k in order])
                out.append("duplicate" if _count(cursor) else "full")
                continue
            values = {
                "source": d.source,
                "delivery_id": d.delivery_id,
                "ticket_key": d.ticket_key,
                "received_at": received,
                "body": d.body,
                "body_digest": d.body_digest,
                "state": "pending",
                "attempts": 0,
            }
            sql, order = self._add_sql()
            cursor.execute(sql, values if order is None else [values[k] for k in order])
            # RETURNING, not rowcount: a skipped insert returns no row.
            fresh = cursor.fetchone() is not None
            out.append("accepted" if fresh else "duplicate")
            if fresh and pending is not None:
                pending += 1
        if pending is not None:
            self._pending_seen = (pending, self._pending_seen[1])
        return out

    def _add_sql(self) -> _Compiled:
        """The INSERT of `inbox_add` compiled for this engine, and its positional order."""
        if self._inbox_add_sql is None:
            dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
            stmt = dialect_insert(inbox).on_conflict_do_nothing(
                index_elements=["source", "delivery_id"]
            )
            self._inbox_add_sql = self._compile(stmt.returning(inbox.c.id), _ADD_COLUMNS)
        return self._inbox_add_sql

    def _seen_sql(self) -> _Compiled:
        """Whether a body digest was received from a source since a moment."""
        if self._inbox_seen_sql is None:
            stmt = (
                select(func.count())
                .select_from(inbox)
                .where(
                    inbox.c.source == bindparam("source"),
                    inbox.c.body_digest == bindparam("body_digest"),
                    inbox.c.received_at >= bindparam("since"),
                )
            )
            self._inbox_seen_sql = self._compile(stmt, ())
        return self._inbox_seen_sql

    def _pending_count(self, cursor: Any, recount_seconds: float) -> int:
        """Pending rows, counted at most once every `recount_seconds` per store.

        Between counts, the rows this store added are added on; drains only lower the count, so
        the figure is an upper bound (a cap is never passed by this store's deliveries, and is
        lifted at most that long after a drain made room).
        """
        count, at = self._pending_seen
        if time.monotonic() - at >= recount_seconds:
            cursor.execute(self._pending_sql()[0], ())
            count, at = _count(cursor), time.monotonic()
            self._pending_seen = (count, at)
        return count

    def _known_sql(self) -> _Compiled:
        """Whether a delivery id was received from a source."""
        if self._inbox_known_sql is None:
            stmt = (
                select(func.count())
                .select_from(inbox)
                .where(
                    inbox.c.source == bindparam("source"),
                    inbox.c.delivery_id == bindparam("delivery_id"),
                )
            )
            self._inbox_known_sql = self._compile(stmt, ())
        return self._inbox_known_sql

    def _pending_sql(self) -> _Compiled:
        if self._inbox_pending_sql is None:
            stmt = select(func.count()).select_from(inbox).where(inbox.c.state == "pending")
            self._inbox_pending_sql = self._compile(stmt, (), literal_binds=True)
        return self._inbox_pending_sql

    def _compile(self, stmt: Any, keys: Sequence[str], *, literal_binds: bool = False) -> _Compiled:
        kwargs: dict[str, Any] = {"literal_binds": True} if literal_binds else {}
        compiled = stmt.compile(
            dialect=self._engine.dialect,
            column_keys=list(keys) or None,
            compile_kwargs=kwargs,
        )
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        return compiled.string, order

    def inbox_purge(self, *, older_than: datetime) -> int:
        """Delete rows processed (done or failed) before `older_than`; how many went."""
        cutoff = self._now(older_than)
        with self._write() as conn:
            result = conn.execute(
                delete(inbox).where(
                    inbox.c.state != "pending",
                    or_(
                        inbox.c.processed_at < cutoff,
                        inbox.c.processed_at.is_(None) & (inbox.c.received_at < cutoff),
                    ),
                )
            )
            return int(result.rowcount or 0)

    def inbox_claim(
        self, worker: str, *, limit: int, lease_seconds: float, now: datetime
    ) -> list[InboxItem]:
        """Lease up to `limit` pending items (oldest first) to `worker` until now + lease."""
        now = self._now(now)
        free = select(inbox.c.id).where(
            inbox.c.state == "pending",
            or_(inbox.c.claimed_until.is_(None), inbox.c.claimed_until < now),
        )
        free = free.order_by(inbox.c.id).limit(limit).with_for_update(skip_locked=True)
        with self._write() as conn:
            ids = list(conn.execute(free).scalars())
            if not ids:
                return []
            rows = conn.execute(
                update(inbox)
                .where(inbox.c.id.in_(ids))
                .values(claimed_by=worker, claimed_until=now + timedelta(seconds=lease_seconds))
                .returning(*inbox.c)
            )
            return sorted((_item(row) for row in rows), key=lambda item: item.id)

    def inbox_done(self, ids: Iterable[int], *, now: datetime | None = None) -> None:
        """Mark items processed."""
        id_list = list(ids)
        if not id_list:
            return
        with self._write() as conn:
            conn.execute(
                update(inbox)
                .where(inbox.c.id.in_(id_list))
                .values(
                    state="done",
                    processed_at=self._now(now),
                    claimed_by=None,
                    claimed_until=None,
                    error=None,
                )
            )

    def inbox_failed(self, item_id: int, *, error: str, retry_at: datetime | None = None) -> None:
        """Record a failed attempt: back to pending, or 'failed' after the last allowed attempt."""
        attempts = inbox.c.attempts + 1
        with self._write() as conn:
            conn.execute(
                update(inbox)
                .where(inbox.c.id == item_id, inbox.c.state == "pending")
                .values(
                    attempts=attempts,
                    state=case((attempts >= INBOX_MAX_ATTEMPTS, "failed"), else_="pending"),
                    error=error,
                    claimed_by=None,
                    claimed_until=None if retry_at is None else self._now(retry_at),
                )
            )

    def inbox_get(self, item_id: int) -> InboxItem | None:
        with self._read() as conn:
            row = conn.execute(select(inbox).where(inbox.c.id == item_id)).first()
            return None if row is None else _item(row)

    def inbox_depth(self) -> int:
        """How many items are pending (claimed or not)."""
        with self._read() as conn:
            query = select(func.count()).select_from(inbox).where(inbox.c.state == "pending")
            return int(conn.execute(query).scalar_one())

    def inbox_oldest_pending(self) -> datetime | None:
        """When the oldest pending delivery was received (None: nothing waits); ids grow with
        arrival, so the (state, id) index finds it without a scan."""
        with self._read() as conn:
            query = (
                select(inbox.c.received_at)
                .where(inbox.c.state == "pending")
                .order_by(inbox.c.id)
                .limit(1)
            )
            received: datetime | None = conn.execute(query).scalar_one_or_none()
            return received
