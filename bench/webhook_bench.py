"""Webhook intake benchmark: sustained signed deliveries per second and latency percentiles.

    .venv/bin/python bench/webhook_bench.py                       # 20,000 deliveries, SQLite
    .venv/bin/python bench/webhook_bench.py --count 5000 --connections 16
    .venv/bin/python bench/webhook_bench.py \\
        --store-url 'postgresql+psycopg://postgres@127.0.0.1:5432/test'

The intake app (connector.serve.webhooks.build_app) runs under uvicorn in a child process on a free
port of 127.0.0.1, exactly as `change-connector run` serves it, with a SQLite store in a temp
dir unless --store-url is given (PostgreSQL: a fresh schema, dropped at the end). The client is
this process: --connections keep-alive HTTP/1.1 connections on raw sockets (the cheapest
client pure Python has, so the figures measure the server, not the client), each sending its
share of pre-signed Jira and ServiceNow deliveries back to back. Every --dup-every-th delivery
repeats an earlier delivery id, so the duplicate path is exercised too.

Bounded by --count and --max-seconds (whichever comes first). Prints one JSON object:
deliveries/s, p50/p95/p99/max latency in ms, status counts, errors, and the inbox rows found
in the store afterwards (which must equal the accepted deliveries).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret"
JIRA_SOURCE = "bench-jira"
SNOW_SOURCE = "bench-servicenow"


# -- server (child process) -------------------------------------------------------------------


def serve(port: int, store_url: str) -> None:
    import uvicorn
    from pydantic import SecretStr

    from connector.serve.metrics import Metrics
    from connector.serve.webhooks import build_app, server_options
    from connector.settings import Settings, SourceSettings
    from connector.store import Store

    common: dict[str, Any] = {
        "url": "https://bench.invalid",
        "username": "bench",
        "token": SecretStr("x"),
        "mapping": Path("unused.toml"),
        "webhook_secret": SecretStr(SECRET),
    }
    settings = Settings(
        sources={
            JIRA_SOURCE: SourceSettings(kind="jira", **common),
            SNOW_SOURCE: SourceSettings(kind="servicenow", **common),
        }
    )
    store = Store.open(store_url)
    app = build_app(settings, store, Metrics())
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        **server_options(),
    )


# -- client -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def jira_body(n: int) -> bytes:
    reference = (
        ROOT.parent / "shared" / "reference" / "jira-webhooks" / "issue_updated__status.json"
    )
    if reference.exists():
        payload = json.loads(reference.read_text(encoding="utf-8"))
    else:
        payload = {"webhookEvent": "jira:issue_updated", "issue": {"fields": {}}}
    payload["issue"]["key"] = f"OPS-{n + 1}"  # issue numbers start at 1
    payload["timestamp"] = 1_700_000_000_000 + n
    return json.dumps(payload).encode()


def snow_body(n: int) -> bytes:
    payload = {
        "event": "change_request.updated",
        "table": "change_request",
        "sys_id": uuid.UUID(int=n).hex,
        "number": f"CHG{n:07d}",
        "sys_updated_on": "2026-01-01 10:00:00",
        "sys_updated_by": "alice",
        "sys_mod_count": "3",
        "changed_fields": ["state"],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def request_bytes(port: int, n: int, delivery: str) -> bytes:
    """One complete HTTP/1.1 request: Jira for even n, ServiceNow for odd n."""
    key = SECRET.encode()
    if n % 2 == 0:
        body = jira_body(n)
        mac = hmac.new(key, body, hashlib.sha256).hexdigest()
        path = f"/webhooks/jira/{JIRA_SOURCE}"
        signed = f"X-Hub-Signature: sha256={mac}\r\nX-Atlassian-Webhook-Identifier: {delivery}\r\n"
    else:
        body = snow_body(n)
        mac64 = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        path = f"/webhooks/servicenow/{SNOW_SOURCE}"
        signed = f"X-ServiceNow-Signature: {mac64}\r\nX-ServiceNow-Event-Id: {delivery}\r\n"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{signed}\r\n"
    )
    return head.encode() + body


class Connection:
    """A keep-alive HTTP/1.1 connection that reads just enough of each response."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def exchange(self, request: bytes) -> int:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return status

    def _fill(self) -> None:
        self.buffer += self._recv()

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


