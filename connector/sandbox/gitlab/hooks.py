"""The GitLab simulator's project webhooks: "Deployment Hook" deliveries as GitLab sends them.

A project hook has a URL, an optional secret token (sent as-is in `X-Gitlab-Token`; GitLab signs
nothing) and the events it wants. Each delivery carries `X-Gitlab-Event: Deployment Hook`, the
hook's `X-Gitlab-Webhook-UUID`, a fresh `X-Gitlab-Event-UUID` and `Idempotency-Key`, the
instance's URL in `X-Gitlab-Instance`, and a body shaped like the examples of
doc/user/project/integrations/webhook_events.md (tests/fixtures/real/gitlab/): lifecycle events
(blocked, running, success, failed, canceled) and, on Premium, approval events whose `status`
is the approval's ("approved" / "rejected") with `approver` and `approval` added.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.sandbox.gitlab.model import Approval, Deployment, hook_stamp, stamp
from connector.sandbox.webhooks_out import Delivery

USER_AGENT = "GitLab/18.6.0-ee"


@dataclass(frozen=True)
class ProjectHook:
    id: int
    url: str
    token: str | None
    uuid: str
    deployment_events: bool = True


def deployment_event(
    deployment: Deployment,
    *,
    base_url: str,
    at: datetime,
    approval: Approval | None = None,
) -> dict[str, Any]:
    """The body of one Deployment Hook for `deployment`'s current status (or `approval`)."""
    project = deployment.project
    project_url = f"{base_url}/{project.path_with_namespace}"
    host = base_url.split("://", 1)[-1].split("/", 1)[0]
    body: dict[str, Any] = {
        "object_kind": "deployment",
        "status": approval.status if approval is not None else deployment.status,
        "status_changed_at": stamp(at) if approval is not None else hook_stamp(at),
        "deployment_id": deployment.id,
        "deployable_id": deployment.job_id,
        "deployable_url": f"{project_url}/-/jobs/{deployment.job_id}",
        "environment": deployment.environment.name,
        "environment_tier": deployment.environment.tier,
        "environment_slug": deployment.environment.slug,
        "environment_external_url": f"https://{deployment.environment.slug}.example.com",
        "project": {
            "id": project.id,
            "name": project.name,
            "description": "",
            "web_url": project_url,
            "avatar_url": None,
            "git_ssh_url": f"git@{host}:{project.path_with_namespace}.git",
            "git_http_url": f"{project_url}.git",
            "namespace": project.namespace,
            "visibility_level": 0,
            "path_with_namespace": project.path_with_namespace,
            "default_branch": "main",
            "ci_config_path": "",
            "homepage": project_url,
            "url": f"git@{host}:{project.path_with_namespace}.git",
            "ssh_url": f"git@{host}:{project.path_with_namespace}.git",
            "http_url": f"{project_url}.git",
        },
        "short_sha": deployment.sha[:8],
        "user": deployment.user.hook(base_url),
        "user_url": f"{base_url}/{deployment.user.username}",
        "commit_url": f"{project_url}/-/commit/{deployment.sha}",
        "commit_title": deployment.title,
    }
    if approval is not None:
        body["approver"] = approval.user.hook(base_url)
        body["approval"] = {
            "id": approval.id,
            "status": approval.status,
            "comment": approval.comment,
            "created_at": stamp(approval.created_at),
            "approval_rule": None,  # the unified approval setting: no rules
        }
    return body


def delivery(hook: ProjectHook, body: dict[str, Any], *, instance: str) -> Delivery:
    """One POST of `body` to `hook`, with GitLab's headers."""
    event = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Gitlab-Event": "Deployment Hook",
        "X-Gitlab-Webhook-UUID": hook.uuid,
        "X-Gitlab-Instance": instance,
        "X-Gitlab-Event-UUID": event,
        "Idempotency-Key": event,
    }
    if hook.token is not None:
        headers["X-Gitlab-Token"] = hook.token
    return Delivery(hook.url, json.dumps(body).encode(), headers)
