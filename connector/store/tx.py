"""A write transaction of the store: the batch a poll or drain records atomically.

`Store.transaction()` yields a `Tx`; everything written through it commits together when the
`with` block ends, or not at all if it raises. That is how the poller keeps its promise that the
cursor only advances together with the changes (and audit rows) of the batch it covers.

Tables written: `changes` (upsert by (source, key), first_seen_at kept), `cursors` (upsert by
source) and `audit` (append, see audit.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from connector.store import audit as audit_log
from connector.store.records import AuditRow
from connector.store.schema import changes, cursors, ledger


def _insert(dialect: str) -> Any:
    return sqlite.insert if dialect == "sqlite" else postgresql.insert


# Statements are built once per dialect (building one costs more than running it); the values
# come as execute() parameters.
@cache
def _upsert_change(dialect: str) -> Any:
    stmt = _insert(dialect)(changes)
    return stmt.on_conflict_do_update(
        index_elements=[changes.c.source, changes.c.key],
        set_={
            "native_id": stmt.excluded.native_id,
            "fingerprint": stmt.excluded.fingerprint,
            "updated": stmt.excluded.updated,
            "data": stmt.excluded.data,
            "synced_at": stmt.excluded.synced_at,
        },
    )


@cache
def _upsert_cursor(dialect: str) -> Any:
    stmt = _insert(dialect)(cursors)
    return stmt.on_conflict_do_update(
        index_elements=[cursors.c.source],
        set_={"position": stmt.excluded.position, "updated_at": stmt.excluded.updated_at},
    )


class Tx:
    """Writes inside one open transaction; obtain it from `Store.transaction()`."""

    def __init__(
        self, conn: Connection, *, namespace: str, now: Callable[[datetime | None], datetime]
    ) -> None:
        self._conn = conn
        self._namespace = namespace
        self._now = now

    def upsert_change(
        self,
        *,
        source: str,
        change_key: str,
        native_id: str,
        fingerprint: str,
        updated: datetime,
        data: str,
        now: datetime | None = None,
    ) -> None:
        """Store the latest normalized state of one ticket (`data` is `Change.to_json()`)."""
        if len(fingerprint) != 64:
            raise ValueError(f"fingerprint must be 64 hex characters: {fingerprint!r}")
        if updated.tzinfo is None or updated.utcoffset() is None:
            raise ValueError(f"naive datetime {updated!r}: `updated` must be timezone-aware")
        at = self._now(now)
        row = {
            "source": source,
            "key": change_key,
            "native_id": native_id,
            "fingerprint": fingerprint,
            "updated": updated,
            "data": data,
            "first_seen_at": at,
            "synced_at": at,
        }
        self._conn.execute(_upsert_change(self._conn.dialect.name), row)

    def plan_action(
        self,
        key: str,
        *,
        source: str,
        ticket_key: str,
        action: str,
        content_fingerprint: str,
        payload: str,
        now: datetime | None = None,
    ) -> bool:
        """Record a planned remote write (the outbox); False if the key is already known."""
        stmt = _insert(self._conn.dialect.name)(ledger).values(
            idempotency_key=key,
            source=source,
            ticket_key=ticket_key,
            action=action,
            content_fingerprint=content_fingerprint,
            state="planned",
            attempts=0,
            created_at=self._now(now),
            payload=payload,
        )
        inserted = self._conn.execute(
            stmt.on_conflict_do_nothing().returning(ledger.c.idempotency_key)
        ).first()
        return inserted is not None

    def set_cursor(self, source: str, position: str, *, now: datetime | None = None) -> None:
        """Store the poll position of `source` (an opaque JSON text the caller serializes)."""
        row = {"source": source, "position": position, "updated_at": self._now(now)}
        self._conn.execute(_upsert_cursor(self._conn.dialect.name), row)

    def append_audit(
        self,
        *,
        source: str,
        ticket_key: str | None,
        event: str,
        actor: str,
        detail: Mapping[str, Any],
        at: datetime | None = None,
    ) -> AuditRow:
        """Append one audit link; the chain stays serialized until this transaction ends."""
        return audit_log.append(
            self._conn,
            namespace=self._namespace,
            at=self._now(at),
            source=source,
            ticket_key=ticket_key,
            event=event,
            actor=actor,
            detail=detail,
        )
