"""Every seeded ticket of each system, read with the real clients over HTTPS, normalizes through
the default mappings into a `Change` that carries what the source holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.commands.demo import sandbox_sources, sync_source
from connector.core.model import Change, Decision, Outcome
from connector.sandbox import Sandbox, SandboxOptions
from connector.sandbox.catalog import USERS_BY_LOGIN
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import SeedChange

COUNT = 200
RANDOM_SEED = 11


@pytest.fixture(scope="module", params=["cloud", "datacenter"])
def synced(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, tuple[list[Change], list[str]]]]]:
    mode = request.param
    options = SandboxOptions(
        data_dir=tmp_path_factory.mktemp(f"seeded-{mode}"),
        seed_count=COUNT,
        random_seed=RANDOM_SEED,
        mode=mode,
    )
    with Sandbox(options) as info:
        yield mode, {name: sync_source(name, s) for name, s in sandbox_sources(info).items()}


def seeds(offset: int) -> list[SeedChange]:
    return generate(COUNT, random_seed=RANDOM_SEED + offset)


def expected_outcome(name: str, seed: SeedChange) -> Outcome | None:
    """Jira resolutions name all three outcomes; ServiceNow's close codes have no "rolled back",
    so a rolled-back change closes unsuccessful and the default mapping reads it as failed."""
    if seed.outcome is None:
        return None
    if name == "sandbox-servicenow" and seed.outcome == "rolled-back":
        return Outcome.FAILED
    return Outcome(seed.outcome)


def check_against_seed(change: Change, seed: SeedChange, name: str) -> None:
    assert change.title == seed.title
    assert change.change_type is not None and change.change_type.value == seed.change_type
    assert change.status.value == seed.status
    assert change.outcome == expected_outcome(name, seed)
    assert sorted(change.affected_systems) == sorted(seed.affected_systems)
    assert change.rollback_plan.strip() == seed.rollback_plan.strip()
    assert bool(change.test_plan.strip()) == bool(seed.test_plan)
    assert bool(change.justification.strip()) == bool(seed.justification)
    level = change.security.level.value if change.security.level else None
    assert level == seed.security_level
    assert sorted(c.value for c in change.security.categories) == sorted(seed.infosec_categories)
    assert change.customer_facing == seed.customer_facing
    assert change.planned_start == seed.planned_start
    assert change.planned_end == seed.planned_end
    assert change.requester is not None
    requester = USERS_BY_LOGIN[seed.requester]
    assert change.requester.name == requester.display_name
    decisions = sorted(a.decision.value for a in change.approvals)
    expected = sorted(
        {"pending": Decision.PENDING, "approved": Decision.APPROVED, "rejected": Decision.REJECTED}[
            a.decision
        ].value
        for a in seed.approvals
    )
    assert decisions == expected
    approvers = sorted(a.approver.name for a in change.approvals)
    assert approvers == sorted(USERS_BY_LOGIN[a.approver].display_name for a in seed.approvals)
    if seed.change_type != "standard":
        assert change.change_class is not None
        assert change.change_class.value == seed.change_class
    assert change.created == seed.created


def test_every_seeded_ticket_normalizes_with_its_fields(
    synced: tuple[str, dict[str, tuple[list[Change], list[str]]]],
) -> None:
    mode, results = synced
    for name, offset in (("sandbox-jira", 0), ("sandbox-servicenow", 1)):
        changes, skipped = results[name]
        assert skipped == []
        assert len(changes) == COUNT
        assert len({c.key for c in changes}) == COUNT
        by_title_created = {(c.title, c.created): c for c in changes}
        for seed in seeds(offset):
            check_against_seed(by_title_created[(seed.title, seed.created)], seed, name)
        # The scenario closes changes with every outcome, so the oracle above checks them all.
        assert {s.outcome for s in seeds(offset)} == {None, "successful", "failed", "rolled-back"}
        kinds = {c.source.kind.value for c in changes}
        expected_kind = {"sandbox-jira": f"jira-{mode}", "sandbox-servicenow": "servicenow"}[name]
        assert kinds == {expected_kind}


def test_normalized_changes_round_trip_and_fingerprint(
    synced: tuple[str, dict[str, tuple[list[Change], list[str]]]],
) -> None:
    _, results = synced
    for changes, _ in results.values():
        for change in changes:
            again = Change.from_json(change.to_json())
            assert again == change
            assert again.fingerprint() == change.fingerprint()
        assert len({c.fingerprint() for c in changes}) == len(changes)


def test_demo_writes_every_change(tmp_path: Path) -> None:
    from connector.commands.demo import run_demo

    run_demo(seed=20, random_seed=2, mode="cloud", out=tmp_path)
    lines = (tmp_path / "changes.jsonl").read_text().splitlines()
    assert len(lines) == 40
    assert {Change.from_json(line).source.instance for line in lines} == {
        "sandbox-jira",
        "sandbox-servicenow",
    }
