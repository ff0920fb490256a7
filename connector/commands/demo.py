"""The demo: the worker's read path end to end against the embedded sandbox.

Starts the sandbox over HTTPS, configures one Jira and one ServiceNow source on it with the
default mappings, reads every change with the real clients, normalizes each one, writes them to
`out/changes.jsonl` and prints a summary. Then four deploys go through the deployment gate
(`demo_deploys`: allowed, held until approved, denied in the freeze, unauthorized; also in
`out/deploys.json`) before the compliance report is written. Nothing here is demo-only logic:
it is the same reader, adapters, mapping, gate and report a configured worker uses.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from connector.commands.demo_deploys import (
    DeployLine,
    Unavailable,
    deploy_settings,
    deploy_table,
    run_deploys,
    served,
)
from connector.commands.worker_commands import poll_table, sync_with_progress
from connector.core.errors import SkipRecord
from connector.core.mapping import load_mapping, normalize
from connector.core.model import Change, Source
from connector.core.policy import PolicySettings
from connector.core.policy.config import Freeze
from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions
from connector.sandbox.scenario_model import FREEZE_END, FREEZE_START
from connector.serve.worker import Worker
from connector.settings import Settings, SourceSettings
from connector.store import Store, StoredRow
from connector.sync.reader import open_adapter, read_all, site_mapping

SANDBOX_DIR = Path(".change-connector") / "sandbox"


def mappings_dir() -> Path:
    """`./mappings` when run from a checkout or a config dir, else the one beside the package."""
    here = Path("mappings")
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "mappings"


def sandbox_sources(info: SandboxInfo) -> dict[str, SourceSettings]:
    """Source settings for the sandbox's Jira and ServiceNow, as the integration user."""
    user = info.users["connector"]
    common = {"token": SecretStr(user["token"]), "ca_bundle": Path(info.ca_bundle)}
    return {
        "sandbox-jira": SourceSettings(
            kind="jira",
            url=info.jira_url,
            username=user["jira_user"],
            mapping=mappings_dir() / "jira-default.toml",
            **common,
        ),
        "sandbox-servicenow": SourceSettings(
            kind="servicenow",
            url=info.servicenow_url,
            username=user["servicenow_user"],
            mapping=mappings_dir() / "servicenow-default.toml",
            **common,
        ),
    }


def demo_policy() -> PolicySettings:
    """The default policy plus the sandbox's year-end freeze."""
    return PolicySettings(
        freezes=(Freeze(name="Year-end freeze", start=FREEZE_START, end=FREEZE_END),),
    )


def sync_source(name: str, settings: SourceSettings) -> tuple[list[Change], list[str]]:
    """Read and normalize every change of one source; skipped tickets are reported, not lost."""
    mapping = load_mapping(settings.mapping)
    changes: list[Change] = []
    skipped: list[str] = []
    with closing(open_adapter(name, settings)) as adapter:
        mapping = site_mapping(adapter, mapping, file=str(settings.mapping))
        source = Source(instance=name, kind=adapter.kind)
        for raw in read_all(adapter, mapping):
            try:
                changes.append(
                    normalize(raw, mapping=mapping, source=source, base_url=settings.url)
                )
            except SkipRecord as exc:
                skipped.append(exc.message)
    return changes, skipped


def run_demo(*, seed: int, random_seed: int, mode: str, out: Path) -> None:
    """Sync every sandbox change into SQLite under `out`, then sync again to show it is a no-op."""
    console = Console()
    jira_mode: Literal["cloud", "datacenter"] = "cloud" if mode == "cloud" else "datacenter"
    options = SandboxOptions(
        data_dir=SANDBOX_DIR, seed_count=seed, random_seed=random_seed, mode=jira_mode
    )
    out.mkdir(parents=True, exist_ok=True)
    db = out / "change-connector.db"
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    with Sandbox(options) as info, closing(Store.open(f"sqlite:///{db}")) as store:
        console.print(
            f"Sandbox up: Jira ({info.mode}) {info.jira_url}, ServiceNow {info.servicenow_url}"
        )
        settings = Settings(
            data_dir=out,
            sources=sandbox_sources(info),
            policy=demo_policy(),
            deploy=deploy_settings(),
        )
        with closing(Worker(served(settings), store, name="demo").open()) as worker:
            first = sync_with_progress(worker)
            second = worker.sync_once()
            try:
                deploys: list[DeployLine] | Unavailable = run_deploys(
                    info=info, store=store, worker=worker
                )
            except Unavailable as exc:
                deploys = exc
        rows = list(store.iter_stored())
        changes = [Change.from_json(row.data) for row in rows]
        reports = write_reports(settings, store, out)
    elapsed = time.perf_counter() - started
    target = out / "changes.jsonl"
    target.write_text("".join(c.to_json() + "\n" for c in changes), encoding="utf-8")
    console.print(poll_table(first, title="First sync: findings posted back to the tickets"))
    console.print(poll_table(second, title="Second sync: nothing changed, nothing written"))
    by_source: dict[str, list[Change]] = {}
    for change in changes:
        by_source.setdefault(change.source.instance, []).append(change)
    console.print(_summary(by_source))
    console.print(_findings(rows))
    if isinstance(deploys, Unavailable):
        console.print(f"Deployment gates skipped: {deploys}.")
    else:
        console.print(deploy_table(deploys))
        (out / "deploys.json").write_text(
            json.dumps([asdict(d) for d in deploys], indent=2) + "\n", encoding="utf-8"
        )
    console.print(
        f"{len(changes)} changes stored in {db} ({elapsed:.1f} s); normalized changes in {target}"
    )
    console.print(f"Compliance report: {', '.join(str(p) for p in reports)}")


def write_reports(settings: Settings, store: Store, out: Path) -> list[Path]:
    """The compliance report over everything stored (2000-01-01 to 2099-12-31 in the policy's
    time zone), as JSON, Markdown and HTML."""
    from datetime import date

    from connector.reports.build import build_report
    from connector.reports.render import render
    from connector.reports.summary import day_span

    span = day_span(date(2000, 1, 1), date(2099, 12, 31), settings.policy.zone())
    assert span is not None
    since, until = span
    rows, summary = build_report(settings, store, since=since, until=until)
    paths = []
    for fmt, name in (("json", "report.json"), ("md", "report.md"), ("html", "report.html")):
        path = out / name
        path.write_text(render(fmt, rows, summary), encoding="utf-8")
        paths.append(path)
    return paths


def _summary(results: dict[str, list[Change]]) -> Table:
    table = Table(title="Changes stored")
    for column in ("source", "changes", "by class", "by status"):
        table.add_column(column)
    for name, changes in results.items():
        classes = Counter(c.effective_class for c in changes)
        statuses = Counter(c.status.value for c in changes)
        table.add_row(name, str(len(changes)), _fmt(classes), _fmt(statuses, 5))
    return table


def _findings(rows: list[StoredRow]) -> Table:
    """Changes with an open finding, per rule and source (a change counts once per rule)."""
    sources = sorted({row.source for row in rows})
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        for rule in {f["rule"] for f in json.loads(row.findings or "[]")}:
            counts[(rule, row.source)] += 1
    table = Table(title="Open findings: changes per rule")
    table.add_column("rule")
    for name in sources:
        table.add_column(name, justify="right")
    for rule in sorted({rule for rule, _ in counts}):
        table.add_row(rule, *(str(counts[(rule, name)]) for name in sources))
    return table


def _fmt(counts: Counter[str], top: int = 5) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.most_common(top)) or "-"
