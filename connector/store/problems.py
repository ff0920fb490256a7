"""What did not go through: actions still to do or refused, and tickets that could not be read.

`status` and `explain` read these. Open actions are ledger rows not applied (planned, claimed,
failed; not dropped or superseded, which are never to be done) with their attempts and the
system's reason; skipped tickets are the newest
`ticket.skipped` audit link per ticket that no later successful read of the ticket answered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from connector.store.base import StoreBase, chunks
from connector.store.ledger import _entry
from connector.store.records import LedgerEntry
from connector.store.schema import audit, changes, ledger

OPEN_STATES = ("planned", "claimed", "failed")


@dataclass(frozen=True, slots=True)
class SkippedTicket:
    """A ticket the worker could not read as a change, and why (newest reason)."""

    source: str
    ticket_key: str
    reason: str
    at: datetime


class ProblemsMixin(StoreBase):
    def open_actions(self, source: str | None = None, *, limit: int = 500) -> list[LedgerEntry]:
        """Actions not applied (failed first, then pending; oldest first within each)."""
        query = select(ledger).where(ledger.c.state.in_(OPEN_STATES))
        if source is not None:
            query = query.where(ledger.c.source == source)
        query = query.order_by(ledger.c.created_at, ledger.c.idempotency_key)
        with self._read() as conn:
            rows = [_entry(row) for row in conn.execute(query)]
        rows.sort(key=lambda e: e.state != "failed")  # stable: keeps the ledger order
        return rows[:limit]

    def skipped_tickets(self, source: str, *, limit: int = 500) -> list[SkippedTicket]:
        """Tickets of `source` whose newest read was skipped, newest first. A skip names its
        ticket at the start of its reason ("KEY: where: what"); the link has no ticket key."""
        query = (
            select(audit.c.at, audit.c.detail)
            .where(
                audit.c.source == source,
                audit.c.ticket_key.is_(None),
                audit.c.event == "ticket.skipped",
            )
            .order_by(audit.c.seq.desc())
        )
        newest: dict[str, SkippedTicket] = {}
        for at, text in self._stream(query):
            detail = json.loads(text)
            reason = str(detail.get("reason", "")) if isinstance(detail, dict) else ""
            key, sep, rest = reason.partition(": ")
            if sep and key not in newest:
                newest[key] = SkippedTicket(source, key, rest, at)
        synced: dict[str, datetime] = {}
        with self._read() as conn:
            for chunk in chunks(list(newest)):
                query = select(changes.c.key, changes.c.synced_at).where(
                    changes.c.source == source, changes.c.key.in_(chunk)
                )
                synced |= {key: at for key, at in conn.execute(query)}
        out = [s for k, s in newest.items() if k not in synced or synced[k] < s.at]
        return out[:limit]
