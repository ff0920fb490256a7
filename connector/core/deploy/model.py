"""The values of a deployment gate: the deployment asked about (or reported), and the verdict.

A `Deployment` is what a pipeline says: which service goes to which environment at which commit,
who triggered it, and which change it belongs to when it knows. `reference` is the provider's own
id of it (GitHub "owner/repo#run_id:environment", GitLab "group/project#deployment_id", or a
caller-given / generated one for the generic API): provider + reference is the deterministic key
of a remembered wait and of a recorded deployment. A `GateDecision` is the answer: allow, wait or
deny, with the reasons as sentences.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field

from connector.core.model import Frozen


class Verdict(StrEnum):
    ALLOW = "allow"
    WAIT = "wait"
    DENY = "deny"


class Deployment(Frozen):
    provider: Annotated[str, Field(min_length=1)]  # "github" | "gitlab" | "api"
    reference: Annotated[str, Field(min_length=1)]
    service: Annotated[str, Field(min_length=1)]
    environment: Annotated[str, Field(min_length=1)]
    commit: str = ""
    change_key: str | None = None
    triggered_by: str = ""  # login / username of who started it
    at: AwareDatetime
    url: str = ""

    @property
    def key(self) -> str:
        """The deterministic key of this deployment: provider and the provider's own id."""
        return f"{self.provider}:{self.reference}"


class GateDecision(Frozen):
    verdict: Verdict
    reasons: tuple[str, ...]
    change_key: str | None = None
    source: str | None = None  # source name (config) of the change

    def summary(self) -> str:
        """One line for a comment on the deployment: the verdict, the change, why."""
        change = f" ({self.change_key})" if self.change_key else ""
        why = " ".join(self.reasons)
        return f"{self.verdict.value}{change}: {why}" if why else f"{self.verdict.value}{change}"
