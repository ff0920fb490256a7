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

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import AwareDatetime

from connector.core.memo import per_object
from connector.core.model import Change, Frozen
from connector.core.policy.approvals import ApprovalState, BoardDecision, analyse
from connector.core.policy.config import PolicySettings
from connector.core.policy.findings import Finding, Severity


class Window(Frozen):
    """Another change's planned window on one system (from the store's window index)."""

    key: str
    system: str
    start: AwareDatetime
    end: AwareDatetime
    approved: bool


class ApprovalBasis(Frozen):
    """What the approvers saw: a digest per covered field, under the approvals' digest."""

    approvals: str
    covered: dict[str, str]
    recorded_at: AwareDatetime


# The fields an approval covers: editing one of them after approval voids the approval.
COVERED = {
    "rollback_plan": "rollback plan",
    "implementation_plan": "implementation plan",
    "test_plan": "test plan",
    "justification": "justification",
    "affected_systems": "affected systems",
    "planned_start": "planned start",
    "planned_end": "planned end",
    "change_type": "change type",
    "change_class": "change class",
    "risk": "risk",
    "security": "security impact",
}


_COVERED_NAMES = set(COVERED)
# `json.dumps(value, sort_keys=True)` without building an encoder per call: the same text, so
# bases recorded earlier keep matching.
_encode = json.JSONEncoder(sort_keys=True).encode
_quote = encode_basestring_ascii


def _json_text(value: Any) -> str:
    """`_encode(value)`, written directly for what covered fields hold (text, null, lists of
    text, the security impact's object): the encoder's own set-up costs more than the writing."""
    kind = type(value)
    if kind is str:
        return _quote(value)
    if value is None:
        return "null"
    if kind is list and all(type(v) is str for v in value):
        return "[" + ", ".join(map(_quote, value)) + "]"
    if kind is dict and all(type(k) is str for k in value):
        return "{" + ", ".join(f"{_quote(k)}: {_json_text(value[k])}" for k in sorted(value)) + "}"
    return _encode(value)


def covered_fields(change: Change) -> dict[str, str]:
    data = change.model_dump(mode="json", include=_COVERED_NAMES)
    sha256 = hashlib.sha256
    return {name: sha256(_json_text(data.get(name)).encode()).hexdigest()[:16] for name in COVERED}


@dataclass(frozen=True)
class Context:
    now: datetime
    policy: PolicySettings = field(default_factory=PolicySettings)
    windows: Sequence[Window] = ()
    board: Sequence[BoardDecision] = ()
    bases: Sequence[ApprovalBasis] = ()


@dataclass(frozen=True)
class Facts:
    """What every rule may read: the context plus the approval analysis, computed once."""

    ctx: Context
    approvals: ApprovalState
    drifted: tuple[str, ...]  # covered fields changed since the approval (names)
    basis: ApprovalBasis | None

    @property
    def policy(self) -> PolicySettings:
        return self.ctx.policy


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


def facts(change: Change, ctx: Context) -> Facts:
    state = analyse(change, ctx.board, ctx.policy.approvals)
    basis = next((b for b in ctx.bases if b.approvals == state.digest), None)
    drifted: tuple[str, ...] = ()
    if basis is not None and state.given:
        now = covered_fields(change)
        drifted = tuple(name for name in COVERED if basis.covered.get(name) != now[name])
        if drifted:
            state = state.invalidated()
    return Facts(ctx=ctx, approvals=state, drifted=drifted, basis=basis)


@per_object
def _active_rules(
    policy: PolicySettings,
) -> tuple[tuple[str, Callable[[Change, Facts], list[Finding]]], ...]:
    from connector.core.policy.rules import RULES

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
            approvals=f.approvals.digest, covered=covered_fields(change), recorded_at=ctx.now
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
    review_due, review_open, notice_deadlines = _clock_rules()
    due = review_due(change, f)
    pending = [due] if due is not None and review_open(change, f) else []
    return pending + notice_deadlines(change, f)


@cache
def _clock_rules() -> tuple[
    Callable[[Change, Facts], datetime | None],
    Callable[[Change, Facts], list[str]],
    Callable[[Change, Facts], list[datetime]],
]:
    """The rules module imports this one, so its functions are looked up at first use."""
    from connector.core.policy.rules import (
        emergency_review_due,
        emergency_review_open,
        notice_deadlines,
    )

    return emergency_review_due, emergency_review_open, notice_deadlines
