"""The command line of the governance groups: `cab` (the board's decisions taken outside the tool
and its agenda), `policy backtest` and `audit` (verify the chain, export it). `cli.py` mounts
the three apps; the work is in `worker_commands.py` and `report_commands.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

cab_app = typer.Typer(help="Change advisory board: decisions and agenda.", no_args_is_help=True)
policy_app = typer.Typer(help="Try the change-control policy.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: ./change-connector.toml)."),
]


@cab_app.command("decide")
def cab_decide(
    key: Annotated[str, typer.Argument(help="The ticket: a Jira key or a ServiceNow number.")],
    decision: Annotated[
        str, typer.Option(help="approve, reject, defer or more-info.", show_default=False)
    ],
    by: Annotated[str, typer.Option(help="Who decided (user name, e-mail or id).")],
    note: Annotated[str, typer.Option(help="The board's note, posted to the ticket.")] = "",
    source: Annotated[str | None, typer.Option(help="The ticket's source.")] = None,
    config: ConfigOption = None,
) -> None:
    """Record a board decision taken outside the tool; it moves the ticket as an approval does."""
    from connector.commands.worker_commands import run_cab_decide

    run_cab_decide(config=config, key=key, decision=decision, by=by, note=note, source=source)


@cab_app.command("agenda")
def cab_agenda(
    meeting: Annotated[
        str | None, typer.Option("--for", help="Meeting date, YYYY-MM-DD (default: today).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="md or json.")] = "md",
    out: Annotated[Path | None, typer.Option(help="Write to this file.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    config: ConfigOption = None,
) -> None:
    """List the changes waiting for the board, with their open findings (from the store)."""
    from connector.commands.worker_commands import run_cab_agenda

    run_cab_agenda(config=config, meeting=meeting, fmt=fmt, out=out, source=source)


@policy_app.command("backtest")
def policy_backtest(
    since: Annotated[str, typer.Option(help="Replay changes updated since YYYY-MM-DD.")],
    policy: Annotated[
        Path | None, typer.Option(help="A policy file ([policy] table); default: the config's.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Count what a policy would have blocked or warned about among the stored changes."""
    from connector.commands.worker_commands import run_backtest

    run_backtest(config=config, since=since, policy_file=policy, as_json=as_json)


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            help="Also compare with this anchor: an anchor file, an `audit export` file, "
            "a head hash or SEQ:HASH (repeatable)."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Walk the chain, compare it with the anchors; report what is broken, deleted or rehashed
    (exit 1) or the chain head."""
    from connector.commands.report_commands import run_audit_verify

    run_audit_verify(config=config, anchors=anchor or [])


@audit_app.command("export")
def audit_export(
    out: Annotated[Path | None, typer.Option(help="Write to this file (JSON Lines).")] = None,
    config: ConfigOption = None,
) -> None:
    """Write every audit link as JSON Lines, then the chain head, to archive elsewhere."""
    from connector.commands.report_commands import run_audit_export

    run_audit_export(config=config, out=out)
