"""GitLab approvals are sent once, whatever happens to the worker: real `change-connector run`
processes killed with SIGKILL at random points while deployments block, arrive by webhook or are
found by polling, on SQLite and PostgreSQL. Afterwards every deployment has been approved by the
worker exactly once: one approval on GitLab's record, one approval POST in the sandbox's log."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from gitlab_helpers import approval_posts
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import running_sandbox

from connector.sandbox import Sandbox
from connector.serve.worker import Worker
from connector.settings import load_settings
from connector.store import Store

TOKEN = "gitlab-hook-token-7d2e4b9c01"
PROJECTS = ("acme/payments", "acme/web")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(path: Path, sandbox: Sandbox, *, store_url: str, port: int) -> Path:
    info = sandbox.info
    path.write_text(f"""
data_dir = "{path.parent / "data"}"
store_url = "{store_url}"

[server]
port = {port}

[worker]
drain_interval_seconds = 1

[deploy]
gated_environments = ["prod-eu"]  # production is not gated: every deploy there is allowed

[deploy.gitlab]
url = "{info.gitlab_url}"
token = "{info.gitlab_tokens["connector"]}"
webhook_token = "{TOKEN}"
projects = {list(PROJECTS)!r}
ca_bundle = "{info.ca_bundle}"
poll_interval_seconds = 1
""")
    return path


def worker(path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_serving(port: int, *, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "the worker's server never answered"
        time.sleep(0.1)


def deploy(sandbox: Sandbox, rng: random.Random) -> int:
    sha = f"{rng.getrandbits(160):040x}"
    made = sandbox.gitlab.create_deployment(rng.choice(PROJECTS), "production", sha=sha, user="bob")
    return int(made["id"])


def test_sigkill_at_random_points_never_approves_twice(tmp_path: Path, store_url: str) -> None:
    rng = random.Random(20261206)
    # Slow answers on a share of GitLab calls stretch each answer, so kills land inside them.
    with running_sandbox(
        tmp_path, seed_count=5, faults="slow@gitlab:rate=0.5,delay=0.15"
    ) as sandbox:
        port = free_port()
        path = config(tmp_path / "worker.toml", sandbox, store_url=store_url, port=port)
        for project in PROJECTS:
            sandbox.gitlab.add_hook(
                project, url=f"http://127.0.0.1:{port}/webhooks/gitlab", token=TOKEN
            )
        made = [deploy(sandbox, rng) for _ in range(3)]  # before any worker: found by polling
        for _ in range(5):
            proc = worker(path)
            time.sleep(rng.uniform(0.8, 2.5))
            made.append(deploy(sandbox, rng))  # its webhook may reach a live worker, or not
            time.sleep(rng.uniform(0.0, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        last = worker(path)
        # Its server answers once its signal handlers are set: SIGTERM then stops it cleanly
        # (a loaded machine can take many seconds to start it).
        wait_serving(port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            sandbox.gitlab.deployment(d)["status"] == "blocked" for d in made
        ):
            time.sleep(0.2)
        last.send_signal(signal.SIGTERM)
        _, err = last.communicate(timeout=60)
        assert last.returncode == 0, err.decode()[-2000:]
        sandbox.gitlab_webhooks.wait_idle()
        # An answer a killed worker had claimed is held by its lease for a while; a worker that
        # comes after the lease (its clock moved on) takes it over and checks GitLab first.
        later = datetime.now(UTC) + timedelta(minutes=5)
        with closing(Store.open(store_url)) as store:
            settings = load_settings(path)
            late = Worker(settings, store, name="after-the-lease", clock=lambda: later).open()
            try:
                late.gitlab_once()
            finally:
                late.close()
            for deployment_id in made:
                found = sandbox.gitlab.deployment(deployment_id)
                assert found["status"] == "success", found
                assert [a["user"]["username"] for a in found["approvals"]] == ["connector"]
                assert len(approval_posts(sandbox.info, deployment_id)) == 1, deployment_id
                project = found["deployable"]["web_url"].split("/gitlab/", 1)[1].split("/-/")[0]
                wait = store.gate_wait("gitlab", f"{project}#{deployment_id}")
                assert wait is not None and wait.state == "answered", (deployment_id, wait)
