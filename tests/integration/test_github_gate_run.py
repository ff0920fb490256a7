"""The GitHub gate under `change-connector run` (a real process), SIGKILLed twice, on SQLite and
PostgreSQL. A deploy is held while its change waits for approval; the worker is killed and
started again (the held deploy is neither answered nor commented twice); the approval arrives by
Jira's webhook and the drain answers the held deploy without waiting for a poll; the worker is
killed right after that answer, a deploy starts while no worker runs (its webhook is lost and
GitHub does not resend it), and the restarted worker's reconcile answers it. Every run gets
exactly one answer."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from github_gate_helpers import (
    COUNT,
    RANDOM_SEED,
    REPO,
    answer_of,
    answers_sent,
    base_time_for,
    comments_of,
    deploy_toml,
    free_port,
    wait_for,
)
from policy_helpers import JiraOps
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import request_log, running_sandbox, write_config

from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.store import Store

LEASE = 3.0
SHA = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"


def start(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def reconciled(sandbox: Sandbox) -> int:
    """How often a worker has listed the waiting runs (its reconcile ran: at start)."""
    log = request_log(sandbox.info)
    return sum(1 for r in log if r["path"] == f"/github/repos/{REPO}/actions/runs")


def kill(worker: subprocess.Popen[str]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)


def test_one_answer_per_run_across_sigkills_and_a_missed_delivery(
    tmp_path: Path, store_url: str
) -> None:
    base, seed = base_time_for("jira", datetime.now(UTC))
    port = free_port()
    with running_sandbox(
        tmp_path,
        seed_count=COUNT,
        random_seed=RANDOM_SEED,
        base_time=base,
        jira_webhook_url=f"http://127.0.0.1:{port}/webhooks/jira/sandbox-jira",
        webhook_secret="run-gate-webhook-secret",
    ) as sandbox:
        ops = JiraOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED, base_time=base))
        info = sandbox.info
        path = write_config(
            tmp_path / "worker.toml",
            info,
            store_url=store_url,
            lease_seconds=LEASE,
            webhook_secret=info.webhook_secret,
            poll_interval_minutes=60,  # the start-up poll only: news comes by webhook
        )
        text = path.read_text().replace(
            f"[worker]\nlease_seconds = {LEASE}\n",
            f"[worker]\nlease_seconds = {LEASE}\ndrain_interval_seconds = 1\n",
        )
        path.write_text(
            f"{text}\n[server]\nport = {port}\n{deploy_toml(sandbox, seed, info.ca_bundle)}"
        )
        sandbox.github.webhook_url = f"http://127.0.0.1:{port}/webhooks/github"

        worker = start(path)
        try:
            wait_for(lambda: reconciled(sandbox) >= 1, timeout=120, what="the start-up cycle")
            held = sandbox.github.start_deployment(REPO, environment="production", sha=SHA)
            said = wait_for(lambda: comments_of(sandbox, held), timeout=30, what="a comment")
            assert ops.key(seed) in said[0] and "waiting for approval" in said[0]

            kill(worker)  # the wait is remembered; nothing is answered yet
            worker = start(path)
            seen = reconciled(sandbox)
            wait_for(lambda: reconciled(sandbox) > seen, timeout=120, what="the restart")
            assert sandbox.github.callbacks(held) == [] and len(comments_of(sandbox, held)) == 1

            with closing(Store.open(store_url)) as store:  # the seeded tickets' webhooks drained
                wait_for(lambda: store.inbox_depth() == 0, timeout=120, what="an empty inbox")
            approved_at = time.time()
            ops.approve(seed, group="Change approvers")  # Jira's webhook -> inbox -> drain
            answer = answer_of(sandbox, held, timeout=60)
            assert answer["state"] == "approved" and ops.key(seed) in answer["comment"]
            print(f"held deploy answered {answer['at'] - approved_at:.2f} s after the approval")

            kill(worker)  # right after the answer: it may not have been marked yet
            missed = sandbox.github.start_deployment(REPO, environment="production", sha=SHA)
            time.sleep(LEASE + 0.5)  # the dead worker's claims expire
            worker = start(path)
            assert answer_of(sandbox, missed, timeout=120)["state"] == "approved"
            time.sleep(3)  # a few more drain-interval rechecks: none may answer again
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=60)
        assert "Traceback" not in err

        log = request_log(info)
        for run in (held, missed):
            assert len(sandbox.github.callbacks(run)) == 1
            assert answers_sent(sandbox, log, run) == 1, run
        assert len(comments_of(sandbox, held)) == 1 and comments_of(sandbox, missed) == []
