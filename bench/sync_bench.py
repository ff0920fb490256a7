"""Sync benchmark: a full sync of N sandbox tickets, then re-syncs, with figures as JSON.

    .venv/bin/python bench/sync_bench.py                      # 10,000 Jira tickets
    .venv/bin/python bench/sync_bench.py --tickets 1000 --rss-compare 100000
    .venv/bin/python bench/sync_bench.py --faults '429:rate=0.1,retry_after=0.05;503:rate=0.05'
    .venv/bin/python bench/sync_bench.py --read-path --tickets 2000   # one cycle, no writes

The sandbox runs in its own process (it holds every ticket in memory) and so does each worker
(`change-connector sync --once`), so the worker's peak RSS is its own. Reported per run: wall
time, tickets/s, the worker's peak RSS, and the API calls by endpoint split into read calls and
write-path calls (a findings note costs one marker check and one write). Runs: the full sync;
a re-sync, once the look-back has passed, that absorbs the echo of the worker's own notes
(reads them, writes nothing); a re-sync with no change at all. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def start_sandbox(
    tickets: int, faults: str, data: Path
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
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
            "--faults",
            faults,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def write_config(
    info: dict[str, Any], data: Path, *, page_size: int, systems: list[str], lookback: float
) -> Path:
    user = info["users"]["connector"]
    sections = {
        "jira": ("sandbox-jira", "jira", info["jira_url"], user["jira_user"], "jira-default"),
        "servicenow": (
            "sandbox-servicenow",
            "servicenow",
            info["servicenow_url"],
            user["servicenow_user"],
            "servicenow-default",
        ),
    }
    text = f'data_dir = "{data}"\n[worker]\nlease_seconds = 60\n'
    for system in systems:
        name, kind, url, username, mapping = sections[system]
        text += (
            f'[sources.{name}]\nkind = "{kind}"\nurl = "{url}"\nusername = "{username}"\n'
            f'token = "{user["token"]}"\nmapping = "{ROOT / "mappings" / mapping}.toml"\n'
            f'ca_bundle = "{info["ca_bundle"]}"\npage_size = {page_size}\n'
            "retry_base_seconds = 0.05\n"
            f"lookback_minutes = {lookback}\n"
        )
    path = data / "bench.toml"
    path.write_text(text)
    return path


def run_worker(config: Path) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "sync", "--once", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({proc.returncode}): {err[-500:]}")
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": usage.ru_maxrss / 1024}


def read_path_worker(config: Path) -> None:
    """In a child process: one poll cycle per source that normalizes, evaluates, plans and
    stores every ticket but applies nothing (no executor); prints its figures as JSON."""
    from connector.serve.worker import Worker
    from connector.settings import load_settings
    from connector.store import Store
    from connector.sync.poller import poll

    settings = load_settings(config)
    store = Store.open(Store.default_url(settings.data_dir))
    worker = Worker(settings, store).open()
    out: dict[str, Any] = {}
    try:
        for name, runtime in worker.runtimes.items():
            started = time.perf_counter()
            stats = poll(runtime, pipeline=runtime.pipeline(), executor=None)
            out[name] = {
                "seconds": round(time.perf_counter() - started, 2),
                "seen": stats.seen,
                "planned": stats.planned,
                "planned_per_ticket": round(stats.planned / max(stats.seen, 1), 2),
            }
    finally:
        worker.close()
        store.close()
    print(json.dumps(out))


def read_path(tickets: int, *, page_size: int, systems: list[str]) -> dict[str, Any]:
    """The read path: one cycle that normalizes, evaluates and stores every ticket, writes
    nothing back; its wall time, tickets/s and planned actions a ticket, per source."""
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        data = Path(tmp)
        sandbox, info = start_sandbox(tickets, "", data)
        try:
            config = write_config(info, data, page_size=page_size, systems=systems, lookback=0.1)
            proc = subprocess.run(
                [sys.executable, __file__, "--read-path-worker", str(config)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=False,
            )
            if proc.returncode != 0:
                raise SystemExit(f"worker failed ({proc.returncode}): {proc.stderr[-500:]}")
            figures: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
            for item in figures.values():
                item["tickets_per_second"] = round(item["seen"] / item["seconds"], 1)
            return {"tickets_per_system": tickets, "page_size": page_size, "read_path": figures}
        finally:
            sandbox.terminate()
            sandbox.communicate(timeout=60)


def cursors(data: Path) -> dict[str, str]:
    from connector.store import Store

    store = Store.open(Store.default_url(data))
    try:
        return store.cursors()
    finally:
        store.close()


def calls(info: dict[str, Any]) -> dict[str, Any]:
    log = requests.get(info["requests_url"], verify=info["ca_bundle"], timeout=60).json()
    requests.delete(info["requests_url"], verify=info["ca_bundle"], timeout=60)
    entries = [r for r in log["requests"] if r["user"] == "connector"]
    search = sum(
        "/search" in r["path"] or r["path"].endswith("/table/change_request")
        for r in entries
        if r["method"] == "GET"
    )
    writes = sum(r["method"] in WRITES and "/search" not in r["path"] for r in entries)
    by_status = Counter(str(r["status"]) for r in entries)
    return {
        "total": len(entries),
        "search_pages": search,
        "writes": writes,
        "by_endpoint": {k: v for k, v in log["counts"].items() if not k.endswith("requests")},
        "by_status": dict(by_status),
    }


def bench(
    tickets: int, *, faults: str, page_size: int, systems: list[str], lookback: float = 0.1
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        data = Path(tmp)
        sandbox, info = start_sandbox(tickets, faults, data)
        try:
            config = write_config(
                info, data, page_size=page_size, systems=systems, lookback=lookback
            )
            calls(info)  # reset the log
            out: dict[str, Any] = {
                "tickets_per_system": tickets,
                "systems": systems,
                "page_size": page_size,
                "faults": faults,
                "expected_search_pages_per_system": math.ceil(tickets / page_size),
            }
            out["lookback_minutes"] = lookback
            for run in ("full_sync", "echo_resync", "no_change_resync"):
                if run == "echo_resync":
                    # The look-back, plus a minute of JQL's minute precision, has passed the
                    # last write of the full sync.
                    time.sleep(lookback * 60 + 61)
                figures = run_worker(config)
                figures["tickets_per_second"] = (
                    round(tickets * len(systems) / figures["seconds"], 1)
                    if run == "full_sync"
                    else None
                )
                figures["calls"] = calls(info)
                figures["cursors"] = cursors(data)
                out[run] = figures
            return out
        finally:
            sandbox.terminate()
            sandbox.communicate(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--systems", default="jira", help="jira, servicenow or jira,servicenow")
    parser.add_argument("--faults", default="")
    parser.add_argument(
        "--rss-compare",
        type=int,
        default=0,
        help="also run this many tickets and compare the worker's peak RSS",
    )
    parser.add_argument(
        "--read-path", action="store_true", help="only one cycle that applies nothing"
    )
    parser.add_argument("--read-path-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    systems = args.systems.split(",")
    if args.read_path_worker:
        read_path_worker(args.read_path_worker)
        return
    if args.read_path:
        figures = read_path(args.tickets, page_size=args.page_size, systems=systems)
        print(json.dumps(figures, indent=2))
        return
    result: dict[str, Any] = {
        "run": bench(args.tickets, faults=args.faults, page_size=args.page_size, systems=systems)
    }
    if args.rss_compare:
        big = bench(args.rss_compare, faults="", page_size=args.page_size, systems=systems)
        result["rss_compare"] = big
        small_rss = result["run"]["full_sync"]["peak_rss_mb"]
        result["rss_ratio"] = round(big["full_sync"]["peak_rss_mb"] / small_rss, 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
