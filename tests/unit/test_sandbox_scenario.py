"""The sandbox scenario at scale: a larger site spreads over a longer calendar, so a change
overlaps about as many others at 30,000 changes as at 10,000 (benchmarks of scale measure the
product, not a calendar crowded ever more densely); up to 10,000 changes nothing moves."""

from __future__ import annotations

from collections import Counter
from datetime import date

from connector.sandbox.scenario import SAME_CALENDAR_UP_TO, generate


def _per_day(count: int) -> Counter[date]:
    return Counter(
        c.planned_start.date() for c in generate(count, random_seed=1) if c.planned_start
    )


def test_a_larger_site_keeps_the_density_of_windows() -> None:
    small, large = _per_day(SAME_CALENDAR_UP_TO), _per_day(3 * SAME_CALENDAR_UP_TO)
    assert len(large) > 2.5 * len(small)  # three times the days
    density = sum(large.values()) / len(large) / (sum(small.values()) / len(small))
    assert 0.8 < density < 1.25
    assert max(large.values()) < 1.5 * max(small.values())


def test_up_to_the_same_calendar_size_a_scenario_is_a_prefix_of_a_larger_one() -> None:
    first = generate(500, random_seed=3)
    assert generate(SAME_CALENDAR_UP_TO, random_seed=3)[:500] == first
    spread = generate(SAME_CALENDAR_UP_TO + 1, random_seed=3)[:500]
    assert [c.index for c in spread] == [c.index for c in first]
    assert [c.planned_start for c in spread] != [c.planned_start for c in first]
