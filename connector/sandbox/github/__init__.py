"""The GitHub sandbox: a GitHub App, its installation, Actions runs waiting on its protection rule.

Mounted at /github on the sandbox server (the API root, as `https://HOST/api/v3` is on GitHub
Enterprise Server). The subset a custom deployment protection rule needs, as GitHub documents it:

    GET  /repos/{owner}/{repo}/installation                  app JWT -> the installation
    POST /app/installations/{installation_id}/access_tokens  app JWT -> 201 installation token
    GET  /repos/{owner}/{repo}/actions/runs?status=waiting   the runs (filter: status)
    GET  /repos/{owner}/{repo}/actions/runs/{run_id}
    GET  /repos/{owner}/{repo}/actions/runs/{run_id}/pending_deployments
    POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule
         {environment_name, state: approved|rejected, comment} -> 204; a comment alone (no
         state) is a status comment and leaves the rule pending. Refused with 422 when the run
         is not waiting on this app's rule in that environment (already answered, another
         environment, a run that moved on); 404 for an unknown run or a repository outside the
         installation; 401 / 403 for missing, expired or the wrong kind of credentials.
    GET  /repos/{owner}/{repo}/deployments[?sha=&environment=], .../deployments/{id}/statuses

`rerun` re-runs a finished run as GitHub does: the same run id, `run_attempt` one more, waiting
on the rule again with a new deployment (and a new webhook naming the same callback URL).

Tests and the demo drive it with `start_deployment` (a workflow job reaches a protected
environment: a deployment, a run waiting, and a signed `deployment_protection_rule` webhook to
the app's webhook URL) and `finish_deployment` (the job ends: a status and a signed
`deployment_status` webhook). Webhooks carry `X-GitHub-Event`, `X-GitHub-Delivery`,
`X-Hub-Signature-256` (HMAC-SHA256 of the body under the app's webhook secret) and are sent
once: GitHub does not redeliver a failed delivery by itself. `callbacks()` lists every answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from connector.sandbox.github import shapes
from connector.sandbox.github.auth import AppKeys
from connector.sandbox.github.model import (
    APP_ID,
    APP_SLUG,
    CLIENT_ID,
    INSTALLATION_ID,
    OWNER,
    REPOSITORIES,
    WEB,
    Run,
)
from connector.sandbox.github.routes import GitHubRoutes
from connector.sandbox.state import SandboxState
from connector.sandbox.webhooks_out import Delivery, WebhookDispatcher

__all__ = ["GitHubSimulator", "Run"]


class GitHubSimulator(GitHubRoutes):
    def __init__(
        self, state: SandboxState, *, base_url: str, dispatcher: WebhookDispatcher, secret: str
    ) -> None:
        self.state = state
        self.api = base_url
        self.dispatcher = dispatcher
        self.webhook_secret = secret
        self.webhook_url: str | None = state.options.github_webhook_url
        self.keys = AppKeys.ensure(state.options.data_dir, app_id=APP_ID, client_id=CLIENT_ID)
        self.owner = shapes.user(self.api, WEB, OWNER, 9001, "Organization")
        self.bot = shapes.user(self.api, WEB, f"{APP_SLUG}[bot]", 9002, "Bot")
        self.repos = {
            name: shapes.repository(self.api, WEB, name, 5001 + i, self.owner)
            for i, name in enumerate(REPOSITORIES)
        }
        self.runs: dict[int, Run] = {}
        self.deployments: dict[int, dict[str, Any]] = {}
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.answers: list[dict[str, Any]] = []
        self._next = 0
        self.created = state.now()

    # -- what tests and the demo call ------------------------------------------------------

    def app_info(self) -> dict[str, Any]:
        return {
            "api_url": self.api,
            "app_id": APP_ID,
            "client_id": CLIENT_ID,
            "installation_id": INSTALLATION_ID,
            "private_key_path": str(self.keys.private_key_path),
            "webhook_secret": self.webhook_secret,
            "repositories": list(REPOSITORIES),
        }

    def start_deployment(
        self, repo: str, *, environment: str, sha: str, actor: str = "bob", ref: str = "main"
    ) -> int:
        """A job reaches `environment`: a deployment, a waiting run, the protection-rule webhook.

        Returns the run id; the webhook goes to `webhook_url` (none sent while it is unset).
        """
        with self.state.lock:
            now = self.state.now()
            repository = self.repos[repo]
            who = self._user(actor)
            run_id = self._id()
            body = shapes.workflow_run(
                repository,
                number=run_id,
                run_number=len(self.runs) + 1,
                sha=sha,
                branch=ref,
                event="push",
                status="waiting",
                conclusion=None,
                actor=who,
                created=now,
                updated=now,
                web=WEB,
            )
            self.runs[run_id] = Run(run_id, repo, environment, 0, body)
            payload = self._hold(self.runs[run_id], who)
        self._send("deployment_protection_rule", payload)
        return run_id

    def rerun(self, run_id: int) -> None:
        """Re-run a finished run: the same run id, its next attempt waits on the rule again."""
        with self.state.lock:
            run = self.runs[run_id]
            if run.body["status"] == "waiting":
                raise ValueError(f"run {run_id} is still waiting")
            run.body.update(
                status="waiting",
                conclusion=None,
                run_attempt=int(run.body["run_attempt"]) + 1,
                updated_at=shapes.iso(self.state.now()),
            )
            run.answer = None
            payload = self._hold(run, run.body["triggering_actor"])
        self._send("deployment_protection_rule", payload)

    def _hold(self, run: Run, who: dict[str, Any]) -> dict[str, Any]:
        """A new deployment of the run's attempt, pending on the rule; the webhook's payload."""
        now = self.state.now()
        repository = self.repos[run.repo]
        dep_id = self._id()
        dep = shapes.deployment(
            self.api,
            repository,
            number=dep_id,
            sha=run.body["head_sha"],
            ref=run.body["head_branch"],
            environment=run.environment,
            creator=who,
            created=now,
            updated=now,
            app=None,
        )
        self.deployments[dep_id] = dep
        self.statuses[dep_id] = []
        self._status(dep, "pending", "Waiting on deployment protection rules")
        run.deployment_id = dep_id
        return {
            "action": "requested",
            "environment": run.environment,
            "event": "push",
            "deployment_callback_url": (
                f"{repository['url']}/actions/runs/{run.id}/deployment_protection_rule"
            ),
            "deployment": dep,
            "pull_requests": [],
            "repository": repository,
            "organization": self._organization(),
            "sender": who,
            "installation": self._installation_lite(),
        }

    def finish_deployment(self, run_id: int, *, state: str = "success") -> None:
        """The approved job ends: a deployment status (success / failure / error), a webhook."""
        with self.state.lock:
            run = self.runs[run_id]
            if run.body["status"] == "waiting":
                raise ValueError(f"run {run_id} is still waiting on its protection rules")
            dep = self.deployments[run.deployment_id]
            status = self._status(dep, state, f"Deployment {state}")
            run.body.update(
                status="completed", conclusion=state if state == "success" else "failure"
            )
            payload = {
                "action": "created",
                "deployment_status": status,
                "deployment": dep,
                "workflow_run": run.body,
                "repository": self.repos[run.repo],
                "organization": self._organization(),
                "sender": dep["creator"],
                "installation": self._installation_lite(),
            }
        self._send("deployment_status", payload)

    def callbacks(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """Every answer (state given) received, in order; for one run if given."""
        with self.state.lock:
            return [dict(a) for a in self.answers if run_id in (None, a["run_id"])]

    def run(self, run_id: int) -> Run:
        return self.runs[run_id]

    def _settle(self, run: Run, *, approved: bool) -> None:
        """The only rule answered: the job goes ahead (queued) or the run fails."""
        now = shapes.iso(self.state.now())
        dep = self.deployments[run.deployment_id]
        if approved:
            run.body.update(status="queued", updated_at=now)
            self._status(dep, "queued", "Deployment protection rules passed")
        else:
            run.body.update(status="completed", conclusion="failure", updated_at=now)
            self._status(dep, "failure", "Rejected by a deployment protection rule")

    def _status(self, dep: dict[str, Any], state: str, description: str) -> dict[str, Any]:
        number = self._id()
        log_url = dep["url"].replace(self.api, WEB)
        status = shapes.deployment_status(
            dep,
            number=number,
            state=state,
            creator=self.bot,
            description=description,
            at=self.state.now(),
            log_url=log_url,
        )
        self.statuses[int(dep["id"])].append(status)
        dep["updated_at"] = status["updated_at"]
        return status

    def _installation_lite(self) -> dict[str, Any]:
        return {"id": INSTALLATION_ID, "node_id": shapes.node_id("Integration", INSTALLATION_ID)}

    def _organization(self) -> dict[str, Any]:
        url = f"{self.api}/orgs/{OWNER}"
        return {
            "login": OWNER,
            "id": self.owner["id"],
            "node_id": self.owner["node_id"],
            "url": url,
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events",
            "hooks_url": f"{url}/hooks",
            "issues_url": f"{url}/issues",
            "members_url": f"{url}/members{{/member}}",
            "public_members_url": f"{url}/public_members{{/member}}",
            "avatar_url": self.owner["avatar_url"],
            "description": None,
        }

    def _user(self, login: str) -> dict[str, Any]:
        return shapes.user(
            self.api,
            WEB,
            login,
            7000 + int(hashlib.sha256(login.encode()).hexdigest()[:4], 16),
            "User",
        )

    def _id(self) -> int:
        self._next += 1
        return 9_100_000_000 + self._next

    def _send(self, event: str, payload: dict[str, Any]) -> None:
        if not self.webhook_url:
            return
        raw = json.dumps(payload).encode()
        digest = hmac.new(self.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
        sha1 = hmac.new(self.webhook_secret.encode(), raw, hashlib.sha1).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/sandbox",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "480000001",
            "X-GitHub-Hook-Installation-Target-ID": str(APP_ID),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-Hub-Signature": f"sha1={sha1}",
            "X-Hub-Signature-256": f"sha256={digest}",
        }
        self.dispatcher.enqueue(Delivery(self.webhook_url, raw, headers))
