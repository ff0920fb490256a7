"""The report's answers stored with an evaluation (`connector.reports.answers`): read back they
give the very row `row_for` gives, with the ledger's two answers added; they are refused once
they no longer hold (another policy or release-note routes, a recheck fallen due, a clock before
the evaluation, another layout). Pure: changes built here, evaluated at a fixed clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from test_report_model import ALICE, BOB, CAROL, DAY, NOW, approval, change, ev

from connector.communications import ReleaseNotesSettings
from connector.model import Audience, Change, ChangeType, Status
from connector.notes.guidance import Route
from connector.policy import PolicySettings
from connector.reports.answers import (
    Answers,
    answers,
    approved_view,
    basis,
    current,
    finish,
    loads,
    notice_met,
    stored_prefix,
)
from connector.reports.model import NA, NO, ROW_FIELDS, YES, row_for

POLICY = PolicySettings(notice_days={Audience.ALL_USERS: 7})  # type: ignore[dict-item]
NOTES = ReleaseNotesSettings()


def stored(c: Change, *, approved: tuple[Change, object] | None = None) -> str:
    return answers(
        c,
        ev(c, POLICY),
        approved=approved,  # type: ignore[arg-type]
        policy=POLICY,
        release_notes=NOTES,
        now=NOW,
    )


def read(text: str, *, at: datetime = NOW, recheck_at: datetime | None = None) -> Answers | None:
    return current(text, basis_now=basis(POLICY, NOTES), recheck_at=recheck_at, now=at)


CHANGES = {
    "awaiting": change(),
    "implemented": change(
        status=Status.CLOSED,
        approvals=(approval(at=NOW - 3 * DAY),),
        actual_start=NOW - 2 * DAY,
        title='Quotes " and <tags> & ünïcode',
    ),
    "self-approved": change(
        status=Status.APPROVED, approvals=(approval(who=ALICE), approval(who=CAROL, at=None))
    ),
    "emergency": change(
        change_type=ChangeType.EMERGENCY,
        status=Status.IMPLEMENTING,
        emergency_approver=BOB,
        actual_start=NOW - 20 * DAY,
        justification="Outage",
    ),
    "customer-facing": change(
        customer_facing=True,
        audiences=(Audience.ALL_USERS,),
        planned_start=NOW + 3 * DAY,
        planned_end=NOW + 4 * DAY,
    ),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_read_back_they_are_the_row_row_for_gives(name: str) -> None:
    c = CHANGES[name]
    taken = read(stored(c))
    assert taken is not None and taken.evaluated_at == NOW
    got = finish(taken, posted=True, told_at=None, now=NOW)
    want = row_for(
        c,
        ev(c, POLICY),
        approved_snapshot=None,
        snapshot_evaluation=None,
        notes_posted=True,
        notice=got.notice_met,
    )
    assert got == want
    assert list(got.as_json()) == list(ROW_FIELDS)  # field order too: JSON keeps it
    assert got.release_notes_posted == YES


def test_the_change_as_approved_answers_required_fields_complete_at_approval() -> None:
    then = change(rollback_plan="", status=Status.APPROVED, approvals=(approval(),))
    now = then.model_copy(update={"rollback_plan": "Redeploy"})
    taken = read(stored(now, approved=approved_view(then.to_json(), at=NOW - DAY, policy=POLICY)))
    assert taken is not None
    assert finish(taken, posted=None, told_at=None, now=NOW).required_complete_at_approval == NO


def test_notice_met_from_the_deadlines_and_when_customers_were_told() -> None:
    taken = read(stored(CHANGES["customer-facing"]))
    assert taken is not None
    ((audience, deadline),) = taken.deadlines
    assert (audience, deadline) == (Audience.ALL_USERS, NOW + 3 * DAY - 7 * DAY)
    assert notice_met(taken.deadlines, told_at=deadline, now=NOW) == YES
    assert notice_met(taken.deadlines, told_at=deadline + DAY, now=NOW) == NO
    assert notice_met(taken.deadlines, told_at=None, now=NOW) == NO  # missed
    assert notice_met(taken.deadlines, told_at=None, now=deadline - DAY) == "pending"
    assert notice_met((), told_at=None, now=NOW) == NA
    assert finish(taken, posted=None, told_at=None, now=NOW).release_notes_posted == NA


def test_answers_that_no_longer_hold_are_refused() -> None:
    text = stored(CHANGES["emergency"])
    assert read(text) is not None
    assert read(None or "") is None
    assert read(text, at=NOW - timedelta(seconds=1)) is None  # a clock before the evaluation
    assert read(text, recheck_at=NOW) is None  # the verdict may have changed by itself
    assert read(text, recheck_at=NOW + DAY) is not None
    other = PolicySettings(disabled_rules=("freeze",))
    assert current(text, basis_now=basis(other, NOTES), recheck_at=None, now=NOW) is None
    routed = ReleaseNotesSettings(
        routes=(Route(customer_facing=True, audiences=(Audience.ACCOUNT_OWNERS,)),)
    )
    assert current(text, basis_now=basis(POLICY, routed), recheck_at=None, now=NOW) is None
    # Only the routes decide who is owed notice: the rest of the note settings changes nothing.
    for same in (ReleaseNotesSettings(enabled=False), ReleaseNotesSettings(post_on=())):
        assert basis(POLICY, same) == basis(POLICY, NOTES)
    assert text.startswith(stored_prefix(basis(POLICY, NOTES)))
    assert not text.startswith(stored_prefix(basis(POLICY, routed)))
    layout = orjson.loads(text)
    assert read(orjson.dumps(layout[:-1]).decode()) is None  # another layout
    assert read(orjson.dumps({"key": "CHG-1"}).decode()) is None
    with pytest.raises(ValueError, match="values"):
        loads(orjson.dumps(layout[:-1]).decode())
