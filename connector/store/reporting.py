"""What a compliance report reads in bulk: the answers stored with each change's evaluation,
in one streamed query per source, never one per change (the ledger's release notes come from
`LedgerMixin` with every ticket of the source at once).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from connector.store.base import StoreBase
from connector.store.schema import audit, changes, policy_state, runs


class ReportingMixin(StoreBase):
    def report_answers(
        self, source: str, *, updated_since: datetime
    ) -> Generator[tuple[str, str | None, datetime | None], None, None]:
        """(key, stored answers or None, recheck_at) of the changes of `source` updated at or
        after `updated_since`, deleted tickets left out, streamed in no particular order (the
        report sorts its rows): plain tuples, a report reads 100,000 of them."""
        query = select(changes.c.key, changes.c.report, changes.c.recheck_at).where(
            changes.c.source == source,
            changes.c.updated >= self._now(updated_since),
            changes.c.deleted_at.is_(None),
        )
        yield from self._stream(query)

    def report_answers_all(
        self, source: str, *, updated_since: datetime, now: datetime
    ) -> Generator[tuple[str, str | None, bool, bool], None, None]:
        """(key, stored answers or None, whether a recheck fell due by `now`, whether recorded
        as deleted) of every change of `source` updated at or after `updated_since`, deleted
        ones included (a report counts them from the same read), streamed in no particular
        order, as read (a report reads 100,000: no tuple made again). The recheck is compared
        in SQL, so no stored time is read back into a datetime."""
        due = and_(changes.c.recheck_at.is_not(None), changes.c.recheck_at <= self._now(now))
        query = select(
            changes.c.key,
            changes.c.report,
            due,
            changes.c.deleted_at.is_not(None),
        ).where(changes.c.source == source, changes.c.updated >= self._now(updated_since))
        # Both flags come back as bool (SQLAlchemy's Boolean on SQLite too): rows passed as read.
        yield from self._stream(query)

    def skipped_reasons(self, source: str, *, since: datetime, until: datetime) -> list[str]:
        """The reasons recorded (audit `ticket.skipped`) for tickets of `source` that could not
        be read as changes in [since, until), one per record."""
        # A skip names no ticket the store knows: its links have no ticket key, which the
        # (source, ticket_key, seq) index finds without reading the whole trail.
        query = select(audit.c.detail).where(
            audit.c.source == source,
            audit.c.ticket_key.is_(None),
            audit.c.event == "ticket.skipped",
            audit.c.at >= self._now(since),
            audit.c.at < self._now(until),
        )
        with self._read() as conn:
            details = [json.loads(text) for text in conn.execute(query).scalars()]
        return [str(d.get("reason", "")) for d in details if isinstance(d, dict)]

    def last_success(self, source: str) -> datetime | None:
        """When the last poll or sync of `source` that finished without error ended."""
        query = (
            select(runs.c.finished_at)
            .where(
                runs.c.source == source,
                runs.c.status == "ok",
                runs.c.kind.in_(("poll", "sync")),
                runs.c.finished_at.is_not(None),
            )
            .order_by(runs.c.finished_at.desc())
            .limit(1)
        )
        with self._read() as conn:
            value: datetime | None = conn.execute(query).scalar_one_or_none()
            return value

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
