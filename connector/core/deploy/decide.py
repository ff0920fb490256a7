"""The gate decision: may this deployment go ahead now? allow / wait / deny, with reasons.

Pure. The caller passes the change (or None when none was found), the policy `Context` of that
change (clock, policy, board decisions, approval bases: the same inputs the pipeline evaluates
with, so drift voids an approval here exactly as it does on the ticket) and the `[deploy]`
settings. The order of the checks decides nothing: every reason to deny is collected (a person
fixes them all at once); only when there is none does a reason to wait (approval pending, window
not yet open) hold the deploy; otherwise it is allowed, and the reasons say on what grounds.

`find_change` picks the change a deployment belongs to when the pipeline gives no key: a live
change on one of the service's systems, preferring one that names the commit, then one whose
planned window holds the deployment's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from connector.core.deploy.config import DeploySettings
from connector.core.deploy.model import Deployment, GateDecision, Verdict
from connector.core.model import Change, ChangeType, Status
from connector.core.policy import ApprovalState, Context, Evaluation, Severity, evaluate
from connector.core.policy.approvals import same_person
from connector.core.policy.calendar import freeze_overlap
from connector.core.policy.facts import COVERED

DROPPED = {Status.REJECTED, Status.CANCELLED, Status.CLOSED}
LIVE = {Status.APPROVED, Status.SCHEDULED, Status.IMPLEMENTING, Status.AWAITING_APPROVAL}
# Findings that the gate words itself (drift, freeze): not repeated as "blocking finding".
_OWN_RULES = {"approval-drift", "freeze"}
_INSTANT = timedelta(microseconds=1)


def _fmt(moment: datetime, ctx: Context) -> str:
    return moment.astimezone(ctx.policy.zone()).strftime("%Y-%m-%d %H:%M %Z")


def _systems(deployment: Deployment, settings: DeploySettings) -> tuple[str, ...]:
    return settings.systems_of(deployment.service)


def _covers(change: Change, systems: Sequence[str]) -> bool:
    named = {s.casefold() for s in (*change.affected_systems, *change.affected_services)}
    return any(s.casefold() in named for s in systems)


def _names_commit(change: Change, commit: str) -> bool:
    if len(commit) < 7:
        return False
    short = commit[:7].casefold()
    texts = (
        change.description,
        change.implementation_plan,
        change.release,
        *change.labels,
        *(link.target for link in change.links),
        *(link.url for link in change.links),
    )
    return any(short in text.casefold() for text in texts)


def find_change(
    candidates: Sequence[Change], deployment: Deployment, settings: DeploySettings
) -> Change | None:
    """The change `deployment` belongs to among stored changes, or None.

    With a key, the change of that key. Without, a change not rejected, cancelled or closed whose
    affected systems or services include one of the service's systems; among several, one that
    names the commit first, then one whose planned window holds the deployment's time, then the
    latest planned start."""
    if deployment.change_key:
        return next((c for c in candidates if c.key == deployment.change_key), None)
    systems = _systems(deployment, settings)
    live = [c for c in candidates if c.status not in DROPPED and _covers(c, systems)]
    if not live:
        return None
    at = deployment.at

    def rank(change: Change) -> tuple[bool, bool, bool, datetime]:
        start, end = change.planned_start, change.planned_end
        inside = start is not None and end is not None and start <= at < end
        floor = start or change.created
        return (_names_commit(change, deployment.commit), inside, change.status in LIVE, floor)

    return max(live, key=rank)


def decide(
    *,
    deployment: Deployment,
    change: Change | None,
    context: Context,
    settings: DeploySettings,
    now: datetime,
) -> GateDecision:
    """Allow, wait or deny `deployment` at `now` (see the module docstring)."""
    env = deployment.environment
    if not settings.gated(env):
        return GateDecision(
            verdict=Verdict.ALLOW,
            reasons=(f"The environment {env!r} is not gated: no change is needed.",),
            change_key=change.key if change else None,
            source=change.source.instance if change else None,
        )
    if change is None:
        where = f"service {deployment.service!r} in environment {env!r}"
        reason = (
            f"Change {deployment.change_key} was not found (for {where})."
            if deployment.change_key
            else f"No approved change for {where}."
        )
        return GateDecision(verdict=Verdict.DENY, reasons=(reason,))
    evaluation = evaluate(change, context)
    deny, wait = _checks(deployment, change, evaluation, context, settings, now)
    verdict = Verdict.DENY if deny else Verdict.WAIT if wait else Verdict.ALLOW
    reasons = deny or wait or _grounds(change, evaluation.approvals, context)
    return GateDecision(
        verdict=verdict,
        reasons=tuple(reasons),
        change_key=change.key,
        source=change.source.instance,
    )


def _checks(
    deployment: Deployment,
    change: Change,
    ev: Evaluation,
    ctx: Context,
    settings: DeploySettings,
    now: datetime,
) -> tuple[list[str], list[str]]:
    """(reasons to deny, reasons to wait)."""
    key = change.key
    state = ev.approvals
    deny: list[str] = []
    wait: list[str] = []
    systems = _systems(deployment, settings)
    if (change.affected_systems or change.affected_services) and not _covers(change, systems):
        named = ", ".join((*change.affected_systems, *change.affected_services))
        deny.append(f"{key} does not cover service {deployment.service!r} (it names {named}).")
    if change.status in DROPPED:
        deny.append(f"{key} is {change.status.value}.")
    if state.rejection is not None:
        who = state.rejection.approver.name or state.rejection.approver.id
        deny.append(f"{key} was rejected by {who}.")
    for finding in ev.findings:
        if finding.rule == "approval-drift":
            names = ", ".join(COVERED.get(n, n) for n in finding.subject.split(",") if n)
            deny.append(
                f"The approval of {key} no longer counts: its {names} changed after it was "
                "approved (approval drift); it must be approved again."
            )
        elif finding.severity is Severity.BLOCK and finding.rule not in _OWN_RULES:
            deny.append(f"{key} has a blocking finding ({finding.rule}): {finding.message}")
    deny += _freezes(change, ctx, settings, systems, now)
    deny += _sole_approver(deployment, change, state)
    start, end = change.planned_start, change.planned_end
    if start is None or end is None:
        deny.append(f"{key} has no planned window (start and end).")
    elif now >= end:
        deny.append(f"The planned window of {key} closed at {_fmt(end, ctx)}.")
    elif now < start:
        wait.append(f"The planned window of {key} opens at {_fmt(start, ctx)}.")
    if not state.complete and state.rejection is None and not ev.has("approval-drift"):
        missing = ", ".join(state.missing)
        wait.insert(0, f"{key} is waiting for approval: it still needs {missing}.")
    elif state.complete and state.approved_at is not None and _second(state.approved_at) > now:
        # Deciding about a deploy after the fact (evidence): a later approval did not cover it.
        # GitHub and GitLab stamp a deploy to the second, so an approval within that second
        # (a deploy the gate let through at once) counts.
        wait.insert(0, f"{key} was approved only at {_fmt(state.approved_at, ctx)}.")
    return deny, wait


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _freezes(
    change: Change,
    ctx: Context,
    settings: DeploySettings,
    systems: Sequence[str],
    now: datetime,
) -> list[str]:
    """A freeze in force now on the service's systems or the change's affected systems."""
    emergency = change.change_type is ChangeType.EMERGENCY
    if emergency and settings.emergency_in_freeze == "allow":
        return []
    touched = {s.casefold() for s in (*systems, *change.affected_systems)}
    out = []
    for frz in ctx.policy.freezes:
        if frz.systems and touched.isdisjoint(s.casefold() for s in frz.systems):
            continue
        zone = ctx.policy.zone(frz.time_zone)
        hit = freeze_overlap(frz, zone, start=now, end=now + _INSTANT)
        if hit is not None:
            out.append(
                f"The freeze {frz.name!r} is in force ({_fmt(hit[0], ctx)} to {_fmt(hit[1], ctx)})."
            )
    return out


def _sole_approver(deployment: Deployment, change: Change, state: ApprovalState) -> list[str]:
    """The deployer may not be the only person whose approval counts."""
    by = deployment.triggered_by
    counted = state.counted if by else ()
    if counted and all(same_person(a.approver, by) for a in counted):
        return [f"{by} approved {change.key} alone and may not deploy it themselves."]
    return []


def _grounds(change: Change, state: ApprovalState, ctx: Context) -> list[str]:
    names = sorted({a.approver.name or a.approver.id for a in state.counted})
    approved = f"approved by {', '.join(names)}" if names else "approved under the policy"
    end = change.planned_end
    window = f"; inside its planned window until {_fmt(end, ctx)}" if end is not None else ""
    return [f"{change.key} is {approved}{window}."]
