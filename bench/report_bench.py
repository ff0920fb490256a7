"""Compliance report and audit-verify benchmark: figures, not a test.

    .venv/bin/python bench/report_bench.py                 # 100,000 changes, 1,000,000 links
    .venv/bin/python bench/report_bench.py --changes 20000 --links 200000
    .venv/bin/python bench/report_bench.py --store-url 'postgresql+psycopg://postgres@127.0.0.1:5432/test'
    .venv/bin/python bench/report_bench.py --store-file /tmp/bench.db   # filled once, reused

Fills a fresh store (SQLite in a temp dir, or a fresh schema of the PostgreSQL database given)
with N normalized changes from the sandbox scenario (stored with their evaluation and the
report's answers, as a sync leaves them) and M hash-chained audit links, then times
`build_report` over all of them (every section: rows, summary, population and context with the
audit chain verified, delivery metrics), each format's renderer, and `Store.verify_audit()`
over the chain; each the best of `--repeat` runs. A report is the build plus one format's
render, as `change-connector report --format F` runs it. The PDF (Chromium's print of the
summary plus the first `--pdf-rows` changes with their evidence) is timed once. Loading is not
timed; `--store-file` keeps the filled SQLite store to time again without loading.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

from connector.commands.demo import demo_policy, mappings_dir
from connector.core.communications import ReleaseNotesSettings
from connector.core.mapping import load_mapping, normalize, resolve_names
from connector.core.model import Change, Source, SystemKind
from connector.core.policy import Context, Evaluation, PolicySettings, evaluate
from connector.reports.answers import answers
from connector.reports.build import build_report
from connector.reports.bulk import collector_paused
from connector.reports.render import FORMATS, render
from connector.sandbox.jira.fieldset import FieldSet
from connector.sandbox.jira.render import View, issue_json
from connector.sandbox.jira.seed import seed as seed_jira
from connector.sandbox.jira.store import Store as JiraStore
from connector.sandbox.scenario import generate
from connector.settings import Settings, SourceSettings
from connector.store import Store

SOURCE = "bench-jira"
T = TypeVar("T")


def fill_changes(store: Store, count: int) -> None:
    """N scenario changes stored as a sync leaves them: the change, its evaluation and the
    report's answers from it."""
    path = mappings_dir() / "jira-default.toml"
    fs = FieldSet(random_seed=7, cloud=True)
    site = [(fid, field.name) for fid, field in fs.fields.items()]
    mapping = resolve_names(load_mapping(path), site, file=str(path))
    source = Source(instance=SOURCE, kind=SystemKind.JIRA_CLOUD)
    jira = JiraStore()
    seed_jira(jira, generate(count, random_seed=7), fs, cloud=True)
    view = View(
        base_url="https://bench.invalid", version="2", cloud=True, tz=ZoneInfo("UTC"), fs=fs
    )
    policy = demo_policy()
    now = datetime.now(UTC)
    batch = []
    for issue in jira.issues.values():
        raw = issue_json(issue, view, fs.select(["*all"], "*all"), set())
        change = normalize(raw, mapping=mapping, source=source, base_url="https://bench.invalid")
        batch.append((change, evaluate(change, Context(now=now, policy=policy))))
        if len(batch) == 1000:
            _write(store, batch, policy=policy, now=now)
            batch = []
    _write(store, batch, policy=policy, now=now)


def _write(
    store: Store,
    batch: list[tuple[Change, Evaluation]],
    *,
    policy: PolicySettings,
    now: datetime,
) -> None:
    with store.transaction() as tx:
        for change, evaluation in batch:
            tx.upsert_change(
                source=SOURCE,
                change_key=change.key,
                native_id=change.native_id,
                fingerprint=change.fingerprint(),
                updated=change.updated,
                data=change.to_json(),
                findings=json.dumps([f.model_dump(mode="json") for f in evaluation.findings]),
                recheck_at=evaluation.recheck_at,
                report=answers(
                    change,
                    evaluation,
                    approved=None,
                    policy=policy,
                    release_notes=ReleaseNotesSettings(),
                    now=now,
                ),
            )


