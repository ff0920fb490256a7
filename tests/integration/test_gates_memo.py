"""The gate's in-memory view of the store, SQLite and PostgreSQL: it decides exactly as the
per-request reads do, and no answer (view or answer cache) is older than the last stored change,
whoever stored it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import requests
from store_fixtures import fixture_open_store, fixture_store, fixture_store_url  # noqa: F401
from test_gates_store import AUTH, HOUR, NOW, SETTINGS, change, deployment, put
from test_webhooks import serve_app, stop

from connector.core.model import Source, Status, SystemKind
from connector.core.policy import Context
from connector.core.policy.facts import covered_fields, facts
from connector.serve.metrics import Metrics
from connector.serve.webhooks import build_app
from connector.store import Store
from connector.sync import gates
from connector.sync.gate_memo import GateMemo

OTHER = Source(instance="other-jira", kind=SystemKind.JIRA_CLOUD)


def approve(store: Store, key: str, *, source: str = "acme-jira", edited: bool = False) -> None:
    """Store an approved change with its window and approval basis, as a sync does; `edited`:
    its rollback plan was changed after the approval (drift)."""
    item = change(key)
    with store.transaction() as tx:
        assert item.planned_start is not None and item.planned_end is not None
        tx.set_windows(
            source=source,
            change_key=key,
            windows=[
                (s, item.planned_start, item.planned_end, True) for s in item.affected_systems
            ],
        )
        tx.record_basis(
            source=source,
            change_key=key,
            approvals_digest=facts(item, Context(now=NOW)).approvals.digest,
            covered=json.dumps(covered_fields(item)),
            recorded_at=NOW - HOUR,
        )
    put(store, item.model_copy(update={"rollback_plan": "Roll forward."}) if edited else item)


def test_the_view_decides_as_the_per_request_reads(store: Store) -> None:
    approve(store, "CHG-1")
    approve(store, "CHG-2", edited=True)
    put(store, change("CHG-3", approvals=(), status=Status.AWAITING_APPROVAL))
    put(store, change("CHG-1", source=OTHER, status=Status.REJECTED))  # same key, other source
    put(store, change("CHG-4", description="Ships 0a1b2c3d4e5f.", planned_start=NOW + HOUR))
    with store.transaction() as tx:
        for key, start in (("CHG-4", NOW + HOUR), ("CHG-3", NOW - HOUR)):
            tx.set_windows(
                source="acme-jira",
                change_key=key,
                windows=[("payments-api", start, NOW + 2 * HOUR, key == "CHG-4")],
            )
        tx.add_board_decision(
            source="acme-jira",
            change_key="CHG-3",
            decision="reject",
            decided_by="cab",
            note="Not this week.",
            decided_at=NOW - HOUR,
        )
    put(store, change("CHG-5"))
    store.mark_deleted(source="acme-jira", change_key="CHG-5", reason="gone", actor="test")
    view = GateMemo(store).view(store.gate_generation())
    assert view is not None
    assert GateMemo(store, limit=5).view(store.gate_generation()) is None  # 6 stored: per request
    asked = [
        deployment(f"d-{n}", **extra)
        for n, extra in enumerate(
            [
                {},
                {"change_key": "CHG-2"},
                {"change_key": "CHG-3"},
                {"change_key": "CHG-4"},
                {"change_key": "CHG-5"},
                {"change_key": "CHG-9"},
                {"change_key": None},
                {"change_key": None, "commit": "0a1b2c3d4e5f"},
                {"change_key": None, "service": "unknown"},
                {"change_key": None, "environment": "staging"},
                {"triggered_by": "u-carol"},
                {"at": NOW + 3 * HOUR},
            ]
        )
    ]
    verdicts = set()
    for asked_now in (NOW, NOW + 90 * timedelta(minutes=1)):
        for item in asked:
            expected = gates.evaluate(
                store=store, settings=SETTINGS, deployment=item, now=asked_now
            )
            assert view.evaluate(settings=SETTINGS, deployment=item, now=asked_now) == expected
            verdicts.add(expected.verdict.value)
    assert verdicts == {"allow", "wait", "deny"}


def test_the_generation_moves_with_every_commit_of_any_store(
    store: Store, open_store: Callable[[], Store]
) -> None:
    first = store.gate_generation()
    assert first is not None
    if store.is_sqlite:
        # Reads move nothing. (A PostgreSQL snapshot also moves with every other transaction
        # on the server, other databases' too: there a view is only reloaded more often.)
        assert store.gate_generation() == first
        assert store.deployments() == [] and store.gate_generation() == first
    put(open_store(), change("CHG-1"))  # another process, as it were
    assert store.gate_generation() != first


def test_no_answer_is_older_than_the_last_stored_change(
    store: Store, open_store: Callable[[], Store]
) -> None:
    deploy = SETTINGS.deploy.model_copy(update={"answer_cache_seconds": 60.0})
    running = serve_app(build_app(SETTINGS.model_copy(update={"deploy": deploy}), store, Metrics()))
    other = open_store()  # the syncing worker, as it were

    def ask() -> str:
        body = {"change": "CHG-7", "env": "production", "service": "checkout"}
        answer = requests.post(f"{running.url}/gates", json=body, headers=AUTH, timeout=30)
        verdict: str = answer.json()["verdict"]
        return verdict

    try:
        assert ask() == ask() == "deny"  # no such change yet
        put(other, change("CHG-7", approvals=(), status=Status.AWAITING_APPROVAL))
        assert ask() == ask() == "wait"
        approve(other, "CHG-7")
        assert ask() == ask() == "allow"
        approve(other, "CHG-7", edited=True)  # the rollback plan edited after the approval
        assert ask() == "deny"
        other.mark_deleted(source="acme-jira", change_key="CHG-7", reason="gone", actor="test")
        assert ask() == "deny"
        put(store, change("CHG-7"))  # stored again, through the server's own store
        assert ask() == "allow"
    finally:
        stop(running)
