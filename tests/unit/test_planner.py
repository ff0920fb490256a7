"""The planner: the managed note (once, then only on a change, then "resolved"), workflow moves
to where the policy says a ticket belongs, labels, and deterministic idempotency keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.core.model import (
    Approval,
    CabDecision,
    Change,
    Decision,
    Person,
    SecurityImpact,
    SecurityLevel,
    Source,
    Status,
    SystemKind,
)
from connector.core.planner import (
    FINDINGS,
    RESOLVED_BODY,
    TRANSITION,
    Action,
    ActionKind,
    Capabilities,
    NoteVersion,
    Plan,
    digest,
    plan,
    steps,
)
from connector.core.policy import Context, Evaluation, PolicySettings, evaluate
from connector.core.policy.config import Freeze
from connector.sync.executor import note_marker

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
POLICY = PolicySettings()
ALL = frozenset(
    {"needs_info", "resubmit", "approved", "scheduled", "rejected", "cancelled",
     "unauthorized_revert"}
)  # fmt: skip
JIRA = Capabilities(actions=ALL, labels=True)
ALICE = Person(id="u-alice", name="Alice")
BOB = Person(id="u-bob", name="Bob")
CAROL = Person(id="u-carol", name="Carol")


def change(**fields: Any) -> Change:
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-1",
        "native_id": "10001",
        "requester": ALICE,
        "implementer": BOB,
        "status": Status.AWAITING_APPROVAL,
        "created": NOW - 48 * HOUR,
        "updated": NOW,
    }
    return Change.model_validate(base | fields)


def complete(**fields: Any) -> Change:
    values: dict[str, Any] = {
        "affected_systems": ("payments-api",),
        "rollback_plan": "Redeploy.",
        "security": SecurityImpact(level=SecurityLevel.NONE),
    }
    return change(**(values | fields))


def approved(who: Person = CAROL, decision: Decision = Decision.APPROVED) -> Approval:
    return Approval(approver=who, group="Change approvers", decision=decision, decided_at=NOW)


WINDOW = {"planned_start": NOW + 48 * HOUR, "planned_end": NOW + 50 * HOUR}


def ev(c: Change, policy: PolicySettings = POLICY) -> Evaluation:
    return evaluate(c, Context(now=NOW, policy=policy))


def planned(
    c: Change,
    *,
    last_note: NoteVersion | None = None,
    caps: Capabilities = JIRA,
    policy: PolicySettings = POLICY,
    extra_steps: tuple[str, ...] = (),
) -> Plan:
    return plan(
        c, ev(c, policy), last_note=last_note, caps=caps, policy=policy, extra_steps=extra_steps
    )


def version(note: Action) -> NoteVersion:
    return NoteVersion(note.content_fingerprint, note.idempotency_key)


def kinds(p: Plan, kind: ActionKind) -> list[Any]:
    return [a for a in p.actions if a.kind is kind]


def moves(c: Change, caps: Capabilities = JIRA, policy: PolicySettings = POLICY) -> tuple[str, ...]:
    [*found] = kinds(planned(c, caps=caps, policy=policy), ActionKind.TRANSITION)
    assert len(found) <= 1
    return found[0].steps if found else ()


# -- the note ----------------------------------------------------------------------------------


def test_findings_are_noted_once() -> None:
    c = change()
    [note] = kinds(planned(c), ActionKind.NOTE)
    assert note.purpose == FINDINGS and note.edit_in_place
    assert note.marker == "change-connector:findings"
    assert note.body.startswith("Change control: 3 open finding(s) on this change, 3 blocking it.")
    assert "* [required-fields] Add a rollback plan." in note.body
    assert note.content_fingerprint == digest(note.body)
    assert note.idempotency_key.startswith("cc1-")
    # Applied: the same findings again plan no note.
    assert kinds(planned(c, last_note=version(note)), ActionKind.NOTE) == []
    # Other findings: a new version of the note, under a new key.
    other = change(rollback_plan="Redeploy.")
    [again] = kinds(planned(other, last_note=version(note)), ActionKind.NOTE)
    assert again.idempotency_key != note.idempotency_key and "rollback" not in again.body


def test_findings_that_come_back_are_a_new_version_with_a_key_of_its_own() -> None:
    # Findings A, then B, then A again: the third note has A's content but is a write of its
    # own (A's key is applied already: reusing it would leave the ticket saying B).
    a, b = change(), change(rollback_plan="Redeploy.")
    [first] = kinds(planned(a), ActionKind.NOTE)
    [second] = kinds(planned(b, last_note=version(first)), ActionKind.NOTE)
    [third] = kinds(planned(a, last_note=version(second)), ActionKind.NOTE)
    assert third.content_fingerprint == first.content_fingerprint and third.body == first.body
    keys = [first.idempotency_key, second.idempotency_key, third.idempotency_key]
    assert len(set(keys)) == 3
    # Deterministic: the same history plans the same key (a replay writes nothing new).
    [replayed] = kinds(planned(a, last_note=version(second)), ActionKind.NOTE)
    assert replayed.idempotency_key == third.idempotency_key
    # A fourth, back to B, follows the third: not the second's key either.
    [fourth] = kinds(planned(b, last_note=version(third)), ActionKind.NOTE)
    assert fourth.idempotency_key not in keys
    # Where every version is a note of its own (a ServiceNow journal), its marker names it:
    # the first by its content, as before versions named the one they follow; the others by
    # their key, so the third is not taken for the first, found in the journal.
    markers = [note_marker(n) for n in (first, second, third, fourth)]
    assert markers[0] == f"change-connector:findings:{first.content_fingerprint[:16]}"
    assert len(set(markers)) == 4
    assert {note_marker(n, versioned=False) for n in (first, third)} == {first.marker}


def test_blocking_findings_are_listed_first() -> None:
    c = change(change_type="standard")
    [note] = kinds(planned(c), ActionKind.NOTE)
    lines = note.body.splitlines()
    assert lines[0] == "Change control: 4 open finding(s) on this change, 3 blocking it."
    assert lines[-1].startswith("* [standard-template]")


def test_resolution_is_noted_once() -> None:
    c = complete(approvals=(approved(),), status=Status.APPROVED)
    [note] = kinds(planned(c, last_note=NoteVersion("an-older-note", "cc1-old")), ActionKind.NOTE)
    assert note.body == RESOLVED_BODY
    assert kinds(planned(c, last_note=version(note)), ActionKind.NOTE) == []


def test_a_change_that_never_had_findings_gets_no_note() -> None:
    c = complete(approvals=(approved(),), status=Status.APPROVED)
    assert ev(c).findings == ()
    assert planned(c).empty


def test_a_rejection_is_quoted_in_the_note() -> None:
    no = Approval(
        approver=CAROL, group="Change approvers", decision=Decision.REJECTED, comment="Too risky"
    )
    [note] = kinds(planned(change(approvals=(no,))), ActionKind.NOTE)
    assert note.body.splitlines()[-1] == "Rejected by Carol: Too risky"
    # Without findings too: the requester learns why it was rejected.
    p = planned(complete(approvals=(no,)))
    [note] = kinds(p, ActionKind.NOTE)
    assert note.body.splitlines() == [RESOLVED_BODY, "Rejected by Carol: Too risky"]
    [move] = kinds(p, ActionKind.TRANSITION)
    assert move.steps == ("rejected",) and move.reason == "Rejected by Carol: Too risky"


# -- transitions -------------------------------------------------------------------------------


def test_missing_fields_send_it_back_for_information() -> None:
    assert moves(change()) == ("needs_info",)
    # InfoSec categories are information too.
    assert moves(complete(security=SecurityImpact(level=SecurityLevel.LOW))) == ("needs_info",)


def test_complete_approvals_move_it_on() -> None:
    assert moves(complete(approvals=(approved(),), **WINDOW)) == ("approved", "scheduled")
    assert moves(complete(approvals=(approved(),))) == ("approved",)  # no window to schedule
    no_schedule = Capabilities(actions=ALL - {"scheduled"}, labels=True)
    assert moves(complete(approvals=(approved(),), **WINDOW), no_schedule) == ("approved",)
    assert moves(complete(approvals=(approved(),), status=Status.APPROVED, **WINDOW)) == (
        "scheduled",
    )


def test_awaiting_approval_stays_while_approvals_are_incomplete() -> None:
    assert moves(complete()) == ()
    assert moves(complete(approvals=(approved(ALICE),))) == ()  # a self-approval


def test_a_blocking_finding_holds_it_back_even_when_approved() -> None:
    freeze = Freeze(name="F", start=datetime(2026, 11, 17), end=datetime(2026, 11, 20))
    policy = PolicySettings(freezes=(freeze,))
    c = complete(approvals=(approved(),), **WINDOW)
    assert ev(c, policy).blocked
    assert moves(c, policy=policy) == ()


def test_a_rejection_moves_it_to_rejected() -> None:
    no = approved(decision=Decision.REJECTED)
    assert moves(complete(approvals=(no,))) == ("rejected",)
    assert moves(change(approvals=(no,), status=Status.AWAITING_INFO)) == ("rejected",)
    cab_no = complete(change_class="major", cab_decision=CabDecision.REJECT, **WINDOW)
    assert moves(cab_no) == ("rejected",)


def test_a_board_asking_for_more_information_decides_by_itself() -> None:
    major = {
        "change_class": "major",
        "implementation_plan": "Deploy.",
        "test_plan": "Smoke tests.",
        "justification": "Supported versions only.",
        "cab_decision": CabDecision.MORE_INFO,
    }
    waiting = complete(**major, **WINDOW)
    assert not ev(waiting).has("required-fields") and not ev(waiting).approvals.complete
    assert moves(waiting) == ()
    # Not resubmitted by the worker either: the board decides when it has what it asked for.
    assert moves(complete(**major, **WINDOW, status=Status.AWAITING_INFO)) == ()
    assert moves(change(**major, **WINDOW)) == ("needs_info",)  # fields missing: as ever


def test_awaiting_info_with_fields_complete_is_resubmitted() -> None:
    waiting = complete(status=Status.AWAITING_INFO)
    assert moves(waiting) == ("resubmit",)
    ready = complete(status=Status.AWAITING_INFO, approvals=(approved(),), **WINDOW)
    assert moves(ready) == ("resubmit", "approved", "scheduled")
    no_resubmit = Capabilities(actions=ALL - {"resubmit"}, labels=True)
    assert moves(ready, no_resubmit) == ()
    assert moves(change(status=Status.AWAITING_INFO)) == ()  # still missing fields


def test_an_unauthorized_start_is_reverted_only_if_the_mapping_can() -> None:
    c = complete(status=Status.IMPLEMENTING, actual_start=NOW)
    assert ev(c).has("unauthorized")
    assert moves(c) == ("unauthorized_revert",)
    assert moves(c, Capabilities(actions=ALL - {"unauthorized_revert"}, labels=True)) == ()


@pytest.mark.parametrize(
    "status",
    [Status.SCHEDULED, Status.IMPLEMENTING, Status.CLOSED, Status.REJECTED, Status.DRAFT],
)
def test_nothing_to_move_where_it_already_belongs(status: Status) -> None:
    c = complete(status=status, approvals=(approved(),), **WINDOW, actual_start=NOW + 49 * HOUR)
    assert moves(c) == ()


def test_moves_the_mapping_lacks_are_dropped() -> None:
    none = Capabilities(actions=frozenset(), labels=False)
    assert moves(change(), none) == () and moves(complete(approvals=(approved(),)), none) == ()


def test_extra_steps_come_first_and_once() -> None:
    c = change()
    [t] = kinds(planned(c, extra_steps=("needs_info", "cancelled")), ActionKind.TRANSITION)
    assert t.steps == ("needs_info", "cancelled") and t.purpose == TRANSITION


# -- labels ------------------------------------------------------------------------------------


def labels(p: Plan) -> list[tuple[str, bool]]:
    return [(a.label, a.present) for a in kinds(p, ActionKind.LABEL)]


def test_the_findings_label_follows_the_findings() -> None:
    assert labels(planned(change())) == [("change-control", True)]
    assert labels(planned(change(labels=("change-control",)))) == []
    clean = complete(approvals=(approved(),), status=Status.APPROVED)
    assert labels(planned(clean)) == []
    assert labels(planned(clean.model_copy(update={"labels": ("change-control", "x")}))) == [
        ("change-control", False)
    ]


def test_an_unauthorized_change_gets_the_unauthorized_label() -> None:
    c = complete(status=Status.IMPLEMENTING, actual_start=NOW)
    assert labels(planned(c)) == [
        ("change-control", True),
        ("change-control-unauthorized", True),
    ]
    authorized = complete(
        status=Status.IMPLEMENTING,
        actual_start=NOW + HOUR,
        approvals=(approved(),),
        labels=("change-control-unauthorized",),
    )
    assert labels(planned(authorized)) == [("change-control-unauthorized", False)]


def test_labels_only_where_the_source_has_them() -> None:
    servicenow = Capabilities(actions=ALL, labels=False)
    p = planned(complete(status=Status.IMPLEMENTING, actual_start=NOW), caps=servicenow)
    assert kinds(p, ActionKind.LABEL) == [] and kinds(p, ActionKind.NOTE)


def test_label_names_come_from_the_policy() -> None:
    policy = PolicySettings(findings_label="cc-open", unauthorized_label="")
    c = complete(status=Status.IMPLEMENTING, actual_start=NOW)
    assert labels(planned(c, policy=policy)) == [("cc-open", True)]


# -- idempotency keys --------------------------------------------------------------------------


def test_plans_and_keys_are_deterministic() -> None:
    c = complete(status=Status.IMPLEMENTING, actual_start=NOW)
    first, second = planned(c), planned(c)
    assert first == second and len(first.actions) == 4
    keys = [a.idempotency_key for a in first.actions]
    assert len(set(keys)) == len(keys) and all(k.startswith("cc1-") and len(k) == 52 for k in keys)


def test_keys_differ_per_ticket_source_and_content() -> None:
    def note_key(c: Change) -> str:
        return kinds(planned(c), ActionKind.NOTE)[0].idempotency_key

    base = note_key(change())
    assert note_key(change(key="CHG-2")) != base
    assert note_key(change(source=Source(instance="other", kind=SystemKind.JIRA_CLOUD))) != base
    assert note_key(change(rollback_plan="Redeploy.")) != base
    assert note_key(change(title="Only the title differs")) == base  # the same note


def test_a_move_asked_again_on_a_changed_ticket_is_a_new_action() -> None:
    def move_key(c: Change) -> str:
        return kinds(planned(c), ActionKind.TRANSITION)[0].idempotency_key

    assert move_key(change()) == move_key(change())
    assert move_key(change()) != move_key(change(title="Edited"))
    assert move_key(change()) == move_key(change(labels=("unrelated",)))  # labels: not essence


@pytest.mark.parametrize("status", [Status.APPROVED, Status.SCHEDULED])
def test_approval_drift_moves_back_only_where_the_mapping_says(status: Status) -> None:
    given = complete(status=status, approvals=(approved(),), **WINDOW)
    basis = ev(given).new_basis
    assert basis is not None
    edited = given.model_copy(update={"rollback_plan": "Restore the snapshot instead."})
    later = evaluate(edited, Context(now=NOW + HOUR, policy=POLICY, bases=[basis]))
    assert later.has("approval-drift")
    with_drift = Capabilities(actions=ALL | {"drift"}, labels=True)
    assert steps(edited, later, with_drift) == ("drift",)
    assert steps(edited, later, JIRA) == ()  # no `drift` in the mapping: nothing moves
    # Back with the approvers, the drifted change is not moved again.
    waiting = edited.model_copy(update={"status": Status.AWAITING_APPROVAL})
    again = evaluate(waiting, Context(now=NOW + HOUR, policy=POLICY, bases=[basis]))
    assert steps(waiting, again, with_drift) == ()
