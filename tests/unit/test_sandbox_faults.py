"""Fault specs: parsed strictly, fire on the Nth / every Nth call or at a seeded rate."""

from __future__ import annotations

import pytest

from connector.core.errors import ConfigError
from connector.sandbox.faults import parse_faults


def fired(spec: str, scope: str, calls: int, seed: int = 0) -> list[int]:
    faults = parse_faults(spec, random_seed=seed)
    return [i for i in range(1, calls + 1) if faults.pick(scope) is not None]


def test_nth_every_and_scope() -> None:
    assert fired("503@jira:nth=3", "jira", 10) == [3]
    assert fired("503@jira:nth=3", "servicenow", 10) == []
    assert fired("500:every=4", "servicenow", 12) == [4, 8, 12]
    assert fired("429:every=2,count=2", "jira", 10) == [2, 4]


def test_rate_is_seeded_and_repeatable() -> None:
    first = fired("429:rate=0.3", "jira", 200, seed=7)
    assert first == fired("429:rate=0.3", "jira", 200, seed=7)
    assert 30 < len(first) < 90


def test_rule_options() -> None:
    rule = parse_faults("429:nth=1,retry_after=2.5").rules[0]
    assert (rule.kind, rule.retry_after) == ("429", 2.5)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("418:nth=1", "unknown fault '418'"),
        ("429@github:nth=1", "unknown scope 'github'"),
        ("429:rate=2", "rate=2 is out of range"),
        ("429:nth=x", "nth must be a number"),
        ("429:colour=1", "unknown option 'colour'"),
        ("503", "say when it fires"),
    ],
)
def test_bad_specs_fail_with_one_line(spec: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_faults(spec)
    assert problem in str(err.value) and "\n" not in str(err.value)
