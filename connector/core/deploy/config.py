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

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GithubDeploySettings(_Section):
    """`[deploy.github]`: the GitHub App that answers deployment protection rules."""

    app_id: str = ""
    private_key_path: Path | None = None
    private_key: SecretStr | None = None  # PEM text, usually from the environment
    webhook_secret: SecretStr | None = None
    api_url: str = "https://api.github.com"


class GitlabDeploySettings(_Section):
    """`[deploy.gitlab]`: the GitLab instance whose deployment approvals the worker gives."""

    url: str = "https://gitlab.com"
    token: SecretStr | None = None
    webhook_token: SecretStr | None = None
    projects: tuple[str, ...] = ()


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
