"""Step 6 of the pipeline, durable side: the append-only, hash-chained audit trail.

Persisted in table `audit` (seq, at, source, ticket_key, event, actor, detail, prev_hash, hash).
Each row's hash is `HMAC-SHA256(key, prev_hash + canonical_json([seq, at_iso, source, ticket_key,
event, actor, detail]))` with the configured `audit.hmac_key`, or plain `sha256(...)` of the same
text without a key, where canonical JSON has sorted keys, no spaces and `at_iso` is the UTC time
with microseconds (`2024-05-01T12:00:00.000000+00:00`); the first row's prev_hash is 64 zeros.
A store written before a key was set keeps its plain links: a chain is a plain prefix followed
by keyed links, never a plain link after a keyed one (that is how a rehash without the key shows).

Appends are serialized so the chain never forks: the appending transaction holds the database
write lock (SQLite, `BEGIN IMMEDIATE`) or a transaction-scoped advisory lock (PostgreSQL), reads
the last link, and inserts the next one with an explicit `seq = last + 1`. The primary key on
seq backs this up: a writer that bypassed the lock and read the same last link is refused its
`seq`. The hashes are not indexed (nothing looks a link up by them, and an index over random
digests costs a page write at a random place per link). The code never updates or deletes
audit rows.

`verify()` walks the chain in seq order and reports the first row whose stored hash does not
match its content or whose prev_hash does not match the previous row's hash, and compares the
chain with anchors (link count + head hash, kept outside the database: anchors.py): deleting the
newest rows or all of them, or rewriting and rehashing the chain without the key, shows there.
The appending side refuses to extend a chain shorter than the newest anchor (`AuditKeying`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from connector.core.canonical import canonical_text
from connector.core.errors import ConnectorError
from connector.store.engine import begin_write
from connector.store.records import AuditRow
from connector.store.schema import audit

GENESIS = "0" * 64
AUDIT_LOCK = "audit-append"
# Built once: every append runs these two, and building a statement per call costs several
# times more than executing it (the values travel as parameters).
_LAST_LINK = select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)
_INSERT_LINK = insert(audit)
_AFTER_AT = ("source", "ticket_key", "event", "actor", "detail", "prev_hash", "hash")
_INSERT_LINK_SQLITE = (
    "INSERT INTO audit (seq, at, source, ticket_key, event, actor, detail, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class AuditTruncated(ConnectorError):
    """The chain is shorter than (or differs from) an anchor written outside the database."""


@dataclass(frozen=True)
class Anchor:
    """A chain head seen earlier: `seq` links ending in `hash` (`seq` None: hash only)."""

    seq: int | None
    hash: str
    origin: str = ""  # where it came from, for messages: "anchors.jsonl line 3"


@dataclass(frozen=True)
class AuditKeying:
    """How appends link: the HMAC key (None: plain SHA-256), and the newest anchor the chain
    must reach before anything may be appended to it."""

    key: bytes | None = None
    floor: Anchor | None = None


@dataclass
class Verdict:
    """What `verify` found; `problems()` words it."""

    links: int = 0
    head: str | None = None
    keyed: int = 0
    broken: int | None = None
    mismatch: Anchor | None = None  # first anchor whose link has another hash
    matched_before: int = 0  # the newest anchored link that matched before `mismatch`
    beyond: Anchor | None = None  # the longest anchor past the chain's end (truncation)
    unfound: list[Anchor] = field(default_factory=list)  # hash-only anchors not in the chain
    anchors: int = 0

    def problems(self) -> list[str]:
        out: list[str] = []
        if self.broken is not None:
            out.append(
                f"link {self.broken} does not verify: it or the link before it was altered "
                "or deleted"
            )
        if self.mismatch is not None:
            first = self.matched_before + 1
            span = (
                f"link {first}"
                if first == self.mismatch.seq
                else (f"one of links {first}..{self.mismatch.seq}")
            )
            out.append(
                f"link {self.mismatch.seq} differs from the anchor in {self.mismatch.origin}: "
                f"{span} was altered and the chain after it rehashed"
            )
        if self.beyond is not None and self.broken is None:
            assert self.beyond.seq is not None
            if self.links == 0:
                out.append(
                    f"the chain is empty but {self.beyond.origin} anchors {self.beyond.seq} "
                    "links: every link was deleted"
                )
            else:
                out.append(
                    f"the chain ends at link {self.links} but {self.beyond.origin} anchors "
                    f"{self.beyond.seq} links: links {self.links + 1}..{self.beyond.seq} "
                    "were deleted"
                )
        for anchor in self.unfound:
            out.append(
                f"no link has the hash {anchor.hash} of {anchor.origin}: the chain was "
                "truncated before it or rehashed"
            )
        return out


# The text a link's detail and fixed columns are hashed as (connector/core/canonical.py).
canonical_json = head_json = canonical_text


def _parse(text: str) -> Any:
    """JSON text the json module wrote: orjson reads it faster; NaN and the like it refuses."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def at_iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def link_hash(
    prev_hash: str,
    *,
    key: bytes | None = None,
    seq: int,
    at: datetime,
    source: str,
    ticket_key: str | None,
    event: str,
    actor: str,
    detail: Mapping[str, Any],
) -> str:
    return _digest(
        prev_hash,
        key=key,
        head=[seq, at_iso(at), source, ticket_key, event, actor],
        detail_text=canonical_json(dict(detail)),
    )


