"""Step 5 of the pipeline, durable side: the action ledger that makes remote writes idempotent.

Persisted in table `ledger` (see schema.py), one row per idempotency key (system, ticket,
purpose, content fingerprint). Before calling Jira or ServiceNow the executor claims the key;
only the claim holder may act, and records the outcome with `ledger_applied` / `ledger_failed`.

Claiming is a compare-and-set that is safe across threads, processes and both databases:

1. `INSERT ... ON CONFLICT (idempotency_key) DO NOTHING` with state 'claimed' and a lease;
   inserting the row (the INSERT returns it) wins the claim.
2. Otherwise `UPDATE ... WHERE key = :k AND (state = 'failed' OR (state = 'claimed' AND
   claimed_until < :now - grace))`: taking over a lapsed claim, or retrying a failed action;
   exactly one concurrent updater gets the row back (PostgreSQL re-checks the WHERE clause after
   waiting on the row lock; SQLite runs the whole claim under `BEGIN IMMEDIATE`).
3. Anything else (applied, or claimed under a live lease) returns None.

The fence, one ticket at a time. A ticket's writes are not only per action: Jira's marker
property is written whole, with no compare-and-set, so a write on an issue carries what the
writer last read of every note's marker. A worker killed with a write in flight may have it land
later, over a successor's newer write (or under it: the successor wrote from a read that missed
it). So before the compare-and-set, the claim looks at the ticket's other actions: while any is
claimed (by any worker, this one included) under a lease that has not lapsed by `grace`, the
claim is refused; a lapsed one sets `LedgerEntry.lapsed`, as does taking a lapsed claim over.
The grace is at least the HTTP timeout of the source's calls (the executor passes twice the
timeout: connect, then read), and a worker sends no request for an action after its lease ran
out (connector/systems/http.py `calls_until`): by the time a successor may write a ticket,
whatever a dead worker had in flight on it has landed or been given up, and `lapsed` tells the
successor to read the ticket again rather than trust what it read before. On PostgreSQL the
claim takes a transaction-scoped advisory lock on (source, ticket) first, so two workers
claiming actions of one ticket are serialized (SQLite's `BEGIN IMMEDIATE` serializes every
claim).

A 'failed' row can be claimed again: whether a failure is worth retrying is the planner's call
(it can read `ledger_get(key).error`); an 'applied' row is final.

States: 'planned' (recorded by a plan, not tried yet), 'claimed' (a worker holds it under a
lease), 'applied' (done, or found done on the ticket), 'failed' (refused; tried again under the
attempts cap), and two that are never tried again: 'dropped' (the ticket was deleted first) and
'superseded' (a version of a note edited in place that a newer version replaced before it was
written: planned or failed when the newer one was planned, or found outdated by its claimant;
`remote_ref` names the newer version's key). Only 'planned', 'failed' and lapsed 'claimed' rows
are pending (`ledger_pending`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, text, true, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.store.base import StoreBase, chunks
from connector.store.engine import lock_key
from connector.store.records import LedgerEntry
from connector.store.schema import ledger

MAX_KEY_LENGTH = 200


def _entry(row: Any, *, lapsed: bool = False) -> LedgerEntry:
    return LedgerEntry(
        idempotency_key=row.idempotency_key,
        source=row.source,
        ticket_key=row.ticket_key,
        action=row.action,
        content_fingerprint=row.content_fingerprint,
        state=row.state,
        remote_ref=row.remote_ref,
        attempts=int(row.attempts),
        claimed_by=row.claimed_by,
        claimed_until=row.claimed_until,
        created_at=row.created_at,
        applied_at=row.applied_at,
        error=row.error,
        payload=row.payload,
        lapsed=lapsed,
    )


def _after(after: tuple[datetime, str] | None) -> list[Any]:
    if after is None:
        return []
    created, key = after
    return [
        or_(
            ledger.c.created_at > created,
            and_(ledger.c.created_at == created, ledger.c.idempotency_key > key),
        )
    ]


# The claim's two statements, built once (a claim precedes every remote write, and building
# a statement costs several times more than running it); the values travel as parameters.
# RETURNING rather than rowcount: the row comes back only to the statement that won.
_CLAIM_NEW_SQLITE = sqlite.insert(ledger).on_conflict_do_nothing().returning(*ledger.c)
_CLAIM_NEW_POSTGRESQL = postgresql.insert(ledger).on_conflict_do_nothing().returning(*ledger.c)
_CLAIM_TAKE_OVER = (
    update(ledger)
    .where(
        ledger.c.idempotency_key == bindparam("c_key"),
        or_(
            ledger.c.state.in_(("planned", "failed")),
            and_(ledger.c.state == "claimed", ledger.c.claimed_until < bindparam("c_lapsed")),
        ),
    )
    .values(
        state="claimed",
        attempts=ledger.c.attempts + 1,
        claimed_by=bindparam("c_worker"),
        claimed_until=bindparam("c_until"),
    )
    .returning(*ledger.c)
)
# The ticket's claims (the fence), the row's own among them (a lapsed one is taken over).
_CLAIMS_OF_TICKET = select(ledger.c.claimed_until).where(
    ledger.c.source == bindparam("f_source"),
    ledger.c.ticket_key == bindparam("f_ticket"),
    ledger.c.state == "claimed",
)
_TICKET_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


@cache
def _settle_statement(*, by_worker: bool, columns: tuple[str, ...]) -> Any:
    """Settling a claim: the row's new `columns` come as parameters `s_<column>`."""
    conditions = [ledger.c.idempotency_key == bindparam("s_key"), ledger.c.state == "claimed"]
    if by_worker:
        conditions.append(ledger.c.claimed_by == bindparam("s_worker"))
    values: dict[str, Any] = {c: bindparam(f"s_{c}") for c in columns}
    return (
        update(ledger)
        .where(*conditions)
        .values(claimed_until=None, **values)
        .returning(ledger.c.idempotency_key)
    )


