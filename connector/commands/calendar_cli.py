"""The change calendar's command line: `calendar --format ics` (approved windows, freezes and
maintenance windows as iCalendar) and `freeze export --format argocd|gitlab` (the policy's
freezes as Argo CD sync windows or GitLab freeze periods). `cli.py` mounts both.

Both read the config (and `calendar` the store) and write a file or stdout; bad input is one
line and exit 2, raised as `ConfigError` for `cli.main`.
"""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from connector.core.errors import ConfigError

freeze_app = typer.Typer(help="The policy's freezes for deploy tools.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: ./change-connector.toml)."),
]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")]
SystemOption = Annotated[str | None, typer.Option(help="Only what touches this affected system.")]


def calendar(
    fmt: Annotated[str, typer.Option("--format", help="ics (iCalendar).")] = "ics",
    source: Annotated[str | None, typer.Option(help="Only this source's changes.")] = None,
    system: SystemOption = None,
    first: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: 30 days ago).")
    ] = None,
    last: Annotated[
        str | None,
        typer.Option("--until", help="Last day, YYYY-MM-DD (default: a year ahead)."),
    ] = None,
    out: OutOption = None,
    config: ConfigOption = None,
) -> None:
    """The change calendar: approved changes' planned windows, freezes and maintenance windows
    (from the store and the policy), for calendar apps."""
    from connector.commands.worker_commands import open_store, write_or_print
    from connector.core.user_input import BadInput
    from connector.reports.calendar import calendar_ics, calendar_period
    from connector.settings import load_settings

    if fmt != "ics":
        raise ConfigError(f"--format: {fmt!r} is not one of ics")
    settings = load_settings(config)
    now = datetime.now(UTC)
    try:
        period = calendar_period(
            settings, now=now, first=first, last=last, source=source, system=system
        )
    except BadInput as exc:
        raise ConfigError(str(exc)) from None
    with closing(open_store(settings, appends=False)) as store:
        text = calendar_ics(settings, store, period=period, now=now)
    write_or_print(text, out)


@freeze_app.command("export")
def freeze_export(
    fmt: Annotated[
        str, typer.Option("--format", help="argocd (AppProject syncWindows) or gitlab.")
    ],
    system: SystemOption = None,
    out: OutOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the policy's freezes as Argo CD deny sync windows (AppProject YAML) or GitLab
    freeze periods (the JSON list the Freeze Periods API takes); notes go to stderr."""
    from connector.commands.worker_commands import write_or_print
    from connector.core.freeze_export import FORMATS, export
    from connector.settings import load_settings

    if fmt not in FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if system is not None and not system.strip():
        raise ConfigError("--system: empty")
    settings = load_settings(config)
    result = export(
        settings.policy,
        fmt="argocd" if fmt == "argocd" else "gitlab",
        settings=settings.freeze_export,
        now=datetime.now(UTC),
        system=system,
    )
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    write_or_print(result.text, out)
