"""Webhook latency benchmark: from a person's edit of a ticket to the worker's write on it.

    .venv/bin/python bench/webhook_latency.py                     # SQLite and PostgreSQL
    .venv/bin/python bench/webhook_latency.py --edits 40 --stores sqlite
    .venv/bin/python bench/webhook_latency.py \\
        --pg-url 'postgresql+psycopg://postgres@127.0.0.1:5432/test'

Per store: the sandbox runs in its own process (`change-connector sandbox`), posting its signed
Jira and ServiceNow webhooks to a `change-connector run` worker, also in its own process, with
the default drain interval (5 s) and polls an hour apart (the poll at start-up only). Once the
start-up poll and the webhooks its writes caused have settled, a person (alice, over the REST
APIs) clears the rollback plan of one complete ticket at a time, alternating Jira and
ServiceNow; the change is now incomplete, so the worker writes its findings note on the ticket.
The latency of an edit is the time between the sandbox answering the edit and the sandbox
answering the worker's first write on that ticket, both from the sandbox's request log (its
`at` timestamps, so neither process's scheduling enters the figure). Edits are --gap seconds
apart. Prints one JSON object per store: edits, writes seen, p50 / p90 / p99 / max in ms, and
edits without a write within --timeout seconds (missed). Not a test: it prints figures.
--worker-root runs the worker from another checkout (the sandbox stays this one's), to measure
a baseline.
PostgreSQL: a fresh schema of the --pg-url database, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import requests

ROOT = Path(__file__).resolve().parents[1]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
JIRA, SNOW = "sandbox-jira", "sandbox-servicenow"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(
    tickets: int, data: Path, worker_port: int
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    base = f"http://127.0.0.1:{worker_port}/webhooks"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector",
            "sandbox",
            "--port",
            "0",
            "--seed",
            str(tickets),
            "--json",
            "--data-dir",
            str(data / "sandbox"),
            "--jira-webhook-url",
            f"{base}/jira/{JIRA}",
            "--servicenow-webhook-url",
            f"{base}/servicenow/{SNOW}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def write_config(info: dict[str, Any], data: Path, *, store_url: str, port: int) -> Path:
    user = info["users"]["connector"]
    text = (
        f'data_dir = "{data}"\nstore_url = "{store_url}"\n'
        f"[server]\nport = {port}\n[worker]\nlease_seconds = 60\n"
    )
    for name, kind, url, username, mapping in (
        (JIRA, "jira", info["jira_url"], user["jira_user"], "jira-default"),
        (SNOW, "servicenow", info["servicenow_url"], user["servicenow_user"], "servicenow-default"),
    ):
        text += (
            f'[sources.{name}]\nkind = "{kind}"\nurl = "{url}"\nusername = "{username}"\n'
            f'token = "{user["token"]}"\nmapping = "{ROOT / "mappings" / mapping}.toml"\n'
            f'ca_bundle = "{info["ca_bundle"]}"\npoll_interval_minutes = 60\n'
            f'webhook_secret = "{info["webhook_secret"]}"\n'
        )
    path = data / "latency.toml"
    path.write_text(text)
    return path


class Sandbox:
    """The REST calls of the person editing, and the sandbox's request log."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.http = requests.Session()
        self.http.verify = info["ca_bundle"]
        self.http.trust_env = False  # the sandbox's CA, whatever REQUESTS_CA_BUNDLE says
        alice = info["users"]["alice"]
        self.jira_auth = (alice["jira_user"], alice["token"])
        self.snow_auth = (alice["servicenow_user"], alice["token"])

    def log(self) -> list[dict[str, Any]]:
        answer = self.http.get(self.info["requests_url"], timeout=60)
        return list(answer.json()["requests"])

    def jira_targets(self) -> list[tuple[str, str]]:
        """(key, path) of the Jira issues with a rollback plan; the worker writes by issue id,
        so `path` is the id's (the edit's own path, by key, is looked up apart)."""
        field = self.rollback_field()
        found: list[dict[str, Any]] = []
        params = {"jql": "updated >= -36500d ORDER BY key", "maxResults": "100", "fields": field}
        while True:
            page = self.http.get(
                f"{self.info['jira_url']}/rest/api/2/search/jql",
                params=params,
                auth=self.jira_auth,
                timeout=60,
            ).json()
            found += page["issues"]
            if not page.get("nextPageToken"):
                break
            params["nextPageToken"] = page["nextPageToken"]
        path = urlparse(self.info["jira_url"]).path + "/rest/api/2/issue/"
        return [(i["key"], path + i["id"]) for i in found if i["fields"].get(field)]

    def rollback_field(self) -> str:
        fields = self.http.get(
            f"{self.info['jira_url']}/rest/api/2/field", auth=self.jira_auth, timeout=60
        ).json()
        return next(f["id"] for f in fields if f["name"] == "Rollback plan")

    def snow_targets(self) -> list[tuple[str, str]]:
        table = f"{self.info['servicenow_url']}/api/now/table/change_request"
        records = self.http.get(
            table,
            params={"sysparm_limit": "1000", "sysparm_fields": "sys_id,number,backout_plan"},
            auth=self.snow_auth,
            timeout=60,
        ).json()["result"]
        prefix = urlparse(table).path + "/"
        return [(r["sys_id"], prefix + r["sys_id"]) for r in records if r.get("backout_plan")]

    def clear_rollback(self, system: str, target: str, field: str) -> None:
        if system == "jira":
            url = f"{self.info['jira_url']}/rest/api/2/issue/{target}"
            answer = self.http.put(
                url, json={"fields": {field: None}}, auth=self.jira_auth, timeout=30
            )
        else:
            url = f"{self.info['servicenow_url']}/api/now/table/change_request/{target}"
            answer = self.http.patch(
                url, json={"backout_plan": ""}, auth=self.snow_auth, timeout=30
            )
        answer.raise_for_status()


