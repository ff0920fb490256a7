"""Deployment gates, shell side: load what the decision needs, decide, remember held deploys,
answer them when their verdict changes, and record deployments as evidence.

`evaluate` finds the change (by key in any source, or by the service's systems through the
window index), builds the same policy `Context` the pipeline evaluates with (board decisions,
approval bases: drift voids an approval here too; other changes' windows) and calls the pure
`core.deploy.decide`. A "wait" is remembered under (provider, reference) with `remember_wait`;
`recheck_waits` runs after each poll cycle or drain that stored changes, and on a timer (a window
opens by the clock alone): every pending wait is decided again, and where the verdict is no
longer "wait" the provider's `Answerer` sends it, exactly once (claim, answer, mark answered).
`answer_claimed` answers a decided deploy at once the same way.
`record_deployment` stores a deployment with what the gate says about it at its start: a deploy
to a gated environment the gate would not have allowed is an unauthorized deployment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from connector.core.deploy import Deployment, GateDecision, Verdict, decide, find_change
from connector.core.errors import ConnectorError
from connector.core.model import CabDecision, Change
from connector.core.policy import ApprovalBasis, BoardDecision, Context, Window
from connector.settings import Settings
from connector.store import Store
from connector.store.deployments import DeploymentRow, WaitRow
from connector.store.gate_reads import GateContext, GateTarget
from connector.store.records import BasisRow, BoardRow, WindowRow

Outcome = Literal["success", "failure", "in_progress"]
#: How long one worker holds the answer of a held deploy before another may take it over.
ANSWER_LEASE = timedelta(minutes=2)


class Answerer(Protocol):
    """Sends a held deploy's verdict to the provider that asked (GitHub, GitLab, ...). Raises
    `ConnectorError` when it could not: the wait stays pending and is tried again."""

    def answer(self, wait: WaitRow, decision: GateDecision) -> None: ...


@dataclass(frozen=True)
class Answered:
    wait: WaitRow
    decision: GateDecision


def window_of(r: WindowRow) -> Window:
    return Window(
        key=r.change_key, system=r.system, start=r.starts_at, end=r.ends_at, approved=r.approved
    )


def board_of(b: BoardRow) -> BoardDecision:
    return BoardDecision(
        decision=CabDecision(b.decision), by=b.decided_by, note=b.note, decided_at=b.decided_at
    )


def basis_of(b: BasisRow) -> ApprovalBasis:
    return ApprovalBasis(
        approvals=b.approvals_digest, covered=json.loads(b.covered), recorded_at=b.recorded_at
    )


def _context(read: GateContext, settings: Settings, now: datetime) -> Context:
    """The policy inputs of one change, as the pipeline gathers them."""
    return Context(
        now=now,
        policy=settings.policy,
        windows=[window_of(r) for r in read.windows],
        board=[board_of(b) for b in read.board],
        bases=[basis_of(b) for b in read.bases],
    )


def evaluate(
    *, store: Store, settings: Settings, deployment: Deployment, now: datetime
) -> GateDecision:
    """The gate's decision on `deployment` at `now`, from the stored changes (one read
    transaction: the candidates, then the chosen change's policy inputs)."""
    deploy = settings.deploy
    chosen: list[Change] = []

    def choose(rows: list[tuple[str, str]]) -> GateTarget | None:
        change = find_change([Change.from_json(data) for _, data in rows], deployment, deploy)
        if change is None:
            return None
        chosen.append(change)
        start, end = change.planned_start, change.planned_end
        return GateTarget(
            source=change.source.instance,
            key=change.key,
            systems=change.affected_systems,
            window=(start, end) if start is not None and end is not None else None,
        )

    read = None
    if deploy.gated(deployment.environment) or deployment.change_key:
        read = store.gate_read(
            key=deployment.change_key, systems=deploy.systems_of(deployment.service), choose=choose
        )
    change = chosen[0] if chosen and read is not None else None
    context = (
        _context(read, settings, now)
        if read is not None
        else Context(now=now, policy=settings.policy)
    )
    return decide(deployment=deployment, change=change, context=context, settings=deploy, now=now)


