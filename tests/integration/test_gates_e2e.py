"""Deployment gates end to end: `POST /gates` on the worker's server and `change-connector gate`
against changes the worker synced from the sandbox over HTTPS (Jira and ServiceNow), on SQLite
and PostgreSQL. Four cases each: allowed in its window; held, then allowed when the approval
arrives (long-poll / --wait); denied naming the freeze; denied naming the drift of the rollback
plan after approval."""

from __future__ import annotations

import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from policy_helpers import JiraOps, Ops, pick, seeded_fixtures, set_window
from store_fixtures import fixture_store_url  # noqa: F401
from test_policy_e2e import run_cli
from test_webhooks import Running, serve_app, stop

from connector.commands.demo import sandbox_sources
from connector.core.deploy import DeploySettings
from connector.core.model import Change
from connector.core.policy import PolicySettings
from connector.core.policy.config import Freeze
from connector.sandbox import Sandbox
from connector.sandbox.scenario_model import SeedChange
from connector.serve.metrics import Metrics
from connector.serve.webhooks import build_app
from connector.serve.worker import Worker
from connector.settings import ServerSettings, Settings
from connector.store import Store

COUNT = 120
RANDOM_SEED = 34
TOKEN = "gate-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime.now(UTC).replace(microsecond=0)
FROZEN = "frozen-deploys"  # the system a service in the freeze stands for
FREEZE = Freeze(
    name="Payments code freeze",
    start=NOW - timedelta(days=1),
    end=NOW + timedelta(days=1),
    systems=(FROZEN,),
)


sandbox, ops = seeded_fixtures(count=COUNT, random_seed=RANDOM_SEED)


def minor_waiting(s: SeedChange) -> bool:
    return (
        s.change_type == "normal" and s.change_class == "minor" and s.status == "awaiting-approval"
    )


def settings_for(sandbox: Sandbox, ops: Ops, store_url: str, services: dict[str, Any]) -> Settings:
    return Settings(
        store_url=store_url,
        sources={ops.name: sandbox_sources(sandbox.info)[ops.name]},
        policy=PolicySettings(freezes=(FREEZE,)),
        server=ServerSettings(insecure_unsigned_webhooks=True),
        deploy=DeploySettings(
            gated_environments=("production",), services=services, gate_token=TOKEN
        ),
    )


def cli_config(path: Path, store_url: str, services: dict[str, tuple[str, ...]]) -> Path:
    mapped = "".join(f'"{k}" = {list(v)!r}\n'.replace("'", '"') for k, v in services.items())
    path.write_text(f"""
data_dir = "{path.parent / "cli-data"}"
store_url = "{store_url}"

[[policy.freezes]]
name = "{FREEZE.name}"
start = {FREEZE.start.isoformat()}
end = {FREEZE.end.isoformat()}
systems = ["{FROZEN}"]

[deploy]
gated_environments = ["production"]
[deploy.services]
{mapped}""")
    return path


def post_gate(running: Running, body: dict[str, Any], *, wait: float = 0) -> dict[str, Any]:
    response = requests.post(
        f"{running.url}/gates", params={"wait": wait}, json=body, headers=AUTH, timeout=60
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def stored(store: Store, ops: Ops, seed: SeedChange) -> Change:
    data = store.get_change(ops.name, ops.key(seed))
    assert data is not None
    return Change.from_json(data)


def test_gate_allows_holds_denies_through_the_api_and_the_cli(
    sandbox: Sandbox, ops: Ops, store_url: str, tmp_path: Path
) -> None:
    allowed, held, frozen, drifted = pick(ops.seeds, minor_waiting, n=4)
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=6)
    for seed in (allowed, held, frozen, drifted):
        ops.fill(seed, user=seed.requester)  # every field, payments-api as affected system
        set_window(ops, seed, start, end)
    for seed in (allowed, frozen, drifted):
        ops.approve(seed, group="Change approvers")
    with closing(Store.open(store_url)) as store:
        worker = Worker(settings_for(sandbox, ops, store_url, {}), store, name="gate-test")
        with closing(worker.open()) as w:
            w.sync_once()
            system = {s: stored(store, ops, s).affected_systems[0] for s in (frozen, drifted)}
            services = {"frozen-svc": (FROZEN, system[frozen])}
            settings = settings_for(sandbox, ops, store_url, services)
            config = cli_config(tmp_path / "gate.toml", store_url, services)
            ops.edit_rollback(
                drifted, "Restore last night's backup instead.", user=drifted.requester
            )
            w.sync_once()
            running = serve_app(build_app(settings, store, Metrics()))
            try:
                cases(ops, w, store, running, config, allowed, held, frozen, drifted, system)
            finally:
                stop(running)


