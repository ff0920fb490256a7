"""GitHub custom deployment protection rules: decide each held deploy and answer it once.

    deployment_protection_rule webhook ─┐
    reconcile (start, each poll cycle) ─┴─> settle(deployment)
        gates.evaluate -> remember the deploy under (github, "owner/repo#run:env")
        wait       -> a status comment on the rule (why), answered later by gates.recheck_waits
                      through `GitHubAnswerer` when the verdict changes
        allow/deny -> claim the wait, answer (read-before-write: only while the run still waits
                      in that environment), mark it answered
    deployment_status webhook -> gates.record_deployment (evidence)

Every answer goes through the store's claim on the wait, so two worker threads or processes
never answer the same deploy twice; the check on GitHub before writing covers an answer sent by
a worker killed before it could mark it. GitHub does not redeliver a missed webhook, so
`reconcile` lists the runs waiting in every configured repository and settles those the store
does not know (or knows pending).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loguru import logger

from connector.core.deploy import Deployment, GateDecision, Verdict
from connector.core.deploy.github import (
    parse_reference,
    reference,
    rule_deployment,
    service_of,
    status_deployment,
    with_attempt,
)
from connector.core.errors import ConnectorError
from connector.settings import Settings
from connector.store import Store
from connector.store.deployments import WaitRow
from connector.sync import gates
from connector.systems.github import GitHubApp

PROVIDER = "github"


@dataclass
class GitHubAnswerer:
    """The `gates.Answerer` of GitHub: the verdict as the protection rule's answer."""

    app: GitHubApp

    def answer(self, wait: WaitRow, decision: GateDecision) -> None:
        repo, run_id, environment = parse_reference(wait.reference)
        self.send(repo, run_id, environment, decision)

    def send(self, repo: str, run_id: int, environment: str, decision: GateDecision) -> bool:
        sent = self.app.answer(
            repo,
            run_id,
            environment=environment,
            approved=decision.verdict is Verdict.ALLOW,
            comment=f"change-connector: {decision.summary()}",
        )
        if not sent:
            logger.info(
                "github: run {} of {} was already answered in {}", run_id, repo, environment
            )
        return sent


@dataclass
class GitHubGate:
    """One worker's GitHub gate: settles held deploys, records deployment statuses."""

    settings: Settings
    store: Store
    app: GitHubApp
    clock: Callable[[], datetime]
    worker: str = "worker"
    answerer: GitHubAnswerer = field(init=False)

    def __post_init__(self) -> None:
        self.answerer = GitHubAnswerer(self.app)

    @property
    def services(self) -> Mapping[str, str]:
        github = self.settings.deploy.github
        return github.services if github is not None else {}

    def on_protection_rule(self, payload: Mapping[str, Any]) -> GateDecision:
        deployment = rule_deployment(payload, services=self.services, received_at=self.clock())
        repo, run_id, _ = parse_reference(deployment.reference)
        # the event does not say which attempt of the run asks: a re-run asks again
        return self.settle(with_attempt(deployment, self.app.run_attempt(repo, run_id)))

    def on_deployment_status(self, payload: Mapping[str, Any]) -> None:
        found = status_deployment(payload, services=self.services, received_at=self.clock())
        if found is None:
            return
        deployment, outcome, finished = found
        gates.record_deployment(
            store=self.store,
            settings=self.settings,
            deployment=deployment,
            outcome=outcome,  # type: ignore[arg-type]
            finished_at=finished,
        )

    def settle(self, deployment: Deployment) -> GateDecision:
        """Decide `deployment`; answer it now unless it waits (then say why on the rule)."""
        now = self.clock()
        decision = gates.evaluate(
            store=self.store, settings=self.settings, deployment=deployment, now=now
        )
        new = gates.remember_wait(store=self.store, deployment=deployment, now=now)
        repo, run_id, environment = parse_reference(deployment.reference)
        if decision.verdict is Verdict.WAIT:
            if new:  # one status comment per held deploy, not one per reconcile
                self.app.comment(
                    repo,
                    run_id,
                    environment=environment,
                    comment=f"change-connector: {decision.summary()}",
                )
            return decision
        self._answer_claimed(deployment, decision, now=now)
        return decision

    def reconcile(self) -> int:
        """Settle every run waiting in the configured repositories; how many were looked at."""
        github = self.settings.deploy.github
        seen = 0
        for repo in github.repositories if github is not None else ():
            for run in self.app.waiting_runs(repo):
                for environment in sorted(run.environments):
                    seen += 1
                    ref = reference(repo, run.run_id, environment, run.attempt)
                    known = self.store.gate_wait(PROVIDER, ref)
                    if known is not None and known.state != "pending":
                        continue  # answered (GitHub may not have moved the run on yet)
                    deployment = Deployment(
                        provider=PROVIDER,
                        reference=ref,
                        service=service_of(repo, self.services),
                        environment=environment,
                        commit=run.sha,
                        triggered_by=run.actor,
                        at=run.created_at,
                        url=run.url,
                    )
                    try:
                        self.settle(deployment)
                    except ConnectorError as exc:
                        logger.warning("github: {} not settled: {}", ref, exc.message)
        return seen

    def _answer_claimed(
        self, deployment: Deployment, decision: GateDecision, *, now: datetime
    ) -> None:
        repo, run_id, environment = parse_reference(deployment.reference)
        gates.answer_claimed(
            store=self.store,
            deployment=deployment,
            decision=decision,
            worker=self.worker,
            now=now,
            send=lambda: self.answerer.send(repo, run_id, environment, decision),
        )