def remember_wait(
    *,
    store: Store,
    deployment: Deployment,
    extra: Mapping[str, object] | None = None,
    now: datetime,
) -> bool:
    """Remember a held deploy to answer later (True: new; a deploy remembered before stays)."""
    return store.remember_wait(
        provider=deployment.provider,
        reference=deployment.reference,
        deployment=deployment.model_dump_json(),
        extra=dict(extra or {}),
        now=now,
    )


def recheck_waits(
    *,
    store: Store,
    settings: Settings,
    now: datetime,
    answerers: Mapping[str, Answerer],
    worker: str = "worker",
) -> list[Answered]:
    """Decide every pending wait again; answer those no longer waiting (each exactly once).
    Waits of a provider without an answerer here stay pending for a worker that has one."""
    out: list[Answered] = []
    for wait in store.pending_waits(now=now):
        answerer = answerers.get(wait.provider)
        if answerer is None:
            continue
        deployment = Deployment.model_validate_json(wait.deployment)
        decision = evaluate(store=store, settings=settings, deployment=deployment, now=now)
        if decision.verdict is Verdict.WAIT:
            continue
        if not store.claim_wait(
            wait.provider, wait.reference, by=worker, until=now + ANSWER_LEASE, now=now
        ):
            continue  # another worker answers it
        try:
            answerer.answer(wait, decision)
        except ConnectorError:
            store.release_wait(wait.provider, wait.reference)
            continue
        change = (
            (decision.source, decision.change_key)
            if decision.source and decision.change_key
            else None
        )
        store.finish_wait(
            wait.provider,
            wait.reference,
            verdict=decision.verdict.value,
            reasons=decision.reasons,
            change=change,
            actor=worker,
            now=now,
        )
        out.append(Answered(wait=wait, decision=decision))
    return out


def answer_claimed(
    *,
    store: Store,
    deployment: Deployment,
    decision: GateDecision,
    worker: str,
    now: datetime,
    send: Callable[[], object],
) -> None:
    """Answer a decided deploy at once, exactly once: claim its wait, `send` the verdict, mark it
    answered. Another thread or worker holding the claim answers it instead; when `send` raises
    `ConnectorError` the claim is released (the wait stays pending, tried again) and it is
    raised."""
    provider, ref = deployment.provider, deployment.reference
    if not store.claim_wait(provider, ref, by=worker, until=now + ANSWER_LEASE, now=now):
        return  # another thread or worker is answering it, or it was answered
    try:
        send()
    except ConnectorError:
        store.release_wait(provider, ref)
        raise
    store.finish_wait(
        provider, ref, verdict=decision.verdict.value, reasons=decision.reasons, now=now
    )


def record_deployment(
    *,
    store: Store,
    settings: Settings,
    deployment: Deployment,
    outcome: Outcome,
    finished_at: datetime | None = None,
    actor: str = "",
) -> tuple[DeploymentRow, bool]:
    """Store `deployment` as evidence (True: new; False: the same deployment heard of again,
    its outcome updated) with what the gate says about it at its start; a deploy to a gated
    environment the gate would not have allowed is unauthorized."""
    decision = evaluate(store=store, settings=settings, deployment=deployment, now=deployment.at)
    unauthorized = settings.deploy.gated(deployment.environment) and (
        decision.verdict is not Verdict.ALLOW
    )
    row = DeploymentRow(
        provider=deployment.provider,
        reference=deployment.reference,
        service=deployment.service,
        environment=deployment.environment,
        commit=deployment.commit,
        change_source=decision.source,
        change_key=decision.change_key,
        triggered_by=deployment.triggered_by,
        url=deployment.url,
        outcome=outcome,
        started_at=deployment.at,
        finished_at=finished_at,
        verdict=decision.verdict.value,
        reasons=decision.reasons,
        unauthorized=unauthorized,
    )
    detail = {
        "provider": deployment.provider,
        "reference": deployment.reference,
        "service": deployment.service,
        "environment": deployment.environment,
        "commit": deployment.commit,
        "outcome": outcome,
        "verdict": decision.verdict.value,
        "reasons": list(decision.reasons),
        "unauthorized": unauthorized,
    }
    return store.record_deployment(
        row, actor=actor or deployment.triggered_by or deployment.provider, detail=detail
    )


def unauthorized(rows: Sequence[DeploymentRow]) -> list[DeploymentRow]:
    return [r for r in rows if r.unauthorized]
