"""Table definitions of the durable store (SQLAlchemy Core) and the UTC timestamp column type.

This module is the single description of the persisted schema; the Alembic migrations in
`connector/store/migrations/versions/` create exactly these tables, and the repository code in
this package reads and writes them. Nothing outside `connector/store` sees these objects.

Persisted schema (every timestamp is timezone-aware UTC, see `UTCDateTime`):

- `changes`  (source, key) PK; native_id, fingerprint CHAR(64), updated, data (JSON text of
  `Change.to_json()`), first_seen_at, synced_at, findings (JSON list of the policy's findings,
  NULL until evaluated), recheck_at (when the verdict may change by itself: NULL for never),
  report (JSON text of the compliance report's answers from that evaluation, NULL when none).
  One row per ticket, latest normalized state and its latest policy evaluation. INDEX
  (source, recheck_at) finds the changes due for re-evaluation.
- `cursors`  source PK; position (JSON text the caller serializes), updated_at.
- `inbox`    id PK; source, delivery_id, ticket_key, received_at, body, state
  ('pending'|'done'|'failed'), attempts, claimed_by, claimed_until (lease expiry), processed_at,
  error, body_digest (SHA-256 of the signed body). UNIQUE (source, delivery_id) dedupes webhook
  redeliveries (NULL ids never collide); INDEX (source, body_digest, received_at) finds a replayed
  body within the replay window.
- `ledger`   idempotency_key PK (<= 200 chars); source, ticket_key, action, content_fingerprint,
  state ('planned'|'claimed'|'applied'|'failed'|'dropped'|'superseded'), remote_ref, attempts,
  claimed_by, claimed_until, created_at, applied_at, error, payload. The action ledger: one row
  per planned remote write (see ledger.py for what each state means).
- `audit`    seq PK; at, source, ticket_key, event, actor, detail (canonical JSON text),
  prev_hash CHAR(64), hash CHAR(64). Append-only and hash-chained (see audit.py): a link takes
  `seq = last + 1` from the link it chains to, so the primary key refuses a second link after the
  same one (a fork) even if the append lock were bypassed.
- `runs`     id PK; kind ('poll'|'drain'|'sync'), source, worker, started_at, finished_at,
  status ('running'|'ok'|'failed'), tickets_seen, tickets_changed, actions_applied, error.
- `change_windows`  (source, change_key, system) PK; starts_at, ends_at, approved. The planned
  window of each change on each affected system, for conflict checks between changes; INDEX
  (source, system, starts_at). Replaced as a whole whenever the change is evaluated.
- `approval_bases`  (source, change_key, approvals_digest CHAR(64)) PK; covered (JSON text: a
  digest per field the approvers saw), recorded_at. Written once per approval set, never updated.
- `board_decisions`  id PK; source, change_key, decision, decided_by, note, decided_at. CAB
  decisions taken outside the ticket system, append-only; INDEX (source, change_key).
- `policy_state`  source PK; digest CHAR(64) (the policy version last applied to every stored
  change of the source), updated_at; answers_basis (the settings every stored change's report
  answers were last taken under; NULL: not all taken yet).
- `deployments`  id PK; provider, reference (the provider's own id), service, environment,
  commit_sha, change_source / change_key (NULL: no change found), triggered_by, url, outcome
  ('success'|'failure'|'in_progress'), started_at, finished_at, recorded_at, verdict (the gate's
  verdict at the deployment's time), reasons (JSON list), unauthorized. UNIQUE (provider,
  reference): a deployment heard of twice is one row. Deployment evidence (deployments.py).
- `gate_waits`  (provider, reference) PK; deployment (JSON of core.deploy.Deployment), extra
  (JSON the provider's answerer needs), created_at, state ('waiting'|'answering'|'answered'),
  claimed_by, claimed_until (lease of an answer in progress), verdict, reasons (JSON list),
  answered_at. A held deploy answered exactly once when its verdict changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGSERIAL.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

# The migrations that made these CHECKs (0001, 0008) named them in full, and the naming
# convention prefixed those names again ("ck_inbox_ck_inbox_state"): named so here, a new store
# built from these definitions has the names every migrated one has (0006 renamed the ledger's).
TWICE = {
    name: f"ck_{name}"
    for name in (
        "inbox_state",
        "runs_kind",
        "runs_status",
        "deployments_outcome",
        "gate_waits_state",
    )
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC, always returned as an aware UTC datetime.

    PostgreSQL stores `timestamptz`. SQLite has no date type, so the value is stored as a
    fixed-width ISO 8601 string (`2024-05-01T12:00:00.000000+00:00`): fixed width and a single
    offset make string order equal time order, so `claimed_until < :now` works in SQL.
    Naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC times only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.isoformat(timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:  # pragma: no cover - only if a row was written by hand
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING)

changes = Table(
    "changes",
    metadata,
    Column("source", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("native_id", String(200), nullable=False),
    Column("fingerprint", CHAR(64), nullable=False),
    Column("updated", UTCDateTime(), nullable=False),
    Column("data", Text(), nullable=False),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("synced_at", UTCDateTime(), nullable=False),
    Column("findings", Text(), nullable=True),
    Column("recheck_at", UTCDateTime(), nullable=True),
    Column("report", Text(), nullable=True),
    # Set when the ticket was deleted (or vanished from the integration user's view): the
    # change stays for the audit trail and reports, but drops out of every open list.
    Column("deleted_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("source", "key"),
    Index(None, "source", "updated"),
    Index(None, "source", "recheck_at"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("position", Text(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("delivery_id", String(200), nullable=True),
    Column("ticket_key", String(200), nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("body", Text(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("processed_at", UTCDateTime(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("body_digest", CHAR(64), nullable=True),
    UniqueConstraint("source", "delivery_id"),
    CheckConstraint("state IN ('pending', 'done', 'failed')", name=TWICE["inbox_state"]),
    Index(None, "state", "id"),
    Index(None, "source", "body_digest", "received_at"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("source", String(200), nullable=False),
    Column("ticket_key", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("content_fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("remote_ref", String(200), nullable=True),
    Column("attempts", Integer(), nullable=False),
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("applied_at", UTCDateTime(), nullable=True),
    Column("error", Text(), nullable=True),
    # The action itself (JSON), so a planned write survives the process that planned it.
    Column("payload", Text(), nullable=True),
    # dropped: never to be done (the ticket was deleted before it was); superseded: a note
    # edited in place whose newer version was planned before this one was written (never to
    # be done; remote_ref names the newer version)
    CheckConstraint(
        "state IN ('planned', 'claimed', 'applied', 'failed', 'dropped', 'superseded')",
        name="state",
    ),
    Index(None, "source", "ticket_key"),
    Index(None, "state", "source"),
)

audit = Table(
    "audit",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("source", String(200), nullable=False),
    Column("ticket_key", String(200), nullable=True),
    Column("event", String(100), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("detail", Text(), nullable=False),
    Column("prev_hash", CHAR(64), nullable=False),
    Column("hash", CHAR(64), nullable=False),
    Index(None, "source", "ticket_key", "seq"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("source", String(200), nullable=False),
    Column("worker", String(200), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("status", String(16), nullable=False),
    Column("tickets_seen", Integer(), nullable=False),
    Column("tickets_changed", Integer(), nullable=False),
    Column("actions_applied", Integer(), nullable=False),
    Column("error", Text(), nullable=True),
    CheckConstraint("kind IN ('poll', 'drain', 'sync')", name=TWICE["runs_kind"]),
    CheckConstraint("status IN ('running', 'ok', 'failed')", name=TWICE["runs_status"]),
    Index(None, "started_at"),
)

change_windows = Table(
    "change_windows",
    metadata,
    Column("source", String(200), nullable=False),
    Column("change_key", String(200), nullable=False),
    Column("system", String(200), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("approved", Boolean(), nullable=False),
    PrimaryKeyConstraint("source", "change_key", "system"),
    Index(None, "source", "system", "starts_at"),
)

approval_bases = Table(
    "approval_bases",
    metadata,
    Column("source", String(200), nullable=False),
    Column("change_key", String(200), nullable=False),
    Column("approvals_digest", CHAR(64), nullable=False),
    Column("covered", Text(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    # The normalized change (Change.to_json()) as the approvers saw it: audit evidence.
    Column("snapshot", Text(), nullable=True),
    PrimaryKeyConstraint("source", "change_key", "approvals_digest"),
)

board_decisions = Table(
    "board_decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("change_key", String(200), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("decided_by", String(200), nullable=False),
    Column("note", Text(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=False),
    Index(None, "source", "change_key"),
)

policy_state = Table(
    "policy_state",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("digest", CHAR(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("answers_basis", String(64), nullable=True),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("reference", String(400), nullable=False),
    Column("service", String(200), nullable=False),
    Column("environment", String(200), nullable=False),
    Column("commit_sha", String(64), nullable=False),
    Column("change_source", String(200), nullable=True),
    Column("change_key", String(200), nullable=True),
    Column("triggered_by", String(200), nullable=False),
    Column("url", Text(), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("reasons", Text(), nullable=False),
    Column("unauthorized", Boolean(), nullable=False),
    UniqueConstraint("provider", "reference"),
    CheckConstraint(
        "outcome IN ('success', 'failure', 'in_progress')", name=TWICE["deployments_outcome"]
    ),
    Index(None, "change_source", "change_key"),
    Index(None, "started_at"),
)

gate_waits = Table(
    "gate_waits",
    metadata,
    Column("provider", String(32), nullable=False),
    Column("reference", String(400), nullable=False),
    Column("deployment", Text(), nullable=False),
    Column("extra", Text(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("verdict", String(8), nullable=True),
    Column("reasons", Text(), nullable=True),
    Column("answered_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("provider", "reference"),
    CheckConstraint(
        "state IN ('waiting', 'answering', 'answered')", name=TWICE["gate_waits_state"]
    ),
    Index(None, "state"),
)

TABLES = (
    "changes",
    "cursors",
    "inbox",
    "ledger",
    "audit",
    "runs",
    "change_windows",
    "approval_bases",
    "board_decisions",
    "policy_state",
    "deployments",
    "gate_waits",
)
