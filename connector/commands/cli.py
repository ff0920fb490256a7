"""The `change-connector` command line: the one place exceptions become exit codes and messages.

Every command raises `ConnectorError` subclasses for things people must act on; `main()` prints
their message on one line (no traceback) and exits with the error's code (2: fix your input).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
from pathlib import Path
from typing import Annotated

import typer
from typer.exceptions import TyperException

from connector import __version__
from connector.commands.calendar_cli import calendar, freeze_app
from connector.commands.governance_cli import audit_app, cab_app, policy_app
from connector.commands.mappings_cli import mappings_app
from connector.commands.report_cli import report_app
from connector.core.errors import ConfigError, ConnectorError

app = typer.Typer(
    name="change-connector",
    help="Change control for the Jira and ServiceNow instances a team already uses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(mappings_app, name="mappings")
app.add_typer(cab_app, name="cab")
app.add_typer(policy_app, name="policy")
app.add_typer(report_app, name="report")
app.add_typer(audit_app, name="audit")
app.command("calendar")(calendar)
app.add_typer(freeze_app, name="freeze")

DEFAULT_SANDBOX_DIR = Path(".change-connector") / "sandbox"


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Change control for the Jira and ServiceNow instances a team already uses."""


@app.command()
def sandbox(
    port: Annotated[
        int, typer.Option(help="Port on 127.0.0.1 (0: a free one).", min=0, max=65535)
    ] = 8443,
    seed: Annotated[
        int, typer.Option(help="Change tickets to seed per system.", min=0, max=100_000)
    ] = 200,
    random_seed: Annotated[
        int, typer.Option(help="Seed of the generator (same seed, same tickets).")
    ] = 0,
    mode: Annotated[str, typer.Option(help="Jira deployment: cloud or datacenter.")] = "cloud",
    max_results: Annotated[
        int,
        typer.Option(
            help="Data Center: the most issues a search page holds (the site's cap).", min=1
        ),
    ] = 1000,
    faults: Annotated[
        str, typer.Option(help="Fault spec, e.g. '429:rate=0.1,retry_after=2;503@jira:nth=5'.")
    ] = "",
    data_dir: Annotated[Path, typer.Option(help="Where the CA and certificates are kept.")] = (
        DEFAULT_SANDBOX_DIR
    ),
    jira_webhook_url: Annotated[str | None, typer.Option(help="POST Jira webhooks here.")] = None,
    servicenow_webhook_url: Annotated[
        str | None, typer.Option(help="POST ServiceNow business-rule webhooks here.")
    ] = None,
    github_webhook_url: Annotated[
        str | None, typer.Option(help="POST the GitHub App's webhooks here.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the connection details as one JSON line.")
    ] = False,
) -> None:
    """Serve the local Jira + ServiceNow sandbox over HTTPS until interrupted."""
    from connector.commands.sandbox_command import serve
    from connector.sandbox import SandboxOptions

    if mode not in ("cloud", "datacenter"):
        raise ConfigError(f"--mode: {mode!r} is not one of cloud, datacenter")
    options = SandboxOptions(
        data_dir=data_dir,
        port=port,
        seed_count=seed,
        random_seed=random_seed,
        mode="cloud" if mode == "cloud" else "datacenter",
        max_results=max_results,
        faults=faults,
        jira_webhook_url=jira_webhook_url,
        servicenow_webhook_url=servicenow_webhook_url,
        github_webhook_url=github_webhook_url,
    )
    serve(options, as_json=as_json)


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: ./change-connector.toml)."),
]
LogJson = Annotated[bool, typer.Option("--log-json", help="Log JSON lines to stderr.")]


@app.command("check-config")
def check_config(config: ConfigOption = None) -> None:
    """Load and check everything the worker will use; report every error at once."""
    from connector.commands.config_check import check_config_file

    typer.echo(check_config_file(config))


@app.command()
def sync(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="One poll cycle per source, then exit "
            "(without it: poll on the schedule until SIGTERM).",
        ),
    ] = False,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; write nothing.")
    ] = False,
    config: ConfigOption = None,
    log_json: LogJson = False,
) -> None:
    """Poll each source once: read what changed, evaluate, plan, apply, record."""
    from connector.settings import load_settings
    from connector.sync import second

    settings = load_settings(config)
    # A large first cycle shares its work with a second process: started now, it starts while
    # this one imports the worker's modules (`second.started_ahead`).
    shared = (
        once
        and not dry_run
        and any(s.parallel_from for name, s in settings.sources.items() if source in (None, name))
    )
    with second.started_ahead(when=shared):
        from connector.commands.worker_commands import run_sync

        run_sync(settings, source=source, dry_run=dry_run, log_json=log_json, once=once)


@app.command()
def run(config: ConfigOption = None, log_json: LogJson = False) -> None:
    """Serve webhooks and poll / drain on a schedule until SIGTERM."""
    from connector.commands.worker_commands import run_worker

    run_worker(config=config, log_json=log_json)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Sources (mode, cursor, scope), last runs, failed and pending actions, skipped tickets."""
    from connector.commands.worker_commands import show_status

    show_status(config=config, as_json=as_json)


@app.command()
def explain(
    key: Annotated[str, typer.Argument(help="The ticket: a Jira key or a ServiceNow number.")],
    source: Annotated[str | None, typer.Option(help="The ticket's source.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Why a change stands where it does: the change, each rule's verdict, the approvals
    counted and not, the planned actions and the ticket's audit history (from the store)."""
    from connector.commands.explain import run_explain

    run_explain(config=config, key=key, source=source, as_json=as_json)


