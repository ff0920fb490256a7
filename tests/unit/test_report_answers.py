"""The report's answers stored with an evaluation (`connector.reports.answers`): read back they
give the very row `row_for` gives, with the ledger's two answers added; they are refused once
they no longer hold (another policy or release-note routes, a recheck fallen due, a clock before
the evaluation, another layout). Pure: changes built here, evaluated at a fixed clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from test_report_model import ALICE, BOB, CAROL, DAY, NOW, approval, change, ev

from connector.core.communications import ReleaseNotesSettings
from connector.core.model import Audience, Change, ChangeType, Status
from connector.core.notes.guidance import Route
from connector.core.policy import PolicySettings
from connector.reports.answers import (
    Answers,
    answers,
    approved_now,
    approved_view,
    basis,
    current,
    finish,
    loads,
    notice_met,
    rows_from,
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


@pytest.mark.parametrize("missing", [{}, {"rollback_plan": ""}, {"affected_systems": ()}])
@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_change_approved_now_answers_as_if_evaluated_again_at_its_approval(
    name: str, missing: dict[str, object]
) -> None:
    """The answers need no second evaluation of a change its evaluation just approved."""
    c = CHANGES[name].model_copy(update=missing)
    e = ev(c, POLICY)
    again = approved_view(c.to_json(), at=NOW - DAY, policy=POLICY)
    now = answers(c, e, approved=approved_now(c, e), policy=POLICY, release_notes=NOTES, now=NOW)
    assert now == answers(c, e, approved=again, policy=POLICY, release_notes=NOTES, now=NOW)
    if missing:
        taken = read(now)
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


def _one_by_one(
    stored_rows: list[tuple[str, str | None, bool, bool]],
    *,
    until: datetime,
    types: set[str],
    posted: dict[str, bool],
    told: dict[str, datetime] | None,
) -> tuple[list[object], list[str], dict[str, int]]:
    """What `rows_from` does, through `current`, `Answers.left_out` and `finish` per change."""
    rows: list[object] = []
    stale: list[str] = []
    left_out = {"created after the period": 0, "other types (--type)": 0, "deleted": 0}
    for key, text, due, deleted in stored_rows:
        if deleted:
            left_out["deleted"] += 1
            continue
        taken = current(
            text, basis_now=basis(POLICY, NOTES), recheck_at=NOW if due else None, now=NOW
        )
        if taken is None:
            stale.append(key)
        elif (why := taken.left_out(until=until, types=types)) is None:
            told_at = taken.approved_at if told is None else told.get(taken.key)
            rows.append(finish(taken, posted=posted.get(taken.key), told_at=told_at, now=NOW))
        else:
            left_out[why] += 1
    return rows, stale, left_out


@pytest.mark.parametrize(
    ("until", "types"),
    [(NOW + DAY, set()), (NOW - 5 * DAY, set()), (NOW + DAY, {"emergency"}), (NOW, {"minor"})],
)
@pytest.mark.parametrize("told_known", [True, False])
def test_rows_from_gives_what_current_and_finish_give_one_by_one(
    until: datetime, types: set[str], told_known: bool
) -> None:
    """The report's loop over 100,000 stored answers, written as one function, against the
    calls it stands for: rows, stale keys and the counts left out, for answers that hold,
    answers of another policy, another layout, none, a recheck fallen due, deleted changes."""
    told_when_approved = CHANGES["customer-facing"].model_copy(
        update={"status": Status.APPROVED, "approvals": (approval(at=NOW - 6 * DAY),)}
    )
    every = {**CHANGES, "told when approved": told_when_approved}
    changes = {
        name: c.model_copy(update={"key": f"CHG-{n}"})
        for n, (name, c) in enumerate(sorted(every.items()), 1)
    }
    texts = {name: stored(c) for name, c in changes.items()}
    other = answers(
        CHANGES["awaiting"],
        ev(CHANGES["awaiting"], POLICY),
        approved=None,
        policy=PolicySettings(disabled_rules=("freeze",)),
        release_notes=NOTES,
        now=NOW,
    )
    short = orjson.dumps(orjson.loads(texts["emergency"])[:-1]).decode()
    later = answers(
        CHANGES["implemented"],
        ev(CHANGES["implemented"], POLICY),
        approved=None,
        policy=POLICY,
        release_notes=NOTES,
        now=NOW + DAY,  # evaluated after the report's clock
    )
    stored_rows: list[tuple[str, str | None, bool, bool]] = [
        *((f"K-{name}", text, False, False) for name, text in texts.items()),
        ("K-other-policy", other, False, False),
        ("K-short", short, False, False),
        ("K-object", orjson.dumps({"key": "x"}).decode(), False, False),
        ("K-none", None, False, False),
        ("K-empty", "", False, False),
        ("K-due", texts["emergency"], True, False),
        ("K-later", later, False, False),
        ("K-deleted", texts["implemented"], False, True),
    ]
    keys = [c.key for c in changes.values()]
    posted = {keys[0]: True, keys[1]: False, keys[3]: True}
    told = {key: NOW - 6 * DAY for key in keys[:3]} if told_known else None
    left_out = {"created after the period": 0, "other types (--type)": 0, "deleted": 0}
    rows, stale = rows_from(
        stored_rows,
        basis_now=basis(POLICY, NOTES),
        now=NOW,
        until=until,
        types=types,
        posted=posted,
        told=told,
        left_out=left_out,
    )
    want_rows, want_stale, want_left_out = _one_by_one(
        stored_rows, until=until, types=types, posted=posted, told=told
    )
    assert rows == want_rows
    assert [type(r) for r in rows] == [type(r) for r in want_rows]
    assert stale == want_stale
    assert left_out == want_left_out
    assert stale == [
        "K-other-policy",
        "K-short",
        "K-object",
        "K-none",
        "K-empty",
        "K-due",
        "K-later",
    ]
    assert left_out["deleted"] == 1
