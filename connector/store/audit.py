"""Step 6 of the pipeline, durable side: the append-only, hash-chained audit trail.

Persisted in table `audit` (seq, at, source, ticket_key, event, actor, detail, prev_hash, hash).
Each row's hash is `sha256(prev_hash + canonical_json([seq, at_iso, source, ticket_key, event,
actor, detail]))` where canonical JSON has sorted keys, no spaces and `at_iso` is the UTC time
with microseconds (`2024-05-01T12:00:00.000000+00:00`); the first row's prev_hash is 64 zeros.

Appends are serialized so the chain never forks: the appending transaction holds the database
write lock (SQLite, `BEGIN IMMEDIATE`) or a transaction-scoped advisory lock (PostgreSQL), reads
the last link, and inserts the next one with an explicit `seq = last + 1`. The UNIQUE constraint
on prev_hash backs this up. The code never updates or deletes audit rows.

`verify()` walks the chain in seq order and reports the first row whose stored hash does not
match its content or whose prev_hash does not match the previous row's hash. Deleting the newest
rows cannot be detected from the rows alone (anchor the latest hash elsewhere for that).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from connector.store.engine import begin_write
from connector.store.records import AuditRow
from connector.store.schema import audit

GENESIS = "0" * 64
AUDIT_LOCK = "audit-append"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def head_json(values: list[Any]) -> str:
    """`canonical_json` of a link's fixed columns (integers, text, null): orjson writes the
    same text for them, ten times faster; the json module takes what orjson refuses."""
    try:
        return orjson.dumps(values).decode()
    except orjson.JSONEncodeError:
        return canonical_json(values)


def at_iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def link_hash(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    source: str,
    ticket_key: str | None,
    event: str,
    actor: str,
    detail: Mapping[str, Any],
) -> str:
    payload = canonical_json([seq, at_iso(at), source, ticket_key, event, actor, dict(detail)])
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def append(
    conn: Connection,
    *,
    namespace: str,
    at: datetime,
    source: str,
    ticket_key: str | None,
    event: str,
    actor: str,
    detail: Mapping[str, Any],
) -> AuditRow:
    """Append one link inside the caller's (write) transaction on `conn`."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    at = at.astimezone(UTC)
    detail_text = canonical_json(dict(detail))  # fails early on values JSON cannot carry
    begin_write(conn, namespace=namespace, lock=AUDIT_LOCK)
    last = conn.execute(select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1))
    row = last.first()
    seq, prev_hash = (int(row.seq) + 1, str(row.hash)) if row is not None else (1, GENESIS)
    detail_value: dict[str, Any] = json.loads(detail_text)
    digest = link_hash(
        prev_hash,
        seq=seq,
        at=at,
        source=source,
        ticket_key=ticket_key,
        event=event,
        actor=actor,
        detail=detail_value,
    )
    conn.execute(
        insert(audit).values(
            seq=seq,
            at=at,
            source=source,
            ticket_key=ticket_key,
            event=event,
            actor=actor,
            detail=detail_text,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    return AuditRow(seq, at, source, ticket_key, event, actor, detail_value, prev_hash, digest)


def to_row(row: Any) -> AuditRow:
    return AuditRow(
        seq=int(row.seq),
        at=row.at,
        source=row.source,
        ticket_key=row.ticket_key,
        event=row.event,
        actor=row.actor,
        detail=json.loads(row.detail),
        prev_hash=str(row.prev_hash),
        hash=str(row.hash),
    )


def verify(rows: Iterable[Sequence[Any]]) -> int | None:
    """The seq of the first broken link, or None.

    `rows`: (seq, at, source, ticket_key, event, actor, detail, prev_hash, hash) in seq order,
    as stored: `at` is the UTC ISO text on SQLite and a datetime on PostgreSQL, `detail` the
    stored JSON text. The hash is recomputed over the stored detail text itself (appends store
    it in canonical form), so any byte changed in it, reformatting included, breaks the link,
    without parsing and re-serializing every row.
    """
    expected_prev = GENESIS
    sha256 = hashlib.sha256
    for seq, at, source, ticket_key, event, actor, detail, prev_hash, stored_hash in rows:
        if str(prev_hash) != expected_prev:
            return int(seq)
        when = at if isinstance(at, str) else at_iso(at)
        head = head_json([int(seq), when, source, ticket_key, event, actor])
        digest = sha256(f"{expected_prev}{head[:-1]},{detail}]".encode()).hexdigest()
        if str(stored_hash) != digest:
            return int(seq)
        expected_prev = digest
    return None
