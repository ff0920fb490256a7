"""GitLab's shapes as gate inputs (pure): a Deployment Hook body read, the gate's reference of a
GitLab deployment ("group/project#deployment_id").

A Deployment Hook (`X-Gitlab-Event: Deployment Hook`, doc/user/project/integrations/
webhook_events.md, tests/fixtures/real/gitlab/) says that deployment `deployment_id` of project
`project.path_with_namespace` changed: lifecycle events carry the deployment's new `status`
(blocked, running, success, failed, canceled), approval events the approval's (approved,
rejected) with `approver` and `approval`. The body is a hint: the gate reads the deployment
itself by id before deciding anything, so only the fields that name it are read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.core.model import Frozen

#: Lifecycle statuses of a deployment that has ended, and what the evidence records for them.
OUTCOMES = {"success": "success", "failed": "failure", "canceled": "failure"}


class PayloadProblem(ValueError):
    """A Deployment Hook body that does not name a deployment."""


class HookEvent(Frozen):
    project: str  # path_with_namespace
    deployment_id: int
    status: str
    environment: str = ""
    username: str = ""  # who triggered the deployment
    approval: bool = False  # an approval event (status is the approval's)


def reference(project: str, deployment_id: int) -> str:
    """The gate's reference of a GitLab deployment: "group/project#deployment_id"."""
    return f"{project}#{deployment_id}"


def parse_reference(text: str) -> tuple[str, int]:
    """("group/project", deployment_id) of a reference; ValueError when it is not one."""
    project, sep, number = text.rpartition("#")
    if not sep or "/" not in project or not number.isdigit():
        raise ValueError(f"not a GitLab deployment reference: {text!r}")
    return project, int(number)


def hook_event(payload: Mapping[str, Any]) -> HookEvent:
    """The deployment a Deployment Hook names, or `PayloadProblem`."""
    if payload.get("object_kind") != "deployment":
        raise PayloadProblem("not a deployment event (object_kind is not 'deployment')")
    project = payload.get("project")
    path = project.get("path_with_namespace") if isinstance(project, Mapping) else None
    number = payload.get("deployment_id")
    status = payload.get("status")
    if not isinstance(path, str) or "/" not in path:
        raise PayloadProblem("no project.path_with_namespace")
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise PayloadProblem("no deployment_id")
    if not isinstance(status, str) or not status:
        raise PayloadProblem("no status")
    user = payload.get("user")
    username = user.get("username") if isinstance(user, Mapping) else None
    environment = payload.get("environment")
    return HookEvent(
        project=path,
        deployment_id=number,
        status=status,
        environment=environment if isinstance(environment, str) else "",
        username=username if isinstance(username, str) else "",
        approval="approval" in payload or status in ("approved", "rejected"),
    )
