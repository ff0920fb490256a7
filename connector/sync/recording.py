"""Pipeline step 5, record: one evaluated change into the store, inside the page's transaction.

What is written together: the change (when read from the ticket) with its window index rows,
or its new evaluation; the audit links for what changed (fields, approvals, findings), a newly
complete approval basis with a snapshot of what was approved, the compliance report's answers
from this evaluation, and the planned actions into the ledger (the outbox; an action whose
idempotency key is already there is not planned again; a new version of a note edited in place
supersedes its versions not yet written).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from connector.core.audit_detail import (
    FINDINGS_CHANGED,
    changed_fields,
    findings_changed,
    new_decisions,
)
from connector.core.model import Change
from connector.core.planner import Action, ActionKind, Plan
from connector.core.policy import Evaluation
from connector.core.windows import entries
from connector.store import NewBasis, Tx


@dataclass(frozen=True)
class Evaluated:
    change: Change
    evaluation: Evaluation
    plan: Plan
    synced: bool  # read from the ticket now (else: a stored change evaluated again)
    previous: str | None  # the stored change JSON, if any
    previous_findings: str | None
    fingerprint: str  # of `change`, computed once
    findings: str  # the evaluation's findings as the store keeps them
    report: str  # the compliance report's answers from the evaluation (`reports.answers`)


@dataclass(frozen=True)
class Recorder:
    source: str  # the source instance's name

    def record_bases(self, tx: Tx, items: Sequence[Evaluated]) -> set[tuple[str, str]]:
        """Record the approval bases these evaluations completed, in one statement, before
        their items are recorded: the (change key, approvals digest) newly recorded, which
        `record` audits (a basis another writer recorded first is not audited again)."""
        bases = [
            NewBasis(
                change_key=item.change.key,
                approvals_digest=basis.approvals,
                covered=json.dumps(basis.covered, sort_keys=True),
                recorded_at=basis.recorded_at,
                snapshot=item.change.to_json(),
            )
            for item in items
            if (basis := item.evaluation.new_basis) is not None
        ]
        return tx.record_bases(source=self.source, bases=bases)

    def record(self, tx: Tx, item: Evaluated, *, bases: set[tuple[str, str]]) -> None:
        """Record one evaluated change; `bases`: what `record_bases` recorded."""
        change, ev = item.change, item.evaluation
        if item.synced:
            self._synced(tx, item)
        else:
            tx.set_evaluation(
                source=self.source,
                change_key=change.key,
                findings=item.findings,
                recheck_at=ev.recheck_at,
                report=item.report,
            )
        self._audit_findings(tx, change.key, item.previous_findings, item.findings)
        if ev.new_basis is not None and (change.key, ev.new_basis.approvals) in bases:
            self.audit(tx, change.key, "approval.complete", approvals=ev.new_basis.approvals)
        if item.plan.withheld:
            self.audit(
                tx,
                change.key,
                "actions.withheld",
                reason=item.plan.withheld[0].reason,
                purposes=[w.action.purpose for w in item.plan.withheld],
            )
        for action in item.plan.actions:
            if record_action(tx, action):
                self.audit(
                    tx,
                    action.ticket_key,
                    f"action.{action.kind.value}.planned",
                    purpose=action.purpose,
                    idempotency_key=action.idempotency_key,
                )

    def record_read(
        self, tx: Tx, change: Change, *, previous: str | None, fingerprint: str
    ) -> None:
        """A change as read from its ticket, its evaluation left to a later pass: the stored
        evaluation stays (none for a new change), the report's answers go (they belonged to
        the version before), and its windows are recorded."""
        tx.upsert_change(
            source=self.source,
            change_key=change.key,
            native_id=change.native_id,
            fingerprint=fingerprint,
            updated=change.updated,
            data=change.to_json(),
        )
        self._audit_synced(tx, change, previous=previous, fingerprint=fingerprint)
        tx.set_windows(source=self.source, change_key=change.key, windows=sorted(entries(change)))

    def audit(self, tx: Tx, key: str | None, event: str, **detail: object) -> None:
        tx.append_audit(
            source=self.source, ticket_key=key, event=event, actor="worker", detail=detail
        )

    def _synced(self, tx: Tx, item: Evaluated) -> None:
        change = item.change
        tx.upsert_change(
            source=self.source,
            change_key=change.key,
            native_id=change.native_id,
            fingerprint=item.fingerprint,
            updated=change.updated,
            data=change.to_json(),
            findings=item.findings,
            recheck_at=item.evaluation.recheck_at,
            report=item.report,
        )
        self._audit_synced(tx, change, previous=item.previous, fingerprint=item.fingerprint)
        # Only here: a stored change evaluated again keeps the windows recorded when it was
        # read (they are the ticket's own; a held change's were recorded from its page).
        tx.set_windows(source=self.source, change_key=change.key, windows=sorted(entries(change)))

    def _audit_synced(
        self, tx: Tx, change: Change, *, previous: str | None, fingerprint: str
    ) -> None:
        old = Change.from_json(previous) if previous else None
        self.audit(
            tx,
            change.key,
            "ticket.synced",
            fingerprint=fingerprint,
            status=change.status.value,
            status_before=old.status.value if old else None,
            changed=changed_fields(old, change),
        )
        for approval in new_decisions(change, old):
            self.audit(tx, change.key, "approval.recorded", **approval)

    def _audit_findings(self, tx: Tx, key: str, before: str | None, after: str) -> None:
        """One link for what an evaluation raised and resolved (not one per finding: they are
        most of a first sync's links)."""
        detail = findings_changed(before, after)
        if detail is not None:
            self.audit(tx, key, FINDINGS_CHANGED, **detail)


def record_action(tx: Tx, action: Action) -> bool:
    """Put a planned action in the ledger (the outbox); False if its key is already there.

    A note edited in place has one current version: planning one marks the versions of the
    same ticket and purpose not yet written superseded (never applied; audited as such), so
    a note whose ticket was evaluated again before the writes (a partner's window moved) is
    written once, as it is last, not posted and then edited."""
    version = action.kind is ActionKind.NOTE and action.edit_in_place
    planned = tx.plan_action(
        action.idempotency_key,
        source=action.source,
        ticket_key=action.ticket_key,
        action=action.purpose,
        content_fingerprint=action.content_fingerprint,
        payload=action.model_dump_json(),
        version=version,
    )
    if planned and version:
        older = tx.supersede(
            action.idempotency_key,
            source=action.source,
            ticket_key=action.ticket_key,
            action=action.purpose,
        )
        for key, content in older:
            tx.append_audit(
                source=action.source,
                ticket_key=action.ticket_key,
                event=f"action.{action.kind.value}.superseded",
                actor="worker",
                detail={
                    "purpose": action.purpose,
                    "idempotency_key": key,
                    "remote_ref": action.idempotency_key,
                    "content_fingerprint": content,
                },
            )
    return planned
