"""The seeded world of the sandbox: a deterministic, system-neutral list of change tickets.

Both simulators render the same kind of scenario into their own raw shapes (Jira issues with
custom fields, ServiceNow change_request rows with sysapproval_approver rows), so tests and the
demo see a realistic mix on each side: complete and incomplete changes; standard, normal and
emergency; minor and major; overlapping windows on one system; a freeze collision; pending,
approved and rejected approvals; an approver who is also the requester; unicode and wiki markup.

The same `random_seed` always yields the same tickets. The first tickets carry the planted
exceptions named in `Planted`, so tests and reports can name them exactly.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from connector.sandbox.catalog import (
    CONFIGURATION_ITEMS,
    DEPARTMENTS,
    RELEASES,
    STANDARD_TEMPLATES,
)
from connector.sandbox.scenario_model import (
    APPROVERS,
    DEFAULT_BASE_TIME,
    EMERGENCY_APPROVER,
    FREEZE_START,
    IMPLEMENTERS,
    REQUESTERS,
    SECURITY_APPROVER,
    Planted,
    SeedApproval,
    SeedChange,
)

_TITLES = (
    "Upgrade {sys} to the next minor version",
    "Rotate TLS certificates on {sys}",
    "Enable SSO enforcement for {sys}",
    "Migrate {sys} to the new cluster",
    "Patch OS packages on {sys} hosts",
    "Change retention settings of {sys}",
    "Add read-only role for auditors on {sys}",
    "Share {sys} exports with the analytics vendor",
    "Increase connection pool of {sys}",
    "Déploiement du correctif ✓ sur {sys}",
    "Schema change: add index on {sys} orders",
    "数据库 failover drill for {sys}",
)
# Descriptions that exercise escaping: wiki markup, a mention, a link, HTML, unicode.
_DESCRIPTIONS = (
    "Routine change on {sys}. See runbook.",
    "h3. Context\n*Bold claim* and _emphasis_; {{{{code}}}} here.\n[click me|https://evil.example/x]",
    "Ping [~accountid:712020:deadbeef] about {sys} — naïve café ✓",
    "<script>alert('x')</script> & <b>html</b> in a description for {sys}",
    "Multi-line\n* bullet one\n* bullet two\n{{code}}rm -rf /tmp/x{{code}}",
    "Plain text with emoji 🚀 and quotes \"double\" 'single' for {sys}.",
)
_STATUS_WEIGHTS = (
    ("draft", 8),
    ("awaiting-info", 6),
    ("awaiting-approval", 16),
    ("approved", 14),
    ("scheduled", 12),
    ("implementing", 8),
    ("review", 8),
    ("closed", 18),
    ("rejected", 5),
    ("cancelled", 5),
)
_DECIDED = {"approved", "scheduled", "implementing", "review", "closed"}
# How closed changes went: mostly successful, some failed, a few rolled back.
_OUTCOME_WEIGHTS = (("successful", 80), ("failed", 12), ("rolled-back", 8))
# Up to this many changes share one calendar (windows within 50 days, created within 60 days
# before the base time); a larger site spreads over a calendar as many times longer as it has
# times this many changes, as a real site's changes spread over its years: at one density,
# each change overlaps about as many others whatever the site's size.
SAME_CALENDAR_UP_TO = 10_000


def generate(
    count: int, *, random_seed: int = 0, base_time: datetime = DEFAULT_BASE_TIME
) -> list[SeedChange]:
    """`count` changes, the first ones planted with the exceptions in `Planted`."""
    rng = random.Random(random_seed)
    # Outcomes come from a stream of their own, one draw per change whatever its status, so
    # adding them left every other generated value (and each change's outcome) where it was.
    outcomes = random.Random(f"outcome:{random_seed}")
    planted = list(Planted)
    stretch = -(-count // SAME_CALENDAR_UP_TO)  # at least 1
    return [
        _one(
            rng,
            i,
            base_time,
            planted[i] if i < len(planted) else None,
            outcomes.random(),
            stretch=stretch,
        )
        for i in range(count)
    ]


def _one(
    rng: random.Random,
    i: int,
    base: datetime,
    planted: Planted | None,
    outcome_roll: float,
    *,
    stretch: int = 1,
) -> SeedChange:
    change_type = rng.choices(("standard", "normal", "emergency"), (30, 55, 15))[0]
    change_class = "major" if change_type != "standard" and rng.random() < 0.4 else "minor"
    status = rng.choices([s for s, _ in _STATUS_WEIGHTS], [w for _, w in _STATUS_WEIGHTS])[0]
    systems = tuple(sorted(rng.sample([c.name for c in CONFIGURATION_ITEMS], rng.randint(1, 3))))
    sys_name = systems[0]
    created = base - timedelta(days=rng.randint(3, 60 * stretch), minutes=rng.randint(0, 1439))
    updated = min(base, created + timedelta(days=rng.randint(0, 3), minutes=rng.randint(1, 600)))
    days = rng.randint(-20 * stretch, 30 * stretch)
    planned_start = base + timedelta(days=days, hours=rng.randint(0, 23))
    planned_start = planned_start.replace(minute=0, second=0, microsecond=0)
    planned_end = planned_start + timedelta(hours=rng.choice((1, 2, 4, 8)))
    complete = rng.random() < 0.6
    missing = (
        set()
        if complete
        else set(
            rng.sample(
                [
                    "rollback",
                    "security",
                    "systems",
                    "implementation",
                    "test",
                    "justification",
                    "window",
                ],
                rng.randint(1, 3),
            )
        )
    )
    requester = rng.choice(REQUESTERS)
    implementer = rng.choice(IMPLEMENTERS)
    security_level = (
        None
        if "security" in missing
        else rng.choices(("none", "low", "medium", "high"), (50, 20, 20, 10))[0]
    )
    categories: tuple[str, ...] = ()
    if security_level not in (None, "none"):
        categories = tuple(
            sorted(
                rng.sample(
                    ["data-sharing", "security-configuration", "user-access", "system-usage"],
                    rng.randint(0 if rng.random() < 0.2 else 1, 2),
                )
            )
        )
    customer_facing = rng.random() < 0.3
    change = SeedChange(
        index=i,
        title=rng.choice(_TITLES).format(sys=sys_name),
        description=rng.choice(_DESCRIPTIONS).format(sys=sys_name),
        change_type=change_type,
        change_class=change_class,
        risk=rng.choice(("low", "moderate", "high", "very-high")),
        affected_systems=() if "systems" in missing else systems,
        departments=tuple(sorted(rng.sample(DEPARTMENTS, rng.randint(1, 2)))),
        rollback_plan="" if "rollback" in missing else f"Redeploy the previous {sys_name} build.",
        implementation_plan="" if "implementation" in missing else "1. Drain\n2. Deploy\n3. Verify",
        test_plan="" if "test" in missing else "Smoke tests and synthetic checks.",
        justification="" if "justification" in missing else "Keeps the platform supported.",
        security_level=security_level,
        infosec_categories=categories,
        security_notes="Reviewed by the security team." if categories else "",
        operational_impact=rng.choice(("", "Short read-only period.", "Brief API latency.")),
        downtime_minutes=rng.choice((None, 0, 5, 15, 30)),
        customer_facing=customer_facing,
        audiences=tuple(
            sorted(
                rng.sample(["all-users", "admins", "account-owners", "security"], rng.randint(1, 2))
            )
        )
        if customer_facing
        else ("engineering",),
        planned_start=None if "window" in missing else planned_start,
        planned_end=None if "window" in missing else planned_end,
        actual_start=planned_start if status in ("implementing", "review", "closed") else None,
        actual_end=planned_end if status in ("review", "closed") else None,
        requester=requester,
        assignee=implementer,
        implementer=implementer,
        emergency_approver=EMERGENCY_APPROVER if change_type == "emergency" else None,
        standard_template=rng.choice(STANDARD_TEMPLATES) if change_type == "standard" else "",
        approvals=_approvals(rng, status, change_type, change_class, security_level, updated),
        cab_decision=_cab(status, change_class),
        status=status,
        outcome=_outcome(status, outcome_roll),
        release=rng.choice(RELEASES) if rng.random() < 0.5 else "",
        created=created,
        updated=updated,
    )
    if planted:
        return _plant(change, planted, base)
    return _compliant(change, outcome_roll)


def _compliant(c: SeedChange, outcome_roll: float) -> SeedChange:
    """A change past approval that follows the process, so the planted ones are the only
    exceptions: everything its class needs is stated, it was approved before it started, and an
    emergency has had its reviews and is closed. Uses no random draws, so the changes after it
    stay as they were."""
    from dataclasses import replace

    if c.status not in _DECIDED:
        return c
    start, end = c.planned_start, c.planned_end
    if start is None or end is None or start < c.created + timedelta(hours=2):
        start = (c.created + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        end = start + (end - c.planned_start if end and c.planned_start else timedelta(hours=2))
    started = c.status in ("implementing", "review", "closed")
    status = "closed" if c.change_type == "emergency" and started else c.status
    # Approved before it started; an emergency too (by its named approver), the board's
    # review of it comes after.
    approvals = tuple(
        replace(a, decided_at=min(a.decided_at, start - timedelta(hours=1)))
        if a.decided_at is not None and started
        else a
        for a in c.approvals
    )
    if c.change_type == "emergency" and started:  # the board's review after the fact
        approvals += (SeedApproval("carol", "CAB", "approved", end + timedelta(hours=1)),)
    level = c.security_level or "none"
    return replace(
        c,
        affected_systems=c.affected_systems or ("web-frontend",),
        rollback_plan=c.rollback_plan or "Redeploy the previous build.",
        implementation_plan=c.implementation_plan or "1. Drain\n2. Deploy\n3. Verify",
        test_plan=c.test_plan or "Smoke tests and synthetic checks.",
        justification=c.justification or "Keeps the platform supported.",
        security_level=level,
        infosec_categories=c.infosec_categories or (() if level == "none" else ("system-usage",)),
        planned_start=start,
        planned_end=end,
        actual_start=start if started else None,
        actual_end=end if status in ("review", "closed") else None,
        approvals=approvals,
        status=status,
        outcome=_outcome(status, outcome_roll),
    )


def _approvals(
    rng: random.Random,
    status: str,
    change_type: str,
    change_class: str,
    security_level: str | None,
    at: datetime,
) -> tuple[SeedApproval, ...]:
    if change_type == "standard":
        return ()
    decision = {"rejected": "rejected", "awaiting-approval": "pending"}.get(
        status, "approved" if status in _DECIDED else ""
    )
    if not decision:
        return ()
    when = None if decision == "pending" else at
    if change_type == "emergency":
        return (SeedApproval(EMERGENCY_APPROVER, "Emergency", decision, when),)
    group = "CAB" if change_class == "major" else "Change approvers"
    out = [
        SeedApproval(
            rng.choice(APPROVERS),
            group,
            decision,
            when,
            "Declined: window too close to quarter end" if decision == "rejected" else "",
        )
    ]
    if change_class == "major" and security_level not in (None, "none"):
        out.append(SeedApproval(SECURITY_APPROVER, "Security", decision, when))
    return tuple(out)


def _outcome(status: str, roll: float) -> str | None:
    """A closed change's outcome, picked by `roll` (uniform in [0, 1)) from _OUTCOME_WEIGHTS."""
    if status != "closed":
        return None
    total = sum(w for _, w in _OUTCOME_WEIGHTS)
    for outcome, weight in _OUTCOME_WEIGHTS:
        roll -= weight / total
        if roll < 0:
            return outcome
    return _OUTCOME_WEIGHTS[-1][0]


