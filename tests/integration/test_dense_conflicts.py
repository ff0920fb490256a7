"""A dense conflict graph: many changes on one system whose windows all overlap, read over
several pages of one poll cycle. Each ticket's findings note is planned once in the cycle, from
its final state (every partner in it), not once per page that brought one more partner; a
second cycle plans nothing. Against the sandbox over HTTPS, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from policy_helpers import JiraOps, Ops, ServiceNowOps, set_window
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import running_sandbox

from connector.commands.demo import sandbox_sources
from connector.core.planner import FINDINGS
from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import SeedChange
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store
from connector.sync import poller

COUNT = 100
RANDOM_SEED = 34  # the sandbox seeds ServiceNow with RANDOM_SEED + 1
SYSTEM = "billing-batch"
PAGE_SIZE = 3  # the dense group spans several pages
# Changes holding their window and not moved by the worker in the cycle (an unauthorized
# implementing change is stopped, a new state the settle step rightly writes a new note for).
HOLDS_WINDOW = {"approved", "scheduled"}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        yield box


@pytest.fixture(params=["jira", "servicenow"])
def ops(request: pytest.FixtureRequest, sandbox: Sandbox) -> Ops:
    if request.param == "jira":
        return JiraOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED))
    return ServiceNowOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED + 1))


def dense_group(ops: Ops) -> list[SeedChange]:
    """Every change holding a window on SYSTEM, its window moved to overlap all the others'
    (staggered by a minute, so each move is an update of its own)."""
    group = [s for s in ops.seeds if SYSTEM in s.affected_systems and s.status in HOLDS_WINDOW]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    for i, seed in enumerate(group):
        set_window(ops, seed, start + timedelta(minutes=i), start + timedelta(hours=4))
    return group


def findings_planned(store: Store, source: str, key: str) -> list[str]:
    entries = store.ledger_for(source=source, ticket_key=key)
    return [e.content_fingerprint for e in entries if e.action == FINDINGS]


@pytest.mark.parametrize("held_slice", [poller.HELD_SLICE, 5])  # 5: many slices of held keys
# A batch of one page, and of two pages joined (a batch takes pages until it holds 5).
@pytest.mark.parametrize("batch_size", [PAGE_SIZE, 5])
def test_a_dense_conflict_graph_plans_each_tickets_note_once_per_cycle(
    sandbox: Sandbox,
    ops: Ops,
    store_url: str,
    held_slice: int,
    batch_size: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(poller, "HELD_SLICE", held_slice)
    group = dense_group(ops)
    assert len(group) >= 6
    keys = sorted(ops.key(s) for s in group)
    sizes = {"page_size": PAGE_SIZE, "batch_size": batch_size}
    source = sandbox_sources(sandbox.info)[ops.name].model_copy(update=sizes)
    settings = Settings(sources={ops.name: source})
    with closing(Store.open(store_url)) as store:
        with closing(Worker(settings, store, name="dense-test").open()) as worker:
            [stats] = worker.sync_once()
        assert stats.seen == COUNT and stats.failed is None
        # The group arrives in several batches (ordered by update, all moved last).
        assert len(keys) > batch_size
        planned = {key: findings_planned(store, ops.name, key) for key in keys}
        assert planned == {key: planned[key][:1] for key in keys}
        assert all(len(p) == 1 for p in planned.values())
        # ... and that one note was planned from the final state: every partner is in it.
        for row in store.iter_stored(ops.name):
            if row.key in keys:
                found = {f["subject"] for f in json.loads(row.findings or "[]")}
                assert set(keys) - {row.key} <= found, row.key
        ledger = Counter(
            e.action for k in keys for e in store.ledger_for(source=ops.name, ticket_key=k)
        )

        with closing(Worker(settings, store, name="dense-test").open()) as worker:
            [again] = worker.sync_once()
        assert again.planned == 0
        after = Counter(
            e.action for k in keys for e in store.ledger_for(source=ops.name, ticket_key=k)
        )
        assert after == ledger