@cache
def _latest_statement(*, every_ticket: bool) -> Any:
    """`ledger_latest`'s query: parameters `l_source`, `l_action` and (unless every ticket)
    the list `l_tickets`."""
    tickets = (
        true() if every_ticket else ledger.c.ticket_key.in_(bindparam("l_tickets", expanding=True))
    )
    return (
        select(ledger)
        .where(
            ledger.c.source == bindparam("l_source"),
            tickets,
            ledger.c.action == bindparam("l_action"),
        )
        .order_by(ledger.c.created_at, ledger.c.idempotency_key)
    )


class LedgerMixin(StoreBase):
    def ledger_get(self, key: str) -> LedgerEntry | None:
        with self._read() as conn:
            row = conn.execute(select(ledger).where(ledger.c.idempotency_key == key)).first()
            return None if row is None else _entry(row)

    def ledger_claim(
        self,
        key: str,
        *,
        source: str,
        ticket_key: str,
        action: str,
        content_fingerprint: str,
        worker: str,
        lease_seconds: float,
        now: datetime,
        grace_seconds: float = 0.0,
    ) -> LedgerEntry | None:
        """Claim `key` for `worker`; the entry if this worker now holds it, else None (the
        action is settled, or claimed under a live lease, or another action of the ticket is
        claimed under a lease not lapsed by `grace_seconds`: see the module docstring)."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"idempotency key must be 1..{MAX_KEY_LENGTH} characters: {key!r}")
        now = self._now(now)
        until = now + timedelta(seconds=lease_seconds)
        lapsed_before = now - timedelta(seconds=grace_seconds)
        create = _CLAIM_NEW_SQLITE if self.is_sqlite else _CLAIM_NEW_POSTGRESQL
        with self._write() as conn:
            if not self.is_sqlite:
                ticket = f"ledger-ticket:{source}\0{ticket_key}"
                conn.execute(_TICKET_LOCK, {"k": lock_key(self._namespace, ticket)})
            claims = conn.execute(
                _CLAIMS_OF_TICKET, {"f_source": source, "f_ticket": ticket_key}
            ).scalars()
            lapsed = False
            for held_until in claims:
                if held_until is not None and self._now(held_until) >= lapsed_before:
                    return None  # its holder may still write the ticket: not now
                lapsed = True  # its holder may have died mid-write: read the ticket again
            row = conn.execute(
                create,
                {
                    "idempotency_key": key,
                    "source": source,
                    "ticket_key": ticket_key,
                    "action": action,
                    "content_fingerprint": content_fingerprint,
                    "state": "claimed",
                    "attempts": 1,
                    "claimed_by": worker,
                    "claimed_until": until,
                    "created_at": now,
                },
            ).first()
            if row is None:
                row = conn.execute(
                    _CLAIM_TAKE_OVER,
                    {
                        "c_key": key,
                        "c_lapsed": lapsed_before,
                        "c_worker": worker,
                        "c_until": until,
                    },
                ).first()
            return None if row is None else _entry(row, lapsed=lapsed)

    def ledger_applied(
        self, key: str, *, remote_ref: str | None, worker: str | None = None
    ) -> bool:
        """Record that the action was carried out; False if the key is unknown or not claimed
        (by `worker`, when given: a holder whose lease was taken over must not record)."""
        return self._settle(key, worker, state="applied", remote_ref=remote_ref, error=None)

    def ledger_failed(self, key: str, *, error: str, worker: str | None = None) -> bool:
        """Record that the action failed and release the claim (the key may be claimed again)."""
        return self._settle(key, worker, state="failed", error=error)

    def ledger_dropped(self, key: str, *, error: str, worker: str | None = None) -> bool:
        """Record that the action will never be carried out (its ticket is gone): not retried."""
        return self._settle(key, worker, state="dropped", error=error)

    def ledger_superseded(self, key: str, *, newer: str, worker: str | None = None) -> bool:
        """Record that the note was not written because its newer version `newer` was planned
        (remote_ref names it): never tried again."""
        return self._settle(key, worker, state="superseded", remote_ref=newer, error=None)

    def _settle(self, key: str, worker: str | None, **values: Any) -> bool:
        if values["state"] == "applied":
            values["applied_at"] = self._now()
        stmt = _settle_statement(by_worker=worker is not None, columns=tuple(sorted(values)))
        params = {"s_key": key, "s_worker": worker, **{f"s_{k}": v for k, v in values.items()}}
        with self._write() as conn:
            return conn.execute(stmt, params).first() is not None

    def ledger_mark(self, key: str, *, worker: str, remote_ref: str | None) -> bool:
        """Set the remote reference of an action `worker` holds, before it is settled: a chat
        post is marked as being sent before the request goes out, so whoever takes the claim
        over after a crash knows the post may have landed (False: the claim is not held)."""
        stmt = (
            update(ledger)
            .where(
                ledger.c.idempotency_key == key,
                ledger.c.state == "claimed",
                ledger.c.claimed_by == worker,
            )
            .values(remote_ref=remote_ref)
        )
        with self._write() as conn:
            return conn.execute(stmt.returning(ledger.c.idempotency_key)).first() is not None

    def ledger_known(self, keys: Sequence[str]) -> set[str]:
        """Which of these idempotency keys the ledger holds, in any state."""
        out: set[str] = set()
        with self._read() as conn:
            for chunk in chunks(keys):
                query = select(ledger.c.idempotency_key).where(ledger.c.idempotency_key.in_(chunk))
                out.update(conn.execute(query).scalars())
        return out

    def ledger_latest(
        self, *, source: str, ticket_keys: Sequence[str] | None, action: str
    ) -> dict[str, LedgerEntry]:
        """Per ticket, the newest entry of `action` in any state (one query per 500 keys;
        `ticket_keys=None`: every ticket of `source`, in one query).

        The planner compares against what was last planned, applied or not: a planned note
        will be written, so planning the same content again would be noise.
        """
        out: dict[str, LedgerEntry] = {}
        query = _latest_statement(every_ticket=ticket_keys is None)
        batches = [None] if ticket_keys is None else list(chunks(ticket_keys))
        with self._read() as conn:
            for batch in batches:
                params = {"l_source": source, "l_action": action, "l_tickets": batch}
                for row in conn.execute(query, params):
                    out[row.ticket_key] = _entry(row)  # later rows win: the newest
        return out

    def ledger_first_applied(
        self, *, source: str, ticket_keys: Sequence[str] | None, action: str
    ) -> dict[str, datetime]:
        """Per ticket, when an entry of `action` was first applied (tickets without: absent;
        `ticket_keys=None`: every ticket of `source`)."""
        out: dict[str, datetime] = {}
        with self._read() as conn:
            for tickets in _tickets(ticket_keys):
                query = (
                    select(ledger.c.ticket_key, func.min(ledger.c.applied_at))
                    .where(
                        ledger.c.source == source,
                        tickets,
                        ledger.c.action == action,
                        ledger.c.state == "applied",
                    )
                    .group_by(ledger.c.ticket_key)
                )
                for key, first in conn.execute(query):
                    if first is not None:
                        out[key] = first
        return out

    def ledger_for(self, *, source: str, ticket_key: str) -> list[LedgerEntry]:
        """Every ledger entry of one ticket, in the order they were planned (evidence)."""
        query = (
            select(ledger)
            .where(ledger.c.source == source, ledger.c.ticket_key == ticket_key)
            .order_by(ledger.c.created_at, ledger.c.idempotency_key)
        )
        with self._read() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def ledger_pending(
        self,
        *,
        source: str,
        now: datetime,
        limit: int = 500,
        max_attempts: int = 5,
        after: tuple[datetime, str] | None = None,
        grace_seconds: float = 0.0,
        tickets_with: Sequence[str] = (),
    ) -> list[LedgerEntry]:
        """Actions of `source` still to do: planned, failed (under `max_attempts`), or claimed
        by a worker whose lease ran out `grace_seconds` ago (it died mid-write), oldest first;
        `after` continues from the (created_at, idempotency_key) of the last entry of the
        previous page. `tickets_with`: only the tickets with an action of one of these
        purposes still to do (every action of those tickets, whatever its purpose)."""
        lapsed = self._now(now) - timedelta(seconds=grace_seconds)
        query = (
            select(ledger)
            .where(
                ledger.c.source == source,
                _pending(ledger, lapsed=lapsed, max_attempts=max_attempts),
                *_after(after),
            )
            .order_by(ledger.c.created_at, ledger.c.idempotency_key)
            .limit(limit)
        )
        if tickets_with:
            other = ledger.alias("other")
            tickets = select(other.c.ticket_key).where(
                other.c.source == source,
                other.c.action.in_(list(tickets_with)),
                _pending(other, lapsed=lapsed, max_attempts=max_attempts),
            )
            query = query.where(ledger.c.ticket_key.in_(tickets))
        with self._read() as conn:
            return [_entry(row) for row in conn.execute(query)]


def _pending(table: Any, *, lapsed: datetime, max_attempts: int) -> ColumnElement[bool]:
    """The rows of `table` (the ledger or an alias of it) still to do (`ledger_pending`)."""
    return or_(
        table.c.state == "planned",
        and_(table.c.state == "failed", table.c.attempts < max_attempts),
        and_(table.c.state == "claimed", table.c.claimed_until < lapsed),
    )


def _tickets(keys: Sequence[str] | None) -> Iterator[ColumnElement[bool]]:
    """The ticket condition of each query: all tickets, or one IN (...) list per 500 keys."""
    if keys is None:
        yield true()
        return
    for chunk in chunks(keys):
        yield ledger.c.ticket_key.in_(chunk)
