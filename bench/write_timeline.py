"""Where a full sync's wall time goes with writes side by side, from the sandbox's request log.

    .venv/bin/python bench/write_timeline.py --tickets 1000 --latency 100 --write-concurrency 4

Runs one sandbox (Jira, `--latency` ms on every call) and one `change-connector sync --once`
worker, then reads the sandbox's log of the worker's calls (each request's arrival and the start
of its answer) and prints, as JSON: the wall time; how long 0, 1, ... calls were in flight at
once (from the first call to the last answer); the phases (runs of search pages, of writes);
how long the sandbox held a write (its latency included); and, between two writes on one
ticket, how long the worker took from the first's answer to the second's request (claiming,
recording and auditing one action, building the next request). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_bench import is_write, run_worker, start_sandbox, with_latency, write_config

ISSUE = re.compile(r"/rest/api/\d+/issue/([^/?]+)")


def kind(call: dict[str, Any]) -> str:
    if "/search" in call["path"]:
        return "search"
    return "write" if is_write(call) else "read"


def in_flight(calls: list[dict[str, Any]]) -> dict[int, float]:
    """Seconds spent with each number of calls in flight, first call to last answer."""
    events = sorted([(c["started"], 1) for c in calls] + [(c["at"], -1) for c in calls])
    seconds: dict[int, float] = {}
    now, previous = 0, events[0][0]
    for at, step in events:
        seconds[now] = seconds.get(now, 0.0) + at - previous
        previous, now = at, now + step
    return {k: round(v, 1) for k, v in sorted(seconds.items())}


def phases(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of calls of one kind, in order of arrival: when, how long, how many."""
    runs: list[dict[str, Any]] = []
    first = calls[0]["started"]
    for call in calls:
        what = kind(call)
        if runs and runs[-1]["kind"] == what:
            runs[-1]["end"], runs[-1]["calls"] = call["at"], runs[-1]["calls"] + 1
        else:
            runs.append({"kind": what, "start": call["started"], "end": call["at"], "calls": 1})
    return [
        {
            "kind": r["kind"],
            "from_s": round(r["start"] - first, 1),
            "seconds": round(r["end"] - r["start"], 1),
            "calls": r["calls"],
        }
        for r in runs
        if r["calls"] > 20 or r["kind"] == "search"
    ]


def quantiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}
    at = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
    return {name: round(values[int(q * (len(values) - 1))], 1) for name, q in at.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=100, metavar="MS")
    parser.add_argument("--write-concurrency", type=int, default=4, metavar="N")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="write-timeline-"))
    sandbox, info = start_sandbox(args.tickets, with_latency("", args.latency), data)
    try:
        config = write_config(
            info,
            data,
            page_size=100,
            systems=["jira"],
            lookback=0.0,
            write_concurrency=args.write_concurrency,
        )
        started = time.time()
        worker = run_worker(config)
        log = requests.get(info["requests_url"], verify=info["ca_bundle"], timeout=60).json()
    finally:
        sandbox.terminate()
        sandbox.wait()
        shutil.rmtree(data, ignore_errors=True)
    calls = sorted(
        (c for c in log["requests"] if c["system"] == "jira" and c["user"] in ("connector", None)),
        key=lambda c: c["started"],
    )
    writes = [c for c in calls if kind(c) == "write"]
    held = [(c["at"] - c["started"]) * 1000 for c in writes]
    by_issue: dict[str, list[dict[str, Any]]] = {}
    for call in writes:
        if (found := ISSUE.search(call["path"])) is not None:
            by_issue.setdefault(found.group(1), []).append(call)
    between = [
        (later["started"] - earlier["at"]) * 1000
        for its in by_issue.values()
        for earlier, later in itertools.pairwise(its)
    ]
    print(
        json.dumps(
            {
                "tickets": args.tickets,
                "latency_ms": args.latency,
                "write_concurrency": args.write_concurrency,
                "worker": worker,
                "to_first_call_s": round(calls[0]["started"] - started, 1),
                "calls": len(calls),
                "writes": len(writes),
                "seconds_with_n_in_flight": in_flight(calls),
                "phases": phases(calls),
                "sandbox_ms_per_write": quantiles(held),
                "worker_ms_between_writes_on_one_ticket": quantiles(between),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
