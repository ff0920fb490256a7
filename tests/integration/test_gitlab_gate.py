"""GitLab deployment approvals end to end: the worker against the sandbox over HTTPS, on Jira and
ServiceNow, on SQLite and PostgreSQL. A pipeline's deploy job blocks on the protected
`production` environment of acme/payments; GitLab's Deployment Hook reaches the worker's
`POST /webhooks/gitlab`; the worker approves or rejects through GitLab's approval API with the
reasons as the comment, read back from GitLab itself."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from gitlab_helpers import approval_posts, wait_for
from policy_helpers import JiraOps, Ops, pick, seeded_fixtures, set_window
from pydantic import SecretStr
from store_fixtures import fixture_store_url  # noqa: F401
from test_policy_e2e import planned_minor_waiting

from connector.commands.demo import sandbox_sources
from connector.core.deploy.config import DeploySettings, GitlabDeploySettings
from connector.core.policy import PolicySettings
from connector.core.policy.config import Freeze
from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import SeedChange
from connector.serve.metrics import Metrics
from connector.serve.webhooks import build_app
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store

# A small sandbox whose seeds (Jira: RANDOM_SEED, ServiceNow: RANDOM_SEED + 1) hold the change
# `the_change` picks: each test syncs the whole source.
COUNT = 20
RANDOM_SEED = 3
TOKEN = "gitlab-hook-token-5f0c9e1d7a"
SHA = "4bd1a2c5e8f0aa9d0c1e2f3a4b5c6d7e8f9a0b1c"
# Inside the window `fill` gives the change (2026-12-01 09:00 to 11:00 UTC).
# Real time: the gate counts an approval only from when it was given (stamped by the sandbox
# at the real time), so the gate runs on the real clock and the changes' windows (and the
# freeze) are moved around the time the tests start.
IN_WINDOW = datetime.now(UTC).replace(microsecond=0)


sandbox, ops = seeded_fixtures(count=COUNT, random_seed=RANDOM_SEED)


def gitlab_settings(sandbox: Sandbox, **extra: Any) -> GitlabDeploySettings:
    info = sandbox.info
    return GitlabDeploySettings(
        url=info.gitlab_url,
        token=SecretStr(info.gitlab_tokens["connector"]),
        webhook_token=SecretStr(TOKEN),
        projects=("acme/payments",),
        ca_bundle=Path(info.ca_bundle),
        **extra,
    )


def gate_worker(
    sandbox: Sandbox, store: Store, ops: Ops, *, policy: PolicySettings | None = None
) -> Worker:
    settings = Settings(
        sources={
            ops.name: sandbox_sources(sandbox.info)[ops.name].model_copy(
                update={"webhook_secret": SecretStr(sandbox.info.webhook_secret)}
            )
        },
        policy=policy or PolicySettings(),
        deploy=DeploySettings(
            gated_environments=("production",),
            services={"payments": ("payments-api",)},
            gitlab=gitlab_settings(sandbox),
        ),
    )
    worker = Worker(settings, store, name="gitlab-gate-test")
    return worker.open()


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


@contextmanager
def served(worker: Worker) -> Iterator[Served]:
    """The worker's HTTP app (webhooks included) on a free port, as `change-connector run`."""
    hooks = worker._hooks()
    app = build_app(worker.settings, worker.store, Metrics(), hooks=hooks)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        for hook in hooks.values():
            getattr(hook, "close", lambda: None)()


@dataclass
class Gate:
    worker: Worker
    url: str  # the worker's server

    @property
    def store(self) -> Store:
        return self.worker.store


@contextmanager
def gate(
    sandbox: Sandbox, store_url: str, ops: Ops, *, policy: PolicySettings | None = None
) -> Iterator[Gate]:
    """A worker serving its webhooks, with the sandbox's project hook pointing at it."""
    with closing(Store.open(store_url)) as store:
        worker = gate_worker(sandbox, store, ops, policy=policy)
        try:
            with served(worker) as running:
                url = f"{running.url}/webhooks/gitlab"
                sandbox.gitlab.add_hook("acme/payments", url=url, token=TOKEN)
                try:
                    yield Gate(worker, running.url)
                finally:
                    sandbox.gitlab_webhooks.wait_idle()
                    sandbox.gitlab.hooks.clear()
        finally:
            worker.close()


