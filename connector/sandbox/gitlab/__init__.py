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

import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from connector.sandbox.gitlab.hooks import ProjectHook, deployment_event
from connector.sandbox.gitlab.hooks import delivery as hook_delivery
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
)
from connector.sandbox.state import SandboxState
from connector.sandbox.webhooks_out import Delivery, WebhookDispatcher

API = "/api/v4"
LIST_PARAMS = frozenset(
    {"order_by", "sort", "updated_after", "updated_before", "environment", "status"}
    | {"finished_after", "finished_before", "page", "per_page"}
)
STATUSES = ("created", "running", "success", "failed", "canceled", "blocked")
NOT_WAITING = "This deployment is not waiting for approvals."
OWN_DEPLOYMENT = (
    "You cannot approve your own deployment. This configuration can be adjusted in the "
    "protected environment settings."
)
NO_PERMISSION = (
    "You don't have permission to approve this deployment. Contact the project or group owner "
    "for help."
)


class GitLabError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def _seed_projects() -> dict[int, Project]:
    """Production is protected and needs one approval (billing's: two); staging is open."""

    def envs(first: int, approvals: int = 1) -> dict[str, Environment]:
        return {
            "production": Environment(first, "production", "production", True, approvals),
            "staging": Environment(first + 1, "staging", "staging"),
        }

    projects = [
        Project(101, "acme/payments", envs(201)),
        Project(102, "acme/web", envs(203)),
        Project(103, "acme/billing", envs(205, approvals=2)),
    ]
    return {p.id: p for p in projects}


class GitLabSimulator:
    """The simulated GitLab instance; `base_url` is its root (…/gitlab)."""

    def __init__(self, state: SandboxState, *, base_url: str, webhooks: WebhookDispatcher) -> None:
        self.state = state
        self.base_url = base_url
        self.webhooks = webhooks
        self.projects = _seed_projects()
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
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        body = {**user.api(self.base_url), "email": user.email, "bot": False}
        return JSONResponse(body)

    async def _list(self, request: Request, project: str) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        params = dict(request.query_params)
        return await run_in_threadpool(self._locked, self._list_work, project, params, request)

    async def _get(self, request: Request, project: str, deployment_id: str) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        return await run_in_threadpool(self._locked, self._get_work, project, deployment_id)

    async def _approve(self, request: Request, project: str, deployment_id: str) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        body = await _body(request)
        if isinstance(body, Response):
            return body
        return await run_in_threadpool(
            self._locked, self._approve_work, project, deployment_id, body, user
        )

    async def _add_hook_route(self, request: Request, project: str) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        body = await _body(request)
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
        unknown = sorted(set(params) - LIST_PARAMS)
        if unknown:
            raise GitLabError(400, {"error": f"{unknown[0]} does not have a valid value"})
        status = params.get("status")
        if status is not None and status not in STATUSES:
            raise GitLabError(400, {"error": "status does not have a valid value"})
        page = _int(params.get("page"), 1, "page")
        per_page = min(100, _int(params.get("per_page"), 20, "per_page"))
        rows = [
            d
            for d in self.deployments.values()
            if d.project is found
            and (status is None or d.status == status)
            and params.get("environment") in (None, d.environment.name)
        ]
        key = params.get("order_by", "id")
        if key not in ("id", "iid", "created_at", "updated_at", "finished_at", "ref"):
            raise GitLabError(400, {"error": "order_by does not have a valid value"})
        rows.sort(key=lambda d: getattr(d, key if key != "finished_at" else "updated_at"))
        if params.get("sort", "asc") == "desc":
            rows.reverse()
        total = len(rows)
        chunk = rows[(page - 1) * per_page : page * per_page]
        headers = _page_headers(
            f"{self.base_url}{API}/projects/{project.replace('/', '%2F')}/deployments",
            params,
            page=page,
            per_page=per_page,
            total=total,
        )
        return JSONResponse([d.api(self.base_url) for d in chunk], headers=headers)

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
        problem = _refusal(deployment, user, status)
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

    def _authenticate(self, request: Request) -> GitLabUser | None:
        token = request.headers.get("private-token")
        if token is None:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else None
        if not token:
            return None
        for user in GITLAB_USERS:
            if hmac.compare_digest(user.token.encode(), token.encode()):
                request.state.sandbox_user = user.username
                return user
        return None


def _refusal(deployment: Deployment, user: GitLabUser, status: str) -> str | None:
    """Deployments::ApprovalService#validate, in its order."""
    if not deployment.environment.protected:
        return "This environment is not protected."
    if deployment.environment.required_approvals <= 0:
        return "Deployment approvals is not configured for this environment."
    if user.role not in APPROVER_ROLES:
        return NO_PERMISSION
    if deployment.status != "blocked":
        return NOT_WAITING
    if deployment.user is user and status == "approved":
        return OWN_DEPLOYMENT
    return None


def _unauthorized() -> JSONResponse:
    return JSONResponse({"message": "401 Unauthorized"}, status_code=401)


def _int(text: str | None, default: int, name: str) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise GitLabError(400, {"error": f"{name} does not have a valid value"})
    return int(text)


def _page_headers(
    url: str, params: Mapping[str, str], *, page: int, per_page: int, total: int
) -> dict[str, str]:
    pages = max(1, -(-total // per_page))
    rest = [(k, v) for k, v in params.items() if k not in ("page", "per_page")]

    def link(at: int, rel: str) -> str:
        return f'<{url}?{urlencode([("page", at), ("per_page", per_page), *rest])}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(page - 1, "prev"))
    if page < pages:
        links.append(link(page + 1, "next"))
    links += [link(1, "first"), link(pages, "last")]
    return {
        "x-page": str(page),
        "x-per-page": str(per_page),
        "x-next-page": str(page + 1) if page < pages else "",
        "x-prev-page": str(page - 1) if page > 1 else "",
        "x-total": str(total),
        "x-total-pages": str(pages),
        "link": ", ".join(links),
    }


async def _body(request: Request) -> dict[str, Any] | Response:
    """A JSON object or a form body (GitLab takes both), else 400."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return JSONResponse({"error": "400 Bad request"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "400 Bad request"}, status_code=400)
        return body
    return dict(parse_qsl(raw.decode("utf-8", "replace")))