def _cab(status: str, change_class: str) -> str | None:
    if change_class != "major":
        return None
    return {"rejected": "reject", "awaiting-info": "more-info"}.get(
        status, "approve" if status in _DECIDED else None
    )


def _plant(c: SeedChange, planted: Planted, base: datetime) -> SeedChange:
    """Turn a generated change into the named exception, complete in every other respect."""
    from dataclasses import replace

    complete = replace(
        c,
        change_type="normal",
        change_class="minor",
        rollback_plan="Restore the snapshot.",
        implementation_plan="Apply the change.",
        test_plan="Run the smoke suite.",
        justification="Requested by the product team.",
        security_level="low",
        infosec_categories=("system-usage",),
        security_notes="No new access paths.",
        affected_systems=c.affected_systems or ("web-frontend",),
        planted=planted,
        emergency_approver=None,
        standard_template="",
        cab_decision=None,
        outcome=None,  # no planted change is closed
        customer_facing=False,
        audiences=("engineering",),
        actual_start=None,  # not started, unless the exception says so below
        actual_end=None,
    )
    window = (base + timedelta(days=5), base + timedelta(days=5, hours=2))
    approved = (SeedApproval("carol", "Change approvers", "approved", c.updated),)
    match planted:
        case Planted.SELF_APPROVAL:
            return replace(
                complete,
                requester="alice",
                implementer="bob",
                assignee="bob",
                status="approved",
                planned_start=window[0],
                planned_end=window[1],
                approvals=(SeedApproval("alice", "Change approvers", "approved", c.updated),),
            )
        case Planted.UNAUTHORIZED:
            return replace(
                complete,
                status="implementing",
                approvals=(),
                planned_start=base - timedelta(hours=3),
                planned_end=base + timedelta(hours=1),
                actual_start=base - timedelta(hours=2),
                actual_end=None,
            )
        case Planted.FREEZE_VIOLATION:
            start = FREEZE_START + timedelta(days=3, hours=10)
            return replace(
                complete,
                status="scheduled",
                approvals=approved,
                affected_systems=("billing-batch",),
                planned_start=start,
                planned_end=start + timedelta(hours=2),
            )
        case Planted.OVERDUE_EMERGENCY_REVIEW:
            start = base - timedelta(days=20)
            return replace(
                complete,
                change_type="emergency",
                status="review",
                emergency_approver=EMERGENCY_APPROVER,
                approvals=(
                    SeedApproval(
                        EMERGENCY_APPROVER, "Emergency", "approved", start - timedelta(minutes=30)
                    ),
                ),
                planned_start=start,
                planned_end=start + timedelta(hours=1),
                actual_start=start,
                actual_end=start + timedelta(hours=1),
                created=start - timedelta(hours=2),
                updated=start + timedelta(hours=2),
            )
        case Planted.CONFLICT_A | Planted.CONFLICT_B:
            offset = timedelta(hours=0 if planted is Planted.CONFLICT_A else 1)
            start = base + timedelta(days=9, hours=14) + offset
            return replace(
                complete,
                status="scheduled",
                approvals=approved,
                affected_systems=("customer-db",),
                planned_start=start,
                planned_end=start + timedelta(hours=2),
            )
    return complete