def the_change(ops: Ops) -> SeedChange:
    """A complete minor normal change waiting for its approval, on payments-api, in a window
    around IN_WINDOW, whose implementation plan names the commit to deploy."""
    (seed,) = pick(ops.seeds, planned_minor_waiting)
    ops.fill(seed, user=seed.requester)
    set_window(ops, seed, IN_WINDOW - timedelta(hours=1), IN_WINDOW + timedelta(hours=2))
    plan = f"Deploy {SHA[:7]} to production, verify."
    if isinstance(ops, JiraOps):
        ops._call(
            "PUT",
            f"/rest/api/2/issue/{ops.key(seed)}",
            user=seed.requester,
            json={"fields": {ops.cf("Implementation plan"): plan}},
        )
    else:
        ops.update(seed, user=seed.requester, implementation_plan=plan)
    return seed


def deploy(sandbox: Sandbox) -> int:
    made = sandbox.gitlab.create_deployment(
        "acme/payments", "production", sha=SHA, user="bob", title="Release payments"
    )
    return int(made["id"])


def answered(sandbox: Sandbox, deployment_id: int) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        approvals: list[dict[str, Any]] = sandbox.gitlab.deployment(deployment_id)["approvals"]
        return approvals[0] if approvals else None

    return probe


def test_an_approved_change_in_its_window_is_approved_on_gitlab(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    seed = the_change(ops)
    ops.approve(seed, group="Change approvers")
    with gate(sandbox, store_url, ops) as running:
        worker = running.worker
        worker.sync_once()
        deployment_id = deploy(sandbox)
        approval = wait_for("the gate's answer", answered(sandbox, deployment_id))
        assert approval["status"] == "approved" and approval["user"]["username"] == "connector"
        assert (
            ops.key(seed) in approval["comment"]
            and "inside its planned window" in approval["comment"]
        )
        assert len(approval["comment"]) <= 255
        # the deploy ran; its Deployment Hook "success" is recorded as evidence of the change
        row = wait_for(
            "the recorded deployment",
            lambda: worker.store.deployment("gitlab", f"acme/payments#{deployment_id}"),
        )
        assert (row.outcome, row.change_key, row.unauthorized) == ("success", ops.key(seed), False)
        assert row.triggered_by == "bob" and row.commit == SHA
    assert approval_posts(sandbox.info, deployment_id) == [
        f"connector /gitlab/api/v4/projects/acme/payments/deployments/{deployment_id}/approval"
    ]


def test_a_deploy_waiting_for_approval_is_approved_when_the_approval_arrives(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    seed = the_change(ops)
    with gate(sandbox, store_url, ops) as running:
        worker = running.worker
        worker.sync_once()
        deployment_id = deploy(sandbox)
        reference = f"acme/payments#{deployment_id}"
        held = wait_for("the held deploy", lambda: worker.store.gate_wait("gitlab", reference))
        assert held.state == "waiting"
        assert sandbox.gitlab.deployment(deployment_id)["status"] == "blocked"
        assert approval_posts(sandbox.info, deployment_id) == []
        ops.approve(seed, group="Change approvers")
        worker.sync_once()  # the approval is read; the held deploy is decided again at once
        approval = answered(sandbox, deployment_id)()
        assert approval is not None and approval["status"] == "approved"
        assert ops.key(seed) in approval["comment"]
        assert worker.store.gate_wait("gitlab", reference).state == "answered"  # type: ignore[union-attr]
        worker.gitlab_once()  # a later cycle finds nothing more to do
    assert len(approval_posts(sandbox.info, deployment_id)) == 1


def test_a_deploy_in_a_freeze_is_rejected_naming_the_freeze(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    seed = the_change(ops)
    ops.approve(seed, group="Change approvers")
    freeze = Freeze(
        name="Payments freeze",
        start=IN_WINDOW - timedelta(hours=3),
        end=IN_WINDOW + timedelta(hours=3),
        systems=("payments-api",),
    )
    with gate(sandbox, store_url, ops, policy=PolicySettings(freezes=(freeze,))) as running:
        worker = running.worker
        worker.sync_once()
        deployment_id = deploy(sandbox)
        approval = wait_for("the gate's answer", answered(sandbox, deployment_id))
        assert approval["status"] == "rejected"
        assert "The freeze 'Payments freeze' is in force" in approval["comment"]
        wait_for(
            "the dropped job",
            lambda: sandbox.gitlab.deployment(deployment_id)["status"] == "failed",
        )
        sandbox.gitlab_webhooks.wait_idle()
        # rejected while blocked: nothing was deployed, so no deployment is recorded
        assert worker.store.deployment("gitlab", f"acme/payments#{deployment_id}") is None
    assert len(approval_posts(sandbox.info, deployment_id)) == 1


def test_a_deploy_whose_rollback_plan_changed_after_approval_is_rejected_naming_the_drift(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    seed = the_change(ops)
    ops.approve(seed, group="Change approvers")
    with gate(sandbox, store_url, ops) as running:
        worker = running.worker
        worker.sync_once()
        ops.edit_rollback(seed, "Restore from last night's backup instead.", user=seed.requester)
        worker.sync_once()
        deployment_id = deploy(sandbox)
        approval = wait_for("the gate's answer", answered(sandbox, deployment_id))
        assert approval["status"] == "rejected"
        assert "approval drift" in approval["comment"] and "rollback plan" in approval["comment"]
        assert ops.key(seed) in approval["comment"]
    assert len(approval_posts(sandbox.info, deployment_id)) == 1


@pytest.mark.parametrize("given", [None, "", "gitlab-hook-token-5f0c9e1d7b"])
def test_a_webhook_without_the_token_is_401_and_stores_nothing(
    sandbox: Sandbox, store_url: str, given: str | None
) -> None:
    ops = JiraOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED))
    deployment_id = deploy(sandbox)
    body = sandbox.gitlab.deployment(deployment_id)
    hook = {
        "object_kind": "deployment",
        "status": "blocked",
        "deployment_id": deployment_id,
        "environment": "production",
        "project": {"id": 101, "path_with_namespace": "acme/payments"},
        "user": {"username": "bob"},
        "short_sha": body["sha"][:8],
    }
    with gate(sandbox, store_url, ops) as running:
        worker = running.worker
        headers = {"X-Gitlab-Event": "Deployment Hook"}
        if given is not None:
            headers["X-Gitlab-Token"] = given
        answer = requests.post(
            f"{running.url}/webhooks/gitlab", json=hook, headers=headers, timeout=30
        )
        assert (answer.status_code, answer.json()) == (401, {"error": "missing or invalid token"})
        assert worker.store.gate_wait("gitlab", f"acme/payments#{deployment_id}") is None
        assert worker.store.deployments() == []
    assert approval_posts(sandbox.info, deployment_id) == []
    assert sandbox.gitlab.deployment(deployment_id)["status"] == "blocked"


def test_a_deploy_whose_webhook_was_missed_is_found_by_the_next_poll(
    sandbox: Sandbox, store_url: str
) -> None:
    ops = JiraOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED))
    seed = the_change(ops)
    ops.approve(seed, group="Change approvers")
    deployment_id = deploy(sandbox)  # no project hook yet: GitLab told nobody
    with closing(Store.open(store_url)) as store:
        worker = gate_worker(sandbox, store, ops)
        try:
            worker.sync_once()
            assert worker.gitlab_once() == 1
            approval = answered(sandbox, deployment_id)()
            assert approval is not None and approval["status"] == "approved"
            # it ran at once: the same poll found it ended and recorded it (no hook told us)
            row = store.deployment("gitlab", f"acme/payments#{deployment_id}")
            assert row is not None and (row.outcome, row.change_key) == ("success", ops.key(seed))
            assert worker.gitlab_once() == 0  # no longer blocked: nothing to look at
            assert len(store.deployments()) == 1
        finally:
            worker.close()
    assert len(approval_posts(sandbox.info, deployment_id)) == 1


