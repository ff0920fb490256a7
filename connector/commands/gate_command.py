"""`change-connector gate`: may this deploy go ahead? For any pipeline step (Jenkins, Argo CD
hooks, scripts) that can run a command.

It decides locally against the store the worker keeps (the same `sync/gates.evaluate` behind
`POST /gates`, GitHub and GitLab), so it needs the worker's config and store, not its server; a
step that can only make HTTP calls uses `POST /gates` instead. It prints the verdict and why, and
exits 0 (allow), 1 (deny) or 75 (still waiting: with `--wait`, when `--timeout` passed first;
without, at once). With `--wait` it decides again every few seconds, so an approval the worker
records, or a window that opens, lets the deploy go ahead without a new run.
"""

from __future__ import annotations

import re
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import typer

from connector.commands.worker_commands import open_store
from connector.core.deploy import Deployment, GateDecision, Verdict
from connector.core.errors import ConfigError
from connector.core.user_input import BadInput, check_text
from connector.settings import load_settings
from connector.sync import gates

EXIT = {Verdict.ALLOW: 0, Verdict.DENY: 1, Verdict.WAIT: 75}  # 75: EX_TEMPFAIL
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_timeout(text: str) -> float:
    """'30m', '90s', '2h' or plain seconds -> seconds."""
    match = _DURATION.match(text)
    if match is None or float(match[1]) <= 0:
        raise ConfigError(f"--timeout: {text!r} is not a duration like 30m, 90s or 2h")
    return float(match[1]) * _UNITS[match[2]]


def run_gate(
    *,
    config: Path | None,
    change: str | None,
    env: str,
    service: str,
    commit: str,
    triggered_by: str,
    wait: bool,
    timeout: str,
    interval: float,
) -> None:
    seconds = parse_timeout(timeout)
    for value, what in ((env, "--env"), (service, "--service")):
        if not value.strip():
            raise ConfigError(f"{what}: required")
    try:
        for value, what in ((change or "", "--change"), (commit, "--commit")):
            check_text(value, what)
    except BadInput as exc:
        raise ConfigError(str(exc)) from None
    settings = load_settings(config)
    now = datetime.now(UTC)
    deployment = Deployment(
        provider="api",
        reference=f"cli-{now.strftime('%Y%m%dT%H%M%S%f')}",
        service=service.strip(),
        environment=env.strip(),
        commit=commit.strip(),
        change_key=(change or "").strip() or None,
        triggered_by=triggered_by.strip(),
        at=now,
    )
    deadline = time.monotonic() + seconds
    with closing(open_store(settings, appends=False)) as store:
        while True:
            decision = gates.evaluate(
                store=store, settings=settings, deployment=deployment, now=datetime.now(UTC)
            )
            if decision.verdict is not Verdict.WAIT or not wait:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(interval, left))
    _print(decision, timed_out=wait and decision.verdict is Verdict.WAIT, timeout=timeout)
    code = EXIT[decision.verdict]
    if code:
        raise typer.Exit(code)


def _print(decision: GateDecision, *, timed_out: bool, timeout: str) -> None:
    change = f" {decision.source}/{decision.change_key}" if decision.change_key else ""
    typer.echo(f"{decision.verdict.value}{change}")
    for reason in decision.reasons:
        typer.echo(f"  {reason}")
    if timed_out:
        typer.echo(f"  still waiting after {timeout}: giving up (exit 75)")
