"""What a compliance report reads in bulk: the answers stored with each change's evaluation,
in one streamed query per source, never one per change (the ledger's release notes come from
`LedgerMixin` with every ticket of the source at once).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime

from sqlalchemy import func, or_, select

from connector.store.base import StoreBase
from connector.store.schema import changes, policy_state


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

    def answers_basis(self, source: str) -> str | None:
        """The settings every stored change of `source` has its answers taken under, or None."""
        query = select(policy_state.c.answers_basis).where(policy_state.c.source == source)
        with self._read() as conn:
            value = conn.execute(query).scalar_one_or_none()
            return None if value is None else str(value)

    def stale_answers(
        self, source: str, *, prefix: str, after: str = "", limit: int = 500
    ) -> list[str]:
        """Keys after `after`, in order, of the changes of `source` whose stored answers do not
        begin with `prefix` (the current settings' basis as stored), or that have none."""
        query = (
            select(changes.c.key)
            .where(
                changes.c.source == source,
                changes.c.key > after,
                or_(
                    changes.c.report.is_(None),
                    func.substr(changes.c.report, 1, len(prefix)) != prefix,
                ),
            )
            .order_by(changes.c.key)
            .limit(limit)
        )
        with self._read() as conn:
            return [str(key) for key in conn.execute(query).scalars()]
