"""Sync benchmark: a full sync of N sandbox tickets, then re-syncs, with figures as JSON.

    .venv/bin/python bench/sync_bench.py                      # 10,000 Jira tickets
    .venv/bin/python bench/sync_bench.py --tickets 1000 --rss-compare 100000
    .venv/bin/python bench/sync_bench.py --faults '429:rate=0.1,retry_after=0.05;503:rate=0.05'
    .venv/bin/python bench/sync_bench.py --tickets 2000 --latency 100
    .venv/bin/python bench/sync_bench.py --tickets 2000 --compare-tap-jira --rounds 3
    .venv/bin/python bench/sync_bench.py --scaling 1000,10000,50000
    .venv/bin/python bench/sync_bench.py --read-path --tickets 2000   # one cycle, no writes

The sandbox runs in its own process (it holds every ticket in memory) and so does each worker
(`change-connector sync --once`), so the worker's peak RSS (its VmHWM, read while it runs) is
its own. Reported per run: wall time, tickets/s, the worker's peak RSS, and the API calls by
endpoint split into read calls and write-path calls (a findings note costs one marker check and
one write). Runs: the full sync; a re-sync, once the look-back has passed, that absorbs the
echo of the worker's own notes (reads them, writes nothing); a re-sync with no change at all.
Beside each run's calls, per system: the floor computed from the plan, i.e. the search pages
its tickets need (ceil(tickets seen / page size), at least one) plus the calls of the distinct
writes the ledger gained (one per ticket and purpose: a note, a transition, a label, a
transition one call a step; chat posts are not calls to the source): `sync_floor.py`.

`--latency MS` adds the sandbox's slow fault to every Jira and ServiceNow call (after any
`--faults` rule, so a call another rule answers is answered at once).

The read path (`--compare-tap-jira`, `--scaling`) is one `sync --once` of sources in observe mode
(`mode = "observe"`): every ticket read, normalized, evaluated and stored, nothing written back,
on a fresh store each time. `--compare-tap-jira` runs it and singer-io's tap-jira 2.6.0
(bench/tap_jira_peer.py: the issues stream only) on the same sandbox, alternating for
`--rounds`, and prints both tools' tickets/s and the ratio. `--scaling 1000,10000,50000` prints
seconds and µs per ticket of the read path per size (one sandbox per size).
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tap_jira_peer  # noqa: E402
from sync_floor import floor, plan_state  # noqa: E402

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Reads Jira takes as a POST: searches, comments by id, issues by id or key.
POSTED_READS = ("/search", "/search/jql", "/comment/list", "/issue/bulkfetch")
LATENCY_HELP = "answer every Jira and ServiceNow call this many ms late (the slow fault)"
COMPARE_HELP = "compare the read path (observe mode) with tap-jira 2.6.0 on the same sandbox"
SCALING_HELP = "the read path's seconds and µs per ticket at each of these sizes"


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


def with_latency(faults: str, latency_ms: float) -> str:
    """The fault spec plus a slow fault on every call (last: other rules keep their calls)."""
    if latency_ms <= 0:
        return faults
    slow = f"slow:rate=1,delay={latency_ms / 1000:g}"
    return f"{faults};{slow}" if faults.strip() else slow


def write_config(
    info: dict[str, Any],
    data: Path,
    *,
    page_size: int,
    systems: list[str],
    lookback: float,
    mode: str = "enforce",
    write_concurrency: int | None = None,
    settings: Sequence[str] = (),
) -> Path:
    """The worker's config for the sandbox's sources; `settings`: "key = value" lines more
    for each source (`--source-setting`)."""
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
            f'mode = "{mode}"\n'
        )
        if write_concurrency is not None:
            text += f"write_concurrency = {write_concurrency}\n"
        text += "".join(f"{line}\n" for line in settings)
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
    peak_kb = helpers_kb = 0  # helpers: the processes the worker runs (a second one evaluating)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak_kb = max(peak_kb, high_water_kb(proc.pid))
        helpers_kb = max(helpers_kb, sum(rss_kb(child) for child in children(proc.pid)))
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({proc.returncode}): {err[-500:]}")
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_kb / 1024,
        # the processes the worker runs beside it, together at their largest (sampled), not in
        # `peak_rss_mb`
        "helpers_peak_rss_mb": round(helpers_kb / 1024, 1),
        # the worker's CPU time (user + system), with the processes it started and waited for:
        # against `seconds`, whether it waited or worked
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
    }


def rss_kb(pid: int) -> int:
    """A running process's RSS now (Linux: VmRSS, kB; 0 once it is gone)."""
    return _status_kb(pid, "VmRSS:")


