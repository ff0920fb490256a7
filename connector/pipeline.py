"""Process tickets end to end: normalize -> unchanged? -> evaluate -> plan -> apply -> record.

Polling and the webhook drain both hand pages of raw tickets to `Pipeline.process`, so the two
paths converge. A ticket whose fingerprint equals the stored one stops at step 2: that is what
keeps the connector's own comments and transitions from re-triggering it, and what makes a
second pass over the same batch plan nothing and write nothing. Changes are recorded only after
their actions were applied, and the caller commits the cursor in the same transaction as the
records, so a crash anywhere means "do it again", never "skip it".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connector.errors import SkipRecord
from connector.executor import Applied, Executor, Outcome
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
    applied: list[Applied] = field(default_factory=list)
    failed: str | None = None  # the first ticket whose actions failed; the rest wait for later
    max_updated: datetime | None = None  # of the tickets fully processed, in order

    @property
    def writes(self) -> int:
        return sum(a.outcome is Outcome.WRITTEN for a in self.applied)


@dataclass
class Pipeline:
    store: Store
    source: Source
    mapping: Mapping
    base_url: str
    executor: Executor | None  # None: dry run, plan only
    rules: Sequence[Rule]
    on_error: Callable[[str, Exception], None] = lambda key, exc: None

    def process(self, raws: Sequence[RawTicket], *, record_cursor: Callable[[Tx, PageResult],
                None] | None = None) -> PageResult:
        result = PageResult(seen=len(raws))
        changes = self._normalize(raws, result)
        stored = self.store.fingerprints(self.source.instance, [c.key for c in changes])
        fresh = [c for c in changes if stored.get(c.key) != c.fingerprint()]
        notes = self.store.ledger_last_applied(
            source=self.source.instance, ticket_keys=[c.key for c in fresh], action=FINDINGS
        )
        for change in changes:
            if stored.get(change.key) == change.fingerprint():
                result.max_updated = _later(result.max_updated, change.updated)
                continue
            last = notes.get(change.key)
            if not self._act(change, result, last.content_fingerprint if last else None):
                break
            result.changed.append(change)
            result.max_updated = _later(result.max_updated, change.updated)
        if self.executor is not None:
            self._record(result, record_cursor)
        return result

    def _normalize(self, raws: Sequence[RawTicket], result: PageResult) -> list[Change]:
        out = []
        for raw in raws:
            try:
                out.append(normalize(raw, mapping=self.mapping, source=self.source,
                                     base_url=self.base_url))
            except SkipRecord as exc:
                result.skipped.append(exc.message)
        return out

    def _act(self, change: Change, result: PageResult, last_note: str | None) -> bool:
        findings = evaluate(change, self.rules)
        the_plan = plan(change, findings, last_note=last_note)
        result.plans.append(the_plan)
        if self.executor is None or the_plan.empty:
            return True
        try:
            result.applied.extend(self.executor.apply(the_plan))
        except Exception as exc:  # one exception boundary per ticket: record and stop the page
            result.failed = change.key
            self.on_error(change.key, exc)
            return False
        return True

    def _record(self, result: PageResult,
                record_cursor: Callable[[Tx, PageResult], None] | None) -> None:
        instance = self.source.instance
        with self.store.transaction() as tx:
            for change in result.changed:
                tx.upsert_change(source=instance, change_key=change.key,
                                 native_id=change.native_id, fingerprint=change.fingerprint(),
                                 updated=change.updated, data=change.to_json())
                tx.append_audit(source=instance, ticket_key=change.key, event="ticket.synced",
                                actor="worker", detail={"fingerprint": change.fingerprint(),
                                                        "status": change.status.value})
            for line in result.skipped:
                tx.append_audit(source=instance, ticket_key=None, event="ticket.skipped",
                                actor="worker", detail={"reason": line})
            if record_cursor is not None:
                record_cursor(tx, result)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a
