"""The policy rules through `evaluate`: required fields, InfoSec categories, approval drift,
freezes, maintenance windows, schedule conflicts, notice, unauthorized changes and the
emergency review. Pure: every input is built here, the clock is `Context.now`."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.core.model import (
    Approval,
    Audience,
    CabDecision,
    Change,
    ChangeClass,
    ChangeType,
    Decision,
    InfoSecCategory,
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
    Window,
    evaluate,
)
from connector.core.policy.config import (
    Freeze,
    MaintenanceWindow,
    RequiredFields,
    Requirement,
    Weekday,
)

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

ALICE = Person(id="u-alice", name="Alice Example", email="alice@example.com")
BOB = Person(id="u-bob", name="Bob Builder", email="bob@example.com")
CAROL = Person(id="u-carol", name="Carol Approver", email="carol@example.com")
ERIN = Person(id="u-erin", name="Erin Security", email="erin@example.com")
FRANK = Person(id="u-frank", name="Frank Oncall", email="frank@example.com")

BASELINE = {
    "affected_systems": ("payments-api",),
    "rollback_plan": "Redeploy the previous build.",
    "security": SecurityImpact(level=SecurityLevel.NONE),
}
MAJOR_EXTRA = {
    "implementation_plan": "1. Drain\n2. Deploy",
    "test_plan": "Smoke tests.",
    "justification": "Keeps the platform supported.",
    "planned_start": NOW + 10 * DAY,
    "planned_end": NOW + 10 * DAY + 2 * HOUR,
}


def bare(**fields: Any) -> Change:
    """A change that states nothing beyond its identity."""
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-1",
        "native_id": "10001",
        "requester": ALICE,
        "implementer": BOB,
        "status": Status.AWAITING_APPROVAL,
        "created": NOW - 5 * DAY,
        "updated": NOW - DAY,
    }
    return Change.model_validate(base | fields)


def change(**fields: Any) -> Change:
    """A minor normal change complete in every required respect."""
    return bare(**(BASELINE | fields))


def major(**fields: Any) -> Change:
    return change(**(MAJOR_EXTRA | {"change_class": ChangeClass.MAJOR} | fields))


def approval(
    who: Person = CAROL,
    group: str = "Change approvers",
    at: datetime | None = NOW - DAY,
    decision: Decision = Decision.APPROVED,
) -> Approval:
    return Approval(approver=who, group=group, decision=decision, decided_at=at)


def run(c: Change, policy: PolicySettings | None = None, **ctx: Any) -> Evaluation:
    return evaluate(c, Context(now=ctx.pop("now", NOW), policy=policy or PolicySettings(), **ctx))


def of(ev: Evaluation, rule: str) -> list[Any]:
    return [f for f in ev.findings if f.rule == rule]


def subjects(ev: Evaluation, rule: str) -> list[str]:
    return [f.subject for f in of(ev, rule)]


# -- required fields ---------------------------------------------------------------------------

BASELINE_MESSAGES = {
    "affected_systems": "Add the affected systems.",
    "rollback_plan": "Add a rollback plan.",
    "security": "Add a security impact assessment (none, low, medium or high).",
}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"change_class": ChangeClass.MINOR},
        {"change_type": ChangeType.NORMAL, "change_class": ChangeClass.MINOR},
        {"change_type": ChangeType.STANDARD, "standard_template": "Patch OS"},
        {"change_type": ChangeType.STANDARD, "change_class": ChangeClass.MAJOR},
    ],
)
def test_minor_and_standard_changes_need_only_the_baseline(fields: dict[str, Any]) -> None:
    ev = run(bare(**fields))
    found = of(ev, "required-fields")
    assert {f.subject: f.message for f in found} == BASELINE_MESSAGES
    assert len(found) == 3 and all(f.severity is Severity.BLOCK for f in found)
    assert of(run(change(**fields)), "required-fields") == []


def test_major_adds_plans_window_and_justification() -> None:
    ev = run(bare(change_class=ChangeClass.MAJOR))
    messages = {f.subject: f.message for f in of(ev, "required-fields")}
    assert messages == BASELINE_MESSAGES | {
        "implementation_plan": "Add an implementation plan (required for major changes).",
        "test_plan": "Add a test plan (required for major changes).",
        "planned_window": "Add a planned window (start and end) (required for major changes).",
        "justification": "Add a justification (required for major changes).",
    }
    assert of(run(major()), "required-fields") == []


def test_emergency_adds_justification_and_the_emergency_approver() -> None:
    ev = run(bare(change_type=ChangeType.EMERGENCY, change_class=ChangeClass.MAJOR))
    messages = {f.subject: f.message for f in of(ev, "required-fields")}
    assert messages == BASELINE_MESSAGES | {
        "justification": "Add a justification (required for emergency changes).",
        "emergency_approver": "Add the named emergency approver (required for emergency changes).",
    }
    complete = change(
        change_type=ChangeType.EMERGENCY, justification="Outage.", emergency_approver=FRANK
    )
    assert of(run(complete), "required-fields") == []


@pytest.mark.parametrize(
    ("edit", "missing"),
    [
        ({"test_plan": ""}, "test_plan"),
        ({"justification": "   \n "}, "justification"),  # blank text is not a justification
        ({"planned_end": None}, "planned_window"),  # a window needs both ends
        ({"planned_start": None, "planned_end": None}, "planned_window"),
        ({"affected_systems": ()}, "affected_systems"),
        ({"rollback_plan": "\t"}, "rollback_plan"),
        ({"security": SecurityImpact()}, "security"),
    ],
)
def test_one_finding_per_missing_field_with_the_requirement_as_subject(
    edit: dict[str, Any], missing: str
) -> None:
    assert subjects(run(major(**edit)), "required-fields") == [missing]


def test_each_missing_field_is_its_own_finding() -> None:
    ev = run(major(test_plan="", justification="", rollback_plan=""))
    assert subjects(ev, "required-fields") == ["rollback_plan", "test_plan", "justification"]


def test_required_fields_follow_the_config() -> None:
    policy = PolicySettings(
        required=RequiredFields(
            major=(Requirement.TEST_PLAN,), minor=(Requirement.IMPLEMENTER, Requirement.RISK)
        )
    )
    # Major now needs only the baseline and a test plan.
    ev = run(bare(change_class=ChangeClass.MAJOR), policy)
    assert subjects(ev, "required-fields") == [*BASELINE_MESSAGES, "test_plan"]
    assert of(run(major(implementation_plan="", justification=""), policy), "required-fields") == []
    # Minor now needs the implementer and a risk rating too.
    ev = run(change(implementer=None), policy)
    assert {f.subject: f.message for f in of(ev, "required-fields")} == {
        "implementer": "Add the implementer (required for minor changes).",
        "risk": "Add a risk rating (required for minor changes).",
    }


def test_the_baseline_itself_is_configurable() -> None:
    policy = PolicySettings(required=RequiredFields(all=(Requirement.DEPARTMENTS,)))
    ev = run(bare(), policy)
    assert [(f.subject, f.message) for f in of(ev, "required-fields")] == [
        ("departments", "Add the affected departments.")
    ]


def test_audiences_are_required_only_of_customer_facing_changes() -> None:
    policy = PolicySettings(required=RequiredFields(minor=(Requirement.AUDIENCES,)))
    assert of(run(change(), policy), "required-fields") == []
    assert subjects(run(change(customer_facing=True), policy), "required-fields") == ["audiences"]
    facing = change(customer_facing=True, audiences=(Audience.ADMINS,))
    assert of(run(facing, policy), "required-fields") == []


# -- InfoSec categories ------------------------------------------------------------------------


@pytest.mark.parametrize("level", [SecurityLevel.LOW, SecurityLevel.MEDIUM, SecurityLevel.HIGH])
def test_a_security_impact_needs_its_infosec_categories(level: SecurityLevel) -> None:
    ev = run(change(security=SecurityImpact(level=level)))
    [finding] = of(ev, "infosec-categories")
    assert finding.severity is Severity.BLOCK
    assert finding.subject == "security.categories"
    assert f"The security impact is {level.value}" in finding.message
    named = SecurityImpact(level=level, categories=(InfoSecCategory.USER_ACCESS,))
    assert of(run(change(security=named)), "infosec-categories") == []


@pytest.mark.parametrize("security", [SecurityImpact(level=SecurityLevel.NONE), SecurityImpact()])
def test_no_categories_needed_without_a_security_impact(security: SecurityImpact) -> None:
    assert of(run(change(security=security)), "infosec-categories") == []


# -- approval drift ----------------------------------------------------------------------------


def test_an_edit_after_approval_voids_the_approval() -> None:
    approved = change(approvals=(approval(),), status=Status.APPROVED)
    first = run(approved)
    assert first.approvals.complete and first.findings == ()
    basis = first.new_basis
    assert basis is not None
    assert basis.approvals == first.approvals.digest and basis.recorded_at == NOW

    edited = change(
        approvals=(approval(),), status=Status.APPROVED, rollback_plan="Restore the snapshot."
    )
    later = run(edited, now=NOW + DAY, bases=[basis])
    [drift] = of(later, "approval-drift")
    assert drift.severity is Severity.BLOCK
    assert "Changed after approval" in drift.message and "rollback plan" in drift.message
    assert drift.subject == "rollback_plan"
    assert not later.approvals.complete and later.approvals.counted == ()
    assert later.new_basis is None  # the old basis stays; the approvers must approve again


def test_drift_names_every_covered_field_that_changed() -> None:
    approved = major(approvals=(approval(group="CAB"),), status=Status.SCHEDULED)
    basis = run(approved).new_basis
    assert basis is not None
    moved = major(
        approvals=(approval(group="CAB"),),
        status=Status.SCHEDULED,
        planned_start=NOW + 11 * DAY,
        planned_end=NOW + 11 * DAY + HOUR,
        security=SecurityImpact(level=SecurityLevel.NONE, notes="reviewed again"),
    )
    [drift] = of(run(moved, bases=[basis]), "approval-drift")
    assert drift.subject == "planned_start,planned_end,security"
    assert "planned start, planned end, security impact" in drift.message


def test_unchanged_or_uncovered_edits_are_no_drift() -> None:
    approved = change(approvals=(approval(),), status=Status.APPROVED)
    basis = run(approved).new_basis
    assert basis is not None
    again = run(approved, now=NOW + DAY, bases=[basis])
    assert of(again, "approval-drift") == [] and again.new_basis is None
    assert again.approvals.complete
    retitled = change(approvals=(approval(),), status=Status.APPROVED, title="New title")
    assert of(run(retitled, bases=[basis]), "approval-drift") == []


def test_a_basis_of_other_approvals_does_not_apply() -> None:
    approved = change(approvals=(approval(),), status=Status.APPROVED)
    basis = run(approved).new_basis
    assert basis is not None
    # A second approval: a new set of approvals, so a new basis and no drift.
    more = change(
        approvals=(approval(), approval(ERIN)), status=Status.APPROVED, rollback_plan="Other."
    )
    ev = run(more, bases=[basis])
    assert of(ev, "approval-drift") == []
    assert ev.new_basis is not None and ev.new_basis.approvals != basis.approvals


def test_a_board_approval_in_the_decision_field_alone_is_guarded_against_drift() -> None:
    # A major change (no security impact) that the board approved in the ticket's CAB decision
    # field, with no approval records: the field is all that approves it.
    approved = major(cab_decision=CabDecision.APPROVE, status=Status.APPROVED)
    first = run(approved)
    assert first.approvals.complete and first.approvals.counted == ()
    assert first.approvals.by_decision_field
    basis = first.new_basis
    assert basis is not None and basis.approvals == first.approvals.digest

    edited = major(
        cab_decision=CabDecision.APPROVE, status=Status.APPROVED, rollback_plan="Restore it."
    )
    later = run(edited, now=NOW + DAY, bases=[basis])
    [drift] = of(later, "approval-drift")
    assert drift.subject == "rollback_plan" and drift.severity is Severity.BLOCK
    # The field says "approve" already: the message says how the board decides again.
    assert "change-connector cab decide CHG-1 --decision approve" in drift.message
    assert not later.approvals.complete and later.new_basis is None

    # The board's new decision is a new approval: complete again, under a basis of its own.
    decided = BoardDecision(decision=CabDecision.APPROVE, by="carol", decided_at=NOW + 2 * DAY)
    again = run(edited, now=NOW + 2 * DAY, bases=[basis], board=[decided])
    assert of(again, "approval-drift") == [] and again.approvals.complete
    assert again.new_basis is not None and again.new_basis.approvals != basis.approvals
    assert not again.approvals.by_decision_field


def test_drift_after_approval_records_asks_the_approvers_not_the_board() -> None:
    approved = change(approvals=(approval(),), status=Status.APPROVED)
    basis = run(approved).new_basis
    assert basis is not None
    edited = change(approvals=(approval(),), status=Status.APPROVED, rollback_plan="Other.")
    [drift] = of(run(edited, bases=[basis]), "approval-drift")
    assert "ask the approvers to approve the change again." in drift.message
    assert "cab decide" not in drift.message


def test_no_basis_without_an_approval_even_when_none_is_needed() -> None:
    templated = change(
        change_type=ChangeType.STANDARD, standard_template="Patch OS", status=Status.APPROVED
    )
    ev = run(templated)
    assert ev.approvals.complete and not ev.approvals.given and ev.new_basis is None


def test_no_basis_while_approvals_are_incomplete() -> None:
    assert run(change()).new_basis is None
    assert run(change(approvals=(approval(ALICE),))).new_basis is None  # self-approval


# -- freezes -----------------------------------------------------------------------------------

YEAR_END = Freeze(
    name="Year-end freeze",
    start=datetime(2026, 12, 18),
    end=datetime(2027, 1, 4),
)


def in_freeze(**fields: Any) -> Change:
    start = datetime(2026, 12, 21, 10, 0, tzinfo=BERLIN)
    return change(planned_start=start, planned_end=start + 2 * HOUR, **fields)


def test_a_window_inside_a_freeze_blocks_a_normal_change() -> None:
    policy = PolicySettings(time_zone="Europe/Berlin", freezes=(YEAR_END,))
    [finding] = of(run(in_freeze(), policy), "freeze")
    assert finding.severity is Severity.BLOCK and finding.subject == "Year-end freeze"
    assert "2026-12-18 00:00 CET to 2027-01-04 00:00 CET" in finding.message
    assert "move it outside the freeze" in finding.message
    assert run(in_freeze(), policy).blocked


def test_an_emergency_change_in_a_freeze_is_only_a_warning() -> None:
    policy = PolicySettings(time_zone="Europe/Berlin", freezes=(YEAR_END,))
    emergency = in_freeze(
        change_type=ChangeType.EMERGENCY, justification="Outage.", emergency_approver=FRANK
    )
    [finding] = of(run(emergency, policy), "freeze")
    assert finding.severity is Severity.WARN
    assert "allowed because this is an emergency change" in finding.message


def test_a_freeze_limited_to_systems_hits_only_those() -> None:
    billing = YEAR_END.model_copy(update={"systems": ("billing-batch",)})
    policy = PolicySettings(freezes=(billing,))
    assert of(run(in_freeze(), policy), "freeze") == []
    hit = in_freeze(affected_systems=("payments-api", "billing-batch"))
    assert subjects(run(hit, policy), "freeze") == ["Year-end freeze"]


@pytest.mark.parametrize("status", [Status.REJECTED, Status.CANCELLED])
def test_a_dropped_change_is_not_in_a_freeze(status: Status) -> None:
    policy = PolicySettings(freezes=(YEAR_END,))
    assert of(run(in_freeze(status=status), policy), "freeze") == []


def test_a_window_touching_the_freeze_is_outside_it() -> None:
    policy = PolicySettings(freezes=(YEAR_END,))
    end = datetime(2026, 12, 18, tzinfo=UTC)
    before = change(planned_start=end - 2 * HOUR, planned_end=end)
    after = change(planned_start=datetime(2027, 1, 4, tzinfo=UTC), planned_end=end + 20 * DAY)
    assert of(run(before, policy), "freeze") == []
    assert of(run(after, policy), "freeze") == []


def test_a_freeze_uses_its_own_time_zone() -> None:
    # 2026-12-18 00:00 in New York is 06:00 in Berlin: a 03:00-04:00 Berlin window is before it.
    ny = YEAR_END.model_copy(update={"time_zone": "America/New_York"})
    start = datetime(2026, 12, 18, 3, 0, tzinfo=BERLIN)
    early = change(planned_start=start, planned_end=start + HOUR)
    assert of(run(early, PolicySettings(time_zone="Europe/Berlin", freezes=(ny,))), "freeze") == []
    berlin = PolicySettings(time_zone="Europe/Berlin", freezes=(YEAR_END,))
    assert subjects(run(early, berlin), "freeze") == ["Year-end freeze"]


# -- maintenance windows -----------------------------------------------------------------------

NIGHTLY = MaintenanceWindow(
    systems=("customer-db",),
    days=(Weekday.SAT, Weekday.SUN),
    start=time(22, 0),
    end=time(4, 0),
    time_zone="Europe/Berlin",
)


def on_db(start: datetime, hours: float = 1) -> Change:
    return change(
        affected_systems=("customer-db", "payments-api"),
        planned_start=start,
        planned_end=start + timedelta(hours=hours),
    )


@pytest.mark.parametrize(
    ("start", "hours", "fits"),
    [
        (datetime(2026, 11, 21, 22, 30, tzinfo=BERLIN), 1, True),  # Saturday night
        (datetime(2026, 11, 22, 1, 0, tzinfo=BERLIN), 2, True),  # Saturday's window, past 00:00
        (datetime(2026, 11, 21, 23, 0, tzinfo=BERLIN), 2, True),  # across midnight
        (datetime(2026, 11, 21, 21, 0, tzinfo=BERLIN), 2, False),  # starts before it opens
        (datetime(2026, 11, 22, 3, 0, tzinfo=BERLIN), 2, False),  # ends after it closes
        (datetime(2026, 11, 20, 23, 0, tzinfo=BERLIN), 1, False),  # Friday: wrong weekday
        (datetime(2026, 11, 21, 1, 0, tzinfo=BERLIN), 1, False),  # Saturday 01:00 is Friday's
        (datetime(2026, 11, 23, 1, 0, tzinfo=BERLIN), 1, True),  # Monday 01:00 is Sunday's
        (datetime(2026, 11, 21, 22, 30, tzinfo=BERLIN), 8, False),  # longer than the window
    ],
)
def test_maintenance_windows(start: datetime, hours: float, fits: bool) -> None:
    policy = PolicySettings(maintenance_windows=(NIGHTLY,))
    found = of(run(on_db(start, hours), policy), "maintenance-window")
    if fits:
        assert found == []
    else:
        [finding] = found  # payments-api has no maintenance window: nothing to say about it
        assert finding.severity is Severity.WARN and finding.subject == "customer-db"
        assert "outside every maintenance window of customer-db" in finding.message


def test_any_one_of_several_maintenance_windows_will_do() -> None:
    daytime = MaintenanceWindow(systems=("customer-db",), start=time(9), end=time(17))
    policy = PolicySettings(maintenance_windows=(NIGHTLY, daytime))
    friday_noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert of(run(on_db(friday_noon), policy), "maintenance-window") == []
    friday_evening = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    assert subjects(run(on_db(friday_evening), policy), "maintenance-window") == ["customer-db"]


# -- schedule conflicts ------------------------------------------------------------------------

START = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def scheduled(key: str, start: datetime, systems: tuple[str, ...] = ("customer-db",)) -> Change:
    return change(
        key=key,
        native_id=key,
        affected_systems=systems,
        planned_start=start,
        planned_end=start + 2 * HOUR,
        approvals=(approval(),),
        status=Status.SCHEDULED,
    )


def window(c: Change, *, approved: bool = True, system: str = "customer-db") -> Window:
    assert c.planned_start is not None and c.planned_end is not None
    return Window(
        key=c.key, system=system, start=c.planned_start, end=c.planned_end, approved=approved
    )


def test_overlapping_approved_windows_flag_each_other() -> None:
    a, b = scheduled("CHG-1", START), scheduled("CHG-2", START + HOUR)
    windows = [window(a), window(b)]
    [on_a] = of(run(a, windows=windows), "schedule-conflict")
    [on_b] = of(run(b, windows=windows), "schedule-conflict")
    assert (on_a.subject, on_b.subject) == ("CHG-2", "CHG-1")
    assert on_a.severity is Severity.WARN
    assert "overlaps approved change CHG-2 on customer-db" in on_a.message


def test_what_is_not_a_schedule_conflict() -> None:
    a = scheduled("CHG-1", START)
    b = scheduled("CHG-2", START + HOUR)
    assert of(run(a, windows=[window(a)]), "schedule-conflict") == []  # its own window
    not_approved = [window(a), window(b, approved=False)]
    assert of(run(a, windows=not_approved), "schedule-conflict") == []
    other_system = [window(a), window(b, system="web-frontend")]
    assert of(run(a, windows=other_system), "schedule-conflict") == []
    touching = scheduled("CHG-3", START + 2 * HOUR)
    assert of(run(a, windows=[window(a), window(touching)]), "schedule-conflict") == []
    closed = a.model_copy(update={"status": Status.CLOSED})
    assert of(run(closed, windows=[window(b)]), "schedule-conflict") == []


def test_one_finding_per_other_change_naming_each_shared_system() -> None:
    a = scheduled("CHG-1", START, systems=("customer-db", "web-frontend"))
    b = scheduled("CHG-2", START, systems=("customer-db", "web-frontend"))
    windows = [window(b), window(b, system="web-frontend"), window(a)]
    [finding] = of(run(a, windows=windows), "schedule-conflict")
    assert "on customer-db, web-frontend" in finding.message


# -- notice lead time --------------------------------------------------------------------------

NOTICE = PolicySettings(notice_days={Audience.ALL_USERS: 7, Audience.ACCOUNT_OWNERS: 30})


def facing(start: datetime, **fields: Any) -> Change:
    values: dict[str, Any] = {
        "customer_facing": True,
        "audiences": (Audience.ALL_USERS,),
        "planned_start": start,
        "planned_end": start + HOUR,
    }
    return change(**(values | fields))


def test_too_little_notice_for_a_customer_facing_change() -> None:
    ev = run(facing(NOW + 3 * DAY), NOTICE)
    [finding] = of(ev, "notice-lead-time")
    assert finding.severity is Severity.WARN and finding.subject == "all-users"
    assert "all-users must be told 7 days before the change" in finding.message
    assert "(by 2026-11-12 09:00 UTC)" in finding.message
    assert ev.recheck_at is None  # the deadline is past: nothing left to wait for


def test_enough_notice_rechecks_at_the_deadline() -> None:
    start = NOW + 10 * DAY
    ev = run(facing(start), NOTICE)
    assert of(ev, "notice-lead-time") == []
    assert ev.recheck_at == start - 7 * DAY
    # Once the deadline passes without an approval, the finding appears.
    late = run(facing(start), NOTICE, now=start - 7 * DAY + timedelta(minutes=1))
    assert subjects(late, "notice-lead-time") == ["all-users"]


def test_each_audience_has_its_own_notice_period() -> None:
    both = facing(NOW + 10 * DAY, audiences=(Audience.ALL_USERS, Audience.ACCOUNT_OWNERS))
    ev = run(both, NOTICE)
    assert subjects(ev, "notice-lead-time") == ["account-owners"]
    assert ev.recheck_at == NOW + 3 * DAY  # all-users' deadline is the next one


def test_no_notice_needed_when_not_customer_facing_or_no_period() -> None:
    internal = facing(NOW + DAY, customer_facing=False)
    ev = run(internal, NOTICE)
    assert of(ev, "notice-lead-time") == [] and ev.recheck_at is None
    engineering = facing(NOW + DAY, audiences=(Audience.ENGINEERING,))
    assert of(run(engineering, NOTICE), "notice-lead-time") == []
    assert of(run(facing(NOW + DAY)), "notice-lead-time") == []  # no notice_days configured


def test_an_approval_before_the_deadline_gave_enough_notice() -> None:
    start = NOW + 3 * DAY  # deadline NOW - 4 days
    on_time = facing(start, approvals=(approval(at=NOW - 5 * DAY),), status=Status.APPROVED)
    assert of(run(on_time, NOTICE), "notice-lead-time") == []
    too_late = facing(start, approvals=(approval(at=NOW - 2 * DAY),), status=Status.APPROVED)
    assert subjects(run(too_late, NOTICE), "notice-lead-time") == ["all-users"]


def test_a_closed_change_needs_no_notice_and_no_recheck() -> None:
    ev = run(facing(NOW + 10 * DAY, status=Status.CLOSED), NOTICE)
    assert of(ev, "notice-lead-time") == [] and ev.recheck_at is None


# -- unauthorized changes ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.IMPLEMENTING, Status.REVIEW, Status.CLOSED])
def test_implemented_without_approval_is_unauthorized(status: Status) -> None:
    ev = run(change(status=status, actual_start=NOW - HOUR))
    [finding] = of(ev, "unauthorized")
    assert finding.severity is Severity.BLOCK and finding.subject == status.value
    assert (
        f"reached {status.value} without an approver who is neither the requester nor the "
        "implementer" in finding.message
    )


@pytest.mark.parametrize("status", [Status.AWAITING_APPROVAL, Status.APPROVED, Status.SCHEDULED])
def test_not_yet_implemented_is_not_unauthorized(status: Status) -> None:
    assert of(run(change(status=status)), "unauthorized") == []


def test_approved_only_after_the_start_is_unauthorized() -> None:
    started = NOW - 2 * HOUR
    late = change(status=Status.IMPLEMENTING, actual_start=started, approvals=(approval(at=NOW),))
    [finding] = of(run(late), "unauthorized")
    assert "was approved only after its implementation started" in finding.message
    on_time = change(
        status=Status.IMPLEMENTING, actual_start=started, approvals=(approval(at=started - HOUR),)
    )
    assert of(run(on_time), "unauthorized") == []


def test_a_rejected_change_that_goes_ahead_is_unauthorized() -> None:
    # One approver said yes, the other no: nothing is missing, but the change was rejected.
    split = change(
        status=Status.IMPLEMENTING,
        approvals=(approval(), approval(ERIN, decision=Decision.REJECTED)),
        actual_start=NOW,
    )
    [finding] = of(run(split), "unauthorized")
    assert "reached implementing without the approval it needs (it was rejected)" in (
        finding.message
    )


def emergency(**fields: Any) -> Change:
    values: dict[str, Any] = {
        "change_type": ChangeType.EMERGENCY,
        "justification": "Outage.",
        "emergency_approver": FRANK,
        "actual_start": NOW - 2 * DAY,
        "actual_end": NOW - DAY,
        "status": Status.REVIEW,
    }
    return change(**(values | fields))


def test_an_emergency_approved_by_its_approver_before_starting_is_authorized() -> None:
    ok = emergency(approvals=(approval(FRANK, "Emergency", at=NOW - 3 * DAY),))
    assert of(run(ok), "unauthorized") == []
    by_someone_else = emergency(approvals=(approval(CAROL, "Emergency", at=NOW - 3 * DAY),))
    [finding] = of(run(by_someone_else), "unauthorized")
    assert "the named emergency approver's approval" in finding.message


# -- emergency review --------------------------------------------------------------------------


def test_emergency_review_is_due_then_overdue() -> None:
    c = emergency(approvals=(approval(FRANK, "Emergency", at=NOW - 3 * DAY),))
    due = c.actual_end + timedelta(days=5)  # type: ignore[operator]
    ev = run(c)
    [finding] = of(ev, "emergency-review-due")
    assert finding.severity is Severity.WARN and ev.recheck_at == due
    assert "a retroactive CAB review and a post-implementation review" in finding.message
    assert "2026-11-20 09:00 UTC" in finding.message
    late = run(c, now=due)
    assert of(late, "emergency-review-due") == []
    [overdue] = of(late, "emergency-review-overdue")
    assert overdue.severity is Severity.BLOCK and "overdue" in overdue.message
    assert late.recheck_at is None


def test_the_review_period_is_configurable() -> None:
    from connector.core.policy.config import ApprovalPolicy

    policy = PolicySettings(approvals=ApprovalPolicy(emergency_review_days=2))
    c = emergency(approvals=(approval(FRANK, "Emergency", at=NOW - 3 * DAY),))
    ev = run(c, policy, now=NOW - 12 * HOUR)
    assert ev.recheck_at == c.actual_end + 2 * DAY  # type: ignore[operator]
    assert subjects(run(c, policy), "emergency-review-due") == ["review"]
    assert subjects(run(c, policy, now=NOW + DAY), "emergency-review-overdue") == ["review"]


def test_emergency_review_resolved_by_cab_approval_and_closing() -> None:
    emergency_ok = approval(FRANK, "Emergency", at=NOW - 3 * DAY)
    cab = approval(CAROL, "CAB", at=NOW - HOUR)
    done = emergency(approvals=(emergency_ok, cab), status=Status.CLOSED)
    ev = run(done, now=NOW + 30 * DAY)
    assert of(ev, "emergency-review-due") == of(ev, "emergency-review-overdue") == []
    assert ev.recheck_at is None  # nothing is left to fall due
    # Only one of the two done: the other is still asked for.
    reviewed = run(emergency(approvals=(emergency_ok, cab)))
    [open_item] = of(reviewed, "emergency-review-due")
    assert "CAB" not in open_item.message and "post-implementation review" in open_item.message
    closed = run(emergency(approvals=(emergency_ok,), status=Status.CLOSED))
    [open_item] = of(closed, "emergency-review-due")
    assert "retroactive CAB review" in open_item.message
    assert "post-implementation" not in open_item.message


def test_a_normal_change_has_no_emergency_review() -> None:
    c = change(status=Status.REVIEW, approvals=(approval(),), actual_end=NOW - 30 * DAY)
    ev = run(c)
    assert of(ev, "emergency-review-due") == of(ev, "emergency-review-overdue") == []


def test_findings_come_in_rule_order_and_block_only_when_one_blocks() -> None:
    ev = run(bare(change_type=ChangeType.STANDARD))
    assert [f.rule for f in ev.findings] == ["required-fields"] * 3 + ["standard-template"]
    assert ev.blocked and ev.has("standard-template") and not ev.has("freeze")
    only_warn = run(change(change_type=ChangeType.STANDARD))
    assert only_warn.has("standard-template") and not only_warn.blocked