def high_water_kb(pid: int) -> int:
    """A running process's own peak RSS so far (Linux: VmHWM, kB; 0 once it is gone).

    Not the `ru_maxrss` wait4 reports: Linux carries the parent's peak over into a child's at
    exec, so a worker started by this process after it read a large request log would report
    this process's size. Read every 50 ms while the worker runs, the last reading is its peak
    up to then (a worker's memory does not grow as it exits)."""
    return _status_kb(pid, "VmHWM:")


def _status_kb(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """The processes a running process started (Linux /proc; none once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    result = summarize(entries)
    result["by_endpoint"] = {k: v for k, v in log["counts"].items() if not k.endswith("requests")}
    result["by_system"] = {
        system: summarize([r for r in entries if r["system"] == system])
        for system in sorted({r["system"] for r in entries})
    }
    return result


def is_write(entry: dict[str, Any]) -> bool:
    """Whether a logged call wrote (a POST that reads is no write)."""
    return entry["method"] in WRITES and not entry["path"].endswith(POSTED_READS)


def summarize(entries: list[dict[str, Any]]) -> dict[str, Any]:
    search = sum(
        "/search" in r["path"] or r["path"].endswith("/table/change_request")
        for r in entries
        if r["method"] == "GET"
    )
    writes = sum(is_write(r) for r in entries)
    by_status = Counter(str(r["status"]) for r in entries)
    return {
        "total": len(entries),
        "search_pages": search,
        "writes": writes,
        "by_status": dict(by_status),
    }


def bench(
    tickets: int,
    *,
    faults: str,
    page_size: int,
    systems: list[str],
    lookback: float = 0.1,
    write_concurrency: int | None = None,
    full_only: bool = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        data = Path(tmp)
        sandbox, info = start_sandbox(tickets, faults, data)
        try:
            config = write_config(
                info,
                data,
                page_size=page_size,
                systems=systems,
                lookback=lookback,
                write_concurrency=write_concurrency,
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
            out["write_concurrency"] = write_concurrency or "default"
            runs = ("full_sync",) if full_only else ("full_sync", "echo_resync", "no_change_resync")
            for run in runs:
                if run == "echo_resync":
                    # The look-back, plus a minute of JQL's minute precision, has passed the
                    # last write of the full sync.
                    time.sleep(lookback * 60 + 61)
                before = plan_state(data) if run != "full_sync" else ({}, {})
                sandbox_cpu = cpu_seconds(sandbox.pid)
                figures = run_worker(config)
                figures["sandbox_cpu_seconds"] = round(cpu_seconds(sandbox.pid) - sandbox_cpu, 2)
                figures["tickets_per_second"] = (
                    round(tickets * len(systems) / figures["seconds"], 1)
                    if run == "full_sync"
                    else None
                )
                figures["calls"] = calls(info)
                figures["floor"] = floor(
                    before,
                    plan_state(data),
                    page_size=page_size,
                    made=figures["calls"]["by_system"],
                )
                figures["cursors"] = cursors(data)
                out[run] = figures
            return out
        finally:
            sandbox.terminate()
            sandbox.communicate(timeout=60)


class ReadPath:
    """change-connector's read path on one sandbox: observe-mode `sync --once`, fresh store."""

    def __init__(
        self, info: dict[str, Any], work: Path, *, page_size: int, settings: Sequence[str] = ()
    ) -> None:
        self.info, self.work, self.page_size, self.settings = info, work, page_size, settings
        self.runs = 0

    def run(self) -> dict[str, Any]:
        self.runs += 1
        data = self.work / f"read-{self.runs}"
        data.mkdir(parents=True)
        config = write_config(
            self.info,
            data,
            page_size=self.page_size,
            systems=["jira"],
            lookback=0.1,
            mode="observe",
            settings=self.settings,
        )
        calls(self.info)  # reset the log
        figures: dict[str, Any] = run_worker(config)
        made = calls(self.info)
        planned, seen = plan_state(data)
        figures.update(
            tickets_stored=sum(seen.values()),
            calls=made["total"],
            writes=made["writes"],
            ledger_writes=len(planned),  # observe mode: none
        )
        shutil.rmtree(data)
        return figures


def compare_tap_jira(
    tickets: int,
    *,
    rounds: int,
    faults: str,
    page_size: int,
    tap_venv: Path,
    settings: Sequence[str] = (),
) -> dict[str, Any]:
    """Both tools' read path on one Jira sandbox, alternating (who goes first alternates too)."""
    exe = tap_jira_peer.install(tap_venv)
    with tempfile.TemporaryDirectory(prefix="sync-bench-tap-") as tmp:
        work = Path(tmp)
        sandbox, info = start_sandbox(tickets, faults, work)
        try:
            ours = ReadPath(info, work, page_size=page_size, settings=settings)
            peer = tap_jira_peer.TapJira(exe, info, work / "tap-jira")
            rows: list[dict[str, Any]] = []
            for number in range(rounds):
                tools = [("change_connector", ours.run), ("tap_jira", peer.run)]
                row: dict[str, Any] = {"round": number + 1, "first": tools[number % 2][0]}
                for name, run in tools[number % 2 :] + tools[: number % 2]:
                    calls(info)  # reset the log
                    figures = run()
                    if "calls" not in figures:  # the peer's: the log since the reset
                        figures["calls"] = calls(info)["total"]
                    figures["tickets_per_second"] = round(tickets / figures["seconds"], 1)
                    row[name] = figures
                row["ratio"] = round(
                    row["change_connector"]["tickets_per_second"]
                    / row["tap_jira"]["tickets_per_second"],
                    3,
                )
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
        finally:
            sandbox.terminate()
            sandbox.communicate(timeout=60)
    return {
        "tickets": tickets,
        "faults": faults,
        "peer": f"tap-jira {tap_jira_peer.VERSION} (issues stream only)",
        "rounds": rows,
        "ratio_range": [min(r["ratio"] for r in rows), max(r["ratio"] for r in rows)],
    }


def scaling(sizes: list[int], *, faults: str, page_size: int) -> list[dict[str, Any]]:
    """The read path's seconds and µs per ticket at each size (a sandbox of its own each)."""
    table = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="sync-bench-scale-") as tmp:
            sandbox, info = start_sandbox(size, faults, Path(tmp))
            try:
                figures = ReadPath(info, Path(tmp), page_size=page_size).run()
            finally:
                sandbox.terminate()
                sandbox.communicate(timeout=60)
        row = {
            "tickets": size,
            "seconds": round(figures["seconds"], 2),
            "us_per_ticket": round(figures["seconds"] / size * 1e6),
            "tickets_stored": figures["tickets_stored"],
            "calls": figures["calls"],
            "peak_rss_mb": round(figures["peak_rss_mb"], 1),
        }
        print(json.dumps(row), file=sys.stderr)
        table.append(row)
    first = table[0]["us_per_ticket"]
    for row in table:
        row["per_ticket_vs_smallest"] = round(row["us_per_ticket"] / first, 2)
    return table


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
    parser.add_argument("--latency", type=float, default=0, metavar="MS", help=LATENCY_HELP)
    parser.add_argument("--compare-tap-jira", action="store_true", help=COMPARE_HELP)
    parser.add_argument("--rounds", type=int, default=3, help="--compare-tap-jira rounds")
    parser.add_argument("--tap-venv", type=Path, default=tap_jira_peer.DEFAULT_VENV)
    parser.add_argument("--scaling", default="", metavar="N,N,...", help=SCALING_HELP)
    parser.add_argument(
        "--read-path", action="store_true", help="only one cycle that applies nothing"
    )
    parser.add_argument("--read-path-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--write-concurrency",
        type=int,
        metavar="N",
        help="the sources' write_concurrency (default: the setting's default, 4)",
    )
    parser.add_argument(
        "--full-only", action="store_true", help="only the full sync, no re-syncs after it"
    )
    parser.add_argument(
        "--source-setting",
        action="append",
        default=[],
        metavar="'KEY = VALUE'",
        help="a setting more for change-connector's sources (--compare-tap-jira)",
    )
    args = parser.parse_args()
    faults = with_latency(args.faults, args.latency)
    # The worker's code compiled once, as an installed package has it (pip compiles what it
    # installs, the peer's included); PYTHONDONTWRITEBYTECODE would have each run compile it.
    compileall.compile_dir(ROOT / "connector", quiet=1)
    if args.compare_tap_jira or args.scaling:
        result: dict[str, Any] = {"latency_ms": args.latency}
        if args.compare_tap_jira:
            result["compare_tap_jira"] = compare_tap_jira(
                args.tickets,
                rounds=args.rounds,
                faults=faults,
                page_size=args.page_size,
                tap_venv=args.tap_venv,
                settings=args.source_setting,
            )
        if args.scaling:
            sizes = [int(n) for n in args.scaling.split(",")]
            result["scaling"] = scaling(sizes, faults=faults, page_size=args.page_size)
        print(json.dumps(result, indent=2))
        return
    systems = args.systems.split(",")
    if args.read_path_worker:
        read_path_worker(args.read_path_worker)
        return
    if args.read_path:
        figures = read_path(args.tickets, page_size=args.page_size, systems=systems)
        print(json.dumps(figures, indent=2))
        return
    result = {
        "run": bench(
            args.tickets,
            faults=faults,
            page_size=args.page_size,
            systems=systems,
            write_concurrency=args.write_concurrency,
            full_only=args.full_only,
        )
    }
    result["latency_ms"] = args.latency
    if args.rss_compare:
        big = bench(args.rss_compare, faults="", page_size=args.page_size, systems=systems)
        result["rss_compare"] = big
        small_rss = result["run"]["full_sync"]["peak_rss_mb"]
        result["rss_ratio"] = round(big["full_sync"]["peak_rss_mb"] / small_rss, 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
