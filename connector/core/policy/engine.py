"""The policy engine (pipeline step 3, evaluate): (change, context) -> `Evaluation`.

Pure: the caller passes everything that is not on the ticket in a `Context`: the clock, the
policy, the planned windows of other changes that may overlap this one, board decisions taken
outside the ticket system, and the approval bases recorded earlier. The evaluation holds the
findings (each rule is a small function in `rules.py`), the approval state the planner moves the
ticket on, the time at which the verdict may change by itself (`recheck_at`: a review falling
due, a notice deadline passing), and a new approval basis to record when a change has just
become approved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from connector.core.memo import per_object
from connector.core.model import Change
from connector.core.policy.approvals import ApprovalState
from connector.core.policy.config import PolicySettings
from connector.core.policy.facts import ApprovalBasis, Context, Facts, covered_fields, facts
from connector.core.policy.findings import Finding, Severity
from connector.core.policy.rules import (
    RULES,
    emergency_review_due,
    emergency_review_open,
    notice_deadlines,
)


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]
    approvals: ApprovalState
    recheck_at: datetime | None = None
    new_basis: ApprovalBasis | None = None

    @property
    def blocked(self) -> bool:
        return any(f.severity is Severity.BLOCK for f in self.findings)

    def has(self, rule: str) -> bool:
        return any(f.rule == rule for f in self.findings)


@per_object
def _active_rules(
    policy: PolicySettings,
) -> tuple[tuple[str, Callable[[Change, Facts], list[Finding]]], ...]:
    return tuple(
        (rule_id, rule) for rule_id, rule in RULES.items() if rule_id not in policy.disabled_rules
    )


def _adjusted(findings: list[Finding], rule_id: str, policy: PolicySettings) -> list[Finding]:
    """A rule may emit more than one id (emergency-review-due / -overdue): each can be disabled
    and given a severity by itself, or all of them by the rule's id."""
    disabled, severities = policy.disabled_rules, policy.severity
    out = []
    for finding in findings:
        if finding.rule in disabled:
            continue
        severity = severities.get(finding.rule) or severities.get(rule_id)
        if severity and severity != finding.severity:
            finding = finding.with_severity(severity)
        out.append(finding)
    return out


def evaluate(change: Change, ctx: Context) -> Evaluation:
    f = facts(change, ctx)
    policy = ctx.policy
    adjust = bool(policy.disabled_rules or policy.severity)
    findings: list[Finding] = []
    for rule_id, rule in _active_rules(policy):
        found = rule(change, f)
        if found:
            findings += _adjusted(found, rule_id, policy) if adjust else found
    recheck = [t for t in _rechecks(change, f) if t > ctx.now]
    new_basis = None
    if f.basis is None and f.approvals.complete and f.approvals.given:
        new_basis = ApprovalBasis(
            approvals=f.approvals.digest,
            covered=dict(ctx.covered) if ctx.covered is not None else covered_fields(change),
            recorded_at=ctx.now,
        )
    return Evaluation(
        findings=tuple(findings),
        approvals=f.approvals,
        recheck_at=min(recheck, default=None),
        new_basis=new_basis,
    )


def _rechecks(change: Change, f: Facts) -> list[datetime]:
    """When the verdict changes by the clock alone: an open emergency review falls due, a
    notice deadline of a change not yet approved passes."""
    due = emergency_review_due(change, f)
    pending = [due] if due is not None and emergency_review_open(change, f) else []
    return pending + notice_deadlines(change, f)
