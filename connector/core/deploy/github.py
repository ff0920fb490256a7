"""GitHub's webhook payloads as gate inputs: `deployment_protection_rule` and `deployment_status`.

Pure: a parsed JSON payload in, a `Deployment` (or a one-line refusal) out. The reference of a
deployment a protection rule holds is "owner/repo#run_id:environment" (the run id from the
payload's `deployment_callback_url`, the only place GitHub names it), the key under which the
wait is remembered and answered once. A deployment status event refers to the same run when
GitHub names it (`workflow_run.id`), so its evidence row and the gate's wait share the key; a
deployment made without Actions is "owner/repo#deployment:ID". A re-run of a workflow keeps its
run id and waits on the rule again: its attempt is part of the reference from the second on.

The service is the repository's name unless `[deploy.github.services]` maps "owner/repo" to
another; the change key, when the pipeline knows it, comes from the deployment's `payload`
(`{"change": "CHG-12"}`, set by `createDeployment` or the deploying workflow).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector.core.deploy.model import Deployment

_CALLBACK = re.compile(r"/repos/[^/]+/[^/]+/actions/runs/(\d+)/deployment_protection_rule$")
OUTCOMES = {"success": "success", "failure": "failure", "error": "failure"}


class PayloadProblem(ValueError):
    """A payload that lacks what the gate needs: the message says which key."""


def reference(repo: str, run_id: int, environment: str, attempt: int = 1) -> str:
    """ "owner/repo#run_id:environment"; a re-run (same run id, a new attempt that waits on the
    rule again) is "owner/repo#run_id.attempt:environment"."""
    run = f"{run_id}" if attempt <= 1 else f"{run_id}.{attempt}"
    return f"{repo}#{run}:{environment}"


def parse_reference(value: str) -> tuple[str, int, str]:
    """("owner/repo", run_id, environment) of a protection-rule reference."""
    repo, _, rest = value.partition("#")
    run, _, environment = rest.partition(":")
    run_id, _, attempt = run.partition(".")
    if not repo or not run_id.isdigit() or not environment or not (attempt or "1").isdigit():
        raise PayloadProblem(f"not a GitHub run reference: {value!r}")
    return repo, int(run_id), environment


def with_attempt(deployment: Deployment, attempt: int) -> Deployment:
    """The deployment of a protection rule under its run attempt's reference."""
    repo, run_id, environment = parse_reference(deployment.reference)
    return deployment.model_copy(
        update={"reference": reference(repo, run_id, environment, attempt)}
    )


def service_of(repo: str, services: Mapping[str, str]) -> str:
    return services.get(repo) or repo.rsplit("/", 1)[-1]


def rule_deployment(
    payload: Mapping[str, Any], *, services: Mapping[str, str], received_at: datetime
) -> Deployment:
    """The deployment a `deployment_protection_rule` event asks about."""
    repo = _text(payload, "repository", "full_name")
    environment = _text(payload, "environment")
    match = _CALLBACK.search(_text(payload, "deployment_callback_url"))
    if match is None:
        raise PayloadProblem("deployment_callback_url: not a workflow run's callback URL")
    run_id = int(match.group(1))
    deployment = payload.get("deployment")
    deployment = deployment if isinstance(deployment, Mapping) else {}
    return _deployment(
        payload,
        deployment,
        ref=reference(repo, run_id, environment),
        service=service_of(repo, services),
        environment=environment,
        received_at=received_at,
        url=f"{_web(payload)}/actions/runs/{run_id}",
    )


def status_deployment(
    payload: Mapping[str, Any], *, services: Mapping[str, str], received_at: datetime
) -> tuple[Deployment, str, datetime] | None:
    """(deployment, outcome, finished at) of a finished `deployment_status`; None while running."""
    status = payload.get("deployment_status")
    deployment = payload.get("deployment")
    if not isinstance(status, Mapping) or not isinstance(deployment, Mapping):
        raise PayloadProblem("deployment_status: missing deployment_status or deployment")
    outcome = OUTCOMES.get(str(status.get("state", "")))
    if outcome is None:
        return None  # queued, in_progress, pending, waiting, inactive: not an outcome yet
    repo = _text(payload, "repository", "full_name")
    environment = str(deployment.get("environment") or status.get("environment") or "")
    if not environment:
        raise PayloadProblem("deployment.environment: missing")
    run = payload.get("workflow_run")
    if isinstance(run, Mapping) and isinstance(run.get("id"), int):
        attempt = run.get("run_attempt")
        ref = reference(
            repo, int(run["id"]), environment, attempt if isinstance(attempt, int) else 1
        )
    else:
        ref = f"{repo}#deployment:{deployment.get('id')}"
    found = _deployment(
        payload,
        deployment,
        ref=ref,
        service=service_of(repo, services),
        environment=environment,
        received_at=received_at,
        url=str(status.get("log_url") or status.get("target_url") or ""),
    )
    return found, outcome, _when(status.get("created_at")) or received_at


def _deployment(
    payload: Mapping[str, Any],
    deployment: Mapping[str, Any],
    *,
    ref: str,
    service: str,
    environment: str,
    received_at: datetime,
    url: str,
) -> Deployment:
    """A GitHub deployment as the gate sees it: commit, change key, who started it and when from
    the event's `deployment` object (the sender when it names no creator)."""
    return Deployment(
        provider="github",
        reference=ref,
        service=service,
        environment=environment,
        commit=str(deployment.get("sha") or ""),
        change_key=_change_key(deployment),
        triggered_by=_login(deployment.get("creator")) or _login(payload.get("sender")),
        at=_when(deployment.get("created_at")) or received_at,
        url=url,
    )


def _text(payload: Mapping[str, Any], *path: str) -> str:
    value: Any = payload
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value:
        raise PayloadProblem(f"{'.'.join(path)}: missing")
    return value


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, Mapping) else ""


def _change_key(deployment: Mapping[str, Any]) -> str | None:
    extra = deployment.get("payload")
    key = extra.get("change") if isinstance(extra, Mapping) else None
    return key.strip() if isinstance(key, str) and key.strip() else None


def _web(payload: Mapping[str, Any]) -> str:
    repo = payload.get("repository")
    return str(repo.get("html_url") or "") if isinstance(repo, Mapping) else ""


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