def test_a_deploy_by_the_workers_own_user_is_left_to_people(
    sandbox: Sandbox, store_url: str
) -> None:
    ops = JiraOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED))
    made = sandbox.gitlab.create_deployment(
        "acme/payments", "production", sha=SHA, user="connector"
    )
    with closing(Store.open(store_url)) as store:
        worker = gate_worker(sandbox, store, ops)
        try:
            worker.gitlab_once()
            worker.gitlab_once()
        finally:
            worker.close()
    # GitLab would refuse its approval (its own deployment): nothing is sent, nothing is held
    assert approval_posts(sandbox.info, int(made["id"])) == []
    assert sandbox.gitlab.deployment(int(made["id"]))["status"] == "blocked"


def test_check_config_names_a_missing_gitlab_token_and_a_bad_ca_bundle(tmp_path: Path) -> None:
    from connector.commands.config_check import check_config_file
    from connector.core.errors import ConfigError

    (tmp_path / "not-a-ca.pem").write_text("hello\n")
    path = tmp_path / "worker.toml"
    path.write_text(f"""
data_dir = "{tmp_path / "data"}"
[deploy.gitlab]
url = "https://gitlab.example.com"
projects = ["acme/payments"]
ca_bundle = "not-a-ca.pem"
""")
    with pytest.raises(ConfigError) as raised:
        check_config_file(path)
    message = str(raised.value)
    assert "deploy.gitlab.token: not set" in message
    assert "deploy.gitlab.ca_bundle" in message


