"""The `report` commands' command line: the report itself, the auditor's sample pack and its
verification. `cli.py` mounts `report_app`; the work is in `report_commands.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.core.errors import ConfigError

report_app = typer.Typer(help="Compliance reports from the store.", invoke_without_command=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: ./change-connector.toml)."),
]


@report_app.callback()
def report(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day, YYYY-MM-DD (default: today).")
    ] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only these sources.")] = None,
    change_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only these types or classes (standard, emergency, major...)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, json, md, html or pdf.")] = "md",
    out: Annotated[Path | None, typer.Option(help="Write to this file.")] = None,
    config: ConfigOption = None,
) -> None:
    """One report across every source: each change, whether it was authorized, the exceptions."""
    if ctx.invoked_subcommand is not None:
        return
    if since is None:
        raise ConfigError("--since: name the first day of the period (YYYY-MM-DD)")
    from connector.commands.report_commands import run_report

    run_report(
        config=config,
        since=since,
        until=until,
        sources=source or [],
        types=change_type or [],
        fmt=fmt,
        out=out,
    )


@report_app.command("sample")
def report_sample(
    since: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="The directory to write the pack to.")],
    size: Annotated[int, typer.Option(help="How many changes.", min=1, max=100_000)] = 25,
    seed: Annotated[str, typer.Option(help="Seed of the draw (same seed, same sample).")] = "0",
    all_exceptions: Annotated[
        bool, typer.Option("--all-exceptions", help="Add every change with an exception.")
    ] = False,
    until: Annotated[
        str | None, typer.Option(help="Last day, YYYY-MM-DD (default: today).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Sample the changes implemented or closed in the period, with signed evidence."""
    from connector.commands.report_commands import run_sample

    run_sample(
        config=config,
        size=size,
        seed=seed,
        since=since,
        until=until,
        out=out,
        all_exceptions=all_exceptions,
    )


@report_app.command("verify-pack")
def verify_pack(
    pack: Annotated[Path, typer.Argument(help="The sample pack's directory.")],
    config: ConfigOption = None,
) -> None:
    """Check a sample pack's files and signature (exit 1 naming the first problem)."""
    from connector.commands.report_commands import run_verify_pack

    run_verify_pack(config=config, pack=pack)
