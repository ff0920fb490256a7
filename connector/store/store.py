"""The `Store`: the one durable state of the worker, behind a small typed repository API.

Opened once per process with `Store.open(url)`, which creates the engine and migrates the schema
forward (see engine.py). Pipeline, poller, webhooks, executor and reports use only these methods
and the frozen values of records.py; SQLAlchemy never leaks out of `connector/store`.

Tables (see schema.py for the columns): `changes`, `cursors`, `inbox` (inbox.py), `ledger`
(ledger.py), `audit` (audit.py), `runs` (runs.py), and the change-control policy's
`change_windows`, `approval_bases`, `board_decisions` and `policy_state` (written through `Tx`,
read in policy_reads.py), and the deployment gates' `deployments` and `gate_waits`
(deployments.py, gate_reads.py). Reads on the hot path (`fingerprints`, `stored_changes`, the
policy's per-page reads) are one query per 500 keys; `iter_changes`, `iter_stored` and `audit_rows`
stream (server-side cursor on PostgreSQL).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from connector.core.errors import ConfigError
from connector.store import audit as audit_log
from connector.store import engine as engines
from connector.store.base import chunks, transient_errors, utcnow
from connector.store.deployments import DeploymentsMixin
from connector.store.gate_reads import GateReadsMixin
from connector.store.gate_snapshot import GateSnapshotMixin
from connector.store.inbox import InboxMixin
from connector.store.inbox_wake import InboxWakeMixin
from connector.store.ledger import LedgerMixin
from connector.store.policy_reads import PolicyReadsMixin
from connector.store.problems import ProblemsMixin
from connector.store.records import (
    AuditRow,
    StoredChange,
    StoredRow,
)
from connector.store.reporting import ReportingMixin
from connector.store.runs import RunsMixin
from connector.store.schema import (
    audit,
    changes,
    cursors,
)
from connector.store.tx import Tx

# Query parameters of a database URL that carry a secret (libpq and driver spellings).
_SECRET_PARAMS = ("password", "passwd", "secret", "token")

DB_FILE_NAME = "change-connector.db"
_STORED_COLUMNS = (
    changes.c.source,
    changes.c.key,
    changes.c.native_id,
    changes.c.fingerprint,
    changes.c.data,
    changes.c.findings,
    changes.c.recheck_at,
)


def _stored(row: Any) -> StoredRow:
    return StoredRow(
        source=row.source,
        key=row.key,
        native_id=row.native_id,
        fingerprint=str(row.fingerprint),
        data=row.data,
        findings=row.findings,
        recheck_at=row.recheck_at,
    )


class Store(
    InboxMixin,
    InboxWakeMixin,
    LedgerMixin,
    PolicyReadsMixin,
    ProblemsMixin,
    ReportingMixin,
    RunsMixin,
    DeploymentsMixin,
    GateReadsMixin,
    GateSnapshotMixin,
):
    """Durable state: changes, cursors, webhook inbox, action ledger, audit trail and runs."""

    @staticmethod
    def default_url(data_dir: Path) -> str:
        """The SQLite database under the data directory."""
        return f"sqlite:///{Path(data_dir).expanduser().resolve() / DB_FILE_NAME}"

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], datetime] = utcnow) -> Store:
        """Connect to `url`, migrate the schema to head, and return the store."""
        try:
            engine = engines.create(url)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ConfigError(f"store URL is not usable: {exc}") from exc
        try:
            with transient_errors():
                namespace = engines.current_schema(engine)
                engines.migrate(engine, namespace=namespace)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, namespace=namespace, clock=clock)

    def close(self) -> None:
        """Stop listening for deliveries and release every pooled connection."""
        self._inbox_bell.close()
        self.close_generation()
        self._engine.dispose()

    def forget_connections(self) -> None:
        """In a forked child: drop the pooled connections inherited from the parent without
        closing them (they stay the parent's); the child opens its own."""
        self.close_generation(forget=True)
        self._engine.dispose(close=False)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL with any password masked, in the user part or in the query (the
        drivers take `?password=` too)."""
        url = self._engine.url
        query = {
            key: ("***" if any(word in key.lower() for word in _SECRET_PARAMS) else value)
            for key, value in url.query.items()
        }
        shown = url.set(query=query).render_as_string(hide_password=True)
        return shown.replace("=%2A%2A%2A", "=***")  # the mask as the password's, not encoded

    def handle(self) -> StoreHandle:
        """What another process of this worker opens this store with (`StoreHandle.open`)."""
        url = self._engine.url.render_as_string(hide_password=False)
        return StoreHandle(url=url, keying=self._audit_keying)

    @property
    def shared_between_threads(self) -> bool:
        """Whether a connection another thread opens sees the same database (not so for an
        in-memory SQLite database: each connection has its own)."""
        url = self._engine.url
        return url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:")

    # -- writes -------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One atomic write transaction: all of it commits when the block ends, or none of it."""
        with self._write() as conn:
            tx = Tx(conn, namespace=self._namespace, now=self._now, audit=self._audit_keying)
            yield tx
            tx.flush()  # the audit links appended in it, in one statement

    def upsert_change(
        self,
        *,
        source: str,
        change_key: str,
        native_id: str,
        fingerprint: str,
        updated: datetime,
        data: str,
        findings: str | None = None,
        recheck_at: datetime | None = None,
    ) -> None:
        with self.transaction() as tx:
            tx.upsert_change(
                source=source,
                change_key=change_key,
                native_id=native_id,
                fingerprint=fingerprint,
                updated=updated,
                data=data,
                findings=findings,
                recheck_at=recheck_at,
            )

    def mark_deleted(self, *, source: str, change_key: str, reason: str, actor: str) -> bool:
        """Record once that a ticket is gone (see `Tx.mark_deleted`)."""
        with self.transaction() as tx:
            return tx.mark_deleted(source=source, change_key=change_key, reason=reason, actor=actor)

    def is_deleted(self, source: str, key: str) -> bool:
        """Whether the ticket was recorded as deleted."""
        with self._read() as conn:
            query = select(changes.c.deleted_at).where(
                changes.c.source == source, changes.c.key == key
            )
            return conn.execute(query).scalar_one_or_none() is not None

    def set_cursor(self, source: str, position: str) -> None:
        with self.transaction() as tx:
            tx.set_cursor(source, position)

    def append_audit(
        self,
        *,
        source: str,
        ticket_key: str | None,
        event: str,
        actor: str,
        detail: Mapping[str, Any],
    ) -> AuditRow:
        with self.transaction() as tx:
            return tx.append_audit(
                source=source, ticket_key=ticket_key, event=event, actor=actor, detail=detail
            )

    # -- reads --------------------------------------------------------------------------------

    def fingerprint(self, source: str, key: str) -> str | None:
        """The stored fingerprint of one ticket, or None if never seen."""
        return self.fingerprints(source, [key]).get(key)

    def fingerprints(self, source: str, keys: Sequence[str]) -> dict[str, str]:
        """Stored fingerprints of a page of tickets (one query per 500 keys); unseen keys absent."""
        found: dict[str, str] = {}
        with self._read() as conn:
            for chunk in chunks(keys):
                query = select(changes.c.key, changes.c.fingerprint).where(
                    changes.c.source == source, changes.c.key.in_(chunk)
                )
                found.update((row.key, str(row.fingerprint)) for row in conn.execute(query))
        return found

    def get_change(self, source: str, key: str) -> str | None:
        """The stored `Change` JSON of one ticket, or None."""
        with self._read() as conn:
            query = select(changes.c.data).where(changes.c.source == source, changes.c.key == key)
            value = conn.execute(query).scalar_one_or_none()
            return None if value is None else str(value)

    def get_change_info(self, source: str, key: str) -> StoredChange | None:
        """The stored row of one ticket with its timestamps, or None."""
        with self._read() as conn:
            query = select(changes).where(changes.c.source == source, changes.c.key == key)
            row = conn.execute(query).first()
        if row is None:
            return None
        return StoredChange(
            source=row.source,
            key=row.key,
            native_id=row.native_id,
            fingerprint=str(row.fingerprint),
            updated=row.updated,
            data=row.data,
            first_seen_at=row.first_seen_at,
            synced_at=row.synced_at,
        )

    def cursor(self, source: str) -> str | None:
        """The stored poll position of `source`, or None before the first poll."""
        with self._read() as conn:
            query = select(cursors.c.position).where(cursors.c.source == source)
            value = conn.execute(query).scalar_one_or_none()
            return None if value is None else str(value)

    def cursors(self) -> dict[str, str]:
        """Every source's stored poll position."""
        with self._read() as conn:
            rows = conn.execute(select(cursors.c.source, cursors.c.position))
            return {str(r.source): str(r.position) for r in rows}

    def count_changes(self, source: str | None = None) -> int:
        query = select(func.count()).select_from(changes)
        if source is not None:
            query = query.where(changes.c.source == source)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def iter_changes(self, source: str | None = None) -> Generator[str, None, None]:
        """Every stored `Change` JSON, ordered by (source, key), streamed in batches.

        The read transaction stays open until the generator is exhausted or closed."""
        query = select(changes.c.data).order_by(changes.c.source, changes.c.key)
        if source is not None:
            query = query.where(changes.c.source == source)
        for row in self._stream(query):
            yield str(row.data)

    def stored_changes(self, source: str, keys: Sequence[str]) -> dict[str, StoredRow]:
        """Stored rows of a page of tickets with their evaluations; unseen keys absent."""
        found: dict[str, StoredRow] = {}
        with self._read() as conn:
            for chunk in chunks(keys):
                query = select(*_STORED_COLUMNS).where(
                    changes.c.source == source, changes.c.key.in_(chunk)
                )
                found.update((row.key, _stored(row)) for row in conn.execute(query))
        return found

    def change_keys(self, source: str, *, updated_since: datetime | None = None) -> list[str]:
        """Keys of the stored changes of `source` (updated at or after `updated_since`), in
        order, deleted tickets left out: for passes over every stored change that read the rows
        a page at a time."""
        query = (
            select(changes.c.key)
            .where(changes.c.source == source, changes.c.deleted_at.is_(None))
            .order_by(changes.c.key)
        )
        if updated_since is not None:
            query = query.where(changes.c.updated >= self._now(updated_since))
        with self._read() as conn:
            return [str(key) for key in conn.execute(query).scalars()]

    def iter_stored(self, source: str | None = None) -> Generator[StoredRow, None, None]:
        """Every stored change with its evaluation, ordered by (source, key), streamed.

        For re-evaluating everything (a new policy) and back-testing; the read transaction
        stays open until the generator is exhausted or closed."""
        query = select(*_STORED_COLUMNS).order_by(changes.c.source, changes.c.key)
        if source is not None:
            query = query.where(changes.c.source == source)
        for row in self._stream(query):
            yield _stored(row)

    # -- audit --------------------------------------------------------------------------------

    def audit_rows(self, after_seq: int = 0) -> Generator[AuditRow, None, None]:
        """Audit links with seq > after_seq, in order, streamed."""
        query = select(audit).where(audit.c.seq > after_seq).order_by(audit.c.seq)
        for row in self._stream(query):
            yield audit_log.to_row(row)

    def audit_for(self, source: str, ticket_key: str) -> list[AuditRow]:
        """The audit links of one ticket, in chain order (evidence for one change)."""
        query = (
            select(audit)
            .where(audit.c.source == source, audit.c.ticket_key == ticket_key)
            .order_by(audit.c.seq)
        )
        with self._read() as conn:
            return [audit_log.to_row(row) for row in conn.execute(query)]

    def audit_head(self) -> AuditRow | None:
        """The newest link: its hash anchors the whole chain."""
        with self._read() as conn:
            row = conn.execute(select(audit).order_by(audit.c.seq.desc()).limit(1)).first()
        return None if row is None else audit_log.to_row(row)

    def use_audit_keying(self, keying: audit_log.AuditKeying) -> None:
        """Key new links with `keying.key`; refuse appends while the chain is shorter than
        `keying.floor`, and refuse now if it is shorter or its anchored link differs."""
        floor = keying.floor
        if floor is not None and floor.seq is not None:
            with self._read() as conn:
                query = select(func.max(audit.c.seq))
                links = int(conn.execute(query).scalar_one() or 0)
                anchored = conn.execute(
                    select(audit.c.hash).where(audit.c.seq == floor.seq)
                ).scalar_one_or_none()
            if links < floor.seq:
                raise audit_log.AuditTruncated(audit_log.truncated_message(links, floor))
            if anchored != floor.hash:
                raise audit_log.AuditTruncated(audit_log.altered_message(floor))
        self._audit_keying = keying

    def raise_audit_floor(self, anchor: audit_log.Anchor) -> None:
        """An anchor this process just wrote: appends now need the chain to reach it."""
        floor = self._audit_keying.floor
        if anchor.seq is not None and (floor is None or (floor.seq or 0) < anchor.seq):
            self._audit_keying = dataclasses.replace(self._audit_keying, floor=anchor)

    def verify_audit(self) -> int | None:
        """The seq of the first link that does not verify, or None if the chain is intact."""
        return self.audit_verdict().broken

    def audit_verdict(self, anchors: Sequence[audit_log.Anchor] = ()) -> audit_log.Verdict:
        """Walk the chain (with the configured key) and compare it with `anchors`."""
        # Plain SQL: the values as stored, without type processing per row (a million rows).
        # PostgreSQL writes each time as the link's UTC ISO text itself (SQLite stores that).
        at = (
            """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
            if self._engine.dialect.name == "postgresql"
            else "at"
        )
        query = text(
            f"SELECT seq, {at}, source, ticket_key, event, actor, detail, prev_hash, hash "
            "FROM audit ORDER BY seq"
        )
        with closing(self._stream(query)) as rows:
            return audit_log.verify(rows, key=self._audit_keying.key, anchors=anchors)


@dataclasses.dataclass(frozen=True)
class StoreHandle:
    """The store as another process of the worker opens it (a second evaluation process): its
    URL with the password, and the audit keying, so that process's links chain and are keyed
    as this one's are. Picklable; neither is shown."""

    url: str = dataclasses.field(repr=False)
    keying: audit_log.AuditKeying = dataclasses.field(repr=False)

    def open(self) -> Store:
        store = Store.open(self.url)
        try:
            store.use_audit_keying(self.keying)
        except BaseException:
            store.close()
            raise
        return store
