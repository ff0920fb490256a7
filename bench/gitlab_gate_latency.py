"""How long a blocked GitLab deployment waits for the worker's answer (webhook path).

Starts the sandbox and `change-connector run` in a child process (SQLite in a temp dir; polling
of blocked deployments set to once an hour, so only the Deployment Hook path is measured), blocks
--deploys deployments on protected environments (in bursts of --burst), and prints JSON: seconds
from each deployment's creation to the worker's approval on GitLab's record (p50 / p99 / max,
GitLab's own timestamps) and the approval POSTs per deployment. The environment is not gated
here ([deploy] gated_environments names another), so every deploy is allowed: the figure is the
hook -> read -> decide -> approve path, not the time a change takes to be approved.

    .venv/bin/python bench/gitlab_gate_latency.py
    .venv/bin/python bench/gitlab_gate_latency.py --deploys 60 --burst 20
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "integration")]

from gitlab_helpers import approval_posts  # noqa: E402
from sync_helpers import running_sandbox  # noqa: E402

TOKEN = "gitlab-hook-token-bench-0a1b2c3d"
PROJECTS = ("acme/payments", "acme/web")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deploys", type=int, default=30)
    parser.add_argument("--burst", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'store.db'}"
        print(json.dumps(measure(tmp, url, args.deploys, args.burst)))


def measure(tmp: Path, store_url: str, deploys: int, burst: int) -> dict[str, object]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with running_sandbox(tmp, seed_count=5) as sandbox:
        info = sandbox.info
        config = tmp / "worker.toml"
        config.write_text(f"""
data_dir = "{tmp / "data"}"
store_url = "{store_url}"
[server]
port = {port}
[deploy]
gated_environments = ["prod-eu"]
[deploy.gitlab]
url = "{info.gitlab_url}"
token = "{info.gitlab_tokens["connector"]}"
webhook_token = "{TOKEN}"
projects = {list(PROJECTS)!r}
ca_bundle = "{info.ca_bundle}"
poll_interval_seconds = 3600
""")
        for project in PROJECTS:
            sandbox.gitlab.add_hook(
                project, url=f"http://127.0.0.1:{port}/webhooks/gitlab", token=TOKEN
            )
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "worker.log", "w"),  # noqa: SIM115
        )
        try:
            _wait_listening(port)
            made: list[int] = []
            for n in range(deploys):
                project = PROJECTS[n % len(PROJECTS)]
                sha = f"{n:040x}"
                made.append(
                    int(
                        sandbox.gitlab.create_deployment(
                            project, "production", sha=sha, user="bob"
                        )["id"]
                    )
                )
                if len(made) % burst == 0:
                    time.sleep(0.5)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and any(
                not sandbox.gitlab.deployment(d)["approvals"] for d in made
            ):
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        waits = []
        for d in made:
            body = sandbox.gitlab.deployment(d)
            if body["approvals"]:
                start = _at(body["created_at"])
                waits.append((_at(body["approvals"][0]["created_at"]) - start).total_seconds())
        posts = [len(approval_posts(info, d)) for d in made]
        if len(waits) < deploys:
            sys.stderr.write((tmp / "worker.log").read_text()[-3000:])
    waits.sort()
    return {
        "deploys": deploys,
        "answered": len(waits),
        "seconds_p50": round(statistics.median(waits), 3) if waits else None,
        "seconds_p99": round(waits[min(len(waits) - 1, int(len(waits) * 0.99))], 3)
        if waits
        else None,
        "seconds_max": round(waits[-1], 3) if waits else None,
        "approval_posts_per_deploy": sorted(set(posts)),
        "store": store_url.split(":", 1)[0],
    }


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("the worker did not start listening")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


if __name__ == "__main__":
    main()
