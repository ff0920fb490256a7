"""Change communications: which release notes `note_actions` plans for a change, and when (an
internal note, a public one only for a customer-facing change, edited in place, nothing twice),
and the notice each customer-facing audience is owed (`notices`). Pure: changes built here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.core.communications import (
    AFTER_APPROVAL,
    INTERNAL,
    PUBLIC,
    ReleaseNotesSettings,
    note_actions,
    notices,
    public_audience,
)
from connector.core.model import (
    Audience,
    Change,
    InfoSecCategory,
    Person,
    SecurityImpact,
    SecurityLevel,
    Source,
    Status,
    SystemKind,
)
from connector.core.notes.guidance import Route
from connector.core.notes.render import render_change
from connector.core.planner import ActionKind, NoteVersion, digest

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
START = NOW + 20 * DAY

ROLLBACK = "Redeploy build 41 from the release bucket."
IMPLEMENTATION = "Drain node pool blue, then deploy."
SETTINGS = ReleaseNotesSettings()


def change(**fields: Any) -> Change:
    """An approved, customer-facing change told to all users."""
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-1",
        "native_id": "10001",
        "url": "https://acme.atlassian.net/browse/CHG-1",
        "title": "Faster checkout",
        "description": "Checkout pages load in half the time.",
        "requester": Person(id="u-alice", name="Alice Example"),
        "affected_systems": ("payments-api",),
        "rollback_plan": ROLLBACK,
        "implementation_plan": IMPLEMENTATION,
        "security": SecurityImpact(level=SecurityLevel.NONE),
        "customer_facing": True,
        "audiences": (Audience.ALL_USERS,),
        "planned_start": START,
        "planned_end": START + 2 * HOUR,
        "status": Status.APPROVED,
        "created": NOW - 5 * DAY,
        "updated": NOW - DAY,
    }
    return Change.model_validate(base | fields)


def actions(
    c: Change,
    *,
    settings: ReleaseNotesSettings = SETTINGS,
    fmt: str = "wiki",
    last: dict[str, NoteVersion] | None = None,
) -> dict[str, Any]:
    """The planned note actions by purpose (each purpose at most once)."""
    planned = note_actions(c, settings=settings, fmt=fmt, last=last or {})
    by_purpose = {a.purpose: a for a in planned}
    assert len(by_purpose) == len(planned)
    return by_purpose


def fingerprints(c: Change, fmt: str = "wiki") -> dict[str, NoteVersion]:
    """The notes planned for `c` with nothing before, as the versions the next one follows."""
    return {
        p: NoteVersion(a.content_fingerprint, a.idempotency_key)
        for p, a in actions(c, fmt=fmt).items()
    }


# -- when notes are planned --------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        Status.DRAFT,
        Status.AWAITING_INFO,
        Status.AWAITING_APPROVAL,
        Status.REJECTED,
        Status.CANCELLED,
    ],
)
def test_nothing_before_the_change_reaches_a_post_on_status(status: Status) -> None:
    assert note_actions(change(status=status), settings=SETTINGS, fmt="wiki", last={}) == []


@pytest.mark.parametrize("status", AFTER_APPROVAL)
def test_approved_and_every_later_status_plan_both_notes(status: Status) -> None:
    assert set(actions(change(status=status))) == {INTERNAL, PUBLIC}


def test_post_on_is_configurable() -> None:
    only_closed = ReleaseNotesSettings(post_on=(Status.CLOSED,))
    assert actions(change(status=Status.APPROVED), settings=only_closed) == {}
    assert set(actions(change(status=Status.CLOSED), settings=only_closed)) == {INTERNAL, PUBLIC}


def test_disabled_settings_plan_nothing() -> None:
    off = ReleaseNotesSettings(enabled=False)
    for status in AFTER_APPROVAL:
        assert note_actions(change(status=status), settings=off, fmt="wiki", last={}) == []


# -- what the notes say ------------------------------------------------------------------------


def test_the_internal_note_is_for_engineering_and_carries_the_plans() -> None:
    c = change()
    note = actions(c)[INTERNAL]
    assert note.kind is ActionKind.NOTE
    assert note.internal is True
    assert note.edit_in_place is True
    assert note.marker == "change-connector:release-note:internal"
    assert (note.source, note.ticket_key, note.native_id) == ("acme-jira", "CHG-1", "10001")
    assert note.body == render_change(c, audience=Audience.ENGINEERING, fmt="wiki")
    assert note.content_fingerprint == digest(note.body)
    assert ROLLBACK in note.body
    assert IMPLEMENTATION in note.body


def test_the_public_note_is_for_the_audience_and_has_no_internal_content() -> None:
    c = change()
    note = actions(c)[PUBLIC]
    assert note.kind is ActionKind.NOTE
    assert note.internal is False
    assert note.edit_in_place is True
    assert note.marker == "change-connector:release-note:public"
    assert note.body == render_change(c, audience=Audience.ALL_USERS, fmt="wiki")
    assert note.content_fingerprint == digest(note.body)
    assert "Faster checkout" in note.body
    for secret in (ROLLBACK, IMPLEMENTATION, "Rollback plan", "Alice Example", "browse/CHG-1"):
        assert secret not in note.body


def test_the_two_notes_have_distinct_idempotency_keys() -> None:
    planned = actions(change())
    assert planned[INTERNAL].idempotency_key != planned[PUBLIC].idempotency_key
    assert planned[INTERNAL].content_fingerprint != planned[PUBLIC].content_fingerprint


@pytest.mark.parametrize(
    "fields",
    [
        {"customer_facing": False},  # audiences named, but nothing goes out
        {"customer_facing": False, "audiences": ()},
        {"customer_facing": True, "audiences": ()},  # facing, but no one outside engineering
        {"customer_facing": True, "audiences": (Audience.ENGINEERING,)},
    ],
)
def test_only_the_internal_note_without_a_public_audience(fields: dict[str, Any]) -> None:
    c = change(**fields)
    assert public_audience(c, SETTINGS) is None
    planned = actions(c)
    assert set(planned) == {INTERNAL}
    assert planned[INTERNAL].internal is True


def test_the_public_note_is_written_for_the_broadest_audience() -> None:
    c = change(audiences=(Audience.ADMINS, Audience.ALL_USERS))
    assert public_audience(c, SETTINGS) is Audience.ALL_USERS
    assert actions(c)[PUBLIC].body == render_change(c, audience=Audience.ALL_USERS, fmt="wiki")
    admins = change(audiences=(Audience.ACCOUNT_OWNERS, Audience.ADMINS))
    assert public_audience(admins, SETTINGS) is Audience.ADMINS


def test_a_route_can_give_a_change_its_public_audience() -> None:
    routed = ReleaseNotesSettings(
        routes=(Route(customer_facing=True, audiences=(Audience.ACCOUNT_OWNERS,)),)
    )
    c = change(audiences=())
    assert public_audience(c, SETTINGS) is None
    assert public_audience(c, routed) is Audience.ACCOUNT_OWNERS
    assert set(actions(c, settings=routed)) == {INTERNAL, PUBLIC}


def test_sn_and_wiki_bodies_differ_in_markup() -> None:
    c = change()
    wiki, sn = actions(c, fmt="wiki"), actions(c, fmt="sn")
    for purpose in (INTERNAL, PUBLIC):
        assert wiki[purpose].body != sn[purpose].body
        assert wiki[purpose].content_fingerprint != sn[purpose].content_fingerprint
        assert wiki[purpose].body.startswith("h1. Faster checkout")
        assert "*What changes:* " in wiki[purpose].body
        assert sn[purpose].body.startswith("Faster checkout\n")
        assert "What changes: Checkout pages" in sn[purpose].body
        assert "*" not in sn[purpose].body and "h1." not in sn[purpose].body
    assert ROLLBACK in sn[INTERNAL].body and ROLLBACK not in sn[PUBLIC].body


def test_an_unknown_format_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown note format"):
        note_actions(change(), settings=SETTINGS, fmt="rtf", last={})


# -- nothing twice, edits in place -------------------------------------------------------------


def test_the_same_content_as_last_planned_plans_nothing() -> None:
    c = change()
    assert note_actions(c, settings=SETTINGS, fmt="wiki", last=fingerprints(c)) == []


def test_only_the_note_whose_content_differs_is_planned() -> None:
    c = change()
    last = fingerprints(c)
    assert set(actions(c, last={INTERNAL: last[INTERNAL]})) == {PUBLIC}
    stale = NoteVersion("stale", "cc1-stale")
    assert set(actions(c, last={PUBLIC: last[PUBLIC], INTERNAL: stale})) == {INTERNAL}


def test_unseen_notes_are_planned_unrendered_unless_there_is_content_to_compare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A withheld note nobody sees: planned as it would be, rendered only to compare."""
    c = change()
    seen, shown = fingerprints(c), list(actions(c))
    rendered: list[Audience] = []

    def render(change: Change, *, audience: Audience, **kw: Any) -> str:
        rendered.append(audience)
        return render_change(change, audience=audience, **kw)

    monkeypatch.setattr("connector.core.communications.render_change", render)
    planned = note_actions(c, settings=SETTINGS, fmt="wiki", last={}, unseen=True)
    assert [(a.purpose, a.body, a.content_fingerprint) for a in planned] == [
        (INTERNAL, "", ""),
        (PUBLIC, "", ""),
    ]
    assert [a.purpose for a in planned] == shown  # the notes a plan that shows them has
    assert rendered == []
    told = {INTERNAL: seen[INTERNAL]}  # the internal note was planned before, as it is now
    planned = note_actions(c, settings=SETTINGS, fmt="wiki", last=told, unseen=True)
    assert [(a.purpose, a.body) for a in planned] == [(PUBLIC, "")]
    assert rendered == [Audience.ENGINEERING]