def fill_audit(store: Store, links: int) -> None:
    done = 0
    while done < links:
        with store.transaction() as tx:
            for n in range(min(5000, links - done)):
                tx.append_audit(
                    source=SOURCE,
                    ticket_key=f"CHG-{(done + n) % 100000}",
                    event="ticket.synced",
                    actor="worker",
                    detail={"fingerprint": f"{done + n:064x}", "status": "scheduled"},
                )
        done += min(5000, links - done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--store-url", default="")
    parser.add_argument("--store-file", default="", help="a SQLite file to fill once and reuse")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of each step")
    parser.add_argument("--pdf-rows", type=int, default=1000, help="changes in the PDF (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.store_file:
            url, cleanup = f"sqlite:///{Path(args.store_file).resolve()}", lambda: None
        else:
            url, cleanup = _store_url(args.store_url, Path(tmp))
        try:
            figures = run(url, args.changes, args.links, repeat=args.repeat, pdf_rows=args.pdf_rows)
        finally:
            cleanup()
    print(json.dumps(figures, indent=2))


def bench_settings() -> Settings:
    """The settings the benchmark's reports are built with (one Jira source, the demo policy)."""
    return Settings(
        sources={
            SOURCE: SourceSettings(
                kind="jira",
                url="https://bench.invalid",
                username="bench",
                token="x",  # type: ignore[arg-type]
                mapping=mappings_dir() / "jira-default.toml",
            )
        },
        policy=demo_policy(),
    )


def run(url: str, changes: int, links: int, *, repeat: int, pdf_rows: int) -> dict[str, object]:
    settings = bench_settings()
    with Store.open(url) as store:
        started = time.perf_counter()
        if store.count_changes(SOURCE) == 0:
            fill_changes(store, changes)
            fill_audit(store, links)
        loaded = time.perf_counter() - started
        head = store.audit_head()
        links = head.seq if head else 0
        since, until = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        # As `change-connector report` runs them: the collector paused from the build to the
        # written text (the report command's `collector_paused`).
        with collector_paused():
            built, (rows, summary) = _timed(
                lambda: build_report(settings, store, since=since, until=until),
                repeat,
                name="build",
            )
            rendered: dict[str, float] = {}
            sizes: dict[str, int] = {}
            for fmt in FORMATS:
                rendered[fmt], text = _timed(
                    lambda: render(fmt, rows, summary),  # noqa: B023
                    repeat,
                    name=fmt,
                )
                sizes[fmt] = len(text.encode())
            del text
        verified, broken = _timed(store.verify_audit, repeat, name="verify")
        printed, pdf_bytes = 0.0, 0
        if pdf_rows:
            from connector.reports.pdf import to_pdf

            printed, pdf = _timed(lambda: to_pdf(rows[:pdf_rows], summary), 1)
            pdf_bytes = len(pdf)
    return {
        "python": platform.python_version(),
        "store": url.split(":", 1)[0],
        "changes": len(rows),
        "audit_links": links,
        "load_seconds_untimed": round(loaded, 1),
        "report_build_seconds": round(built, 2),
        "render_seconds": {fmt: round(t, 2) for fmt, t in rendered.items()},
        "report_seconds_build_plus_render": {
            fmt: round(built + t, 2) for fmt, t in rendered.items()
        },
        "report_megabytes": {fmt: round(n / 1e6, 1) for fmt, n in sizes.items()},
        "audit_verify_seconds": round(verified, 2),
        "cpu_seconds": {
            "build": CPU["build"],
            "render": {fmt: CPU[fmt] for fmt in FORMATS},
            "report_build_plus_render": {fmt: round(CPU["build"] + CPU[fmt], 2) for fmt in FORMATS},
            "audit_verify": CPU["verify"],
        },
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "pdf_rows": min(pdf_rows, len(rows)),
        "pdf_seconds": round(printed, 1),
        "pdf_megabytes": round(pdf_bytes / 1e6, 1),
        "best_of": repeat,
        "audit_intact": broken is None,
        "targets": {"report_seconds": 5, "audit_verify_seconds": 10, "pdf_seconds": 30},
    }


CPU: dict[str, float] = {}  # the process's CPU seconds (every thread) of each step's best run


def _timed(work: Callable[[], T], repeat: int, *, name: str = "") -> tuple[float, T]:
    """The best wall-clock time of `repeat` runs, and the last result; the CPU time of that
    run goes to CPU[name] (on a shared machine, wall time also counts others' work)."""
    times, cpu, results = [], [], []
    for _ in range(max(repeat, 1)):
        started, used = time.perf_counter(), time.process_time()
        results.append(work())
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        del results[:-1]  # keep one result alive at a time
    if name:
        CPU[name] = round(cpu[times.index(min(times))], 2)
    return min(times), results[-1]


def _store_url(given: str, tmp: Path) -> tuple[str, object]:
    if not given:
        return Store.default_url(tmp / "data"), lambda: None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(given)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    separator = "&" if "?" in given else "?"
    return f"{given}{separator}options={quote(f'-csearch_path={schema}')}", drop


if __name__ == "__main__":
    main()
