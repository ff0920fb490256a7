"""The durable store: the only package that talks to a database (SQLite or PostgreSQL).

It keeps the worker's state between runs and across workers: the latest normalized change per
ticket and its fingerprint (step 2, "unchanged?"), poll cursors, the webhook inbox, the action
ledger that makes remote writes idempotent (step 5), the hash-chained audit trail (step 6) and
the run log. Reports read it; they never call Jira or ServiceNow.

Persisted schema: tables `changes`, `cursors`, `inbox`, `ledger`, `audit`, `runs`, and for the
change-control policy `change_windows`, `approval_bases`, `board_decisions`, `policy_state`;
columns in `schema.py`, migrations (Alembic, run by `Store.open`) in `migrations/`. Beside the
database, `anchors` keeps anchors of the audit chain in a file outside it (audit.anchor_file).

    store = Store.open(Store.default_url(data_dir))      # or postgresql+psycopg://...
    with store.transaction() as tx:                      # one atomic batch
        tx.upsert_change(source=..., change_key=..., native_id=..., fingerprint=...,
                         updated=..., data=change.to_json())
        tx.set_cursor(source, position_json)
"""

from __future__ import annotations

from connector.store.records import (
    INBOX_MAX_ATTEMPTS,
    AuditRow,
    BasisRow,
    BoardRow,
    InboxItem,
    InboxState,
    LedgerEntry,
    LedgerState,
    NewBasis,
    RunInfo,
    RunKind,
    RunStatus,
    StoredChange,
    StoredRow,
    WindowRow,
)
from connector.store.store import Store, StoreHandle
from connector.store.tx import Tx

__all__ = [
    "INBOX_MAX_ATTEMPTS",
    "AuditRow",
    "BasisRow",
    "BoardRow",
    "InboxItem",
    "InboxState",
    "LedgerEntry",
    "LedgerState",
    "NewBasis",
    "RunInfo",
    "RunKind",
    "RunStatus",
    "Store",
    "StoreHandle",
    "StoredChange",
    "StoredRow",
    "Tx",
    "WindowRow",
]
