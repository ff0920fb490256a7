"""The cursor: look-back window, forward-only advance capped at the cycle start, JQL literals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.cursor import Cursor, jql_since, servicenow_since

T0 = datetime(2026, 11, 21, 10, 0, 30, tzinfo=UTC)


def test_empty_cursor_has_no_window() -> None:
    assert Cursor().window_start(timedelta(minutes=5)) is None


def test_window_looks_back() -> None:
    cursor = Cursor(high_water=T0)
    assert cursor.window_start(timedelta(minutes=5)) == T0 - timedelta(minutes=5)


def test_advance_is_forward_only_and_capped_at_cycle_start() -> None:
    cursor = Cursor(high_water=T0)
    assert cursor.advanced(seen=T0 - timedelta(hours=1), cycle_start=T0 + timedelta(hours=1)) == cursor
    later = T0 + timedelta(minutes=3)
    assert cursor.advanced(seen=later, cycle_start=T0 + timedelta(hours=1)).high_water == later
    capped = cursor.advanced(seen=T0 + timedelta(days=1), cycle_start=T0 + timedelta(minutes=1))
    assert capped.high_water == T0 + timedelta(minutes=1)
    assert cursor.advanced(seen=None, cycle_start=T0) == cursor


def test_round_trip() -> None:
    cursor = Cursor(high_water=T0)
    assert Cursor.loads(cursor.dumps()) == cursor
    assert Cursor.loads(None) == Cursor()


def test_jql_literal_is_minute_floor_in_user_zone() -> None:
    # 10:00:30 UTC is 02:00:30 in Los Angeles in November (UTC-8).
    assert jql_since(T0, "America/Los_Angeles") == 'updated >= "2026-11-21 02:00"'
    assert jql_since(T0, "UTC") == 'updated >= "2026-11-21 10:00"'


def test_servicenow_literal_is_utc_seconds() -> None:
    local = T0.astimezone(UTC).replace(tzinfo=UTC)
    assert servicenow_since(local) == "sys_updated_on>=2026-11-21 10:00:30"
