"""`[deploy.gitlab]`: the GitLab instance whose protected-environment deployments the worker
approves or rejects.

    [deploy.gitlab]
    url = "https://gitlab.example.com"     # the instance root, not /api/v4
    token = "..."                          # CHANGE_CONNECTOR__DEPLOY__GITLAB__TOKEN
    webhook_token = "..."                  # the project hook's secret token (X-Gitlab-Token)
    projects = ["acme/payments", "acme/web"]
    ca_bundle = "/etc/ssl/private-ca.pem"  # a private CA; verification is never switched off

    [deploy.gitlab.services]               # project -> service name (default: the project name)
    "acme/web" = "storefront"

The token is a personal, group or project access token with the `api` scope of a user that is
an approver of the protected environments (Maintainer, or named in their approval rules), and
that is not the user who runs the deploy jobs (GitLab refuses to let a deployment's own user
approve it). The webhook token is the secret of the project hooks (Settings > Webhooks, with
"Deployment events") that point at the worker's `POST /webhooks/gitlab`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class GitLabDeploySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    token: SecretStr
    # The project hooks' secret token; without it `POST /webhooks/gitlab` refuses everything
    # (deployments are then found by polling only).
    webhook_token: SecretStr | None = None
    projects: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    services: dict[str, str] = {}
    ca_bundle: Path | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 4
    max_retry_wait_seconds: Annotated[float, Field(ge=0)] = 30.0

    @field_validator("url")
    @classmethod
    def _https_root(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("not an https URL with a host (https://gitlab.example.com)")
        if parts.path.rstrip("/").endswith("/api/v4"):
            raise ValueError("the instance root, without /api/v4")
        return url.rstrip("/")

    @field_validator("projects")
    @classmethod
    def _paths(cls, projects: tuple[str, ...]) -> tuple[str, ...]:
        for project in projects:
            if "/" not in project.strip("/") or project != project.strip():
                raise ValueError(f"{project!r}: a project path (group/project)")
        return projects

    @property
    def verify(self) -> str | bool:
        return str(self.ca_bundle) if self.ca_bundle else True

    def service_of(self, project: str) -> str:
        """The service a project deploys: configured, else the project's own name."""
        return self.services.get(project) or project.rsplit("/", 1)[-1]