def _digest(prev_hash: str, *, key: bytes | None, head: list[Any], detail_text: str) -> str:
    """The link hash over `prev_hash + canonical_json(head + [detail])`, the detail spliced in
    as its canonical text (what `verify_rows` hashes, the stored text itself)."""
    message = f"{prev_hash}{head_json(head)[:-1]},{detail_text}]".encode()
    if key is not None:
        return hmac.new(key, message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


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
    keying: AuditKeying = AuditKeying(),
) -> AuditRow:
    """Append one link inside the caller's (write) transaction on `conn`; refuse to extend a
    chain shorter than the newest anchor, or whose anchored head was rewritten
    (`AuditTruncated`: the caller's transaction rolls back)."""
    row, values = link(
        head(conn, namespace=namespace, keying=keying),
        at=at,
        source=source,
        ticket_key=ticket_key,
        event=event,
        actor=actor,
        detail=detail,
        keying=keying,
    )
    conn.execute(_INSERT_LINK, values)
    return row


def head(conn: Connection, *, namespace: str, keying: AuditKeying) -> tuple[int, str]:
    """Take the chain's append lock for the rest of the transaction on `conn` and return its
    last link (seq, hash), (0, GENESIS) when empty; `AuditTruncated` when the chain is shorter
    than the newest anchor or its anchored head was rewritten. Until the transaction ends no
    other writer can append, so the caller may chain several links from it (`link`)."""
    begin_write(conn, namespace=namespace, lock=AUDIT_LOCK)
    row = conn.execute(_LAST_LINK).first()
    last = (int(row.seq), str(row.hash)) if row is not None else (0, GENESIS)
    floor = keying.floor
    if floor is not None and floor.seq is not None:
        if last[0] < floor.seq:
            raise AuditTruncated(truncated_message(last[0], floor))
        if last[0] == floor.seq and last[1] != floor.hash:
            # the anchored head itself, rewritten since: a new link would vouch for it
            raise AuditTruncated(altered_message(floor))
    return last


