"""Deployment gate benchmark: latency percentiles of `POST /gates` under concurrent requests.

    .venv/bin/python bench/gate_bench.py                      # 200 concurrent, 20 changes
    .venv/bin/python bench/gate_bench.py --changes 2000       # every question a new one

The worker's app (connector.serve.webhooks.build_app, which carries the gate routes) runs under
uvicorn in a child process on a free port of 127.0.0.1, exactly as `change-connector run` serves
it, over a SQLite store in a temp dir seeded with --changes approved changes (each on its own
service, inside its planned window, one approval) plus their approval bases and windows, as the
worker stores them. The client is this process: --concurrency keep-alive connections on one
asyncio loop; each of --rounds rounds writes one request on every connection at once and waits
for all the answers, so every round is a burst of that many requests in flight together. Each
asks about a random one of the stored changes (a quarter without a key, found by service): with
few changes most answers are shared or reused (the server's answer cache), as when the jobs of a
few releases ask together; with many, almost every one is a new decision. Prints one
JSON object: requests, p50/p95/p99/max latency in ms over all rounds, the verdicts counted
(every one must be "allow"), errors, and the server's CPU share.

Target (issue 16): p99 <= 50 ms at 200 concurrent requests on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from webhook_bench import cpu_seconds, free_port, wait_ready  # noqa: E402

TOKEN = "bench-gate-token-0123456789"
SOURCE = "bench-jira"


def settings(store_url: str) -> Any:
    from connector.core.deploy import DeploySettings
    from connector.settings import ServerSettings, Settings

    return Settings(
        store_url=store_url,
        server=ServerSettings(insecure_unsigned_webhooks=True),
        deploy=DeploySettings(gated_environments=("production",), gate_token=TOKEN),
    )


def seed(store_url: str, count: int) -> None:
    """`count` approved changes in their window, stored as the pipeline stores them."""
    from connector.core.model import (
        Approval,
        Change,
        ChangeType,
        Decision,
        Person,
        SecurityImpact,
        SecurityLevel,
        Source,
        Status,
        SystemKind,
    )
    from connector.core.policy import Context
    from connector.core.policy.facts import covered_fields, facts
    from connector.store import Store

    now = datetime.now(UTC).replace(microsecond=0)
    store = Store.open(store_url)
    with store.transaction() as tx:
        for n in range(count):
            change = Change(
                source=Source(instance=SOURCE, kind=SystemKind.JIRA_CLOUD),
                key=f"OPS-{n + 1}",
                native_id=str(10000 + n),
                change_type=ChangeType.NORMAL,
                affected_systems=(f"service-{n}",),
                rollback_plan="Redeploy the previous build.",
                security=SecurityImpact(level=SecurityLevel.NONE),
                planned_start=now - timedelta(hours=1),
                planned_end=now + timedelta(days=2),
                requester=Person(id="u-alice", name="Alice"),
                approvals=(
                    Approval(
                        approver=Person(id="u-carol", name="Carol"),
                        decision=Decision.APPROVED,
                        decided_at=now - timedelta(hours=2),
                    ),
                ),
                status=Status.SCHEDULED,
                created=now - timedelta(days=3),
                updated=now - timedelta(hours=2),
            )
            tx.upsert_change(
                source=SOURCE,
                change_key=change.key,
                native_id=change.native_id,
                fingerprint=change.fingerprint(),
                updated=change.updated,
                data=change.to_json(),
            )
            assert change.planned_start is not None and change.planned_end is not None
            tx.set_windows(
                source=SOURCE,
                change_key=change.key,
                windows=[
                    (s, change.planned_start, change.planned_end, True)
                    for s in change.affected_systems
                ],
            )
            digest = facts(change, Context(now=now)).approvals.digest
            tx.record_basis(
                source=SOURCE,
                change_key=change.key,
                approvals_digest=digest,
                covered=json.dumps(covered_fields(change)),
                recorded_at=now - timedelta(hours=2),
            )
    store.close()


def serve(port: int, store_url: str) -> None:
    import uvicorn

    from connector.serve.metrics import Metrics
    from connector.serve.webhooks import build_app, server_options
    from connector.store import Store

    store = Store.open(store_url)
    app = build_app(settings(store_url), store, Metrics())
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        **server_options(),
    )


def request_bytes(port: int, n: int, *, keyed: bool) -> bytes:
    body: dict[str, str] = {
        "env": "production",
        "service": f"service-{n}",
        "commit": "0a1b2c3d4e5f",
    }
    if keyed:
        body["change"] = f"OPS-{n + 1}"
    data = json.dumps(body).encode()
    head = (
        f"POST /gates HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _ask(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    elapsed = time.perf_counter() - t0
    verdict = json.loads(body).get("verdict", "?") if status == 200 else f"http {status}"
    return elapsed, status, str(verdict)


async def _bursts(port: int, plans: list[list[bytes]]) -> tuple[list[float], Counter[str], int]:
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in plans]
    latencies: list[float] = []
    verdicts: Counter[str] = Counter()
    errors = 0
    try:
        for n in range(len(plans[0])):
            # One round: every connection's request in flight at once.
            results = await asyncio.gather(
                *(_ask(r, w, plan[n]) for (r, w), plan in zip(conns, plans, strict=True)),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    errors += 1
                    continue
                elapsed, status, verdict = result
                latencies.append(elapsed)
                verdicts[verdict] += 1
                errors += status != 200
    finally:
        for _, w in conns:
            w.close()
    return latencies, verdicts, errors


def burst(
    port: int, concurrency: int, rounds: int, changes: int, rng: random.Random
) -> dict[str, Any]:
    plans = [
        [
            request_bytes(port, n, keyed=rng.random() >= 0.25)
            for n in rng.choices(range(changes), k=rounds)
        ]
        for _ in range(concurrency)
    ]
    began = time.perf_counter()
    latencies, verdicts, errors = asyncio.run(_bursts(port, plans))
    elapsed = time.perf_counter() - began
    merged = sorted(latencies)

    def pct(p: float) -> float:
        return round(merged[min(len(merged) - 1, int(p / 100 * len(merged)))] * 1000, 2)

    return {
        "requests": len(merged),
        "seconds": round(elapsed, 3),
        "latency_ms": {
            "p50": pct(50),
            "p95": pct(95),
            "p99": pct(99),
            "max": round(merged[-1] * 1000, 2),
        },
        "verdicts": dict(verdicts),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=200, help="requests in flight at once")
    parser.add_argument("--rounds", type=int, default=10, help="bursts to time")
    parser.add_argument("--changes", type=int, default=20, help="stored changes asked about")
    parser.add_argument("--warmup", type=int, default=2, help="bursts before timing")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.store_url)
        return
    rng = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        seed(store_url, args.changes)
        port = free_port()
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--port", str(port), "--store-url", store_url]
        )
        try:
            wait_ready(port, child)
            if args.warmup:
                burst(port, args.concurrency, args.warmup, args.changes, rng)
            cpu_before = cpu_seconds(child.pid)
            result = burst(port, args.concurrency, args.rounds, args.changes, rng)
            cpu_after = cpu_seconds(child.pid)
            if cpu_before is not None and cpu_after is not None:
                result["server_cpu_percent"] = round(
                    100 * (cpu_after - cpu_before) / result["seconds"], 1
                )
        finally:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    report = {
        "backend": "sqlite",
        "concurrency": args.concurrency,
        "changes": args.changes,
        "cpus": os.cpu_count(),
        **result,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
