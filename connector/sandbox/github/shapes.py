"""Bodies of the GitHub sandbox in GitHub's published shapes (REST responses and webhook payloads).

Every object carries the keys GitHub's OpenAPI description marks required (githubkit's models,
generated from it, parse them in the tests), built from the same URL templates as the real
bodies in tests/fixtures/real/github/ (octokit/webhooks payload examples).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any


def iso(at: datetime) -> str:
    """GitHub's timestamp format: UTC, whole seconds, a Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def user(api: str, web: str, login: str, number: int, kind: str = "User") -> dict[str, Any]:
    url = f"{api}/users/{login}"
    return {
        "login": login,
        "id": number,
        "node_id": node_id(kind, number),
        "avatar_url": f"{web}/avatars/u/{number}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{web}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": kind,
        "site_admin": False,
    }


_REPO_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository(
    api: str, web: str, full_name: str, number: int, owner: dict[str, Any]
) -> dict[str, Any]:
    url = f"{api}/repos/{full_name}"
    body: dict[str, Any] = {
        "id": number,
        "node_id": node_id("Repository", number),
        "name": full_name.split("/", 1)[1],
        "full_name": full_name,
        "private": True,
        "owner": owner,
        "html_url": f"{web}/{full_name}",
        "description": None,
        "fork": False,
        "url": url,
    }
    body.update({key: url + tail for key, tail in _REPO_TEMPLATES.items()})
    return body


def deployment(
    api: str,
    repo: dict[str, Any],
    *,
    number: int,
    sha: str,
    ref: str,
    environment: str,
    creator: dict[str, Any],
    created: datetime,
    updated: datetime,
    app: dict[str, Any] | None,
) -> dict[str, Any]:
    url = f"{repo['url']}/deployments/{number}"
    return {
        "url": url,
        "id": number,
        "node_id": node_id("Deployment", number),
        "sha": sha,
        "ref": ref,
        "task": "deploy",
        "payload": {},
        "original_environment": environment,
        "environment": environment,
        "description": None,
        "creator": creator,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "statuses_url": f"{url}/statuses",
        "repository_url": repo["url"],
        "performed_via_github_app": app,
    }


def deployment_status(
    deployment_body: dict[str, Any],
    *,
    number: int,
    state: str,
    creator: dict[str, Any],
    description: str,
    at: datetime,
    log_url: str,
) -> dict[str, Any]:
    return {
        "url": f"{deployment_body['url']}/statuses/{number}",
        "id": number,
        "node_id": node_id("DeploymentStatus", number),
        "state": state,
        "creator": creator,
        "description": description,
        "environment": deployment_body["environment"],
        "target_url": log_url,
        "log_url": log_url,
        "created_at": iso(at),
        "updated_at": iso(at),
        "deployment_url": deployment_body["url"],
        "repository_url": deployment_body["repository_url"],
    }


def workflow_run(
    repo: dict[str, Any],
    *,
    number: int,
    run_number: int,
    sha: str,
    branch: str,
    event: str,
    status: str,
    conclusion: str | None,
    actor: dict[str, Any],
    created: datetime,
    updated: datetime,
    web: str,
) -> dict[str, Any]:
    url = f"{repo['url']}/actions/runs/{number}"
    minimal = dict(repo)
    return {
        "id": number,
        "name": "Deploy",
        "node_id": node_id("WorkflowRun", number),
        "head_branch": branch,
        "head_sha": sha,
        "path": ".github/workflows/deploy.yml",
        "display_title": f"Deploy {sha[:7]}",
        "run_number": run_number,
        "run_attempt": 1,
        "event": event,
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 7001,
        "check_suite_id": number + 1,
        "check_suite_node_id": node_id("CheckSuite", number + 1),
        "url": url,
        "html_url": f"{web}/{repo['full_name']}/actions/runs/{number}",
        "pull_requests": [],
        "created_at": iso(created),
        "updated_at": iso(updated),
        "run_started_at": iso(created),
        "actor": actor,
        "triggering_actor": actor,
        "jobs_url": f"{url}/jobs",
        "logs_url": f"{url}/logs",
        "check_suite_url": f"{repo['url']}/check-suites/{number + 1}",
        "artifacts_url": f"{url}/artifacts",
        "cancel_url": f"{url}/cancel",
        "rerun_url": f"{url}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{repo['url']}/actions/workflows/7001",
        "head_commit": {
            "id": sha,
            "tree_id": sha[::-1],
            "message": f"Release {sha[:7]}",
            "timestamp": iso(created),
            "author": {"name": actor["login"], "email": f"{actor['login']}@example.com"},
            "committer": {"name": "GitHub", "email": "noreply@github.com"},
        },
        "repository": minimal,
        "head_repository": minimal,
    }


def environment(repo: dict[str, Any], web: str, name: str, number: int) -> dict[str, Any]:
    return {
        "id": number,
        "node_id": node_id("Environment", number),
        "name": name,
        "url": f"{repo['url']}/environments/{name}",
        "html_url": (
            f"{web}/{repo['full_name']}/deployments/activity_log?environments_filter={name}"
        ),
    }
