"""The gate decision (`core.deploy.decide`): every verdict and the reasons it gives, and how a
deployment without a key finds its change. Pure: every input is built here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connector.core.deploy import (
    Deployment,
    DeploySettings,
    GateDecision,
    Verdict,
    decide,
    find_change,
)
from connector.core.model import (
    Approval,
    Change,
    ChangeType,
    Decision,
    Link,
    Person,
    SecurityImpact,
    SecurityLevel,
    Source,
    Status,
    SystemKind,
)
from connector.core.policy import ApprovalBasis, Context, PolicySettings
from connector.core.policy.config import Freeze
from connector.core.policy.facts import covered_fields, facts

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ALICE = Person(id="u-alice", name="Alice Example", email="alice@example.com")
CAROL = Person(id="u-carol", name="Carol Approver", email="carol@example.com")
SETTINGS = DeploySettings(
    gated_environments=("production",), services={"checkout": ("payments-api",)}
)


def change(**overrides: Any) -> Change:
    values: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-1",
        "native_id": "10001",
        "title": "Deploy payments 2.4",
        "change_type": ChangeType.NORMAL,
        "affected_systems": ("payments-api",),
        "rollback_plan": "Redeploy the previous build.",
        "security": SecurityImpact(level=SecurityLevel.NONE),
        "planned_start": NOW - HOUR,
        "planned_end": NOW + HOUR,
        "requester": ALICE,
        "approvals": (
            Approval(approver=CAROL, decision=Decision.APPROVED, decided_at=NOW - 2 * HOUR),
        ),
        "status": Status.APPROVED,
        "created": NOW - 48 * HOUR,
        "updated": NOW - 2 * HOUR,
    }
    values.update(overrides)
    return Change(**values)


def deployment(**overrides: Any) -> Deployment:
    values: dict[str, Any] = {
        "provider": "api",
        "reference": "run-1",
        "service": "checkout",
        "environment": "production",
        "commit": "0123456789abcdef",
        "change_key": "CHG-1",
        "triggered_by": "bob",
        "at": NOW,
    }
    values.update(overrides)
    return Deployment(**values)


def gate(
    chg: Change | None,
    *,
    dep: Deployment | None = None,
    policy: PolicySettings | None = None,
    settings: DeploySettings = SETTINGS,
    now: datetime = NOW,
    bases: tuple[ApprovalBasis, ...] = (),
) -> GateDecision:
    ctx = Context(now=now, policy=policy or PolicySettings(), bases=bases)
    return decide(
        deployment=dep or deployment(), change=chg, context=ctx, settings=settings, now=now
    )


def test_allowed_when_approved_and_inside_the_window() -> None:
    decision = gate(change())
    assert decision.verdict is Verdict.ALLOW
    assert decision.change_key == "CHG-1"
    assert decision.source == "acme-jira"
    assert "approved by Carol Approver" in decision.reasons[0]
    assert decision.summary().startswith("allow (CHG-1): CHG-1 is approved by Carol Approver")


def test_ungated_environment_is_allowed_without_a_change() -> None:
    decision = gate(None, dep=deployment(environment="staging", change_key=None))
    assert decision.verdict is Verdict.ALLOW
    assert decision.reasons == ("The environment 'staging' is not gated: no change is needed.",)


def test_no_change_found_is_denied() -> None:
    decision = gate(None, dep=deployment(change_key=None))
    assert decision.verdict is Verdict.DENY
    assert decision.reasons == (
        "No approved change for service 'checkout' in environment 'production'.",
    )


def test_unknown_key_is_denied_naming_it() -> None:
    decision = gate(None, dep=deployment(change_key="CHG-9"))
    assert decision.verdict is Verdict.DENY
    assert decision.reasons == (
        "Change CHG-9 was not found (for service 'checkout' in environment 'production').",
    )


def test_pending_approval_waits() -> None:
    pending = Approval(approver=CAROL, decision=Decision.PENDING)
    decision = gate(change(approvals=(pending,), status=Status.AWAITING_APPROVAL))
    assert decision.verdict is Verdict.WAIT
    assert decision.reasons[0].startswith("CHG-1 is waiting for approval: it still needs")


def test_before_the_window_waits_naming_when_it_opens() -> None:
    decision = gate(change(planned_start=NOW + HOUR, planned_end=NOW + 3 * HOUR))
    assert decision.verdict is Verdict.WAIT
    assert decision.reasons == ("The planned window of CHG-1 opens at 2026-11-16 10:00 UTC.",)


def test_after_the_window_is_denied() -> None:
    decision = gate(change(planned_start=NOW - 3 * HOUR, planned_end=NOW - HOUR))
    assert decision.verdict is Verdict.DENY
    assert decision.reasons == ("The planned window of CHG-1 closed at 2026-11-16 08:00 UTC.",)


def test_no_window_is_denied() -> None:
    decision = gate(change(planned_start=None, planned_end=None))
    assert decision.verdict is Verdict.DENY
    assert "has no planned window" in decision.reasons[0]


FREEZE = Freeze(name="Payments freeze", start=NOW - 2 * HOUR, end=NOW + 2 * HOUR)


def test_freeze_now_is_denied_naming_it() -> None:
    # The planned window itself is outside the freeze; the deploy happens inside it.
    frz = Freeze(name="Payments freeze", start=NOW - 10 * HOUR, end=NOW + 10 * HOUR)
    early = change(planned_start=NOW - 12 * HOUR, planned_end=NOW + 12 * HOUR)
    decision = gate(early, policy=PolicySettings(freezes=(frz,)))
    assert decision.verdict is Verdict.DENY
    assert any("The freeze 'Payments freeze' is in force" in r for r in decision.reasons)


def test_freeze_on_other_systems_does_not_apply() -> None:
    other = FREEZE.model_copy(update={"systems": ("billing",)})
    assert gate(change(), policy=PolicySettings(freezes=(other,))).verdict is Verdict.ALLOW


def test_emergency_in_freeze_follows_the_policy_or_the_setting() -> None:
    policy = PolicySettings(freezes=(FREEZE,))
    emergency = change(
        change_type=ChangeType.EMERGENCY,
        emergency_approver=CAROL,
        justification="Card payments fail for every customer.",
        implementer=Person(id="u-bob", name="Bob"),
    )
    assert gate(emergency, policy=policy).verdict is Verdict.ALLOW
    strict = SETTINGS.model_copy(update={"emergency_in_freeze": "deny"})
    decision = gate(emergency, policy=policy, settings=strict)
    assert decision.verdict is Verdict.DENY
    assert "Payments freeze" in decision.reasons[0]


def test_drift_after_approval_is_denied_naming_the_field() -> None:
    approved = change()
    ctx = Context(now=NOW)
    digest = facts(approved, ctx).approvals.digest
    basis = ApprovalBasis(
        approvals=digest, covered=covered_fields(approved), recorded_at=NOW - 2 * HOUR
    )
    edited = change(rollback_plan="Restore the database from last night's backup.")
    decision = gate(edited, bases=(basis,))
    assert decision.verdict is Verdict.DENY
    assert decision.reasons == (
        "The approval of CHG-1 no longer counts: its rollback plan changed after it was approved "
        "(approval drift); it must be approved again.",
    )
    assert gate(approved, bases=(basis,)).verdict is Verdict.ALLOW


def test_blocking_finding_is_denied() -> None:
    decision = gate(change(rollback_plan=""))
    assert decision.verdict is Verdict.DENY
    assert decision.reasons[0].startswith("CHG-1 has a blocking finding (required-fields)")


def test_deployer_who_is_the_sole_approver_is_denied() -> None:
    decision = gate(change(), dep=deployment(triggered_by="carol@example.com"))
    assert decision.verdict is Verdict.DENY
    assert decision.reasons == (
        "carol@example.com approved CHG-1 alone and may not deploy it themselves.",
    )


def test_rejected_change_is_denied() -> None:
    rejected = Approval(approver=CAROL, decision=Decision.REJECTED)
    decision = gate(change(approvals=(rejected,), status=Status.REJECTED))
    assert decision.verdict is Verdict.DENY
    assert "CHG-1 is rejected." in decision.reasons
    assert "CHG-1 was rejected by Carol Approver." in decision.reasons


def test_change_for_another_service_is_denied() -> None:
    decision = gate(change(), dep=deployment(service="search"))
    assert decision.verdict is Verdict.DENY
    assert decision.reasons[0] == "CHG-1 does not cover service 'search' (it names payments-api)."


def test_deny_reasons_win_over_wait_reasons() -> None:
    pending = Approval(approver=CAROL, decision=Decision.PENDING)
    late = change(approvals=(pending,), planned_start=NOW - 3 * HOUR, planned_end=NOW - HOUR)
    decision = gate(late)
    assert decision.verdict is Verdict.DENY
    assert all("waiting" not in r for r in decision.reasons)


def test_find_change_by_key_and_by_service() -> None:
    one = change()
    two = change(key="CHG-2", native_id="2", planned_start=NOW + HOUR, planned_end=NOW + 2 * HOUR)
    three = change(key="CHG-3", native_id="3", affected_systems=("search",))
    keyed = deployment(change_key="CHG-2")
    assert find_change([one, two, three], keyed, SETTINGS) == two
    unkeyed = deployment(change_key=None)
    # CHG-1's window holds the deployment's time: it wins over the later CHG-2.
    assert find_change([one, two, three], unkeyed, SETTINGS) == one
    # A change naming the commit wins over one whose window holds the time.
    named = two.model_copy(update={"links": (Link(relation="commit", target="0123456abc"),)})
    assert find_change([one, named, three], unkeyed, SETTINGS) == named
    assert find_change([three], unkeyed, SETTINGS) is None
    closed = one.model_copy(update={"status": Status.CLOSED})
    assert find_change([closed], unkeyed, SETTINGS) is None


def test_an_approval_given_after_the_deploy_did_not_cover_it() -> None:
    decision = gate(change(), now=NOW - 3 * HOUR + timedelta(minutes=30))
    assert decision.verdict is Verdict.WAIT
    assert decision.reasons[0] == "CHG-1 was approved only at 2026-11-16 07:00 UTC."


def test_an_approval_within_the_deploys_second_covers_it() -> None:
    # Providers stamp a deploy to the second: 09:00:00 covers an approval at 09:00:00.4.
    late = tuple(
        a.model_copy(update={"decided_at": NOW + timedelta(milliseconds=400)})
        for a in change().approvals
    )
    approved_late = change(approvals=late)
    assert gate(approved_late, now=NOW).verdict is Verdict.ALLOW
    before = gate(approved_late, now=NOW - timedelta(seconds=1))
    assert before.verdict is Verdict.WAIT
    assert before.reasons[0].startswith("CHG-1 was approved only at")
