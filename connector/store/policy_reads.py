"""What the change-control policy reads from the store besides the changes themselves.

The pipeline evaluates a page of tickets at a time, so each read takes a page's keys or systems
(one query per 500): the planned windows that may conflict (`change_windows`), the approval
bases that detect drift (`approval_bases`), board decisions taken outside the ticket system
(`board_decisions`); and, per source, what is due for a recheck by the clock and the policy the
stored verdicts were reached under (`policy_state`). The writes go through `Tx`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, or_, select

from connector.store.base import StoreBase, chunks
from connector.store.records import BasisRow, BoardRow, WindowRow
from connector.store.schema import (
    approval_bases,
    board_decisions,
    change_windows,
    changes,
    policy_state,
)


def _window(row: Any) -> WindowRow:
    return WindowRow(
        change_key=row.change_key,
        system=row.system,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        approved=bool(row.approved),
    )


def _board(row: Any) -> BoardRow:
    return BoardRow(
        id=int(row.id),
        change_key=row.change_key,
        decision=row.decision,
        decided_by=row.decided_by,
        note=row.note,
        decided_at=row.decided_at,
    )


def _basis(row: Any) -> BasisRow:
    return BasisRow(
        approvals_digest=str(row.approvals_digest),
        covered=row.covered,
        recorded_at=row.recorded_at,
        snapshot=row.snapshot,
    )


_Row = TypeVar("_Row")
_TERMS = 32  # ranges per query of `windows_near` (a short batch repeats its last range)


@cache
def _near(approved_only: bool, not_due: bool = False) -> Any:
    """Windows starting in any of _TERMS ranges (sys<i>, [lo<i>, hi<i>)), each term one range
    of the index on (source, system, starts_at); `not_due`: of changes not due for a recheck at
    `due_at`."""
    c = change_windows.c
    terms = [
        and_(
            c.source == bindparam("source"),
            c.system == bindparam(f"sys{i}"),
            c.starts_at >= bindparam(f"lo{i}"),
            c.starts_at < bindparam(f"hi{i}"),
        )
        for i in range(_TERMS)
    ]
    query = select(change_windows).where(or_(*terms))
    if not_due:
        of = and_(changes.c.source == c.source, changes.c.key == c.change_key)
        due = changes.c.recheck_at <= bindparam("due_at")
        query = query.join(changes, of).where(or_(changes.c.recheck_at.is_(None), ~due))
    return query.where(c.approved.is_(True)) if approved_only else query


class PolicyReadsMixin(StoreBase):
    def windows_overlapping(
        self, source: str, *, systems: Collection[str], start: datetime, end: datetime
    ) -> list[WindowRow]:
        """Windows on any of `systems` that overlap [start, end) (touching ones do not),
        ordered by (starts_at, change_key, system)."""
        start, end = self._now(start), self._now(end)
        found: list[WindowRow] = []
        with self._read() as conn:
            for chunk in chunks(systems):
                query = select(change_windows).where(
                    change_windows.c.source == source,
                    change_windows.c.system.in_(chunk),
                    change_windows.c.starts_at < end,
                    change_windows.c.ends_at > start,
                )
                found.extend(_window(row) for row in conn.execute(query))
        return sorted(found, key=lambda w: (w.starts_at, w.change_key, w.system))

    def window_reach(self, source: str) -> dict[str, timedelta]:
        """The longest stored window of each system of `source`, rounded up to the second:
        a window overlapping [start, end) on that system starts after start - reach."""
        if self.dialect == "sqlite":  # fixed-width ISO text; julianday's days, ms precision
            length = (
                func.julianday(change_windows.c.ends_at)
                - func.julianday(change_windows.c.starts_at)
            ) * 86400.0
        else:
            length = func.extract("epoch", change_windows.c.ends_at - change_windows.c.starts_at)
        query = (
            select(change_windows.c.system, func.max(length))
            .where(change_windows.c.source == source)
            .group_by(change_windows.c.system)
        )
        with self._read() as conn:
            # One second more than measured: julianday keeps milliseconds only.
            return {
                str(system): timedelta(seconds=int(float(seconds)) + 1)
                for system, seconds in conn.execute(query)
            }

    def windows_near(
        self,
        source: str,
        spans: Iterable[tuple[str, datetime, datetime]],
        *,
        reach: Mapping[str, timedelta],
        approved_only: bool = False,
        not_due_at: datetime | None = None,
    ) -> list[WindowRow]:
        """Windows that may overlap any of `spans` (system, start, end): every window on the
        span's system starting in [start - reach, end), each row once, unordered. With the
        longest window of each system as its `reach` (`window_reach`), no overlapping window is
        missed, and the index on (source, system, starts_at) keeps each read to the rows near
        the spans: a page's changes read their neighbours, not every stored window between
        their earliest start and latest end. Callers filter the exact overlaps (WindowIndex).
        `not_due_at`: only the windows of changes not due for a recheck at that time."""
        ranges: dict[str, list[tuple[datetime, datetime]]] = {}
        for system, start, end in spans:
            lo = self._now(start) - reach.get(system, timedelta(0))
            ranges.setdefault(system, []).append((lo, self._now(end)))
        merged: list[dict[str, Any]] = []
        for system, found in ranges.items():
            found.sort()
            lo, hi = found[0]
            for start, end in found[1:]:
                if start > hi:  # apart from the range so far: that one is complete
                    merged.append({"system": system, "lo": lo, "hi": hi})
                    lo = start
                hi = max(hi, end)
            merged.append({"system": system, "lo": lo, "hi": hi})
        query = _near(approved_only, not_due_at is not None)
        seen: set[tuple[str, str]] = set()
        out: list[WindowRow] = []
        with self._read() as conn:
            for first in range(0, len(merged), _TERMS):
                batch = merged[first : first + _TERMS]
                batch += [batch[-1]] * (_TERMS - len(batch))  # one statement shape, compiled once
                params: dict[str, Any] = {"source": source}
                if not_due_at is not None:
                    params["due_at"] = self._now(not_due_at)
                for i, term in enumerate(batch):
                    params.update({f"sys{i}": term["system"], f"lo{i}": term["lo"]})
                    params[f"hi{i}"] = term["hi"]
                for row in conn.execute(query, params):
                    if (row.change_key, row.system) not in seen:
                        seen.add((row.change_key, row.system))
                        out.append(_window(row))
        return out

    def windows_of(self, source: str, keys: Sequence[str]) -> list[WindowRow]:
        """The stored windows of the given changes, ordered by (change_key, starts_at, system)."""
        found: list[WindowRow] = []
        with self._read() as conn:
            for chunk in chunks(keys):
                query = select(change_windows).where(
                    change_windows.c.source == source, change_windows.c.change_key.in_(chunk)
                )
                found.extend(_window(row) for row in conn.execute(query))
        return sorted(found, key=lambda w: (w.change_key, w.starts_at, w.system))

    def approval_bases(self, source: str, keys: Sequence[str]) -> dict[str, list[BasisRow]]:
        """Per change, what each of its approval sets covered, oldest first; keys without any
        recorded basis are absent."""
        order = (approval_bases.c.recorded_at, approval_bases.c.approvals_digest)
        return self._per_change(approval_bases, source, keys, order=order, row=_basis)

    def board_decisions(self, source: str, keys: Sequence[str]) -> dict[str, list[BoardRow]]:
        """Per change, its board decisions ordered by (decided_at, id); keys without any are
        absent."""
        order = (board_decisions.c.decided_at, board_decisions.c.id)
        return self._per_change(board_decisions, source, keys, order=order, row=_board)

    def _per_change(
        self,
        table: Table,
        source: str,
        keys: Sequence[str],
        *,
        order: tuple[ColumnElement[Any], ...],
        row: Callable[[Any], _Row],
    ) -> dict[str, list[_Row]]:
        """The rows of `table` of the given changes, grouped by change key, in `order`."""
        found: dict[str, list[_Row]] = {}
        with self._read() as conn:
            for chunk in chunks(keys):
                query = (
                    select(table)
                    .where(table.c.source == source, table.c.change_key.in_(chunk))
                    .order_by(*order)
                )
                for found_row in conn.execute(query):
                    found.setdefault(found_row.change_key, []).append(row(found_row))
        return found

    def due_for_recheck(self, source: str, *, now: datetime, limit: int = 500) -> list[str]:
        """Keys of changes whose verdict may have changed by itself (recheck_at <= now),
        the most overdue first (ties by key), at most `limit`."""
        query = (
            select(changes.c.key)
            .where(changes.c.source == source, changes.c.recheck_at <= self._now(now))
            .order_by(changes.c.recheck_at, changes.c.key)
            .limit(limit)
        )
        with self._read() as conn:
            return [str(key) for key in conn.execute(query).scalars()]

    def due_by_window(self, source: str, *, now: datetime, limit: int) -> list[str]:
        """Keys of the changes due for a recheck at `now`, in the order of their earliest
        window's start (those without a window first; ties by key), at most `limit`:
        evaluated in this order, each batch's changes sit close together in the calendar and
        read only the stored windows near that stretch, not every window of the source."""
        first = (
            select(change_windows.c.change_key, func.min(change_windows.c.starts_at).label("first"))
            .where(change_windows.c.source == source)
            .group_by(change_windows.c.change_key)
            .subquery()
        )
        query = (
            select(changes.c.key)
            .outerjoin(first, first.c.change_key == changes.c.key)
            .where(changes.c.source == source, changes.c.recheck_at <= self._now(now))
            .order_by(first.c.first.asc().nulls_first(), changes.c.key)
            .limit(limit)
        )
        with self._read() as conn:
            return [str(key) for key in conn.execute(query).scalars()]

    def policy_digest(self, source: str) -> str | None:
        """The digest of the policy `source`'s stored changes were last evaluated by, or None."""
        with self._read() as conn:
            query = select(policy_state.c.digest).where(policy_state.c.source == source)
            value = conn.execute(query).scalar_one_or_none()
            return None if value is None else str(value)
