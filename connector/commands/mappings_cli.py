"""The `mappings` commands' command line: validate mapping files (against their live sites with
`--live`) and write a commented mapping from a live site. `cli.py` mounts `mappings_app`; the
work is in `core/mapping` and `live_check.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.core.errors import ConfigError

mappings_app = typer.Typer(help="Write and validate field mapping files.", no_args_is_help=True)


@mappings_app.command("check")
def mappings_check(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Mapping files (default: mappings/*.toml; none with --live)."),
    ] = None,
    live: Annotated[
        Path | None,
        typer.Option(
            help="Check the mapping file of every source in this config against its site: "
            "field types, option values, statuses, transitions, ServiceNow choices."
        ),
    ] = None,
) -> None:
    """Validate mapping files; with --live, the config's mappings against their live sites."""
    from connector.core.mapping import check_files

    if files or live is None:
        results = check_files(files or None)
        for result in results:
            typer.echo(result.line, err=not result.ok)
        if not all(result.ok for result in results):
            raise SystemExit(ConfigError.exit_code)
    if live is not None:
        from connector.commands.live_check import check_live

        errors = skips = 0
        for item in check_live(live):
            if isinstance(item, str):
                typer.echo(item)
            else:
                typer.echo(item.line, err=item.error)
                errors += item.error
                skips += item.skips
        if errors:
            raise ConfigError(f"{live}: {errors} mapping error(s) against the live sites")
        if skips:
            # The mapping loads, but the first sync would skip tickets: not yet a fit (exit 1).
            typer.echo(
                f"error: {live}: {skips} value(s) of the live sites without an entry: tickets "
                "with them would be skipped",
                err=True,
            )
            raise SystemExit(1)


@mappings_app.command("init")
def mappings_init(
    live: Annotated[Path, typer.Option(help="Config whose source is read.")],
    source: Annotated[str, typer.Option(help="The source (of the config) to map.")],
    out: Annotated[
        Path | None, typer.Option(help="Write the mapping here (default: standard output).")
    ] = None,
    project: Annotated[
        list[str] | None,
        typer.Option(help="Jira project key (repeat; default: projects with the issue type)."),
    ] = None,
    issue_type: Annotated[
        list[str] | None, typer.Option(help="Jira issue type of changes (default: Change).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Write a commented mapping for a live site: fields, value maps, statuses, transitions."""
    from connector.commands.live_check import init_live

    written = init_live(
        live,
        source=source,
        out=out,
        projects=project or (),
        issue_types=issue_type or (),
        force=force,
    )
    if out is None:
        typer.echo(written.text, nl=False)
    typer.echo(written.line, err=True)
