"""Calendar arithmetic: freeze occurrences (one-off and recurring, in wall-clock time across
daylight saving changes and short months) and maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.core.policy.calendar import fits_maintenance, freeze_overlap, occurrences
from connector.core.policy.config import Freeze, MaintenanceWindow, Weekday

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)


def freeze(start: datetime, end: datetime, **fields: Any) -> Freeze:
    return Freeze(name="F", start=start, end=end, **fields)


def hit(f: Freeze, start: datetime, hours: float = 1) -> tuple[datetime, datetime] | None:
    return freeze_overlap(f, BERLIN, start=start, end=start + timedelta(hours=hours))


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


# -- one-off freezes ---------------------------------------------------------------------------

YEAR_END = freeze(datetime(2026, 12, 18), datetime(2027, 1, 4))


def test_a_naive_freeze_is_wall_clock_time_in_the_zone() -> None:
    [(start, end)] = list(occurrences(YEAR_END, BERLIN, until=berlin(2030, 1, 1)))
    assert start == berlin(2026, 12, 18) and end == berlin(2027, 1, 4)
    assert start.astimezone(UTC) == datetime(2026, 12, 17, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "hours", "inside"),
    [
        (berlin(2026, 12, 20, 10), 2, True),
        (berlin(2026, 12, 17, 23), 2, True),  # runs into it
        (berlin(2027, 1, 3, 23), 2, True),  # runs out of it
        (berlin(2026, 12, 1), 24 * 60, True),  # around it
        (berlin(2026, 12, 17, 22), 2, False),  # ends as it starts
        (berlin(2027, 1, 4), 2, False),  # starts as it ends
        (berlin(2026, 11, 1), 2, False),
        (berlin(2027, 2, 1), 2, False),
    ],
)
def test_one_off_freeze(start: datetime, hours: float, inside: bool) -> None:
    found = hit(YEAR_END, start, hours)
    assert found == ((berlin(2026, 12, 18), berlin(2027, 1, 4)) if inside else None)


def test_an_aware_freeze_keeps_its_own_offset() -> None:
    utc_freeze = freeze(datetime(2026, 12, 18, tzinfo=UTC), datetime(2026, 12, 19, tzinfo=UTC))
    # 00:30 in Berlin on the 18th is 23:30 UTC on the 17th: before the freeze.
    assert hit(utc_freeze, berlin(2026, 12, 18, 0, 30), 0.5) is None
    assert hit(utc_freeze, berlin(2026, 12, 18, 1, 30), 0.5) is not None


# -- weekly ------------------------------------------------------------------------------------

# Friday 18:00 to Monday 06:00, Berlin wall-clock time; declared the week before summer time.
WEEKEND = freeze(datetime(2026, 3, 20, 18), datetime(2026, 3, 23, 6), recurrence="weekly")


def test_weekly_occurrences_keep_the_local_hour_across_daylight_saving() -> None:
    firsts = list(occurrences(WEEKEND, BERLIN, until=berlin(2026, 4, 4)))
    assert [s for s, _ in firsts] == [
        berlin(2026, 3, 20, 18),
        berlin(2026, 3, 27, 18),
        berlin(2026, 4, 3, 18),
    ]
    # Winter time (UTC+1) before 29 March, summer time (UTC+2) after.
    assert [s.astimezone(UTC).hour for s, _ in firsts] == [17, 17, 16]
    # The weekend of the change itself: Friday in winter time, Monday in summer time.
    start, end = firsts[1]
    assert end == berlin(2026, 3, 30, 6)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=2, hours=11)


def test_weekly_freeze_after_spring_forward_starts_at_18_local() -> None:
    # 16:30 UTC on Friday 3 April is 18:30 summer time: inside (it was 17:30 in winter time).
    assert hit(WEEKEND, datetime(2026, 4, 3, 16, 30, tzinfo=UTC), 0.5) == (
        berlin(2026, 4, 3, 18),
        berlin(2026, 4, 6, 6),
    )
    assert hit(WEEKEND, datetime(2026, 4, 3, 15, 30, tzinfo=UTC), 0.5) is None  # 17:30 local


def test_weekly_freeze_after_fall_back_starts_at_18_local() -> None:
    # After 25 October Berlin is UTC+1 again: 18:00 local is 17:00 UTC.
    assert hit(WEEKEND, datetime(2026, 10, 30, 16, 30, tzinfo=UTC), 0.5) is None
    found = hit(WEEKEND, datetime(2026, 10, 30, 17, 0, tzinfo=UTC), 0.5)
    assert found is not None and found[0].astimezone(UTC) == datetime(2026, 10, 30, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "inside"),
    [
        (berlin(2026, 6, 13, 12), True),  # Saturday
        (berlin(2026, 6, 15, 5), True),  # Monday before 06:00
        (berlin(2026, 6, 15, 6), False),  # Monday 06:00: over
        (berlin(2026, 6, 17, 12), False),  # Wednesday
        (berlin(2026, 6, 12, 17), False),  # Friday 17:00-18:00 touches it
        (berlin(2026, 3, 13, 20), False),  # the Friday before the first occurrence
    ],
)
def test_weekly_freeze_on_the_days_it_covers(start: datetime, inside: bool) -> None:
    assert (hit(WEEKEND, start) is not None) is inside


def test_a_weekly_freeze_declared_long_ago_still_applies() -> None:
    old = freeze(datetime(2010, 1, 1, 18), datetime(2010, 1, 4, 6), recurrence="weekly")
    assert old.start.weekday() == 4  # a Friday
    found = hit(old, berlin(2026, 11, 21, 12))  # a Saturday, 16 years (800+ weeks) later
    assert found == (berlin(2026, 11, 20, 18), berlin(2026, 11, 23, 6))
    assert hit(old, berlin(2026, 11, 18, 12)) is None  # a Wednesday


# -- monthly and yearly ------------------------------------------------------------------------

# The last day of the month, all day: the 31st where the month has one, else its last day.
MONTH_END = freeze(datetime(2026, 1, 31), datetime(2026, 2, 1), recurrence="monthly")


@pytest.mark.parametrize(
    ("day", "occurrence"),
    [
        (berlin(2026, 1, 31, 12), (berlin(2026, 1, 31), berlin(2026, 2, 1))),
        (berlin(2026, 2, 28, 12), (berlin(2026, 2, 28), berlin(2026, 3, 1))),
        (berlin(2026, 3, 31, 12), (berlin(2026, 3, 31), berlin(2026, 4, 1))),  # back to the 31st
        (berlin(2026, 4, 30, 12), (berlin(2026, 4, 30), berlin(2026, 5, 1))),
        (berlin(2028, 2, 29, 12), (berlin(2028, 2, 29), berlin(2028, 3, 1))),  # leap year
        (berlin(2026, 3, 28, 12), None),
        (berlin(2026, 3, 30, 12), None),
        (berlin(2026, 5, 1, 12), None),
    ],
)
def test_monthly_freeze_on_the_31st(
    day: datetime, occurrence: tuple[datetime, datetime] | None
) -> None:
    assert hit(MONTH_END, day) == occurrence


def test_a_monthly_freeze_across_the_month_end_keeps_its_length_in_short_months() -> None:
    # 30th 12:00 to 31st 06:00: in February both ends would clamp to the 28th.
    f = freeze(datetime(2026, 1, 30, 12), datetime(2026, 1, 31, 6), recurrence="monthly")
    assert hit(f, berlin(2026, 2, 28, 20)) == (berlin(2026, 2, 28, 12), berlin(2026, 3, 1, 6))
    assert hit(f, berlin(2026, 4, 30, 20)) == (berlin(2026, 4, 30, 12), berlin(2026, 5, 1, 6))
    assert hit(f, berlin(2026, 3, 30, 20)) == (berlin(2026, 3, 30, 12), berlin(2026, 3, 31, 6))


def test_yearly_freeze() -> None:
    xmas = freeze(datetime(2025, 12, 24), datetime(2025, 12, 27), recurrence="yearly")
    assert hit(xmas, berlin(2031, 12, 25, 10)) == (berlin(2031, 12, 24), berlin(2031, 12, 27))
    assert hit(xmas, berlin(2031, 12, 23, 10)) is None
    assert hit(xmas, berlin(2025, 6, 1)) is None
    leap = freeze(datetime(2028, 2, 29), datetime(2028, 3, 1), recurrence="yearly")
    assert hit(leap, berlin(2029, 2, 28, 10)) == (berlin(2029, 2, 28), berlin(2029, 3, 1))
    assert hit(leap, berlin(2032, 2, 29, 10)) == (berlin(2032, 2, 29), berlin(2032, 3, 1))


def test_no_occurrence_before_the_first() -> None:
    assert hit(MONTH_END, berlin(2025, 12, 31, 12)) is None
    assert list(occurrences(MONTH_END, BERLIN, until=berlin(2026, 1, 31))) == []


# -- maintenance windows -----------------------------------------------------------------------

OFFICE = MaintenanceWindow(
    systems=("crm",),
    days=(Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI),
    start=time(9),
    end=time(17),
)
NIGHT = MaintenanceWindow(systems=("db",), days=(Weekday.SAT,), start=time(22), end=time(4))


def fits(w: MaintenanceWindow, start: datetime, hours: float) -> bool:
    return fits_maintenance(w, BERLIN, start=start, end=start + timedelta(hours=hours))


@pytest.mark.parametrize(
    ("start", "hours", "inside"),
    [
        (berlin(2026, 11, 16, 9), 8, True),  # Monday, exactly the window
        (berlin(2026, 11, 16, 10), 1, True),
        (berlin(2026, 11, 16, 8), 2, False),  # opens too late
        (berlin(2026, 11, 16, 16), 2, False),  # closes too early
        (berlin(2026, 11, 21, 10), 1, False),  # Saturday
        (berlin(2026, 11, 16, 10), 25, False),  # into Tuesday
        (datetime(2026, 11, 16, 8, 0, tzinfo=UTC), 1, True),  # 09:00 in Berlin
    ],
)
def test_office_hours(start: datetime, hours: float, inside: bool) -> None:
    assert fits(OFFICE, start, hours) is inside


@pytest.mark.parametrize(
    ("start", "hours", "inside"),
    [
        (berlin(2026, 11, 21, 22), 6, True),  # Saturday 22:00 to Sunday 04:00
        (berlin(2026, 11, 21, 23), 2, True),  # across midnight
        (berlin(2026, 11, 22, 2), 1, True),  # Sunday 02:00: Saturday's window
        (berlin(2026, 11, 22, 3), 2, False),  # past 04:00
        (berlin(2026, 11, 21, 21), 2, False),
        (berlin(2026, 11, 20, 23), 1, False),  # Friday night
        (berlin(2026, 11, 21, 2), 1, False),  # Saturday 02:00 belongs to Friday's night
        (berlin(2026, 11, 22, 22), 1, False),  # Sunday night
        # The night summer time starts (28/29 March 2026): 03:30 summer time is 01:30 UTC.
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), 0.5, True),
    ],
)
def test_a_window_past_midnight(start: datetime, hours: float, inside: bool) -> None:
    assert fits(NIGHT, start, hours) is inside


def test_a_window_from_midnight_to_midnight_is_the_whole_day() -> None:
    day = MaintenanceWindow(systems=("x",), days=(Weekday.SUN,), start=time(0), end=time(0))
    assert fits(day, berlin(2026, 11, 22, 0), 24)
    assert not fits(day, berlin(2026, 11, 21, 23), 2)


def test_maintenance_window_in_its_own_zone() -> None:
    # 09:00-17:00 in New York is 15:00-23:00 in Berlin in November.
    ny = OFFICE.model_copy(update={"time_zone": "America/New_York"})
    assert fits_maintenance(
        ny,
        ZoneInfo("America/New_York"),
        start=berlin(2026, 11, 16, 16),
        end=berlin(2026, 11, 16, 22),
    )
    assert not fits_maintenance(
        ny,
        ZoneInfo("America/New_York"),
        start=berlin(2026, 11, 16, 10),
        end=berlin(2026, 11, 16, 11),
    )


def test_days_cover_the_whole_week_by_default() -> None:
    always = MaintenanceWindow(systems=("x",), start=time(1), end=time(2))
    assert all(fits(always, berlin(2026, 11, 16 + d, 1), 1) for d in range(7))
    assert [d.number for d in Weekday] == list(range(7))
    assert berlin(2026, 11, 16).weekday() == Weekday.MON.number


def test_a_monthly_freeze_decades_on_still_applies() -> None:
    # 720 months after its first occurrence: no cap on how far the recurrence reaches.
    payday = freeze(datetime(2000, 1, 25), datetime(2000, 1, 26), recurrence="monthly")
    assert hit(payday, berlin(2060, 1, 25, 12)) == (berlin(2060, 1, 25), berlin(2060, 1, 26))
    assert hit(payday, berlin(2060, 1, 24, 12)) is None


@pytest.mark.parametrize("recurrence", ["weekly", "monthly", "yearly"])
def test_skipping_ahead_finds_what_walking_from_the_first_occurrence_finds(
    recurrence: str,
) -> None:
    import calendar
    import random

    rng = random.Random(recurrence)
    for _ in range(300):
        month = rng.randint(1, 12)
        day = calendar.monthrange(2024, month)[1] if rng.random() < 0.3 else rng.randint(1, 28)
        first = datetime(2024, month, day, rng.randint(0, 23))
        length = timedelta(hours=rng.choice((1, 5, 30, 80, 200, 24 * 20)))
        f = freeze(first, first + length, recurrence=recurrence)
        start = berlin(2024, 1, 1) + timedelta(hours=rng.randint(0, 24 * 365 * 5))
        end = start + timedelta(hours=rng.choice((1, 3, 12, 48)))
        walked = next(
            (
                (s, e)
                for s, e in occurrences(f, BERLIN, until=end)  # every occurrence from the first
                if s < end and start < e
            ),
            None,
        )
        assert freeze_overlap(f, BERLIN, start=start, end=end) == walked, (f, start, end)
