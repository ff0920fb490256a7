"""The write statements of a store transaction, built once per dialect, and its argument checks.

`Tx` (tx.py) runs these with execute() parameters: the upserts of changes, cursors and the
policy digest, the insert-once of the ledger's planned actions and of approval bases, and the
dialect-neutral updates of a stored change's evaluation, report and windows, and the superseding
of a note's older versions not yet written. Building a statement costs more than running it, so
each is built once.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Table, bindparam, case, delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.store.schema import (
    approval_bases,
    board_decisions,
    change_windows,
    changes,
    cursors,
    ledger,
    policy_state,
)


def _insert(dialect: str) -> Any:
    return sqlite.insert if dialect == "sqlite" else postgresql.insert


# Statements are built once per dialect (building one costs more than running it); the values
# come as execute() parameters.
@cache
def _upsert_change(dialect: str) -> Any:
    stmt = _insert(dialect)(changes)
    return stmt.on_conflict_do_update(
        index_elements=[changes.c.source, changes.c.key],
        set_={
            "native_id": stmt.excluded.native_id,
            "fingerprint": stmt.excluded.fingerprint,
            "updated": stmt.excluded.updated,
            "data": stmt.excluded.data,
            "synced_at": stmt.excluded.synced_at,
            # No findings given: the stored evaluation stays (with its recheck time).
            "findings": case(
                (stmt.excluded.findings.is_(None), changes.c.findings),
                else_=stmt.excluded.findings,
            ),
            "recheck_at": case(
                (stmt.excluded.findings.is_(None), changes.c.recheck_at),
                else_=stmt.excluded.recheck_at,
            ),
            # The report's answers belong to this version of the change: none given, none kept.
            "report": stmt.excluded.report,
            # Read again, so it is there again (a ticket moved back into the user's view).
            "deleted_at": None,
        },
    )


@cache
def _plan_action(dialect: str) -> Any:
    return _insert(dialect)(ledger).on_conflict_do_nothing().returning(ledger.c.idempotency_key)


@cache
def _plan_version(dialect: str) -> Any:
    """`_plan_action` for a version of a note edited in place: a version superseded earlier
    and planned again is planned anew (it is the newest again), other rows stay as they are."""
    stmt = _insert(dialect)(ledger)
    return stmt.on_conflict_do_update(
        index_elements=[ledger.c.idempotency_key],
        set_={
            "state": "planned",
            "created_at": stmt.excluded.created_at,
            "payload": stmt.excluded.payload,
            "remote_ref": None,
            "error": None,
        },
        where=ledger.c.state == "superseded",
    ).returning(ledger.c.idempotency_key)


def _upsert_cursor(dialect: str) -> Any:
    return _upsert_by_source(dialect, cursors, "position")


def _upsert_policy_digest(dialect: str) -> Any:
    return _upsert_by_source(dialect, policy_state, "digest")


@cache
def _upsert_by_source(dialect: str, table: Table, column: str) -> Any:
    """One row per source: insert it, or set its `column` and `updated_at`."""
    stmt = _insert(dialect)(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.source],
        set_={column: stmt.excluded[column], "updated_at": stmt.excluded.updated_at},
    )


@cache
def _insert_basis(dialect: str) -> Any:
    stmt = _insert(dialect)(approval_bases).on_conflict_do_nothing()
    return stmt.returning(approval_bases.c.change_key, approval_bases.c.approvals_digest)


# Dialect-neutral statements; bind names differ from the column names SET assigns.
# An update of one stored change, by source and key.
_UPDATE_CHANGE = update(changes).where(
    changes.c.source == bindparam("b_source"), changes.c.key == bindparam("b_key")
)
_SET_EVALUATION = _UPDATE_CHANGE.values(
    findings=bindparam("b_findings"),
    recheck_at=bindparam("b_recheck_at"),
    report=bindparam("b_report"),
)
_SET_REPORT = _UPDATE_CHANGE.values(report=bindparam("b_report"))
_DELETE_WINDOWS = delete(change_windows).where(
    change_windows.c.source == bindparam("b_source"),
    change_windows.c.change_key == bindparam("b_key"),
)
_INSERT_WINDOW = insert(change_windows)
_INSERT_BOARD_DECISION = insert(board_decisions).returning(board_decisions.c.id)
# The versions of a note edited in place not yet written (planned, or failed: never claimed
# now, never applied) that the version `p_key` replaces; `remote_ref` names it.
_NEWER: BindParameter[str] = bindparam("p_key")
_SUPERSEDE = (
    update(ledger)
    .where(
        ledger.c.source == bindparam("p_source"),
        ledger.c.ticket_key == bindparam("p_ticket"),
        ledger.c.action == bindparam("p_action"),
        ledger.c.idempotency_key != _NEWER,
        ledger.c.state.in_(("planned", "failed")),
    )
    .values(state="superseded", remote_ref=_NEWER, claimed_until=None)
    .returning(ledger.c.idempotency_key, ledger.c.content_fingerprint)
)


def _aware(name: str, value: datetime) -> datetime:
    """`value`, refused if naive (a StatementError from the column type would come too late)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: `{name}` must be timezone-aware")
    return value


def _digest(name: str, value: str) -> str:
    if len(value) != 64:
        raise ValueError(f"{name} must be 64 hex characters: {value!r}")
    return value