def gate_args(config: Path, key: str, service: str, *extra: str) -> list[str]:
    base = ["gate", "--change", key, "--env", "production", "--service", service]
    return [*base, "--triggered-by", "deploy-bot", "--config", str(config), *extra]


def cases(
    ops: Ops,
    worker: Worker,
    store: Store,
    running: Running,
    config: Path,
    allowed: SeedChange,
    held: SeedChange,
    frozen: SeedChange,
    drifted: SeedChange,
    system: dict[SeedChange, str],
) -> None:
    def body(seed: SeedChange, service: str) -> dict[str, Any]:
        return {
            "change": ops.key(seed),
            "env": "production",
            "service": service,
            "commit": "0123456789abcdef",
            "triggered_by": "deploy-bot",
        }

    own = stored(store, ops, allowed).affected_systems[0]
    # 1. approved, inside its window
    answer = post_gate(running, body(allowed, own))
    assert answer["verdict"] == "allow", answer
    assert answer["change"] == ops.key(allowed) and answer["source"] == ops.name
    assert run_cli(gate_args(config, ops.key(allowed), own)) == 0

    # 3. the service's systems are in a freeze
    answer = post_gate(running, body(frozen, "frozen-svc"))
    assert answer["verdict"] == "deny", answer
    assert any("Payments code freeze" in r for r in answer["reasons"])
    assert run_cli(gate_args(config, ops.key(frozen), "frozen-svc")) == 1

    # 4. the rollback plan was edited after approval
    answer = post_gate(running, body(drifted, system[drifted]))
    assert answer["verdict"] == "deny", answer
    assert any("rollback plan" in r and "approval drift" in r for r in answer["reasons"])
    assert run_cli(gate_args(config, ops.key(drifted), system[drifted])) == 1

    # 2. pending approval: wait; a short --wait times out with 75; held until it arrives
    service = stored(store, ops, held).affected_systems[0]
    assert post_gate(running, body(held, service))["verdict"] == "wait"
    args = gate_args(config, ops.key(held), service, "--wait", "--timeout", "1s")
    assert run_cli([*args, "--interval", "0.2"]) == 75
    answers: dict[str, Any] = {}
    codes: list[int] = []
    poll = threading.Thread(
        target=lambda: answers.update(post_gate(running, body(held, service), wait=60))
    )
    wait_args = gate_args(config, ops.key(held), service, "--wait", "--timeout", "60s")
    cli = threading.Thread(target=lambda: codes.append(run_cli([*wait_args, "--interval", "0.2"])))
    poll.start()
    cli.start()
    ops.approve(held, group="Change approvers")
    worker.sync_once()
    poll.join(timeout=60)
    cli.join(timeout=60)
    assert answers["verdict"] == "allow", answers
    assert codes == [0]


DEPLOYED = {
    "jira": '\n[actions.deployed]\ntransition = "Start implementation"\n',
    "servicenow": '\n[actions.deployed]\nstate = "-1"\n',
}


def test_a_successful_authorized_deploy_moves_its_change_as_mapped(
    sandbox: Sandbox, ops: Ops, store_url: str, tmp_path: Path
) -> None:
    from connector.core.deploy import Deployment
    from connector.sync import gates

    (seed,) = pick(ops.seeds, minor_waiting)
    ops.fill(seed, user=seed.requester)
    set_window(ops, seed, NOW - timedelta(hours=1), NOW + timedelta(hours=6))
    ops.approve(seed, group="Change approvers")
    source = sandbox_sources(sandbox.info)[ops.name]
    system = "jira" if isinstance(ops, JiraOps) else "servicenow"
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(source.mapping.read_text() + DEPLOYED[system])
    settings = settings_for(sandbox, ops, store_url, {}).model_copy(
        update={"sources": {ops.name: source.model_copy(update={"mapping": mapping})}}
    )
    with (
        closing(Store.open(store_url)) as store,
        closing(Worker(settings, store, name="deploy-test").open()) as w,
    ):
        w.sync_once()
        assert w.move_deployed() == []  # nothing deployed yet
        service = stored(store, ops, seed).affected_systems[0]
        deployment = Deployment(
            provider="api",
            reference="jenkins-1",
            service=service,
            environment="production",
            change_key=ops.key(seed),
            at=datetime.now(UTC),
        )
        row, _ = gates.record_deployment(
            store=store, settings=settings, deployment=deployment, outcome="success"
        )
        assert not row.unauthorized
        assert w.move_deployed() == [(ops.name, ops.key(seed))]
        assert stored(store, ops, seed).status.value == "implementing"
        if isinstance(ops, JiraOps):
            assert ops.status(seed) == "Implementing"
        else:
            assert ops.record(seed)["state"] == "-1"
        assert w.move_deployed() == []  # moved once
