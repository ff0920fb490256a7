"""The CLI's worker commands (sync, run, status): settings + store + worker, and their output.

Kept apart from cli.py so the command table stays readable; errors propagate to cli.main,
the one place that turns them into messages and exit codes.
"""

from __future__ import annotations

import json
import sys
from contextlib import closing
from datetime import date, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from connector.commands import log
from connector.core.errors import ConfigError, WriteFailed
from connector.core.keys import is_any_key, key_problem
from connector.core.user_input import BadInput, check_text, parse_day
from connector.serve.worker import Worker
from connector.settings import Settings, load_settings
from connector.store import Store
from connector.store.anchors import newest, stored_anchors
from connector.store.audit import AuditKeying
from connector.sync.heap import freeze_heap, tune_gc
from connector.sync.page import PageResult
from connector.sync.poller import PollStats


def open_store(settings: Settings, *, appends: bool = True) -> Store:
    """The configured store, its audit links keyed with `audit.hmac_key`. A store that will
    append audit links (`appends`) is refused when its chain is shorter than, or differs from,
    the newest anchor in `audit.anchor_file`."""
    if settings.store_url is not None:
        store = Store.open(settings.store_url.get_secret_value())
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store.open(Store.default_url(settings.data_dir))
    try:
        store.use_audit_keying(audit_keying(settings, floor=appends))
    except BaseException:
        store.close()
        raise
    return store


def audit_keying(settings: Settings, *, floor: bool = True) -> AuditKeying:
    key = settings.audit.hmac_key
    newest_anchor = newest(stored_anchors(settings.audit.anchor_file)) if floor else None
    return AuditKeying(
        key=key.get_secret_value().encode() if key is not None else None, floor=newest_anchor
    )


def run_sync(
    settings: Settings, *, source: str | None, dry_run: bool, log_json: bool, once: bool = True
) -> None:
    tune_gc()
    log.setup(json=log_json, secrets=log.secrets_of(settings))
    with closing(open_store(settings)) as store, closing(Worker(settings, store)) as worker:
        worker.open(source)
        freeze_heap()
        if not once:
            worker.run(serve=False)
            return
        try:
            stats = sync_with_progress(worker, dry_run=dry_run)
        finally:
            worker.final_anchor()
        notes = sync_notes(worker, stats)
    if dry_run:  # the plans are machine output, raw on stdout; people read the table on stderr
        from connector.commands.plan_output import dry_run_json

        typer_echo(dry_run_json(plan for poll in stats for plan in poll.plans))
        Console(stderr=True).print(poll_table(stats, title="Dry run: nothing written"))
    else:
        Console().print(poll_table(stats, title="Sync"))
    for line in notes:
        sys.stderr.write(line + "\n")
    failures = [line for s in stats for line in s.write_failures]
    failures += [f"{s.source}: writes stopped: {s.failed}" for s in stats if s.failed]
    if failures:
        raise WriteFailed.of(failures)


def sync_notes(worker: Worker, stats: list[PollStats]) -> list[str]:
    """One line per source in observe mode (what was withheld) and per source whose scope
    matched no ticket (nothing read now, nothing stored before, nothing skipped)."""
    from connector.commands.status_view import empty_scope_warning

    out = []
    for s in stats:
        rt = worker.runtimes[s.source]
        if rt.gate.observing and s.withheld:
            out.append(
                f"sources.{s.source}: mode = observe: {s.withheld} planned write(s) withheld, "
                'nothing written to tickets (set mode = "enforce" to act)'
            )
        if s.polled and not s.seen and not s.skipped and not worker.store.count_changes(s.source):
            out.append(empty_scope_warning(s.source, rt.mapping))
    return out


def sync_with_progress(worker: Worker, *, dry_run: bool = False) -> list[PollStats]:
    with Progress(transient=True, console=Console(stderr=True)) as progress:
        tasks = {name: progress.add_task(name, total=None) for name in worker.runtimes}

        def advance(source: str, page: PageResult) -> None:
            progress.update(tasks[source], advance=page.seen)

        return worker.sync_once(dry_run=dry_run, on_page=advance)


def poll_table(stats: list[PollStats], *, title: str) -> Table:
    table = Table(title=title)
    columns = ("source", "seen", "changed", "planned", "withheld", "written", "skipped")
    for column in (*columns, "stopped at"):
        table.add_column(column)
    for s in stats:
        table.add_row(
            s.source,
            str(s.seen),
            str(s.changed),
            str(s.planned),
            str(s.withheld),
            str(s.written),
            str(len(s.skipped)),
            s.failed or ("(another worker)" if not s.polled else "-"),
        )
    return table


def run_worker(*, config: Path | None, log_json: bool) -> None:
    tune_gc()
    settings = load_settings(config)
    log.setup(json=log_json, secrets=log.secrets_of(settings))
    from connector.serve.webhooks import check_secrets

    check_secrets(settings)
    with closing(open_store(settings)) as store, closing(Worker(settings, store)) as worker:
        worker.open()
        freeze_heap()
        worker.run()


def show_status(*, config: Path | None, as_json: bool = False) -> None:
    from connector.commands.status_view import print_status

    settings = load_settings(config)
    with closing(open_store(settings, appends=False)) as store:
        print_status(settings, store, as_json=as_json)


# -- policy: plan, CAB, back-testing -------------------------------------------------------------


