"""Workflow moves that must happen once and agree with `plan`: a ServiceNow standard change
that is in Authorize already gets its approval, and a change whose approval drifted goes back
to where the mapping's `drift` action says. Real HTTPS against the sandbox, SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from policy_helpers import Ops, ServiceNowOps, pick
from sync_helpers import reset_log, running_sandbox, ticket_writes

from connector.commands.demo import sandbox_sources
from connector.commands.planning import plan_all
from connector.core.policy import PolicySettings
from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import SeedChange
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store

COUNT = 40
RANDOM_SEED = 3  # the sandbox seeds ServiceNow with RANDOM_SEED + 1


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        yield box


def snow_ops(sandbox: Sandbox) -> ServiceNowOps:
    return ServiceNowOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED + 1))


def worker(sandbox: Sandbox, store: Store, ops: Ops, *, mapping: Path | None = None) -> Worker:
    source = sandbox_sources(sandbox.info)[ops.name]
    if mapping is not None:
        source = source.model_copy(update={"mapping": mapping})
    settings = Settings(sources={ops.name: source}, policy=PolicySettings())
    return Worker(settings, store, name="moves-test").open()


def planned(w: Worker, ops: Ops, seed: SeedChange) -> list[tuple[str, tuple[str, ...]]]:
    """(kind, steps) of the actions `plan` promises for the seed's ticket."""
    return [
        (a.kind.value, a.steps)
        for e in plan_all(w)
        if e.change.key == ops.key(seed)
        for a in e.plan.actions
    ]


def standard_in_authorize(ops: ServiceNowOps, *, dated: bool) -> SeedChange:
    (seed,) = pick(
        ops.seeds,
        lambda s: (
            s.change_type == "standard"
            and bool(s.standard_template)
            and s.status == "awaiting-approval"
            and s.planned_start is not None
        ),
        n=1,
    )
    if not dated:  # no window: the move is "approved" alone, into the state it is in already
        ops.update(seed, user="admin", start_date="", end_date="")
    row = ops.record(seed)
    assert (row["state"], row["approval"]) == ("-3", "requested")
    return seed


@pytest.mark.parametrize("dated", [False, True], ids=["no-window", "window"])
def test_a_standard_change_in_authorize_gets_its_approval_and_plan_agrees(
    sandbox: Sandbox, tmp_path: Path, dated: bool
) -> None:
    ops = snow_ops(sandbox)
    seed = standard_in_authorize(ops, dated=dated)
    with (
        closing(Store.open(Store.default_url(tmp_path / "data"))) as store,
        closing(worker(sandbox, store, ops)) as w,
    ):
        moves = [steps for kind, steps in planned(w, ops, seed) if kind == "transition"]
        assert moves == [("approved", "scheduled") if dated else ("approved",)]
        w.sync_once()
        row = ops.record(seed)
        assert row["approval"] == "approved"
        assert row["state"] == ("-2" if dated else "-3")
        assert planned(w, ops, seed) == []  # plan and sync agree: nothing is left to do
        reset_log(sandbox.info)
        w.sync_once()
        assert ticket_writes(sandbox.info) == []


def drift_candidate(s: SeedChange) -> bool:
    """A minor normal change awaiting approval that the policy lets through once approved."""
    return (
        s.change_type == "normal"
        and s.change_class == "minor"
        and s.status == "awaiting-approval"
        and s.planned_start is not None
        and bool(s.rollback_plan)
        and bool(s.affected_systems)
        and s.security_level == "none"
    )


def test_approval_drift_moves_the_ticket_back_as_the_mapping_says(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ops = snow_ops(sandbox)
    (seed,) = pick(ops.seeds, drift_candidate)
    with (
        closing(Store.open(Store.default_url(tmp_path / "data"))) as store,
        closing(worker(sandbox, store, ops)) as w,
    ):
        ops.approve(seed, group="Change approvers")
        w.sync_once()
        assert (ops.record(seed)["state"], ops.record(seed)["approval"]) == ("-2", "approved")
        ops.edit_rollback(seed, "Restore from last night's backup instead.", user=seed.requester)
        assert [s for k, s in planned(w, ops, seed) if k == "transition"] == [("drift",)]
        w.sync_once()
        row = ops.record(seed)  # back in Authorize, the approval asked for again
        assert (row["state"], row["approval"], row["on_hold"]) == ("-3", "requested", "false")
        assert planned(w, ops, seed) == []
        reset_log(sandbox.info)
        w.sync_once()
        assert ticket_writes(sandbox.info) == []


def test_without_a_drift_action_a_drifted_ticket_stays(sandbox: Sandbox, tmp_path: Path) -> None:
    ops = snow_ops(sandbox)
    text = (Path(__file__).parents[2] / "mappings/servicenow-default.toml").read_text()
    head = text.index("[actions.drift]")
    without = tmp_path / "no-drift.toml"
    without.write_text(text[:head])  # the drift action is the file's last table
    (seed,) = pick(ops.seeds, drift_candidate)
    with (
        closing(Store.open(Store.default_url(tmp_path / "data"))) as store,
        closing(worker(sandbox, store, ops, mapping=without)) as w,
    ):
        ops.approve(seed, group="Change approvers")
        w.sync_once()
        ops.edit_rollback(seed, "Restore from last night's backup instead.", user=seed.requester)
        w.sync_once()
        assert ops.record(seed)["state"] == "-2"  # only the change-control note says why
        assert [k for k, _ in planned(w, ops, seed)] == []
