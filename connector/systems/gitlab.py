"""The GitLab client of the deployment gate: read deployments, approve or reject blocked ones.

Three documented calls of the Deployments API (doc/api/deployments.md), through python-gitlab:

    GET  /projects/:id/deployments?status=blocked          deployments waiting for approvals
    GET  /projects/:id/deployments?updated_after=...       deployments that moved (ended ones)
    GET  /projects/:id/deployments/:deployment_id          one deployment, with `approvals`
    POST /projects/:id/deployments/:deployment_id/approval status approved|rejected, comment

Every call runs under the connector's one retry policy (systems/http.py); python-gitlab's own
retries stay off (no transient retries, `obey_rate_limit=False` on each call). TLS is verified
against `ca_bundle` when one is configured. An approval is a write that must happen once:
`answer` reads the deployment first and does not write when this token's user has already
answered it or it no longer waits (check-before-write on GitLab's own record, so a worker killed
between the write and its bookkeeping never answers twice), and a retried POST asks the
deployment again before sending it a second time.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any, Literal

import gitlab
import requests
from gitlab.exceptions import GitlabError
from pydantic import BaseModel, ConfigDict

from connector.core.deploy.config import GitlabDeploySettings
from connector.core.deploy.gitlab import reference
from connector.core.errors import ConfigError
from connector.systems import http

#: GitLab's limit on an approval comment (longer ones are refused with 400).
MAX_COMMENT = 255
#: Deployment statuses after which the deploy has ended.
FINISHED = frozenset({"success", "failed", "canceled"})
_NO_RETRIES: dict[str, Any] = {"obey_rate_limit": False, "retry_transient_errors": False}

Answer = Literal["approved", "rejected"]
Outcome = Literal["written", "already answered", "not waiting", "own deployment"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GitLabApproval(_Frozen):
    username: str
    status: str
    comment: str | None = None


class GitLabDeployment(_Frozen):
    """What the gate reads of one deployment."""

    project: str  # as configured: the project path
    id: int
    status: str
    environment: str
    sha: str
    ref: str
    username: str  # who triggered the deploy job
    title: str = ""
    created_at: datetime
    updated_at: datetime
    url: str = ""
    pending_approval_count: int | None = None
    approvals: tuple[GitLabApproval, ...] = ()

    @property
    def reference(self) -> str:
        return reference(self.project, self.id)

    def answered_by(self, username: str) -> GitLabApproval | None:
        return next((a for a in self.approvals if a.username == username), None)


class GitLabClient(http.PolicyClient):
    system = "GitLab"

    def __init__(
        self,
        settings: GitlabDeploySettings,
        *,
        name: str = "deploy.gitlab",
        policy: http.RetryPolicy | None = None,
    ) -> None:
        if settings.token is None or not settings.token.get_secret_value().strip():
            raise ConfigError(f"{name}.token: not set; the gate cannot read or approve deployments")
        self.name = name
        self.settings = settings
        self.policy = policy or http.RetryPolicy(
            attempts=settings.max_attempts,
            max_total_wait_seconds=settings.max_retry_wait_seconds,
        )
        self.session = requests.Session()
        self._track_responses(self.session)
        self.client = gitlab.Gitlab(
            settings.url,
            private_token=settings.token.get_secret_value(),
            ssl_verify=settings.verify,
            timeout=settings.timeout_seconds,
            retry_transient_errors=False,
            session=self.session,
        )
        self._me: str | None = None
        # The webhook's worker threads and the poll job share this client; the policy client
        # closes the responses of a call when it ends, so one call runs at a time.
        self._serial = threading.RLock()

    def close(self) -> None:
        self.session.close()

    # -- reads ------------------------------------------------------------------------------

    def me(self) -> str:
        """The username of the token's user (GET /user), read once."""
        if self._me is None:
            data = self._call(lambda: self.client.http_get("/user", **_NO_RETRIES), "read /user")
            self._me = str(_dict(data).get("username") or "")
        return self._me

    def deployment(self, project: str, deployment_id: int) -> GitLabDeployment:
        what = f"read deployment {reference(project, deployment_id)}"
        path = f"/projects/{_encoded(project)}/deployments/{deployment_id}"
        data = self._call(lambda: self.client.http_get(path, **_NO_RETRIES), what)
        return _deployment(project, _dict(data))

    def blocked(self, project: str) -> list[GitLabDeployment]:
        """Every deployment of `project` waiting for approvals (all pages)."""
        path = f"/projects/{_encoded(project)}/deployments"

        def read() -> list[Any]:
            return list(
                self.client.http_list(
                    path,
                    query_data={"status": "blocked", "per_page": 100},
                    get_all=True,
                    **_NO_RETRIES,
                )
            )

        rows = self._call(read, f"list blocked deployments of {project}")
        return [_deployment(project, _dict(row)) for row in rows]

    def updated(self, project: str, *, since: datetime) -> list[GitLabDeployment]:
        """Deployments of `project` updated after `since` (all pages, oldest first)."""
        path = f"/projects/{_encoded(project)}/deployments"
        query = {
            "updated_after": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "order_by": "updated_at",
            "sort": "asc",
            "per_page": 100,
        }

        def read() -> list[Any]:
            return list(self.client.http_list(path, query_data=query, get_all=True, **_NO_RETRIES))

        rows = self._call(
            read, f"list deployments of {project} updated since {query['updated_after']}"
        )
        return [_deployment(project, _dict(row)) for row in rows]

    # -- the one write ----------------------------------------------------------------------

    def answer(self, project: str, deployment_id: int, *, status: Answer, comment: str) -> Outcome:
        """Approve or reject once: not when this user has answered or it no longer waits."""
        me = self.me()
        current = self.deployment(project, deployment_id)
        if current.answered_by(me) is not None:
            return "already answered"
        if current.status != "blocked":
            return "not waiting"
        if current.username == me and status == "approved":
            return "own deployment"  # GitLab refuses it (400) however often it is asked
        path = f"/projects/{_encoded(project)}/deployments/{deployment_id}/approval"
        body = {"status": status, "comment": shorten(comment)}

        def post() -> Outcome:
            self.client.http_post(path, post_data=body, **_NO_RETRIES)
            return "written"

        def already() -> Outcome | None:
            again = self.deployment(project, deployment_id)
            return "already answered" if again.answered_by(me) is not None else None

        what = f"{status.removesuffix('d')} deployment {reference(project, deployment_id)}"
        return self._call(post, what, idempotent=False, already_done=already)

    # -- plumbing ---------------------------------------------------------------------------

    def _translate(self, exc: BaseException, what: str) -> BaseException | None:
        if not isinstance(exc, GitlabError):
            return None
        headers = self._responses[-1].headers if self._responses else {}
        return http.error_for_status(
            exc.response_code,
            source=self.name,
            what=what,
            system="GitLab",
            detail=str(exc.error_message or ""),
            retry_after=http.parse_retry_after(headers.get("Retry-After"), now=self.policy.clock()),
        )


