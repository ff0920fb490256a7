"""The CLI's `sandbox` command: serve the local Jira + ServiceNow sandbox until interrupted.

Prints how to reach it (URLs, CA bundle, users and tokens of the sandbox's own world) as text or
one JSON line, then serves until Ctrl-C. Errors propagate to cli.main, which turns them into one
line and an exit code.
"""

from __future__ import annotations

import sys

import typer

from connector.core.errors import ConfigError
from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions


def serve(options: SandboxOptions, *, as_json: bool) -> None:
    try:
        box = Sandbox(options)
    except OSError as exc:
        where = f"127.0.0.1:{options.port}"
        raise ConfigError(f"--port: cannot listen on {where}: {exc.strerror}") from None
    info = box.start()
    if as_json:
        typer.echo(info.as_json())
    else:
        _print(info)
    sys.stdout.flush()
    try:
        box.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        box.stop()


def _print(info: SandboxInfo) -> None:
    typer.echo(f"Jira ({info.mode}):  {info.jira_url}")
    typer.echo(f"ServiceNow:        {info.servicenow_url}")
    typer.echo(f"CA bundle:         {info.ca_bundle}")
    typer.echo(f"Request log:       {info.requests_url}")
    typer.echo(
        f"Jira fields:       {len(info.jira_fields)} custom fields, ids from --random-seed "
        "(names and ids: --json or GET /rest/api/2/field)"
    )
    typer.echo(
        f"GitLab:            {info.gitlab_url}  (projects acme/payments, acme/web, acme/billing)"
    )
    typer.echo(
        "  a deploy job: POST /_sandbox/gitlab/deployments {project, environment, sha, user}"
    )
    typer.echo(
        "  access tokens (PRIVATE-TOKEN): "
        + ", ".join(f"{login} {token}" for login, token in info.gitlab_tokens.items())
    )
    typer.echo("Users (Jira user / ServiceNow user / token):")
    for login, user in info.users.items():
        typer.echo(
            f"  {login:<10} {user['jira_user']:<24} {user['servicenow_user']:<10} "
            f"{user['token']}  [{user['roles']}] ServiceNow roles: {user['servicenow_roles']}"
        )
    typer.echo("Press Ctrl-C to stop.")
