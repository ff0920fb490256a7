"""The GitHub sandbox's REST routes (see the package docstring for what each answers)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connector.sandbox.github import shapes
from connector.sandbox.github.auth import AppKeys, AuthFailure
from connector.sandbox.github.model import (
    APP_ID,
    APP_SLUG,
    CLIENT_ID,
    DOCS,
    INSTALLATION_ID,
    OWNER,
    PERMISSIONS,
    WEB,
    Run,
)
from connector.sandbox.state import SandboxState


class GitHubRoutes:
    """The handlers; `GitHubSimulator` holds the state they read and write."""

    state: SandboxState
    api: str
    keys: AppKeys
    owner: dict[str, Any]
    created: Any
    repos: dict[str, dict[str, Any]]
    runs: dict[int, Run]
    deployments: dict[int, dict[str, Any]]
    statuses: dict[int, list[dict[str, Any]]]
    answers: list[dict[str, Any]]

    def _settle(self, run: Run, *, approved: bool) -> None:
        raise NotImplementedError

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
                    "permissions": PERMISSIONS,
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
            "permissions": PERMISSIONS,
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


_REVIEW_DOC = "actions/workflow-runs#review-custom-deployment-protection-rules-for-a-workflow-run"


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