def test_a_changed_change_plans_new_content_under_the_same_purposes() -> None:
    before = change()
    last = fingerprints(before)
    first = actions(before)
    after = change(title="Much faster checkout", updated=NOW)
    again = actions(after, last=last)
    assert set(again) == {INTERNAL, PUBLIC}
    for purpose in (INTERNAL, PUBLIC):
        assert again[purpose].edit_in_place is True
        assert again[purpose].marker == first[purpose].marker
        assert again[purpose].content_fingerprint != last[purpose].content
        assert again[purpose].idempotency_key != first[purpose].idempotency_key
        assert "Much faster checkout" in again[purpose].body
    assert again[INTERNAL].internal is True and again[PUBLIC].internal is False


def test_a_new_rollback_plan_edits_only_the_internal_note() -> None:
    before = change()
    after = change(rollback_plan="Switch traffic back to the blue pool.")
    planned = actions(after, last=fingerprints(before))
    assert set(planned) == {INTERNAL}
    assert "Switch traffic back to the blue pool." in planned[INTERNAL].body


def test_an_edit_outside_the_notes_plans_nothing() -> None:
    before = change()
    after = change(updated=NOW, labels=("change-control",), justification="Customers asked.")
    assert actions(after, last=fingerprints(before)) == {}


# -- notices -----------------------------------------------------------------------------------

