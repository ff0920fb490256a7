"""Policy: pure rules over a `Change` that yield findings (pipeline step 3, evaluate).

Each rule is a small function with a stable id, a severity and a message that tells the
requester exactly what to add. The engine runs the configured rules in order; it does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

from connector.model import Change, Frozen


class Severity(StrEnum):
    BLOCK = "block"
    WARN = "warn"


class Finding(Frozen):
    rule: str
    severity: Severity
    message: str


Rule = Callable[[Change], list[Finding]]


def required_baseline(change: Change) -> list[Finding]:
    """Every change states its affected systems, a rollback plan and its security impact."""
    missing = []
    if not change.affected_systems:
        missing.append("the affected systems")
    if not change.rollback_plan.strip():
        missing.append("a rollback plan")
    if not change.security.assessed:
        missing.append("a security impact assessment (none, low, medium or high)")
    return [
        Finding(rule="required-fields", severity=Severity.BLOCK, message=f"Add {what}.")
        for what in missing
    ]


DEFAULT_RULES: tuple[Rule, ...] = (required_baseline,)


def evaluate(change: Change, rules: Sequence[Rule] = DEFAULT_RULES) -> tuple[Finding, ...]:
    return tuple(finding for rule in rules for finding in rule(change))
