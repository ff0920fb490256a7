"""Check that a change to the report code leaves every report as it was, byte for byte.

    AT=2026-12-06T15:45:00+00:00
    .venv/bin/python bench/report_same.py --store-file /tmp/bench.db --at $AT --out /tmp/before
    (change the code)
    .venv/bin/python bench/report_same.py --store-file /tmp/bench.db --at $AT --out /tmp/after \
        --against /tmp/before

Builds the report over a store filled by `report_bench.py --store-file` (every change, the
audit chain verified) with the clock fixed at `--at` (so the generation time is the same in
every run; take a time after the store was filled, or the stored answers do not hold yet and
every change is evaluated again), writes CSV, JSON, Markdown and HTML into `--out`, and with
`--against` compares each with the file of that name there: exit status 1 and the first
differing line when one differs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path

from report_bench import SOURCE, bench_settings

from connector.reports.build import build_report
from connector.reports.render import FORMATS, render
from connector.store import Store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-file", required=True)
    parser.add_argument("--at", required=True, help="the report's clock, ISO 8601 with offset")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--against", type=Path)
    args = parser.parse_args()
    now = datetime.fromisoformat(args.at)
    args.out.mkdir(parents=True, exist_ok=True)
    with Store.open(f"sqlite:///{Path(args.store_file).resolve()}") as store:
        if not store.count_changes(SOURCE):
            print(f"{args.store_file}: no stored changes (fill it with report_bench.py)")
            return 2
        rows, summary = build_report(
            bench_settings(),
            store,
            since=datetime(2000, 1, 1, tzinfo=UTC),
            until=datetime(2100, 1, 1, tzinfo=UTC),
            clock=lambda: now,
        )
        differ = 0
        for fmt in FORMATS:
            data = render(fmt, rows, summary).encode()
            (args.out / f"report.{fmt}").write_bytes(data)
            verdict = ""
            if args.against is not None:
                was = (args.against / f"report.{fmt}").read_bytes()
                verdict = "same" if was == data else f"DIFFERS: {_first_difference(was, data)}"
                differ += was != data
            print(f"{fmt}: {len(data):,} bytes sha256 {hashlib.sha256(data).hexdigest()} {verdict}")
    return 1 if differ else 0


def _first_difference(was: bytes, now: bytes) -> str:
    for n, (a, b) in enumerate(zip(was.splitlines(), now.splitlines(), strict=False), 1):
        if a != b:
            return f"line {n}: {a[:120]!r} -> {b[:120]!r}"
    return f"{len(was.splitlines())} lines -> {len(now.splitlines())} lines"


if __name__ == "__main__":
    sys.exit(main())