DAYS = {Audience.ALL_USERS: 14, Audience.ADMINS: 3}


def owed(
    c: Change,
    *,
    notice_days: dict[Audience, float] | None = None,
    told_at: datetime | None = None,
    now: datetime = NOW,
    settings: ReleaseNotesSettings = SETTINGS,
) -> list[Any]:
    return notices(
        c,
        notice_days=DAYS if notice_days is None else notice_days,
        settings=settings,
        told_at=told_at,
        now=now,
    )


def test_one_notice_per_audience_with_its_own_deadline() -> None:
    c = change(audiences=(Audience.ADMINS, Audience.ALL_USERS))
    found = owed(c, told_at=NOW, now=NOW + HOUR)
    assert [(n.audience, n.deadline) for n in found] == [
        (Audience.ALL_USERS, START - 14 * DAY),
        (Audience.ADMINS, START - 3 * DAY),
    ]
    assert all(n.told_at == NOW and n.now == NOW + HOUR for n in found)


def test_fractional_notice_days() -> None:
    [n] = owed(change(), notice_days={Audience.ALL_USERS: 0.5})
    assert n.deadline == START - 12 * HOUR


def test_an_audience_without_notice_days_is_owed_nothing() -> None:
    c = change(audiences=(Audience.ALL_USERS, Audience.ACCOUNT_OWNERS))
    assert [n.audience for n in owed(c)] == [Audience.ALL_USERS]
    assert owed(c, notice_days={}) == []
    assert owed(change(audiences=(Audience.ACCOUNT_OWNERS,))) == []


def test_routed_audiences_are_owed_notice_too() -> None:
    # A user-access change also goes to admins (and the security team) by the default routing.
    c = change(
        security=SecurityImpact(
            level=SecurityLevel.MEDIUM, categories=(InfoSecCategory.USER_ACCESS,)
        )
    )
    found = owed(c, notice_days={Audience.ADMINS: 7, Audience.SECURITY: 2})
    assert [(n.audience, n.deadline) for n in found] == [
        (Audience.ADMINS, START - 7 * DAY),
        (Audience.SECURITY, START - 2 * DAY),
    ]


DEADLINE = START - 14 * DAY


@pytest.mark.parametrize(
    ("told_at", "now", "status"),
    [
        (DEADLINE - DAY, DEADLINE + 5 * DAY, "met"),
        (DEADLINE, DEADLINE + 5 * DAY, "met"),  # told right at the deadline
        (DEADLINE + HOUR, DEADLINE + 5 * DAY, "late"),
        (DEADLINE + HOUR, DEADLINE - DAY, "late"),  # the clock does not matter once told
        (None, DEADLINE + HOUR, "missed"),
        (None, DEADLINE - HOUR, "pending"),
        (None, DEADLINE, "pending"),  # not past yet
    ],
)
def test_notice_status(told_at: datetime | None, now: datetime, status: str) -> None:
    [n] = owed(change(), notice_days={Audience.ALL_USERS: 14}, told_at=told_at, now=now)
    assert n.deadline == DEADLINE
    assert n.status == status


@pytest.mark.parametrize(
    "fields",
    [
        {"customer_facing": False},
        {"planned_start": None, "planned_end": None},
    ],
    ids=["not-customer-facing", "unscheduled"],
)
def test_no_notice_owed(fields: dict[str, Any]) -> None:
    assert owed(change(**fields)) == []


def test_engineering_is_never_owed_a_notice() -> None:
    days = {Audience.ENGINEERING: 5, Audience.ALL_USERS: 2}
    assert [n.audience for n in owed(change(), notice_days=days)] == [Audience.ALL_USERS]
    # Engineering is routed every change, and still owed nothing.
    assert owed(change(audiences=()), notice_days={Audience.ENGINEERING: 5}) == []
    assert owed(change(audiences=(Audience.ENGINEERING,)), notice_days=days) == []
