"""The cursor: forward only, never past the cycle start minus the look-back; JQL literals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.core.cursor import Cursor, jql_since, servicenow_since

T0 = datetime(2026, 11, 21, 10, 0, 30, tzinfo=UTC)
LOOKBACK = timedelta(minutes=5)


def test_empty_cursor_has_no_window() -> None:
    assert Cursor().window_start() is None
    assert Cursor(high_water=T0).window_start() == T0


def test_advance_is_forward_only() -> None:
    cursor = Cursor(high_water=T0)
    start = T0 + timedelta(hours=1)
    assert (
        cursor.advanced(seen=T0 - timedelta(hours=1), cycle_start=start, lookback=LOOKBACK)
        == cursor
    )
    later = T0 + timedelta(minutes=3)
    assert cursor.advanced(seen=later, cycle_start=start, lookback=LOOKBACK).high_water == later
    assert cursor.advanced(seen=None, cycle_start=start, lookback=LOOKBACK) == cursor


def test_advance_never_passes_cycle_start_minus_lookback() -> None:
    cursor = Cursor(high_water=T0)
    start = T0 + timedelta(minutes=10)
    capped = cursor.advanced(seen=T0 + timedelta(days=1), cycle_start=start, lookback=LOOKBACK)
    assert capped.high_water == start - LOOKBACK


def test_completed_scan_moves_to_cycle_start_minus_lookback() -> None:
    start = T0 + timedelta(hours=2)
    assert Cursor().completed(cycle_start=start, lookback=LOOKBACK).high_water == start - LOOKBACK
    ahead = Cursor(high_water=start)
    assert ahead.completed(cycle_start=start, lookback=LOOKBACK) == ahead


def test_round_trip() -> None:
    cursor = Cursor(high_water=T0)
    assert Cursor.loads(cursor.dumps()) == cursor
    assert Cursor.loads(None) == Cursor()


def test_jql_literal_is_minute_floor_in_user_zone() -> None:
    # 10:00:30 UTC is 02:00:30 in Los Angeles in November (UTC-8).
    assert jql_since(T0, "America/Los_Angeles") == 'updated >= "2026-11-21 02:00"'
    assert jql_since(T0, "UTC") == 'updated >= "2026-11-21 10:00"'


def test_servicenow_literal_is_utc_seconds() -> None:
    assert servicenow_since(T0) == "sys_updated_on>=2026-11-21 10:00:30"