def settle(box: Sandbox, port: int, *, quiet: float = 3.0, timeout: float = 300.0) -> None:
    """Wait until the worker's inbox is empty and the sandbox log stood still for `quiet` s."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            depth = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        except requests.RequestException:
            continue
        size = sum(e["system"] != "sandbox" for e in box.log())  # not these reads of the log
        if size != last or depth.get("inbox_depth"):
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise SystemExit("the worker did not settle after its start-up poll")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(box: Sandbox, edits: int, *, gap: float, timeout: float) -> dict[str, Any]:
    field = box.rollback_field()
    jira, snow = box.jira_targets(), box.snow_targets()
    plan: list[tuple[str, str, str]] = []
    for n in range(edits):
        pool, system = (jira, "jira") if n % 2 == 0 else (snow, "servicenow")
        if not pool:
            break
        target, path = pool.pop(0)
        plan.append((system, target, path))
    edited: list[tuple[str, float]] = []  # (path, when the sandbox answered the edit)
    for system, target, path in plan:
        box.clear_rollback(system, target, field)
        entry = next(
            e
            for e in reversed(box.log())
            if e["user"] != "connector"
            and e["method"] in WRITES
            and e["path"].endswith("/" + target)
        )
        edited.append((path, float(entry["at"])))
        time.sleep(gap)
    latencies: list[float] = []
    deadline = time.monotonic() + timeout
    pending = dict(edited)
    while pending and time.monotonic() < deadline:
        log = box.log()
        for path, at in list(pending.items()):
            write = next(
                (
                    e
                    for e in log
                    if e["user"] == "connector"
                    and e["method"] in WRITES
                    and (e["path"] == path or e["path"].startswith(path + "/"))
                    and float(e["at"]) > at
                ),
                None,
            )
            if write is not None:
                latencies.append(float(write["at"]) - at)
                del pending[path]
        time.sleep(0.5)
    ms = [round(s * 1000, 1) for s in latencies]
    figures: dict[str, Any] = {"edits": len(edited), "writes_seen": len(ms), "missed": len(pending)}
    if pending:
        figures["missed_paths"] = sorted(pending)
    if ms:
        figures |= {
            "p50_ms": percentile(ms, 0.5),
            "p90_ms": percentile(ms, 0.9),
            "p99_ms": percentile(ms, 0.99),
            "max_ms": max(ms),
        }
    return figures


def pg_schema(url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = f"bench_latency_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return schema, f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def bench(store: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        data = Path(tmp)
        schema = None
        if store == "sqlite":
            url = f"sqlite:///{data / 'store.db'}"
        else:
            schema, url = pg_schema(args.pg_url)
        port = free_port()
        sandbox, info = start_sandbox(args.tickets, data, port)
        worker = None
        try:
            config = write_config(info, data, store_url=url, port=port)
            with (data / "run.log").open("w") as log:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "connector", "run", "--config", str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    cwd=args.worker_root,  # `-m connector` imports the package found there
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
                box = Sandbox(info)
                settle(box, port)
                figures = measure(box, args.edits, gap=args.gap, timeout=args.timeout)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)
            sandbox.terminate()
            sandbox.communicate(timeout=60)
            if schema is not None:
                drop_schema(args.pg_url, schema)
            if args.keep_log is not None:
                args.keep_log.write_text((data / "run.log").read_text())
        return {"store": store, "tickets": args.tickets, "gap_s": args.gap, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--tickets", type=int, default=100, help="seeded per system")
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.7, help="seconds between two edits")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument(
        "--worker-root",
        type=Path,
        default=ROOT,
        help="run the worker from this checkout (a baseline: an older version's tree)",
    )
    parser.add_argument("--keep-log", type=Path, help="copy the worker's log here")
    parser.add_argument("--pg-url", default=os.environ.get("CHANGE_CONNECTOR_BENCH_PG", PG_URL))
    args = parser.parse_args()
    for store in args.stores.split(","):
        print(json.dumps(bench(store.strip(), args)), flush=True)


if __name__ == "__main__":
    main()
