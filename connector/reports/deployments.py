"""The report's deployments: every deployment the worker heard of in the period, with its
change, outcome and times, and the unauthorized ones as exceptions.

A deployment to a gated environment that the gate would not have allowed when it started (no
approved change, outside the change's window, in a freeze) is an "unauthorized deployment": on
its change (ref "source:key") or, with no change, on the deployment itself (ref
"deploy:provider:reference"). Pure: `build.py` reads the rows from the store; sections.py,
render.py, html.py and sheet.py show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

UNAUTHORIZED = "unauthorized deployment"


@dataclass(frozen=True)
class DeploymentLine:
    provider: str
    reference: str
    service: str
    environment: str
    commit: str
    change: str  # "source:key", or "" when no change was found
    triggered_by: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    verdict: str
    reasons: tuple[str, ...]
    unauthorized: bool
    url: str = ""

    @property
    def ref(self) -> str:
        """What the exception names: the change, or the deployment when it has none."""
        return self.change or f"deploy:{self.provider}:{self.reference}"


def unauthorized_refs(lines: Iterable[DeploymentLine]) -> list[str]:
    """The refs of unauthorized deployments, each once, in the deployments' order."""
    return list(dict.fromkeys(line.ref for line in lines if line.unauthorized))


def messages_for(ref: str, lines: Iterable[DeploymentLine]) -> list[str]:
    """What the exception says: per unauthorized deployment of `ref`, what and why."""
    return [
        f"{line.service} to {line.environment} at {line.started_at.isoformat(timespec='minutes')}"
        f" ({line.outcome}): {' '.join(line.reasons)}"
        for line in lines
        if line.unauthorized and line.ref == ref
    ]
