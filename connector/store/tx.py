"""A write transaction of the store: the batch a poll or drain records atomically.

`Store.transaction()` yields a `Tx`; everything written through it commits together when the
`with` block ends, or not at all if it raises. That is how the poller keeps its promise that the
cursor only advances together with the changes (and audit rows) of the batch it covers.

Tables written: `changes` (upsert by (source, key), first_seen_at kept; the policy evaluation,
findings and recheck_at, kept unless a new one is given), `cursors` (upsert by source), `audit`
(append, see audit.py), `ledger` (planned actions; the older versions of a note edited in place
marked superseded when a newer one is planned before they were written) and the policy's
tables: `change_windows` (replaced per change), `approval_bases` (insert once),
`board_decisions` (append) and `policy_state` (upsert by source).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, or_, update

from connector.store import audit as audit_log
from connector.store.base import in_list, pow2_runs
from connector.store.records import AuditRow, NewBasis
from connector.store.schema import change_windows, changes, ledger, policy_state
from connector.store.tx_statements import (
    _DELETE_WINDOWS,
    _INSERT_BOARD_DECISION,
    _INSERT_WINDOW,
    _SET_EVALUATION,
    _SET_REPORT,
    _SUPERSEDE,
    _aware,
    _digest,
    _insert_basis,
    _plan_action,
    _plan_version,
    _upsert_change,
    _upsert_cursor,
    _upsert_policy_digest,
)

#: Approval bases inserted by one statement at most. Many rows with RETURNING go out as one
#: multi-row INSERT, whose SQL text differs with the number of rows; SQLite prepares each text
#: anew and the driver keeps up to 128 prepared statements a connection, ~2.5 KB a row for this
#: one (a page's ~100 bases: 250 KB). Runs of a power of two rows, at most this many, keep the
#: texts to 7 whatever the pages hold, instead of one per count seen (9 MB over the pool's
#: connections after a 20,000-ticket sync).
BASES_AT_ONCE = 64

# A window as `set_windows` takes it: (system, starts_at, ends_at, approved).
Window = tuple[str, datetime, datetime, bool]


class Tx:
    """Writes inside one open transaction; obtain it from `Store.transaction()`."""

    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        now: Callable[[datetime | None], datetime],
        audit: audit_log.AuditKeying | None = None,
    ) -> None:
        self._conn = conn
        self._namespace = namespace
        self._now = now
        self._audit = audit or audit_log.AuditKeying()
        # The chain's last link once this transaction holds the append lock, and the links
        # appended since, inserted together by `flush` (Store.transaction, before commit).
        self._head: tuple[int, str] | None = None
        self._links: list[dict[str, Any]] = []
        # Inside `bulk()`: statement -> the parameter sets given it, in call order.
        self._bulk: dict[Any, list[dict[str, Any]]] | None = None
        self._bulk_windows: dict[tuple[str, str], Sequence[Window]] = {}

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Gather the changes' upserts, evaluations and windows written in the block, and run
        each statement once for all of them when it ends (one round trip each instead of one
        per change), each statement in the order of its first use, the windows last. A change's
        windows are the last given for it; statements reading or updating those tables in the
        same transaction belong after the block."""
        self._bulk, self._bulk_windows = {}, {}
        try:
            yield
            bulk, windows = self._bulk, self._bulk_windows
        finally:
            self._bulk, self._bulk_windows = None, {}
        for stmt, params in bulk.items():
            self._conn.execute(stmt, params)
        if windows:
            self._conn.execute(_DELETE_WINDOWS, [{"b_source": s, "b_key": k} for s, k in windows])
            rows = [
                {
                    "source": source,
                    "change_key": key,
                    "system": system,
                    "starts_at": _aware("starts_at", starts_at),
                    "ends_at": _aware("ends_at", ends_at),
                    "approved": approved,
                }
                for (source, key), found in windows.items()
                for system, starts_at, ends_at, approved in found
            ]
            if rows:
                self._conn.execute(_INSERT_WINDOW, rows)

    def _run(self, stmt: Any, params: dict[str, Any]) -> None:
        """Execute now, or with the block's others of the same statement inside `bulk()`."""
        if self._bulk is None:
            self._conn.execute(stmt, params)
        else:
            self._bulk.setdefault(stmt, []).append(params)

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
        findings: str | None = None,
        recheck_at: datetime | None = None,
        report: str | None = None,
    ) -> None:
        """Store the latest normalized state of one ticket (`data` is `Change.to_json()`).

        With `findings` (the policy's JSON list) the evaluation is stored too, `recheck_at`
        included (None: never); without, an existing row keeps its stored evaluation. `report`
        is the compliance report's answers from that evaluation (JSON text); a row stored
        without them has none, so a report evaluates the change again."""
        if len(fingerprint) != 64:
            raise ValueError(f"fingerprint must be 64 hex characters: {fingerprint!r}")
        if updated.tzinfo is None or updated.utcoffset() is None:
            raise ValueError(f"naive datetime {updated!r}: `updated` must be timezone-aware")
        if recheck_at is not None:
            if findings is None:
                raise ValueError("recheck_at belongs to an evaluation: pass findings with it")
            _aware("recheck_at", recheck_at)
        if report is not None and findings is None:
            raise ValueError("report answers belong to an evaluation: pass findings with them")
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
            "findings": findings,
            "recheck_at": recheck_at,
            "report": report,
        }
        self._run(_upsert_change(self._conn.dialect.name), row)

    def set_evaluation(
        self,
        *,
        source: str,
        change_key: str,
        findings: str,
        recheck_at: datetime | None,
        report: str | None = None,
    ) -> None:
        """Store the policy's evaluation of an already stored change (nothing if it is not),
        with the report's answers from it (None: none)."""
        params = {
            "b_source": source,
            "b_key": change_key,
            "b_findings": findings,
            "b_recheck_at": None if recheck_at is None else _aware("recheck_at", recheck_at),
            "b_report": report,
        }
        self._run(_SET_EVALUATION, params)

    def mark_deleted(self, *, source: str, change_key: str, reason: str, actor: str) -> bool:
        """Record that the ticket is gone: the stored change stays (reports, audit trail) but
        leaves every open list, its planned window no longer conflicts, and the actions still
        to do on it are dropped. True the first time; False if already recorded or never
        stored (nothing to record)."""
        at = self._now(None)
        marked = self._conn.execute(
            update(changes)
            .where(
                changes.c.source == source,
                changes.c.key == change_key,
                changes.c.deleted_at.is_(None),
            )
            .values(deleted_at=at, recheck_at=None)
        )
        if marked.rowcount != 1:
            return False
        self._conn.execute(
            delete(change_windows).where(
                change_windows.c.source == source, change_windows.c.change_key == change_key
            )
        )
        self._conn.execute(
            update(ledger)
            .where(
                ledger.c.source == source,
                ledger.c.ticket_key == change_key,
                ledger.c.state.in_(("planned", "claimed", "failed")),
            )
            .values(state="dropped", error="the ticket was deleted", claimed_by=None)
        )
        self.append_audit(
            source=source,
            ticket_key=change_key,
            event="ticket.deleted",
            actor=actor,
            detail={"reason": reason},
        )
        return True

    def recheck(self, *, source: str, change_keys: Sequence[str], at: datetime) -> None:
        """Make stored changes due for re-evaluation by `at` (their verdict depends on something
        that changed): a recheck already due sooner stays."""
        if not change_keys:
            return
        at = _aware("at", at)
        self._conn.execute(
            update(changes)
            .where(
                changes.c.source == source,
                changes.c.key.in_(in_list(change_keys)),
                or_(changes.c.recheck_at.is_(None), changes.c.recheck_at > at),
            )
            .values(recheck_at=at)
        )

    def set_windows(
        self,
        *,
        source: str,
        change_key: str,
        windows: Sequence[tuple[str, datetime, datetime, bool]],
    ) -> None:
        """Replace the planned windows of one change: (system, starts_at, ends_at, approved),
        at most one per system; an empty sequence removes them all."""
        systems = [system for system, _start, _end, _approved in windows]
        if len(set(systems)) != len(systems):
            raise ValueError(f"one window per system, got {systems!r} for {change_key!r}")
        if self._bulk is not None:  # the last windows given for a change are the ones kept
            self._bulk_windows[(source, change_key)] = windows
            return
        self._conn.execute(_DELETE_WINDOWS, {"b_source": source, "b_key": change_key})
        if windows:
            rows = [
                {
                    "source": source,
                    "change_key": change_key,
                    "system": system,
                    "starts_at": _aware("starts_at", starts_at),
                    "ends_at": _aware("ends_at", ends_at),
                    "approved": approved,
                }
                for system, starts_at, ends_at, approved in windows
            ]
            self._conn.execute(_INSERT_WINDOW, rows)

    def record_basis(
        self,
        *,
        source: str,
        change_key: str,
        approvals_digest: str,
        covered: str,
        recorded_at: datetime,
        snapshot: str | None = None,
    ) -> bool:
        """Record what the approvals `approvals_digest` covered (JSON text), unless already
        recorded; True if this call inserted it (the first record of an approval set wins)."""
        basis = NewBasis(change_key, approvals_digest, covered, recorded_at, snapshot)
        return bool(self.record_bases(source=source, bases=[basis]))

    def record_bases(self, *, source: str, bases: Sequence[NewBasis]) -> set[tuple[str, str]]:
        """`record_basis` for many in one statement: the (change key, approvals digest) of
        those this call inserted."""
        if not bases:
            return set()
        rows = [
            {
                "source": source,
                "change_key": b.change_key,
                "approvals_digest": _digest("approvals_digest", b.approvals_digest),
                "covered": b.covered,
                "recorded_at": _aware("recorded_at", b.recorded_at),
                "snapshot": b.snapshot,
            }
            for b in bases
        ]
        stmt = _insert_basis(self._conn.dialect.name)
        return {
            (str(r.change_key), str(r.approvals_digest))
            for run in pow2_runs(rows, most=BASES_AT_ONCE)
            for r in self._conn.execute(stmt, run)
        }

    def add_board_decision(
        self,
        *,
        source: str,
        change_key: str,
        decision: str,
        decided_by: str,
        note: str,
        decided_at: datetime,
    ) -> int:
        """Append one CAB decision taken outside the ticket system; returns its id."""
        row = {
            "source": source,
            "change_key": change_key,
            "decision": decision,
            "decided_by": decided_by,
            "note": note,
            "decided_at": _aware("decided_at", decided_at),
        }
        return int(self._conn.execute(_INSERT_BOARD_DECISION, row).scalar_one())

    def set_policy_digest(self, source: str, digest: str, *, now: datetime | None = None) -> None:
        """Store the digest of the policy every stored change of `source` is now evaluated by."""
        row = {"source": source, "digest": _digest("digest", digest), "updated_at": self._now(now)}
        self._conn.execute(_upsert_policy_digest(self._conn.dialect.name), row)

    def set_answers_basis(self, source: str, basis: str) -> None:
        """Every stored change of `source` has its answers taken under `basis` (the policy's
        digest is stored first: without it there is nothing to mark)."""
        self._conn.execute(
            update(policy_state).where(policy_state.c.source == source).values(answers_basis=basis)
        )

    def set_reports(self, *, source: str, reports: Mapping[str, str]) -> None:
        """The report's answers of stored changes (by key) taken again, their evaluations
        unchanged; keys not stored are passed over."""
        if reports:
            rows = [{"b_source": source, "b_key": k, "b_report": r} for k, r in reports.items()]
            self._conn.execute(_SET_REPORT, rows)

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
        version: bool = False,
    ) -> bool:
        """Record a planned remote write (the outbox); False if the key is already known.

        `version`: the action is a version of a note edited in place (see `supersede`); a
        version superseded earlier and planned again is planned anew, as the newest (True)."""
        row = {
            "idempotency_key": key,
            "source": source,
            "ticket_key": ticket_key,
            "action": action,
            "content_fingerprint": content_fingerprint,
            "state": "planned",
            "attempts": 0,
            "created_at": self._now(now),
            "payload": payload,
        }
        plan = _plan_version if version else _plan_action
        inserted = self._conn.execute(plan(self._conn.dialect.name), row).first()
        return inserted is not None

    def supersede(
        self, key: str, *, source: str, ticket_key: str, action: str
    ) -> list[tuple[str, str]]:
        """Mark the older versions of a note edited in place that are not written yet (planned,
        or failed) `superseded` by the version `key` just planned: they are never applied (one
        with a claim is left to its holder, who finds `key` newer). Returns their (idempotency
        key, content fingerprint)."""
        params = {"p_key": key, "p_source": source, "p_ticket": ticket_key, "p_action": action}
        return [(str(r[0]), str(r[1])) for r in self._conn.execute(_SUPERSEDE, params)]

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
        """Append one audit link; the chain stays serialized until this transaction ends.
        The first link of the transaction takes the append lock and reads the chain's last
        link; the next ones chain from the one before in memory (no other writer can append
        before this transaction ends), and all are inserted at `flush`."""
        if self._head is None:
            self._head = audit_log.head(self._conn, namespace=self._namespace, keying=self._audit)
        row, values = audit_log.link(
            self._head,
            at=self._now(at),
            source=source,
            ticket_key=ticket_key,
            event=event,
            actor=actor,
            detail=detail,
            keying=self._audit,
        )
        self._head = (row.seq, row.hash)
        self._links.append(values)
        return row

    def flush(self) -> None:
        """Insert the audit links appended so far (the transaction must not end without it)."""
        links, self._links = self._links, []
        audit_log.insert_links(self._conn, links)
