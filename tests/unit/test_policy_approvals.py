"""Approvals: what each class needs, which approvals count (separation of duties), CAB and
security sign-off, the emergency approver, standard templates, rejections, board decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.core.model import (
    Approval,
    CabDecision,
    Change,
    ChangeClass,
    ChangeType,
    Decision,
    Person,
    SecurityImpact,
    SecurityLevel,
    Source,
    Status,
    SystemKind,
)
from connector.core.policy import (
    BoardDecision,
    Context,
    Evaluation,
    PolicySettings,
    Severity,
    evaluate,
)
from connector.core.policy.approvals import (
    CAB,
    EMERGENCY,
    ONE_APPROVER,
    SECURITY,
    ApprovalState,
    analyse,
    needs,
    same_person,
)
from connector.core.policy.config import ApprovalPolicy

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

ALICE = Person(id="u-alice", name="Alice Example", email="alice@example.com")
BOB = Person(id="u-bob", name="Bob Builder", email="bob@example.com")
CAROL = Person(id="u-carol", name="Carol Approver", email="carol@example.com")
ERIN = Person(id="u-erin", name="Erin Security", email="erin@example.com")
FRANK = Person(id="u-frank", name="Frank Oncall", email="frank@example.com")
POLICY = ApprovalPolicy()


def change(**fields: Any) -> Change:
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-1",
        "native_id": "10001",
        "affected_systems": ("payments-api",),
        "rollback_plan": "Redeploy.",
        "security": SecurityImpact(level=SecurityLevel.NONE),
        "requester": ALICE,
        "implementer": BOB,
        "status": Status.AWAITING_APPROVAL,
        "created": NOW - 48 * HOUR,
        "updated": NOW - HOUR,
    }
    return Change.model_validate(base | fields)


def major(level: SecurityLevel = SecurityLevel.NONE, **fields: Any) -> Change:
    return change(
        change_class=ChangeClass.MAJOR,
        security=SecurityImpact(level=level, categories=()),
        **fields,
    )


def emergency(**fields: Any) -> Change:
    return change(**({"change_type": ChangeType.EMERGENCY, "emergency_approver": FRANK} | fields))


def approved(
    who: Person = CAROL, group: str = "Change approvers", at: datetime | None = NOW - HOUR
) -> Approval:
    return Approval(approver=who, group=group, decision=Decision.APPROVED, decided_at=at)


def rejected(who: Person = CAROL, comment: str = "Not now.") -> Approval:
    return Approval(
        approver=who, group="Change approvers", decision=Decision.REJECTED, comment=comment
    )


def board(decision: CabDecision, by: str = "carol", at: datetime = NOW - HOUR) -> BoardDecision:
    return BoardDecision(decision=decision, by=by, decided_at=at)


def state(c: Change, *decisions: BoardDecision, policy: ApprovalPolicy = POLICY) -> ApprovalState:
    return analyse(c, decisions, policy)


def run(c: Change, *decisions: BoardDecision) -> Evaluation:
    return evaluate(c, Context(now=NOW, policy=PolicySettings(), board=decisions))


# -- minor: one approver who is neither requester nor implementer ------------------------------


def test_minor_needs_one_approver() -> None:
    assert needs(change(), POLICY) == (ONE_APPROVER,)
    pending = Approval(approver=CAROL, decision=Decision.PENDING)
    s = state(change(approvals=(pending,)))
    assert s.missing == (ONE_APPROVER,) and not s.complete and s.counted == ()
    s = state(change(approvals=(pending, approved())))
    assert s.complete and s.missing == () and s.counted == (approved(),)
    assert s.approved_at == NOW - HOUR


@pytest.mark.parametrize(
    ("approver", "role"),
    [
        (ALICE, "requester"),
        (BOB, "implementer"),
        (Person(id="u-alice", name="Someone Else"), "requester"),  # the id decides
        (Person(id="u-bob"), "implementer"),
    ],
)
def test_self_approval_does_not_count(approver: Person, role: str) -> None:
    own = approved(approver)
    s = state(change(approvals=(own,)))
    assert s.counted == () and s.self_approved == ((own, role),)
    assert s.missing == (ONE_APPROVER,) and not s.complete and s.approved_at is None
    ev = run(change(approvals=(own,)))
    [finding] = [f for f in ev.findings if f.rule == "separation-of-duties"]
    assert finding.severity is Severity.BLOCK and finding.subject == approver.id
    assert f"the {role} of: that approval does not count" in finding.message
    assert not ev.approvals.complete


def test_ticket_approvers_are_matched_by_id_not_by_name() -> None:
    namesake = Person(id="u-other", name=ALICE.name, email=ALICE.email)
    s = state(change(approvals=(approved(namesake),)))
    assert s.complete and s.self_approved == ()


def test_a_self_approval_next_to_a_proper_one_is_still_reported() -> None:
    ev = run(change(approvals=(approved(ALICE), approved(CAROL))))
    assert ev.approvals.complete
    assert [f.subject for f in ev.findings if f.rule == "separation-of-duties"] == ["u-alice"]


# -- same_person -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["u-alice", "Alice Example", "alice example", "ALICE@example.com", "alice", "Alice"]
)
def test_same_person_by_id_name_email_or_login(text: str) -> None:
    assert same_person(ALICE, text)


@pytest.mark.parametrize("text", ["bob", "alice@other.example", "Alice Exampl", ""])
def test_not_the_same_person(text: str) -> None:
    assert not same_person(ALICE, text)


def test_same_person_edge_cases() -> None:
    assert not same_person(None, "alice") and not same_person(ALICE, None)
    assert same_person(ALICE, Person(id="u-alice")) and not same_person(ALICE, CAROL)
    nameless = Person(id="u-x")  # no name, no e-mail: an empty --by must not match it
    assert not same_person(nameless, "")


# -- major: CAB plus security sign-off ---------------------------------------------------------


def test_major_needs_the_cab() -> None:
    assert needs(major(), POLICY) == (CAB,)
    assert state(major(approvals=(approved(),))).missing == (CAB,)  # not a CAB group
    assert state(major(approvals=(approved(group="CAB"),))).complete
    assert state(major(approvals=(approved(group="cab"),))).complete  # ignoring case
    assert state(major(cab_decision=CabDecision.APPROVE)).complete
    assert state(major(), board(CabDecision.APPROVE)).complete


@pytest.mark.parametrize("level", [SecurityLevel.LOW, SecurityLevel.MEDIUM, SecurityLevel.HIGH])
def test_major_with_a_security_impact_needs_a_security_sign_off(level: SecurityLevel) -> None:
    assert needs(major(level), POLICY) == (CAB, SECURITY)
    cab_only = state(major(level, approvals=(approved(group="CAB"),)))
    assert cab_only.missing == (SECURITY,) and not cab_only.complete
    assert state(major(level, cab_decision=CabDecision.APPROVE)).missing == (SECURITY,)
    both = state(major(level, approvals=(approved(group="CAB"), approved(ERIN, "Security"))))
    assert both.complete
    security_only = state(major(level, approvals=(approved(ERIN, "security"),)))
    assert security_only.missing == (CAB,)


def test_an_unassessed_major_change_needs_only_the_cab() -> None:
    c = change(change_class=ChangeClass.MAJOR, security=SecurityImpact())
    assert needs(c, POLICY) == (CAB,)


def test_cab_and_security_groups_are_configurable() -> None:
    policy = ApprovalPolicy(cab_groups=("Change Board",), security_groups=("InfoSec",))
    c = major(
        SecurityLevel.LOW,
        approvals=(approved(group="change board"), approved(ERIN, "INFOSEC")),
    )
    assert state(c, policy=policy).complete
    assert not state(c).complete  # the default groups are "CAB" and "Security"


# -- emergency ---------------------------------------------------------------------------------


def test_emergency_needs_the_named_emergency_approver() -> None:
    assert needs(emergency(), POLICY) == (EMERGENCY,)
    assert state(emergency(approvals=(approved(FRANK, "Emergency"),))).complete
    other = state(emergency(approvals=(approved(CAROL, "CAB"),)))
    assert other.missing == (EMERGENCY,) and other.counted == (approved(CAROL, "CAB"),)
    assert state(emergency(emergency_approver=None, approvals=(approved(FRANK),))).missing == (
        EMERGENCY,
    )


def test_an_emergency_approver_who_is_the_requester_does_not_count() -> None:
    c = emergency(emergency_approver=ALICE, approvals=(approved(ALICE, "Emergency"),))
    s = state(c)
    assert s.missing == (EMERGENCY,) and s.self_approved[0][1] == "requester"


# -- standard ----------------------------------------------------------------------------------


def test_a_standard_change_with_a_template_needs_nothing() -> None:
    c = change(change_type=ChangeType.STANDARD, standard_template="Patch OS packages")
    s = state(c)
    assert s.needs == () and s.complete and s.counted == ()
    assert not [f for f in run(c).findings if f.rule == "standard-template"]


def test_a_standard_change_without_a_template_needs_an_approver_and_warns() -> None:
    c = change(change_type=ChangeType.STANDARD, standard_template="  ")
    assert needs(c, POLICY) == (ONE_APPROVER,)
    [finding] = [f for f in run(c).findings if f.rule == "standard-template"]
    assert finding.severity is Severity.WARN
    assert "names no standard-change template" in finding.message
    assert "needs an approver like a minor change" in finding.message
    assert state(change(change_type=ChangeType.STANDARD, approvals=(approved(),))).complete


def test_only_the_listed_templates_are_standard_when_a_list_is_given() -> None:
    policy = ApprovalPolicy(standard_templates=("Patch OS packages",))
    listed = change(change_type=ChangeType.STANDARD, standard_template="Patch OS packages")
    unlisted = change(change_type=ChangeType.STANDARD, standard_template="Reboot everything")
    assert needs(listed, policy) == () and needs(unlisted, policy) == (ONE_APPROVER,)
    ev = evaluate(unlisted, Context(now=NOW, policy=PolicySettings(approvals=policy)))
    [finding] = [f for f in ev.findings if f.rule == "standard-template"]
    assert "'Reboot everything', which is not an approved standard change" in finding.message
    assert finding.subject == "Reboot everything"


# -- rejections --------------------------------------------------------------------------------


def test_a_rejection_is_reported() -> None:
    no = rejected(comment="Window too close to quarter end")
    s = state(change(approvals=(no, approved(ERIN))))
    assert s.rejection == no and not s.complete and s.missing == ()


def test_a_rejection_by_the_requester_is_not_a_rejection() -> None:
    assert state(change(approvals=(rejected(ALICE),))).rejection is None


def test_a_cab_rejection_on_the_ticket_is_a_rejection() -> None:
    s = state(major(cab_decision=CabDecision.REJECT))
    assert s.rejection is not None and s.rejection.approver.id == "cab"
    assert s.cab is CabDecision.REJECT and not s.complete


# -- board decisions (`cab decide`) ------------------------------------------------------------


def test_a_board_approval_counts_as_the_cab() -> None:
    s = state(major(), board(CabDecision.APPROVE, by="carol@example.com"))
    assert s.complete and s.cab is CabDecision.APPROVE
    assert [a.group for a in s.counted] == ["CAB"]
    assert s.approved_at == NOW - HOUR


def test_the_latest_board_decision_wins() -> None:
    first, then = NOW - 3 * HOUR, NOW - HOUR
    overturned = state(major(), board(CabDecision.REJECT, at=first), board(CabDecision.APPROVE))
    assert overturned.cab is CabDecision.APPROVE
    assert overturned.rejection is None and overturned.complete
    withdrawn = state(major(), board(CabDecision.APPROVE, at=first), board(CabDecision.REJECT))
    assert withdrawn.cab is CabDecision.REJECT and withdrawn.rejection is not None
    assert withdrawn.counted == () and not withdrawn.complete
    deferred = state(
        major(), board(CabDecision.DEFER, at=then), board(CabDecision.APPROVE, at=first)
    )
    assert deferred.cab is CabDecision.DEFER and not deferred.complete


def test_a_board_decision_overrides_the_ticket_cab_field() -> None:
    s = state(major(cab_decision=CabDecision.REJECT), board(CabDecision.APPROVE))
    assert s.cab is CabDecision.APPROVE and s.complete
    s = state(major(cab_decision=CabDecision.APPROVE), board(CabDecision.MORE_INFO))
    assert s.cab is CabDecision.MORE_INFO and not s.complete


@pytest.mark.parametrize("by", ["alice", "Alice Example", "ALICE@EXAMPLE.COM", "u-alice", "bob"])
def test_a_board_decision_by_the_requester_or_implementer_does_not_count(by: str) -> None:
    s = state(major(), board(CabDecision.APPROVE, by=by))
    assert s.counted == () and not s.complete
    assert [role for _, role in s.self_approved] == ["implementer" if by == "bob" else "requester"]
    ev = run(major(), board(CabDecision.APPROVE, by=by))
    assert ev.has("separation-of-duties") and not ev.approvals.complete


# -- digest ------------------------------------------------------------------------------------


def test_the_digest_names_the_set_of_approvals() -> None:
    a, b = approved(), approved(ERIN)
    one = state(change(approvals=(a, b))).digest
    assert one == state(change(approvals=(b, a))).digest  # order does not matter
    assert one != state(change(approvals=(a,))).digest
    later = approved(at=NOW)
    assert state(change(approvals=(a,))).digest != state(change(approvals=(later,))).digest
    cab = state(major(cab_decision=CabDecision.APPROVE)).digest
    assert cab != state(major()).digest


def test_invalidated_state_needs_everything_again() -> None:
    s = state(
        major(SecurityLevel.LOW, approvals=(approved(group="CAB"), approved(ERIN, "Security")))
    )
    assert s.complete
    void = s.invalidated()
    assert void.missing == (CAB, SECURITY) and void.counted == () and not void.complete
    assert void.approved_at is None and void.digest == s.digest


def test_a_servicenow_template_version_matches_its_listed_name() -> None:
    """ServiceNow displays a template version as "<name> - <version>"."""
    by_name = ApprovalPolicy(standard_templates=("SOP-001 Monthly OS patching",))
    pinned = ApprovalPolicy(standard_templates=("SOP-001 Monthly OS patching - 2",))
    v2 = change(
        change_type=ChangeType.STANDARD, standard_template="SOP-001 Monthly OS patching - 2"
    )
    v3 = change(
        change_type=ChangeType.STANDARD, standard_template="SOP-001 Monthly OS patching - 3"
    )
    other = change(change_type=ChangeType.STANDARD, standard_template="SOP-001 Monthly OS - 2")
    assert needs(v2, by_name) == () and needs(v3, by_name) == ()
    assert needs(v2, pinned) == () and needs(v3, pinned) == (ONE_APPROVER,)
    assert needs(other, by_name) == (ONE_APPROVER,)
