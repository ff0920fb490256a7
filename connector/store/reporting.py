"""What a compliance report reads in bulk: the answers stored with each change's evaluation,
in one streamed query per source, never one per change (the ledger's release notes come from
`LedgerMixin` with every ticket of the source at once).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime

from sqlalchemy import select

from connector.store.base import StoreBase
from connector.store.schema import changes


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