def link(
    last: tuple[int, str],
    *,
    at: datetime,
    source: str,
    ticket_key: str | None,
    event: str,
    actor: str,
    detail: Mapping[str, Any],
    keying: AuditKeying,
) -> tuple[AuditRow, dict[str, Any]]:
    """The link after `last` (seq, hash), and its row's values for `INSERT INTO audit`."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    at = at.astimezone(UTC)
    detail_text = canonical_json(dict(detail))  # fails early on values JSON cannot carry
    seq, prev_hash = last[0] + 1, last[1]
    detail_value: dict[str, Any] = _parse(detail_text)
    digest = _digest(
        prev_hash,
        key=keying.key,
        head=[seq, at_iso(at), source, ticket_key, event, actor],
        detail_text=detail_text,
    )
    values = {
        "seq": seq,
        "at": at,
        "source": source,
        "ticket_key": ticket_key,
        "event": event,
        "actor": actor,
        "detail": detail_text,
        "prev_hash": prev_hash,
        "hash": digest,
    }
    row = AuditRow(seq, at, source, ticket_key, event, actor, detail_value, prev_hash, digest)
    return row, values


def insert_links(conn: Connection, values: Sequence[Mapping[str, Any]]) -> None:
    """Insert links made by `link`, in one statement executed for all of them. On SQLite the
    values go to the driver as they are, the time as the text the store keeps (`at_iso`, what
    the column's type writes): SQLAlchemy's processing of each row's parameters was a third of
    the insert, and a sync appends several links a ticket."""
    if not values:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(_INSERT_LINK, list(values))
        return
    rows = [(v["seq"], at_iso(v["at"]), *(v[c] for c in _AFTER_AT)) for v in values]
    conn.exec_driver_sql(_INSERT_LINK_SQLITE, rows)


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


def altered_message(floor: Anchor) -> str:
    return (
        f"audit link {floor.seq} differs from the anchor in {floor.origin}: the chain was "
        "altered; refusing to append to it (run `change-connector audit verify`)"
    )


def truncated_message(links: int, floor: Anchor) -> str:
    return (
        f"audit chain has {links} links but {floor.origin} anchors {floor.seq}: links were "
        "deleted; refusing to append to it (run `change-connector audit verify`)"
    )


def verify(
    rows: Iterable[Sequence[Any]], *, key: bytes | None = None, anchors: Sequence[Anchor] = ()
) -> Verdict:
    """Walk the chain and compare it with `anchors`; stops at the first broken link.

    `rows`: (seq, at, source, ticket_key, event, actor, detail, prev_hash, hash) in seq order,
    as stored: `at` is the UTC ISO text on SQLite and a datetime on PostgreSQL, `detail` the
    stored JSON text. The hash is recomputed over the stored detail text itself (appends store
    it in canonical form), so any byte changed in it, reformatting included, breaks the link,
    without parsing and re-serializing every row. With a key, a link must be keyed unless every
    link before it is plain (the store's links from before the key was set).
    """
    by_seq: dict[int, Anchor] = {}
    for anchor in anchors:
        if anchor.seq is not None and anchor.seq not in by_seq:
            by_seq[anchor.seq] = anchor
    by_hash = {a.hash: a for a in anchors if a.seq is None}
    verdict = Verdict(anchors=len(anchors))
    expected_prev = GENESIS
    sha256 = hashlib.sha256
    keyed_seen = False
    # The key's inner and outer pads are hashed once; each link copies that state.
    keyed_mac = hmac.new(key, digestmod=hashlib.sha256) if key is not None else None
    for seq, at, source, ticket_key, event, actor, detail, prev_hash, stored_hash in rows:
        stored = str(stored_hash)
        if str(prev_hash) != expected_prev:
            verdict.broken = int(seq)
            return verdict
        when = at if isinstance(at, str) else at_iso(at)
        head = head_json([int(seq), when, source, ticket_key, event, actor])
        message = f"{expected_prev}{head[:-1]},{detail}]".encode()
        if keyed_mac is not None and _keyed(keyed_mac, message) == stored:
            keyed_seen = True
            verdict.keyed += 1
        elif keyed_seen or sha256(message).hexdigest() != stored:
            verdict.broken = int(seq)
            return verdict
        expected_prev = stored
        verdict.links, verdict.head = int(seq), stored
        pinned = by_seq.get(int(seq))
        if pinned is not None:
            if pinned.hash != stored and verdict.mismatch is None:
                verdict.mismatch = pinned
            elif verdict.mismatch is None:
                verdict.matched_before = int(seq)
        by_hash.pop(stored, None)
    verdict.unfound = list(by_hash.values())
    past = [a for a in by_seq.values() if a.seq is not None and a.seq > verdict.links]
    if past:
        verdict.beyond = max(past, key=lambda a: a.seq or 0)
    return verdict


def _keyed(template: hmac.HMAC, message: bytes) -> str:
    mac = template.copy()
    mac.update(message)
    return mac.hexdigest()
