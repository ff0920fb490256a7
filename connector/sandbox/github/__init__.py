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
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connector.sandbox.github import shapes
from connector.sandbox.github.auth import AppKeys, AuthFailure
from connector.sandbox.state import SandboxState
from connector.sandbox.webhooks_out import Delivery, WebhookDispatcher

APP_ID = 424242
CLIENT_ID = "Iv23liSandboxApp0001"
APP_SLUG = "change-connector"
INSTALLATION_ID = 60061
OWNER = "acme"
REPOSITORIES = ("acme/payments", "acme/storefront")
WEB = "https://github.sandbox.test"
DOCS = "https://docs.github.com/rest"


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


class GitHubSimulator:
    def __init__(
        self, state: SandboxState, *, base_url: str, dispatcher: WebhookDispatcher, secret: str
    ) -> None:
        self.state = state
        self.api = base_url
        self.dispatcher = dispatcher
        self.webhook_secret = secret
        self.webhook_url: str | None = None
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
            dep_id, run_id = self._id(), self._id()
            dep = shapes.deployment(
                self.api,
                repository,
                number=dep_id,
                sha=sha,
                ref=ref,
                environment=environment,
                creator=who,
                created=now,
                updated=now,
                app=None,
            )
            self.deployments[dep_id] = dep
            self.statuses[dep_id] = []
            self._status(dep, "pending", "Waiting on deployment protection rules")
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
            self.runs[run_id] = Run(run_id, repo, environment, dep_id, body)
            payload = {
                "action": "requested",
                "environment": environment,
                "event": "push",
                "deployment_callback_url": (
                    f"{repository['url']}/actions/runs/{run_id}/deployment_protection_rule"
                ),
                "deployment": dep,
                "pull_requests": [],
                "repository": repository,
                "organization": self._organization(),
                "sender": who,
                "installation": self._installation_lite(),
            }
        self._send("deployment_protection_rule", payload)
        return run_id

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

    # -- routes ------------------------------------------------------------------------------

    @property
    def router(self) -> APIRouter:
        r = APIRouter()
        r.add_api_route("/repos/{owner}/{repo}/installation", self._installation, methods=["GET"])
        r.add_api_route(
            "/app/installations/{installation_id}/access_tokens", self._token, methods=["POST"]
        )
        r.add_api_route("/repos/{owner}/{repo}/actions/runs", self._list_runs, methods=["GET"])
        r.add_api_route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}", self._get_run, methods=["GET"]
        )
        r.add_api_route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/pending_deployments",
            self._pending,
            methods=["GET"],
        )
        r.add_api_route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule",
            self._review,
            methods=["POST"],
        )
        r.add_api_route(
            "/repos/{owner}/{repo}/deployments", self._list_deployments, methods=["GET"]
        )
        r.add_api_route(
            "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
            self._list_statuses,
            methods=["GET"],
        )
        return r

    def _installation(self, owner: str, repo: str, request: Request) -> Response:
        with self.state.lock:
            if (failed := self._app_auth(request)) is not None:
                return failed
            if f"{owner}/{repo}" not in self.repos:
                return _error(
                    404,
                    "Not Found",
                    "apps/apps#get-a-repository-installation-for-the-authenticated-app",
                )
            return JSONResponse(self._installation_body())

    def _token(self, installation_id: int, request: Request) -> Response:
        with self.state.lock:
            if (failed := self._app_auth(request)) is not None:
                return failed
            if installation_id != INSTALLATION_ID:
                return _error(
                    404, "Not Found", "apps/apps#create-an-installation-access-token-for-an-app"
                )
            token = self.keys.issue_token(installation_id, now=self.state.now())
            return JSONResponse(
                {
                    "token": token.value,
                    "expires_at": shapes.iso(token.expires_at),
                    "permissions": _PERMISSIONS,
                    "repository_selection": "selected",
                },
                status_code=201,
            )

    def _list_runs(self, owner: str, repo: str, request: Request) -> Response:
        with self.state.lock:
            if (failed := self._repo_auth(request, owner, repo)) is not None:
                return failed
            status = request.query_params.get("status")
            runs = [
                r.body
                for r in sorted(self.runs.values(), key=lambda r: -r.id)
                if r.repo == f"{owner}/{repo}" and status in (None, r.body["status"])
            ]
            page, per_page = _paging(request)
            chunk = runs[(page - 1) * per_page : page * per_page]
            return JSONResponse({"total_count": len(runs), "workflow_runs": chunk})

    def _get_run(self, owner: str, repo: str, run_id: int, request: Request) -> Response:
        with self.state.lock:
            if (failed := self._repo_auth(request, owner, repo)) is not None:
                return failed
            run = self.runs.get(run_id)
            if run is None or run.repo != f"{owner}/{repo}":
                return _error(404, "Not Found", "actions/workflow-runs#get-a-workflow-run")
            return JSONResponse(run.body)

    def _pending(self, owner: str, repo: str, run_id: int, request: Request) -> Response:
        with self.state.lock:
            if (failed := self._repo_auth(request, owner, repo)) is not None:
                return failed
            run = self.runs.get(run_id)
            if run is None or run.repo != f"{owner}/{repo}":
                return _error(
                    404,
                    "Not Found",
                    "actions/workflow-runs#get-pending-deployments-for-a-workflow-run",
                )
            if run.body["status"] != "waiting":
                return JSONResponse([])
            env = shapes.environment(self.repos[run.repo], WEB, run.environment, 8001)
            return JSONResponse(
                [
                    {
                        "environment": env,
                        "wait_timer": 0,
                        "wait_timer_started_at": None,
                        "current_user_can_approve": False,
                        "reviewers": [],
                    }
                ]
            )

    async def _review(self, owner: str, repo: str, run_id: int, request: Request) -> Response:
        raw = await request.body()
        with self.state.lock:
            if (failed := self._repo_auth(request, owner, repo)) is not None:
                return failed
            run = self.runs.get(run_id)
            if run is None or run.repo != f"{owner}/{repo}":
                return _error(404, "Not Found", _REVIEW_DOC)
            body = _json_object(raw)
            problem = _review_problem(body)
            if problem:
                return _error(422, problem, _REVIEW_DOC)
            assert body is not None
            if body["environment_name"] != run.environment or run.body["status"] != "waiting":
                return _error(
                    422,
                    f"No pending deployment protection rule of this app for environment "
                    f"'{body['environment_name']}' in this workflow run",
                    _REVIEW_DOC,
                )
            entry = {
                "run_id": run_id,
                "environment_name": body["environment_name"],
                "state": body.get("state"),
                "comment": body.get("comment", ""),
                "at": self.state.now().timestamp(),
            }
            if body.get("state") is None:
                run.comments.append(entry)
                return Response(status_code=204)
            run.answer = entry
            self.answers.append(entry)
            self._settle(run, approved=body["state"] == "approved")
            return Response(status_code=204)

    def _list_deployments(self, owner: str, repo: str, request: Request) -> Response:
        with self.state.lock:
            if (failed := self._repo_auth(request, owner, repo)) is not None:
                return failed
            q = request.query_params
            base = self.repos[f"{owner}/{repo}"]["url"]
            found = [
                d
                for d in sorted(self.deployments.values(), key=lambda d: -int(d["id"]))
                if d["repository_url"] == base
                and q.get("sha") in (None, d["sha"])
                and q.get("environment") in (None, d["environment"])
            ]
            page, per_page = _paging(request)
            return JSONResponse(found[(page - 1) * per_page : page * per_page])

    def _list_statuses(
        self, owner: str, repo: str, deployment_id: int, request: Request
    ) -> Response:
        with self.state.lock:
            if (failed := self._repo_auth(request, owner, repo)) is not None:
                return failed
            dep = self.deployments.get(deployment_id)
            if dep is None or dep["repository_url"] != self.repos[f"{owner}/{repo}"]["url"]:
                return _error(404, "Not Found", "deployments/statuses#list-deployment-statuses")
            return JSONResponse(list(reversed(self.statuses[deployment_id])))

    # -- helpers -------------------------------------------------------------------------------

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

    def _app_auth(self, request: Request) -> Response | None:
        try:
            self.keys.check_jwt(request.headers.get("authorization"), now=self.state.now())
        except AuthFailure as exc:
            return _error(exc.status, exc.message, "apps/apps")
        request.state.sandbox_user = f"app:{APP_ID}"
        return None

    def _repo_auth(self, request: Request, owner: str, repo: str) -> Response | None:
        try:
            token = self.keys.check_token(
                request.headers.get("authorization"), now=self.state.now()
            )
        except AuthFailure as exc:
            return _error(exc.status, exc.message, "overview/authenticating-to-the-rest-api")
        request.state.sandbox_user = f"installation:{token.installation_id}"
        if f"{owner}/{repo}" not in self.repos:
            return _error(404, "Not Found", "repos/repos#get-a-repository")
        return None

    def _installation_body(self) -> dict[str, Any]:
        at = shapes.iso(self.created)
        return {
            "id": INSTALLATION_ID,
            "account": self.owner,
            "repository_selection": "selected",
            "access_tokens_url": f"{self.api}/app/installations/{INSTALLATION_ID}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{WEB}/organizations/{OWNER}/settings/installations/{INSTALLATION_ID}",
            "app_id": APP_ID,
            "client_id": CLIENT_ID,
            "target_id": self.owner["id"],
            "target_type": "Organization",
            "permissions": _PERMISSIONS,
            "events": ["deployment_protection_rule", "deployment_status"],
            "created_at": at,
            "updated_at": at,
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "app_slug": APP_SLUG,
            "suspended_by": None,
            "suspended_at": None,
        }

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


