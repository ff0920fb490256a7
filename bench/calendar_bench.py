"""How long the published change calendar takes to build from stored changes.

Builds N synthetic stored changes (JSON, as `Store.iter_changes` yields them; a third hold an
approved window), then times what `reports.calendar.calendar_ics` does per request besides the
database read: parse every change and build the VCALENDAR text with a policy of one one-off, one
weekly freeze in Europe/Berlin and one maintenance window. Prints JSON figures.

    .venv/bin/python bench/calendar_bench.py --count 20000
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

from connector.core.calendar_feed import Period, build_calendar
from connector.core.model import Change, Source, Status, SystemKind
from connector.core.policy.config import Freeze, MaintenanceWindow, PolicySettings

STATUSES = (Status.APPROVED, Status.AWAITING_APPROVAL, Status.CLOSED)


def stored(count: int) -> list[str]:
    base = datetime(2026, 12, 1, tzinfo=UTC)
    source = Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD)
    out = []
    for i in range(count):
        start = base + timedelta(hours=7 * i % 8000)
        change = Change(
            source=source,
            key=f"OPS-{i}",
            native_id=str(i),
            url=f"https://acme.example/browse/OPS-{i}",
            title=f"Change number {i}, with a title of a usual length; and more words",
            status=STATUSES[i % 3],
            affected_systems=(f"system-{i % 40}",),
            planned_start=start,
            planned_end=start + timedelta(hours=2),
            created=base,
            updated=base,
        )
        out.append(change.to_json())
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    policy = PolicySettings(
        time_zone="Europe/Berlin",
        freezes=(
            Freeze(name="Year-end", start=datetime(2026, 12, 18), end=datetime(2027, 1, 4)),
            Freeze(
                name="Weekend",
                start=datetime(2026, 1, 2, 18),
                end=datetime(2026, 1, 5, 6),
                recurrence="weekly",
            ),
        ),
        maintenance_windows=(
            MaintenanceWindow(systems=("system-1",), days=("sat",), start="22:00", end="04:00"),
        ),
    )
    rows = stored(args.count)
    period = Period(since=datetime(2026, 11, 1, tzinfo=UTC), until=datetime(2028, 1, 1, tzinfo=UTC))
    started = time.perf_counter()
    changes = [Change.from_json(row) for row in rows]
    parsed = time.perf_counter()
    text = build_calendar(changes, policy, period=period, stamp=datetime.now(UTC))
    built = time.perf_counter()
    print(
        json.dumps(
            {
                "changes": args.count,
                "events": text.count("BEGIN:VEVENT"),
                "bytes": len(text.encode()),
                "parse_s": round(parsed - started, 3),
                "build_s": round(built - parsed, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
