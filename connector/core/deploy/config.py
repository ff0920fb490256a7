"""The `[deploy]` section of the config: which environments are gated, which systems a service is.

Pure data, validated at start. `services` maps a deployable service (as pipelines name it) to the
affected systems changes name; an unmapped service stands for the system of the same name.
`gate_token` protects `POST /gates` and `POST /deployments`. The GitHub App
and GitLab sub-sections are optional: without one, that provider is off.

    [deploy]
    gated_environments = ["production"]
    gate_token = "..."            # or CHANGE_CONNECTOR__DEPLOY__GATE_TOKEN
    [deploy.services]
    checkout = ["payments-api", "checkout-web"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GithubDeploySettings(_Section):
    """`[deploy.github]`: the GitHub App that answers deployment protection rules.

    [deploy.github]
    app_id = "424242"                       # the app's id (or its client id)
    private_key_path = "/etc/change-connector/github-app.pem"
    # or its PEM text: CHANGE_CONNECTOR__DEPLOY__GITHUB__PRIVATE_KEY
    webhook_secret = "..."                  # CHANGE_CONNECTOR__DEPLOY__GITHUB__WEBHOOK_SECRET
    api_url = "https://api.github.com"      # GitHub Enterprise Server: https://HOST/api/v3
    repositories = ["acme/payments"]        # reconciled: runs waiting there are settled
    [deploy.github.services]
    "acme/payments" = "checkout"            # a repository deploys this service (default:
                                            # the repository's name)
    """

    app_id: str = ""
    private_key_path: Path | None = None
    private_key: SecretStr | None = None  # PEM text, usually from the environment
    webhook_secret: SecretStr | None = None
    api_url: Annotated[str, Field(pattern=r"^https://")] = "https://api.github.com"
    # Repositories whose waiting runs are listed at start and each poll cycle: GitHub does not
    # redeliver a missed protection-rule webhook.
    repositories: tuple[Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$")], ...] = ()
    # "owner/repo" -> the service its deployments are (default: the repository's name)
    services: dict[str, str] = {}
    # A CA bundle for GitHub Enterprise Server behind a private CA; verification stays on.
    ca_bundle: Path | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0

    @model_validator(mode="after")
    def _complete(self) -> GithubDeploySettings:
        if not self.app_id.strip():
            raise ValueError("app_id: not set (the GitHub App's id)")
        if self.private_key_path is None and self.private_key is None:
            raise ValueError("private_key_path: not set (or private_key from the environment)")
        if self.webhook_secret is None:
            raise ValueError("webhook_secret: not set (the app's webhook secret)")
        return self


class GitlabDeploySettings(_Section):
    """`[deploy.gitlab]`: the GitLab instance whose deployment approvals the worker gives.

        [deploy.gitlab]
        url = "https://gitlab.example.com"     # the instance root, not /api/v4
        token = "..."                          # CHANGE_CONNECTOR__DEPLOY__GITLAB__TOKEN
        webhook_token = "..."                  # the project hooks' secret token
        projects = ["acme/payments", "acme/web"]
        ca_bundle = "/etc/ssl/private-ca.pem"  # a private CA; verification never goes off
        [deploy.gitlab.services]               # project -> service (default: the project name)
        "acme/web" = "storefront"

    The token (scope `api`) belongs to a user who may approve the protected environments
    (Maintainer, or named in their approval rules) and who does not run the deploy jobs: GitLab
    refuses a deployment's own user. The project hooks (Settings > Webhooks, "Deployment events")
    point at the worker's `POST /webhooks/gitlab` with `webhook_token` as their secret token.
    """

    url: str = "https://gitlab.com"
    token: SecretStr | None = None
    # Without it `POST /webhooks/gitlab` refuses everything: deployments are found by polling.
    webhook_token: SecretStr | None = None
    projects: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    services: dict[str, str] = {}
    ca_bundle: Path | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    # How often the worker lists the projects' blocked deployments (webhooks missed) and
    # decides the held ones again (a window opens by the clock alone).
    poll_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # Retries of one call (429, 5xx, dropped connections) and the longest total wait.
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
                raise ValueError(f"{project!r}: not a project path (group/project)")
        return projects

    @property
    def verify(self) -> str | bool:
        return str(self.ca_bundle) if self.ca_bundle else True

    def service_of(self, project: str) -> str:
        """The service a project deploys: as configured, else the project's own name."""
        return self.services.get(project) or project.rsplit("/", 1)[-1]


class DeploySettings(_Section):
    # Environments whose deploys need an approved change; any other environment is allowed.
    gated_environments: tuple[str, ...] = ()
    # service (as pipelines name it) -> the affected systems it is, as changes name them
    services: dict[str, tuple[str, ...]] = {}
    # Bearer token of POST /gates and POST /deployments; none: those are off.
    gate_token: SecretStr | None = None
    # An emergency change in a freeze: "allow" as the policy does (its freeze finding is a
    # warning), or "deny" to hold emergencies to freezes at deploy time too.
    emergency_in_freeze: Literal["allow", "deny"] = "allow"
    # How long a long-polling POST /gates?wait= may hold a request at most.
    max_wait_seconds: Annotated[float, Field(gt=0, le=3600)] = 900.0
    # The server reuses the answer to the same question for this long (0: never): 200 jobs of
    # one release asking at once cost one decision, and no answer is older than this.
    answer_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    github: GithubDeploySettings | None = None
    gitlab: GitlabDeploySettings | None = None

    def gated(self, environment: str) -> bool:
        wanted = environment.casefold()
        return any(env.casefold() == wanted for env in self.gated_environments)

    def systems_of(self, service: str) -> tuple[str, ...]:
        """The affected systems a service stands for (itself when unmapped)."""
        return self.services.get(service, (service,))
