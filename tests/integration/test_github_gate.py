"""GitHub custom deployment protection rules end to end: the sandbox's GitHub sends a signed
`deployment_protection_rule` webhook to the worker's server, the worker decides against the
changes it synced from Jira or ServiceNow (SQLite and PostgreSQL) and answers through
`POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule` with an
installation token got from the app's JWT: allowed in the change's window, held until the
approval arrives, rejected naming a freeze, rejected naming the drift of the rollback plan.
Each run gets exactly one answer (the sandbox refuses a second one anyway: the count is read
from its request log, refusals included)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from github_gate_helpers import (
    COUNT,
    RANDOM_SEED,
    REPO,
    answer_of,
    answers_sent,
    base_time_for,
    comments_of,
    deploy_settings,
    free_port,
    wait_for,
)
from policy_helpers import JiraOps, Ops, ServiceNowOps
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import request_log, running_sandbox

from connector.commands.demo import sandbox_sources
from connector.core.policy import PolicySettings
from connector.core.policy.config import Freeze
from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import SeedChange
from connector.serve.worker import Worker
from connector.settings import ServerSettings, Settings
from connector.store import Store

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"


@pytest.fixture(params=["jira", "servicenow"])
def system(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def seeded(system: str, tmp_path: Path) -> Iterator[tuple[Sandbox, Ops, SeedChange]]:
    base, seed = base_time_for(system, datetime.now(UTC))
    with running_sandbox(
        tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED, base_time=base
    ) as sandbox:
        if system == "jira":
            ops: Ops = JiraOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED, base_time=base))
        else:
            seeds = generate(COUNT, random_seed=RANDOM_SEED + 1, base_time=base)
            ops = ServiceNowOps(sandbox, seeds)
        yield sandbox, ops, seed


def open_worker(
    sandbox: Sandbox, store: Store, ops: Ops, seed: SeedChange, *, freeze: bool = False
) -> Worker:
    """An in-process worker serving webhooks, with the sandbox's GitHub App as its gate."""
    info = sandbox.info
    freezes = ()
    if freeze:
        now = datetime.now(UTC)
        freezes = (
            Freeze(
                name="Payments peak freeze",
                start=now - timedelta(hours=1),
                end=now + timedelta(hours=1),
                systems=(seed.affected_systems[0],),
            ),
        )
    settings = Settings(
        sources={ops.name: sandbox_sources(info)[ops.name]},
        policy=PolicySettings(freezes=freezes),
        server=ServerSettings(port=free_port(), insecure_unsigned_webhooks=True),
        deploy=deploy_settings(sandbox, seed, info.ca_bundle),
    )
    worker = Worker(settings, store, name="gate-test").open()
    worker._serve()
    sandbox.github.webhook_url = f"http://127.0.0.1:{settings.server.port}/webhooks/github"
    return worker


def approve(ops: Ops, seed: SeedChange) -> None:
    ops.approve(seed, group="Change approvers")


def test_allowed_for_an_approved_change_in_its_window_and_again_when_re_run(
    seeded: tuple[Sandbox, Ops, SeedChange], store_url: str
) -> None:
    sandbox, ops, seed = seeded
    with closing(Store.open(store_url)) as store:
        worker = open_worker(sandbox, store, ops, seed)
        try:
            approve(ops, seed)
            worker.sync_once()
            run = sandbox.github.start_deployment(REPO, environment="production", sha=SHA)
            answer = answer_of(sandbox, run)
            assert answer["state"] == "approved", answer
            assert ops.key(seed) in answer["comment"]
            assert sandbox.github.run(run).body["status"] == "queued"
            worker.deploy_gates()  # the reconcile finds nothing left to answer
            assert answers_sent(sandbox, request_log(sandbox.info), run) == 1
            wait = store.gate_wait("github", f"{REPO}#{run}:production")
            assert wait is not None and wait.state == "answered" and wait.verdict == "allow"
            # A re-run keeps the run id; its second attempt waits on the rule again and is
            # answered again, once.
            sandbox.github.finish_deployment(run, state="failure")
            sandbox.github.rerun(run)
            wait_for(lambda: len(sandbox.github.callbacks(run)) == 2, timeout=15, what="2nd")
            worker.deploy_gates()
            assert [a["state"] for a in sandbox.github.callbacks(run)] == ["approved"] * 2
            assert answers_sent(sandbox, request_log(sandbox.info), run) == 2
            again = store.gate_wait("github", f"{REPO}#{run}.2:production")
            assert again is not None and again.state == "answered"
        finally:
            worker.close()


