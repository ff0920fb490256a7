"""Plain values the store returns: frozen dataclasses, never database rows.

Callers (pipeline, executor, webhooks drain, reports) only ever see these; each mirrors one row
of a table described in `connector/store/schema.py`. All datetimes are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from connector.core.planner import NoteVersion

InboxState = Literal["pending", "done", "failed"]
LedgerState = Literal["planned", "claimed", "applied", "failed", "dropped", "superseded"]
RunKind = Literal["poll", "drain", "sync"]
RunStatus = Literal["running", "ok", "failed"]

#: An inbox item goes to state 'failed' for good after this many failed attempts.
INBOX_MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class StoredChange:
    """The stored state of one ticket (row of `changes`); `data` is `Change.to_json()`."""

    source: str
    key: str
    native_id: str
    fingerprint: str
    updated: datetime
    data: str
    first_seen_at: datetime
    synced_at: datetime


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A stored change with its latest policy evaluation (row of `changes`, for the policy).

    `findings` is the JSON list the policy stored (None: not evaluated yet); `recheck_at` is
    when the verdict may change by itself (None: never)."""

    source: str
    key: str
    native_id: str
    fingerprint: str
    data: str
    findings: str | None
    recheck_at: datetime | None


@dataclass(frozen=True, slots=True)
class WindowRow:
    """The planned window of one change on one system (row of `change_windows`)."""

    change_key: str
    system: str
    starts_at: datetime
    ends_at: datetime
    approved: bool


@dataclass(frozen=True, slots=True)
class BasisRow:
    """What one set of approvals covered (row of `approval_bases`); `covered` is JSON text."""

    approvals_digest: str
    covered: str
    recorded_at: datetime
    snapshot: str | None = None  # Change.to_json() when the approval set was complete


@dataclass(frozen=True, slots=True)
class NewBasis:
    """A basis to record for one change (`Tx.record_bases`)."""

    change_key: str
    approvals_digest: str
    covered: str
    recorded_at: datetime
    snapshot: str | None = None


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One CAB decision taken outside the ticket system (row of `board_decisions`)."""

    id: int
    change_key: str
    decision: str
    decided_by: str
    note: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One received webhook delivery waiting to be drained (row of `inbox`)."""

    id: int
    source: str
    delivery_id: str | None
    ticket_key: str | None
    received_at: datetime
    body: str
    state: InboxState
    attempts: int
    claimed_by: str | None
    claimed_until: datetime | None
    processed_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One planned remote write and how far it got (row of `ledger`)."""

    idempotency_key: str
    source: str
    ticket_key: str
    action: str
    content_fingerprint: str
    state: LedgerState
    remote_ref: str | None
    attempts: int
    claimed_by: str | None
    claimed_until: datetime | None
    created_at: datetime
    applied_at: datetime | None
    error: str | None
    payload: str | None = None
    # Set by a claim only: another claim on the ticket (or this action's own) had lapsed, its
    # holder may have died mid-write, so what was read of the ticket before may be stale.
    lapsed: bool = False

    @property
    def version(self) -> NoteVersion:
        """This write as the version of a note the next version is compared with and follows."""
        return NoteVersion(self.content_fingerprint, self.idempotency_key)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One poll, drain or sync run and its counters (row of `runs`)."""

    id: int
    kind: RunKind
    source: str
    worker: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    tickets_seen: int
    tickets_changed: int
    actions_applied: int
    error: str | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One link of the hash-chained audit trail (row of `audit`); `detail` is parsed JSON."""

    seq: int
    at: datetime
    source: str
    ticket_key: str | None
    event: str
    actor: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str
