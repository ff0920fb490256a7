"""The GitLab simulator's records: users, projects with protected environments, deployments and
their approvals, and how GitLab renders them in the REST API (doc/api/deployments.md).

A protected environment that requires approvals blocks every deployment to it (`status`
"blocked") until `required_approvals` users allowed to approve have approved; one rejection
drops the deployment's job, which fails the deployment. Users are the sandbox's catalogue users
under their logins; their GitLab role in the seeded projects decides whether they may approve
(Maintainer and above, like a protected environment's default approval rule).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.sandbox.catalog import USERS

#: Roles that may approve deployments to a protected environment (its approval rule).
APPROVER_ROLES = frozenset({"maintainer", "owner"})
#: GitLab's limit on an approval comment (Deployments::Approval validates the length).
MAX_COMMENT = 255

# The role each catalogue user has in the seeded projects: deployers are developers, the
# approvers and the integration user maintainers (the least role that can approve).
_ROLES = {
    "alice": "developer",
    "bob": "developer",
    "carol": "maintainer",
    "dave": "maintainer",
    "erin": "maintainer",
    "frank": "maintainer",
    "admin": "owner",
    "connector": "maintainer",
}


@dataclass(frozen=True)
class GitLabUser:
    id: int
    username: str
    name: str
    email: str
    token: str  # a personal access token (glpat-...)
    role: str  # in every seeded project

    def api(self, base_url: str) -> dict[str, Any]:
        """The user as the REST API embeds it (UserBasic)."""
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "state": "active",
            "locked": False,
            "avatar_url": f"{base_url}/uploads/-/system/user/avatar/{self.id}/avatar.png",
            "web_url": f"{base_url}/{self.username}",
        }

    def api_full(self, base_url: str) -> dict[str, Any]:
        """The user as a job (`deployable.user`) embeds it: the full User entity."""
        return {
            **self.api(base_url),
            "created_at": "2025-01-06T09:00:00.000Z",
            "bio": "",
            "location": None,
            "public_email": "",
            "skype": "",
            "linkedin": "",
            "twitter": "",
            "website_url": "",
            "organization": "",
        }

    def hook(self, base_url: str) -> dict[str, Any]:
        """The user as a webhook payload embeds it."""
        return {
            "id": self.id,
            "name": self.name,
            "username": self.username,
            "avatar_url": f"{base_url}/uploads/-/system/user/avatar/{self.id}/avatar.png",
            "email": self.email,
        }


def _token(login: str) -> str:
    return "glpat-" + hashlib.sha256(f"sandbox-gitlab:{login}".encode()).hexdigest()[:20]


GITLAB_USERS: tuple[GitLabUser, ...] = tuple(
    GitLabUser(
        id=n,
        username=u.login,
        name=u.display_name,
        email=u.email,
        token=_token(u.login),
        role=_ROLES.get(u.login, "reporter"),
    )
    for n, u in enumerate(USERS, start=2)
)
GITLAB_USERS_BY_NAME = {u.username: u for u in GITLAB_USERS}


@dataclass(frozen=True)
class Environment:
    id: int
    name: str
    tier: str
    # A protected environment with required approvals > 0 blocks every deployment to it.
    protected: bool = False
    required_approvals: int = 0

    @property
    def slug(self) -> str:
        return self.name.lower().replace("/", "-")


@dataclass
class Project:
    id: int
    path_with_namespace: str
    environments: dict[str, Environment]

    @property
    def name(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[-1]

    @property
    def namespace(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[0]


@dataclass
class Approval:
    id: int
    user: GitLabUser
    status: str  # approved | rejected
    comment: str | None
    created_at: datetime

    def api(self, base_url: str) -> dict[str, Any]:
        return {
            "user": self.user.api(base_url),
            "status": self.status,
            "created_at": stamp(self.created_at),
            "comment": self.comment,
        }


@dataclass
class Deployment:
    id: int
    iid: int
    project: Project
    environment: Environment
    ref: str
    sha: str
    title: str
    user: GitLabUser
    job_id: int
    pipeline_id: int
    created_at: datetime
    updated_at: datetime
    status: str  # created | running | success | failed | canceled | blocked
    job_status: str = "manual"
    approvals: list[Approval] = field(default_factory=list)
    started_at: datetime | None = None  # of the job
    finished_at: datetime | None = None

    @property
    def pending_approval_count(self) -> int:
        approved = sum(1 for a in self.approvals if a.status == "approved")
        return max(0, self.environment.required_approvals - approved)

    def api(self, base_url: str) -> dict[str, Any]:
        """GET /projects/:id/deployments/:deployment_id (Premium: approvals included)."""
        project_url = f"{base_url}/{self.project.path_with_namespace}"
        commit = {
            "id": self.sha,
            "short_id": self.sha[:8],
            "created_at": stamp(self.created_at),
            "parent_ids": [],
            "title": self.title,
            "message": self.title,
            "author_name": self.user.name,
            "author_email": self.user.email,
        }
        return {
            "id": self.id,
            "iid": self.iid,
            "ref": self.ref,
            "sha": self.sha,
            "created_at": stamp(self.created_at),
            "updated_at": stamp(self.updated_at),
            "status": self.status,
            "user": self.user.api(base_url),
            "environment": {
                "id": self.environment.id,
                "name": self.environment.name,
                "slug": self.environment.slug,
                "external_url": f"https://{self.environment.slug}.example.com",
                "tier": self.environment.tier,
            },
            "deployable": {
                "id": self.job_id,
                "status": self.job_status,
                "stage": "deploy",
                "name": f"deploy-{self.environment.slug}",
                "ref": self.ref,
                "tag": False,
                "coverage": None,
                "created_at": stamp(self.created_at),
                "started_at": stamp(self.started_at) if self.started_at else None,
                "finished_at": stamp(self.finished_at) if self.finished_at else None,
                "project": {"ci_job_token_scope_enabled": False},
                "user": self.user.api_full(base_url),
                "commit": commit,
                "pipeline": {
                    "id": self.pipeline_id,
                    "sha": self.sha,
                    "ref": self.ref,
                    "status": "running" if self.status in ("blocked", "running") else "success",
                    "created_at": stamp(self.created_at),
                    "updated_at": stamp(self.updated_at),
                    "web_url": f"{project_url}/-/pipelines/{self.pipeline_id}",
                },
                "web_url": f"{project_url}/-/jobs/{self.job_id}",
                "runner": None,
            },
            "pending_approval_count": self.pending_approval_count,
            "approvals": [a.api(base_url) for a in self.approvals],
        }


def seed_projects() -> dict[int, Project]:
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


def stamp(at: datetime) -> str:
    """The REST API's time format: ISO 8601 in UTC with milliseconds (2016-08-11T11:32:35.444Z)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def hook_stamp(at: datetime) -> str:
    """A deployment hook's `status_changed_at`: "2021-04-28 21:50:00 +0200"."""
    return at.strftime("%Y-%m-%d %H:%M:%S %z")
