"""How long a deploy held by the GitHub gate waits after its change is approved.

Starts the sandbox (its Jira change's window around now, its GitHub App's webhooks to the worker)
and `change-connector run` in a child process (SQLite in a temp dir, or the PostgreSQL database
given with --store-url), holds --deploys deployment protection rules on one change waiting for
approval, approves the change in Jira (Jira's webhook -> the worker's inbox -> drain -> re-check
of held deploys -> one callback each), and prints JSON: seconds from the approval to each
callback (p50 / p99 / max), the answers' states, and the callbacks per run.

    .venv/bin/python bench/github_gate_latency.py
    .venv/bin/python bench/github_gate_latency.py --deploys 20 --drain-seconds 5
    .venv/bin/python bench/github_gate_latency.py --store-url 'postgresql+psycopg://postgres@127.0.0.1:5432/test'

Target (issue 16): a waiting GitHub deployment approved within 2 s of its change's approval.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "bench")]

from github_gate_helpers import (  # noqa: E402
    COUNT,
    RANDOM_SEED,
    REPO,
    base_time_for,
    comments_of,
    deploy_toml,
    free_port,
    wait_for,
)
from policy_helpers import JiraOps  # noqa: E402
from sync_helpers import request_log, running_sandbox, write_config  # noqa: E402
from webhook_bench import drop_schema, pg_schema  # noqa: E402

from connector.sandbox.scenario import generate  # noqa: E402
from connector.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deploys", type=int, default=10)
    parser.add_argument("--drain-seconds", type=float, default=1.0)
    parser.add_argument("--store-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not args.store_url:
            url = f"sqlite:///{tmp / 'store.db'}"
            print(json.dumps(measure(tmp, url, args.deploys, args.drain_seconds)))
            return
        with database_schema(args.store_url) as url:  # a fresh schema, dropped afterwards
            print(json.dumps(measure(tmp, url, args.deploys, args.drain_seconds)))


@contextmanager
def database_schema(url: str) -> Iterator[str]:
    schema, schema_url = pg_schema(url)
    try:
        yield schema_url
    finally:
        drop_schema(url, schema)


def measure(tmp: Path, store_url: str, deploys: int, drain: float) -> dict[str, object]:
    base, seed = base_time_for("jira", datetime.now(UTC))
    port = free_port()
    with running_sandbox(
        tmp,
        seed_count=COUNT,
        random_seed=RANDOM_SEED,
        base_time=base,
        jira_webhook_url=f"http://127.0.0.1:{port}/webhooks/jira/sandbox-jira",
        webhook_secret="bench-gate-webhook-secret",
        webhook_duplicate_rate=0.0,
    ) as sandbox:
        ops = JiraOps(sandbox, generate(COUNT, random_seed=RANDOM_SEED, base_time=base))
        info = sandbox.info
        path = write_config(
            tmp / "worker.toml",
            info,
            store_url=store_url,
            webhook_secret=info.webhook_secret,
            poll_interval_minutes=60,
        )
        text = path.read_text().replace(
            "[worker]\n", f"[worker]\ndrain_interval_seconds = {drain}\n"
        )
        text += f"\n[server]\nport = {port}\n{deploy_toml(sandbox, seed, info.ca_bundle)}"
        path.write_text(text)
        sandbox.github.webhook_url = f"http://127.0.0.1:{port}/webhooks/github"
        worker = subprocess.Popen(
            [sys.executable, "-m", "connector", "run", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            log_has = lambda: any(r["path"].endswith("/actions/runs") for r in request_log(info))  # noqa: E731
            wait_for(log_has, timeout=180, what="the worker's start-up cycle")
            runs = [
                sandbox.github.start_deployment(REPO, environment="production", sha=f"{i:040x}")
                for i in range(deploys)
            ]
            for run in runs:
                wait_for(lambda r=run: comments_of(sandbox, r), timeout=60, what="held")
            with closing(Store.open(store_url)) as store:
                wait_for(lambda: store.inbox_depth() == 0, timeout=180, what="an empty inbox")
            approved = time.time()
            ops.approve(seed, group="Change approvers")
            for run in runs:
                wait_for(lambda r=run: sandbox.github.callbacks(r), timeout=60, what="answers")
            time.sleep(2 * drain)  # later re-checks: any second answer would show
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        answers = [sandbox.github.callbacks(run) for run in runs]
    seconds = sorted(a[0]["at"] - approved for a in answers)
    return {
        "store": store_url.split(":", 1)[0],
        "deploys": deploys,
        "drain_interval_seconds": drain,
        "p50_s": round(statistics.median(seconds), 3),
        "p99_s": round(seconds[max(0, round(0.99 * len(seconds)) - 1)], 3),
        "max_s": round(seconds[-1], 3),
        "states": sorted({a[0]["state"] for a in answers}),
        "answers_per_run": sorted({len(a) for a in answers}),
    }


if __name__ == "__main__":
    main()
