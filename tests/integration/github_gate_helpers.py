"""Helpers of the GitHub gate tests: a sandbox whose seeded change has its window open now, the
worker's `[deploy]` settings for the sandbox's GitHub App, and waiting on the sandbox."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from policy_helpers import pick

from connector.core.deploy import DeploySettings, GithubDeploySettings
from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import DEFAULT_BASE_TIME, SeedChange

COUNT = 30
RANDOM_SEED = 59  # ServiceNow is seeded with RANDOM_SEED + 1
REPO = "acme/payments"
SERVICE = "payments"


def gate_seed(s: SeedChange) -> bool:
    """A complete minor normal change waiting for approval, with a window of 4 hours or more."""
    from test_policy_e2e import complete

    return (
        s.change_type == "normal"
        and s.change_class == "minor"
        and s.status == "awaiting-approval"
        and s.planned_start is not None
        and s.planned_end is not None
        and s.planned_end - s.planned_start >= timedelta(hours=4)
        and bool(s.affected_systems)
        and complete(s)
    )


def base_time_for(system: str, now: datetime) -> tuple[datetime, SeedChange]:
    """The sandbox base time that puts the gate seed's window around `now` (opened an hour ago),
    and that seed as the sandbox will hold it."""
    seed_no = RANDOM_SEED if system == "jira" else RANDOM_SEED + 1

    def later(s: SeedChange) -> bool:  # planned after the base time: the rest stays in the past
        return gate_seed(s) and s.planned_start is not None and s.planned_start > DEFAULT_BASE_TIME

    (probe,) = pick(generate(COUNT, random_seed=seed_no), later)
    assert probe.planned_start is not None
    offset = probe.planned_start - DEFAULT_BASE_TIME
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    base = hour - offset
    (seed,) = [
        s for s in generate(COUNT, random_seed=seed_no, base_time=base) if s.index == probe.index
    ]
    assert seed.planned_start is not None and seed.planned_end is not None
    assert seed.planned_start <= now < seed.planned_end - timedelta(hours=2)
    return base, seed


def deploy_settings(sandbox: Sandbox, seed: SeedChange, ca_bundle: str) -> DeploySettings:
    app = sandbox.github.app_info()
    return DeploySettings(
        gated_environments=("production",),
        services={SERVICE: (seed.affected_systems[0],)},
        github=GithubDeploySettings.model_validate(
            {
                "app_id": str(app["app_id"]),
                "private_key_path": app["private_key_path"],
                "webhook_secret": app["webhook_secret"],
                "api_url": app["api_url"],
                "ca_bundle": ca_bundle,
                "repositories": [REPO],
            }
        ),
    )


def deploy_toml(sandbox: Sandbox, seed: SeedChange, ca_bundle: str) -> str:
    app = sandbox.github.app_info()
    return f"""
[deploy]
gated_environments = ["production"]
[deploy.services]
{SERVICE} = ["{seed.affected_systems[0]}"]
[deploy.github]
app_id = "{app["app_id"]}"
private_key_path = "{app["private_key_path"]}"
webhook_secret = "{app["webhook_secret"]}"
api_url = "{app["api_url"]}"
ca_bundle = "{ca_bundle}"
repositories = ["{REPO}"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def answer_of(sandbox: Sandbox, run_id: int, *, timeout: float = 15) -> dict[str, Any]:
    """The one answer the run got (waits for it)."""
    found = wait_for(lambda: sandbox.github.callbacks(run_id), timeout=timeout, what="an answer")
    return dict(found[0])


def comments_of(sandbox: Sandbox, run_id: int) -> list[str]:
    with sandbox.state.lock:
        return [c["comment"] for c in sandbox.github.run(run_id).comments]


def answers_sent(sandbox: Sandbox, log: list[dict[str, Any]], run_id: int) -> int:
    """Answers the worker sent for the run, refused ones included: the callback POSTs in the
    request log that were not status comments."""
    path = f"/actions/runs/{run_id}/deployment_protection_rule"
    posts = sum(1 for r in log if r["method"] == "POST" and r["path"].endswith(path))
    return posts - len(comments_of(sandbox, run_id))


def sandbox_dir(tmp: Path) -> Path:
    return tmp / "sandbox"