def test_the_webhook_answers_other_events_bad_bodies_and_methods_in_one_line(
    sandbox: Sandbox, store_url: str
) -> None:
    ops = JiraOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED))
    with gate(sandbox, store_url, ops) as running:
        url = f"{running.url}/webhooks/gitlab"

        def post(event: str, body: object) -> requests.Response:
            headers = {"X-Gitlab-Token": TOKEN, "X-Gitlab-Event": event}
            return requests.post(url, json=body, headers=headers, timeout=30)

        pushed = post("Push Hook", {"object_kind": "push"})
        assert (pushed.status_code, pushed.json()) == (202, {"status": "ignored"})
        nameless = post("Deployment Hook", {"object_kind": "deployment", "status": "blocked"})
        assert nameless.status_code == 400 and "project" in nameless.json()["error"]
        listed = post("Deployment Hook", [1, 2])
        assert (listed.status_code, listed.json()) == (400, {"error": "body is not a JSON object"})
        other = post(
            "Deployment Hook",
            {
                "object_kind": "deployment",
                "status": "blocked",
                "deployment_id": 1,
                "project": {"path_with_namespace": "someone/else"},
            },
        )
        assert other.status_code == 202  # accepted, then ignored: not a configured project
        got = requests.get(url, timeout=30)
        assert got.status_code == 405
        assert running.store.deployments() == []
    assert approval_posts(sandbox.info) == []


def test_a_burst_of_blocked_deployments_is_answered_once_each(
    sandbox: Sandbox, store_url: str
) -> None:
    ops = JiraOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED))
    with gate(sandbox, store_url, ops):
        # no change covers them: each is rejected, by the webhook threads side by side
        made = [deploy(sandbox) for _ in range(20)]
        for deployment_id in made:
            approval = wait_for("the gate's answer", answered(sandbox, deployment_id))
            assert approval["status"] == "rejected" and "No approved change" in approval["comment"]
    assert [len(approval_posts(sandbox.info, d)) for d in made] == [1] * 20
