"""Deployment gates, pure core: may this deploy go ahead now, and why (issue 16).

`model` holds the values (a `Deployment` a pipeline asks about or reports, the `GateDecision`),
`config` the `[deploy]` section of the config, `decide` the decision itself: given the change
(found by key, or by service + environment + commit among stored changes) and the policy's
context, allow / wait / deny with reasons a person can read. No I/O: the shell
(`connector/sync/gates.py`) loads the change and the policy inputs from the store and answers the
pipeline.
"""

from __future__ import annotations

from connector.core.deploy.config import DeploySettings, GithubDeploySettings, GitlabDeploySettings
from connector.core.deploy.decide import decide, find_change
from connector.core.deploy.model import Deployment, GateDecision, Verdict

__all__ = [
    "DeploySettings",
    "Deployment",
    "GateDecision",
    "GithubDeploySettings",
    "GitlabDeploySettings",
    "Verdict",
    "decide",
    "find_change",
]
