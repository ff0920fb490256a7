"""The window index hands a change exactly the windows that overlap its own on its systems:
the same set a scan of every window finds, for windows of any length and any order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.core.model import Change, Source, Status, SystemKind
from connector.core.policy import Window
from connector.core.windows import WindowIndex

BASE = datetime(2026, 12, 1, tzinfo=UTC)
SYSTEMS = ("ledger", "mail", "web")


def change(**fields: Any) -> Change:
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-0",
        "native_id": "0",
        "status": Status.APPROVED,
        "created": BASE,
        "updated": BASE,
    }
    return Change(**(base | fields))


def scan(windows: list[Window], c: Change) -> set[Window]:
    start, end = c.planned_start, c.planned_end
    assert start is not None and end is not None
    return {
        w for w in windows if w.system in c.affected_systems and w.start < end and start < w.end
    }


def test_overlapping_is_what_a_full_scan_finds() -> None:
    rng = random.Random(7)
    windows = []
    for i in range(400):
        start = BASE + timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
        hours = rng.choice((1, 2, 4, 72, 24 * 10))  # a few long windows among short ones
        windows.append(
            Window(
                key=f"CHG-{i}",
                system=rng.choice(SYSTEMS),
                start=start,
                end=start + timedelta(hours=hours),
                approved=rng.random() < 0.5,
            )
        )
    index = WindowIndex(windows)
    hits = 0
    for _ in range(300):
        start = BASE + timedelta(minutes=rng.randrange(-600, 60 * 24 * 31))
        c = change(
            planned_start=start,
            planned_end=start + timedelta(minutes=rng.randrange(1, 600)),
            affected_systems=tuple(rng.sample(SYSTEMS, rng.randint(1, 2))),
        )
        found = index.overlapping(c)
        assert len(found) == len(set(found))
        assert set(found) == scan(windows, c)
        hits += len(found)
    assert hits > 0


def test_touching_windows_do_not_overlap_and_no_window_finds_none() -> None:
    w = Window(key="A", system="ledger", start=BASE, end=BASE + timedelta(hours=1), approved=True)
    index = WindowIndex([w])
    after = change(
        planned_start=BASE + timedelta(hours=1),
        planned_end=BASE + timedelta(hours=2),
        affected_systems=("ledger",),
    )
    inside = after.model_copy(update={"planned_start": BASE + timedelta(minutes=59)})
    assert index.overlapping(after) == []
    assert index.overlapping(inside) == [w]
    assert index.overlapping(change(affected_systems=("ledger",))) == []
    assert WindowIndex([]).overlapping(inside) == []
