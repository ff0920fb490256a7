"""The rules on what a change states: the fields its type and class require, the InfoSec
categories a security impact needs, and a standard change's approved template.

Pure functions like every rule (`rules.RULES` keys them by id); a missing field's finding names
exactly what to add, and is built once per policy (findings are frozen values).
"""

from __future__ import annotations

from collections.abc import Callable

from connector.core.memo import per_object
from connector.core.model import Change, ChangeType, SecurityLevel
from connector.core.policy.config import RequiredFields, Requirement
from connector.core.policy.facts import Facts
from connector.core.policy.findings import Finding, Severity

WHAT = {
    Requirement.AFFECTED_SYSTEMS: "the affected systems",
    Requirement.AFFECTED_SERVICES: "the affected services",
    Requirement.DEPARTMENTS: "the affected departments",
    Requirement.ROLLBACK_PLAN: "a rollback plan",
    Requirement.IMPLEMENTATION_PLAN: "an implementation plan",
    Requirement.TEST_PLAN: "a test plan",
    Requirement.JUSTIFICATION: "a justification",
    Requirement.SECURITY: "a security impact assessment (none, low, medium or high)",
    Requirement.OPERATIONAL_IMPACT: "the operational impact",
    Requirement.EXPECTED_DOWNTIME: "the expected downtime",
    Requirement.PLANNED_WINDOW: "a planned window (start and end)",
    Requirement.RISK: "a risk rating",
    Requirement.IMPLEMENTER: "the implementer",
    Requirement.EMERGENCY_APPROVER: "the named emergency approver",
    Requirement.AUDIENCES: "the audiences to notify",
}


def _stated(name: str) -> Callable[[Change], bool]:
    def check(change: Change) -> bool:
        value = getattr(change, name)
        return bool(value.strip()) if isinstance(value, str) else bool(value)

    return check


_HAS: dict[Requirement, Callable[[Change], bool]] = {r: _stated(r.value) for r in Requirement} | {
    Requirement.SECURITY: lambda c: c.security.level is not None,
    Requirement.PLANNED_WINDOW: lambda c: c.planned_start is not None and c.planned_end is not None,
    Requirement.EXPECTED_DOWNTIME: lambda c: c.expected_downtime_minutes is not None,
    Requirement.AUDIENCES: lambda c: bool(c.audiences) or not c.customer_facing,
}


def has(change: Change, requirement: Requirement) -> bool:
    return _HAS[requirement](change)


@per_object
def _required(required: RequiredFields) -> dict[str, tuple[tuple[Requirement, Finding], ...]]:
    """Per class: each requirement with the finding it yields when missing (findings are
    frozen values, so one per policy serves every change)."""
    baseline = set(required.all)

    def missing(requirement: Requirement, cls: str) -> Finding:
        why = "" if requirement in baseline else f" (required for {cls} changes)"
        return Finding(
            rule="required-fields",
            severity=Severity.BLOCK,
            message=f"Add {WHAT[requirement]}{why}.",
            subject=requirement.value,
        )

    return {
        cls: tuple((r, missing(r, cls)) for r in required.for_class(cls))
        for cls in ("standard", "minor", "major", "emergency")
    }


def required_fields(change: Change, f: Facts) -> list[Finding]:
    checks = _required(f.policy.required)[change.effective_class]
    return [finding for requirement, finding in checks if not _HAS[requirement](change)]


def infosec_categories(change: Change, f: Facts) -> list[Finding]:
    level = change.security.level
    if level in (None, SecurityLevel.NONE) or change.security.categories:
        return []
    return [
        Finding(
            rule="infosec-categories",
            severity=Severity.BLOCK,
            message=(
                f"The security impact is {level.value}: name its InfoSec categories (data "
                "sharing, security configuration, user access, system usage)."
            ),
            subject="security.categories",
        )
    ]


def standard_template(change: Change, f: Facts) -> list[Finding]:
    if change.change_type is not ChangeType.STANDARD or not f.approvals.needs:
        return []
    named = change.standard_template.strip()
    problem = (
        f"names the template {named!r}, which is not an approved standard change"
        if named
        else "names no standard-change template"
    )
    return [
        Finding(
            rule="standard-template",
            severity=Severity.WARN,
            message=f"This standard change {problem}: it needs an approver like a minor change.",
            subject=named,
        )
    ]