def shorten(comment: str) -> str:
    """A comment GitLab accepts: one line of at most 255 characters."""
    flat = " ".join(comment.split())
    return flat if len(flat) <= MAX_COMMENT else flat[: MAX_COMMENT - 1] + "…"


def _encoded(project: str) -> str:
    return project.replace("/", "%2F")


def _dict(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def _time(text: Any) -> datetime:
    if not isinstance(text, str) or not text:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _deployment(project: str, data: dict[str, Any]) -> GitLabDeployment:
    environment = _dict(data.get("environment"))
    deployable = _dict(data.get("deployable"))
    commit = _dict(deployable.get("commit"))
    approvals = tuple(
        GitLabApproval(
            username=str(_dict(a.get("user")).get("username") or ""),
            status=str(a.get("status") or ""),
            comment=a.get("comment") if isinstance(a.get("comment"), str) else None,
        )
        for a in data.get("approvals") or ()
        if isinstance(a, dict)
    )
    pending = data.get("pending_approval_count")
    return GitLabDeployment(
        project=project,
        id=int(data["id"]),
        status=str(data.get("status") or ""),
        environment=str(environment.get("name") or ""),
        sha=str(data.get("sha") or ""),
        ref=str(data.get("ref") or ""),
        username=str(_dict(data.get("user")).get("username") or ""),
        title=str(commit.get("title") or ""),
        created_at=_time(data.get("created_at")),
        updated_at=_time(data.get("updated_at")),
        url=str(deployable.get("web_url") or ""),
        pending_approval_count=pending if isinstance(pending, int) else None,
        approvals=approvals,
    )
