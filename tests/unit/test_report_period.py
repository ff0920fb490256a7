"""A report's period is dates in the configured zone, applied as [since 00:00, until 24:00) and
printed as given; every time a person reads says its zone; the population's skips group by
reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from test_report_html import make_row

from connector.core.policy.config import zone_info
from connector.reports.answers import Answers
from connector.reports.context import count_skips, stamp
from connector.reports.model import ROW_FIELDS
from connector.reports.render import render
from connector.reports.summary import day_span, summarize

BERLIN = "Europe/Berlin"


def berlin_year() -> tuple[datetime, datetime]:
    span = day_span(date(2026, 1, 1), date(2026, 12, 31), zone_info(BERLIN))
    assert span is not None
    return span


def test_a_period_is_its_days_in_the_zone_and_printed_as_given() -> None:
    since, until = berlin_year()
    assert since == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert until == datetime(2026, 12, 31, 23, tzinfo=UTC)
    summary = summarize([], since=since, until=until, generated_at=until, time_zone=BERLIN)
    assert (summary.first_day, summary.last_day) == (date(2026, 1, 1), date(2026, 12, 31))
    md = render("md", [], summary)
    assert md.startswith("# Change report 2026-01-01 to 2026-12-31 (Europe/Berlin)")
    assert "2025-12-31" not in md
    html = render("html", [], summary)
    assert "2026-01-01 to 2026-12-31" in html and "2025-12-31" not in html


def test_the_period_ends_at_midnight_after_its_last_day() -> None:
    _, until = berlin_year()
    row = make_row(created=until - timedelta(minutes=1))
    values = list(row)
    taken = Answers(values, (), until)
    assert taken.left_out(until=until, types=set()) is None
    values[ROW_FIELDS.index("created")] = until
    assert taken.left_out(until=until, types=set()) == "created after the period"
    assert taken.left_out(until=until + timedelta(days=1), types={"major"}) == (
        "other types (--type)"
    )


def test_times_people_read_say_their_zone() -> None:
    at = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    assert stamp(at, BERLIN) == "2026-07-01 10:30 CEST (+02:00)"
    assert stamp(at, "UTC") == "2026-07-01 08:30 UTC (+00:00)"
    assert stamp(None, BERLIN) == ""
    since, until = berlin_year()
    summary = summarize([make_row()], since=since, until=until, generated_at=at, time_zone=BERLIN)
    assert "Generated 2026-07-01 10:30 CEST (+02:00)" in render("md", [make_row()], summary)


def test_weeks_start_on_the_zones_monday() -> None:
    since, until = berlin_year()
    # Sunday 23:30 UTC is Monday 00:30 in Berlin (winter): the Monday's week.
    sunday_night = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    summary = summarize(
        [make_row(created=sunday_night)],
        since=since,
        until=until,
        generated_at=until,
        time_zone=BERLIN,
    )
    assert list(summary.weekly) == ["2026-11-02"]


def test_skips_count_tickets_per_reason_once() -> None:
    lines = [
        "CHG-1: fields.risk (customfield_1): not one of low, high",
        "CHG-1: fields.risk (customfield_1): not one of low, high",
        "CHG-2: fields.risk (customfield_1): not one of low, high",
        "CHG-3: status (status): unknown status 'Limbo'",
    ]
    assert count_skips(lines) == {
        "fields.risk (customfield_1): not one of low, high": 2,
        "status (status): unknown status 'Limbo'": 1,
    }
