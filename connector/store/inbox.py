"""The webhook inbox: durable, deduplicated deliveries that drain workers claim under a lease.

Persisted in table `inbox` (see schema.py). The webhook receiver adds a row and answers 202; drain
workers claim pending rows, re-read each ticket by key, and mark the row done or failed.

- Dedupe: `inbox_add` is `INSERT ... ON CONFLICT (source, delivery_id) DO NOTHING`, so a
  redelivered webhook is dropped even when two receivers race. Deliveries without an id are
  always kept (webhooks are hints; the pipeline is idempotent anyway).
- Claims: pending rows whose lease is free or expired are selected and leased to one worker in a
  single transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent workers skip each
  other's rows instead of waiting; SQLite: the whole claim runs under `BEGIN IMMEDIATE`). A
  worker that dies simply lets its lease expire and another worker takes the rows over.
- Failures: `inbox_failed` puts a row back to pending with attempts + 1 (optionally not before
  `retry_at`); after `INBOX_MAX_ATTEMPTS` failed attempts it stays 'failed' for a person to see.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.store.base import StoreBase
from connector.store.records import INBOX_MAX_ATTEMPTS, InboxItem
from connector.store.schema import inbox


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


class InboxMixin(StoreBase):
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
        values = {
            "source": source,
            "delivery_id": delivery_id,
            "ticket_key": ticket_key,
            "received_at": self._now(now),
            "body": body,
            "state": "pending",
            "attempts": 0,
        }
        dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
        stmt = dialect_insert(inbox).values(**values)
        stmt = stmt.on_conflict_do_nothing(index_elements=["source", "delivery_id"])
        # RETURNING, not rowcount: a skipped insert returns no row on both dialects.
        with self._write() as conn:
            return conn.execute(stmt.returning(inbox.c.id)).first() is not None

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
