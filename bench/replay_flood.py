"""Replays and floods against the webhook intake: how much a captured delivery can store.

    .venv/bin/python bench/replay_flood.py                         # SQLite in a temp dir
    .venv/bin/python bench/replay_flood.py --store-url 'postgresql+psycopg://postgres@127.0.0.1:5432/test'

The intake app (connector.serve.webhooks.build_app) runs under uvicorn in a thread on a free port,
with a SQLite store in a temp dir unless --store-url is given (PostgreSQL: a fresh schema,
dropped at the end). Two runs, each printed as one JSON object:

1. replay: one signed Jira delivery of about 1 MB, sent --replays times, each time under a new
   delivery id (the id is not covered by the signature): statuses, inbox rows, and how much the
   store grew (SQLite: the database and WAL files; PostgreSQL: the inbox table with its indexes
   and TOAST).
2. flood: --captured signed bodies each replayed --per-body times under new ids, mixed with
   --distinct new signed bodies, against an inbox capped at --max-pending pending rows:
   statuses, and the pending rows at the end (never more than the cap).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import uvicorn  # noqa: E402
from loguru import logger  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from connector.serve.metrics import Metrics  # noqa: E402
from connector.serve.webhooks import build_app, server_options  # noqa: E402
from connector.settings import ServerSettings, Settings, SourceSettings  # noqa: E402
from connector.store import Store  # noqa: E402

SECRET = "bench-replay-secret"
PATH = "/webhooks/jira/bench-jira"


def settings(max_pending: int) -> Settings:
    source = SourceSettings(
        kind="jira",
        url="https://jira.example",
        username="bench",
        token=SecretStr("t"),
        mapping=Path("unused.toml"),
        webhook_secret=SecretStr(SECRET),
    )
    server = ServerSettings(max_body_bytes=1_100_000, max_pending=max_pending)
    return Settings(server=server, sources={"bench-jira": source})


def headers(body: bytes) -> dict[str, str]:
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature": f"sha256={mac}",
        "X-Atlassian-Webhook-Identifier": uuid.uuid4().hex,  # a new id on every send
        "Content-Type": "application/json",
    }


def body(n: int, pad: int = 0) -> bytes:
    payload: dict[str, Any] = {
        "webhookEvent": "jira:issue_updated",
        "timestamp": 1_700_000_000_000 + n,
        "issue": {"key": f"OPS-{n + 1}", "fields": {"summary": "x"}},
    }
    if pad:
        payload["pad"] = "x" * pad
    return json.dumps(payload).encode()


class Intake:
    """The intake app under uvicorn in a thread, on a store of its own."""

    def __init__(self, store_url: str, max_pending: int) -> None:
        self.store = Store.open(store_url)
        app = build_app(settings(max_pending), self.store, Metrics())
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, **server_options())
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        self.session = requests.Session()

    def send(self, data: bytes) -> str:
        """The answer: "202 accepted", "202 duplicate", "429", ..."""
        answer = self.session.post(self.url + PATH, data=data, headers=headers(data), timeout=30)
        if answer.status_code == 202:
            return f"202 {answer.json()['status']}"
        return str(answer.status_code)

    def close(self) -> None:
        self.session.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.store.close()


def inbox(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = int(conn.execute(text("SELECT count(*) FROM inbox")).scalar_one())
            query = "SELECT count(*) FROM inbox WHERE state = 'pending'"
            pending = int(conn.execute(text(query)).scalar_one())
            size = None
            if engine.dialect.name == "postgresql":
                query = "SELECT pg_total_relation_size('inbox')"
                size = int(conn.execute(text(query)).scalar_one())
        return {"rows": rows, "pending": pending, **({"inbox_bytes": size} if size else {})}
    finally:
        engine.dispose()


def sqlite_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*.db*"))


def replay(url: str, directory: Path | None, count: int) -> dict[str, Any]:
    intake = Intake(url, max_pending=100_000)
    try:
        big = body(0, pad=1_000_000)
        before = inbox(url) | ({"db_bytes": sqlite_bytes(directory)} if directory else {})
        started = time.perf_counter()
        statuses = Counter(intake.send(big) for _ in range(count))
        elapsed = time.perf_counter() - started
        after = inbox(url) | ({"db_bytes": sqlite_bytes(directory)} if directory else {})
    finally:
        intake.close()
    grown = {f"{k}_grown": after[k] - before[k] for k in ("db_bytes", "inbox_bytes") if k in after}
    return {
        "run": "replay",
        "body_bytes": len(big),
        "sends": count,
        "statuses": dict(statuses),
        "rows": after["rows"],
        **grown,
        "seconds": round(elapsed, 2),
    }


def flood(url: str, *, captured: int, per_body: int, distinct: int, cap: int) -> dict[str, Any]:
    intake = Intake(url, max_pending=cap)
    try:
        sends = [body(n) for n in range(captured) for _ in range(per_body)]
        sends += [body(captured + n) for n in range(distinct)]
        statuses: Counter[str] = Counter()
        started = time.perf_counter()
        for data in sends:
            statuses[intake.send(data)] += 1
        elapsed = time.perf_counter() - started
        counts = inbox(url)
    finally:
        intake.close()
    return {
        "run": "flood",
        "sends": len(sends),
        "captured_bodies": captured,
        "replays_each": per_body,
        "distinct_bodies": distinct,
        "max_pending": cap,
        "statuses": dict(statuses),
        "inbox_rows": counts["rows"],
        "pending": counts["pending"],
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store-url", help="PostgreSQL URL (default: SQLite in a temp dir)")
    parser.add_argument("--replays", type=int, default=100)
    parser.add_argument("--captured", type=int, default=20)
    parser.add_argument("--per-body", type=int, default=50)
    parser.add_argument("--distinct", type=int, default=1500)
    parser.add_argument("--max-pending", type=int, default=1000)
    args = parser.parse_args()
    logger.remove()  # the figures only
    with tempfile.TemporaryDirectory() as tmp:
        for run in ("replay", "flood"):
            url, directory, schema = args.store_url, None, None
            if url is None:
                directory = Path(tmp) / run
                url = Store.default_url(directory)
            else:
                schema = f"bench_{run}_{uuid.uuid4().hex[:8]}"
                admin = create_engine(url)
                with admin.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                sep = "&" if "?" in url else "?"
                url = f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
            try:
                if run == "replay":
                    result = replay(url, directory, args.replays)
                else:
                    result = flood(
                        url,
                        captured=args.captured,
                        per_body=args.per_body,
                        distinct=args.distinct,
                        cap=args.max_pending,
                    )
                print(json.dumps({"store": "postgresql" if schema else "sqlite", **result}))
            finally:
                if schema is not None:
                    with admin.begin() as conn:
                        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                    admin.dispose()


if __name__ == "__main__":
    main()
