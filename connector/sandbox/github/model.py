"""The GitHub sandbox's fixed world: one app, its installation on an organization's repositories,
and the workflow runs it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

APP_ID = 424242
CLIENT_ID = "Iv23liSandboxApp0001"
APP_SLUG = "change-connector"
INSTALLATION_ID = 60061
OWNER = "acme"
REPOSITORIES = ("acme/payments", "acme/storefront")
WEB = "https://github.sandbox.test"
DOCS = "https://docs.github.com/rest"
PERMISSIONS = {"actions": "read", "deployments": "write", "metadata": "read"}


@dataclass
class Run:
    id: int
    repo: str
    environment: str
    deployment_id: int
    body: dict[str, Any]
    # this app's rule, per environment: None while pending, else the answer
    answer: dict[str, Any] | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)