def test_held_until_the_approval_arrives_then_approved_once(
    seeded: tuple[Sandbox, Ops, SeedChange], store_url: str
) -> None:
    sandbox, ops, seed = seeded
    with closing(Store.open(store_url)) as store:
        worker = open_worker(sandbox, store, ops, seed)
        try:
            worker.sync_once()
            run = sandbox.github.start_deployment(REPO, environment="production", sha=SHA)
            said = wait_for(lambda: comments_of(sandbox, run), timeout=15, what="a comment")
            assert "wait" in said[0] and ops.key(seed) in said[0] and "approval" in said[0]
            assert sandbox.github.callbacks(run) == []
            assert sandbox.github.run(run).body["status"] == "waiting"
            worker.deploy_gates()  # still waiting: nothing answered, no second comment
            assert sandbox.github.callbacks(run) == [] and len(comments_of(sandbox, run)) == 1
            approve(ops, seed)
            worker.sync_once()
            worker.deploy_gates()
            answer = answer_of(sandbox, run)
            assert answer["state"] == "approved", answer
            worker.deploy_gates()
            assert answers_sent(sandbox, request_log(sandbox.info), run) == 1
        finally:
            worker.close()


def test_rejected_naming_the_freeze(
    seeded: tuple[Sandbox, Ops, SeedChange], store_url: str
) -> None:
    sandbox, ops, seed = seeded
    with closing(Store.open(store_url)) as store:
        worker = open_worker(sandbox, store, ops, seed, freeze=True)
        try:
            approve(ops, seed)
            worker.sync_once()
            run = sandbox.github.start_deployment(REPO, environment="production", sha=SHA)
            answer = answer_of(sandbox, run)
            assert answer["state"] == "rejected", answer
            assert "Payments peak freeze" in answer["comment"]
            assert sandbox.github.run(run).body["conclusion"] == "failure"
            worker.deploy_gates()
            assert answers_sent(sandbox, request_log(sandbox.info), run) == 1
        finally:
            worker.close()


def test_rejected_naming_the_drift_of_the_rollback_plan(
    seeded: tuple[Sandbox, Ops, SeedChange], store_url: str
) -> None:
    sandbox, ops, seed = seeded
    with closing(Store.open(store_url)) as store:
        worker = open_worker(sandbox, store, ops, seed)
        try:
            approve(ops, seed)
            worker.sync_once()
            ops.edit_rollback(
                seed, "Restore from last night's backup instead.", user=seed.requester
            )
            worker.sync_once()
            run = sandbox.github.start_deployment(REPO, environment="production", sha=SHA)
            answer = answer_of(sandbox, run)
            assert answer["state"] == "rejected", answer
            assert "drift" in answer["comment"] and "rollback plan" in answer["comment"]
            worker.deploy_gates()
            assert answers_sent(sandbox, request_log(sandbox.info), run) == 1
        finally:
            worker.close()


def test_a_missed_delivery_is_reconciled_and_a_deployment_status_recorded(
    seeded: tuple[Sandbox, Ops, SeedChange], store_url: str
) -> None:
    sandbox, ops, seed = seeded
    with closing(Store.open(store_url)) as store:
        worker = open_worker(sandbox, store, ops, seed)
        try:
            approve(ops, seed)
            worker.sync_once()
            url, sandbox.github.webhook_url = sandbox.github.webhook_url, None
            run = sandbox.github.start_deployment(REPO, environment="production", sha=SHA)
            sandbox.github.webhook_url = url  # the delivery was lost; GitHub will not resend
            assert sandbox.github.callbacks(run) == []
            worker.deploy_gates()
            assert answer_of(sandbox, run)["state"] == "approved"
            sandbox.github.finish_deployment(run, state="success")
            ref = f"{REPO}#{run}:production"
            row = wait_for(lambda: store.deployment("github", ref), timeout=15, what="evidence")
            assert row.outcome == "success" and row.change_key == ops.key(seed)
            assert not row.unauthorized
        finally:
            worker.close()
