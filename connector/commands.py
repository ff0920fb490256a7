"""The CLI's worker commands (sync, run, status): settings + store + worker, and their output.

Kept apart from cli.py so the command table stays readable; errors propagate to cli.main,
the one place that turns them into messages and exit codes.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from connector import log
from connector.cursor import Cursor
from connector.pipeline import PageResult
from connector.poller import PollStats
from connector.settings import Settings, load_settings
from connector.store import Store
from connector.worker import Worker


def open_store(settings: Settings) -> Store:
    if settings.store_url is not None:
        return Store.open(settings.store_url.get_secret_value())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store.open(Store.default_url(settings.data_dir))


def run_sync(
    *, config: Path | None, source: str | None, dry_run: bool, log_json: bool, once: bool = True
) -> None:
    settings = load_settings(config)
    log.setup(json=log_json, secrets=log.secrets_of(settings))
    with closing(open_store(settings)) as store, closing(Worker(settings, store)) as worker:
        worker.open(source)
        if not once:
            worker.run(serve=False)
            return
        stats = sync_with_progress(worker, dry_run=dry_run)
    console = Console()
    if dry_run:
        for poll in stats:
            for plan in poll.plans:
                console.print(
                    plan.model_dump_json(indent=2) if hasattr(plan, "model_dump_json") else plan
                )
    console.print(poll_table(stats, title="Dry run: nothing written" if dry_run else "Sync"))


def sync_with_progress(worker: Worker, *, dry_run: bool = False) -> list[PollStats]:
    with Progress(transient=True) as progress:
        tasks = {name: progress.add_task(name, total=None) for name in worker.runtimes}

        def advance(source: str, page: PageResult) -> None:
            progress.update(tasks[source], advance=page.seen)

        return worker.sync_once(dry_run=dry_run, on_page=advance)


def poll_table(stats: list[PollStats], *, title: str) -> Table:
    table = Table(title=title)
    for column in ("source", "seen", "changed", "planned", "written", "skipped", "stopped at"):
        table.add_column(column)
    for s in stats:
        table.add_row(
            s.source,
            str(s.seen),
            str(s.changed),
            str(s.planned),
            str(s.written),
            str(len(s.skipped)),
            s.failed or ("(another worker)" if not s.polled else "-"),
        )
    return table


def run_worker(*, config: Path | None, log_json: bool) -> None:
    settings = load_settings(config)
    log.setup(json=log_json, secrets=log.secrets_of(settings))
    from connector.webhooks import check_secrets

    check_secrets(settings)
    with closing(open_store(settings)) as store, closing(Worker(settings, store)) as worker:
        worker.open().run()


def show_status(*, config: Path | None) -> None:
    settings = load_settings(config)
    console = Console()
    with closing(open_store(settings)) as store:
        table = Table(title="Sources")
        for column in ("source", "cursor", "changes stored"):
            table.add_column(column)
        cursors = store.cursors()
        for name in settings.sources:
            mark = Cursor.loads(cursors.get(name)).high_water
            table.add_row(
                name, mark.isoformat() if mark else "(never polled)", str(store.count_changes(name))
            )
        console.print(table)
        console.print(f"Inbox depth: {store.inbox_depth()}")
        runs = Table(title="Last runs")
        for column in (
            "kind",
            "source",
            "started",
            "status",
            "seen",
            "changed",
            "written",
            "error",
        ):
            runs.add_column(column)
        for r in store.last_runs(10):
            runs.add_row(
                r.kind,
                r.source or "-",
                r.started_at.isoformat(timespec="seconds"),
                r.status,
                str(r.tickets_seen),
                str(r.tickets_changed),
                str(r.actions_applied),
                r.error or "",
            )
        console.print(runs)
