"""Process tickets: normalize -> unchanged? -> evaluate -> plan -> record (then apply, audit).

Polling and the webhook drain both hand pages of raw tickets to `Pipeline.process`, so the two
paths converge. A ticket whose fingerprint equals the stored one stops at step 2: that is what
keeps the connector's own comments and transitions from re-triggering it, and what makes a
second pass over the same batch plan nothing and write nothing. The changes, their planned
actions (the ledger is the outbox) and, for polling, the advanced cursor are recorded in one
transaction; the executor applies the planned actions afterwards. A crash anywhere therefore
means "do it again" (or "apply what was planned"), never "skip it".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connector.errors import SkipRecord
from connector.mapping import Mapping, RawTicket, normalize
from connector.model import Change, Source
from connector.planner import FINDINGS, Plan, plan
from connector.policy import Rule, evaluate
from connector.store import Store, Tx


@dataclass
class PageResult:
    seen: int = 0
    changed: list[Change] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    max_updated: datetime | None = None

    @property
    def planned(self) -> int:
        return sum(len(p.actions) for p in self.plans)


@dataclass
class Pipeline:
    store: Store
    source: Source
    mapping: Mapping
    base_url: str
    rules: Sequence[Rule]
    dry_run: bool = False  # plan only: record nothing

    def process(
        self,
        raws: Sequence[RawTicket],
        *,
        record_cursor: Callable[[Tx, PageResult], None] | None = None,
    ) -> PageResult:
        result = PageResult(seen=len(raws))
        changes = self._normalize(raws, result)
        instance = self.source.instance
        stored = self.store.fingerprints(instance, [c.key for c in changes])
        fresh = [c for c in changes if stored.get(c.key) != c.fingerprint()]
        notes = self.store.ledger_latest(
            source=instance, ticket_keys=[c.key for c in fresh], action=FINDINGS
        )
        for change in changes:
            if result.max_updated is None or change.updated > result.max_updated:
                result.max_updated = change.updated
        for change in fresh:
            last = notes.get(change.key)
            findings = evaluate(change, self.rules)
            result.plans.append(
                plan(change, findings, last_note=last.content_fingerprint if last else None)
            )
            result.changed.append(change)
        if not self.dry_run:
            self._record(result, record_cursor)
        return result

    def _normalize(self, raws: Sequence[RawTicket], result: PageResult) -> list[Change]:
        out = []
        for raw in raws:
            try:
                out.append(
                    normalize(raw, mapping=self.mapping, source=self.source, base_url=self.base_url)
                )
            except SkipRecord as exc:
                result.skipped.append(exc.message)
        return out

    def _record(
        self, result: PageResult, record_cursor: Callable[[Tx, PageResult], None] | None
    ) -> None:
        instance = self.source.instance
        with self.store.transaction() as tx:
            for change in result.changed:
                fingerprint = change.fingerprint()
                tx.upsert_change(
                    source=instance,
                    change_key=change.key,
                    native_id=change.native_id,
                    fingerprint=fingerprint,
                    updated=change.updated,
                    data=change.to_json(),
                )
                tx.append_audit(
                    source=instance,
                    ticket_key=change.key,
                    event="ticket.synced",
                    actor="worker",
                    detail={"fingerprint": fingerprint, "status": change.status.value},
                )
            for action in (a for p in result.plans for a in p.actions):
                if tx.plan_action(
                    action.idempotency_key,
                    source=instance,
                    ticket_key=action.ticket_key,
                    action=action.purpose,
                    content_fingerprint=action.content_fingerprint,
                    payload=action.model_dump_json(),
                ):
                    tx.append_audit(
                        source=instance,
                        ticket_key=action.ticket_key,
                        event=f"action.{action.kind.value}.planned",
                        actor="worker",
                        detail={
                            "purpose": action.purpose,
                            "idempotency_key": action.idempotency_key,
                        },
                    )
            for line in result.skipped:
                tx.append_audit(
                    source=instance,
                    ticket_key=None,
                    event="ticket.skipped",
                    actor="worker",
                    detail={"reason": line},
                )
            if record_cursor is not None:
                record_cursor(tx, result)