_REVIEW_DOC = "actions/workflow-runs#review-custom-deployment-protection-rules-for-a-workflow-run"
_PERMISSIONS = {"actions": "read", "deployments": "write", "metadata": "read"}


def _error(status: int, message: str, doc: str) -> JSONResponse:
    return JSONResponse(
        {"message": message, "documentation_url": f"{DOCS}/{doc}", "status": str(status)},
        status_code=status,
    )


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _review_problem(body: dict[str, Any] | None) -> str:
    if body is None:
        return "Problems parsing JSON"
    if set(body) - {"environment_name", "state", "comment"}:
        return "Invalid request: unknown keys"
    if not isinstance(body.get("environment_name"), str) or not body["environment_name"]:
        return "Invalid request: environment_name is required"
    state = body.get("state")
    if state is None:
        if not isinstance(body.get("comment"), str) or not body["comment"]:
            return "Invalid request: state or comment is required"
    elif state not in ("approved", "rejected"):
        return "Invalid request: state must be approved or rejected"
    if "comment" in body and not isinstance(body["comment"], str):
        return "Invalid request: comment must be a string"
    return ""


def _paging(request: Request) -> tuple[int, int]:
    q = request.query_params
    try:
        page = max(1, int(q.get("page", "1")))
        per_page = min(100, max(1, int(q.get("per_page", "30"))))
    except ValueError:
        return 1, 30
    return page, per_page