def run_plan(*, config: Path | None, source: str | None, as_json: bool) -> None:
    from connector.commands.plan_output import plan_json, plan_rows
    from connector.commands.planning import plan_all

    settings = load_settings(config)
    console = Console()
    with (
        closing(open_store(settings, appends=False)) as store,
        closing(Worker(settings, store)) as worker,
    ):
        worker.open(source)
        evaluated = list(plan_all(worker))
    if as_json:  # raw: never wrapped at the terminal's width
        typer_echo(plan_json(evaluated, settings.policy))
        return
    table = Table(title="Plan: what the policy would do now (nothing written)")
    for column in ("source", "ticket", "status", "would do", "rule"):
        table.add_column(column)
    for row in plan_rows(evaluated, settings.policy):
        table.add_row(*row)
    console.print(table)
    blocked = sum(e.evaluation.blocked for e in evaluated)
    actions = sum(len(e.plan.actions) for e in evaluated)
    withheld = sum(len(e.plan.withheld) for e in evaluated)
    held = f", {withheld} withheld" if withheld else ""
    console.print(f"{len(evaluated)} tickets, {blocked} blocked, {actions} actions would run{held}")


def run_cab_decide(
    *, config: Path | None, key: str, decision: str, by: str, note: str, source: str | None
) -> None:
    from connector.commands.cab import check_board_member, decide, pick_source
    from connector.core.model import CabDecision

    try:
        verdict = CabDecision(decision)
    except ValueError:
        choices = ", ".join(d.value for d in CabDecision)
        raise ConfigError(f"--decision: {decision!r} is not one of {choices}") from None
    if not by.strip():
        raise ConfigError("--by: name the board member who recorded the decision")
    try:
        check_text(by, "--by")
        check_text(note, "--note")
    except BadInput as exc:
        raise ConfigError(str(exc)) from None
    if not is_any_key(key):
        raise ConfigError(f"KEY: {key_problem('jira', key)} nor a ServiceNow number or sys_id")
    settings = load_settings(config)
    log.setup(json=False, secrets=log.secrets_of(settings))
    with closing(open_store(settings)) as store:
        name = pick_source(settings, store, key, source)
        kind = settings.sources[name].kind
        problem = key_problem(kind, key)
        if problem is not None:
            raise ConfigError(f"KEY: {problem} (source {name} is {kind})")
        check_board_member(settings.policy.approvals, by.strip())
        with closing(Worker(settings, store)) as worker:
            worker.open(name)
            result = decide(
                worker, source=name, key=key, decision=verdict, by=by.strip(), note_text=note
            )
    typer_echo(
        f"{result.source} {result.key}: {verdict.value} by {by} recorded (decision "
        f"#{result.decision_id}); status {result.status_before} -> {result.status_after}; "
        f"{result.written} write(s) to the ticket"
    )
    for line in result.findings:
        typer_echo(f"  open finding: {line}")
    if result.withheld:
        typer_echo(f"  nothing written to the ticket: {result.withheld}")
    if result.failures:
        raise WriteFailed.of(list(result.failures))


def run_cab_agenda(
    *, config: Path | None, meeting: str | None, fmt: str, out: Path | None, source: str | None
) -> None:
    from connector.commands.cab import agenda, agenda_json, agenda_markdown

    if fmt not in ("md", "json"):
        raise ConfigError(f"--format: {fmt!r} is not one of md, json")
    settings = load_settings(config)
    day = parse_date(meeting, "--for") if meeting else datetime.now(settings.policy.zone()).date()
    with closing(open_store(settings, appends=False)) as store:
        items = agenda(settings, store, meeting=day, sources=[source] if source else [])
    text = agenda_json(items, meeting=day) if fmt == "json" else agenda_markdown(items, meeting=day)
    write_or_print(text, out)


def run_backtest(
    *, config: Path | None, since: str, policy_file: Path | None, as_json: bool
) -> None:
    from connector.commands.planning import backtest, load_policy

    settings = load_settings(config)
    policy = load_policy(policy_file) if policy_file else settings.policy
    start = datetime.combine(parse_date(since, "--since"), datetime.min.time(), policy.zone())
    with closing(open_store(settings, appends=False)) as store:
        result = backtest(settings, store, policy=policy, since=start)
    if as_json:
        typer_echo(
            json.dumps(
                {
                    "since": start.isoformat(),
                    "changes": result.changes,
                    "blocked": result.blocked,
                    "rules": [
                        {"rule": r, "severity": s, "changes": n, "examples": result.examples[r]}
                        for (r, s), n in sorted(result.by_rule.items())
                    ],
                },
                indent=2,
            )
        )
        return
    table = Table(title=f"Back-test since {start:%Y-%m-%d}: {result.changes} changes replayed")
    for column in ("rule", "severity", "changes", "for example"):
        table.add_column(column)
    for (rule, severity), n in sorted(result.by_rule.items(), key=lambda kv: -kv[1]):
        table.add_row(rule, severity, str(n), ", ".join(result.examples[rule]))
    console = Console()
    console.print(table)
    console.print(f"{result.blocked} of {result.changes} changes would have been blocked")


def parse_date(text: str, option: str) -> date:
    try:
        return parse_day(text, option)
    except BadInput as exc:
        raise ConfigError(str(exc)) from None


def write_or_print(text: str, out: Path | None) -> None:
    if out is None:
        typer_echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {out}: {exc.strerror}") from None
    typer_echo(f"wrote {out}")


def typer_echo(text: str, *, nl: bool = True) -> None:
    sys.stdout.write(text + ("\n" if nl else ""))
    sys.stdout.flush()
