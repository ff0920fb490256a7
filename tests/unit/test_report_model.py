"""The compliance report's view model: each yes / no / n.a. answer of `row_for`, the period's
`summarize`, and `ReportRow.flat()`. Pure: changes are built here and evaluated by the policy
engine at a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.core.model import (
    Approval,
    Audience,
    Change,
    ChangeType,
    Decision,
    InfoSecCategory,
    Outcome,
    Person,
    SecurityImpact,
    SecurityLevel,
    Source,
    Status,
    SystemKind,
)
from connector.core.policy import Context, Evaluation, PolicySettings, Window, evaluate
from connector.core.policy.config import Freeze
from connector.reports.model import NA, NO, YES, ApproverLine, ReportRow, row_for
from connector.reports.summary import summarize

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

ALICE = Person(id="u-alice", name="Alice Example")  # requester
BOB = Person(id="u-bob", name="Bob Builder")  # implementer
CAROL = Person(id="u-carol", name="Carol Approver")
ERIN = Person(id="u-erin", name="Erin Board")
FRANK = Person(id="u-frank", name="Frank Oncall")  # emergency approver


def change(**fields: Any) -> Change:
    """A minor change complete in every required respect, awaiting approval."""
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-1",
        "native_id": "10001",
        "title": "Upgrade the payments API",
        "requester": ALICE,
        "implementer": BOB,
        "status": Status.AWAITING_APPROVAL,
        "affected_systems": ("payments-api",),
        "rollback_plan": "Redeploy the previous build.",
        "security": SecurityImpact(level=SecurityLevel.NONE),
        "created": NOW - 5 * DAY,
        "updated": NOW - DAY,
    }
    return Change.model_validate(base | fields)


def approval(
    who: Person = CAROL,
    at: datetime | None = NOW - 2 * DAY,
    group: str = "Change approvers",
    decision: Decision = Decision.APPROVED,
) -> Approval:
    return Approval(approver=who, group=group, decision=decision, decided_at=at)


def ev(c: Change, policy: PolicySettings | None = None, **ctx: Any) -> Evaluation:
    return evaluate(c, Context(now=ctx.pop("now", NOW), policy=policy or PolicySettings(), **ctx))


def row(
    c: Change,
    evaluation: Evaluation | None = None,
    *,
    snapshot: Change | None = None,
    snapshot_ev: Evaluation | None = None,
    notes_posted: bool | None = None,
    notice: str | None = None,
) -> ReportRow:
    return row_for(
        c,
        evaluation if evaluation is not None else ev(c),
        approved_snapshot=snapshot,
        snapshot_evaluation=snapshot_ev,
        notes_posted=notes_posted,
        notice=notice,
    )


# -- approved before implemented ---------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.IMPLEMENTING, Status.REVIEW, Status.CLOSED])
def test_approved_before_the_actual_start_is_yes(status: Status) -> None:
    c = change(status=status, approvals=(approval(at=NOW - 2 * DAY),), actual_start=NOW - DAY)
    r = row(c)
    assert r.approved_before_implemented == YES
    assert r.approved_at == NOW - 2 * DAY
    assert r.implemented_at == NOW - DAY


def test_approved_at_the_very_moment_of_the_start_is_yes() -> None:
    c = change(
        status=Status.IMPLEMENTING, approvals=(approval(at=NOW - DAY),), actual_start=NOW - DAY
    )
    r = row(c)
    assert r.approved_before_implemented == YES
    assert r.hours_approval_to_implementation == 0.0


def test_approved_after_the_actual_start_is_no() -> None:
    c = change(
        status=Status.IMPLEMENTING, approvals=(approval(at=NOW - HOUR),), actual_start=NOW - DAY
    )
    evaluation = ev(c)
    assert evaluation.has("unauthorized")
    r = row(c, evaluation)
    assert r.approved_before_implemented == NO
    assert r.approved_at == NOW - HOUR
    assert r.hours_approval_to_implementation is None  # the start precedes the approval


def test_an_actual_start_before_the_approval_is_no_whatever_the_status() -> None:
    # The ticket still says scheduled, but a start was recorded before the approval.
    c = change(
        status=Status.SCHEDULED, approvals=(approval(at=NOW - HOUR),), actual_start=NOW - DAY
    )
    assert row(c).approved_before_implemented == NO


@pytest.mark.parametrize(
    "approvals",
    [
        (),
        (approval(decision=Decision.PENDING, at=None),),
        (approval(ALICE),),  # a self-approval does not count
        (approval(decision=Decision.REJECTED),),
    ],
)
def test_implementing_without_a_counted_approval_is_no(approvals: tuple[Approval, ...]) -> None:
    c = change(status=Status.IMPLEMENTING, approvals=approvals, actual_start=NOW - DAY)
    r = row(c)
    assert r.approved_before_implemented == NO
    assert r.approved_at is None
    assert r.hours_request_to_approval is None


def test_implementing_without_a_recorded_start_or_approval_is_no() -> None:
    assert row(change(status=Status.IMPLEMENTING)).approved_before_implemented == NO


@pytest.mark.parametrize(
    "status",
    [Status.AWAITING_APPROVAL, Status.APPROVED, Status.SCHEDULED, Status.CANCELLED],
)
def test_never_implemented_is_not_applicable(status: Status) -> None:
    c = change(status=status, approvals=(approval(),))
    r = row(c)
    assert r.approved_before_implemented == NA
    assert r.implemented_at is None


def test_a_pre_approved_standard_change_is_yes() -> None:
    c = change(
        change_type=ChangeType.STANDARD,
        standard_template="Patch OS",
        status=Status.IMPLEMENTING,
        actual_start=NOW - DAY,
    )
    evaluation = ev(c)
    assert evaluation.approvals.needs == () and evaluation.approvals.complete
    assert row(c, evaluation).approved_before_implemented == YES


def test_an_approval_without_a_time_cannot_be_placed_before_the_start() -> None:
    c = change(status=Status.IMPLEMENTING, approvals=(approval(at=None),), actual_start=NOW - DAY)
    r = row(c)
    assert r.approved_before_implemented == NA
    assert r.approved_at is None


# -- separation of duties ----------------------------------------------------------------------


@pytest.mark.parametrize("who", [ALICE, BOB], ids=["requester", "implementer"])
def test_a_self_approval_breaks_separation_of_duties(who: Person) -> None:
    assert row(change(approvals=(approval(who),))).separation_of_duties == NO
    # ... even next to a proper approval.
    both = change(approvals=(approval(CAROL), approval(who)))
    assert row(both).separation_of_duties == NO


def test_a_proper_approval_keeps_separation_of_duties() -> None:
    assert row(change(approvals=(approval(CAROL),))).separation_of_duties == YES


@pytest.mark.parametrize(
    "approvals",
    [(), (approval(decision=Decision.PENDING, at=None),), (approval(decision=Decision.REJECTED),)],
)
def test_separation_of_duties_without_approvals_is_not_applicable(
    approvals: tuple[Approval, ...],
) -> None:
    assert row(change(approvals=approvals)).separation_of_duties == NA


def test_approver_lines_list_counted_self_approved_rejected_and_pending() -> None:
    c = change(
        approvals=(
            approval(CAROL, at=NOW - DAY),
            approval(ALICE, at=NOW - 2 * DAY, group=""),
            approval(ERIN, decision=Decision.PENDING, at=None, group="CAB"),
        )
    )
    lines = row(c).approvers
    assert [line.text() for line in lines] == [
        "Carol Approver (Change approvers) approved 2026-11-15T09:00+00:00",
        "Alice Example approved 2026-11-14T09:00+00:00",
        "Erin Board (CAB) pending",
    ]


# -- required fields complete at approval ------------------------------------------------------


def test_a_snapshot_with_a_missing_field_is_no_even_when_the_change_is_complete_now() -> None:
    approved = change(status=Status.APPROVED, approvals=(approval(),))
    snapshot = approved.model_copy(update={"rollback_plan": ""})
    snapshot_ev = ev(snapshot, now=NOW - 2 * DAY)
    assert snapshot_ev.has("required-fields")
    current = ev(approved)
    assert not current.has("required-fields")
    r = row(approved, current, snapshot=snapshot, snapshot_ev=snapshot_ev)
    assert r.required_complete_at_approval == NO


def test_a_complete_snapshot_is_yes_even_when_a_field_was_removed_since() -> None:
    snapshot = change(status=Status.APPROVED, approvals=(approval(),))
    now = snapshot.model_copy(update={"rollback_plan": ""})
    current = ev(now)
    assert current.has("required-fields")
    r = row(now, current, snapshot=snapshot, snapshot_ev=ev(snapshot, now=NOW - 2 * DAY))
    assert r.required_complete_at_approval == YES


def test_without_a_snapshot_the_current_evaluation_of_an_approved_change_decides() -> None:
    complete = change(status=Status.APPROVED, approvals=(approval(),))
    assert row(complete).required_complete_at_approval == YES
    incomplete = change(status=Status.APPROVED, approvals=(approval(),), affected_systems=())
    assert row(incomplete).required_complete_at_approval == NO


@pytest.mark.parametrize("fields", [{}, {"rollback_plan": ""}])
def test_a_change_never_approved_is_not_applicable(fields: dict[str, Any]) -> None:
    assert row(change(**fields)).required_complete_at_approval == NA


# -- rollback plan, freezes, conflicts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "answer"),
    [("Redeploy the previous build.", YES), ("", NO), ("  \n\t ", NO)],
)
def test_rollback_plan(plan: str, answer: str) -> None:
    assert row(change(rollback_plan=plan)).rollback_plan == answer


WINDOW = {"planned_start": NOW + 10 * DAY, "planned_end": NOW + 10 * DAY + 2 * HOUR}


def test_freeze_findings_and_conflicts_come_from_the_findings() -> None:
    start = (NOW + 9 * DAY).replace(tzinfo=None)
    policy = PolicySettings(
        freezes=(
            Freeze(name="Year-end freeze", start=start, end=start + 3 * DAY),
            Freeze(name="Black Friday", start=start, end=start + 2 * DAY),
            Freeze(name="Spring", start=start + 60 * DAY, end=start + 61 * DAY),
            Freeze(name="Other system", start=start, end=start + 3 * DAY, systems=("crm",)),
        )
    )
    win = {"start": NOW + 10 * DAY, "end": NOW + 10 * DAY + HOUR}
    windows = [
        Window(key="CHG-9", system="payments-api", approved=True, **win),
        Window(key="CHG-7", system="payments-api", approved=True, **win),
        Window(key="CHG-8", system="payments-api", approved=False, **win),  # not approved
        Window(key="CHG-6", system="crm", approved=True, **win),  # another system
        Window(key="CHG-1", system="payments-api", approved=True, **win),  # itself
    ]
    c = change(**WINDOW)
    r = row(c, ev(c, policy, windows=windows))
    assert r.freeze_findings == ("Year-end freeze", "Black Friday")
    assert r.conflicts_with == ("CHG-7", "CHG-9")
    assert r.open_findings == ("freeze", "schedule-conflict")


def test_no_freeze_or_conflict_findings_leave_the_lists_empty() -> None:
    c = change(**WINDOW)
    r = row(c)
    assert r.freeze_findings == () and r.conflicts_with == () and r.open_findings == ()


# -- emergency review --------------------------------------------------------------------------


def emergency(**fields: Any) -> Change:
    values: dict[str, Any] = {
        "change_type": ChangeType.EMERGENCY,
        "justification": "Outage.",
        "emergency_approver": FRANK,
        "status": Status.IMPLEMENTING,
        "approvals": (approval(FRANK, at=NOW - 10 * DAY, group="Emergency"),),
        "actual_start": NOW - 10 * DAY + HOUR,
    }
    return change(**(values | fields))


def test_an_emergency_review_past_its_due_date_is_overdue() -> None:
    c = emergency()
    evaluation = ev(c)
    assert evaluation.has("emergency-review-overdue")
    assert row(c, evaluation).emergency_review == "overdue"


def test_an_emergency_review_not_yet_due_is_pending() -> None:
    c = emergency(
        approvals=(approval(FRANK, at=NOW - 2 * DAY, group="Emergency"),),
        actual_start=NOW - DAY,
    )
    evaluation = ev(c)
    assert evaluation.has("emergency-review-due")
    assert row(c, evaluation).emergency_review == "pending"


def test_a_reviewed_and_closed_emergency_change_is_done() -> None:
    c = emergency(
        status=Status.CLOSED,
        approvals=(
            approval(FRANK, at=NOW - 10 * DAY, group="Emergency"),
            approval(ERIN, at=NOW - 8 * DAY, group="CAB"),
        ),
    )
    evaluation = ev(c)
    assert not evaluation.has("emergency-review-overdue")
    assert row(c, evaluation).emergency_review == "done"


def test_a_closed_emergency_change_without_the_cab_review_is_still_overdue() -> None:
    assert row(emergency(status=Status.CLOSED)).emergency_review == "overdue"


@pytest.mark.parametrize(
    "c",
    [
        change(status=Status.IMPLEMENTING, approvals=(approval(),), actual_start=NOW - DAY),
        emergency(status=Status.APPROVED, actual_start=None),
    ],
    ids=["not-an-emergency", "not-implemented"],
)
def test_emergency_review_is_not_applicable(c: Change) -> None:
    assert row(c).emergency_review == NA


# -- notice ------------------------------------------------------------------------------------

NOTICE = PolicySettings(notice_days={Audience.ALL_USERS: 14})


def facing(**fields: Any) -> Change:
    values: dict[str, Any] = {"customer_facing": True, "audiences": (Audience.ALL_USERS,)}
    return change(**(values | fields))


@pytest.mark.parametrize("given", [YES, NO, "pending"])
def test_the_notice_argument_is_taken_as_given(given: str) -> None:
    late = facing(planned_start=NOW + 3 * DAY, planned_end=NOW + 3 * DAY + HOUR)
    evaluation = ev(late, NOTICE)
    assert evaluation.has("notice-lead-time")
    assert row(late, evaluation, notice=given).notice_met == given


def test_without_a_notice_the_notice_lead_time_finding_decides() -> None:
    late = facing(planned_start=NOW + 3 * DAY, planned_end=NOW + 3 * DAY + HOUR)
    evaluation = ev(late, NOTICE)
    assert evaluation.has("notice-lead-time")
    assert row(late, evaluation).notice_met == NO
    early = facing(planned_start=NOW + 30 * DAY, planned_end=NOW + 30 * DAY + HOUR)
    evaluation = ev(early, NOTICE)
    assert not evaluation.has("notice-lead-time")
    assert row(early, evaluation).notice_met == YES


def test_notice_is_not_applicable_to_a_change_that_is_not_customer_facing() -> None:
    c = change(audiences=(Audience.ALL_USERS,), planned_start=NOW + DAY, planned_end=NOW + 2 * DAY)
    assert row(c, ev(c, NOTICE)).notice_met == NA


@pytest.mark.parametrize(("posted", "answer"), [(None, NA), (True, YES), (False, NO)])
def test_release_notes_posted(posted: bool | None, answer: str) -> None:
    assert row(change(), notes_posted=posted).release_notes_posted == answer


# -- durations and descriptive fields ----------------------------------------------------------


def test_hours_from_request_to_approval_and_on_to_implementation() -> None:
    c = change(
        status=Status.IMPLEMENTING,
        created=NOW - 5 * DAY,
        approvals=(approval(at=NOW - DAY),),
        actual_start=NOW - DAY + 90 * MINUTE,
    )
    r = row(c)
    assert r.hours_request_to_approval == 96.0
    assert r.hours_approval_to_implementation == 1.5


def test_hours_to_approval_run_to_the_last_counted_approval() -> None:
    c = change(
        created=NOW - 10 * HOUR,
        approvals=(
            approval(CAROL, at=NOW - 9 * HOUR),
            approval(ERIN, at=NOW - 7 * HOUR),
            approval(ALICE, at=NOW - HOUR),  # a self-approval does not count
        ),
    )
    r = row(c)
    assert r.approved_at == NOW - 7 * HOUR
    assert r.hours_request_to_approval == 3.0


def test_hours_are_rounded_to_a_tenth() -> None:
    c = change(created=NOW - 10 * HOUR, approvals=(approval(at=NOW - 10 * HOUR + 80 * MINUTE),))
    assert row(c).hours_request_to_approval == 1.3


def test_descriptive_fields() -> None:
    c = change(
        change_type=ChangeType.NORMAL,
        url="https://acme.atlassian.net/browse/CHG-1",
        status=Status.CLOSED,
        outcome=Outcome.ROLLED_BACK,
        security=SecurityImpact(
            level=SecurityLevel.HIGH,
            categories=(InfoSecCategory.USER_ACCESS, InfoSecCategory.DATA_SHARING),
        ),
        implementer=Person(id="u-dan"),
        approvals=(approval(),),
        actual_start=NOW - DAY,
    )
    r = row(c)
    assert (r.source, r.key, r.title, r.url) == (
        "acme-jira",
        "CHG-1",
        "Upgrade the payments API",
        "https://acme.atlassian.net/browse/CHG-1",
    )
    assert (r.change_type, r.change_class, r.status, r.outcome) == (
        "normal",
        "minor",
        "closed",
        "rolled-back",
    )
    assert r.requester == "Alice Example" and r.implementer == "u-dan"  # id when no name
    assert r.security_impact == "high"
    assert r.infosec_categories == ("user-access", "data-sharing")
    bare = row(change(requester=None, implementer=None))
    assert (bare.change_type, bare.risk, bare.outcome, bare.requester) == ("", "", "", "")


# -- summarize ---------------------------------------------------------------------------------

BASE = ReportRow(
    source="acme-jira",
    key="CHG-0",
    title="A change",
    url="",
    change_type="normal",
    change_class="minor",
    risk="",
    status="closed",
    outcome="successful",
    requester="Alice",
    implementer="Bob",
    approvers=(),
    created=NOW,
    approved_at=None,
    implemented_at=None,
    implemented_end=None,
    board_reviewed_at=None,
    approved_before_implemented=YES,
    separation_of_duties=YES,
    required_complete_at_approval=YES,
    affected_systems=(),
    affected_services=(),
    security_impact="none",
    infosec_categories=(),
    rollback_plan=YES,
    freeze_findings=(),
    freeze_violation=False,
    conflicts_with=(),
    emergency_review=NA,
    notice_met=NA,
    release_notes_posted=NA,
    open_findings=(),
    finding_messages=(),
    incidents=(),
    hours_request_to_approval=None,
    hours_approval_to_implementation=None,
    hours_implementation_to_board_review=None,
    hours_to_restore=None,
)


def rr(key: str, **fields: Any) -> ReportRow:
    return BASE._replace(key=key, **fields)


def summary(rows: list[ReportRow]) -> Any:
    return summarize(rows, since=NOW - 30 * DAY, until=NOW, generated_at=NOW + HOUR)


def test_summary_counts_by_source_type_and_status() -> None:
    rows = [
        rr("A-1", source="acme-jira", change_type="normal", status="closed"),
        rr("A-2", source="acme-jira", change_type="emergency", status="implementing"),
        rr("S-1", source="acme-sn", change_type="normal", status="closed"),
        rr("S-2", source="acme-sn", change_type="", status="draft"),
        rr("S-3", source="acme-sn", change_type="standard", status="closed"),
    ]
    s = summary(rows)
    assert s.total == 5
    assert s.by_source == {"acme-jira": 2, "acme-sn": 3}
    assert s.by_type == {"normal": 2, "emergency": 1, "unknown": 1, "standard": 1}
    assert s.by_status == {"closed": 3, "implementing": 1, "draft": 1}
    assert (s.since, s.until, s.generated_at) == (NOW - 30 * DAY, NOW, NOW + HOUR)


def test_each_exception_lists_exactly_its_changes() -> None:
    rows = [
        rr("OK-1"),
        rr("UNAUTH", approved_before_implemented=NO),
        rr("NA-BEFORE", approved_before_implemented=NA),
        rr("SELF", separation_of_duties=NO),
        rr("NO-APPROVALS", separation_of_duties=NA),
        rr("NO-ROLLBACK", rollback_plan=NO, status="scheduled"),
        rr("FROZEN", freeze_violation=True),
        rr("OVERDUE", emergency_review="overdue"),
        rr("PENDING-REVIEW", emergency_review="pending"),
        rr("LATE", notice_met=NO),
        rr("NOTICE-PENDING", notice_met="pending"),
        rr("MANY", source="acme-sn", approved_before_implemented=NO, separation_of_duties=NO),
    ]
    assert summary(rows).exceptions == {
        "unauthorized": ["acme-jira:UNAUTH", "acme-sn:MANY"],
        "self-approved": ["acme-jira:SELF", "acme-sn:MANY"],
        "missing rollback plan": ["acme-jira:NO-ROLLBACK"],
        "freeze violation": ["acme-jira:FROZEN"],
        "overdue emergency review": ["acme-jira:OVERDUE"],
        "late notice": ["acme-jira:LATE"],
    }


def test_no_exceptions_still_lists_every_kind() -> None:
    assert summary([rr("OK-1")]).exceptions == {
        "unauthorized": [],
        "self-approved": [],
        "missing rollback plan": [],
        "freeze violation": [],
        "overdue emergency review": [],
        "late notice": [],
    }


def test_missing_rollback_plan_counts_only_changes_approved_without_one() -> None:
    statuses = ["draft", "cancelled", "rejected", "awaiting-info", "awaiting-approval"]
    statuses += ["approved", "closed"]
    rows = [rr(f"CHG-{s}", status=s, rollback_plan=NO) for s in statuses]
    rows.append(rr("CHG-has-plan", status="approved", rollback_plan=YES))
    assert summary(rows).exceptions["missing rollback plan"] == [
        "acme-jira:CHG-approved",
        "acme-jira:CHG-closed",
    ]


def test_medians_ignore_missing_durations() -> None:
    rows = [
        rr("A", hours_request_to_approval=1.0, hours_approval_to_implementation=None),
        rr("B", hours_request_to_approval=None, hours_approval_to_implementation=2.0),
        rr("C", hours_request_to_approval=3.0, hours_approval_to_implementation=5.0),
        rr("D", hours_request_to_approval=10.0, hours_approval_to_implementation=None),
    ]
    s = summary(rows)
    assert s.median_hours_request_to_approval == 3.0  # of 1, 3, 10 (not of 0/None)
    assert s.median_hours_approval_to_implementation == 3.5  # of 2 and 5


def test_medians_are_none_without_any_duration() -> None:
    s = summary([rr("A"), rr("B")])
    assert s.median_hours_request_to_approval is None
    assert s.median_hours_approval_to_implementation is None
    assert summary([]).median_hours_request_to_approval is None


def test_outcomes_count_closed_changes_only() -> None:
    rows = [
        rr("A", status="closed", outcome="successful"),
        rr("B", status="closed", outcome="successful"),
        rr("C", status="closed", outcome="failed"),
        rr("D", status="closed", outcome=""),
        rr("E", status="review", outcome="rolled-back"),
        rr("F", status="implementing", outcome="failed"),
    ]
    assert summary(rows).outcomes == {"successful": 2, "failed": 1, "not recorded": 1}


def test_weekly_buckets_start_on_mondays() -> None:
    sunday = datetime(2026, 11, 15, 23, 30, tzinfo=UTC)
    monday = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
    wednesday = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
    next_monday = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    rows = [
        rr("W3", created=next_monday, change_type="emergency"),
        rr("W2a", created=wednesday, change_type="normal"),
        rr("W2b", created=monday, change_type="normal"),
        rr("W2c", created=wednesday, change_type=""),
        rr("W1", created=sunday, change_type="standard"),
    ]
    weekly = summary(rows).weekly
    assert weekly == {
        "2026-11-09": {"standard": 1},
        "2026-11-16": {"normal": 2, "unknown": 1},
        "2026-11-23": {"emergency": 1},
    }
    assert list(weekly) == sorted(weekly)


# -- flat --------------------------------------------------------------------------------------


def test_flat_joins_lists_writes_iso_times_and_blanks_none() -> None:
    r = rr(
        "CHG-5",
        approvers=(
            ApproverLine("Carol", "CAB", "approved", NOW - DAY),
            ApproverLine("Erin", "", "pending", None),
        ),
        created=NOW - 2 * DAY,
        approved_at=None,
        implemented_at=NOW,
        infosec_categories=("user-access", "data-sharing"),
        freeze_findings=("Year-end freeze",),
        freeze_violation=True,
        conflicts_with=(),
        open_findings=("freeze", "unauthorized"),
        hours_request_to_approval=None,
        hours_approval_to_implementation=2.5,
    )
    flat = r.flat()
    assert flat["approvers"] == "Carol (CAB) approved 2026-11-15T09:00+00:00; Erin pending"
    assert flat["infosec_categories"] == "user-access; data-sharing"
    assert flat["freeze_findings"] == "Year-end freeze"
    assert flat["conflicts_with"] == ""
    assert flat["open_findings"] == "freeze; unauthorized"
    assert flat["created"] == "2026-11-14T09:00:00+00:00"
    assert flat["implemented_at"] == "2026-11-16T09:00:00+00:00"
    assert flat["approved_at"] == ""
    assert flat["hours_request_to_approval"] == ""
    assert flat["hours_approval_to_implementation"] == 2.5
    assert flat["key"] == "CHG-5" and flat["status"] == "closed"
    assert list(flat) == list(ReportRow._fields)
    assert all(isinstance(v, str | float | int) for v in flat.values())


def test_an_emergency_approved_only_after_it_started_was_not_approved_before() -> None:
    c = emergency(
        approvals=(approval(FRANK, at=NOW - DAY, group="Emergency"),),
        actual_start=NOW - 2 * DAY,
    )
    r = row(c, ev(c))
    assert r.approved_at == NOW - DAY
    assert r.approved_before_implemented == "no"


def test_an_emergency_carries_its_approval_and_the_boards_later_review_apart() -> None:
    """The named approver's approval lets it go ahead (and times its lead time); the board's
    retroactive review has its own time and is not the approval."""
    c = emergency(
        created=NOW - 10 * DAY - 2 * HOUR,
        approvals=(
            approval(FRANK, at=NOW - 10 * DAY, group="Emergency"),
            approval(CAROL, at=NOW - DAY, group="CAB"),
        ),
        actual_start=NOW - 10 * DAY + HOUR,
        status=Status.CLOSED,
    )
    r = row(c, ev(c))
    assert r.approved_at == NOW - 10 * DAY
    assert r.board_reviewed_at == NOW - DAY
    assert r.approved_before_implemented == "yes"
    assert r.hours_request_to_approval == 2.0
    assert r.hours_approval_to_implementation == 1.0
    assert r.hours_implementation_to_board_review == 9 * 24 - 1


def test_an_open_emergency_without_recorded_times_is_still_pending_its_reviews() -> None:
    c = emergency(actual_start=None)
    evaluation = ev(c)
    assert not evaluation.has("emergency-review-due")
    assert row(c, evaluation).emergency_review == "pending"
    assert row(emergency(actual_start=None, status=Status.CLOSED)).emergency_review == "done"
