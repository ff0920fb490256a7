"""The GitLab simulator: deployments blocked on protected environments and their approvals.

    GET  /gitlab/api/v4/user
    GET  /gitlab/api/v4/projects/:id/deployments            ?status=blocked&environment=...
    GET  /gitlab/api/v4/projects/:id/deployments/:deployment_id
    POST /gitlab/api/v4/projects/:id/deployments/:deployment_id/approval   status, comment
    POST /gitlab/api/v4/projects/:id/hooks                   url, token, deployment_events

`:id` is the numeric id or the URL-encoded path ("acme%2Fpayments"). Callers authenticate with
a personal access token in `PRIVATE-TOKEN` or `Authorization: Bearer`; anything else is 401.
An approval is refused (400, `{"message": ...}`) exactly where Deployments::ApprovalService
refuses it: an unknown status, an unprotected environment, a caller who may not approve (below
Maintainer), a deployment that is not blocked, the deployment's own user approving, a comment
over 255 characters. The same user approving again gets its earlier approval back, unchanged,
as GitLab does. Lists page like GitLab (`page`, `per_page` up to 100, `X-Total`, `Link`).

Tests and the demo make deployments with `create_deployment` (what a pipeline's deploy job
does) and register project hooks with `add_hook`; every status change sends a Deployment Hook.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from connector.sandbox.gitlab.hooks import ProjectHook, deployment_event
from connector.sandbox.gitlab.hooks import delivery as hook_delivery
from connector.sandbox.gitlab.listing import API, deployments_page
from connector.sandbox.gitlab.model import (
    APPROVER_ROLES,
    GITLAB_USERS,
    GITLAB_USERS_BY_NAME,
    MAX_COMMENT,
    Approval,
    Deployment,
    Environment,
    GitLabUser,
    Project,
    seed_projects,
)
from connector.sandbox.gitlab.rules import (
    GitLabError,
    authenticate,
    body_of,
    refusal,
    unauthorized,
)
from connector.sandbox.state import SandboxState
from connector.sandbox.webhooks_out import Delivery, WebhookDispatcher


class GitLabSimulator:
    """The simulated GitLab instance; `base_url` is its root (…/gitlab)."""

    def __init__(self, state: SandboxState, *, base_url: str, webhooks: WebhookDispatcher) -> None:
        self.state = state
        self.base_url = base_url
        self.webhooks = webhooks
        self.projects = seed_projects()
        self.deployments: dict[int, Deployment] = {}
        self.hooks: dict[int, list[ProjectHook]] = {}
        # GitLab's own clock (its timestamps); tests may set it apart from the sandbox's.
        self.clock: Callable[[], datetime] = state.now
        # A deployment that starts running finishes at once with this status (None: it stays
        # running until `finish`).
        self.auto_finish: str | None = "success"
        self._ids = {"deployment": 500, "job": 9000, "pipeline": 700, "approval": 40, "hook": 1}
        self._outbox: list[Delivery] = []
        self.router = APIRouter()
        self.router.add_api_route(f"{API}/user", self._user, methods=["GET"])
        deployments = f"{API}/projects/{{project:path}}/deployments"
        self.router.add_api_route(deployments, self._list, methods=["GET"])
        self.router.add_api_route(f"{deployments}/{{deployment_id}}", self._get, methods=["GET"])
        self.router.add_api_route(
            f"{deployments}/{{deployment_id}}/approval", self._approve, methods=["POST"]
        )
        self.router.add_api_route(
            f"{API}/projects/{{project:path}}/hooks", self._add_hook_route, methods=["POST"]
        )
        # What a pipeline does, for a sandbox run in the foreground (tests call the methods).
        self.control = APIRouter()
        self.control.add_api_route("/deployments", self._create_route, methods=["POST"])
        self.control.add_api_route(
            "/deployments/{deployment_id}/finish", self._finish_route, methods=["POST"]
        )

    @staticmethod
    def users() -> tuple[GitLabUser, ...]:
        return GITLAB_USERS

    # -- what a pipeline (tests, the demo) does ---------------------------------------------

    def add_hook(self, project: str, *, url: str, token: str | None) -> ProjectHook:
        """A project webhook with deployment events (Settings > Webhooks)."""
        with self.state.lock:
            return self._new_hook(self._project(project), url, token)

    def create_deployment(
        self,
        project: str,
        environment: str,
        *,
        sha: str,
        user: str,
        ref: str = "main",
        title: str = "Deploy",
    ) -> dict[str, Any]:
        """A deploy job reaching `environment`: blocked if the environment needs approvals."""
        if not environment or len(sha) != 40 or user not in GITLAB_USERS_BY_NAME:
            raise GitLabError(400, {"error": "environment, a 40-character sha and a user"})
        with self.state.lock:
            found = self._project(project)
            env = found.environments.get(environment)
            if env is None:
                env = Environment(self._next("job"), environment, "other")
                found.environments[environment] = env
            now = self.clock()
            deployment = Deployment(
                id=self._next("deployment"),
                iid=sum(1 for d in self.deployments.values() if d.project is found) + 1,
                project=found,
                environment=env,
                ref=ref,
                sha=sha,
                title=title,
                user=GITLAB_USERS_BY_NAME[user],
                job_id=self._next("job"),
                pipeline_id=self._next("pipeline"),
                created_at=now,
                updated_at=now,
                status="created",
            )
            self.deployments[deployment.id] = deployment
            if env.protected and env.required_approvals > 0:
                self._move(deployment, "blocked")
            else:
                self._start(deployment)
            body = deployment.api(self.base_url)
        self._flush()
        return body

    def finish(self, deployment_id: int, status: str = "success") -> None:
        """The deploy job of a running deployment ends (`success`, `failed` or `canceled`)."""
        with self.state.lock:
            deployment = self.deployments[deployment_id]
            if deployment.status != "running":
                raise ValueError(f"deployment {deployment_id} is {deployment.status}")
            deployment.job_status = status
            self._move(deployment, status)
        self._flush()

    def deployment(self, deployment_id: int) -> dict[str, Any]:
        with self.state.lock:
            return self.deployments[deployment_id].api(self.base_url)

    # -- routes -----------------------------------------------------------------------------

    async def _user(self, request: Request) -> Response:
        user = authenticate(request)
        if user is None:
            return unauthorized()
        body = {**user.api(self.base_url), "email": user.email, "bot": False}
        return JSONResponse(body)

    async def _list(self, request: Request, project: str) -> Response:
        user = authenticate(request)
        if user is None:
            return unauthorized()
        params = dict(request.query_params)
        return await run_in_threadpool(self._locked, self._list_work, project, params, request)

    async def _get(self, request: Request, project: str, deployment_id: str) -> Response:
        user = authenticate(request)
        if user is None:
            return unauthorized()
        return await run_in_threadpool(self._locked, self._get_work, project, deployment_id)

    async def _approve(self, request: Request, project: str, deployment_id: str) -> Response:
        user = authenticate(request)
        if user is None:
            return unauthorized()
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        return await run_in_threadpool(
            self._locked, self._approve_work, project, deployment_id, body, user
        )

    async def _add_hook_route(self, request: Request, project: str) -> Response:
        user = authenticate(request)
        if user is None:
            return unauthorized()
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        if user.role not in APPROVER_ROLES:
            return JSONResponse({"message": "403 Forbidden"}, status_code=403)
        url, token = body.get("url"), body.get("token")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return JSONResponse({"error": "url is missing"}, status_code=400)

        def work() -> Response:
            hook = self._new_hook(self._project(project), url, token or None)
            return JSONResponse(
                {"id": hook.id, "url": hook.url, "deployment_events": True}, status_code=201
            )

        return await run_in_threadpool(self._locked, work)

    async def _create_route(self, request: Request) -> Response:
        """POST /_sandbox/gitlab/deployments {project, environment, sha, user, ref?, title?}"""
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        try:
            made = await run_in_threadpool(
                self.create_deployment,
                str(body.get("project", "")),
                str(body.get("environment", "")),
                sha=str(body.get("sha", "")),
                user=str(body.get("user", "")),
                ref=str(body.get("ref") or "main"),
                title=str(body.get("title") or "Deploy"),
            )
        except GitLabError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        except KeyError:
            return JSONResponse({"error": "user: no such GitLab user"}, status_code=400)
        return JSONResponse(made, status_code=201)

    async def _finish_route(self, request: Request, deployment_id: int) -> Response:
        """POST /_sandbox/gitlab/deployments/{id}/finish {status: success|failed|canceled}"""
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        status = str(body.get("status") or "success")
        if deployment_id not in self.deployments or status not in ("success", "failed", "canceled"):
            return JSONResponse({"error": "no such deployment or status"}, status_code=400)
        try:
            await run_in_threadpool(self.finish, deployment_id, status)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse(self.deployment(deployment_id))

    # -- the work, under the sandbox lock ---------------------------------------------------

    def _locked(self, work: Callable[..., Response], *args: Any) -> Response:
        try:
            with self.state.lock:
                response = work(*args)
        except GitLabError as exc:
            response = JSONResponse(exc.body, status_code=exc.status)
        self._flush()
        return response

    def _list_work(self, project: str, params: dict[str, str], request: Request) -> Response:
        found = self._project(project)
        return deployments_page(
            self.deployments.values(),
            found=found,
            project=project,
            params=params,
            base_url=self.base_url,
        )

    def _get_work(self, project: str, deployment_id: str) -> Response:
        return JSONResponse(self._deployment(project, deployment_id).api(self.base_url))

    def _approve_work(
        self, project: str, deployment_id: str, body: Mapping[str, Any], user: GitLabUser
    ) -> Response:
        status = body.get("status")
        if status is None:
            raise GitLabError(400, {"error": "status is missing"})
        if status not in ("approved", "rejected"):
            raise GitLabError(400, {"error": "status does not have a valid value"})
        deployment = self._deployment(project, deployment_id)
        comment = body.get("comment")
        problem = refusal(deployment, user, status)
        if problem is not None:
            raise GitLabError(400, {"message": problem})
        if isinstance(comment, str) and len(comment) > MAX_COMMENT:
            message = f"Comment is too long (maximum is {MAX_COMMENT} characters)"
            raise GitLabError(400, {"message": [message]})
        approval = self._upsert(deployment, user, status, comment)
        return JSONResponse(approval.api(self.base_url), status_code=201)

    def _upsert(
        self, deployment: Deployment, user: GitLabUser, status: str, comment: Any
    ) -> Approval:
        now = self.clock()
        for approval in deployment.approvals:
            if approval.user is user:
                if approval.status == status:
                    return approval  # GitLab returns the earlier approval, comment unchanged
                approval.status, approval.comment = status, comment
                break
        else:
            approval = Approval(self._next("approval"), user, status, comment, now)
            deployment.approvals.append(approval)
        deployment.updated_at = now
        self._send(deployment, approval=approval)
        if status == "rejected":
            deployment.job_status = "failed"
            self._move(deployment, "failed")
        elif deployment.pending_approval_count <= 0:
            self._start(deployment)
        return approval

    # -- helpers ----------------------------------------------------------------------------

    def _start(self, deployment: Deployment) -> None:
        deployment.job_status = "running"
        self._move(deployment, "running")
        if self.auto_finish is not None:
            deployment.job_status = self.auto_finish
            self._move(deployment, self.auto_finish)

    def _move(self, deployment: Deployment, status: str) -> None:
        deployment.status = status
        deployment.updated_at = self.clock()
        if status == "running":
            deployment.started_at = deployment.updated_at
        elif status in ("success", "failed", "canceled"):
            deployment.finished_at = deployment.updated_at
        self._send(deployment)

    def _send(self, deployment: Deployment, *, approval: Approval | None = None) -> None:
        at = self.clock()
        body = deployment_event(deployment, base_url=self.base_url, at=at, approval=approval)
        for hook in self.hooks.get(deployment.project.id, []):
            self._outbox.append(hook_delivery(hook, body, instance=self.base_url))

    def _flush(self) -> None:
        with self.state.lock:
            deliveries, self._outbox = self._outbox, []
        for delivery in deliveries:  # outside the lock: the dispatcher has its own queue
            self.webhooks.enqueue(delivery)

    def _new_hook(self, project: Project, url: str, token: str | None) -> ProjectHook:
        hook = ProjectHook(self._next("hook"), url, token, str(uuid.uuid4()))
        self.hooks.setdefault(project.id, []).append(hook)
        return hook

    def _next(self, what: str) -> int:
        self._ids[what] += 1
        return self._ids[what]

    def _project(self, ref: str) -> Project:
        if ref.isdigit() and int(ref) in self.projects:
            return self.projects[int(ref)]
        for project in self.projects.values():
            if project.path_with_namespace == ref:
                return project
        raise GitLabError(404, {"message": "404 Project Not Found"})

    def _deployment(self, project: str, deployment_id: str) -> Deployment:
        found = self._project(project)
        if not deployment_id.isdigit():
            raise GitLabError(400, {"error": "deployment_id is invalid"})
        deployment = self.deployments.get(int(deployment_id))
        if deployment is None or deployment.project is not found:
            raise GitLabError(404, {"message": "404 Not found"})
        return deployment
