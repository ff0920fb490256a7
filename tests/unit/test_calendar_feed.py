"""The change calendar's iCalendar text, read back with the `icalendar` library as calendar apps
read it: approved windows only, freezes (one-off, RRULE, expanded) and maintenance windows at the
instants the policy means, filters, escaping, folding and CRLF."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from dateutil.rrule import rrulestr

from connector.core.calendar_feed import Period, build_calendar, change_uid, freeze_uid
from connector.core.model import Change, Source, Status, SystemKind
from connector.core.policy.calendar import fits_maintenance, occurrences
from connector.core.policy.config import Freeze, MaintenanceWindow, PolicySettings

BERLIN = ZoneInfo("Europe/Berlin")
STAMP = datetime(2026, 12, 6, 12, tzinfo=UTC)
PERIOD = Period(since=datetime(2026, 11, 1, tzinfo=UTC), until=datetime(2027, 6, 1, tzinfo=UTC))

YEAR_END = Freeze(
    name="Year-end", start=datetime(2026, 12, 18, tzinfo=UTC), end=datetime(2027, 1, 4, tzinfo=UTC)
)
WEEKEND = Freeze(
    name="Weekend; payments, ledger",
    start=datetime(2026, 1, 2, 18),  # a Friday, wall-clock time in Berlin
    end=datetime(2026, 1, 5, 6),
    recurrence="weekly",
    systems=("payments",),
)
MONTH_END = Freeze(
    name="Month end",
    start=datetime(2026, 1, 30, 18),
    end=datetime(2026, 1, 31, 6),
    recurrence="monthly",
)
QUARTER = Freeze(
    name="Mid-month",
    start=datetime(2026, 1, 14, 8),
    end=datetime(2026, 1, 15, 8),
    recurrence="monthly",
)
NIGHTS = MaintenanceWindow(systems=("ledger",), days=("sat", "sun"), start=time(22), end=time(4))
POLICY = PolicySettings(
    time_zone="Europe/Berlin",
    freezes=(YEAR_END, WEEKEND, MONTH_END, QUARTER),
    maintenance_windows=(NIGHTS,),
)


def change(key: str, **fields: Any) -> Change:
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": key,
        "native_id": key,
        "url": f"https://acme.example/browse/{key}",
        "title": f"Upgrade {key}",
        "status": Status.APPROVED,
        "planned_start": datetime(2026, 12, 10, 22, tzinfo=UTC),
        "planned_end": datetime(2026, 12, 11, 1, tzinfo=UTC),
        "affected_systems": ("ledger",),
        "created": datetime(2026, 11, 1, tzinfo=UTC),
        "updated": datetime(2026, 11, 2, tzinfo=UTC),
    }
    return Change(**(base | fields))


def parse(text: str) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(text)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def build(changes: list[Change], period: Period = PERIOD, policy: PolicySettings = POLICY) -> str:
    return build_calendar(changes, policy, period=period, stamp=STAMP)


def test_approved_windows_are_events_and_others_are_not() -> None:
    changes = [
        change("OPS-1"),
        change("OPS-2", status=Status.SCHEDULED, affected_systems=("payments", "ledger")),
        change("OPS-3", status=Status.IMPLEMENTING),
        change("OPS-4", status=Status.AWAITING_APPROVAL),
        change("OPS-5", status=Status.CLOSED),
        change("OPS-6", planned_start=None, planned_end=None),
        change(
            "OPS-7",
            planned_start=datetime(2028, 1, 1, tzinfo=UTC),
            planned_end=datetime(2028, 1, 2, tzinfo=UTC),
        ),
    ]
    events = parse(build(changes))
    published = {uid for uid in events if uid.startswith("change-")}
    assert published == {change_uid(c) for c in changes[:3]}
    event = events[change_uid(changes[1])]
    assert event.decoded("DTSTART") == datetime(2026, 12, 10, 22, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 12, 11, 1, tzinfo=UTC)
    assert "DTSTART:20261210T220000Z" in event.to_ical().decode()
    assert str(event["SUMMARY"]) == "OPS-2 Upgrade OPS-2"
    assert str(event["URL"]) == "https://acme.example/browse/OPS-2"
    assert list(event["CATEGORIES"].cats) == [
        "Change",
        "minor",
        "acme-jira",
        "payments",
        "ledger",
    ]


def test_uids_are_stable_per_change_and_source() -> None:
    one = change("OPS-1")
    edited = change("OPS-1", title="Another title", updated=datetime(2026, 12, 1, tzinfo=UTC))
    other_source = change("OPS-1", source=Source(instance="b", kind=SystemKind.JIRA_CLOUD))
    assert change_uid(one) == change_uid(edited) != change_uid(other_source)
    assert build([one]) == build([one])  # the same store gives the same text


def test_source_and_system_filters() -> None:
    other = change("CHG1", source=Source(instance="snow", kind=SystemKind.SERVICENOW))
    pay = change("OPS-9", affected_systems=("payments",))
    by_source = parse(
        build([change("OPS-1"), other], Period(**{**PERIOD.__dict__, "source": "snow"}))
    )
    assert {u for u in by_source if u.startswith("change-")} == {change_uid(other)}
    by_system = parse(
        build([change("OPS-1"), pay], Period(**{**PERIOD.__dict__, "system": "payments"}))
    )
    assert {u for u in by_system if u.startswith("change-")} == {change_uid(pay)}
    # Freezes on every system and on payments stay, the ledger's maintenance window goes.
    assert freeze_uid(WEEKEND) in by_system and freeze_uid(YEAR_END) in by_system
    assert not any(u.startswith("maintenance-") for u in by_system)
    by_ledger = parse(build([], Period(**{**PERIOD.__dict__, "system": "ledger"})))
    assert freeze_uid(WEEKEND) not in by_ledger
    assert any(u.startswith("maintenance-") for u in by_ledger)


def test_text_is_escaped_folded_and_crlf() -> None:
    title = 'Rotate keys, then; restart \\ "ü-€" ' * 6 + "\nsecond line"
    text = build([change("OPS-1", title=title)])
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")[:-1]
    assert all(len(line.encode()) <= 75 for line in lines)
    assert any(line.startswith(" ") for line in lines)  # the long SUMMARY was folded
    event = parse(text)[change_uid(change("OPS-1"))]
    assert str(event["SUMMARY"]) == f"OPS-1 {title}"


def test_one_off_freeze_is_one_utc_event() -> None:
    event = parse(build([]))[freeze_uid(YEAR_END)]
    assert event.decoded("DTSTART") == YEAR_END.start
    assert event.decoded("DTEND") == YEAR_END.end
    assert str(event["SUMMARY"]) == "Freeze: Year-end"
    assert "RRULE" not in event


def _expand(event: icalendar.Event, until: datetime) -> list[tuple[datetime, datetime]]:
    start: datetime = event.decoded("DTSTART")
    length: timedelta = event.decoded("DURATION")
    rule = rrulestr(event["RRULE"].to_ical().decode(), dtstart=start)
    return [(s, s + length) for s in rule.between(start, until, inc=True)]


def test_weekly_freeze_is_an_rrule_in_its_zone_across_daylight_saving() -> None:
    event = parse(build([]))[freeze_uid(WEEKEND)]
    assert str(event["RRULE"].to_ical().decode()) == "FREQ=WEEKLY"
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    until = datetime(2027, 12, 31, tzinfo=UTC)
    got = [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in _expand(event, until)]
    want = [
        (s.astimezone(UTC), e.astimezone(UTC)) for s, e in occurrences(WEEKEND, BERLIN, until=until)
    ]
    assert got == want and len(got) > 100
    summer = [s for s, _ in got if s.month == 7]
    assert summer and all(s.hour == 16 for s in summer)  # 18:00 CEST


def test_vtimezone_agrees_with_the_zone_database() -> None:
    calendar = icalendar.Calendar.from_ical(build([]))
    [vtimezone] = calendar.walk("VTIMEZONE")
    tz = vtimezone.to_tz(lookup_tzid=False)  # from our observances, not the zone database
    for day in (
        datetime(2026, 3, 29, 0, 30),
        datetime(2026, 3, 29, 3),
        datetime(2026, 7, 1),
        datetime(2031, 10, 26, 4),
    ):
        assert day.replace(tzinfo=tz).utcoffset() == day.replace(tzinfo=BERLIN).utcoffset(), day


def test_monthly_freeze_rrule_or_expanded_where_an_rrule_cannot_say_it() -> None:
    events = parse(build([]))
    mid = events[freeze_uid(QUARTER)]
    assert mid["RRULE"].to_ical().decode() == "FREQ=MONTHLY"
    until = datetime(2027, 12, 31, tzinfo=UTC)
    assert [s for s, _ in _expand(mid, until)] == [
        s for s, _ in occurrences(QUARTER, BERLIN, until=until)
    ]
    # On the 30th: cron-like RRULEs skip February; the policy clamps, so each is an event.
    expanded = sorted(
        e.decoded("DTSTART")
        for u, e in events.items()
        if u.startswith(freeze_uid(MONTH_END).split("@")[0] + "-")
    )
    want = [
        s
        for s, e in occurrences(MONTH_END, BERLIN, until=PERIOD.until, since=PERIOD.since)
        if s < PERIOD.until and PERIOD.since < e
    ]
    assert expanded == want and any(s.month == 2 and s.day == 28 for s in expanded)


def test_maintenance_window_is_a_weekly_rrule_the_policy_agrees_with() -> None:
    [event] = [e for u, e in parse(build([])).items() if u.startswith("maintenance-")]
    assert event["RRULE"].to_ical().decode() == "FREQ=WEEKLY;BYDAY=SA,SU"
    for start, end in _expand(event, datetime(2027, 5, 1, tzinfo=UTC)):
        assert fits_maintenance(NIGHTS, BERLIN, start=start, end=end)
        assert start.astimezone(BERLIN).weekday() in (5, 6) and start.hour == 22
    assert list(event["CATEGORIES"].cats) == ["Maintenance window", "ledger"]


@pytest.mark.parametrize("status", [Status.REJECTED, Status.CANCELLED, Status.DRAFT])
def test_changes_without_an_approval_never_appear(status: Status) -> None:
    assert "BEGIN:VEVENT\r\nUID:change-" not in build([change("OPS-1", status=status)])


def test_a_maintenance_window_keeps_its_uid_wherever_it_is_listed() -> None:
    other = MaintenanceWindow(systems=("web",), days=("mon",), start=time(1), end=time(2))
    twice = POLICY.model_copy(update={"maintenance_windows": (NIGHTS, other, NIGHTS)})
    reordered = POLICY.model_copy(update={"maintenance_windows": (other, NIGHTS)})
    uids = [u for u in parse(build([], policy=twice)) if u.startswith("maintenance-")]
    assert len(uids) == 2
    assert sorted(uids) == sorted(
        u for u in parse(build([], policy=reordered)) if u.startswith("maintenance-")
    )


def test_calendar_period_defaults_and_checks() -> None:
    from connector.core.user_input import BadInput
    from connector.reports.calendar import calendar_period
    from connector.settings import Settings

    settings = Settings(policy=POLICY)
    now = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # 7 December in Berlin
    period = calendar_period(settings, now=now)
    assert period.since == datetime(2026, 11, 7, tzinfo=BERLIN)
    assert period.until == datetime(2027, 12, 8, tzinfo=BERLIN)
    given = calendar_period(settings, now=now, first="2027-01-01", last="2027-01-31")
    assert (given.since, given.until) == (
        datetime(2027, 1, 1, tzinfo=BERLIN),
        datetime(2027, 2, 1, tzinfo=BERLIN),
    )
    with pytest.raises(BadInput, match="--until: 2026-12-01 is before --from 2027-01-01"):
        calendar_period(settings, now=now, first="2027-01-01", last="2026-12-01")
    with pytest.raises(BadInput, match="source: no source named 'x' \\(known: none configured\\)"):
        calendar_period(settings, now=now, source="x", names=("from", "until", "source", "system"))


def test_the_entity_tag_ignores_the_moment_of_the_build() -> None:
    from connector.reports.calendar import calendar_etag

    one = build_calendar([change("OPS-1")], POLICY, period=PERIOD, stamp=STAMP)
    later = build_calendar(
        [change("OPS-1")], POLICY, period=PERIOD, stamp=STAMP + timedelta(hours=1)
    )
    assert one != later and calendar_etag(one) == calendar_etag(later)
    moved = change("OPS-1", planned_end=datetime(2026, 12, 11, 2, tzinfo=UTC))
    other = build_calendar([moved], POLICY, period=PERIOD, stamp=STAMP)
    assert calendar_etag(other) != calendar_etag(one)
