"""Step 5 of the pipeline: apply a Plan, each action at most once, whatever fails or repeats.

For every action: (1) an `applied` row in the ledger means done; (2) otherwise claim the
idempotency key in the ledger (a UNIQUE row with a lease: one worker wins); (3) look for the
action's marker on the ticket itself (a Jira comment property, a tag inside the ServiceNow work
note) and only write when it is absent; (4) record `applied` with the remote reference; (5)
append the audit row. A crash between (3) and (4) is healed by (3) on the next attempt, and a
lost database by the marker: the ledger is a fast path, the ticket is the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from connector.planner import Action, Plan
from connector.store import Store


class TicketWriter(Protocol):
    """What the executor needs of a ticket system (see connector/systems/writers.py)."""

    def find_note(self, ticket: str, *, marker: str) -> str | None: ...

    def post_note(self, ticket: str, *, body: str, marker: str) -> str: ...


class Outcome(StrEnum):
    WRITTEN = "written"  # this worker wrote it now
    FOUND = "found"  # the marker was already on the ticket: recorded, nothing written
    ALREADY = "already"  # the ledger says it was applied before
    HELD = "held"  # another worker holds the claim


@dataclass(frozen=True)
class Applied:
    action: Action
    outcome: Outcome
    remote_ref: str | None = None


@dataclass
class Executor:
    store: Store
    writer: TicketWriter
    worker: str
    lease_seconds: float = 300.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def apply(self, plan: Plan) -> list[Applied]:
        return [self._apply(action) for action in plan.actions]

    def _apply(self, action: Action) -> Applied:
        key = action.idempotency_key
        entry = self.store.ledger_get(key)
        if entry is not None and entry.state == "applied":
            return Applied(action, Outcome.ALREADY, entry.remote_ref)
        claim = self.store.ledger_claim(
            key, source=action.source, ticket_key=action.ticket_key, action=action.purpose,
            content_fingerprint=action.content_fingerprint, worker=self.worker,
            lease_seconds=self.lease_seconds, now=self.clock(),
        )
        if claim is None:
            return Applied(action, Outcome.HELD)
        marker = note_marker(action)
        ticket = action.native_id
        try:
            ref = self.writer.find_note(ticket, marker=marker)
            outcome = Outcome.FOUND if ref is not None else Outcome.WRITTEN
            if ref is None:
                ref = self.writer.post_note(ticket, body=action.body, marker=marker)
        except Exception as exc:
            self.store.ledger_failed(key, error=f"{type(exc).__name__}: {exc}"[:500],
                                     worker=self.worker)
            raise
        self.store.ledger_applied(key, remote_ref=ref)
        self.store.append_audit(
            source=action.source, ticket_key=action.ticket_key,
            event=f"action.{action.kind.value}.{outcome.value}", actor=self.worker,
            detail={"purpose": action.purpose, "idempotency_key": key, "remote_ref": ref,
                    "content_fingerprint": action.content_fingerprint},
        )
        return Applied(action, outcome, ref)


def note_marker(action: Action) -> str:
    """The marker left on the ticket: purpose plus content, so a new content is a new note."""
    return f"{action.marker}:{action.content_fingerprint[:16]}"
