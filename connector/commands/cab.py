"""Change advisory board commands: record a decision taken outside the ticket system, and the
agenda of the next meeting.

`cab decide` is the imperative shell around the same machinery a poll uses: the ticket is read
again and recorded, the decision is stored (with who and when) and audited, a decision note is
planned for the ticket, the change is evaluated again with the decision counted, and the
resulting moves are applied. So a board decision moves a ticket exactly as an approval given in
Jira or ServiceNow does. `cab agenda` reads the store only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from connector.core.errors import ConfigError
from connector.core.model import CabDecision, Change, Status
from connector.core.planner import digest, note
from connector.core.policy.approvals import CAB
from connector.core.policy.config import ApprovalPolicy
from connector.reports.render import md_cell
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store
from connector.sync.executor import Failure, Outcome
from connector.sync.poller import PollStats, settle
from connector.sync.reader import batched
from connector.sync.recording import Evaluated, record_action
from connector.sync.runtime import SourceRuntime, offline_pipeline

DECISION_NOTE = "cab-decision"


@dataclass(frozen=True)
class DecideResult:
    source: str
    key: str
    decision_id: int
    status_before: str
    status_after: str
    written: int
    findings: tuple[str, ...]
    withheld: str | None = None  # why the writes were withheld (observe mode, an old change)
    failures: tuple[str, ...] = ()  # the writes that failed: ticket, what, why


def check_board_member(policy: ApprovalPolicy, by: str) -> None:
    """`--by` must be one of the board's members the policy names: a decision recorded in the
    board's name by anyone else would count as the CAB's approval."""
    if not policy.cab_members:
        raise ConfigError(
            f"--by: {by!r} is not a board member: no members are configured "
            "(list them in policy.approvals.cab_members)"
        )
    if by.casefold() not in {m.casefold() for m in policy.cab_members}:
        groups = ", ".join(policy.cab_groups) or "CAB"
        raise ConfigError(
            f"--by: {by!r} is not a member of {groups} "
            f"(policy.approvals.cab_members: {', '.join(policy.cab_members)})"
        )


def pick_source(settings: Settings, store: Store, key: str, source: str | None) -> str:
    """The source a ticket key belongs to: named, the only one, or the one that stored it."""
    if source is not None:
        if source not in settings.sources:
            known = ", ".join(sorted(settings.sources)) or "none configured"
            raise ConfigError(f"--source: no source named {source!r} (known: {known})")
        return source
    if len(settings.sources) == 1:
        return next(iter(settings.sources))
    holders = [name for name in settings.sources if store.stored_changes(name, [key])]
    if len(holders) == 1:
        return holders[0]
    raise ConfigError(
        f"{key}: {'found in several sources' if holders else 'not in the store'}; "
        f"name it with --source ({', '.join(sorted(settings.sources))})"
    )


def decide(
    worker: Worker,
    *,
    source: str,
    key: str,
    decision: CabDecision,
    by: str,
    note_text: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DecideResult:
    rt = worker.runtimes[source]
    pipeline = rt.pipeline()
    raw = rt.fetch(key)
    if raw is None:
        raise ConfigError(f"{key}: not a change of {source} (outside the mapping's scope)")
    pipeline.process([raw])  # the store holds the ticket as it is now
    before = _stored(rt, key)
    at = clock()
    with rt.store.transaction() as tx:
        decision_id = tx.add_board_decision(
            source=source,
            change_key=before.key,
            decision=decision.value,
            decided_by=by,
            note=note_text,
            decided_at=at,
        )
        tx.append_audit(
            source=source,
            ticket_key=before.key,
            event="cab.decision",
            actor=by,
            detail={
                "decision": decision.value,
                "by": by,
                "note": note_text,
                "decided_at": at.isoformat(),
                "id": decision_id,
            },
        )
        body = decision_note(decision, by=by, at=at, note_text=note_text)
        action = note(
            before,
            purpose=DECISION_NOTE,
            body=body,
            content=digest(f"{decision_id}\x1f{body}"),
            edit=False,
        )
        # The gate holds the board's note as it holds the policy's writes (observe mode).
        kept, held = rt.gate.split(before, (action,))
        for planned in kept:
            record_action(tx, planned)
        if held:
            tx.append_audit(
                source=source,
                ticket_key=before.key,
                event="actions.withheld",
                actor="worker",
                detail={"reason": held[0].reason, "purposes": [DECISION_NOTE]},
            )
    extra = ("needs_info",) if decision is CabDecision.MORE_INFO else ()
    evaluated = pipeline.reevaluate([before.key], extra_steps={before.key: extra})
    executor = rt.executor(worker=worker.name, lease_seconds=worker.settings.worker.lease_seconds)
    # This ticket's writes only: other tickets' pending or failed ones are the worker's, and
    # their failures are not this decision's.
    executor.only = lambda ticket, _: ticket == before.key
    written = executor.apply_pending(source)[Outcome.WRITTEN]
    stats = PollStats(source=source)
    settle(rt, pipeline, executor, stats)
    if stats.failed:
        executor.failures.append(
            Failure(
                source=source,
                ticket_key=before.key,
                kind="apply",
                purpose="apply",
                error=stats.failed,
            )
        )
    after = _stored(rt, key)
    findings = tuple(f.message for e in evaluated.evaluated for f in e.evaluation.findings)
    return DecideResult(
        source=source,
        key=before.key,
        decision_id=decision_id,
        status_before=before.status.value,
        status_after=after.status.value,
        written=written + stats.written,
        findings=findings,
        withheld=rt.gate.reason(before) if held or evaluated.withheld else None,
        failures=tuple(f.line for f in executor.failures),
    )


def _stored(rt: SourceRuntime, key: str) -> Change:
    rows = rt.store.stored_changes(rt.name, [key])
    if key in rows:
        return Change.from_json(rows[key].data)
    raise ConfigError(f"{key}: not a change of {rt.name} (is it in scope of the mapping?)")


def decision_note(decision: CabDecision, *, by: str, at: datetime, note_text: str) -> str:
    words = {
        CabDecision.APPROVE: "approved",
        CabDecision.REJECT: "rejected",
        CabDecision.DEFER: "deferred",
        CabDecision.MORE_INFO: "asked for more information on",
    }
    line = (
        f"Change advisory board {words[decision]} this change "
        f"(recorded by {by}, {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)."
    )
    return f"{line}\nNote: {note_text}" if note_text.strip() else line


# -- agenda ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgendaItem:
    source: str
    key: str
    title: str
    change_class: str
    requester: str
    planned_start: datetime | None
    waiting_for: tuple[str, ...]
    findings: tuple[tuple[str, str, str], ...]  # (rule, severity, message)
    url: str
    late: bool  # planned to start before the meeting

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "key": self.key,
            "title": self.title,
            "class": self.change_class,
            "requester": self.requester,
            "planned_start": self.planned_start.isoformat() if self.planned_start else None,
            "waiting_for": list(self.waiting_for),
            "findings": [{"rule": r, "severity": s, "message": m} for r, s, m in self.findings],
            "url": self.url,
            "starts_before_meeting": self.late,
        }


def agenda(
    settings: Settings, store: Store, *, meeting: date, sources: Sequence[str] = ()
) -> list[AgendaItem]:
    """Changes waiting for the board: awaiting a CAB approval, or emergencies awaiting their
    retroactive review, each with its open findings, ordered by planned start."""
    zone = settings.policy.zone()
    at = datetime.combine(meeting, time(0, 0), tzinfo=zone)
    items: list[AgendaItem] = []
    for name, source_settings in settings.sources.items():
        if sources and name not in sources:
            continue
        pipeline = offline_pipeline(name, source_settings, store, policy=settings.policy)
        for chunk in batched(store.change_keys(name), 500):
            result = pipeline.reevaluate(list(chunk))
            items += [i for e in result.evaluated if (i := _item(name, e, at)) is not None]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(items, key=lambda i: (i.planned_start or far, i.source, i.key))


def _item(source: str, e: Evaluated, meeting: datetime) -> AgendaItem | None:
    change, state = e.change, e.evaluation.approvals
    waiting = CAB in state.missing and change.status in (
        Status.AWAITING_APPROVAL,
        Status.AWAITING_INFO,
    )
    review = e.evaluation.has("emergency-review-due") or e.evaluation.has(
        "emergency-review-overdue"
    )
    if not (waiting or review) or state.rejection is not None:
        return None
    return AgendaItem(
        source=source,
        key=change.key,
        title=change.title,
        change_class=change.effective_class,
        requester=change.requester.name if change.requester else "",
        planned_start=change.planned_start,
        waiting_for=state.missing if waiting else ("a retroactive CAB review",),
        findings=tuple((f.rule, f.severity.value, f.message) for f in e.evaluation.findings),
        url=change.url,
        late=change.planned_start is not None and change.planned_start < meeting,
    )


def agenda_markdown(items: Sequence[AgendaItem], *, meeting: date) -> str:
    lines = [f"# CAB agenda for {meeting.isoformat()}", "", f"{len(items)} change(s) to decide."]
    for i in items:
        start = i.planned_start.strftime("%Y-%m-%d %H:%M %Z") if i.planned_start else "no window"
        late = " (starts before this meeting)" if i.late else ""
        lines += [
            "",
            f"## {i.key}: {md_cell(i.title)}",
            "",
            f"- Source: {i.source}; class: {i.change_class}; requester: {md_cell(i.requester)}",
            f"- Planned start: {start}{late}",
            f"- Waiting for: {'; '.join(i.waiting_for)}",
            f"- Ticket: {i.url}" if i.url else "- Ticket: (no link)",
        ]
        if i.findings:
            lines.append("- Open findings:")
            lines += [f"  - [{r}] ({s}) {md_cell(m)}" for r, s, m in i.findings]
    return "\n".join(lines) + "\n"


def agenda_json(items: Sequence[AgendaItem], *, meeting: date) -> str:
    return json.dumps(
        {"meeting": meeting.isoformat(), "changes": [i.as_dict() for i in items]},
        indent=2,
        ensure_ascii=False,
    )