@app.command("plan")
def plan_command(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Print what the policy would do to every in-scope ticket now; write nothing."""
    from connector.commands.worker_commands import run_plan

    run_plan(config=config, source=source, as_json=as_json)


@app.command("gate")
def gate_command(
    env: Annotated[str, typer.Option("--env", help="The environment deployed to.")],
    service: Annotated[str, typer.Option(help="The service deployed (as [deploy.services]).")],
    change: Annotated[
        str | None, typer.Option(help="The change's key (else found by service and commit).")
    ] = None,
    commit: Annotated[str, typer.Option(help="The commit deployed.")] = "",
    triggered_by: Annotated[str, typer.Option(help="Who started the deploy (login).")] = "",
    wait: Annotated[
        bool, typer.Option("--wait", help="While the verdict is wait, decide again.")
    ] = False,
    timeout: Annotated[str, typer.Option(help="With --wait: give up after (30m, 90s).")] = "30m",
    interval: Annotated[
        float, typer.Option(help="With --wait: seconds between decisions.", min=0.05)
    ] = 5.0,
    config: ConfigOption = None,
) -> None:
    """May this deploy go ahead? Prints why; exit 0 allow, 1 deny, 75 still waiting."""
    from connector.commands.gate_command import run_gate

    run_gate(
        config=config,
        change=change,
        env=env,
        service=service,
        commit=commit,
        triggered_by=triggered_by,
        wait=wait,
        timeout=timeout,
        interval=interval,
    )


@app.command("release-notes")
def release_notes(
    release: Annotated[str | None, typer.Option(help="A release (Jira fix version).")] = None,
    since: Annotated[str | None, typer.Option(help="Or changes planned from YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="... to YYYY-MM-DD (default: today).")] = None,
    audience: Annotated[
        str,
        typer.Option(help="all-users, admins, account-owners, security or engineering."),
    ] = "all-users",
    fmt: Annotated[
        str, typer.Option("--format", help="md, html, txt, json (what's new feed), wiki, sn, adf.")
    ] = "md",
    out: Annotated[Path | None, typer.Option(help="Write to this file.")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only these sources.")] = None,
    post: Annotated[
        bool, typer.Option("--post", help="Post the release note to the release's tickets.")
    ] = False,
    notice: Annotated[
        bool, typer.Option("--notice", help="Whether each audience was told in time.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Release notes per audience from the store; the what's new feed; notice tracking."""
    from connector.commands.release_commands import run_release_notes

    run_release_notes(
        config=config,
        release=release,
        since=since,
        until=until,
        audience=audience,
        fmt=fmt,
        out=out,
        sources=source or [],
        post=post,
        notice=notice,
    )


@app.command()
def demo(
    seed: Annotated[
        int, typer.Option(help="Change tickets to seed per system.", min=1, max=100_000)
    ] = 200,
    random_seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 0,
    mode: Annotated[str, typer.Option(help="Jira deployment: cloud or datacenter.")] = "cloud",
    out: Annotated[Path, typer.Option(help="Where the normalized changes are written.")] = Path(
        "out"
    ),
) -> None:
    """Run the worker against the embedded sandbox: read, normalize and summarize every change."""
    from connector.commands.demo import run_demo

    if mode not in ("cloud", "datacenter"):
        raise ConfigError(f"--mode: {mode!r} is not one of cloud, datacenter")
    run_demo(seed=seed, random_seed=random_seed, mode=mode, out=out)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; turn known errors and usage errors into one line each."""
    # A crash in native code (a database driver, the event loop) prints each thread's stack on
    # stderr instead of leaving only the signal's exit code (not where stderr has no file).
    if not faulthandler.is_enabled():
        with contextlib.suppress(ValueError, OSError):
            faulthandler.enable()
    try:
        code = app(args=argv, standalone_mode=False)
    except ConnectorError as exc:
        _fail(f"error: {exc.message}")
        raise SystemExit(exc.exit_code) from None
    except TyperException as exc:  # usage errors: bad option, unknown command, no arguments
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(message, err=True)
        else:
            ctx = getattr(exc, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            typer.echo(f"error: {where}{' '.join(message.split())}", err=True)
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        raise SystemExit(130) from None
    except Exception as exc:  # a bug: one line for people, the traceback on request
        if os.environ.get("CHANGE_CONNECTOR_DEBUG"):
            raise
        _fail(
            f"error: unexpected {type(exc).__name__}: {exc} "
            "(set CHANGE_CONNECTOR_DEBUG=1 for the traceback)"
        )
        raise SystemExit(1) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)


def _fail(line: str) -> None:
    """The one error line: plain text, or a JSON log line once `--log-json` set logging up."""
    from connector.commands import log

    if log.json_enabled():
        from loguru import logger

        logger.error(line)
    else:
        typer.echo(line, err=True)
