"""What a compliance report reads in bulk: the answers stored with each change's evaluation,
and the release notes the ledger shows as written. A report over 100,000 changes makes a
handful of streamed queries per source, never one per change.
"""

from __future__ import annotations

from collections.abc import Collection, Generator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from connector.store.base import StoreBase
from connector.store.schema import changes, ledger


@dataclass(frozen=True, slots=True)
class NotesWritten:
    """Per ticket: whether its newest release note of each purpose reached the ticket, and when
    the first public one did."""

    posted: dict[str, bool]  # ticket key -> a newest entry of some purpose is applied
    first_told: dict[str, datetime]  # ticket key -> first applied entry of `told` purpose


class ReportingMixin(StoreBase):
    def report_answers(
        self, source: str, *, updated_since: datetime
    ) -> Generator[tuple[str, str | None, datetime | None], None, None]:
        """(key, stored answers or None, recheck_at) of the changes of `source` updated at or
        after `updated_since`, streamed in no particular order (the report sorts its rows):
        plain tuples, a report reads 100,000 of them."""
        query = select(changes.c.key, changes.c.report, changes.c.recheck_at).where(
            changes.c.source == source, changes.c.updated >= self._now(updated_since)
        )
        yield from self._stream(query)

    def notes_written(self, source: str, *, purposes: Collection[str], told: str) -> NotesWritten:
        """Release notes of every ticket of `source` (the ledger entries of `purposes`)."""
        newest: dict[tuple[str, str], bool] = {}
        query = (
            select(ledger.c.ticket_key, ledger.c.action, ledger.c.state)
            .where(ledger.c.source == source, ledger.c.action.in_(list(purposes)))
            .order_by(ledger.c.created_at, ledger.c.idempotency_key)
        )
        for row in self._stream(query):
            newest[(row.ticket_key, row.action)] = row.state == "applied"  # later rows win
        posted: dict[str, bool] = {}
        for (key, _), applied in newest.items():
            posted[key] = posted.get(key, False) or applied
        first = (
            select(ledger.c.ticket_key, func.min(ledger.c.applied_at).label("first"))
            .where(ledger.c.source == source, ledger.c.action == told, ledger.c.state == "applied")
            .group_by(ledger.c.ticket_key)
        )
        with self._read() as conn:
            first_told = {
                row.ticket_key: row.first for row in conn.execute(first) if row.first is not None
            }
        return NotesWritten(posted=posted, first_told=first_told)
