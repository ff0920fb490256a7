"""GitLab deployment approvals: decide each blocked deployment and approve or reject it once.

    Deployment Hook "blocked" ─┐
    poll (each cycle)   ───────┴─> settle(project, deployment_id)
        read the deployment (the hook is a hint) -> still blocked, not answered by us?
        gates.evaluate -> remember it under (gitlab, "group/project#id")
        wait       -> answered later by gates.recheck_waits through `GitLabAnswerer`, when an
                      approval arrives or a window opens
        allow/deny -> claim the wait, approve / reject with the reasons as the comment, mark it
    Deployment Hook "success" / "failed" / "canceled" -> gates.record_deployment (evidence);
    each poll also records those that ended in the last few intervals (hooks missed)

The store's claim on the wait keeps two threads or workers from answering the same deployment;
`GitLabClient.answer` reads the deployment's approvals before it writes, so a worker killed
after approving but before marking the wait answered does not approve again. GitLab does not
redeliver a webhook that failed, so each poll cycle lists the blocked deployments of every
configured project and settles those still waiting for this user's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from loguru import logger

from connector.core.deploy import Deployment, GateDecision, Verdict
from connector.core.deploy.config import GitlabDeploySettings
from connector.core.deploy.gitlab import OUTCOMES, HookEvent, parse_reference
from connector.core.errors import ConnectorError
from connector.settings import Settings
from connector.store import Store
from connector.store.deployments import WaitRow
from connector.sync import gates
from connector.systems.gitlab import Answer, GitLabClient, GitLabDeployment

PROVIDER = "gitlab"


@dataclass
class GitLabAnswerer:
    """The `gates.Answerer` of GitLab: the verdict as an approval or a rejection."""

    client: GitLabClient

    def answer(self, wait: WaitRow, decision: GateDecision) -> None:
        project, deployment_id = parse_reference(wait.reference)
        self.send(project, deployment_id, decision)

    def send(self, project: str, deployment_id: int, decision: GateDecision) -> None:
        status: Answer = "approved" if decision.verdict is Verdict.ALLOW else "rejected"
        outcome = self.client.answer(
            project,
            deployment_id,
            status=status,
            comment=f"change-connector: {decision.summary()}",
        )
        logger.info("gitlab: {}#{} {}: {}", project, deployment_id, status, outcome)


@dataclass
class GitLabGate:
    """One worker's GitLab gate: settles blocked deployments, records finished ones."""

    settings: Settings
    store: Store
    client: GitLabClient
    clock: Callable[[], datetime]
    worker: str = "worker"
    answerer: GitLabAnswerer = field(init=False)

    def __post_init__(self) -> None:
        self.answerer = GitLabAnswerer(self.client)

    @property
    def config(self) -> GitlabDeploySettings:
        gitlab = self.settings.deploy.gitlab
        assert gitlab is not None, "the GitLab gate runs only with [deploy.gitlab]"
        return gitlab

    def watches(self, project: str) -> bool:
        return project in self.config.projects

    # -- webhook -----------------------------------------------------------------------------

    def on_event(self, event: HookEvent) -> GateDecision | None:
        """One Deployment Hook: settle a blocked deployment, record an ended one."""
        if not self.watches(event.project) or event.approval:
            return None  # approvals move the deployment on: its next lifecycle event says how
        if event.status == "blocked":
            return self.settle(event.project, event.deployment_id)
        if event.status in OUTCOMES:
            self.record(self.client.deployment(event.project, event.deployment_id))
        return None

    # -- deciding ----------------------------------------------------------------------------

    def settle(self, project: str, deployment_id: int) -> GateDecision | None:
        """Decide a blocked deployment; answer it now unless it waits (None: nothing to do)."""
        found = self.client.deployment(project, deployment_id)
        me = self.client.me()
        if found.status != "blocked" or found.answered_by(me) is not None:
            return None
        if found.username == me:
            # GitLab never lets a deployment's own user approve it: people must answer it
            logger.warning(
                "gitlab: {} was started by the worker's own user {}; GitLab does not let it "
                "approve its own deployments (run deploy jobs as another user)",
                found.reference,
                me,
            )
            return None
        deployment = self.deployment_of(found)
        now = self.clock()
        decision = gates.evaluate(
            store=self.store, settings=self.settings, deployment=deployment, now=now
        )
        gates.remember_wait(store=self.store, deployment=deployment, now=now)
        if decision.verdict is not Verdict.WAIT:
            self._answer_claimed(deployment, decision, now=now)
        return decision

    def recheck(self) -> int:
        """Re-decide every held GitLab deployment; how many were answered."""
        answered = gates.recheck_waits(
            store=self.store,
            settings=self.settings,
            now=self.clock(),
            answerers={PROVIDER: self.answerer},
            worker=self.worker,
        )
        return len(answered)

    def poll(self) -> int:
        """Settle every blocked deployment of the configured projects (missed webhooks), record
        the ones that ended since the last polls, then recheck the held ones; how many blocked
        deployments were looked at."""
        seen = 0
        since = self.clock() - self.lookback
        for project in self.config.projects:
            for found in self.client.blocked(project):
                seen += 1
                try:
                    self.settle(project, found.id)
                except ConnectorError as exc:
                    logger.warning("gitlab: {} not settled: {}", found.reference, exc.message)
            for found in self.client.updated(project, since=since):
                known = self.store.deployment(PROVIDER, found.reference)
                if OUTCOMES.get(found.status) not in (None, known.outcome if known else None):
                    self.record(found)
        self.recheck()
        return seen

    @property
    def lookback(self) -> timedelta:
        """How far back each poll looks for ended deployments: a few poll intervals, so a
        Deployment Hook missed while the worker was down is still found."""
        return max(timedelta(minutes=10), 3 * timedelta(seconds=self.config.poll_interval_seconds))

    def record(self, found: GitLabDeployment) -> None:
        """An ended deployment as evidence: its change, outcome and times."""
        outcome = OUTCOMES.get(found.status)
        if outcome is None:
            return
        if any(a.status == "rejected" for a in found.approvals):
            # rejected while blocked: its job was dropped, nothing was deployed
            logger.info("gitlab: {} was rejected and never ran", found.reference)
            return
        gates.record_deployment(
            store=self.store,
            settings=self.settings,
            deployment=self.deployment_of(found),
            outcome=outcome,  # type: ignore[arg-type]
            finished_at=found.updated_at,
        )

    def deployment_of(self, found: GitLabDeployment) -> Deployment:
        return Deployment(
            provider=PROVIDER,
            reference=found.reference,
            service=self.config.service_of(found.project),
            environment=found.environment,
            commit=found.sha,
            triggered_by=found.username,
            at=found.created_at,
            url=found.url,
        )

    def _answer_claimed(
        self, deployment: Deployment, decision: GateDecision, *, now: datetime
    ) -> None:
        project, deployment_id = parse_reference(deployment.reference)
        gates.answer_claimed(
            store=self.store,
            deployment=deployment,
            decision=decision,
            worker=self.worker,
            now=now,
            send=lambda: self.answerer.send(project, deployment_id, decision),
        )