def run_client(
    port: int, requests: list[bytes], connections: int, max_seconds: float
) -> dict[str, Any]:
    shares = [requests[i::connections] for i in range(connections)]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    statuses: list[Counter[int]] = [Counter() for _ in range(connections)]
    errors: list[list[str]] = [[] for _ in range(connections)]
    start = threading.Barrier(connections + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        conn = Connection(port)
        start.wait()
        mine, lat, seen = shares[i], latencies[i], statuses[i]
        try:
            for request in mine:
                t0 = time.perf_counter()
                if t0 > deadline[0]:
                    break
                try:
                    status = conn.exchange(request)
                except OSError as exc:
                    errors[i].append(type(exc).__name__)
                    conn.close()
                    conn = Connection(port)
                    continue
                lat.append(time.perf_counter() - t0)
                seen[status] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + max_seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    merged = sorted(x for lat in latencies for x in lat)
    counts: Counter[int] = Counter()
    for c in statuses:
        counts.update(c)
    failures = [e for errs in errors for e in errs]
    non_202 = sum(v for k, v in counts.items() if k != 202)

    def pct(p: float) -> float:
        if not merged:
            return 0.0
        return round(merged[min(len(merged) - 1, int(p / 100 * len(merged)))] * 1000, 2)

    return {
        "sent": len(merged),
        "seconds": round(elapsed, 3),
        "deliveries_per_second": round(len(merged) / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {
            "p50": pct(50),
            "p95": pct(95),
            "p99": pct(99),
            "max": round(merged[-1] * 1000, 2) if merged else 0.0,
        },
        "statuses": {str(k): v for k, v in sorted(counts.items())},
        "errors": len(failures) + non_202,
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(port: int, child: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"the server exited with {child.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("the server did not start")


def inbox_rows(store_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM inbox")).scalar_one())
    finally:
        engine.dispose()


def pg_schema(base_url: str) -> tuple[str, str]:
    from urllib.parse import quote

    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base_url else "?"
    return schema, f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}"


def drop_schema(base_url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="deliveries to send")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="stop sending after")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--warmup", type=int, default=500, help="deliveries before timing")
    parser.add_argument("--dup-every", type=int, default=20, help="every n-th is a repeat")
    parser.add_argument("--store-url", help="SQLAlchemy URL (default: SQLite in a temp dir)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.store_url)
        return

    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp:
        schema = None
        if args.store_url:
            schema, store_url = pg_schema(args.store_url)
            backend = "postgresql"
        else:
            store_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            backend = "sqlite"
        port = free_port()
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--port", str(port), "--store-url", store_url]
        )
        try:
            wait_ready(port, child)
            total = args.warmup + args.count
            ids = [uuid.uuid4().hex for _ in range(total)]
            requests = []
            for n in range(total):
                repeat = args.dup_every and n >= args.warmup and n % args.dup_every == 0
                delivery = ids[n - 2] if repeat else ids[n]  # same parity: same system
                requests.append(request_bytes(port, n, delivery))
            if args.warmup:
                run_client(port, requests[: args.warmup], 2, 30.0)
            cpu_before = cpu_seconds(child.pid)
            result = run_client(port, requests[args.warmup :], args.connections, args.max_seconds)
            cpu_after = cpu_seconds(child.pid)
            if cpu_before is not None and cpu_after is not None:
                busy = (cpu_after - cpu_before) / result["seconds"]
                result["server_cpu_percent"] = round(100 * busy, 1)
        finally:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        rows = inbox_rows(store_url)
        if schema is not None:
            drop_schema(args.store_url, schema)
    report = {
        "backend": backend,
        "connections": args.connections,
        "cpus": os.cpu_count(),
        **result,
        "inbox_rows": rows,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
